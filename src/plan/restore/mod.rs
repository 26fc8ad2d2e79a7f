//! The lifecycle of a DynamoRestore, as decisions: what to do next from what status records and
//! what the target table is (`next`), how far a table of ours has come (`progress`), and when a
//! finished restore goes (`expires_in`). Its parts: where the data comes from (`source`), whose
//! the target table is (`target`), the steps after the table is ACTIVE (`after`) and what they
//! carry over from the source (`carry`).

pub mod after;
pub mod carry;
pub mod source;
pub mod target;

use std::time::Duration;

use jiff::Timestamp;

pub use source::{check_window, pitr_source, table_overrides};
pub use target::{Target, classify_target};

use crate::{
    api::{DynamoRestoreStatus, RestorePhase, facts::Table},
    plan::{backup::creating_poll, conditions::stalled},
};

/// What a reconcile has seen of the target table so far.
#[derive(Clone, Copy, Debug)]
pub enum Looked<'a> {
    /// Not read yet (the plan reads it only when it needs it).
    NotYet,
    Absent,
    Found(&'a Table),
}

/// What a reconcile does next for a restore that is not being deleted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Completed: nothing more to make. `rewrite`: the spec changed since, Ready is written again.
    Done { rewrite: bool },
    /// A restore by AWS Backup whose table is not recorded yet: StartRestoreJob (its token finds
    /// the first job after a crash).
    StartJob,
    /// A restore job started: follow it.
    FollowJob { job_id: String },
    /// The target table decides: DescribeTable, then ask again.
    ReadTarget,
    /// The target is someone else's, or ours and gone.
    Stall { reason: &'static str, message: String },
    /// Resolve the source, record the intent, restore.
    Start,
    /// The table is ours: follow it to ACTIVE, then finish.
    Follow,
    /// A table of that name appeared without being recorded: look again shortly.
    LookAgain,
}

/// The next step of the restore into `target` (named `region` in messages), from its status and
/// what was seen of the table. `copy_back_due`: the spec's copy-back has work left (a completed
/// restore goes on to it, as after `dryRun` went to false).
pub fn next(
    status: &DynamoRestoreStatus,
    generation: Option<i64>,
    target: &str,
    region: &str,
    looked: Looked<'_>,
    copy_back_due: bool,
) -> Step {
    if status.phase == Some(RestorePhase::Completed) && !copy_back_due {
        return Step::Done { rewrite: status.observed_generation != generation };
    }
    if status.recovery_point_arn.is_some() && status.target_table_id.is_none() && status.started_at.is_some() {
        return match &status.restore_job_id {
            Some(job_id) => Step::FollowJob { job_id: job_id.clone() },
            None => Step::StartJob,
        };
    }
    let table = match looked {
        Looked::NotYet => return Step::ReadTarget,
        Looked::Absent => None,
        Looked::Found(table) => Some(table),
    };
    let source_arn = status.source_backup_arn.as_deref().or(status.source_table_arn.as_deref());
    let started_at = status.started_at.as_ref().map(|t| t.0);
    match classify_target(table, status.target_table_id.as_deref(), started_at, source_arn) {
        Target::Taken => Step::Stall {
            reason: "TargetTableExists",
            message: format!(
                "table {target:?} already exists in {region} and was not created by this restore; nothing was touched. \
                 Choose another spec.targetTableName: a restore never overwrites a table"
            ),
        },
        // We recorded a table of ours, and it is gone: never restore a second time on our own.
        Target::Free if status.target_table_id.is_some() || status.target_table_arn.is_some() => Step::Stall {
            reason: "TargetTableGone",
            message: format!("table {target:?}, which this restore created, no longer exists (deleted outside the operator)"),
        },
        Target::Free => Step::Start,
        Target::Ours if table.is_some() => Step::Follow,
        Target::Ours => Step::LookAgain,
    }
}

/// How far a table of ours has come.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// DynamoDB is still making it: say so, and look again after `poll`.
    Restoring { message: String, poll: Duration },
    /// Restored, but UPDATING while the after-restore steps run (turning its stream on makes it
    /// so for a while): the next steps wait until it is ACTIVE again, the phase stays Finalizing.
    Updating { message: String, poll: Duration },
    /// ACTIVE: the after-restore steps and checks come next. `restore_time`: DynamoDB's record
    /// of the moment restored (a point in time, also "latest").
    Finalize { restore_time: Option<Timestamp> },
}

pub fn progress(status: &DynamoRestoreStatus, table: &Table, point_in_time: bool, now: Timestamp) -> Progress {
    let restored = !table.restore.as_ref().is_some_and(|r| r.in_progress);
    if table.status == "UPDATING" && restored && status.phase == Some(RestorePhase::Finalizing) {
        let message = format!("table {} is UPDATING after an after-restore step; the next steps wait until it is ACTIVE", table.name);
        return Progress::Updating { message, poll: UPDATING_POLL };
    }
    if !table.is_active() {
        let since = status.started_at.as_ref().map_or(now, |t| t.0);
        let elapsed = Duration::try_from(now.duration_since(since)).unwrap_or_default();
        let message = format!("DynamoDB is restoring table {} ({})", table.name, table.status);
        return Progress::Restoring { message, poll: creating_poll(elapsed) };
    }
    let restore_time = if point_in_time { table.restore.as_ref().and_then(|r| r.restored_at) } else { None };
    Progress::Finalize { restore_time }
}

/// How often a table UPDATING between after-restore steps is looked at again.
const UPDATING_POLL: Duration = Duration::from_secs(5);

/// When a restore finished, for `ttlAfterFinished`: Completed (and its copy-back done), or Failed
/// since its Stalled condition. None while it is under way.
pub fn finished_at(status: &DynamoRestoreStatus, copy_back_due: bool) -> Option<Timestamp> {
    match status.phase {
        Some(RestorePhase::Completed) if copy_back_due => None,
        Some(RestorePhase::Completed) => status.completed_at.as_ref().map(|t| t.0),
        Some(RestorePhase::Failed) => stalled(&status.conditions).map(|c| c.last_transition_time.0),
        _ => None,
    }
}

/// When a finished restore with `ttlAfterFinished` goes: None now, else after how long.
pub fn expires_in(finished_at: Timestamp, ttl: Duration, now: Timestamp) -> Option<Duration> {
    let due = finished_at.checked_add(jiff::SignedDuration::try_from(ttl).ok()?).ok()?;
    (due > now).then(|| Duration::try_from(due.duration_since(now)).unwrap_or_default())
}

#[cfg(test)]
mod ttl_tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    use super::*;
    use crate::api::facts::RestoreSummary;

    fn table(id: &str, status: &str) -> Table {
        Table {
            name: "Orders-restored".into(),
            arn: None,
            id: Some(id.into()),
            status: status.into(),
            item_count: None,
            size_bytes: None,
            created_at: Some("2026-01-15T10:00:05Z".parse().unwrap()),
            global_indexes: Vec::new(),
            local_indexes: Vec::new(),
            restore: Some(RestoreSummary {
                source_backup_arn: Some("arn:b".into()),
                source_table_arn: None,
                restored_at: Some("2026-01-15T09:59:00Z".parse().unwrap()),
                in_progress: status != "ACTIVE",
            }),
            deletion_protection: None,
            ..Default::default()
        }
    }

    #[test]
    fn the_lifecycle_step_follows_from_status_and_the_target() {
        let next_of = |status: &DynamoRestoreStatus, looked| next(status, Some(1), "Orders-restored", "eu-west-1", looked, false);
        let fresh = DynamoRestoreStatus::default();
        assert_eq!(next_of(&fresh, Looked::NotYet), Step::ReadTarget);
        assert_eq!(next_of(&fresh, Looked::Absent), Step::Start);
        let theirs = table("id-9", "ACTIVE");
        assert!(matches!(next_of(&fresh, Looked::Found(&theirs)), Step::Stall { reason: "TargetTableExists", .. }));
        // The intent recorded, then a crash: the table made from our source after it is ours.
        let started = DynamoRestoreStatus {
            started_at: Some(Time("2026-01-15T10:00:00Z".parse().unwrap())),
            source_backup_arn: Some("arn:b".into()),
            ..Default::default()
        };
        let ours = table("id-1", "CREATING");
        assert_eq!(next_of(&started, Looked::Found(&ours)), Step::Follow);
        let recorded = DynamoRestoreStatus { target_table_id: Some("id-1".into()), ..started.clone() };
        assert!(matches!(next_of(&recorded, Looked::Absent), Step::Stall { reason: "TargetTableGone", .. }));
        let job = DynamoRestoreStatus { recovery_point_arn: Some("arn:rp".into()), ..started.clone() };
        assert_eq!(next_of(&job, Looked::NotYet), Step::StartJob);
        let running = DynamoRestoreStatus { restore_job_id: Some("job-1".into()), ..job };
        assert_eq!(next_of(&running, Looked::NotYet), Step::FollowJob { job_id: "job-1".into() });
        let done = DynamoRestoreStatus { phase: Some(RestorePhase::Completed), observed_generation: Some(1), ..Default::default() };
        assert_eq!(next_of(&done, Looked::NotYet), Step::Done { rewrite: false });
        assert_eq!(next(&done, Some(2), "t", "r", Looked::NotYet, false), Step::Done { rewrite: true });
        // dryRun went to false: the completed restore goes back to its table for the copy.
        assert_eq!(next(&done, Some(2), "t", "r", Looked::NotYet, true), Step::ReadTarget);
        assert!(finished_at(&done, true).is_none());
    }

    #[test]
    fn a_table_is_followed_until_active_then_finalized() {
        let now: Timestamp = "2026-01-15T10:01:40Z".parse().unwrap();
        let status = DynamoRestoreStatus { started_at: Some(Time("2026-01-15T10:00:00Z".parse().unwrap())), ..Default::default() };
        let Progress::Restoring { poll, .. } = progress(&status, &table("id-1", "CREATING"), false, now) else { panic!("creating") };
        assert_eq!(poll, Duration::from_secs(25), "a quarter of the 100 s so far");
        let at = table("id-1", "ACTIVE").restore.and_then(|r| r.restored_at);
        assert_eq!(progress(&status, &table("id-1", "ACTIVE"), true, now), Progress::Finalize { restore_time: at });
        assert_eq!(progress(&status, &table("id-1", "ACTIVE"), false, now), Progress::Finalize { restore_time: None });
        let mut updating = table("id-1", "UPDATING");
        if let Some(r) = updating.restore.as_mut() {
            r.in_progress = false;
        }
        assert!(matches!(progress(&status, &updating, false, now), Progress::Restoring { .. }), "not yet seen ACTIVE");
        let finalizing = DynamoRestoreStatus { phase: Some(RestorePhase::Finalizing), ..status.clone() };
        assert!(matches!(progress(&finalizing, &updating, false, now), Progress::Updating { .. }), "a step made it UPDATING");
    }

    #[test]
    fn a_finished_restore_goes_once_its_ttl_has_passed() {
        let finished: Timestamp = "2026-01-15T10:00:00Z".parse().unwrap();
        let ttl = Duration::from_secs(7200);
        assert_eq!(expires_in(finished, ttl, "2026-01-15T11:00:00Z".parse().unwrap()), Some(Duration::from_secs(3600)));
        assert_eq!(expires_in(finished, ttl, "2026-01-15T12:00:00Z".parse().unwrap()), None);
        assert_eq!(expires_in(finished, Duration::ZERO, finished), None);
    }
}
