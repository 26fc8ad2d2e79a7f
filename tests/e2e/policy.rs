//! DynamoBackupPolicy against the real apiserver and moto, with the real binary: PITR, a
//! schedule with retention, catch-up after downtime, dry runs, and the policy's deletion.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use dynamo_backup_operator::api::{
    BackupPhase, BackupSchedule, DeletionPolicy, DynamoBackup, DynamoBackupPolicy, DynamoBackupPolicySpec, OnPolicyDelete,
    PointInTimeRecoverySpec, PreRollout, Retention, WorkloadKind, WorkloadSelector, labels,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams},
};
use libtest_mimic::Trial;

use crate::{
    backup::{self, WAIT},
    support::{
        Env, TestCtx, ensure,
        process::eventually,
        proxy::{FaultProxy, Rule},
        tables::{backups_of, create_table, wait_condition},
    },
};

pub fn trials(env: &Arc<Env>) -> Vec<Trial> {
    vec![
        env.trial("policy_turns_pitr_on_for_its_tables", pitr_on),
        env.trial("policy_every_20s_backs_up_and_keeps_the_last_two_and_the_pinned", schedule_and_retention),
        env.trial("policy_after_downtime_makes_one_catch_up_per_table", catch_up),
        env.trial("policy_dry_run_lists_and_deletes_nothing", dry_run),
        env.trial("policy_deleted_with_orphan_keeps_every_backup", orphan),
        env.trial("policy_deleted_with_delete_backups_removes_them", delete_backups),
        env.trial("policy_snapshots_before_a_new_rollout_only", pre_rollout),
        env.trial("policy_with_a_missing_table_backs_up_the_others_and_says_so", missing_table),
        env.trial("policy_skips_a_slot_while_the_previous_backup_is_creating", previous_in_progress),
    ]
}

pub fn policy(name: &str, tables: &[&str]) -> DynamoBackupPolicy {
    DynamoBackupPolicy::new(
        name,
        DynamoBackupPolicySpec {
            tables: tables.iter().map(|t| (*t).to_owned()).collect(),
            table_selector: None,
            region: None,
            point_in_time_recovery: PointInTimeRecoverySpec::default(),
            schedule: None,
            pre_rollout: None,
            retention: None,
            backup_deletion_policy: DeletionPolicy::Delete,
            on_policy_delete: OnPolicyDelete::Orphan,
            backup: None,
            drill: None,
        },
    )
}

pub fn every(cron: &str) -> BackupSchedule {
    BackupSchedule { cron: cron.into(), time_zone: None, jitter: None, starting_deadline: None, suspend: false }
}

pub(crate) fn keep_last(n: u32) -> Retention {
    Retention { keep_last: Some(n), min_available: 1, ..Default::default() }
}

pub fn conditions(p: &DynamoBackupPolicy) -> Vec<Condition> {
    p.status.as_ref().map(|s| s.conditions.clone()).unwrap_or_default()
}

/// The policy's DynamoBackups (not being deleted), by table.
async fn children(ctx: &TestCtx, policy: &str) -> Result<BTreeMap<String, Vec<DynamoBackup>>, String> {
    let api: Api<DynamoBackup> = ctx.api();
    let list = api.list(&ListParams::default().labels(&format!("{}={policy}", labels::POLICY))).await.map_err(|e| e.to_string())?;
    let mut by_table: BTreeMap<String, Vec<DynamoBackup>> = BTreeMap::new();
    for b in list.items.into_iter().filter(|b| b.metadata.deletion_timestamp.is_none()) {
        by_table.entry(b.spec.table_name.clone()).or_default().push(b);
    }
    Ok(by_table)
}

/// A DynamoBackup that looks as if `policy` made it, Available before the test goes on.
pub(crate) async fn labelled_backup(ctx: &TestCtx, name: &str, table: &str, policy: &str) -> Result<(), String> {
    let api: Api<DynamoBackup> = ctx.api();
    let mut b = backup::backup(name, table, DeletionPolicy::Delete);
    b.metadata.labels =
        Some(BTreeMap::from([(labels::POLICY.to_owned(), policy.to_owned()), (labels::TRIGGER.to_owned(), "manual".to_owned())]));
    api.create(&PostParams::default(), &b).await.map_err(|e| e.to_string())?;
    wait_condition(&api, name, "Ready", WAIT, backup::conditions).await.map(|_| ())
}

async fn pitr_on(ctx: TestCtx) -> Result<(), String> {
    let (orders, items) = (ctx.table("Orders"), ctx.table("OrderItems"));
    create_table(&ctx.dynamo(), &orders, &[("o-1", "keyboard")]).await?;
    create_table(&ctx.dynamo(), &items, &[("i-1", "key")]).await?;
    let op = ctx.start_operator(&[])?;
    let api: Api<DynamoBackupPolicy> = ctx.api();
    let mut p = policy("pitr", &[&orders, &items]);
    p.spec.point_in_time_recovery = PointInTimeRecoverySpec { enabled: true, recovery_period_in_days: 7 };
    api.create(&PostParams::default(), &p).await.map_err(|e| e.to_string())?;
    let ready = wait_condition(&api, "pitr", "Ready", WAIT, conditions).await?;
    let status = ready.status.clone().ok_or("no status")?;
    println!("tables: {}", serde_json::to_string_pretty(&status.tables).unwrap_or_default());
    for table in [&orders, &items] {
        let line = status.tables.iter().find(|t| &t.name == table).ok_or("a table is missing from status")?;
        let pitr = line.point_in_time_recovery.clone().ok_or("no PITR in status")?;
        ensure(pitr.status == "ENABLED" && pitr.recovery_period_in_days == Some(7), || format!("{pitr:?}"))?;
        ensure(pitr.earliest_restorable_time.is_some() && pitr.latest_restorable_time.is_some(), || "no window".into())?;
        let seen = ctx.dynamo().describe_continuous_backups().table_name(table).send().await.map_err(|e| e.to_string())?;
        let desc = seen.continuous_backups_description().and_then(|d| d.point_in_time_recovery_description()).ok_or("no PITR")?;
        ensure(
            desc.point_in_time_recovery_status().map(|s| s.as_str()) == Some("ENABLED") && desc.recovery_period_in_days() == Some(7),
            || format!("DynamoDB says {desc:?}"),
        )?;
    }
    ensure(!op.process.log_text().contains("watching Deployments"), || "workloads watched without a preRollout policy".into())
}

async fn schedule_and_retention(ctx: TestCtx) -> Result<(), String> {
    let (orders, items) = (ctx.table("Orders"), ctx.table("OrderItems"));
    create_table(&ctx.dynamo(), &orders, &[("o-1", "keyboard")]).await?;
    create_table(&ctx.dynamo(), &items, &[("i-1", "key")]).await?;
    let proxy = FaultProxy::start(&ctx.env.moto.url).await?;
    let _op = ctx.start_operator_via(&proxy, &[])?;
    let api: Api<DynamoBackupPolicy> = ctx.api();
    let mut p = policy("nightly", &[&orders, &items]);
    p.spec.schedule = Some(every("@every 20s"));
    p.spec.retention = Some(keep_last(2));
    api.create(&PostParams::default(), &p).await.map_err(|e| e.to_string())?;

    // Pin the first backup of Orders as soon as it is Available.
    let first = eventually("a first scheduled backup of Orders", Duration::from_secs(60), || async {
        let by_table = children(&ctx, "nightly").await.ok()?;
        by_table.get(&orders)?.iter().find(|b| b.status.as_ref().and_then(|s| s.phase) == Some(BackupPhase::Available)).cloned()
    })
    .await?;
    let pinned = first.name_any();
    let backups: Api<DynamoBackup> = ctx.api();
    let pin = serde_json::json!({"metadata": {"labels": {labels::PINNED: "true"}}});
    backups.patch(&pinned, &PatchParams::default(), &Patch::Merge(&pin)).await.map_err(|e| e.to_string())?;

    // A few more slots: retention deletes, and between two of its runs a fresh backup may be
    // Available for a moment; wait for a moment when both tables are trimmed.
    let unpinned_available = |list: &[DynamoBackup]| {
        list.iter()
            .filter(|b| b.labels().get(labels::PINNED).is_none() && b.status.as_ref().and_then(|s| s.phase) == Some(BackupPhase::Available))
            .count()
    };
    // Three deletions need four slots of both tables (80 s), plus the wait for the first slot.
    let settled = eventually("retention to have trimmed both tables to two", Duration::from_secs(240), || async {
        let p = api.get("nightly").await.ok()?;
        let deleted = p.status.as_ref()?.retention.as_ref()?.deleted;
        let by_table = children(&ctx, "nightly").await.ok()?;
        let trimmed = [&orders, &items].iter().all(|t| by_table.get(*t).is_some_and(|l| unpinned_available(l) == 2));
        (deleted >= 3 && trimmed).then_some(p)
    })
    .await?;
    let by_table = children(&ctx, "nightly").await?;
    let mut drifts = Vec::new();
    for table in [&orders, &items] {
        let list = by_table.get(table).cloned().unwrap_or_default();
        let names: Vec<String> = list.iter().map(|b| b.name_any()).collect();
        println!("{table}: {names:?}");
        for b in &list {
            let l = b.labels();
            ensure(l.get(labels::TRIGGER).map(String::as_str) == Some("schedule") || b.name_any() == pinned, || {
                format!("trigger label on {}", b.name_any())
            })?;
            ensure(l.get(labels::TABLE).is_some() && l.get(labels::POLICY).map(String::as_str) == Some("nightly"), || {
                format!("labels {l:?}")
            })?;
            let slot = b.annotations().get(labels::SCHEDULED_TIME).ok_or("no scheduled-time")?;
            let _: jiff::Timestamp = slot.parse().map_err(|e| format!("{slot}: {e}"))?;
        }
        // Deleted DynamoBackups took their DynamoDB backups with them (backupDeletionPolicy Delete).
        let in_dynamo = backups_of(&ctx.dynamo(), table).await?.len();
        let left = eventually("DynamoDB backups to follow the objects", Duration::from_secs(30), || {
            let ctx = &ctx;
            let count = list.len();
            async move {
                let n = backups_of(&ctx.dynamo(), table).await.ok()?.len();
                (n == count).then_some(n)
            }
        })
        .await
        .map_err(|e| format!("{e}: {in_dynamo} in DynamoDB"))?;
        println!("{table}: {left} backups in DynamoDB");
    }
    ensure(children(&ctx, "nightly").await?.get(&orders).is_some_and(|l| l.iter().any(|b| b.name_any() == pinned)), || {
        "the pinned backup went".into()
    })?;
    // Drift: from each slot to the CreateBackup request DynamoDB received for it (the proxy's clock).
    let all: Vec<DynamoBackup> = {
        let api: Api<DynamoBackup> = ctx.api();
        api.list(&ListParams::default()).await.map_err(|e| e.to_string())?.items
    };
    for (body, at) in proxy.requests_at("CreateBackup") {
        let name = body["BackupName"].as_str().unwrap_or_default();
        let slot = all
            .iter()
            .find(|b| b.status.as_ref().and_then(|s| s.backup_name.as_deref()) == Some(name))
            .and_then(|b| b.annotations().get(labels::SCHEDULED_TIME).and_then(|s| s.parse::<jiff::Timestamp>().ok()));
        if let Some(slot) = slot {
            drifts.push(at.duration_since(slot).as_secs_f64());
        }
    }
    drifts.sort_by(f64::total_cmp);
    if let (Some(max), false) = (drifts.last(), drifts.is_empty()) {
        println!(
            "slot time -> CreateBackup request: median {:.2} s, max {max:.2} s over {} backups",
            drifts[drifts.len() / 2],
            drifts.len()
        );
    }
    let status = settled.status.ok_or("no status")?;
    ensure(
        status.last_schedule_time.is_some() && status.next_schedule_time.is_some() && status.last_successful_backup_time.is_some(),
        || "schedule times".into(),
    )
}

async fn catch_up(ctx: TestCtx) -> Result<(), String> {
    let (orders, items) = (ctx.table("Orders"), ctx.table("OrderItems"));
    create_table(&ctx.dynamo(), &orders, &[("o-1", "keyboard")]).await?;
    create_table(&ctx.dynamo(), &items, &[("i-1", "key")]).await?;
    let mut first = ctx.start_operator(&[])?;
    let api: Api<DynamoBackupPolicy> = ctx.api();
    let mut p = policy("hourly", &[&orders, &items]);
    let mut s = every("@every 20s");
    s.starting_deadline = Some("1m".into());
    p.spec.schedule = Some(s);
    api.create(&PostParams::default(), &p).await.map_err(|e| e.to_string())?;
    let taken = eventually("the first slot taken", Duration::from_secs(60), || async {
        let p = api.get("hourly").await.ok()?;
        p.status?.last_schedule_time.map(|t| t.0)
    })
    .await?;
    ensure(first.terminate(Duration::from_secs(15)) == Some(0), || "the operator did not stop".into())?;
    let before: usize = children(&ctx, "hourly").await?.values().map(Vec::len).sum();

    // Down for a little over two slots.
    tokio::time::sleep(Duration::from_secs(45)).await;
    let restart = jiff::Timestamp::now();
    let _second = ctx.start_operator(&[])?;
    let after = eventually("one catch-up backup per table", Duration::from_secs(30), || async {
        let p = api.get("hourly").await.ok()?;
        p.status.as_ref()?.last_schedule_time.as_ref().filter(|t| t.0 > taken && t.0 < restart)?;
        Some(p)
    })
    .await?;
    let by_table = children(&ctx, "hourly").await?;
    for table in [&orders, &items] {
        let list = by_table.get(table).cloned().unwrap_or_default();
        let slots: Vec<String> = list.iter().filter_map(|b| b.annotations().get(labels::SCHEDULED_TIME).cloned()).collect();
        let during: Vec<&String> = slots.iter().filter(|s| s.parse::<jiff::Timestamp>().is_ok_and(|t| t > taken && t < restart)).collect();
        println!("{table}: slots {slots:?}");
        ensure(during.len() == 1, || format!("expected one catch-up for {table} while down, got {during:?}"))?;
    }
    let skipped = after.status.map(|s| s.skipped_slots).unwrap_or_default();
    println!("skipped: {skipped:?} (before the stop: {before} backups)");
    ensure(skipped.iter().any(|s| s.reason == "Missed"), || format!("no skipped slot reported: {skipped:?}"))
}

async fn dry_run(ctx: TestCtx) -> Result<(), String> {
    let orders = ctx.table("Orders");
    create_table(&ctx.dynamo(), &orders, &[("o-1", "keyboard")]).await?;
    let _op = ctx.start_operator(&[])?;
    for name in ["old", "older", "newest"] {
        labelled_backup(&ctx, name, &orders, "trial").await?;
    }
    let api: Api<DynamoBackupPolicy> = ctx.api();
    let mut p = policy("trial", &[&orders]);
    p.spec.retention = Some(Retention { dry_run: true, ..keep_last(1) });
    api.create(&PostParams::default(), &p).await.map_err(|e| e.to_string())?;
    let listed = eventually("wouldDelete in status", WAIT, || async {
        let p = api.get("trial").await.ok()?;
        let r = p.status?.retention?;
        (r.would_delete.len() == 2).then_some(r)
    })
    .await?;
    println!("dry run: would delete {:?}, deleted {}", listed.would_delete, listed.deleted);
    ensure(listed.deleted == 0, || "a dry run deleted".into())?;
    ensure(children(&ctx, "trial").await?.get(&orders).map(Vec::len) == Some(3), || "a backup went in a dry run".into())
}

async fn orphan(ctx: TestCtx) -> Result<(), String> {
    let orders = ctx.table("Orders");
    create_table(&ctx.dynamo(), &orders, &[("o-1", "keyboard")]).await?;
    let _op = ctx.start_operator(&[])?;
    labelled_backup(&ctx, "kept-1", &orders, "gone").await?;
    labelled_backup(&ctx, "kept-2", &orders, "gone").await?;
    let api: Api<DynamoBackupPolicy> = ctx.api();
    api.create(&PostParams::default(), &policy("gone", &[&orders])).await.map_err(|e| e.to_string())?;
    wait_condition(&api, "gone", "Ready", WAIT, conditions).await?;
    api.delete("gone", &DeleteParams::default()).await.map_err(|e| e.to_string())?;
    eventually("the policy to be gone", WAIT, || async { api.get_opt("gone").await.ok().and_then(|p| p.is_none().then_some(())) }).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    ensure(children(&ctx, "gone").await?.get(&orders).map(Vec::len) == Some(2), || "a DynamoBackup went with the policy".into())?;
    ensure(backups_of(&ctx.dynamo(), &orders).await?.len() == 2, || "a DynamoDB backup went with the policy".into())
}

async fn delete_backups(ctx: TestCtx) -> Result<(), String> {
    let orders = ctx.table("Orders");
    create_table(&ctx.dynamo(), &orders, &[("o-1", "keyboard")]).await?;
    let _op = ctx.start_operator(&[])?;
    labelled_backup(&ctx, "owned-1", &orders, "cleanup").await?;
    let api: Api<DynamoBackupPolicy> = ctx.api();
    let mut p = policy("cleanup", &[&orders]);
    p.spec.on_policy_delete = OnPolicyDelete::DeleteBackups;
    api.create(&PostParams::default(), &p).await.map_err(|e| e.to_string())?;
    wait_condition(&api, "cleanup", "Ready", WAIT, conditions).await?;
    api.delete("cleanup", &DeleteParams::default()).await.map_err(|e| e.to_string())?;
    eventually("the policy's backups to be gone", WAIT, || async {
        let none_left = children(&ctx, "cleanup").await.ok()?.is_empty();
        let dynamo_empty = backups_of(&ctx.dynamo(), &orders).await.ok()?.is_empty();
        (none_left && dynamo_empty).then_some(())
    })
    .await
}

fn deployment(image: &str, replicas: i32) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "orders-api", "labels": {"app": "orders-api"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "orders-api"}},
            "template": {
                "metadata": {"labels": {"app": "orders-api"}},
                "spec": {"containers": [{"name": "api", "image": image}]}
            }
        }
    })
}

async fn pre_rollout_backups(ctx: &TestCtx) -> Result<Vec<DynamoBackup>, String> {
    let by_table = children(ctx, "guarded").await?;
    Ok(by_table.into_values().flatten().filter(|b| b.labels().get(labels::TRIGGER).map(String::as_str) == Some("pre-rollout")).collect())
}

async fn pre_rollout(ctx: TestCtx) -> Result<(), String> {
    let (orders, items) = (ctx.table("Orders"), ctx.table("OrderItems"));
    create_table(&ctx.dynamo(), &orders, &[("o-1", "keyboard")]).await?;
    create_table(&ctx.dynamo(), &items, &[("i-1", "key")]).await?;
    let deployments: Api<Deployment> = ctx.api();
    let apply = PatchParams::apply("e2e-gitops");
    deployments.patch("orders-api", &apply, &Patch::Apply(deployment("orders:41", 1))).await.map_err(|e| e.to_string())?;
    let op = ctx.start_operator(&[])?;
    let api: Api<DynamoBackupPolicy> = ctx.api();
    let mut p = policy("guarded", &[&orders, &items]);
    p.spec.pre_rollout = Some(PreRollout {
        workloads: vec![WorkloadSelector { kind: WorkloadKind::Deployment, name: Some("orders-api".into()), selector: None }],
    });
    api.create(&PostParams::default(), &p).await.map_err(|e| e.to_string())?;
    let first = eventually("the rollout recorded", WAIT, || async {
        let p = api.get("guarded").await.ok()?;
        p.status?.rollouts.first().map(|r| r.template_hash.clone())
    })
    .await?;
    ensure(pre_rollout_backups(&ctx).await?.is_empty(), || "a snapshot on first sight".into())?;

    deployments.patch("orders-api", &apply, &Patch::Apply(deployment("orders:42", 1))).await.map_err(|e| e.to_string())?;
    let taken = eventually("one pre-rollout backup per table", WAIT, || async {
        let list = pre_rollout_backups(&ctx).await.ok()?;
        (list.len() == 2 && list.iter().all(|b| b.status.as_ref().and_then(|s| s.phase) == Some(BackupPhase::Available))).then_some(list)
    })
    .await?;
    let names: Vec<String> = taken.iter().map(|b| b.name_any()).collect();
    let status = api.get("guarded").await.map_err(|e| e.to_string())?.status.ok_or("no status")?;
    let rollout = status.rollouts.first().cloned().ok_or("no rollout")?;
    println!("template {first} -> {}: {names:?}", rollout.template_hash);
    ensure(rollout.template_hash != first && names.iter().all(|n| n.ends_with(&format!("pre-{}", rollout.template_hash))), || {
        format!("{rollout:?}")
    })?;
    ensure(rollout.backup.as_ref().is_some_and(|b| names.contains(b)), || format!("{rollout:?}"))?;

    // Replicas only, then the same template again: no more snapshots.
    deployments.patch("orders-api", &apply, &Patch::Apply(deployment("orders:42", 3))).await.map_err(|e| e.to_string())?;
    deployments.patch("orders-api", &apply, &Patch::Apply(deployment("orders:42", 3))).await.map_err(|e| e.to_string())?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    ensure(pre_rollout_backups(&ctx).await?.len() == 2, || "a snapshot without a new template".into())?;

    let d = deployments.get("orders-api").await.map_err(|e| e.to_string())?;
    let managers: Vec<String> = d.metadata.managed_fields.unwrap_or_default().into_iter().filter_map(|m| m.manager).collect();
    ensure(managers.iter().all(|m| m == "e2e-gitops"), || format!("someone else wrote the Deployment: {managers:?}"))?;

    // The workload watch lives exactly as long as a policy with preRollout in the namespace.
    ensure(op.process.log_text().contains("watching Deployments and StatefulSets for preRollout"), || "no workload watch".into())?;
    api.delete("guarded", &DeleteParams::default()).await.map_err(|e| e.to_string())?;
    eventually("the workload watch to stop", WAIT, || {
        let log = op.process.log_text();
        async move { log.contains("stopped watching workloads").then_some(()) }
    })
    .await
}

async fn missing_table(ctx: TestCtx) -> Result<(), String> {
    let (orders, ghost) = (ctx.table("Orders"), ctx.table("Ghost"));
    create_table(&ctx.dynamo(), &orders, &[("o-1", "keyboard")]).await?;
    let _op = ctx.start_operator(&[])?;
    let api: Api<DynamoBackupPolicy> = ctx.api();
    let mut p = policy("partial", &[&orders, &ghost]);
    p.spec.schedule = Some(every("@every 20s"));
    api.create(&PostParams::default(), &p).await.map_err(|e| e.to_string())?;
    let stalled = wait_condition(&api, "partial", "Stalled", WAIT, conditions).await?;
    let cond = crate::support::tables::condition(&conditions(&stalled), "Stalled").cloned().ok_or("no Stalled")?;
    println!("Stalled: {} — {}", cond.reason, cond.message);
    ensure(cond.reason == "TableNotFound" && cond.message.contains(&ghost) && !cond.message.contains(&format!("{orders},")), || {
        format!("{cond:?}")
    })?;
    let reported = eventually("the slot skipped for the missing table", Duration::from_secs(60), || async {
        let p = api.get("partial").await.ok()?;
        let status = p.status?;
        status.skipped_slots.iter().any(|s| s.reason == "TableNotFound" && s.table.as_deref() == Some(ghost.as_str())).then_some(status)
    })
    .await?;
    let by_table = children(&ctx, "partial").await?;
    ensure(by_table.contains_key(&orders) && !by_table.contains_key(&ghost), || format!("backups: {:?}", by_table.keys()))?;
    ensure(reported.phase == Some(dynamo_backup_operator::api::PolicyPhase::Degraded), || format!("phase {:?}", reported.phase))
}

async fn previous_in_progress(ctx: TestCtx) -> Result<(), String> {
    let orders = ctx.table("Orders");
    create_table(&ctx.dynamo(), &orders, &[("o-1", "keyboard")]).await?;
    let proxy = FaultProxy::start(&ctx.env.moto.url).await?;
    // Every backup stays CREATING for a long while.
    proxy.add(Rule::BackupCreating { times: 1_000 });
    let _op = ctx.start_operator_via(&proxy, &[])?;
    let api: Api<DynamoBackupPolicy> = ctx.api();
    let mut p = policy("slow", &[&orders]);
    p.spec.schedule = Some(every("@every 20s"));
    api.create(&PostParams::default(), &p).await.map_err(|e| e.to_string())?;
    let skipped = eventually("a slot skipped as PreviousBackupInProgress", Duration::from_secs(90), || async {
        let p = api.get("slow").await.ok()?;
        p.status?.skipped_slots.into_iter().find(|s| s.reason == "PreviousBackupInProgress")
    })
    .await?;
    println!("skipped: {skipped:?}");
    let list = children(&ctx, "slow").await?.remove(&orders).unwrap_or_default();
    ensure(list.len() == 1, || {
        format!("a second backup while the first was creating: {:?}", list.iter().map(|b| b.name_any()).collect::<Vec<_>>())
    })
}
