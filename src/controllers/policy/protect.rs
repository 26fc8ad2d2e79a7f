//! PITR as asked on every table, and each table's line in status, from the shared PITR cache:
//! no DynamoDB read here. The one call a reconcile may make is turning PITR on
//! (`plan::policy::pitr_needs_fix` decides).

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;

use crate::{
    api::DynamoBackupPolicy,
    api::{BackupPhase, DynamoBackup, LastBackup, PitrStatus, PolicyTableStatus, facts::Scope},
    aws::{ErrorClass, account_in_arn},
    controllers::{
        Error,
        common::{StatusWriter, key_of, publish},
    },
    metrics::{PolicyTableLabels, TableLabels},
    plan::policy::{Checked, TablesSeen, pitr_needs_fix},
};

type Writer<'a> = StatusWriter<'a, DynamoBackupPolicy>;

/// How long a reconcile waits for the first reads of tables it names for the first time.
const FIRST_READ_WAIT: Duration = Duration::from_secs(2);

/// Follows the policy's tables in the PITR cache, turns PITR on where it must be, and writes
/// each table's status line.
pub async fn protect(w: &mut Writer<'_>, checked: &Checked, children: &[DynamoBackup]) -> Result<TablesSeen, Error> {
    let ctx = w.ctx;
    let keys: Vec<(Scope, String)> = checked
        .tables
        .iter()
        .map(|table| (w.scope(table.region_or(checked.region.as_deref()).map(str::to_owned)), table.name.clone()))
        .collect();
    let me = key_of(w.obj);
    let mut known = ctx.pitr.follow(&me, &keys);
    // A table named for the first time is usually read within moments: wait that long rather
    // than report ReadingTables and flip back at once. Its read lands at the front of the queue.
    let deadline = tokio::time::Instant::now() + FIRST_READ_WAIT;
    while known.iter().any(Option::is_none) && tokio::time::Instant::now() < deadline {
        ctx.pitr.read_landed(deadline - tokio::time::Instant::now()).await;
        known = ctx.pitr.follow(&me, &keys);
    }
    let mut seen = TablesSeen::default();
    let mut lines = Vec::with_capacity(checked.tables.len());
    for (((table, text), (scope, _)), facts) in checked.tables.iter().zip(&checked.texts).zip(&keys).zip(known) {
        let mut line = w.status.tables.iter().find(|l| l.name == *text).cloned().unwrap_or_default();
        line.name = text.clone();
        match facts {
            None => seen.unread.push(table.name.clone()),
            Some(facts) => {
                if let Some(err) = &facts.error {
                    seen.failed.push((table.name.clone(), err.to_string(), err.class == ErrorClass::Terminal));
                }
                if facts.error.is_none() && !facts.exists() {
                    seen.missing.push(table.name.clone());
                    line = PolicyTableStatus { name: text.clone(), ..Default::default() };
                }
                read_facts(w, scope, &table.name, &facts, &mut line).await?;
            }
        }
        line.selected = checked.selected.contains(text);
        backups_line(w, &table.name, children.iter().filter(|c| c.spec.table_name == *text), &mut line);
        lines.push(line);
    }
    w.status.backup_bytes = Some(lines.iter().filter_map(|l| l.backup_bytes).sum());
    w.status.tables = lines;
    w.status.last_successful_backup_time = children
        .iter()
        .filter(|c| c.status.as_ref().and_then(|s| s.phase) == Some(BackupPhase::Available))
        .filter_map(|c| c.status.as_ref().and_then(|s| s.created_at.clone()))
        .max_by_key(|t| t.0);
    Ok(seen)
}

/// What the cache read of a table, in its line and the metrics; PITR turned on if it must be.
async fn read_facts(
    w: &Writer<'_>,
    scope: &Scope,
    table: &str,
    facts: &crate::dynamo::TableFacts,
    line: &mut PolicyTableStatus,
) -> Result<(), Error> {
    let (obj, ctx) = (w.obj, w.ctx);
    let region = ctx.region_label(scope.region.as_deref()).to_owned();
    line.table_arn = facts.arn.clone().or(line.table_arn.take());
    // The table's account: its ARN's, else the account the scope's calls go to.
    let account = line.table_arn.as_deref().and_then(account_in_arn).map(str::to_owned).unwrap_or_else(|| ctx.account_label(scope));
    line.account = Some(account.clone()).filter(|a| !a.is_empty());
    line.table_size_bytes = facts.size_bytes.or(line.table_size_bytes);
    if let Some(size) = line.table_size_bytes {
        let labels = TableLabels { account: account.clone(), region: region.clone(), table: table.to_owned() };
        ctx.metrics.table_size_bytes.get_or_create(&labels).set(size);
    }
    let Some(mut pitr) = facts.pitr.clone() else { return Ok(()) };
    let spec = &obj.spec.point_in_time_recovery;
    if pitr_needs_fix(spec, &pitr, facts.exists()) {
        pitr = ctx.dynamo.enable_pitr(scope, table, spec.recovery_period_in_days).await?;
        ctx.pitr.record(scope, table, pitr.clone());
        let note = format!("point-in-time recovery on for table {table} ({} days)", spec.recovery_period_in_days);
        publish(&ctx.recorder, obj, false, "PointInTimeRecoveryEnabled", "UpdateContinuousBackups", note).await;
    }
    let latest = pitr.latest.filter(|_| pitr.enabled);
    ctx.metrics.latest_restorable.set(TableLabels { account, region, table: table.to_owned() }, latest);
    line.point_in_time_recovery = Some(PitrStatus {
        status: if pitr.enabled { "ENABLED" } else { "DISABLED" }.into(),
        recovery_period_in_days: pitr.recovery_period_in_days,
        earliest_restorable_time: pitr.earliest.map(Time),
        latest_restorable_time: pitr.latest.map(Time),
    });
    Ok(())
}

/// The table's available backups in its line (count, bytes, newest) and the metrics.
fn backups_line<'a>(w: &Writer<'_>, table: &str, mine: impl Iterator<Item = &'a DynamoBackup>, line: &mut PolicyTableStatus) {
    let (obj, ctx) = (w.obj, w.ctx);
    let available: Vec<&DynamoBackup> = mine.filter(|c| c.status.as_ref().and_then(|s| s.phase) == Some(BackupPhase::Available)).collect();
    line.available_backups = u32::try_from(available.len()).ok();
    let bytes: i64 = available.iter().filter_map(|c| c.status.as_ref().and_then(|s| s.size_bytes)).sum();
    line.backup_bytes = Some(bytes);
    let labels = PolicyTableLabels { namespace: obj.namespace().unwrap_or_default(), policy: obj.name_any(), table: table.to_owned() };
    ctx.metrics.table_backup_bytes.get_or_create(&labels).set(bytes);
    let newest = available.iter().max_by_key(|c| created_at(c));
    line.last_backup = newest.map(|c| LastBackup { name: c.name_any(), created_at: c.status.as_ref().and_then(|s| s.created_at.clone()) });
    if let Some(newest) = newest {
        ctx.metrics.last_successful_backup.get_or_create(&labels).set(created_at(newest).as_second());
    }
}

/// When a backup was taken (or, before DynamoDB said, when its object was made).
pub fn created_at(backup: &DynamoBackup) -> Timestamp {
    backup
        .status
        .as_ref()
        .and_then(|s| s.created_at.as_ref().map(|t| t.0))
        .or_else(|| backup.metadata.creation_timestamp.as_ref().map(|t| t.0))
        .unwrap_or_default()
}
