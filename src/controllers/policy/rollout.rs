//! Snapshots before a rollout (`spec.preRollout`): one DynamoBackup per table when a selected
//! workload has a new pod template, named from the template's hash, so a revision is never
//! snapshotted twice. The workloads are only read (`plan::rollout::changes` decides).

use std::time::Duration;

use kube::ResourceExt;

use super::workloads::WORKLOAD_NAMESPACES_EVERY;
use crate::{
    api::DynamoBackupPolicy,
    controllers::{
        Error,
        common::{StatusWriter, create_once, publish},
    },
    plan::{
        children::policy_backup,
        names::child_backup_name,
        policy::Checked,
        rollout::{Seen, changes, selects},
    },
};

type Writer<'a> = StatusWriter<'a, DynamoBackupPolicy>;

/// Snapshots of every table before a new rollout of the selected workloads: one DynamoBackup
/// per table, named from the new pod template's hash. The workloads are only read.
pub async fn run(w: &mut Writer<'_>, checked: &Checked, missing: &[String], namespace: &str) -> Result<Option<Duration>, Error> {
    let (obj, ctx) = (w.obj, w.ctx);
    let Some(pre) = &obj.spec.pre_rollout else {
        w.status.rollouts.clear();
        return Ok(None);
    };
    // The namespace follower starts the watches within a moment of a preRollout policy.
    let Some(workloads) = ctx.workloads.workloads(namespace).await else {
        return Ok(Some(WORKLOAD_NAMESPACES_EVERY));
    };
    let mut selected = Vec::new();
    for (kind, name, labels, generation) in workloads {
        if !pre.workloads.iter().any(|sel| selects(sel, kind, &name, &labels)) {
            continue;
        }
        if let Some(hash) = ctx.workloads.template_hash(kind, namespace, &name, generation).await? {
            selected.push(Seen { kind, name, hash });
        }
    }
    let (mut record, snapshots) = changes(&w.status.rollouts, &selected);
    for change in snapshots {
        let mut first = None;
        for (table, text) in checked.tables.iter().zip(&checked.texts) {
            if missing.contains(&table.name) {
                continue;
            }
            let name = child_backup_name(&obj.name_any(), text, &format!("pre-{}", change.hash));
            first.get_or_insert_with(|| name.clone());
            // An existing one: this revision was snapshotted before, and never is twice.
            create_once(ctx.cluster.as_ref(), namespace, &policy_backup(obj, &name, text, checked.region.clone(), "pre-rollout")).await?;
        }
        let note = format!("{:?} {} has a new pod template ({}): snapshot of every table", change.kind, change.name, change.hash);
        publish(&ctx.recorder, obj, false, "PreRolloutBackup", "Rollout", note).await;
        if let Some(entry) = record.iter_mut().find(|r| r.kind == change.kind && r.name == change.name) {
            entry.backup = first;
        }
    }
    w.status.rollouts = record;
    Ok(None)
}
