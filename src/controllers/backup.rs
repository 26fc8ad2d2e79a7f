//! DynamoBackup: Pending -> Creating -> Available (or Failed), and the DynamoDB backup's
//! deletion through a finalizer when `deletionPolicy: Delete`.
//!
//! CreateBackup is not idempotent, so the backup name is deterministic, looked for before
//! creating, and the ARN is written to status as soon as DynamoDB answers: a crash at any point
//! finds the first backup on the next reconcile instead of making a second.

use std::{sync::Arc, time::Duration};

use jiff::Timestamp;
use kube::{Api, ResourceExt, runtime::controller::Action};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use super::{
    Error,
    common::{FINALIZER, Reported, StatusWriter, now, publish, set_finalizer},
};
use crate::{
    api::{BackupPhase, DeletionPolicy, DynamoBackup, DynamoBackupStatus},
    context::Context,
    dynamo::{
        ErrorClass,
        model::{Backup, BackupState, Scope},
    },
    plan::{
        backup::{AVAILABLE_RESYNC, creating_poll, phase_for},
        conditions::Standing,
        validate::{self, BackupTarget},
    },
};

pub const KIND: &str = "DynamoBackup";

pub async fn reconcile(obj: Arc<DynamoBackup>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = obj.namespace().ok_or(Error::MissingMetadata("namespace"))?;
    let api: Api<DynamoBackup> = Api::namespaced(ctx.client.clone(), &namespace);
    let mut r = StatusWriter::new(&api, obj.as_ref(), &ctx);
    match reconcile_with(&mut r, &namespace).await {
        // Terminal DynamoDB errors were reported as Stalled where they arose; what is left is
        // worth a retry, and the status says so.
        Err(Error::Dynamo(err)) => Err(r.retrying(err).await),
        other => other,
    }
}

async fn reconcile_with(r: &mut StatusWriter<'_, DynamoBackup>, namespace: &str) -> Result<Action, Error> {
    let (obj, ctx, api) = (r.obj, r.ctx, r.api);
    let uid = obj.uid().ok_or(Error::MissingMetadata("uid"))?;

    let target = validate::backup(&obj.spec, &obj.name_any(), &uid);
    if obj.metadata.deletion_timestamp.is_some() {
        return cleanup(r, target.ok()).await;
    }
    let target = match target {
        Ok(target) => target,
        Err(invalid) => return r.stalled(invalid.reason, invalid.message).await,
    };
    if let Err(denied) = ctx.tenancy.check(namespace, &target.table.name, target.region.as_deref()) {
        return r.stalled("AccessDenied", denied.0).await;
    }
    set_finalizer(api, obj, obj.spec.deletion_policy == DeletionPolicy::Delete).await?;

    let scope = r.scope(target.region.clone());
    let backup = match r.status.backup_arn.clone() {
        Some(arn) => ctx.dynamo.describe_backup(&scope, &arn).await?,
        None => match ctx.dynamo.find_backup(&scope, &target.table.name, &target.backup_name).await? {
            Some(found) => {
                tracing::info!(backup = %found.arn, "found the backup of an earlier attempt; adopting it");
                r.status.backup_arn = Some(found.arn.clone());
                r.status.backup_name = Some(found.name.clone());
                Some(ctx.dynamo.describe_backup(&scope, &found.arn).await?.unwrap_or(found))
            }
            None => match create(r, &scope, &target).await? {
                Ok(backup) => Some(backup),
                Err(action) => return Ok(action),
            },
        },
    };
    report(r, backup).await
}

/// Calls CreateBackup and records the ARN at once. The inner Err is a reconcile already
/// reported (Stalled on a terminal error).
async fn create(r: &mut StatusWriter<'_, DynamoBackup>, scope: &Scope, target: &BackupTarget) -> Result<Result<Backup, Action>, Error> {
    let requested_at = now();
    let created = match r.ctx.dynamo.create_backup(scope, &target.table.name, &target.backup_name).await {
        Ok(created) => created,
        Err(err) if err.class == ErrorClass::Terminal => {
            let (reason, message) = if err.is_code("TableNotFoundException") || err.is_code("ResourceNotFoundException") {
                (
                    "TableNotFound",
                    format!(
                        "table {:?} does not exist in {}; check spec.tableName and spec.region",
                        target.table.name,
                        r.ctx.region_label(scope.region.as_deref())
                    ),
                )
            } else {
                ("CreateBackupFailed", err.to_string())
            };
            return Ok(Err(r.stalled(reason, message).await?));
        }
        Err(err) => return Err(err.into()),
    };
    r.status.backup_arn = Some(created.arn.clone());
    r.status.backup_name = Some(created.name.clone());
    r.status.requested_at = Some(requested_at);
    r.status.backup_status = Some(created.state.as_str().to_owned());
    r.status.phase = Some(BackupPhase::Creating);
    let standing = Standing::Reconciling { reason: "Creating".into(), message: format!("DynamoDB is creating backup {}", created.name) };
    r.write(&standing).await?;
    publish(
        &r.ctx.recorder,
        r.obj,
        false,
        "BackupRequested",
        "CreateBackup",
        format!("CreateBackup of table {} as {}", target.table.name, created.arn),
    )
    .await;
    let described = r.ctx.dynamo.describe_backup(scope, &created.arn).await?;
    Ok(Ok(described.unwrap_or(created)))
}

async fn report(r: &mut StatusWriter<'_, DynamoBackup>, backup: Option<Backup>) -> Result<Action, Error> {
    let Some(backup) = backup else {
        let arn = r.status.backup_arn.clone().unwrap_or_default();
        r.status.backup_status = Some(BackupState::Deleted.as_str().to_owned());
        return r
            .stalled("BackupNotFound", format!("the DynamoDB backup {arn} no longer exists (deleted outside the operator); delete this object or create a new DynamoBackup"))
            .await;
    };
    let previous = r.status.phase;
    r.status.backup_arn = Some(backup.arn.clone());
    r.status.backup_name = Some(backup.name.clone());
    r.status.backup_status = Some(backup.state.as_str().to_owned());
    r.status.size_bytes = backup.size_bytes.or(r.status.size_bytes);
    r.status.created_at = backup.created_at.map(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time).or(r.status.created_at.take());
    if let Some(source) = &backup.source {
        r.status.table_arn = source.table_arn.clone();
        r.status.table_id = source.table_id.clone();
        r.status.item_count = source.item_count;
    }
    r.status.phase = Some(phase_for(backup.state));
    match backup.state {
        BackupState::Creating => {
            let since = r.status.requested_at.as_ref().map(|t| t.0).unwrap_or_else(Timestamp::now);
            let elapsed = Duration::try_from(Timestamp::now().duration_since(since)).unwrap_or_default();
            r.write(&Standing::Reconciling { reason: "Creating".into(), message: format!("DynamoDB is creating backup {}", backup.name) })
                .await?;
            Ok(Action::requeue(creating_poll(elapsed)))
        }
        BackupState::Available => {
            r.write(&Standing::Ready { reason: "Available".into(), message: format!("backup {} is available", backup.name) }).await?;
            if previous != Some(BackupPhase::Available) {
                let size = backup.size_bytes.map(|s| format!(", {s} bytes")).unwrap_or_default();
                publish(
                    &r.ctx.recorder,
                    r.obj,
                    false,
                    "BackupAvailable",
                    "DescribeBackup",
                    format!("backup {} is available{size}", backup.arn),
                )
                .await;
            }
            Ok(Action::requeue(AVAILABLE_RESYNC))
        }
        BackupState::Deleted => r.stalled("BackupDeleted", format!("DynamoDB reports backup {} as deleted", backup.arn)).await,
    }
}

/// The object is being deleted: with `deletionPolicy: Delete`, delete the DynamoDB backup first.
async fn cleanup(r: &mut StatusWriter<'_, DynamoBackup>, target: Option<BackupTarget>) -> Result<Action, Error> {
    if !r.obj.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(Action::await_change());
    }
    if r.obj.spec.deletion_policy == DeletionPolicy::Delete {
        let region = target.as_ref().and_then(|t| t.region.clone());
        let scope = r.scope(region);
        // A backup created just before a crash is not in status yet: look it up by name.
        let arn = match (&r.status.backup_arn, &target) {
            (Some(arn), _) => Some(arn.clone()),
            (None, Some(t)) => r.ctx.dynamo.find_backup(&scope, &t.table.name, &t.backup_name).await?.map(|b| b.arn),
            (None, None) => None,
        };
        if let Some(arn) = arn {
            if r.status.phase != Some(BackupPhase::Deleting) {
                r.status.phase = Some(BackupPhase::Deleting);
                r.write(&Standing::Reconciling { reason: "Deleting".into(), message: format!("deleting DynamoDB backup {arn}") }).await?;
            }
            if let Some(backup) = r.ctx.dynamo.describe_backup(&scope, &arn).await?
                && backup.state == BackupState::Creating
            {
                // DynamoDB refuses to delete a backup it is still creating.
                return Ok(Action::requeue(Duration::from_secs(10)));
            }
            r.ctx.dynamo.delete_backup(&scope, &arn).await?;
            publish(&r.ctx.recorder, r.obj, false, "BackupDeleted", "DeleteBackup", format!("deleted DynamoDB backup {arn}")).await;
        }
    }
    set_finalizer(r.api, r.obj, false).await?;
    Ok(Action::await_change())
}

impl Reported for DynamoBackup {
    type Status = DynamoBackupStatus;

    fn current_status(&self) -> DynamoBackupStatus {
        self.status.clone().unwrap_or_default()
    }

    fn conditions(status: &mut DynamoBackupStatus) -> &mut Vec<Condition> {
        &mut status.conditions
    }

    fn observed_generation(status: &mut DynamoBackupStatus) -> &mut Option<i64> {
        &mut status.observed_generation
    }

    fn mark_stalled(status: &mut DynamoBackupStatus) {
        if status.phase != Some(BackupPhase::Deleting) {
            status.phase = Some(BackupPhase::Failed);
        }
    }
}
