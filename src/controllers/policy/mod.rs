//! DynamoBackupPolicy: PITR on every table, a DynamoBackup per table for each schedule slot and
//! before rollouts, retention over the DynamoBackups it made, restore drills, and what its
//! deletion does to its backups.
//!
//! The policy never talks to DynamoDB about backups itself: it creates and deletes DynamoBackup
//! objects (named from policy, table and slot, so a restart never doubles a slot), and their
//! controller does the rest. A reconcile reads caches, not the world: its children from the
//! DynamoBackup watch (a child's change wakes it), each table's PITR from the shared PITR cache
//! (a read landing wakes it), and workloads from metadata watches. With nothing due it makes no
//! AWS call and, when its status would not change, no apiserver call either. The decisions are
//! the plan's (`plan::policy`); the rooms here gather and act: `protect` (PITR and each table's
//! line), `schedule`, `rollout`, `retention`, `drills`, and `workloads` (the extra triggers).

mod drills;
mod protect;
mod retention;
mod rollout;
mod schedule;
#[cfg(test)]
mod tests;
mod workloads;

use std::{sync::Arc, time::Duration};

use kube::{ResourceExt, runtime::controller::Action};

pub use workloads::extend;

use super::{
    common::{FINALIZER, StatusWriter, delete_once, key_of, publish, reported, set_finalizer},
    error::Error,
};
use crate::{
    api::{DynamoBackup, DynamoBackupPolicy, DynamoBackupPolicyStatus, OnPolicyDelete, PolicyPhase},
    context::Context,
    plan::{
        conditions::Standing,
        names::label_value,
        policy::{self, Checked, Outcome, slots::RESYNC},
        selector::MAX_SELECTED,
    },
};

pub const KIND: &str = "DynamoBackupPolicy";

type Writer<'a> = StatusWriter<'a, DynamoBackupPolicy>;

pub async fn reconcile(obj: Arc<DynamoBackupPolicy>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = obj.namespace().ok_or(Error::MissingMetadata("namespace"))?;
    let mut w = StatusWriter::new(obj.as_ref(), &ctx);
    match reconcile_with(&mut w, &namespace).await {
        Err(Error::Aws(err)) => Err(w.retrying(err).await),
        other => other,
    }
}

async fn reconcile_with(w: &mut Writer<'_>, namespace: &str) -> Result<Action, Error> {
    let (obj, ctx) = (w.obj, w.ctx);
    let children = children(ctx, obj, namespace).await?;
    let me = key_of(obj);
    if obj.metadata.deletion_timestamp.is_some() {
        ctx.pitr.forget(&me);
        return delete_policy(w, namespace, &children).await;
    }
    let mut checked = match checked(ctx, obj, namespace) {
        Ok(checked) => checked,
        Err((reason, message)) => {
            ctx.pitr.forget(&me);
            ctx.discovery.follow(&me, None);
            return w.stalled(reason, message).await;
        }
    };
    set_finalizer(ctx.cluster.as_ref(), obj, obj.spec.on_policy_delete == OnPolicyDelete::DeleteBackups).await?;
    // The policy's region counts in the unprotected-tables metric.
    ctx.discovery.watch(&w.scope(checked.region.clone()));
    let too_many = match select(w, &mut checked, namespace).await? {
        Ok(too_many) => too_many,
        Err(action) => return Ok(action),
    };
    release(w, &checked).await;
    let tables = protect::protect(w, &checked, &children).await?;
    let mut requeue = RESYNC;
    if let Some(schedule) = &checked.schedule {
        requeue = requeue.min(schedule::run(w, &checked, schedule, &children, &tables).await?);
    }
    if let Some(wait) = rollout::run(w, &checked, &tables.missing, namespace).await? {
        requeue = requeue.min(wait);
    }
    if let Some(rules) = &checked.rules {
        retention::apply(w, &checked, rules, &children, w.now).await?;
    }
    if let Some(wait) = drills::run(w, checked.drill.as_ref(), &checked.texts, &tables, &children, w.now).await? {
        requeue = requeue.min(wait);
    }
    let region = ctx.region_label(checked.region.as_deref()).to_owned();
    let outcome = Outcome {
        policy: &obj.name_any(),
        checked: &checked,
        tables: &tables,
        too_many,
        drills: &w.status.drills,
        pitr_enabled: obj.spec.point_in_time_recovery.enabled,
        region: &region,
    };
    let (phase, standing) = policy::standing(&outcome);
    w.status.phase = Some(phase);
    w.write(&standing).await?;
    Ok(Action::requeue(requeue.max(Duration::from_secs(1))))
}

/// The policy's DynamoBackups, from the cache (once it has listed).
async fn children(ctx: &Context, obj: &DynamoBackupPolicy, namespace: &str) -> Result<Vec<DynamoBackup>, Error> {
    let label = label_value(&obj.name_any());
    ctx.backups.name_policy(namespace, &label, &obj.name_any());
    if !ctx.backups.wait_ready(Duration::from_secs(10)).await {
        tracing::warn!("the DynamoBackup cache has not listed yet; will retry");
        return Err(Error::NotReady("the DynamoBackup cache"));
    }
    let children: Vec<DynamoBackup> = ctx.backups.children(namespace, &label).iter().map(|c| c.as_ref().clone()).collect();
    tracing::debug!(children = children.len(), "children from the DynamoBackup cache");
    Ok(children)
}

/// The spec checked, and every named table allowed by the tenancy file: else why not.
fn checked(ctx: &Context, obj: &DynamoBackupPolicy, namespace: &str) -> Result<Checked, (&'static str, String)> {
    let checked = policy::check(obj).map_err(|invalid| (invalid.reason, invalid.message))?;
    for table in &checked.tables {
        if let Err(denied) = ctx.tenancy.check(namespace, &table.name, table.region_or(checked.region.as_deref())) {
            return Err(("AccessDenied", denied.0));
        }
    }
    Ok(checked)
}

/// Adds the tables the selector matches to `checked`. Ok: how many it matched when that is
/// more than a policy takes. Err: the policy waits for the first listing (reported).
async fn select(w: &mut Writer<'_>, checked: &mut Checked, namespace: &str) -> Result<Result<Option<usize>, Action>, Error> {
    let ctx = w.ctx;
    let me = key_of(w.obj);
    let Some(selector) = checked.selector.clone() else {
        ctx.discovery.follow(&me, None);
        w.status.matched_tables = None;
        return Ok(Ok(None));
    };
    let scope = w.scope(checked.region.clone());
    let region = ctx.region_label(checked.region.as_deref()).to_owned();
    let (selected, too_many, waiting) = match ctx.discovery.follow(&me, Some((&scope, selector.wants_tags()))) {
        Some(listing) if listing.error.is_none() || !listing.tables.is_empty() => {
            let allowed = |name: &str| ctx.tenancy.check(namespace, name, checked.region.as_deref()).is_ok();
            let (selected, matched) = policy::select(checked, &selector, listing.tables.iter(), allowed);
            w.status.matched_tables = u32::try_from(matched).ok();
            (Some(selected), (matched > MAX_SELECTED).then_some(matched), None)
        }
        Some(listing) => {
            let err = listing.error.as_ref().map(|e| e.to_string()).unwrap_or_default();
            (None, None, Some((format!("listing the tables of {region} failed: {err}; retried within a minute"), Duration::from_secs(60))))
        }
        None => (None, None, Some((format!("listing the tables of {region} for spec.tableSelector"), RESYNC))),
    };
    let selected_before: Vec<String> = w.status.tables.iter().filter(|t| t.selected).map(|t| t.name.clone()).collect();
    if let Some((message, wait)) = waiting
        && checked.texts.is_empty()
        && selected_before.is_empty()
    {
        w.status.phase = Some(PolicyPhase::Pending);
        w.write(&Standing::Reconciling { reason: "DiscoveringTables".into(), message }).await?;
        return Ok(Err(Action::requeue(wait)));
    }
    // Until the selector's tables are known, the ones selected before stay (none is released).
    checked.add_selected(selected.unwrap_or(selected_before));
    Ok(Ok(too_many))
}

/// Tables the policy protected and does not any more (removed from spec.tables, or no longer
/// matched by the selector): released, with an event. Nothing is deleted and PITR stays as it
/// is; their backups stay, under retention as before.
async fn release(w: &Writer<'_>, checked: &Checked) {
    for line in w.status.tables.iter().filter(|l| !checked.texts.contains(&l.name)) {
        let why = if line.selected { "no longer matches spec.tableSelector" } else { "is no longer in spec.tables" };
        let note =
            format!("table {} {why}: released; its point-in-time recovery and backups are left as they are, nothing is deleted", line.name);
        publish(&w.ctx.recorder, w.obj, false, "TableReleased", "Release", note).await;
    }
}

/// The policy is going: with `onPolicyDelete: DeleteBackups`, its DynamoBackups go too (their
/// own finalizers then act per their deletionPolicy); with Orphan, they stay.
async fn delete_policy(w: &mut Writer<'_>, namespace: &str, children: &[DynamoBackup]) -> Result<Action, Error> {
    if !w.obj.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(Action::await_change());
    }
    if w.obj.spec.on_policy_delete == OnPolicyDelete::DeleteBackups {
        for child in children.iter().filter(|c| c.metadata.deletion_timestamp.is_none()) {
            delete_once::<DynamoBackup>(w.ctx.cluster.as_ref(), namespace, &child.name_any()).await?;
        }
        let note = format!("deleting {} DynamoBackup(s) of this policy", children.len());
        publish(&w.ctx.recorder, w.obj, false, "BackupsDeleted", "Delete", note).await;
    }
    set_finalizer(w.ctx.cluster.as_ref(), w.obj, false).await?;
    Ok(Action::await_change())
}

reported!(DynamoBackupPolicy, DynamoBackupPolicyStatus, |status| {
    status.phase = Some(PolicyPhase::Failed);
});
