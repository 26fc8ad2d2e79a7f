//! The start of a restore: the source resolved and checked, the intent (start time and source)
//! written to status before the call, then DynamoDB's restore call or AWS Backup's job. The
//! intent is what lets a restart adopt the table instead of refusing it as someone else's.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::controller::Action;

use super::{
    finish, job,
    resolve::{self, Via},
};
use crate::{
    api::{DynamoRestore, RestorePhase, facts::Scope},
    aws::ErrorClass,
    controllers::{
        Error,
        common::{StatusWriter, publish},
    },
    plan::{conditions::Standing, reasons, restore::table_overrides, validate::RestoreRequest},
};

type Writer<'a> = StatusWriter<'a, DynamoRestore>;

/// How soon a restore that found a table of its target's name appear looks again.
const LOOK_AGAIN: std::time::Duration = std::time::Duration::from_secs(1);

pub async fn start(w: &mut Writer<'_>, request: &RestoreRequest, scope: &Scope, now: Timestamp) -> Result<Action, Error> {
    let resolved = match resolve::resolve(w, request).await? {
        Ok(resolved) => resolved,
        Err(action) => return Ok(action),
    };
    let overrides = match table_overrides(w.obj.spec.overrides.as_ref(), &resolved.global_indexes, &resolved.local_indexes) {
        Ok(overrides) => overrides,
        Err(invalid) => return w.stalled(invalid.reason, invalid.message).await,
    };
    w.status.started_at = Some(Time(now));
    w.status.source_backup_arn = resolved.backup_arn.clone();
    w.status.source_table_arn = resolved.table_arn.clone();
    w.status.restore_time = resolved.restore_time.map(Time);
    w.status.phase = Some(RestorePhase::Restoring);
    w.write(&Standing::Reconciling { reason: "Restoring".into(), message: format!("restoring into table {}", request.target) }).await?;

    let from = match resolved.from {
        Via::Dynamo(from) => from,
        Via::AwsBackup { recovery_point } => {
            w.status.recovery_point_arn = Some(recovery_point);
            return job::start(w, request, scope, now).await;
        }
    };
    match w.ctx.dynamo.restore(scope, &from, &request.target, &overrides).await {
        Ok(table) => {
            let note = format!("restoring {} into table {}", request.source.describe(), request.target);
            publish(&w.ctx.recorder, w.obj, false, "RestoreStarted", "Restore", note).await;
            finish::follow(w, request, scope, table, now).await
        }
        // Someone made the table between our look and our call, or a retry of ours did:
        // look again, and adopt it only if it is ours.
        Err(err) if err.is_code("TableAlreadyExistsException") => Ok(Action::requeue(LOOK_AGAIN)),
        Err(err) if err.class == ErrorClass::Terminal => {
            let reason = reasons::dynamodb("Restore", err.code.as_deref());
            w.stalled(reason, err.to_string()).await
        }
        Err(err) => Err(err.into()),
    }
}
