//! DynamoBackups kept by AWS Backup (`method: AWSBackup`): a backup job into the vault, then a
//! copy job per `copyTo` destination, each followed until complete; deletion of the source
//! recovery point (copies stay, by their lifecycle). Every job starts with an idempotency token
//! derived from the object's uid, so a retry after a crash finds the job instead of starting a
//! second one; the next step is `plan::awsbackup::next` of what status records.

use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{ResourceExt, runtime::controller::Action};

use super::keeper::{Keeper, Writer};
use crate::api::facts::Scope;
use crate::aws::ErrorClass;
use crate::controllers::{common::publish, error::Error};
use crate::plan::arns::vault_of;
use crate::{
    api::{AwsBackupSpec, BackupLifecycle, BackupMethod, BackupPhase, CopyState, CopyStatus},
    awsbackup::{BackupJobRequest, CopyJobRequest, JobState, Lifecycle},
    plan::{
        awsbackup::{self as plan, Step},
        conditions::Standing,
        reasons,
        validate::BackupTarget,
    },
};

/// AWS Backup's recovery points.
pub(super) struct Vault;

/// The state name AWS Backup gives a finished job.
const COMPLETED: &str = "COMPLETED";

fn lifecycle(l: &Option<BackupLifecycle>) -> Option<Lifecycle> {
    l.as_ref().map(|l| Lifecycle { cold_after_days: l.move_to_cold_storage_after_days, delete_after_days: l.delete_after_days })
}

fn settings<'a>(r: &'a Writer<'_>) -> Result<&'a AwsBackupSpec, Error> {
    r.obj.spec.aws_backup.as_ref().ok_or(Error::MissingMetadata("spec.awsBackup"))
}

/// The ARN of the table in `scope`'s region (a name is completed with the account AWS Backup
/// needs in a resource ARN: the table's own ARN, as DescribeTable gives it).
async fn table_arn(r: &Writer<'_>, scope: &Scope, target: &BackupTarget) -> Result<Option<String>, Error> {
    if let Some(arn) = &r.status.table_arn {
        return Ok(Some(arn.clone()));
    }
    Ok(r.ctx.dynamo.describe_table(scope, &target.table.name).await?.and_then(|t| t.arn))
}

#[async_trait]
impl Keeper for Vault {
    /// Takes the plan's steps (`plan::awsbackup::next`) until one waits or reports.
    async fn advance(&self, r: &mut Writer<'_>, scope: &Scope, target: &BackupTarget) -> Result<Action, Error> {
        let spec = settings(r)?.clone();
        let uid = r.obj.uid().unwrap_or_default();
        r.status.method = Some(BackupMethod::AWSBackup);
        loop {
            let completed = r.status.backup_status.as_deref() == Some(COMPLETED);
            let answer = match plan::next(&r.status, spec.copy_to.len(), completed) {
                Step::StartBackup => start_backup(r, scope, target, &spec, &uid).await?,
                Step::FollowBackup { job_id } => follow_backup(r, scope, &job_id).await?,
                Step::StartCopies { destinations } => start_copies(r, scope, &spec, &uid, destinations).await?,
                Step::FollowCopies { copies } => follow_copies(r, scope, copies).await?,
                Step::CopyFailed { index, message } => Some(copy_failed(r, &spec, index, message).await?),
                Step::Done => Some(done(r).await?),
            };
            if let Some(action) = answer {
                return Ok(action);
            }
        }
    }

    async fn delete(&self, r: &mut Writer<'_>, scope: &Scope, _target: Option<&BackupTarget>) -> Result<Option<Action>, Error> {
        let spec = settings(r)?.clone();
        // An intent without a job: StartBackupJob may have reached AWS Backup before a crash.
        // The same token answers with that job if it did (a new one if it did not, deleted as
        // soon as it completes): nothing the operator asked for is left behind.
        if r.status.backup_job_id.is_none()
            && r.status.requested_at.is_some()
            && let Some(resource_arn) = r.status.table_arn.clone()
        {
            let request = backup_request(&spec, resource_arn, &r.obj.uid().unwrap_or_default());
            match r.ctx.aws_backup.start_backup_job(scope, &request).await {
                Ok((job_id, recovery_point)) => {
                    r.status.backup_job_id = Some(job_id);
                    r.status.recovery_point_arn = recovery_point.or(r.status.recovery_point_arn.take());
                    r.save().await?;
                }
                // Refused outright: no job was made by this token, then or now.
                Err(err) if err.class == ErrorClass::Terminal => return Ok(None),
                Err(err) => return Err(err.into()),
            }
        }
        // A job still running has no recovery point to delete yet.
        if let Some(job_id) = r.status.backup_job_id.clone()
            && r.status.backup_status.as_deref() != Some(COMPLETED)
        {
            let job = r.ctx.aws_backup.describe_backup_job(scope, &job_id).await?;
            r.status.backup_status = Some(job.state_name.clone());
            r.status.recovery_point_arn = job.made_arn.or(r.status.recovery_point_arn.take());
            if job.state == JobState::Running {
                return Ok(Some(Action::requeue(Duration::from_secs(10))));
            }
        }
        let Some(recovery_point) = r.status.recovery_point_arn.clone() else { return Ok(None) };
        if r.status.phase != Some(BackupPhase::Deleting) {
            r.status.phase = Some(BackupPhase::Deleting);
            r.write(&Standing::Reconciling { reason: "Deleting".into(), message: format!("deleting recovery point {recovery_point}") })
                .await?;
        }
        match r.ctx.aws_backup.delete_recovery_point(scope, &spec.backup_vault_name, &recovery_point).await {
            Ok(()) => {
                let kept = if r.status.copies.is_empty() { String::new() } else { "; its copies stay, by their lifecycle".into() };
                let message = format!("deleted recovery point {recovery_point}{kept}");
                publish(&r.ctx.recorder, r.obj, false, "BackupDeleted", "DeleteRecoveryPoint", message).await;
                Ok(None)
            }
            Err(err) if plan::is_retention_lock(err.code.as_deref(), &err.message) => {
                let message = format!(
                    "vault {} keeps recovery point {recovery_point} ({}); the object stays until AWS Backup allows the deletion, tried again every {} min",
                    spec.backup_vault_name,
                    err.message,
                    plan::LOCKED_RETRY.as_secs() / 60
                );
                r.write(&Standing::Reconciling { reason: "RetentionLocked".into(), message: message.clone() }).await?;
                publish(&r.ctx.recorder, r.obj, true, "RetentionLocked", "DeleteRecoveryPoint", message).await;
                Ok(Some(Action::requeue(plan::LOCKED_RETRY)))
            }
            Err(err) => Err(err.into()),
        }
    }
}

/// StartBackupJob of the table, its intent recorded first. None: go on with the next step.
async fn start_backup(
    r: &mut Writer<'_>,
    scope: &Scope,
    target: &BackupTarget,
    spec: &AwsBackupSpec,
    uid: &str,
) -> Result<Option<Action>, Error> {
    let Some(resource_arn) = table_arn(r, scope, target).await? else {
        let region = r.ctx.region_label(scope.region.as_deref());
        return r
            .stalled(
                "TableNotFound",
                format!("table {:?} does not exist in {region}; check spec.tableName and spec.region", target.table.name),
            )
            .await
            .map(Some);
    };
    let request = backup_request(spec, resource_arn.clone(), uid);
    // The intent first: a deletion after a crash in the call below asks again
    // with the same token, and so finds the job if the call reached AWS Backup.
    r.status.table_arn = Some(resource_arn);
    r.status.requested_at = r.status.requested_at.take().or(Some(Time(r.now)));
    r.save().await?;
    let (job_id, recovery_point) = match r.ctx.aws_backup.start_backup_job(scope, &request).await {
        Ok(started) => started,
        Err(err) if err.class == ErrorClass::Terminal => {
            let reason = reasons::aws_backup("StartBackupJob", err.code.as_deref());
            return r
                .stalled(reason, format!("AWS Backup refused the backup job into vault {}: {err}", spec.backup_vault_name))
                .await
                .map(Some);
        }
        Err(err) => return Err(err.into()),
    };
    r.status.backup_job_id = Some(job_id.clone());
    r.status.recovery_point_arn = recovery_point.or(r.status.recovery_point_arn.take());
    r.status.backup_status = Some("CREATED".into());
    r.status.phase = Some(BackupPhase::Creating);
    r.save().await?;
    publish(
        &r.ctx.recorder,
        r.obj,
        false,
        "BackupRequested",
        "StartBackupJob",
        format!("AWS Backup job {job_id} of table {} into vault {}", target.table.name, spec.backup_vault_name),
    )
    .await;
    Ok(None)
}

/// DescribeBackupJob: its recovery point complete, failed, or still running.
async fn follow_backup(r: &mut Writer<'_>, scope: &Scope, job_id: &str) -> Result<Option<Action>, Error> {
    let job = r.ctx.aws_backup.describe_backup_job(scope, job_id).await?;
    r.status.backup_status = Some(job.state_name.clone());
    r.status.recovery_point_arn = job.made_arn.clone().or(r.status.recovery_point_arn.take());
    r.status.size_bytes = job.size_bytes.or(r.status.size_bytes);
    r.status.created_at = job.created_at.map(Time).or(r.status.created_at.take());
    match job.state {
        JobState::Completed => {}
        JobState::Failed => {
            let message = job.message.unwrap_or_else(|| "AWS Backup gave no reason".into());
            return r.stalled("BackupJobFailed", format!("AWS Backup job {job_id} ended {}: {message}", job.state_name)).await.map(Some);
        }
        JobState::Running => {
            r.status.phase = Some(BackupPhase::Creating);
            let message = format!("AWS Backup job {job_id} is {}", job.state_name);
            r.write(&Standing::Reconciling { reason: "BackupJobRunning".into(), message }).await?;
            return Ok(Some(Action::requeue(plan::job_poll(elapsed(r)))));
        }
    }
    Ok(None)
}

/// StartCopyJob per destination not started yet; a refusal marks that copy Failed.
async fn start_copies(
    r: &mut Writer<'_>,
    scope: &Scope,
    spec: &AwsBackupSpec,
    uid: &str,
    destinations: Vec<usize>,
) -> Result<Option<Action>, Error> {
    let recovery_point = r.status.recovery_point_arn.clone().unwrap_or_default();
    align_copies(&mut r.status.copies, spec);
    for i in destinations {
        let destination = &spec.copy_to[i];
        let request = CopyJobRequest {
            recovery_point_arn: recovery_point.clone(),
            source_vault: spec.backup_vault_name.clone(),
            destination_vault_arn: destination.destination_backup_vault_arn.clone(),
            role_arn: spec.iam_role_arn.clone(),
            lifecycle: lifecycle(&destination.lifecycle),
            idempotency_token: plan::copy_token(uid, i),
        };
        match r.ctx.aws_backup.start_copy_job(scope, &request).await {
            Ok(job_id) => {
                r.status.copies[i].copy_job_id = Some(job_id);
                r.status.copies[i].state = CopyState::Running;
            }
            Err(err) if err.class == ErrorClass::Terminal => {
                r.status.copies[i].state = CopyState::Failed;
                r.status.copies[i].message = Some(err.to_string());
            }
            Err(err) => {
                r.save().await?;
                return Err(err.into());
            }
        }
    }
    r.save().await?;
    Ok(None)
}

/// DescribeCopyJob of each running copy.
async fn follow_copies(r: &mut Writer<'_>, scope: &Scope, copies: Vec<usize>) -> Result<Option<Action>, Error> {
    let mut running = Vec::new();
    for i in copies {
        let Some(job_id) = r.status.copies[i].copy_job_id.clone() else { continue };
        let job = r.ctx.aws_backup.describe_copy_job(scope, &job_id).await?;
        let copy = &mut r.status.copies[i];
        copy.recovery_point_arn = job.made_arn.or(copy.recovery_point_arn.take());
        copy.message = job.message;
        copy.state = match job.state {
            JobState::Completed => CopyState::Completed,
            JobState::Failed => CopyState::Failed,
            JobState::Running => {
                running.push(copy.region.clone());
                CopyState::Running
            }
        };
    }
    if !running.is_empty() && !r.status.copies.iter().any(|c| c.state == CopyState::Failed) {
        r.status.phase = Some(BackupPhase::Creating);
        let message = format!("the recovery point is complete; copying to {}", running.join(", "));
        r.write(&Standing::Reconciling { reason: "CopyInProgress".into(), message }).await?;
        return Ok(Some(Action::requeue(plan::job_poll(elapsed(r)))));
    }
    Ok(None)
}

/// A copy failed: the source recovery point is kept, the object stalls.
async fn copy_failed(r: &mut Writer<'_>, spec: &AwsBackupSpec, index: usize, message: String) -> Result<Action, Error> {
    let vault = spec.copy_to.get(index).map(|c| c.destination_backup_vault_arn.clone()).unwrap_or_default();
    let recovery_point = r.status.recovery_point_arn.clone().unwrap_or_default();
    return r
        .stalled("CopyFailed", format!("the copy to {vault} failed: {message}; the source recovery point {recovery_point} is kept"))
        .await;
}

/// The recovery point and every copy complete: Available.
async fn done(r: &mut Writer<'_>) -> Result<Action, Error> {
    let previous = r.status.phase;
    r.status.phase = Some(BackupPhase::Available);
    let recovery_point = r.status.recovery_point_arn.clone().unwrap_or_default();
    let copies = match r.status.copies.len() {
        0 => String::new(),
        1 => ", 1 copy".into(),
        n => format!(", {n} copies"),
    };
    let message = format!("recovery point {recovery_point} is complete{copies}");
    r.write(&Standing::Ready { reason: "Available".into(), message: message.clone() }).await?;
    if previous != Some(BackupPhase::Available) {
        publish(&r.ctx.recorder, r.obj, false, "BackupAvailable", "StartBackupJob", message).await;
    }
    Ok(Action::await_change())
}

/// StartBackupJob of `resource_arn` as `spec` says, with the object's token.
fn backup_request(spec: &AwsBackupSpec, resource_arn: String, uid: &str) -> BackupJobRequest {
    BackupJobRequest {
        vault: spec.backup_vault_name.clone(),
        resource_arn,
        role_arn: spec.iam_role_arn.clone(),
        lifecycle: lifecycle(&spec.lifecycle),
        idempotency_token: plan::backup_token(uid),
    }
}

/// One status line per copy destination, in the spec's order (copyTo is immutable).
fn align_copies(copies: &mut Vec<CopyStatus>, spec: &AwsBackupSpec) {
    for (i, destination) in spec.copy_to.iter().enumerate() {
        if copies.get(i).is_none_or(|c| c.destination_backup_vault_arn != destination.destination_backup_vault_arn) {
            let line = CopyStatus {
                destination_backup_vault_arn: destination.destination_backup_vault_arn.clone(),
                region: vault_of(&destination.destination_backup_vault_arn).map(|(region, _)| region).unwrap_or_default(),
                copy_job_id: None,
                recovery_point_arn: None,
                state: CopyState::Pending,
                message: None,
            };
            if i < copies.len() {
                copies[i] = line;
            } else {
                copies.push(line);
            }
        }
    }
    copies.truncate(spec.copy_to.len());
}

/// How long the snapshot has been under way (since the job was asked for).
fn elapsed(r: &Writer<'_>) -> Duration {
    r.status.requested_at.as_ref().map(|t| r.now.duration_since(t.0).unsigned_abs()).unwrap_or_default()
}
