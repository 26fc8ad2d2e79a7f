//! A restore into a new table in memory: from a backup (its items as they were when it was
//! taken) or from a point in time (the table's items now), CREATING for as many reads as a test
//! asks, with the indexes and billing mode the overrides keep.

use super::*;

/// The effect of RestoreTableFromBackup or RestoreTableToPointInTime (`operation`) on the state.
pub(super) fn restore_into(
    s: &mut State,
    region: &str,
    from: &RestoreFrom,
    target: &str,
    overrides: &TableOverrides,
    operation: &'static str,
) -> AwsResult<Table> {
    if s.tables.contains_key(&(region.to_owned(), target.to_owned())) {
        return Err(error(operation, "TableAlreadyExistsException", format!("Table already exists: {target}")));
    }
    let (source, keys, summary) = match from {
        RestoreFrom::Backup { arn } => {
            let entry = s.backups.get(arn).ok_or_else(|| error(operation, "BackupNotFoundException", format!("{arn} not found")))?;
            if entry.backup.state != BackupState::Available {
                return Err(error(operation, "BackupInUseException", format!("backup {arn} is not available yet")));
            }
            let src = entry.backup.source.clone().unwrap_or_default();
            let current = || s.tables.get(&(entry.region.clone(), src.table_name.clone())).map(|t| t.items.clone());
            let keys = entry.items.clone().or_else(current).unwrap_or_default();
            let summary = RestoreSummary {
                source_backup_arn: Some(arn.clone()),
                source_table_arn: src.table_arn.clone(),
                restored_at: Some(Timestamp::now()),
                in_progress: true,
            };
            (src.table_name, keys, summary)
        }
        RestoreFrom::PointInTime { source_table, at } => {
            let (name, source_region) = name_and_region(source_table, region);
            let t = s
                .tables
                .get(&(source_region, name.clone()))
                .ok_or_else(|| error(operation, "SourceTableNotFoundException", format!("Source table not found: {name}")))?;
            if !t.pitr.enabled {
                return Err(error(operation, "PointInTimeRecoveryUnavailableException", format!("PITR is off for {name}")));
            }
            if let (Some(at), Some(earliest), Some(latest)) = (at, t.pitr.earliest, t.pitr.latest)
                && (*at < earliest || *at > latest)
            {
                return Err(error(operation, "InvalidRestoreTimeException", format!("{at} is outside {earliest}..{latest}")));
            }
            let summary = RestoreSummary {
                source_backup_arn: None,
                source_table_arn: t.table.arn.clone(),
                restored_at: Some(at.unwrap_or_else(Timestamp::now)),
                in_progress: true,
            };
            (name, t.items.clone(), summary)
        }
    };
    let base = s.tables.values().find(|t| t.table.name == source).map(|t| t.table.clone());
    let mut table = Table {
        name: target.to_owned(),
        arn: Some(table_arn(region, target)),
        id: Some(format!("id-{target}")),
        status: "CREATING".into(),
        item_count: Some(keys.len() as i64),
        size_bytes: Some(keys.len() as i64 * 100),
        created_at: Some(Timestamp::now()),
        global_indexes: base.as_ref().map(|b| b.global_indexes.clone()).unwrap_or_default(),
        local_indexes: base.as_ref().map(|b| b.local_indexes.clone()).unwrap_or_default(),
        restore: Some(summary),
        deletion_protection: Some(false),
        key_schema: base.as_ref().map(|b| b.key_schema.clone()).unwrap_or_default(),
        billing_mode: base.as_ref().and_then(|b| b.billing_mode.clone()),
        stream_view_type: None,
    };
    if let Some(gsis) = &overrides.global_indexes {
        table.global_indexes = gsis.clone();
    }
    if let Some(lsis) = &overrides.local_indexes {
        table.local_indexes = lsis.clone();
    }
    if let Some(mode) = &overrides.billing_mode {
        table.billing_mode = Some(mode.clone());
    }
    let reads = s.restore_creating_reads;
    let state = TableState {
        table: table.clone(),
        pitr: pitr_state(false, Timestamp::now()),
        tags: Tags::new(),
        ttl: None,
        items: keys,
        creating_reads: reads,
    };
    s.tables.insert((region.to_owned(), target.to_owned()), state);
    Ok(table)
}
