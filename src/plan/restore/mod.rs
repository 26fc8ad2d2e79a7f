//! The lifecycle of a DynamoRestore, as decisions: what to do next from what status records and
//! what the target table is (`next`), how far a table of ours has come (`progress`), and when a
//! finished restore goes (`expires_in`). Its parts: where the data comes from (`source`), whose
//! the target table is (`target`), the steps after the table is ACTIVE (`after`).

pub mod after;
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
/// what was seen of the table.
pub fn next(status: &DynamoRestoreStatus, generation: Option<i64>, target: &str, region: &str, looked: Looked<'_>) -> Step {
    if status.phase == Some(RestorePhase::Completed) {
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
    /// ACTIVE: the after-restore steps and checks come next. `restore_time`: DynamoDB's record
    /// of the moment restored (a point in time, also "latest").
    Finalize { restore_time: Option<Timestamp> },
}

pub fn progress(status: &DynamoRestoreStatus, table: &Table, point_in_time: bool, now: Timestamp) -> Progress {
    if !table.is_active() {
        let since = status.started_at.as_ref().map_or(now, |t| t.0);
        let elapsed = Duration::try_from(now.duration_since(since)).unwrap_or_default();
        let message = format!("DynamoDB is restoring table {} ({})", table.name, table.status);
        return Progress::Restoring { message, poll: creating_poll(elapsed) };
    }
    let restore_time = if point_in_time { table.restore.as_ref().and_then(|r| r.restored_at) } else { None };
    Progress::Finalize { restore_time }
}

/// When a restore finished, for `ttlAfterFinished`: Completed, or Failed since its Stalled
/// condition. None while it is under way.
pub fn finished_at(status: &DynamoRestoreStatus) -> Option<Timestamp> {
    match status.phase {
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
