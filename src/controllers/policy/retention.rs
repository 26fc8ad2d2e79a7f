//! Retention over the DynamoBackups a policy made (`plan::retention::plan` decides), holding
//! any backup an unfinished DynamoRestore is about to restore; with `dryRun`, only reported.

use std::{collections::BTreeSet, time::Duration};

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;

use super::protect::created_at;
use crate::{
    api::DynamoBackupPolicy,
    api::{BackupPhase, DynamoBackup, RestorePhase, labels},
    context::Context,
    controllers::{
        Error,
        common::{StatusWriter, delete_once, publish},
    },
    metrics::PolicyLabels,
    plan::{
        names::label_value,
        policy::Checked,
        retention::{self, Candidate, Rules},
    },
};

type Writer<'a> = StatusWriter<'a, DynamoBackupPolicy>;

/// Deletes (or, with dryRun, lists) what the rules let go.
pub async fn apply(w: &mut Writer<'_>, checked: &Checked, rules: &Rules, children: &[DynamoBackup], now: Timestamp) -> Result<(), Error> {
    let ns = w.obj.namespace().unwrap_or_default();
    let (obj, ctx) = (w.obj, w.ctx);
    let policy = label_value(&obj.name_any());
    let mut candidates: Vec<Candidate> = children
        .iter()
        .filter(|c| c.metadata.deletion_timestamp.is_none())
        .map(|c| Candidate {
            name: c.name_any(),
            table: c.spec.table_name.clone(),
            policy: c.labels().get(labels::POLICY).cloned(),
            created: created_at(c),
            available: c.status.as_ref().and_then(|s| s.phase) == Some(BackupPhase::Available),
            pinned: c.labels().get(labels::PINNED).map(String::as_str) == Some("true"),
        })
        .collect();
    let zone = checked.schedule.as_ref().map(|s| s.time_zone.clone()).unwrap_or(jiff::tz::TimeZone::UTC);
    let mut going = retention::plan(&policy, &candidates, rules, &zone, now);
    // A backup an unfinished restore (a drill, say) is about to restore is kept until it has.
    // Holding more can only keep more, so the restores are looked at only when something goes.
    if !going.is_empty() {
        let in_use = backups_in_use(ctx, &obj.namespace().unwrap_or_default()).await?;
        candidates.iter_mut().filter(|c| in_use.contains(&c.name)).for_each(|c| c.pinned = true);
        going = retention::plan(&policy, &candidates, rules, &zone, now);
    }
    let mut status = w.status.retention.clone().unwrap_or_default();
    status.last_run_time = Some(Time(now));
    let dry_run = obj.spec.retention.as_ref().is_some_and(|r| r.dry_run);
    if dry_run {
        status.would_delete = going;
    } else {
        status.would_delete = Vec::new();
        for name in &going {
            if !delete_once::<DynamoBackup>(ctx.cluster.as_ref(), &ns, name).await? {
                continue;
            }
            status.deleted += 1;
            let labels = PolicyLabels { namespace: obj.namespace().unwrap_or_default(), policy: obj.name_any() };
            ctx.metrics.retention_deletions.get_or_create(&labels).inc();
            publish(&ctx.recorder, obj, false, "RetentionDeleted", "Retention", format!("deleted DynamoBackup {name}")).await;
        }
    }
    w.status.retention = Some(status);
    Ok(())
}

/// The DynamoBackups of `namespace` that an unfinished DynamoRestore names in backupRef.
async fn backups_in_use(ctx: &Context, namespace: &str) -> Result<BTreeSet<String>, Error> {
    if !ctx.restores.wait_ready(Duration::from_secs(10)).await {
        return Err(Error::NotReady("the DynamoRestore cache"));
    }
    Ok(ctx
        .restores
        .in_namespace(namespace)
        .iter()
        .filter(|r| r.metadata.deletion_timestamp.is_none())
        .filter(|r| !matches!(r.status.as_ref().and_then(|s| s.phase), Some(RestorePhase::Completed | RestorePhase::Failed)))
        .filter_map(|r| r.spec.source.backup_ref.as_ref().map(|b| b.name.clone()))
        .collect())
}
