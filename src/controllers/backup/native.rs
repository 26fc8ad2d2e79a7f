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
use jiff::SignedDuration;
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
        common::{key_of, now, publish},
    },
    dynamo::Seen,
    plan::{
        arns::table_arn_of,
        backup::{FOLLOW_SAFETY_NET, phase_for},
        conditions::{self, Standing},
        validate::BackupTarget,
    },
};

/// How far before the recorded intent a lookup starts: clocks differ.
const LOOKUP_MARGIN: SignedDuration = SignedDuration::from_mins(5);

/// DynamoDB's on-demand backups (CreateBackup).
pub struct Native;

#[async_trait]
impl Keeper for Native {
    async fn advance(&self, r: &mut Writer<'_>, scope: &Scope, target: &BackupTarget) -> Result<Action, Error> {
        if let Some(arn) = r.status.backup_arn.clone() {
            return follow(r, scope, &arn).await;
        }
        // An intent without an ARN: the request may have reached DynamoDB before a crash.
        if let Some(intent) = r.status.requested_at.clone()
            && r.status.backup_name.as_deref() == Some(target.backup_name.as_str())
        {
            let since = intent.0 - LOOKUP_MARGIN;
            if let Some(found) = r.ctx.dynamo.find_backup(scope, &target.table.name, &target.backup_name, since).await? {
                tracing::info!(backup = %found.arn, "found the backup of an earlier attempt; adopting it");
                return report(r, scope, Some(found)).await;
            }
        }
        create(r, scope, target).await
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
        if r.status.phase != Some(BackupPhase::Deleting) {
            r.status.phase = Some(BackupPhase::Deleting);
            r.write(&Standing::Reconciling { reason: "Deleting".into(), message: format!("deleting DynamoDB backup {arn}") }).await?;
        }
        if let Some(backup) = r.ctx.dynamo.describe_backup(scope, &arn).await?
            && backup.state == BackupState::Creating
        {
            // DynamoDB refuses to delete a backup it is still creating.
            return Ok(Some(Action::requeue(Duration::from_secs(10))));
        }
        r.ctx.dynamo.delete_backup(scope, &arn).await?;
        r.ctx.inventory.forget(scope, &arn);
        publish(&r.ctx.recorder, r.obj, false, "BackupDeleted", "DeleteBackup", format!("deleted DynamoDB backup {arn}")).await;
        Ok(None)
    }
}

/// A backup whose ARN is known: what the inventory learnt of it, else what status says.
async fn follow(r: &mut Writer<'_>, scope: &Scope, arn: &str) -> Result<Action, Error> {
    let ctx = r.ctx;
    match ctx.inventory.take(scope, arn) {
        Some(Seen::Backup(backup)) => return report(r, scope, Some(*backup)).await,
        // A listing lacked it: DescribeBackup says for sure.
        Some(Seen::Missing) => {
            let described = ctx.dynamo.describe_backup(scope, arn).await?;
            return report(r, scope, described).await;
        }
        None => {}
    }
    let stalled = conditions::stalled(&r.status.conditions).is_some();
    match r.status.phase {
        // Nothing new: a restart or a spec change (say, deletionPolicy) costs no AWS call.
        Some(BackupPhase::Available) => {
            ctx.inventory.follow_available(scope, arn);
            let name = r.status.backup_name.clone().unwrap_or_default();
            r.write(&Standing::Ready { reason: "Available".into(), message: format!("backup {name} is available") }).await?;
            Ok(Action::await_change())
        }
        Some(BackupPhase::Failed) if stalled => Ok(Action::await_change()),
        Some(BackupPhase::Creating) => {
            let requested = r.status.requested_at.as_ref().map(|t| t.0).unwrap_or_else(jiff::Timestamp::now);
            ctx.inventory.follow_creating(scope, arn, key_of(r.obj), requested);
            let name = r.status.backup_name.clone().unwrap_or_default();
            r.write(&Standing::Reconciling { reason: "Creating".into(), message: format!("DynamoDB is creating backup {name}") }).await?;
            Ok(Action::requeue(FOLLOW_SAFETY_NET))
        }
        _ => {
            let described = ctx.dynamo.describe_backup(scope, arn).await?;
            report(r, scope, described).await
        }
    }
}

/// Records the intent (the name and the moment, conditions untouched: nothing is known yet),
/// calls CreateBackup and records the answer.
async fn create(r: &mut Writer<'_>, scope: &Scope, target: &BackupTarget) -> Result<Action, Error> {
    r.status.backup_name = Some(target.backup_name.clone());
    r.status.requested_at = Some(now());
    r.save().await?;

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

async fn report(r: &mut Writer<'_>, scope: &Scope, backup: Option<Backup>) -> Result<Action, Error> {
    let Some(backup) = backup else {
        let arn = r.status.backup_arn.clone().unwrap_or_default();
        r.ctx.inventory.forget(scope, &arn);
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
    r.status.created_at = backup.created_at.map(Time).or(r.status.created_at.take());
    r.status.table_arn = r.status.table_arn.take().or_else(|| table_arn_of(&backup.arn));
    if let Some(source) = &backup.source {
        r.status.table_arn = source.table_arn.clone().or(r.status.table_arn.take());
        r.status.table_id = source.table_id.clone().or(r.status.table_id.take());
        r.status.item_count = source.item_count.or(r.status.item_count);
    }
    r.status.phase = Some(phase_for(backup.state));
    let me = key_of(r.obj);
    match backup.state {
        BackupState::Creating => {
            let requested = r.status.requested_at.as_ref().map(|t| t.0).unwrap_or_else(jiff::Timestamp::now);
            r.ctx.inventory.follow_creating(scope, &backup.arn, me, requested);
            r.write(&Standing::Reconciling { reason: "Creating".into(), message: format!("DynamoDB is creating backup {}", backup.name) })
                .await?;
            Ok(Action::requeue(FOLLOW_SAFETY_NET))
        }
        BackupState::Available => {
            r.ctx.inventory.follow_available(scope, &backup.arn);
            r.write(&Standing::Ready { reason: "Available".into(), message: format!("backup {} is available", backup.name) }).await?;
            if previous != Some(BackupPhase::Available) {
                let size = backup.size_bytes.map(|s| format!(", {s} bytes")).unwrap_or_default();
                publish(
                    &r.ctx.recorder,
                    r.obj,
                    false,
                    "BackupAvailable",
                    "CreateBackup",
                    format!("backup {} is available{size}", backup.arn),
                )
                .await;
            }
            Ok(Action::await_change())
        }
        BackupState::Deleted => {
            r.ctx.inventory.forget(scope, &backup.arn);
            r.stalled("BackupDeleted", format!("DynamoDB reports backup {} as deleted", backup.arn)).await
        }
    }
}
