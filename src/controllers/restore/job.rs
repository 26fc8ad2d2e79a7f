//! A restore by AWS Backup: StartRestoreJob of the recorded recovery point (its idempotency
//! token is the object's uid, so a second call after a crash finds the same job), then the job
//! is followed until it made the table, which is then followed like any restored table.

use jiff::Timestamp;
use kube::{ResourceExt, runtime::controller::Action};

use super::finish;
use crate::{
    api::{DynamoRestore, RestorePhase, facts::Scope},
    aws::ErrorClass,
    awsbackup::{JobState, RestoreJobRequest},
    controllers::{
        Error,
        common::{StatusWriter, publish},
    },
    plan::{awsbackup::job_poll, conditions::Standing, reasons, validate::RestoreRequest},
};

type Writer<'a> = StatusWriter<'a, DynamoRestore>;

/// Starts (or, after a crash, finds) the restore job of the recorded recovery point.
pub async fn start(w: &mut Writer<'_>, request: &RestoreRequest, scope: &Scope, now: Timestamp) -> Result<Action, Error> {
    let recovery_point = w.status.recovery_point_arn.clone().unwrap_or_default();
    let Some(role) = w.obj.spec.aws_backup.as_ref().map(|a| a.iam_role_arn.clone()) else {
        return w.stalled("AWSBackupSettingsMissing", crate::plan::validate::ROLE_REQUIRED.to_owned()).await;
    };
    let job = RestoreJobRequest {
        recovery_point_arn: recovery_point.clone(),
        role_arn: role,
        target_table: request.target.clone(),
        idempotency_token: format!("{}-restore", w.obj.uid().unwrap_or_default()),
    };
    w.save().await?;
    let job_id = match w.ctx.aws_backup.start_restore_job(scope, &job).await {
        Ok(id) => id,
        Err(err) if err.class == ErrorClass::Terminal => {
            let reason = reasons::aws_backup("StartRestoreJob", err.code.as_deref());
            return w.stalled(reason, format!("AWS Backup refused the restore of {recovery_point}: {err}")).await;
        }
        Err(err) => return Err(err.into()),
    };
    w.status.restore_job_id = Some(job_id.clone());
    w.save().await?;
    let note = format!("AWS Backup restore job {job_id}: {recovery_point} into table {}", request.target);
    publish(&w.ctx.recorder, w.obj, false, "RestoreStarted", "StartRestoreJob", note).await;
    follow(w, request, scope, &job_id, now).await
}

/// Once the job completed, the table it made is ours, and followed.
pub async fn follow(w: &mut Writer<'_>, request: &RestoreRequest, scope: &Scope, job_id: &str, now: Timestamp) -> Result<Action, Error> {
    let job = w.ctx.aws_backup.describe_restore_job(scope, job_id).await?;
    match job.state {
        JobState::Running => {
            w.status.phase = Some(RestorePhase::Restoring);
            let message = format!("AWS Backup restore job {job_id} is {} (into table {})", job.state_name, request.target);
            w.write(&Standing::Reconciling { reason: "RestoreJobRunning".into(), message }).await?;
            let elapsed = w.status.started_at.as_ref().map(|t| now.duration_since(t.0).unsigned_abs()).unwrap_or_default();
            Ok(Action::requeue(job_poll(elapsed)))
        }
        JobState::Failed => {
            let message = job.message.unwrap_or_else(|| "AWS Backup gave no reason".into());
            w.stalled("RestoreJobFailed", format!("AWS Backup restore job {job_id} ended {}: {message}", job.state_name)).await
        }
        JobState::Completed => match w.ctx.dynamo.describe_table(scope, &request.target).await? {
            Some(table) => {
                // The job made it: this table is ours.
                w.status.target_table_id = table.id.clone();
                w.status.target_table_arn = table.arn.clone().or(job.made_arn);
                finish::follow(w, request, scope, table, now).await
            }
            None => {
                let message = format!("AWS Backup restore job {job_id} completed, but table {:?} does not exist", request.target);
                w.stalled("TargetTableGone", message).await
            }
        },
    }
}
