//! The AWS Backup port on the AWS SDK (aws-sdk-backup): requests built from the port's plain
//! data, answers read back into it; every call goes through the seam's paced, counted `Caller`.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_backup::{
    Client,
    config::http::HttpResponse,
    error::{ProvideErrorMetadata, SdkError},
    primitives::DateTime,
    types::Lifecycle as SdkLifecycle,
};
use jiff::Timestamp;

use super::port::{AwsBackupPort, BackupJobRequest, CopyJobRequest, Job, JobState, Lifecycle, RestoreJobRequest};
use crate::api::facts::Scope;
use crate::aws::{AwsError, AwsResult, CallObserver, Caller, Lane, Pacer, RegionalClients, Service};

pub struct AwsBackup {
    clients: RegionalClients<Client>,
    caller: Caller,
}

impl AwsBackup {
    pub fn new(clients: RegionalClients<Client>, pacer: Pacer, observer: Arc<dyn CallObserver>) -> Self {
        let caller = Caller::new(Service::AwsBackup, pacer, observer, clients.default_region());
        Self { clients, caller }
    }

    /// Every AWS Backup call is in the `Now` lane: a backup, copy or restore someone waits for.
    async fn call<T, E, Fut>(&self, scope: &Scope, operation: &'static str, request: Fut) -> AwsResult<T>
    where
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        self.caller.call(scope, operation, Lane::Now, request).await
    }
}

fn lifecycle(l: &Option<Lifecycle>) -> Option<SdkLifecycle> {
    l.as_ref().map(|l| {
        SdkLifecycle::builder().set_move_to_cold_storage_after_days(l.cold_after_days).set_delete_after_days(l.delete_after_days).build()
    })
}

fn ts(dt: Option<&DateTime>) -> Option<Timestamp> {
    let dt = dt?;
    Timestamp::new(dt.secs(), i32::try_from(dt.subsec_nanos()).ok()?).ok()
}

fn missing(operation: &'static str, what: &str) -> AwsError {
    AwsError::new(Service::AwsBackup, operation, Some("InvalidResponse".into()), format!("the answer carries no {what}"), Some(400))
}

#[async_trait]
impl AwsBackupPort for AwsBackup {
    async fn start_backup_job(&self, scope: &Scope, r: &BackupJobRequest) -> AwsResult<(String, Option<String>)> {
        let client = self.clients.for_scope(scope).await;
        let req = client
            .start_backup_job()
            .backup_vault_name(&r.vault)
            .resource_arn(&r.resource_arn)
            .iam_role_arn(&r.role_arn)
            .idempotency_token(&r.idempotency_token)
            .set_lifecycle(lifecycle(&r.lifecycle))
            .send();
        let out = self.call(scope, "StartBackupJob", req).await?;
        let id = out.backup_job_id().ok_or_else(|| missing("StartBackupJob", "BackupJobId"))?;
        Ok((id.to_owned(), out.recovery_point_arn().map(str::to_owned)))
    }

    async fn describe_backup_job(&self, scope: &Scope, job_id: &str) -> AwsResult<Job> {
        let client = self.clients.for_scope(scope).await;
        let out = self.call(scope, "DescribeBackupJob", client.describe_backup_job().backup_job_id(job_id).send()).await?;
        let state = out.state().map(|s| s.as_str().to_owned()).unwrap_or_else(|| "CREATED".into());
        Ok(Job {
            id: job_id.to_owned(),
            state: JobState::from_aws(&state),
            state_name: state,
            made_arn: out.recovery_point_arn().map(str::to_owned),
            message: out.status_message().map(str::to_owned),
            size_bytes: out.backup_size_in_bytes(),
            created_at: ts(out.creation_date()),
            completed_at: ts(out.completion_date()),
        })
    }

    async fn start_copy_job(&self, scope: &Scope, r: &CopyJobRequest) -> AwsResult<String> {
        let client = self.clients.for_scope(scope).await;
        let req = client
            .start_copy_job()
            .recovery_point_arn(&r.recovery_point_arn)
            .source_backup_vault_name(&r.source_vault)
            .destination_backup_vault_arn(&r.destination_vault_arn)
            .iam_role_arn(&r.role_arn)
            .idempotency_token(&r.idempotency_token)
            .set_lifecycle(lifecycle(&r.lifecycle))
            .send();
        let out = self.call(scope, "StartCopyJob", req).await?;
        out.copy_job_id().map(str::to_owned).ok_or_else(|| missing("StartCopyJob", "CopyJobId"))
    }

    async fn describe_copy_job(&self, scope: &Scope, job_id: &str) -> AwsResult<Job> {
        let client = self.clients.for_scope(scope).await;
        let out = self.call(scope, "DescribeCopyJob", client.describe_copy_job().copy_job_id(job_id).send()).await?;
        let job = out.copy_job().ok_or_else(|| missing("DescribeCopyJob", "CopyJob"))?;
        let state = job.state().map(|s| s.as_str().to_owned()).unwrap_or_else(|| "CREATED".into());
        Ok(Job {
            id: job_id.to_owned(),
            state: JobState::from_aws(&state),
            state_name: state,
            made_arn: job.destination_recovery_point_arn().map(str::to_owned),
            message: job.status_message().map(str::to_owned),
            size_bytes: job.backup_size_in_bytes(),
            created_at: ts(job.creation_date()),
            completed_at: ts(job.completion_date()),
        })
    }

    async fn delete_recovery_point(&self, scope: &Scope, vault: &str, recovery_point_arn: &str) -> AwsResult<()> {
        let client = self.clients.for_scope(scope).await;
        let req = client.delete_recovery_point().backup_vault_name(vault).recovery_point_arn(recovery_point_arn).send();
        match self.call(scope, "DeleteRecoveryPoint", req).await {
            Ok(_) => Ok(()),
            Err(err) if err.is_code("ResourceNotFoundException") => Ok(()),
            Err(err) => Err(err),
        }
    }

    async fn start_restore_job(&self, scope: &Scope, r: &RestoreJobRequest) -> AwsResult<String> {
        let client = self.clients.for_scope(scope).await;
        let req = client
            .start_restore_job()
            .recovery_point_arn(&r.recovery_point_arn)
            .iam_role_arn(&r.role_arn)
            .idempotency_token(&r.idempotency_token)
            .resource_type("DynamoDB")
            .metadata("targetTableName", &r.target_table)
            .send();
        let out = self.call(scope, "StartRestoreJob", req).await?;
        out.restore_job_id().map(str::to_owned).ok_or_else(|| missing("StartRestoreJob", "RestoreJobId"))
    }

    async fn describe_restore_job(&self, scope: &Scope, job_id: &str) -> AwsResult<Job> {
        let client = self.clients.for_scope(scope).await;
        let out = self.call(scope, "DescribeRestoreJob", client.describe_restore_job().restore_job_id(job_id).send()).await?;
        let state = out.status().map(|s| s.as_str().to_owned()).unwrap_or_else(|| "PENDING".into());
        Ok(Job {
            id: job_id.to_owned(),
            state: JobState::from_aws(&state),
            state_name: state,
            made_arn: out.created_resource_arn().map(str::to_owned),
            message: out.status_message().map(str::to_owned),
            size_bytes: out.backup_size_in_bytes(),
            created_at: ts(out.creation_date()),
            completed_at: ts(out.completion_date()),
        })
    }
}
