//! DynamoBackups kept by DynamoDB itself (`method: DynamoDB`, CreateBackup).
//!
//! CreateBackup is not idempotent. The backup name is deterministic, and the intent (that name
//! and the moment) is written to status before the call, its ARN right after: a reconcile that
//! finds an intent without an ARN (a crash in between) looks the backup up, with ListBackups
//! bounded to the time since the intent, before asking again. On the happy path there is no
//! lookup at all: one CreateBackup per backup. A backup DynamoDB is still creating is followed
//! by the inventory, whose ListBackups pages confirm many backups at once, and which later
//! notices an Available backup deleted outside the operator.

use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::controller::Action;

use super::keeper::{Keeper, Writer};
use crate::{
    api::{
        BackupPhase,
        facts::{Backup, BackupState, Scope},
    },
    aws::ErrorClass,
    controllers::{
        Error,
        common::{key_of, publish},
    },
    plan::{
        backup::{self as plan, FOLLOW_SAFETY_NET, Follow, LOOKUP_MARGIN, Step},
        conditions::Standing,
        reasons,
        validate::BackupTarget,
    },
};

/// DynamoDB's on-demand backups (CreateBackup).
pub struct Native;

#[async_trait]
impl Keeper for Native {
    /// Gathers what the inventory learnt, then takes the plan's steps until one reports.
    async fn advance(&self, r: &mut Writer<'_>, scope: &Scope, target: &BackupTarget) -> Result<Action, Error> {
        let seen = r.status.backup_arn.as_deref().and_then(|arn| r.ctx.inventory.take(scope, arn));
        let mut step = plan::next(&r.status, &target.backup_name, seen);
        loop {
            step = match step {
                Step::Create => return create(r, scope, target).await,
                Step::Lookup { since } => {
                    // An intent without an ARN is a crash between the call and its record, or a
                    // copy of the object the watch cache has not brought up to date yet. The
                    // object as the apiserver has it tells them apart for one GET, where the
                    // lookup costs ListBackups turns (5 a second per account).
                    if recorded_since(r).await {
                        return Ok(Action::await_change());
                    }
                    let found = r.ctx.dynamo.find_backup(scope, &target.table.name, &target.backup_name, since).await?;
                    if let Some(found) = &found {
                        tracing::info!(backup = %found.arn, "found the backup of an earlier attempt; adopting it");
                    }
                    plan::after_lookup(found)
                }
                Step::Describe { arn } => Step::Report(r.ctx.dynamo.describe_backup(scope, &arn).await?.map(Box::new)),
                Step::Report(backup) => return report(r, scope, backup.map(|b| *b)).await,
                Step::Stand => {
                    let (standing, follow) = plan::standing_of(&r.status);
                    return stand(r, scope, standing, follow).await;
                }
                Step::Wait => return Ok(Action::await_change()),
            }
        }
    }

    async fn delete(&self, r: &mut Writer<'_>, scope: &Scope, target: Option<&BackupTarget>) -> Result<Option<Action>, Error> {
        // A backup requested just before a crash is not in status yet: look it up by name,
        // since the intent. Without an intent nothing was ever requested.
        let intent = r.status.requested_at.as_ref().map(|t| t.0 - LOOKUP_MARGIN);
        let arn = match (&r.status.backup_arn, target, intent) {
            (Some(arn), _, _) => Some(arn.clone()),
            (None, Some(t), Some(since)) => r.ctx.dynamo.find_backup(scope, &t.table.name, &t.backup_name, since).await?.map(|b| b.arn),
            _ => None,
        };
        let Some(arn) = arn else { return Ok(None) };
        let creating = r.ctx.dynamo.describe_backup(scope, &arn).await?.is_some_and(|b| b.state == BackupState::Creating);
        // Written once the deletion's DescribeBackup turn came, not before: a slot whose
        // retention deletes hundreds of backups at once then writes these at DescribeBackup's
        // pace, not all at the slot's start, ahead of the slot's own backups.
        if r.status.phase != Some(BackupPhase::Deleting) {
            r.status.phase = Some(BackupPhase::Deleting);
            r.write(&Standing::Reconciling { reason: "Deleting".into(), message: format!("deleting DynamoDB backup {arn}") }).await?;
        }
        if creating {
            // DynamoDB refuses to delete a backup it is still creating.
            return Ok(Some(Action::requeue(Duration::from_secs(10))));
        }
        r.ctx.dynamo.delete_backup(scope, &arn).await?;
        r.ctx.inventory.forget(scope, &arn);
        publish(&r.ctx.recorder, r.obj, false, "BackupDeleted", "DeleteBackup", format!("deleted DynamoDB backup {arn}")).await;
        Ok(None)
    }
}

/// Has the apiserver's copy of the object the ARN this reconcile's copy lacks? Its watch event
/// is then on its way and wakes the object; a failed read says no (the lookup decides).
async fn recorded_since(r: &Writer<'_>) -> bool {
    let (Some(namespace), Some(name)) = (r.obj.metadata.namespace.as_deref(), r.obj.metadata.name.as_deref()) else { return false };
    match crate::cluster::get::<crate::api::DynamoBackup>(r.ctx.cluster.as_ref(), namespace, name).await {
        Ok(Some(fresh)) => fresh.status.is_some_and(|s| s.backup_arn.is_some()),
        _ => false,
    }
}

/// Records the intent (the name and the moment, conditions untouched: nothing is known yet),
/// calls CreateBackup and records the answer.
async fn create(r: &mut Writer<'_>, scope: &Scope, target: &BackupTarget) -> Result<Action, Error> {
    r.status.backup_name = Some(target.backup_name.clone());
    r.status.requested_at = Some(Time(r.now));
    r.save_if_current().await?;

    let created = match r.ctx.dynamo.create_backup(scope, &target.table.name, &target.backup_name).await {
        Ok(created) => created,
        Err(err) if err.class == ErrorClass::Terminal => {
            let reason = reasons::dynamodb("CreateBackup", err.code.as_deref());
            let message = if reason == "TableNotFound" {
                let region = r.ctx.region_label(scope.region.as_deref());
                format!("table {:?} does not exist in {region}; check spec.tableName and spec.region", target.table.name)
            } else {
                err.to_string()
            };
            r.status.requested_at = None;
            return r.stalled(reason, message).await;
        }
        Err(err) => {
            // Refused outright (throttled, busy): no backup was made, so the retry needs no
            // lookup. After a time-out or a server error it might have been: keep the intent.
            if err.was_refused() {
                r.status.requested_at = None;
            }
            return Err(err.into());
        }
    };
    publish(
        &r.ctx.recorder,
        r.obj,
        false,
        "BackupRequested",
        "CreateBackup",
        format!("CreateBackup of table {} as {}", target.table.name, created.arn),
    )
    .await;
    report(r, scope, Some(created)).await
}

/// Records DynamoDB's answer and reports where the backup stands.
async fn report(r: &mut Writer<'_>, scope: &Scope, backup: Option<Backup>) -> Result<Action, Error> {
    let report = plan::report(&mut r.status, backup.as_ref());
    if let Some(note) = report.available_event {
        publish(&r.ctx.recorder, r.obj, false, "BackupAvailable", "CreateBackup", note).await;
    }
    stand(r, scope, report.standing, report.follow).await
}

/// Hands the backup to the inventory as `follow` says and writes `standing`.
async fn stand(r: &mut Writer<'_>, scope: &Scope, standing: Standing, follow: Follow) -> Result<Action, Error> {
    let arn = r.status.backup_arn.clone().unwrap_or_default();
    match follow {
        Follow::Creating => {
            let requested = r.status.requested_at.as_ref().map_or(r.now, |t| t.0);
            r.ctx.inventory.follow_creating(scope, &arn, key_of(r.obj), requested);
        }
        Follow::Available => r.ctx.inventory.follow_available(scope, &arn),
        Follow::Forget => r.ctx.inventory.forget(scope, &arn),
    }
    match standing {
        Standing::Stalled { reason, message } => r.stalled(&reason, message).await,
        Standing::Reconciling { .. } => {
            r.write(&standing).await?;
            Ok(Action::requeue(FOLLOW_SAFETY_NET))
        }
        Standing::Ready { .. } => {
            r.write(&standing).await?;
            Ok(Action::await_change())
        }
    }
}
