//! Restore drills (`DynamoBackupPolicy.spec.drill`): which tables a drill takes, the
//! DynamoRestore of each, and what that restore says of how the drill went. Shared by the
//! operator (scheduled drills) and the command line (`kubectl dynamobackup drill`).

use std::{collections::BTreeMap, time::Duration};

use jiff::Timestamp;
use kube::{ResourceExt, api::ObjectMeta};

use super::{
    names::{child_backup_name, label_value, table_label_value},
    tables::TableRef,
};
use crate::api::{
    AfterRestore, AwsBackupRestore, BackupMethod, BackupPhase, CarryOver, DeletionPolicy, DrillResult, DrillSource, DrillStatus,
    DynamoBackup, DynamoBackupPolicy, DynamoRestore, DynamoRestoreSpec, ItemCountCheck, LocalObjectReference, PointInTimeSource,
    RestorePhase, RestoreSource, TimeToLiveMode, VerificationResult, VerifySpec, labels,
};

/// The `dynamobackup.io/trigger` of a drill's DynamoRestore.
pub const TRIGGER: &str = "drill";
/// How long a finished drill stays when `ttlAfterFinished` is omitted.
pub const DEFAULT_TTL: &str = "1h";
/// The item-count tolerance of a drill whose `verify` is omitted: DynamoDB's recorded counts
/// are approximate (refreshed about every six hours).
pub const DEFAULT_TOLERANCE_PERCENT: u32 = 5;
/// The tag a drill's table carries, valued `<namespace>/<policy>`: a table that shows where it
/// came from, and that no tag selector mistakes for a table of the service.
pub const TABLE_TAG: &str = "dynamobackup.io/drill";

/// DynamoDB table names hold at most 255 characters.
const TABLE_NAME_MAX: usize = 255;

/// The new table of a drill: `<table>-drill-<suffix>`, cut (and told apart by a hash) to fit.
pub fn target_table(table: &str, suffix: &str) -> String {
    let tail = format!("-drill-{suffix}");
    if table.len() + tail.len() <= TABLE_NAME_MAX {
        return format!("{table}{tail}");
    }
    let hash = super::names::short_hash(table);
    let room = TABLE_NAME_MAX - tail.len() - hash.len() - 1;
    let head: String = table.chars().take(room).collect();
    format!("{head}-{hash}{tail}")
}

/// Whether a table is a drill's: it carries the drill tag, or its name ends as a drill's does
/// (`-drill-YYYYMMDD-HHMM[SS]`). Selectors and the unprotected-tables metric pass over them.
pub fn is_drill_table(name: &str, tags: &BTreeMap<String, String>) -> bool {
    if tags.contains_key(TABLE_TAG) {
        return true;
    }
    let Some((_, suffix)) = name.rsplit_once("-drill-") else { return false };
    let (day, time) = suffix.split_once('-').unwrap_or((suffix, ""));
    day.len() == 8 && matches!(time.len(), 4 | 6) && day.chars().chain(time.chars()).all(|c| c.is_ascii_digit())
}

/// The DynamoRestore of one table's drill: `<policy>-<table>-drill-<suffix>`.
pub fn restore_name(policy: &str, table: &str, suffix: &str) -> String {
    child_backup_name(policy, table, &format!("drill-{suffix}"))
}

/// The tables one drill takes: every table (`per_run` 0, or at least as many as there are), else
/// the `per_run` drilled longest ago (never drilled first; spec order on ties), so successive
/// drills rotate through all of them.
pub fn pick_tables(tables: &[String], last_run: impl Fn(&str) -> Option<Timestamp>, per_run: u32) -> Vec<&String> {
    let per_run = usize::try_from(per_run).unwrap_or(usize::MAX);
    if per_run == 0 || per_run >= tables.len() {
        return tables.iter().collect();
    }
    let mut order: Vec<(Option<Timestamp>, usize, &String)> = tables.iter().enumerate().map(|(i, t)| (last_run(t), i, t)).collect();
    order.sort();
    order.truncate(per_run);
    order.sort_by_key(|(_, i, _)| *i);
    order.into_iter().map(|(_, _, t)| t).collect()
}

/// The newest Available DynamoBackup of `table` (as the spec names it) among a policy's children.
pub fn newest_backup<'a>(children: impl IntoIterator<Item = &'a DynamoBackup>, table: &str) -> Option<&'a DynamoBackup> {
    children
        .into_iter()
        .filter(|c| c.spec.table_name == table && c.metadata.deletion_timestamp.is_none())
        .filter(|c| c.status.as_ref().and_then(|s| s.phase) == Some(BackupPhase::Available))
        .max_by_key(|c| c.status.as_ref().and_then(|s| s.created_at.as_ref()).map(|t| t.0))
}

/// What a drill restores, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DrillFrom {
    /// This DynamoBackup (of the policy's method).
    Backup(String),
    /// The table's latest restorable moment.
    LatestRestorableTime,
}

/// What a drill slot does for one table, before anything is made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Start {
    /// The table's previous drill (another slot's) still runs: this one is skipped, with a
    /// Warning event; the entry stays as it is.
    StillRunning { note: String },
    /// Nothing to drill yet: the entry says why; `warn`: a Warning event too.
    Skip { message: String, warn: bool },
    /// Restore from here.
    Restore(DrillFrom),
}

/// The start of the drill `name` of the table `text` (as the spec names it) at `slot`, from the
/// table's last drill (`entry`), whether the table exists, and the children.
pub fn start(
    source: DrillSource,
    entry: &DrillStatus,
    name: &str,
    text: &str,
    missing: bool,
    children: &[DynamoBackup],
    slot: Timestamp,
) -> Start {
    let table = TableRef::parse(text).map(|t| t.name).unwrap_or_else(|_| text.to_owned());
    if entry.result == DrillResult::Running && entry.restore.as_deref() != Some(name) {
        let running = entry.restore.as_deref().unwrap_or("?");
        return Start::StillRunning {
            note: format!("drill of table {text} at {slot} skipped: the previous drill ({running}) is still running"),
        };
    }
    if missing {
        return Start::Skip { message: format!("table {table} does not exist"), warn: false };
    }
    match source {
        DrillSource::LatestRestorableTime => Start::Restore(DrillFrom::LatestRestorableTime),
        DrillSource::LatestBackup => match newest_backup(children, text) {
            Some(backup) => Start::Restore(DrillFrom::Backup(backup.name_any())),
            None => Start::Skip {
                message: format!("no Available backup of table {table} to drill yet; the next drill tries again"),
                warn: true,
            },
        },
    }
}

/// Why a drill cannot be built from the policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotDrillable(pub String);

/// The DynamoRestore of a drill of `table` (as the policy's spec names it) from `from`: a new
/// table named for the drill, deleted with the object (`deletionPolicy: Delete`) that long
/// after it finished, checked as `spec.drill.verify` says, tagged as a drill and with nothing
/// else of the source carried over.
pub fn drill_restore(policy: &DynamoBackupPolicy, table: &str, from: &DrillFrom, suffix: &str) -> Result<DynamoRestore, NotDrillable> {
    let drill = policy.spec.drill.as_ref().ok_or_else(|| NotDrillable(format!("policy {} has no spec.drill", policy.name_any())))?;
    let parsed = TableRef::parse(table).map_err(|e| NotDrillable(format!("{table}: {e}")))?;
    let region = parsed.region.clone().or_else(|| policy.spec.region.clone());
    let template = policy.spec.backup.as_ref();
    let (source, aws_backup) = match from {
        DrillFrom::Backup(name) => {
            let role = match template.map(|t| t.method) {
                Some(BackupMethod::AWSBackup) => {
                    let role = template.and_then(|t| t.aws_backup.as_ref()).map(|a| a.iam_role_arn.clone());
                    Some(role.ok_or_else(|| NotDrillable("spec.backup.awsBackup.iamRoleArn is missing".into()))?)
                }
                _ => None,
            };
            (
                RestoreSource { backup_ref: Some(LocalObjectReference { name: name.clone() }), ..empty_source() },
                role.map(|iam_role_arn| AwsBackupRestore { iam_role_arn }),
            )
        }
        DrillFrom::LatestRestorableTime => (
            RestoreSource {
                point_in_time: Some(PointInTimeSource {
                    table_name: table.to_owned(),
                    restore_time: None,
                    latest_restorable_time: Some(true),
                }),
                ..empty_source()
            },
            None,
        ),
    };
    let namespace = policy.namespace().unwrap_or_default();
    let verify = drill.verify.clone().unwrap_or(VerifySpec {
        item_count: Some(ItemCountCheck { tolerance_percent: DEFAULT_TOLERANCE_PERCENT }),
        keys: Vec::new(),
        max_read_capacity_per_second: None,
    });
    let labels = BTreeMap::from([
        (labels::POLICY.to_owned(), label_value(&policy.name_any())),
        (labels::TABLE.to_owned(), table_label_value(&parsed.name)),
        (labels::TRIGGER.to_owned(), TRIGGER.to_owned()),
    ]);
    Ok(DynamoRestore {
        metadata: ObjectMeta {
            name: Some(restore_name(&policy.name_any(), table, suffix)),
            namespace: Some(namespace.clone()),
            labels: Some(labels),
            ..Default::default()
        },
        spec: DynamoRestoreSpec {
            source,
            target_table_name: target_table(&parsed.name, suffix),
            region,
            overrides: None,
            after_restore: AfterRestore {
                copy_tags: false,
                tags: BTreeMap::from([(TABLE_TAG.to_owned(), format!("{namespace}/{}", policy.name_any()))]),
                point_in_time_recovery: None,
                deletion_protection: None,
                time_to_live: TimeToLiveMode::None,
                streams: CarryOver::None,
                resource_policy: CarryOver::None,
                auto_scaling: CarryOver::None,
            },
            deletion_policy: DeletionPolicy::Delete,
            verify: Some(verify),
            ttl_after_finished: Some(drill.ttl_after_finished.clone().unwrap_or_else(|| DEFAULT_TTL.to_owned())),
            aws_backup,
            copy_back: None,
        },
        status: None,
    })
}

fn empty_source() -> RestoreSource {
    RestoreSource { backup_ref: None, backup_arn: None, recovery_point_arn: None, point_in_time: None }
}

/// What a drill's DynamoRestore says of the drill.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    pub result: DrillResult,
    /// From the restore call to the new table usable (ACTIVE, after-restore steps done): RTO.
    pub restore_duration: Option<Duration>,
    /// From the moment the restored data is of to the restore call: RPO at drill time.
    pub data_age: Option<Duration>,
    pub message: Option<String>,
}

pub fn outcome(restore: &DynamoRestore) -> Outcome {
    let status = restore.status.clone().unwrap_or_default();
    let started = status.started_at.as_ref().map(|t| t.0);
    // The checks begin once the table is usable; without checks, the restore's end says so.
    let usable = status.verification.as_ref().and_then(|v| v.started_at.as_ref()).or(status.completed_at.as_ref()).map(|t| t.0);
    let between = |from: Option<Timestamp>, to: Option<Timestamp>| {
        from.zip(to).and_then(|(from, to)| Duration::try_from(to.duration_since(from)).ok())
    };
    let condition = |kind: &str| {
        status.conditions.iter().find(|c| c.type_ == kind && c.status == "True").map(|c| c.message.clone()).filter(|m| !m.is_empty())
    };
    let verdict = status.verification.as_ref().and_then(|v| v.result);
    let checked = status.verification.as_ref().and_then(|v| v.message.clone());
    let (result, message) = match status.phase {
        Some(RestorePhase::Completed) if verdict == Some(VerificationResult::Failed) => {
            (DrillResult::Failed, Some(format!("restored, but its checks failed: {}", checked.unwrap_or_default())))
        }
        Some(RestorePhase::Completed) => (DrillResult::Passed, checked.or_else(|| condition("Ready"))),
        Some(RestorePhase::Failed) => (DrillResult::Failed, condition("Stalled")),
        _ => (DrillResult::Running, condition("Reconciling")),
    };
    Outcome {
        result,
        restore_duration: if result == DrillResult::Running { None } else { between(started, usable) },
        data_age: between(status.restore_time.as_ref().map(|t| t.0), started),
        message,
    }
}

/// A drill's source as `spec.drill.source` names it, for messages.
pub fn source_text(source: DrillSource) -> &'static str {
    match source {
        DrillSource::LatestBackup => "the newest Available backup",
        DrillSource::LatestRestorableTime => "the latest restorable time",
    }
}

/// A duration as status shows it: `4m12s`, `13h`, `2days3h`.
pub fn compact(duration: Duration) -> String {
    humantime::format_duration(Duration::from_secs(duration.as_secs())).to_string().replace(' ', "")
}

/// `spec.drill`, checked: its schedule (messages name `spec.drill`).
pub fn check(spec: &crate::api::DrillSpec) -> Result<crate::plan::schedule::Schedule, crate::plan::validate::Invalid> {
    let schedule = crate::plan::schedule::Schedule::parse(&spec.schedule).map_err(|mut e| {
        e.message = e.message.replacen("spec.schedule", "spec.drill.schedule", 1);
        e
    })?;
    if let Some(ttl) = &spec.ttl_after_finished {
        humantime::parse_duration(ttl).map_err(|e| {
            crate::plan::validate::invalid(format!("spec.drill.ttlAfterFinished {ttl:?} is not a duration such as 30m or 2h: {e}"))
        })?;
    }
    if let Some(verify) = &spec.verify {
        for (i, key) in verify.keys.iter().enumerate() {
            crate::plan::verify::parse_key(key).map_err(|e| crate::plan::validate::invalid(format!("spec.drill.verify.keys[{i}]: {e}")))?;
        }
    }
    Ok(schedule)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
    use proptest::prelude::*;

    use super::*;
    use crate::api::{
        AwsBackupSpec, BackupSchedule, BackupTemplate, DrillSpec, DynamoBackupPolicySpec, DynamoRestoreStatus, VerificationStatus,
    };

    fn policy(source: DrillSource, template: Option<BackupTemplate>) -> DynamoBackupPolicy {
        let mut spec: DynamoBackupPolicySpec = serde_json::from_value(serde_json::json!({"tables": ["Orders"]})).expect("spec");
        spec.drill = Some(DrillSpec {
            schedule: BackupSchedule { cron: "@weekly".into(), time_zone: None, jitter: None, starting_deadline: None, suspend: false },
            source,
            tables_per_run: 0,
            verify: None,
            ttl_after_finished: None,
        });
        spec.backup = template;
        let mut p = DynamoBackupPolicy::new("nightly", spec);
        p.metadata.namespace = Some("shop".into());
        p
    }

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + second).expect("in range")
    }

    #[test]
    fn a_drill_starts_only_with_something_to_restore_and_its_previous_drill_done() {
        let entry = |result, restore: Option<&str>| DrillStatus {
            table: "Orders".into(),
            restore: restore.map(str::to_owned),
            last_run: None,
            result,
            restore_duration: None,
            data_age: None,
            message: None,
        };
        let idle = entry(DrillResult::Passed, Some("old"));
        let start_of = |entry: &DrillStatus, source, missing| start(source, entry, "new", "Orders", missing, &[], at(0));
        assert!(matches!(
            start_of(&entry(DrillResult::Running, Some("old")), DrillSource::LatestRestorableTime, false),
            Start::StillRunning { .. }
        ));
        // Its own drill of this slot, recorded as running: made again (create finds it), not skipped.
        assert_eq!(
            start_of(&entry(DrillResult::Running, Some("new")), DrillSource::LatestRestorableTime, false),
            Start::Restore(DrillFrom::LatestRestorableTime)
        );
        assert!(matches!(start_of(&idle, DrillSource::LatestRestorableTime, true), Start::Skip { warn: false, .. }));
        assert!(matches!(start_of(&idle, DrillSource::LatestBackup, false), Start::Skip { warn: true, .. }), "no backup yet");
    }

    #[test]
    fn a_backup_drill_restores_the_backup_into_a_drill_table_that_goes_with_the_object() {
        let r = drill_restore(&policy(DrillSource::LatestBackup, None), "Orders", &DrillFrom::Backup("b1".into()), "20261206-0400")
            .expect("drillable");
        assert_eq!(r.name_any(), format!("nightly-{}-drill-20261206-0400", table_label_value("Orders")));
        assert_eq!(r.spec.target_table_name, "Orders-drill-20261206-0400");
        assert_eq!(r.spec.source.backup_ref.as_ref().map(|b| b.name.as_str()), Some("b1"));
        assert_eq!(r.spec.deletion_policy, DeletionPolicy::Delete);
        assert_eq!(r.spec.ttl_after_finished.as_deref(), Some(DEFAULT_TTL));
        assert_eq!(r.spec.verify.as_ref().and_then(|v| v.item_count.as_ref()).map(|c| c.tolerance_percent), Some(5));
        assert!(!r.spec.after_restore.copy_tags);
        assert_eq!(r.spec.after_restore.tags.get(TABLE_TAG).map(String::as_str), Some("shop/nightly"));
        assert_eq!(r.labels().get(labels::TRIGGER).map(String::as_str), Some(TRIGGER));
        assert!(r.spec.aws_backup.is_none());
    }

    #[test]
    fn an_aws_backup_policy_drills_with_its_role_and_a_pitr_drill_needs_none() {
        let template = BackupTemplate {
            method: BackupMethod::AWSBackup,
            aws_backup: Some(AwsBackupSpec {
                backup_vault_name: "vault".into(),
                iam_role_arn: "arn:aws:iam::123456789012:role/backup".into(),
                lifecycle: None,
                copy_to: Vec::new(),
            }),
        };
        let p = policy(DrillSource::LatestBackup, Some(template));
        let r = drill_restore(&p, "Orders", &DrillFrom::Backup("b1".into()), "x").expect("drillable");
        assert_eq!(r.spec.aws_backup.map(|a| a.iam_role_arn), Some("arn:aws:iam::123456789012:role/backup".into()));
        let r = drill_restore(&p, "Orders", &DrillFrom::LatestRestorableTime, "x").expect("drillable");
        assert!(r.spec.aws_backup.is_none());
        assert_eq!(r.spec.source.point_in_time.and_then(|p| p.latest_restorable_time), Some(true));
    }

    #[test]
    fn drill_tables_are_told_by_tag_or_name() {
        let none = BTreeMap::new();
        assert!(is_drill_table("Orders-drill-20261206-0400", &none));
        assert!(is_drill_table("Orders-drill-20261206-040010", &none));
        assert!(!is_drill_table("Orders-drill-team", &none));
        assert!(!is_drill_table("Orders", &none));
        assert!(is_drill_table("anything", &BTreeMap::from([(TABLE_TAG.to_owned(), "shop/p".to_owned())])));
    }

    #[test]
    fn a_long_table_name_still_makes_a_valid_drill_table() {
        let long = "t".repeat(255);
        let name = target_table(&long, "20261206-0400");
        assert!(name.len() <= 255 && name.ends_with("-drill-20261206-0400"), "{name}");
        assert_ne!(target_table(&"u".repeat(255), "20261206-0400"), name);
    }

    fn restore(phase: RestorePhase, verdict: Option<VerificationResult>) -> DynamoRestore {
        let mut r = DynamoRestore::new(
            "d",
            drill_restore(&policy(DrillSource::LatestBackup, None), "Orders", &DrillFrom::Backup("b".into()), "x").expect("drill").spec,
        );
        r.status = Some(DynamoRestoreStatus {
            phase: Some(phase),
            restore_time: Some(Time(at(0))),
            started_at: Some(Time(at(3600))),
            completed_at: Some(Time(at(3900))),
            verification: verdict.map(|result| VerificationStatus {
                result: Some(result),
                started_at: Some(Time(at(3850))),
                message: Some("4 items".into()),
                ..Default::default()
            }),
            conditions: vec![Condition {
                type_: "Stalled".into(),
                status: if phase == RestorePhase::Failed { "True" } else { "False" }.into(),
                message: "the backup is gone".into(),
                reason: "BackupNotFound".into(),
                last_transition_time: Time(at(3900)),
                observed_generation: None,
            }],
            ..Default::default()
        });
        r
    }

    #[test]
    fn the_outcome_measures_time_to_a_usable_table_and_the_age_of_its_data() {
        let passed = outcome(&restore(RestorePhase::Completed, Some(VerificationResult::Passed)));
        assert_eq!(passed.result, DrillResult::Passed);
        assert_eq!(passed.restore_duration, Some(Duration::from_secs(250)), "until the checks began");
        assert_eq!(passed.data_age, Some(Duration::from_secs(3600)));
        let failed = outcome(&restore(RestorePhase::Completed, Some(VerificationResult::Failed)));
        assert_eq!(failed.result, DrillResult::Failed);
        assert!(failed.message.is_some_and(|m| m.contains("4 items")));
        let stalled = outcome(&restore(RestorePhase::Failed, None));
        assert_eq!((stalled.result, stalled.message.as_deref()), (DrillResult::Failed, Some("the backup is gone")));
        let running = outcome(&restore(RestorePhase::Restoring, None));
        assert_eq!((running.result, running.restore_duration), (DrillResult::Running, None));
        assert_eq!(compact(Duration::from_secs(252)), "4m12s");
    }

    proptest! {
        /// Whatever the number of tables and the size of a run, ceil(n / per_run) drills in a
        /// row take every table, and each drill takes exactly per_run of them.
        #[test]
        fn drills_rotate_through_every_table(n in 1usize..30, per_run in 1u32..10, start in 0i64..1000) {
            let tables: Vec<String> = (0..n).map(|i| format!("table-{i:02}")).collect();
            let mut last: BTreeMap<String, Timestamp> = BTreeMap::new();
            let runs = n.div_ceil(per_run as usize);
            for run in 0..runs {
                let picked: Vec<String> = pick_tables(&tables, |t| last.get(t).copied(), per_run).into_iter().cloned().collect();
                prop_assert_eq!(picked.len(), (per_run as usize).min(n));
                for t in picked {
                    last.insert(t, at(start + run as i64 * 60));
                }
            }
            prop_assert_eq!(last.len(), n);
        }
    }
}
