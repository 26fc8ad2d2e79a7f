//! DynamoBackup: Pending -> Creating -> Available (or Failed), and the snapshot's deletion
//! through a finalizer when `deletionPolicy: Delete`. What is common to both methods lives here
//! (spec and tenancy checks, the finalizer, the status's shape); the snapshot itself is its
//! keeper's (`native`: DynamoDB's backups, `vault`: AWS Backup's recovery points).

mod keeper;
mod native;
#[cfg(test)]
mod tests;
mod vault;

use std::sync::Arc;

use kube::{
    ResourceExt,
    runtime::{Controller, controller::Action},
};

use self::{
    keeper::{Keeper, Writer},
    native::Native,
    vault::Vault,
};
use super::{
    common::{FINALIZER, StatusWriter, reported, set_finalizer},
    error::Error,
};
use crate::{
    api::{BackupMethod, BackupPhase, DeletionPolicy, DynamoBackup, DynamoBackupStatus},
    context::Context,
    plan::validate::{self, BackupTarget},
};

pub const KIND: &str = "DynamoBackup";

/// Wakes a DynamoBackup's reconcile when the inventory learnt something of its backup.
pub fn wake_on_observations(controller: Controller<DynamoBackup>, namespace: Option<&str>, ctx: &Arc<Context>) -> Controller<DynamoBackup> {
    let observed = ctx.wake_backups.subscribe(namespace.map(str::to_owned));
    let triggers = futures::stream::unfold(observed, |mut rx| async move { rx.recv().await.map(|obj| (obj, rx)) });
    controller.reconcile_on(triggers)
}

pub async fn reconcile(obj: Arc<DynamoBackup>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = obj.namespace().ok_or(Error::MissingMetadata("namespace"))?;
    let mut r = StatusWriter::new(obj.as_ref(), &ctx);
    match reconcile_with(&mut r, &namespace).await {
        // Terminal DynamoDB errors were reported as Stalled where they arose; what is left is
        // worth a retry, and the status says so.
        Err(Error::Aws(err)) => Err(r.retrying(err).await),
        other => other,
    }
}

async fn reconcile_with(r: &mut Writer<'_>, namespace: &str) -> Result<Action, Error> {
    let (obj, ctx) = (r.obj, r.ctx);
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
    let version = set_finalizer(ctx.cluster.as_ref(), obj, obj.spec.deletion_policy == DeletionPolicy::Delete).await?;
    r.wrote(version);

    let scope = r.scope(target.region.clone());
    keeper(obj.spec.method).advance(r, &scope, &target).await
}

fn keeper(method: BackupMethod) -> &'static dyn Keeper {
    match method {
        BackupMethod::DynamoDB => &Native,
        BackupMethod::AWSBackup => &Vault,
    }
}

/// The object is being deleted: with `deletionPolicy: Delete`, delete the snapshot first.
async fn cleanup(r: &mut StatusWriter<'_, DynamoBackup>, target: Option<BackupTarget>) -> Result<Action, Error> {
    if !r.obj.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(Action::await_change());
    }
    if r.obj.spec.deletion_policy == DeletionPolicy::Delete {
        let scope = r.scope(target.as_ref().and_then(|t| t.region.clone()));
        if let Some(wait) = keeper(r.obj.spec.method).delete(r, &scope, target.as_ref()).await? {
            return Ok(wait);
        }
    }
    set_finalizer(r.ctx.cluster.as_ref(), r.obj, false).await?;
    Ok(Action::await_change())
}

reported!(DynamoBackup, DynamoBackupStatus, |status| {
    if status.phase != Some(BackupPhase::Deleting) {
        status.phase = Some(BackupPhase::Failed);
    }
});
