//! DynamoRestore: a NEW table from a backup or a point in time, never an overwrite.
//!
//! Pending (source resolved and checked) -> Restoring (table CREATING, or AWS Backup's job) ->
//! Finalizing (the after-restore steps and checks, each recorded once done) -> Completed; then
//! `ttlAfterFinished`, and the table's deletion with the object when `deletionPolicy: Delete`.
//! The next step is the plan's (`plan::restore::next`); the rooms here gather the facts and act:
//! `start` (the intent, then the restore call), `resolve` (the source), `job` (AWS Backup),
//! `finish` (to ACTIVE and Completed), `after` (the after-restore steps), `verify` (the checks).

mod after;
#[cfg(test)]
mod after_tests;
mod copyback;
#[cfg(test)]
mod copyback_tests;
mod finish;
mod job;
mod resolve;
mod start;
#[cfg(test)]
mod tests;
mod verify;

use std::{sync::Arc, time::Duration};

use jiff::Timestamp;
use kube::{ResourceExt, runtime::controller::Action};

use super::{
    common::{FINALIZER, StatusWriter, delete_once, publish, reported, set_finalizer},
    error::Error,
};
use crate::{
    api::{DeletionPolicy, DynamoRestore, DynamoRestoreStatus, RestorePhase},
    context::Context,
    plan::{
        conditions::Standing,
        copyback as copyback_plan,
        restore::{self, Looked, Step, Target, classify_target, expires_in},
        validate::{self, Invalid, RestoreRequest, Source},
    },
};

pub const KIND: &str = "DynamoRestore";

type Writer<'a> = StatusWriter<'a, DynamoRestore>;

pub async fn reconcile(obj: Arc<DynamoRestore>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = obj.namespace().ok_or(Error::MissingMetadata("namespace"))?;
    let mut w = StatusWriter::new(obj.as_ref(), &ctx);
    let now = w.now;
    match reconcile_with(&mut w, &namespace, now).await {
        Err(Error::Aws(err)) => Err(w.retrying(err).await),
        Ok(action) if obj.metadata.deletion_timestamp.is_none() => expire(&mut w, now).await.map(|a| a.unwrap_or(action)),
        other => other,
    }
}

async fn reconcile_with(w: &mut Writer<'_>, namespace: &str, now: Timestamp) -> Result<Action, Error> {
    let (obj, ctx) = (w.obj, w.ctx);
    let request = validate::restore(&obj.spec);
    if obj.metadata.deletion_timestamp.is_some() {
        return cleanup(w, request.ok()).await;
    }
    let request = match request {
        Ok(request) => request,
        Err(invalid) => return w.stalled(invalid.reason, invalid.message).await,
    };
    if let Err(denied) = check_tenancy(ctx, namespace, &request) {
        return w.stalled("AccessDenied", denied).await;
    }
    let scope = w.scope(request.region.clone());
    let region = ctx.region_label(scope.region.as_deref()).to_owned();
    // Copy-back is checked with the rest, before any AWS call: its keys, and the live table.
    if let Err(refused) = copy_back_check(ctx, namespace, &obj.spec, &request, &region) {
        return w.stalled(refused.reason, refused.message).await;
    }
    set_finalizer(ctx.cluster.as_ref(), obj, obj.spec.deletion_policy == DeletionPolicy::Delete).await?;
    w.status.source = Some(request.source.describe());
    let copy_back_due = copyback_plan::due(obj.spec.copy_back.as_ref(), w.status.copy_back.as_ref());
    let mut target = None;
    loop {
        let looked = match &target {
            None => Looked::NotYet,
            Some(None) => Looked::Absent,
            Some(Some(table)) => Looked::Found(table),
        };
        match restore::next(&w.status, obj.metadata.generation, &request.target, &region, looked, copy_back_due) {
            Step::Done { rewrite } => {
                // A later spec change (deletionPolicy, afterRestore) has nothing more to create.
                if rewrite {
                    w.write(&Standing::Ready { reason: "Restored".into(), message: finish::completed_message(&request) }).await?;
                }
                return Ok(Action::await_change());
            }
            Step::StartJob => return job::start(w, &request, &scope, now).await,
            Step::FollowJob { job_id } => return job::follow(w, &request, &scope, &job_id, now).await,
            Step::ReadTarget => target = Some(ctx.dynamo.describe_table(&scope, &request.target).await?),
            Step::Stall { reason, message } => return w.stalled(reason, message).await,
            Step::Start => return start::start(w, &request, &scope, now).await,
            Step::Follow => {
                let Some(Some(table)) = target else { return Ok(Action::requeue(Duration::from_secs(1))) };
                return finish::follow(w, &request, &scope, table, now).await;
            }
            Step::LookAgain => return Ok(Action::requeue(Duration::from_secs(1))),
        }
    }
}

/// `spec.copyBack` checked: its keys parsed, and `into` inside the namespace's tenancy.
fn copy_back_check(
    ctx: &Context,
    namespace: &str,
    spec: &crate::api::DynamoRestoreSpec,
    request: &RestoreRequest,
    region: &str,
) -> Result<(), Invalid> {
    copyback_plan::check(spec, request, region)?;
    if let Some(into) = spec.copy_back.as_ref().and_then(|c| c.into.as_deref())
        && let Err(denied) = ctx.tenancy.check(namespace, into, request.region.as_deref())
    {
        return Err(Invalid { reason: copyback_plan::REFUSED, message: format!("spec.copyBack.into: {}", denied.0) });
    }
    Ok(())
}

fn check_tenancy(ctx: &Context, namespace: &str, request: &RestoreRequest) -> Result<(), String> {
    ctx.tenancy.check(namespace, &request.target, request.region.as_deref()).map_err(|d| d.0)?;
    match &request.source {
        Source::BackupArn { region, table, .. } => ctx.tenancy.check(namespace, table, Some(region)).map(|_| ()).map_err(|d| d.0),
        Source::PointInTime { table, .. } => {
            ctx.tenancy.check(namespace, &table.name, table.region_or(request.region.as_deref())).map(|_| ()).map_err(|d| d.0)
        }
        // A DynamoBackup of the namespace was itself checked when it was made; a recovery
        // point's table is not named by its ARN: the target is what the tenancy rules bound.
        Source::BackupRef(_) | Source::RecoveryPoint { .. } => Ok(()),
    }
}

/// `ttlAfterFinished`: a finished restore deletes itself once that long has passed, its
/// finalizer dropping the table when `deletionPolicy: Delete`; before then, it is looked at
/// again when it is due.
async fn expire(w: &mut Writer<'_>, now: Timestamp) -> Result<Option<Action>, Error> {
    let Some(ttl) = w.obj.spec.ttl_after_finished.as_deref().and_then(|t| humantime::parse_duration(t).ok()) else {
        return Ok(None);
    };
    let due = copyback_plan::due(w.obj.spec.copy_back.as_ref(), w.status.copy_back.as_ref());
    let Some(finished_at) = restore::finished_at(&w.status, due) else { return Ok(None) };
    if let Some(wait) = expires_in(finished_at, ttl, now) {
        return Ok(Some(Action::requeue(wait)));
    }
    let (name, namespace) = (w.obj.name_any(), w.obj.namespace().unwrap_or_default());
    if !delete_once::<DynamoRestore>(w.ctx.cluster.as_ref(), &namespace, &name).await? {
        return Ok(Some(Action::await_change()));
    }
    let ttl_text = w.obj.spec.ttl_after_finished.clone().unwrap_or_default();
    publish(&w.ctx.recorder, w.obj, false, "Expired", "Delete", format!("finished {ttl_text} ago (ttlAfterFinished): deleted")).await;
    Ok(Some(Action::await_change()))
}

/// The object is being deleted: with `deletionPolicy: Delete`, drop the table this restore
/// created, and no other.
async fn cleanup(w: &mut Writer<'_>, request: Option<RestoreRequest>) -> Result<Action, Error> {
    if !w.obj.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(Action::await_change());
    }
    if w.obj.spec.deletion_policy == DeletionPolicy::Delete
        && let Some(request) = request
    {
        let scope = w.scope(request.region.clone());
        let table = w.ctx.dynamo.describe_table(&scope, &request.target).await?;
        let source_arn = w.status.source_backup_arn.clone().or_else(|| w.status.source_table_arn.clone());
        let started_at = w.status.started_at.as_ref().map(|t| t.0);
        if classify_target(table.as_ref(), w.status.target_table_id.as_deref(), started_at, source_arn.as_deref()) == Target::Ours {
            w.ctx.dynamo.delete_table(&scope, &request.target).await?;
            let note = format!("deleted table {}, which this restore created", request.target);
            publish(&w.ctx.recorder, w.obj, false, "TableDeleted", "DeleteTable", note).await;
        }
    }
    set_finalizer(w.ctx.cluster.as_ref(), w.obj, false).await?;
    Ok(Action::await_change())
}

reported!(DynamoRestore, DynamoRestoreStatus, |status| {
    if status.phase != Some(RestorePhase::Completed) {
        status.phase = Some(RestorePhase::Failed);
    }
});
