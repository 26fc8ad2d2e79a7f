//! Restore drills (`DynamoBackupPolicy.spec.drill`) with the real binary, apiserver and moto:
//! from the newest backup (rotating through the tables), from the latest restorable time, and a
//! failed verification that keeps the policy from Ready until a later drill passes.

use std::{sync::Arc, time::Duration};

use dynamo_backup_operator::api::{
    DeletionPolicy, DrillResult, DrillSource, DrillSpec, DrillStatus, DynamoBackupPolicy, DynamoRestore, labels,
};
use k8s_openapi::api::events::v1::Event;
use kube::{
    Api,
    api::{ListParams, PostParams},
};
use libtest_mimic::Trial;

use crate::{
    policy::{conditions, every, labelled_backup, policy},
    support::{
        Env, TestCtx, ensure,
        process::eventually,
        proxy::{FaultProxy, Rule},
        tables::{condition, create_table, items, table_exists, wait_condition},
    },
};

/// Drills every 10 s: a slot comes soon after the policy, and again after a failure.
const DRILL_EVERY: &str = "@every 10s";
const DRILL_WAIT: Duration = Duration::from_secs(120);

pub fn trials(env: &Arc<Env>) -> Vec<Trial> {
    vec![
        env.trial("drill_restores_the_newest_backup_of_each_table_in_turn_and_cleans_up", from_backups),
        env.trial("drill_restores_the_latest_restorable_time", from_pitr),
        env.trial("drill_that_fails_verification_keeps_the_policy_stalled_until_one_passes", failed_then_passed),
        env.trial("drill_outside_the_tenancy_file_fails_before_any_restore", tenancy),
        env.trial("drill_survives_an_operator_killed_while_it_runs", killed_mid_drill),
    ]
}

pub fn drill(source: DrillSource) -> DrillSpec {
    DrillSpec { schedule: every(DRILL_EVERY), source, tables_per_run: 0, verify: None, ttl_after_finished: Some("5s".into()) }
}

/// The policy's drill line for `table`, once `done` holds for it.
pub async fn drill_line(
    api: &Api<DynamoBackupPolicy>,
    name: &str,
    table: &str,
    done: impl Fn(&DrillStatus) -> bool,
) -> Result<DrillStatus, String> {
    eventually(&format!("a drill of {table} as wanted"), DRILL_WAIT, || async {
        let p = api.get(name).await.ok()?;
        let line = p.status?.drills.into_iter().find(|d| d.table == table)?;
        done(&line).then_some(line)
    })
    .await
}

/// Two tables, one drilled per run: each is restored from its newest backup in turn, verified,
/// timed, and its drill (object and table) deleted once ttlAfterFinished has passed.
async fn from_backups(ctx: TestCtx) -> Result<(), String> {
    let (orders, users) = (ctx.table("Orders"), ctx.table("Users"));
    create_table(&ctx.dynamo(), &orders, &[("o-1", "keyboard"), ("o-2", "mouse"), ("o-3", "desk")]).await?;
    create_table(&ctx.dynamo(), &users, &[("u-1", "ada")]).await?;
    let _op = ctx.start_operator(&[])?;
    // Backups as if the policy had made them, Available before the policy exists.
    labelled_backup(&ctx, "orders-snap", &orders, "drilled").await?;
    labelled_backup(&ctx, "users-snap", &users, "drilled").await?;
    let api: Api<DynamoBackupPolicy> = ctx.api();
    let mut p = policy("drilled", &[&orders, &users]);
    p.spec.drill = Some(DrillSpec { tables_per_run: 1, ..drill(DrillSource::LatestBackup) });
    api.create(&PostParams::default(), &p).await.map_err(|e| e.to_string())?;

    let first = drill_line(&api, "drilled", &orders, |d| d.result == DrillResult::Passed).await?;
    println!("first drill: {first:?}");
    ensure(first.restore_duration.is_some() && first.data_age.is_some(), || format!("not measured: {first:?}"))?;
    let restores: Api<DynamoRestore> = ctx.api();
    let name = first.restore.clone().ok_or("no restore named")?;
    // The drill may already be gone (ttlAfterFinished 5s); while it is there, it is a drill.
    if let Some(r) = restores.get_opt(&name).await.map_err(|e| e.to_string())? {
        ensure(r.metadata.labels.as_ref().and_then(|l| l.get(labels::TRIGGER)).map(String::as_str) == Some("drill"), || {
            format!("{:?}", r.metadata.labels)
        })?;
        ensure(r.spec.deletion_policy == DeletionPolicy::Delete, || "a drill keeps its table".into())?;
        ensure(r.spec.source.backup_ref.as_ref().map(|b| b.name.as_str()) == Some("orders-snap"), || format!("{:?}", r.spec.source))?;
        ensure(r.spec.target_table_name.starts_with(&format!("{orders}-drill-")), || r.spec.target_table_name.clone())?;
        if table_exists(&ctx.dynamo(), &r.spec.target_table_name).await {
            let restored = items(&ctx.dynamo(), &r.spec.target_table_name).await?;
            ensure(restored.len() == 3, || format!("the drill table holds {restored:?}"))?;
        }
    }
    // The other table's turn.
    let second = drill_line(&api, "drilled", &users, |d| d.result == DrillResult::Passed).await?;
    println!("second drill: {second:?}");

    // Clean-up: the first drill's object and table go 5 s after it finished.
    let target = format!("{orders}-drill-");
    eventually("the first drill and its table deleted", DRILL_WAIT, || async {
        let gone = restores.get_opt(&name).await.ok()?.is_none();
        let tables = ctx.dynamo().list_tables().send().await.ok()?;
        let left: Vec<&String> = tables.table_names().iter().filter(|t| t.starts_with(&target)).collect();
        // Later drills of the table may be under way; the first one's table must be gone.
        let suffix = name.rsplit("-drill-").next().unwrap_or_default();
        (gone && !left.iter().any(|t| t.ends_with(suffix))).then_some(())
    })
    .await?;

    let ready = wait_condition(&api, "drilled", "Ready", DRILL_WAIT, conditions).await?;
    let message = condition(&conditions(&ready), "Ready").map(|c| c.message.clone()).unwrap_or_default();
    ensure(message.contains("drill passed"), || message.clone())?;
    // Events follow the status (the operator queues them): wait for them.
    let events: Api<Event> = ctx.api();
    let reasons = eventually("events DrillStarted and DrillPassed", Duration::from_secs(10), || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        let reasons: Vec<String> = list
            .items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("drilled"))
            .filter_map(|e| e.reason)
            .collect();
        (reasons.iter().any(|r| r == "DrillStarted") && reasons.iter().any(|r| r == "DrillPassed")).then_some(reasons)
    })
    .await?;
    println!("events: {reasons:?}");
    Ok(())
}

/// A drill of the table's latest restorable time: restored, verified, the data's age measured.
async fn from_pitr(ctx: TestCtx) -> Result<(), String> {
    let sessions = ctx.table("Sessions");
    create_table(&ctx.dynamo(), &sessions, &[("s-1", "open"), ("s-2", "closed")]).await?;
    let _op = ctx.start_operator(&[])?;
    let api: Api<DynamoBackupPolicy> = ctx.api();
    let mut p = policy("pitr-drill", &[&sessions]);
    p.spec.drill = Some(drill(DrillSource::LatestRestorableTime));
    api.create(&PostParams::default(), &p).await.map_err(|e| e.to_string())?;
    let line = drill_line(&api, "pitr-drill", &sessions, |d| d.result == DrillResult::Passed).await?;
    println!("PITR drill: {line:?}");
    ensure(line.restore_duration.is_some() && line.data_age.is_some(), || format!("not measured: {line:?}"))?;
    ensure(line.message.as_deref().is_some_and(|m| m.contains("2 items")), || format!("{:?}", line.message))
}

/// The proxy makes the count of the restored table disagree with the snapshot: the drill fails,
/// the policy is Stalled (DrillFailed, not Ready) and says why; once the count is true again,
/// the next drill passes and the policy is Ready.
async fn failed_then_passed(ctx: TestCtx) -> Result<(), String> {
    let carts = ctx.table("Carts");
    create_table(&ctx.dynamo(), &carts, &[("c-1", "apple"), ("c-2", "pear"), ("c-3", "plum")]).await?;
    let proxy = FaultProxy::start(&ctx.env.moto.url).await?;
    proxy.add(Rule::ScanCount { add: 2 });
    let _op = ctx.start_operator_via(&proxy, &[])?;
    labelled_backup(&ctx, "carts-snap", &carts, "carts").await?;
    let api: Api<DynamoBackupPolicy> = ctx.api();
    let mut p = policy("carts", &[&carts]);
    p.spec.drill = Some(drill(DrillSource::LatestBackup));
    api.create(&PostParams::default(), &p).await.map_err(|e| e.to_string())?;

    let failed = drill_line(&api, "carts", &carts, |d| d.result == DrillResult::Failed).await?;
    println!("failed drill: {failed:?}");
    ensure(failed.message.as_deref().is_some_and(|m| m.contains("5 items") && m.contains("3")), || format!("{:?}", failed.message))?;
    let stalled = wait_condition(&api, "carts", "Stalled", DRILL_WAIT, conditions).await?;
    let cond = condition(&conditions(&stalled), "Stalled").cloned().ok_or("no Stalled condition")?;
    ensure(cond.reason == "DrillFailed" && cond.message.contains(&carts), || format!("{cond:?}"))?;
    let ready = condition(&conditions(&stalled), "Ready").map(|c| c.status.clone());
    ensure(ready.as_deref() == Some("False"), || format!("Ready is {ready:?} with a failed drill"))?;

    proxy.clear();
    let passed = drill_line(&api, "carts", &carts, |d| d.result == DrillResult::Passed).await?;
    println!("then: {passed:?}");
    wait_condition(&api, "carts", "Ready", DRILL_WAIT, conditions).await.map(|_| ())
}

/// A tenancy file that allows the table but not its drill tables: the drill fails with what to
/// allow, and no DynamoRestore is made.
async fn tenancy(ctx: TestCtx) -> Result<(), String> {
    let ledger = ctx.table("Ledger");
    create_table(&ctx.dynamo(), &ledger, &[("l-1", "debit")]).await?;
    let file = ctx.env.dir.join(format!("tenancy-drill-{}.yaml", ctx.namespace));
    std::fs::write(&file, format!("tenants:\n  - namespace: {}\n    tables: ['{ledger}']\n", ctx.namespace)).map_err(|e| e.to_string())?;
    let _op = ctx.start_operator(&[&format!("--tenancy-file={}", file.display())])?;
    let api: Api<DynamoBackupPolicy> = ctx.api();
    let mut p = policy("ledger", &[&ledger]);
    p.spec.drill = Some(drill(DrillSource::LatestRestorableTime));
    api.create(&PostParams::default(), &p).await.map_err(|e| e.to_string())?;
    let line = drill_line(&api, "ledger", &ledger, |d| d.result == DrillResult::Failed).await?;
    println!("refused drill: {line:?}");
    ensure(line.message.as_deref().is_some_and(|m| m.contains("tenancy file") && m.contains(&format!("{ledger}-drill-*"))), || {
        format!("{:?}", line.message)
    })?;
    let restores: Api<DynamoRestore> = ctx.api();
    let made = restores.list(&ListParams::default()).await.map_err(|e| e.to_string())?.items;
    ensure(made.is_empty(), || format!("{} DynamoRestore(s) made", made.len()))?;
    let stalled = wait_condition(&api, "ledger", "Stalled", DRILL_WAIT, conditions).await?;
    let reason = condition(&conditions(&stalled), "Stalled").map(|c| c.reason.clone()).unwrap_or_default();
    ensure(reason == "DrillFailed", || reason.clone())
}

/// The operator is killed once a drill's DynamoRestore exists; a new one follows that drill to
/// its end: one restore and one table for the slot, the policy told.
async fn killed_mid_drill(ctx: TestCtx) -> Result<(), String> {
    let stock = ctx.table("Stock");
    create_table(&ctx.dynamo(), &stock, &[("s-1", "bolts"), ("s-2", "nuts")]).await?;
    let mut first = ctx.start_operator(&[])?;
    labelled_backup(&ctx, "stock-snap", &stock, "stock").await?;
    let api: Api<DynamoBackupPolicy> = ctx.api();
    let mut p = policy("stock", &[&stock]);
    // One slot a minute: the restart happens within the slot's drill.
    p.spec.drill = Some(DrillSpec { schedule: every("@every 1m"), ..drill(DrillSource::LatestBackup) });
    api.create(&PostParams::default(), &p).await.map_err(|e| e.to_string())?;
    let restores: Api<DynamoRestore> = ctx.api();
    let name = eventually("the drill's DynamoRestore", DRILL_WAIT, || async {
        restores.list(&ListParams::default()).await.ok()?.items.into_iter().next().and_then(|r| r.metadata.name)
    })
    .await?;
    first.process.signal(libc::SIGKILL);
    first.process.wait_timeout(Duration::from_secs(10)).ok_or("the operator survived SIGKILL")?;
    let _second = ctx.start_operator(&[])?;
    let line =
        drill_line(&api, "stock", &stock, |d| d.result == DrillResult::Passed && d.restore.as_deref() == Some(name.as_str())).await?;
    println!("after the restart: {line:?}");
    let suffix = name.rsplit("-drill-").next().unwrap_or_default().to_owned();
    let tables = ctx.dynamo().list_tables().send().await.map_err(|e| e.to_string())?;
    let drilled: Vec<&String> = tables.table_names().iter().filter(|t| t.starts_with(&format!("{stock}-drill-{suffix}"))).collect();
    ensure(drilled.len() <= 1, || format!("tables of one drill: {drilled:?}"))?;
    let same_slot = restores
        .list(&ListParams::default())
        .await
        .map_err(|e| e.to_string())?
        .items
        .into_iter()
        .filter(|r| r.metadata.name.as_deref().is_some_and(|n| n.ends_with(&suffix)))
        .count();
    ensure(same_slot <= 1, || format!("{same_slot} DynamoRestores for one slot"))
}
