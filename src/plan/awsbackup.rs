//! AWSBackup snapshots: the next step for a DynamoBackup kept by AWS Backup, from what its
//! status records. The backup job comes first; once its recovery point is complete, one copy
//! job per `copyTo` destination; Ready when every copy is complete.

use std::time::Duration;

use crate::api::{CopyState, DynamoBackupStatus};

/// What a reconcile does next for an AWSBackup snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// StartBackupJob (its idempotency token makes a repeat after a crash harmless).
    StartBackup,
    /// DescribeBackupJob: the recovery point is not complete yet.
    FollowBackup { job_id: String },
    /// StartCopyJob for these `copyTo` destinations (by index), then follow them.
    StartCopies { destinations: Vec<usize> },
    /// DescribeCopyJob for these copies (by index).
    FollowCopies { copies: Vec<usize> },
    /// A copy failed: the recovery point is kept, the object is Stalled with AWS Backup's message.
    CopyFailed { index: usize, message: String },
    /// The recovery point and every copy are complete.
    Done,
}

/// The step for `status` of a snapshot with `destinations` copy destinations; `completed` tells
/// whether the backup job's recovery point is complete.
pub fn next(status: &DynamoBackupStatus, destinations: usize, completed: bool) -> Step {
    let Some(job_id) = &status.backup_job_id else { return Step::StartBackup };
    if !completed {
        return Step::FollowBackup { job_id: job_id.clone() };
    }
    let copy = |i: usize| status.copies.get(i);
    // A copy AWS Backup refused to start is Failed without a job: not started again.
    let to_start: Vec<usize> =
        (0..destinations).filter(|&i| copy(i).is_none_or(|c| c.copy_job_id.is_none() && c.state != CopyState::Failed)).collect();
    if !to_start.is_empty() {
        return Step::StartCopies { destinations: to_start };
    }
    if let Some((index, failed)) = status.copies.iter().enumerate().take(destinations).find(|(_, c)| c.state == CopyState::Failed) {
        let message = failed.message.clone().unwrap_or_else(|| "AWS Backup gave no reason".into());
        return Step::CopyFailed { index, message };
    }
    let running: Vec<usize> = (0..destinations).filter(|&i| copy(i).is_some_and(|c| c.state != CopyState::Completed)).collect();
    if !running.is_empty() {
        return Step::FollowCopies { copies: running };
    }
    Step::Done
}

/// How long to wait before asking about a running job again: a quarter of its age so far,
/// between 5 s and 5 min (small tables finish in minutes, large ones and copies in hours).
pub fn job_poll(elapsed: Duration) -> Duration {
    (elapsed / 4).clamp(Duration::from_secs(5), Duration::from_secs(300))
}

/// How long a recovery point that a vault lock keeps is left before the deletion is tried again.
pub const LOCKED_RETRY: Duration = Duration::from_secs(3600);

/// Whether AWS Backup's refusal to delete a recovery point is a vault lock (or a retention rule
/// like it): the error code and message as AWS Backup words them.
pub fn is_retention_lock(code: Option<&str>, message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    matches!(code, Some("InvalidRequestException" | "AccessDeniedException" | "InvalidResourceStateException"))
        && (message.contains("lock") || message.contains("retention"))
}

/// The idempotency token of a snapshot's backup job: its object's uid.
pub fn backup_token(uid: &str) -> String {
    format!("{uid}-backup")
}

/// The idempotency token of a snapshot's copy to destination `index` (copyTo is immutable).
pub fn copy_token(uid: &str, index: usize) -> String {
    format!("{uid}-copy-{index}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::CopyStatus;

    fn copy(state: CopyState, job: Option<&str>) -> CopyStatus {
        CopyStatus {
            destination_backup_vault_arn: "arn:aws:backup:eu-central-1:123456789012:backup-vault:dr".into(),
            region: "eu-central-1".into(),
            copy_job_id: job.map(str::to_owned),
            recovery_point_arn: None,
            state,
            message: None,
        }
    }

    #[test]
    fn the_backup_job_comes_first_and_is_followed_until_complete() {
        let mut status = DynamoBackupStatus::default();
        assert_eq!(next(&status, 2, false), Step::StartBackup);
        status.backup_job_id = Some("job-1".into());
        assert_eq!(next(&status, 2, false), Step::FollowBackup { job_id: "job-1".into() });
    }

    #[test]
    fn copies_start_once_the_recovery_point_is_complete_and_are_followed() {
        let mut status = DynamoBackupStatus { backup_job_id: Some("job-1".into()), ..Default::default() };
        assert_eq!(next(&status, 0, true), Step::Done, "no copies: done with the recovery point");
        assert_eq!(next(&status, 2, true), Step::StartCopies { destinations: vec![0, 1] });
        status.copies = vec![copy(CopyState::Running, Some("c-0")), copy(CopyState::Pending, None)];
        assert_eq!(next(&status, 2, true), Step::StartCopies { destinations: vec![1] }, "a copy not started after a crash");
        status.copies[1] = copy(CopyState::Running, Some("c-1"));
        assert_eq!(next(&status, 2, true), Step::FollowCopies { copies: vec![0, 1] });
        status.copies[0].state = CopyState::Completed;
        assert_eq!(next(&status, 2, true), Step::FollowCopies { copies: vec![1] });
        status.copies[1].state = CopyState::Completed;
        assert_eq!(next(&status, 2, true), Step::Done);
    }

    #[test]
    fn a_failed_copy_stops_with_its_message() {
        let mut failed = copy(CopyState::Failed, Some("c-0"));
        failed.message = Some("the destination vault refused the copy".into());
        let status = DynamoBackupStatus { backup_job_id: Some("job-1".into()), copies: vec![failed], ..Default::default() };
        assert_eq!(next(&status, 1, true), Step::CopyFailed { index: 0, message: "the destination vault refused the copy".into() });
    }

    #[test]
    fn vault_locks_are_told_from_other_refusals() {
        assert!(is_retention_lock(Some("InvalidRequestException"), "Recovery point is protected by a Vault Lock"));
        assert!(!is_retention_lock(Some("InvalidRequestException"), "bad vault name"));
        assert!(!is_retention_lock(Some("ThrottlingException"), "lock"));
    }

    #[test]
    fn job_polls_back_off_within_bounds() {
        let s = Duration::from_secs;
        assert_eq!(job_poll(s(1)), s(5));
        assert_eq!(job_poll(s(100)), s(25));
        assert_eq!(job_poll(s(36_000)), s(300));
    }
}
