//! The DynamoDB SDK's types read into the plain facts the operator speaks, and the facts turned
//! back into the SDK's request types: tables, backups, indexes, keys, PITR, times.

use aws_sdk_dynamodb::{
    primitives::DateTime,
    types::{
        self as t, BackupStatus, GlobalSecondaryIndex, KeySchemaElement, KeyType, LocalSecondaryIndex, PointInTimeRecoveryStatus,
        Projection, ProjectionType, ProvisionedThroughput,
    },
};
use jiff::Timestamp;

use crate::api::facts::*;
use crate::aws::{AwsError, AwsResult, Service};

pub(super) fn backup_from_summary(s: &t::BackupSummary) -> Backup {
    Backup {
        arn: s.backup_arn().unwrap_or_default().to_owned(),
        name: s.backup_name().unwrap_or_default().to_owned(),
        state: s.backup_status().map(backup_state).unwrap_or(BackupState::Creating),
        size_bytes: s.backup_size_bytes(),
        created_at: s.backup_creation_date_time().and_then(ts),
        source: s.table_name().map(|name| BackupSource {
            table_name: name.to_owned(),
            table_arn: s.table_arn().map(str::to_owned),
            table_id: s.table_id().map(str::to_owned),
            ..Default::default()
        }),
    }
}

/// A call whose `not_found` error code means "absent" (or, for deletes, "already gone").
pub(super) fn absent_as_none<T>(result: AwsResult<T>, not_found: &str) -> AwsResult<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(err) if err.is_code(not_found) => Ok(None),
        Err(err) => Err(err),
    }
}

pub(super) fn build_error(operation: &'static str, err: aws_sdk_dynamodb::error::BuildError) -> AwsError {
    AwsError::terminal(Service::DynamoDB, operation, "InvalidRequest", err.to_string())
}

pub(super) fn ts(dt: &DateTime) -> Option<Timestamp> {
    Timestamp::new(dt.secs(), i32::try_from(dt.subsec_nanos()).ok()?).ok()
}

pub(super) fn to_datetime(at: Timestamp) -> DateTime {
    DateTime::from_secs_and_nanos(at.as_second(), u32::try_from(at.subsec_nanosecond()).unwrap_or(0))
}

pub(super) fn key_schema(elements: &[KeySchemaElement]) -> Vec<(String, KeyRole)> {
    elements
        .iter()
        .map(|k| {
            let role = if *k.key_type() == KeyType::Range { KeyRole::Range } else { KeyRole::Hash };
            (k.attribute_name().to_owned(), role)
        })
        .collect()
}

pub(super) fn index(
    name: Option<&str>,
    keys: &[KeySchemaElement],
    projection: Option<&Projection>,
    throughput: Option<(i64, i64)>,
) -> IndexDef {
    IndexDef {
        name: name.unwrap_or_default().to_owned(),
        key_schema: key_schema(keys),
        projection_type: projection.and_then(|p| p.projection_type()).map(|p| p.as_str().to_owned()),
        non_key_attributes: projection.map(|p| p.non_key_attributes().to_vec()).unwrap_or_default(),
        throughput,
    }
}

pub(super) fn table_from(d: &t::TableDescription) -> Table {
    let restore = d.restore_summary().map(|r| RestoreSummary {
        source_backup_arn: r.source_backup_arn().map(str::to_owned),
        source_table_arn: r.source_table_arn().map(str::to_owned),
        restored_at: ts(r.restore_date_time()),
        in_progress: r.restore_in_progress(),
    });
    Table {
        name: d.table_name().unwrap_or_default().to_owned(),
        arn: d.table_arn().map(str::to_owned),
        id: d.table_id().map(str::to_owned),
        status: d.table_status().map(|s| s.as_str().to_owned()).unwrap_or_default(),
        item_count: d.item_count(),
        size_bytes: d.table_size_bytes(),
        created_at: d.creation_date_time().and_then(ts),
        global_indexes: d
            .global_secondary_indexes()
            .iter()
            .map(|g| {
                let tp = g.provisioned_throughput().and_then(|p| Some((p.read_capacity_units()?, p.write_capacity_units()?)));
                index(g.index_name(), g.key_schema(), g.projection(), tp.filter(|(r, w)| *r > 0 && *w > 0))
            })
            .collect(),
        local_indexes: d.local_secondary_indexes().iter().map(|l| index(l.index_name(), l.key_schema(), l.projection(), None)).collect(),
        restore,
        deletion_protection: d.deletion_protection_enabled(),
        key_schema: key_schema(d.key_schema()),
        billing_mode: d.billing_mode_summary().and_then(|b| b.billing_mode()).map(|m| m.as_str().to_owned()),
        stream_view_type: d
            .stream_specification()
            .filter(|s| s.stream_enabled())
            .and_then(|s| s.stream_view_type())
            .map(|v| v.as_str().to_owned()),
    }
}

pub(super) fn backup_state(status: &BackupStatus) -> BackupState {
    match status {
        BackupStatus::Available => BackupState::Available,
        BackupStatus::Deleted => BackupState::Deleted,
        _ => BackupState::Creating,
    }
}

pub(super) fn backup_from_details(d: &t::BackupDetails) -> Backup {
    Backup {
        arn: d.backup_arn().to_owned(),
        name: d.backup_name().to_owned(),
        state: backup_state(d.backup_status()),
        size_bytes: d.backup_size_bytes(),
        created_at: ts(d.backup_creation_date_time()),
        source: None,
    }
}

pub(super) fn gsi_override(indexes: &[IndexDef]) -> Result<Vec<GlobalSecondaryIndex>, aws_sdk_dynamodb::error::BuildError> {
    indexes
        .iter()
        .map(|i| {
            let mut b = GlobalSecondaryIndex::builder()
                .index_name(&i.name)
                .set_key_schema(Some(key_elements(&i.key_schema)?))
                .projection(projection(i));
            if let Some((r, w)) = i.throughput {
                b = b.provisioned_throughput(ProvisionedThroughput::builder().read_capacity_units(r).write_capacity_units(w).build()?);
            }
            b.build()
        })
        .collect()
}

pub(super) fn lsi_override(indexes: &[IndexDef]) -> Result<Vec<LocalSecondaryIndex>, aws_sdk_dynamodb::error::BuildError> {
    indexes
        .iter()
        .map(|i| {
            LocalSecondaryIndex::builder()
                .index_name(&i.name)
                .set_key_schema(Some(key_elements(&i.key_schema)?))
                .projection(projection(i))
                .build()
        })
        .collect()
}

pub(super) fn key_elements(keys: &[(String, KeyRole)]) -> Result<Vec<KeySchemaElement>, aws_sdk_dynamodb::error::BuildError> {
    keys.iter()
        .map(|(name, role)| {
            let key_type = if *role == KeyRole::Range { KeyType::Range } else { KeyType::Hash };
            KeySchemaElement::builder().attribute_name(name).key_type(key_type).build()
        })
        .collect()
}

pub(super) fn projection(i: &IndexDef) -> Projection {
    Projection::builder()
        .set_projection_type(i.projection_type.as_deref().map(ProjectionType::from))
        .set_non_key_attributes((!i.non_key_attributes.is_empty()).then(|| i.non_key_attributes.clone()))
        .build()
}

pub(super) fn to_attributes(key: &ItemKey) -> std::collections::HashMap<String, t::AttributeValue> {
    key.iter()
        .map(|(name, value)| {
            let value = match value {
                KeyAttr::S(s) => t::AttributeValue::S(s.clone()),
                KeyAttr::N(n) => t::AttributeValue::N(n.clone()),
                KeyAttr::B(b) => t::AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(b.clone())),
            };
            (name.clone(), value)
        })
        .collect()
}

pub(super) fn from_attributes(key: &std::collections::HashMap<String, t::AttributeValue>) -> ItemKey {
    key.iter()
        .filter_map(|(name, value)| {
            let value = match value {
                t::AttributeValue::S(s) => KeyAttr::S(s.clone()),
                t::AttributeValue::N(n) => KeyAttr::N(n.clone()),
                t::AttributeValue::B(b) => KeyAttr::B(b.as_ref().to_vec()),
                _ => return None,
            };
            Some((name.clone(), value))
        })
        .collect()
}

pub(super) fn pitr_from(desc: Option<&t::ContinuousBackupsDescription>) -> Pitr {
    let pitr = desc.and_then(|d| d.point_in_time_recovery_description());
    Pitr {
        enabled: pitr.and_then(|p| p.point_in_time_recovery_status()) == Some(&PointInTimeRecoveryStatus::Enabled),
        recovery_period_in_days: pitr.and_then(|p| p.recovery_period_in_days()),
        earliest: pitr.and_then(|p| p.earliest_restorable_date_time()).and_then(ts),
        latest: pitr.and_then(|p| p.latest_restorable_date_time()).and_then(ts),
    }
}
