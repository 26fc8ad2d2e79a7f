//! Restore decisions: the PITR window, the index keep-lists as full overrides, whether an
//! existing target table is ours (a restore in flight after a crash) or someone else's.

use std::time::Duration;

use jiff::Timestamp;

use super::validate::Invalid;
use crate::{
    api::facts::{IndexDef, Pitr, Table, TableOverrides},
    api::{BillingMode, RestoreOverrides},
};

/// A restore of `at` (None: latest) from a table with this PITR state may go ahead.
pub fn check_window(table: &str, pitr: &Pitr, at: Option<Timestamp>) -> Result<(), Invalid> {
    if !pitr.enabled {
        return Err(Invalid {
            reason: "PointInTimeRecoveryDisabled",
            message: format!(
                "point-in-time recovery is off for table {table:?}, so it has no window to restore from; \
                 turn it on (a DynamoBackupPolicy does) or restore from a backup"
            ),
        });
    }
    let Some(at) = at else { return Ok(()) };
    let (Some(earliest), Some(latest)) = (pitr.earliest, pitr.latest) else {
        return Err(Invalid {
            reason: "PointInTimeRecoveryDisabled",
            message: format!("table {table:?} reports no restorable window yet; try again once PITR is fully enabled"),
        });
    };
    if at < earliest || at > latest {
        return Err(Invalid {
            reason: "RestoreTimeOutsideWindow",
            message: format!(
                "restoreTime {at} is outside the point-in-time window of table {table:?}: from {earliest} to {latest}; \
                 choose a moment inside it or use latestRestorableTime: true"
            ),
        });
    }
    Ok(())
}

/// The overrides DynamoDB needs, built from the spec and the source's indexes. A keep-list
/// becomes the full definitions of the kept indexes; an index it names that the source does
/// not have makes the spec invalid.
pub fn table_overrides(
    spec: Option<&RestoreOverrides>,
    source_gsis: &[IndexDef],
    source_lsis: &[IndexDef],
) -> Result<TableOverrides, Invalid> {
    let Some(spec) = spec else { return Ok(TableOverrides::default()) };
    let throughput = spec.provisioned_throughput.as_ref().map(|t| (t.read_capacity_units, t.write_capacity_units));
    let billing_mode = spec.billing_mode.map(|m| match m {
        BillingMode::PayPerRequest => "PAY_PER_REQUEST".to_owned(),
        BillingMode::Provisioned => "PROVISIONED".to_owned(),
    });
    // Index throughput must follow the table's billing mode when it is overridden.
    let index_throughput = |source: Option<(i64, i64)>| match spec.billing_mode {
        Some(BillingMode::PayPerRequest) => None,
        Some(BillingMode::Provisioned) => source.or(throughput),
        None => source,
    };
    let mut global_indexes = match &spec.keep_global_secondary_indexes {
        Some(keep) => Some(kept("global", keep, source_gsis)?),
        None if spec.billing_mode.is_some() && !source_gsis.is_empty() => Some(source_gsis.to_vec()),
        None => None,
    };
    if let Some(indexes) = &mut global_indexes {
        for index in indexes.iter_mut() {
            index.throughput = index_throughput(index.throughput);
        }
    }
    let local_indexes = match &spec.keep_local_secondary_indexes {
        Some(keep) => Some(kept("local", keep, source_lsis)?),
        None => None,
    };
    let sse = spec.sse.as_ref().map(|s| (s.enabled, s.kms_key_id.clone()));
    Ok(TableOverrides { billing_mode, throughput, global_indexes, local_indexes, sse })
}

fn kept(kind: &str, keep: &[String], source: &[IndexDef]) -> Result<Vec<IndexDef>, Invalid> {
    keep.iter()
        .map(|name| {
            source.iter().find(|i| &i.name == name).cloned().ok_or_else(|| Invalid {
                reason: "InvalidSpec",
                message: format!(
                    "keep{}SecondaryIndexes names {name:?}, which the source does not have (it has: {})",
                    if kind == "global" { "Global" } else { "Local" },
                    if source.is_empty() {
                        "none".to_owned()
                    } else {
                        source.iter().map(|i| i.name.as_str()).collect::<Vec<_>>().join(", ")
                    }
                ),
            })
        })
        .collect()
}

/// How RestoreTableToPointInTime names its source: by name in the target's own region, by
/// ARN across regions (the call is made in the target's region).
pub fn pitr_source(table_name: &str, table_region: Option<&str>, table_arn: Option<&str>, target_region: Option<&str>) -> String {
    let cross_region = table_region.is_some() && table_region != target_region;
    match (table_arn, cross_region) {
        (Some(arn), true) => arn.to_owned(),
        _ => table_name.to_owned(),
    }
}

/// What the target table name stands for right now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// No table of that name: a restore may create it.
    Free,
    /// The table this restore created (recorded, or found after a crash and adopted).
    Ours,
    /// Someone else's table: never touched.
    Taken,
}

/// Clock skew tolerated between our clock (`started_at`) and DynamoDB's (`created_at`).
const SKEW: Duration = Duration::from_secs(120);

/// `recorded_id`: the table id in status. `started_at`: when this restore recorded its intent
/// to call DynamoDB (written before the call). `source_arn`: the backup or table restored from.
pub fn classify_target(
    table: Option<&Table>,
    recorded_id: Option<&str>,
    started_at: Option<Timestamp>,
    source_arn: Option<&str>,
) -> Target {
    let Some(table) = table else { return Target::Free };
    if recorded_id.is_some() && table.id.as_deref() == recorded_id {
        return Target::Ours;
    }
    if recorded_id.is_some() {
        // We had a table of that name, and this is another one.
        return Target::Taken;
    }
    let (Some(started), Some(restore)) = (started_at, &table.restore) else { return Target::Taken };
    let from_our_source = match source_arn {
        Some(arn) => restore.source_backup_arn.as_deref() == Some(arn) || restore.source_table_arn.as_deref() == Some(arn),
        None => false,
    };
    let created_after_intent = table.created_at.is_some_and(|c| c.as_second() + (SKEW.as_secs() as i64) >= started.as_second());
    if from_our_source && created_after_intent { Target::Ours } else { Target::Taken }
}

/// When a finished restore with `ttlAfterFinished` goes: None now, else after how long.
pub fn expires_in(finished_at: Timestamp, ttl: Duration, now: Timestamp) -> Option<Duration> {
    let due = finished_at.checked_add(jiff::SignedDuration::try_from(ttl).ok()?).ok()?;
    (due > now).then(|| Duration::try_from(due.duration_since(now)).unwrap_or_default())
}

/// Steps done after the table is ACTIVE, in order; each is recorded once done.
pub const STEP_TAGS: &str = "tags";
pub const STEP_PITR: &str = "pointInTimeRecovery";
pub const STEP_DELETION_PROTECTION: &str = "deletionProtection";
pub const STEP_TTL: &str = "timeToLive";

#[cfg(test)]
mod ttl_tests {
    use super::*;

    #[test]
    fn a_finished_restore_goes_once_its_ttl_has_passed() {
        let finished: Timestamp = "2026-01-15T10:00:00Z".parse().unwrap();
        let ttl = Duration::from_secs(7200);
        assert_eq!(expires_in(finished, ttl, "2026-01-15T11:00:00Z".parse().unwrap()), Some(Duration::from_secs(3600)));
        assert_eq!(expires_in(finished, ttl, "2026-01-15T12:00:00Z".parse().unwrap()), None);
        assert_eq!(expires_in(finished, Duration::ZERO, finished), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        api::ProvisionedThroughput,
        api::facts::{KeyRole, RestoreSummary},
    };

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn pitr(earliest: &str, latest: &str) -> Pitr {
        Pitr { enabled: true, recovery_period_in_days: Some(35), earliest: Some(ts(earliest)), latest: Some(ts(latest)) }
    }

    #[test]
    fn a_moment_inside_the_window_is_fine() {
        let p = pitr("2026-01-01T00:00:00Z", "2026-01-15T10:25:00Z");
        assert!(check_window("UserProfiles", &p, Some(ts("2026-01-15T10:14:59Z"))).is_ok());
        assert!(check_window("UserProfiles", &p, None).is_ok());
    }

    #[test]
    fn a_moment_outside_the_window_names_the_window() {
        let p = pitr("2026-01-01T00:00:00Z", "2026-01-15T10:25:00Z");
        let err = check_window("UserProfiles", &p, Some(ts("2025-12-31T23:59:59Z"))).unwrap_err();
        assert_eq!(err.reason, "RestoreTimeOutsideWindow");
        assert!(err.message.contains("2026-01-01T00:00:00Z") && err.message.contains("2026-01-15T10:25:00Z"), "{}", err.message);
        assert!(check_window("UserProfiles", &p, Some(ts("2026-01-15T10:25:01Z"))).is_err());
    }

    #[test]
    fn pitr_off_is_its_own_reason() {
        let p = Pitr { enabled: false, recovery_period_in_days: None, earliest: None, latest: None };
        assert_eq!(check_window("T", &p, None).unwrap_err().reason, "PointInTimeRecoveryDisabled");
    }

    fn gsi(name: &str, throughput: Option<(i64, i64)>) -> IndexDef {
        IndexDef {
            name: name.into(),
            key_schema: vec![(format!("{name}Key"), KeyRole::Hash)],
            projection_type: Some("ALL".into()),
            non_key_attributes: vec![],
            throughput,
        }
    }

    #[test]
    fn a_keep_list_becomes_full_definitions() {
        let spec = RestoreOverrides {
            billing_mode: None,
            provisioned_throughput: None,
            keep_global_secondary_indexes: Some(vec!["byEmail".into()]),
            keep_local_secondary_indexes: None,
            sse: None,
        };
        let o = table_overrides(Some(&spec), &[gsi("byEmail", None), gsi("byName", None)], &[]).expect("valid");
        assert_eq!(o.global_indexes, Some(vec![gsi("byEmail", None)]));
        assert_eq!(o.local_indexes, None, "no keep-list: the source's LSIs stay");
        let empty = RestoreOverrides { keep_global_secondary_indexes: Some(vec![]), ..spec.clone() };
        assert_eq!(table_overrides(Some(&empty), &[gsi("byEmail", None)], &[]).expect("valid").global_indexes, Some(vec![]));
        let unknown = RestoreOverrides { keep_global_secondary_indexes: Some(vec!["nope".into()]), ..spec };
        let err = table_overrides(Some(&unknown), &[gsi("byEmail", None)], &[]).unwrap_err();
        assert!(err.message.contains("byEmail"), "{}", err.message);
    }

    #[test]
    fn switching_billing_mode_rewrites_index_throughput() {
        let to_provisioned = RestoreOverrides {
            billing_mode: Some(BillingMode::Provisioned),
            provisioned_throughput: Some(ProvisionedThroughput { read_capacity_units: 5, write_capacity_units: 7 }),
            keep_global_secondary_indexes: None,
            keep_local_secondary_indexes: None,
            sse: None,
        };
        let o = table_overrides(Some(&to_provisioned), &[gsi("byEmail", None)], &[]).expect("valid");
        assert_eq!(o.global_indexes, Some(vec![gsi("byEmail", Some((5, 7)))]));
        let to_on_demand =
            RestoreOverrides { billing_mode: Some(BillingMode::PayPerRequest), provisioned_throughput: None, ..to_provisioned };
        let o = table_overrides(Some(&to_on_demand), &[gsi("byEmail", Some((1, 1)))], &[]).expect("valid");
        assert_eq!(o.global_indexes, Some(vec![gsi("byEmail", None)]));
    }

    fn table(id: &str, created: &str, source_backup: Option<&str>) -> Table {
        Table {
            name: "Orders-restored".into(),
            arn: None,
            id: Some(id.into()),
            status: "ACTIVE".into(),
            item_count: None,
            size_bytes: None,
            created_at: Some(ts(created)),
            global_indexes: vec![],
            local_indexes: vec![],
            restore: source_backup.map(|b| RestoreSummary {
                source_backup_arn: Some(b.into()),
                source_table_arn: None,
                restored_at: None,
                in_progress: false,
            }),
            deletion_protection: None,
        }
    }

    #[test]
    fn a_source_in_another_region_goes_by_arn() {
        let arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/UserProfiles";
        assert_eq!(pitr_source("UserProfiles", Some("eu-west-1"), Some(arn), Some("us-east-1")), arn);
        assert_eq!(pitr_source("UserProfiles", Some("eu-west-1"), Some(arn), Some("eu-west-1")), "UserProfiles");
        assert_eq!(pitr_source("UserProfiles", None, Some(arn), Some("us-east-1")), "UserProfiles", "a plain name is local");
    }

    #[test]
    fn the_recorded_table_is_ours() {
        let t = table("id-1", "2026-01-10T12:00:00Z", Some("arn:b"));
        assert_eq!(classify_target(Some(&t), Some("id-1"), None, None), Target::Ours);
        assert_eq!(classify_target(Some(&t), Some("id-0"), None, Some("arn:b")), Target::Taken);
        assert_eq!(classify_target(None, Some("id-1"), None, None), Target::Free);
    }

    #[test]
    fn a_restore_in_flight_after_a_crash_is_adopted() {
        let t = table("id-1", "2026-01-10T12:00:05Z", Some("arn:b"));
        let started = Some(ts("2026-01-10T12:00:04Z"));
        assert_eq!(classify_target(Some(&t), None, started, Some("arn:b")), Target::Ours);
        assert_eq!(classify_target(Some(&t), None, started, Some("arn:other")), Target::Taken, "another source");
        assert_eq!(classify_target(Some(&t), None, None, Some("arn:b")), Target::Taken, "we never started");
        let old = table("id-1", "2026-01-09T00:00:00Z", Some("arn:b"));
        assert_eq!(classify_target(Some(&old), None, started, Some("arn:b")), Target::Taken, "made before we started");
        let plain = table("id-1", "2026-01-10T12:00:05Z", None);
        assert_eq!(classify_target(Some(&plain), None, started, Some("arn:b")), Target::Taken, "not a restored table");
    }
}
