//! A table of ours, followed to the end: ACTIVE (`plan::restore::progress`), the after-restore
//! steps, the checks, then Completed with its duration measured.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::controller::Action;

use super::{after, copyback, verify};
use crate::{
    api::{
        DynamoRestore, RestorePhase, VerificationResult,
        facts::{Scope, Table},
    },
    controllers::{
        Error,
        common::{StatusWriter, publish},
    },
    metrics::RestoreLabels,
    plan::{
        conditions::Standing,
        restore::{self, Progress},
        validate::{RestoreRequest, Source},
    },
};

type Writer<'a> = StatusWriter<'a, DynamoRestore>;

/// The table is ours: wait for it to be ACTIVE, then the after-restore steps and checks, then
/// Completed.
pub async fn follow(w: &mut Writer<'_>, request: &RestoreRequest, scope: &Scope, table: Table, now: Timestamp) -> Result<Action, Error> {
    if w.status.target_table_id.is_none() {
        if w.status.target_table_arn.is_none() && w.status.started_at.is_some() && w.status.phase == Some(RestorePhase::Restoring) {
            tracing::info!(table = %request.target, "adopting the restore in flight");
        }
        w.status.target_table_id = table.id.clone();
        w.status.target_table_arn = table.arn.clone();
    }
    w.status.table_status = Some(table.status.clone());
    let point_in_time = matches!(request.source, Source::PointInTime { .. });
    match restore::progress(&w.status, &table, point_in_time, now) {
        Progress::Restoring { message, poll } => {
            w.status.phase = Some(RestorePhase::Restoring);
            w.write(&Standing::Reconciling { reason: "Restoring".into(), message }).await?;
            return Ok(Action::requeue(poll));
        }
        Progress::Updating { message, poll } => {
            w.write(&Standing::Reconciling { reason: "Finalizing".into(), message }).await?;
            return Ok(Action::requeue(poll));
        }
        // DynamoDB's record of the exact moment restored, also for "latest". A backup's
        // moment is its creation time, recorded when the restore started.
        Progress::Finalize { restore_time } => w.status.restore_time = restore_time.map(Time).or(w.status.restore_time.take()),
    }
    // A completed restore comes back only for its copy-back (dryRun went to false): the table's
    // own lifecycle stays Completed.
    if w.status.phase != Some(RestorePhase::Completed) {
        w.status.phase = Some(RestorePhase::Finalizing);
    }
    if let Err(action) = after::run(w, scope, &table).await? {
        return Ok(action);
    }
    if let Err(action) = verify::run(w, scope, &table, now).await? {
        return Ok(action);
    }
    if let Err(action) = copyback::run(w, request, scope, &table).await? {
        return Ok(action);
    }
    let fresh = w.ctx.dynamo.describe_table(scope, &request.target).await?.unwrap_or(table);
    // The moment it completed is measured, not decided: the clock read again, after the steps
    // and checks this reconcile made.
    complete(w, request, fresh, w.ctx.clock.now()).await
}

/// Completed at `now`: the table's count and status, the duration measured, Ready and an event.
async fn complete(w: &mut Writer<'_>, request: &RestoreRequest, table: Table, now: Timestamp) -> Result<Action, Error> {
    w.status.item_count = table.item_count;
    w.status.table_status = Some(table.status);
    // Completed once: a later copy-back (dryRun went to false) keeps the table's completion.
    let first = w.status.completed_at.is_none();
    if first {
        w.status.completed_at = Some(Time(now));
    }
    w.status.phase = Some(RestorePhase::Completed);
    let began = w.status.started_at.as_ref().or(w.obj.metadata.creation_timestamp.as_ref()).map(|t| t.0).filter(|_| first);
    if let Some(began) = began {
        let source = if matches!(request.source, Source::PointInTime { .. }) { "pointInTime" } else { "backup" };
        let seconds = now.duration_since(began).as_secs_f64().max(0.0);
        w.ctx.metrics.restore_duration.get_or_create(&RestoreLabels { source }).observe(seconds);
    }
    let mut message = completed_message(request);
    if let Some(v) = &w.status.verification {
        let verdict = v.message.clone().unwrap_or_default();
        match v.result {
            Some(VerificationResult::Passed) => message = format!("{message}; verified: {verdict}"),
            Some(VerificationResult::Failed) => message = format!("{message}; verification FAILED: {verdict}"),
            None => {}
        }
    }
    if let Some(copied) = w.status.copy_back.as_ref().and_then(|c| c.message.as_deref()) {
        message = format!("{message}; {copied}");
    }
    w.write(&Standing::Ready { reason: "Restored".into(), message: message.clone() }).await?;
    publish(&w.ctx.recorder, w.obj, false, "RestoreCompleted", "Restore", message).await;
    Ok(Action::await_change())
}

pub fn completed_message(request: &RestoreRequest) -> String {
    format!("table {} restored from {}", request.target, request.source.describe())
}
