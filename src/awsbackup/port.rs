//! The AWS Backup port: the calls the controllers make for recovery points (backup, copy and
//! restore jobs), and nothing else, in plain data. `AwsBackup` implements it with the SDK; the
//! state-machine tests implement it in memory.

use async_trait::async_trait;
use jiff::Timestamp;

use crate::{api::facts::Scope, aws::AwsResult};

/// How far a job of AWS Backup has come (backup, copy and restore jobs alike).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobState {
    /// Created, pending or running.
    Running,
    Completed,
    /// Failed, aborted, expired or partial: AWS Backup gave up; its message says why.
    Failed,
}

impl JobState {
    /// AWS Backup's state names (BackupJobState, CopyJobState, RestoreJobStatus).
    pub fn from_aws(state: &str) -> Self {
        match state {
            "COMPLETED" => JobState::Completed,
            "FAILED" | "ABORTED" | "ABORTING" | "EXPIRED" | "PARTIAL" => JobState::Failed,
            _ => JobState::Running,
        }
    }
}

/// A recovery point's lifecycle, in days.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lifecycle {
    pub cold_after_days: Option<i64>,
    pub delete_after_days: Option<i64>,
}

/// What StartBackupJob needs.
#[derive(Clone, Debug)]
pub struct BackupJobRequest {
    pub vault: String,
    pub resource_arn: String,
    pub role_arn: String,
    pub lifecycle: Option<Lifecycle>,
    /// Derived from the object: a retry never starts a second job.
    pub idempotency_token: String,
}

/// What StartCopyJob needs.
#[derive(Clone, Debug)]
pub struct CopyJobRequest {
    pub recovery_point_arn: String,
    pub source_vault: String,
    pub destination_vault_arn: String,
    pub role_arn: String,
    pub lifecycle: Option<Lifecycle>,
    pub idempotency_token: String,
}

/// What StartRestoreJob needs for a DynamoDB recovery point.
#[derive(Clone, Debug)]
pub struct RestoreJobRequest {
    pub recovery_point_arn: String,
    pub role_arn: String,
    pub target_table: String,
    pub idempotency_token: String,
}

/// A job as AWS Backup describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    pub id: String,
    pub state: JobState,
    /// AWS Backup's own name of the state (RUNNING, COMPLETED, ...).
    pub state_name: String,
    /// The recovery point a backup or copy job makes; a restore job's new resource.
    pub made_arn: Option<String>,
    pub message: Option<String>,
    pub size_bytes: Option<i64>,
    pub created_at: Option<Timestamp>,
    pub completed_at: Option<Timestamp>,
}

/// The calls the controllers make to AWS Backup, and nothing else.
#[async_trait]
pub trait AwsBackupPort: Send + Sync {
    /// Starts (or, with the same token, finds) a backup job; its id and the recovery point ARN
    /// when AWS Backup names it at once.
    async fn start_backup_job(&self, scope: &Scope, request: &BackupJobRequest) -> AwsResult<(String, Option<String>)>;

    async fn describe_backup_job(&self, scope: &Scope, job_id: &str) -> AwsResult<Job>;

    /// Starts (or, with the same token, finds) a copy job in the source region.
    async fn start_copy_job(&self, scope: &Scope, request: &CopyJobRequest) -> AwsResult<String>;

    async fn describe_copy_job(&self, scope: &Scope, job_id: &str) -> AwsResult<Job>;

    /// Deletes a recovery point; one already gone counts as deleted.
    async fn delete_recovery_point(&self, scope: &Scope, vault: &str, recovery_point_arn: &str) -> AwsResult<()>;

    /// Starts (or, with the same token, finds) a restore job in the recovery point's region.
    async fn start_restore_job(&self, scope: &Scope, request: &RestoreJobRequest) -> AwsResult<String>;

    async fn describe_restore_job(&self, scope: &Scope, job_id: &str) -> AwsResult<Job>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_states_fold_into_three() {
        assert_eq!(JobState::from_aws("CREATED"), JobState::Running);
        assert_eq!(JobState::from_aws("PENDING"), JobState::Running);
        assert_eq!(JobState::from_aws("COMPLETED"), JobState::Completed);
        assert_eq!(JobState::from_aws("ABORTED"), JobState::Failed);
        assert_eq!(JobState::from_aws("PARTIAL"), JobState::Failed);
    }
}
