//! Copy-back (`DynamoRestore.spec.copyBack`) against the real apiserver and moto, with the real
//! binary: the seeds' UserProfiles incident with a dry run and the flip, an item the application
//! re-creates mid-copy, a SIGKILL mid-copy, throttling, `Listed`, a tenancy refusal, and a point
//! in time source. moto's PITR keeps no history (it restores the table as it is now), so the
//! incident restores a DynamoBackup taken before the bug.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use dynamo_backup_operator::api::{CopyBackPhase, CopyBackStatus, DeletionPolicy, DynamoBackup, DynamoRestore};
use futures::{StreamExt, TryStreamExt};
use kube::{
    Api,
    api::{Patch, PatchParams, PostParams},
};
use libtest_mimic::Trial;
use serde_json::{Value as Json, json};

use crate::{
    backup::{self, WAIT},
    restore::conditions,
    support::{
        Env, TestCtx, ensure,
        process::eventually,
        proxy::{FaultProxy, Rule},
        tables::{create_table, delete, items, put, wait_condition},
    },
};

pub fn trials(env: &Arc<Env>) -> Vec<Trial> {
    vec![
        env.trial("restore_copy_back_repairs_the_userprofiles_incident", incident),
        env.trial("restore_copy_back_never_overwrites_an_item_recreated_meanwhile", recreated),
        env.trial("restore_copy_back_resumes_after_sigkill_without_writing_twice", killed),
        env.trial("restore_copy_back_goes_on_under_throttling", throttled),
        env.trial("restore_copy_back_listed_overwrites_exactly_its_keys", listed),
        env.trial("restore_copy_back_into_outside_the_tenancy_is_refused_before_any_read", tenancy),
        env.trial("restore_copy_back_from_a_point_in_time", point_in_time),
    ]
}

fn user(i: usize) -> String {
    format!("user-{i:04}")
}

/// UserProfiles with `count` users, and a Ready DynamoBackup `before-bug` of it; the table's name.
async fn profiles(ctx: &TestCtx, count: usize) -> Result<String, String> {
    let table = ctx.table("UserProfiles");
    create_table(&ctx.dynamo(), &table, &[]).await?;
    put_all(ctx, &table, (0..count).map(|i| (user(i), format!("profile {i}")))).await?;
    let backups: Api<DynamoBackup> = ctx.api();
    backups
        .create(&PostParams::default(), &backup::backup("before-bug", &table, DeletionPolicy::Retain))
        .await
        .map_err(|e| e.to_string())?;
    wait_condition(&backups, "before-bug", "Ready", WAIT, backup::conditions).await?;
    Ok(table)
}

async fn put_all(ctx: &TestCtx, table: &str, rows: impl Iterator<Item = (String, String)>) -> Result<(), String> {
    let db = ctx.dynamo();
    futures::stream::iter(rows.map(|(id, item)| {
        let (db, table) = (db.clone(), table.to_owned());
        async move { put(&db, &table, &id, &item).await }
    }))
    .buffer_unordered(16)
    .try_collect::<Vec<()>>()
    .await
    .map(|_| ())
}

async fn delete_all(ctx: &TestCtx, table: &str, ids: impl Iterator<Item = usize>) -> Result<(), String> {
    let db = ctx.dynamo();
    futures::stream::iter(ids.map(|i| {
        let (db, table) = (db.clone(), table.to_owned());
        async move { delete(&db, &table, &user(i)).await }
    }))
    .buffer_unordered(16)
    .try_collect::<Vec<()>>()
    .await
    .map(|_| ())
}

/// Every item of `table` (all pages), id -> item.
async fn all_items(ctx: &TestCtx, table: &str) -> Result<BTreeMap<String, String>, String> {
    let mut all = BTreeMap::new();
    let mut start = None;
    loop {
        let out = ctx
            .dynamo()
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| format!("Scan {table}: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        all.extend(out.items().iter().filter_map(|i| Some((i.get("orderId")?.as_s().ok()?.clone(), i.get("item")?.as_s().ok()?.clone()))));
        match out.last_evaluated_key() {
            Some(key) if !key.is_empty() => start = Some(key.clone()),
            _ => return Ok(all),
        }
    }
}

fn repair(name: &str, target: &str, copy_back: Json) -> Result<DynamoRestore, String> {
    serde_json::from_value(json!({
        "apiVersion": "dynamobackup.io/v1alpha1",
        "kind": "DynamoRestore",
        "metadata": {"name": name},
        "spec": {"source": {"backupRef": {"name": "before-bug"}}, "targetTableName": target, "copyBack": copy_back},
    }))
    .map_err(|e| e.to_string())
}

fn copy_status(r: &DynamoRestore) -> CopyBackStatus {
    r.status.as_ref().and_then(|s| s.copy_back.clone()).unwrap_or_default()
}

/// Waits until the copy-back of `name` is Completed for this `dry_run`.
async fn completed(api: &Api<DynamoRestore>, name: &str, dry_run: bool, wait: Duration) -> Result<CopyBackStatus, String> {
    eventually(&format!("copy-back of {name} completed (dryRun {dry_run})"), wait, || {
        let api = api.clone();
        async move {
            let s = copy_status(&api.get(name).await.ok()?);
            (s.dry_run == dry_run && s.phase == Some(CopyBackPhase::Completed)).then_some(s)
        }
    })
    .await
}

async fn flip(api: &Api<DynamoRestore>, name: &str) -> Result<(), String> {
    let patch = json!({"spec": {"copyBack": {"dryRun": false}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.map(|_| ()).map_err(|e| e.to_string())
}

/// 1,000 users; a bug deletes 300; the application then writes 50 new users and changes 20.
/// A dry run reports 300 missing and 20 differing and writes nothing; after the flip, the 300
/// are back and the 50 new and 20 changed are untouched.
async fn incident(ctx: TestCtx) -> Result<(), String> {
    let proxy = FaultProxy::start(&ctx.env.moto.url).await?;
    let _op = ctx.start_operator_via(&proxy, &[])?;
    let table = profiles(&ctx, 1000).await?;
    let before = all_items(&ctx, &table).await?;
    delete_all(&ctx, &table, 0..300).await?;
    put_all(&ctx, &table, (1000..1050).map(|i| (user(i), format!("new {i}")))).await?;
    put_all(&ctx, &table, (500..520).map(|i| (user(i), format!("changed {i}")))).await?;
    let after_bug = all_items(&ctx, &table).await?;
    let api: Api<DynamoRestore> = ctx.api();
    api.create(&PostParams::default(), &repair("repair", &ctx.table("UserProfiles-before-bug"), json!({"dryRun": true}))?)
        .await
        .map_err(|e| e.to_string())?;
    let dry = completed(&api, "repair", true, Duration::from_secs(120)).await?;
    println!("dry run: {}", dry.message.as_deref().unwrap_or_default());
    ensure((dry.scanned, dry.missing, dry.differing, dry.written) == (1000, 300, 20, 0), || format!("{dry:?}"))?;
    ensure(dry.sample_missing.len() == 20, || format!("{dry:?}"))?;
    ensure(proxy.count("PutItem") == 0, || "a dry run wrote".into())?;
    ensure(all_items(&ctx, &table).await? == after_bug, || "a dry run changed the live table".into())?;

    flip(&api, "repair").await?;
    let done = completed(&api, "repair", false, Duration::from_secs(120)).await?;
    println!("copied back: {}", done.message.as_deref().unwrap_or_default());
    ensure((done.missing, done.differing, done.written, done.skipped) == (300, 20, 300, 0), || format!("{done:?}"))?;
    wait_condition(&api, "repair", "Ready", WAIT, conditions).await?;
    let now = all_items(&ctx, &table).await?;
    ensure(now.len() == 1050, || format!("{} items", now.len()))?;
    for i in 0..300 {
        ensure(now.get(&user(i)) == before.get(&user(i)), || format!("{} not back as it was", user(i)))?;
    }
    for i in (500..520).chain(1000..1050) {
        ensure(now.get(&user(i)) == after_bug.get(&user(i)), || format!("{} was touched", user(i)))?;
    }
    let puts = proxy.requests("PutItem");
    ensure(
        puts.len() == 300 && puts.iter().all(|p| p["ConditionExpression"].as_str().is_some_and(|c| c.contains("attribute_not_exists"))),
        || format!("{} PutItem calls, each must be conditional", puts.len()),
    )
}

/// The application re-creates a lost user while the copy is writing: its write stays.
async fn recreated(ctx: TestCtx) -> Result<(), String> {
    let _op = ctx.start_operator(&[])?;
    let table = profiles(&ctx, 100).await?;
    delete_all(&ctx, &table, 0..30).await?;
    let api: Api<DynamoRestore> = ctx.api();
    // Two writes a second: the 30 missing take 15 s.
    let slow = json!({"maxWriteCapacityPerSecond": 2});
    api.create(&PostParams::default(), &repair("repair", &ctx.table("UserProfiles-fixed"), slow)?).await.map_err(|e| e.to_string())?;
    // The chunk compared, its writes saved as pending in the order they are made: the
    // application re-creates the last of them before the copy gets there.
    let pending = eventually("the copy writing", Duration::from_secs(90), || {
        let api = api.clone();
        async move { copy_status(&api.get("repair").await.ok()?).pending.last().cloned() }
    })
    .await?;
    let key: Json = serde_json::from_str(&pending).map_err(|e| e.to_string())?;
    let id = key["orderId"]["S"].as_str().ok_or("a pending key without orderId")?.to_owned();
    put(&ctx.dynamo(), &table, &id, "re-created by the application").await?;
    let done = completed(&api, "repair", false, Duration::from_secs(90)).await?;
    println!("{}", done.message.as_deref().unwrap_or_default());
    let now = items(&ctx.dynamo(), &table).await?;
    ensure(now.get(&id).map(String::as_str) == Some("re-created by the application"), || format!("{id} overwritten"))?;
    ensure((done.missing, done.written, done.skipped) == (30, 29, 1), || format!("{done:?}"))?;
    ensure(now.len() == 100, || format!("{} items", now.len()))
}

/// SIGKILL while writing: the next operator resumes from the saved place; the end state is the
/// same and no key is written twice (the write in flight is replayed, finds its key, is skipped).
async fn killed(ctx: TestCtx) -> Result<(), String> {
    let proxy = FaultProxy::start(&ctx.env.moto.url).await?;
    // The 41st write reaches DynamoDB; its answer never comes back.
    proxy.add(Rule::HoldAfter { operation: "PutItem", skip: 40 });
    let mut first = ctx.start_operator_via(&proxy, &[])?;
    let table = profiles(&ctx, 200).await?;
    let before = items(&ctx.dynamo(), &table).await?;
    delete_all(&ctx, &table, 0..100).await?;
    let api: Api<DynamoRestore> = ctx.api();
    api.create(&PostParams::default(), &repair("repair", &ctx.table("UserProfiles-fixed"), json!({}))?).await.map_err(|e| e.to_string())?;
    tokio::time::timeout(Duration::from_secs(90), proxy.held()).await.map_err(|_| "the 41st write was never made")?;
    first.process.signal(libc::SIGKILL);
    first.process.wait_timeout(Duration::from_secs(10)).ok_or("the operator survived SIGKILL")?;
    let saved = copy_status(&api.get("repair").await.map_err(|e| e.to_string())?);
    println!("saved before the kill: {} compared, {} pending", saved.scanned, saved.pending.len());
    ensure(!saved.pending.is_empty() && saved.phase == Some(CopyBackPhase::Writing), || format!("{saved:?}"))?;
    proxy.clear();
    let _second = ctx.start_operator_via(&proxy, &[])?;
    let done = completed(&api, "repair", false, Duration::from_secs(90)).await?;
    println!("{}", done.message.as_deref().unwrap_or_default());
    ensure(items(&ctx.dynamo(), &table).await? == before, || "the table is not as it was before the bug".into())?;
    ensure((done.missing, done.written + done.skipped) == (100, 100) && done.skipped >= 1, || format!("{done:?}"))?;
    // Each key reached DynamoDB once, or twice for those replayed, always on condition.
    let puts = proxy.requests("PutItem");
    let mut by_key: BTreeMap<String, usize> = BTreeMap::new();
    for p in &puts {
        ensure(p["ConditionExpression"].as_str().is_some_and(|c| c.contains("attribute_not_exists")), || format!("{p}"))?;
        *by_key.entry(p["Item"]["orderId"]["S"].as_str().unwrap_or_default().to_owned()).or_default() += 1;
    }
    ensure(by_key.len() == 100 && by_key.values().all(|n| *n <= 2), || format!("{} keys, {} calls", by_key.len(), puts.len()))
}

/// ProvisionedThroughputExceeded on reads and writes slows the copy down; it completes.
async fn throttled(ctx: TestCtx) -> Result<(), String> {
    let proxy = FaultProxy::start(&ctx.env.moto.url).await?;
    let _op = ctx.start_operator_via(&proxy, &[])?;
    let table = profiles(&ctx, 50).await?;
    delete_all(&ctx, &table, 0..20).await?;
    for operation in ["BatchGetItem", "PutItem"] {
        proxy.add(Rule::Fail { operation, code: "ProvisionedThroughputExceededException", status: 400, times: 6 });
    }
    let api: Api<DynamoRestore> = ctx.api();
    api.create(&PostParams::default(), &repair("repair", &ctx.table("UserProfiles-fixed"), json!({}))?).await.map_err(|e| e.to_string())?;
    let done = completed(&api, "repair", false, Duration::from_secs(90)).await?;
    ensure((done.missing, done.written) == (20, 20), || format!("{done:?}"))?;
    ensure(items(&ctx.dynamo(), &table).await?.len() == 50, || "not all back".into())?;
    let counts = proxy.counts();
    println!("calls: {counts:?}");
    ensure(counts.get("PutItem").copied().unwrap_or(0) >= 26, || format!("the throttled writes were not retried: {counts:?}"))
}

/// `Listed` writes exactly its keys, overwriting; nothing else moves.
async fn listed(ctx: TestCtx) -> Result<(), String> {
    let _op = ctx.start_operator(&[])?;
    let table = profiles(&ctx, 50).await?;
    let before = items(&ctx.dynamo(), &table).await?;
    delete_all(&ctx, &table, 0..10).await?;
    put_all(&ctx, &table, (20..25).map(|i| (user(i), format!("changed {i}")))).await?;
    let after_bug = items(&ctx.dynamo(), &table).await?;
    let api: Api<DynamoRestore> = ctx.api();
    let keys: Vec<Json> = [3, 20, 21].iter().map(|i| json!({"orderId": {"S": user(*i)}})).collect();
    api.create(&PostParams::default(), &repair("repair", &ctx.table("UserProfiles-fixed"), json!({"items": "Listed", "keys": keys}))?)
        .await
        .map_err(|e| e.to_string())?;
    let done = completed(&api, "repair", false, Duration::from_secs(90)).await?;
    ensure((done.missing, done.differing, done.written) == (1, 2, 3), || format!("{done:?}"))?;
    let now = items(&ctx.dynamo(), &table).await?;
    for id in (0..50).map(user) {
        let expected = if [user(3), user(20), user(21)].contains(&id) { before.get(&id) } else { after_bug.get(&id) };
        ensure(now.get(&id) == expected, || format!("{id}: {:?}, expected {expected:?}", now.get(&id)))?;
    }
    Ok(())
}

/// `into` a table the namespace's tenancy does not allow: Stalled before any read or restore.
async fn tenancy(ctx: TestCtx) -> Result<(), String> {
    let file = ctx.env.dir.join(format!("tenancy-copyback-{}.yaml", ctx.namespace));
    std::fs::write(&file, format!("tenants:\n  - namespace: {}\n    tables: ['UserProfiles*']\n", ctx.namespace))
        .map_err(|e| e.to_string())?;
    let proxy = FaultProxy::start(&ctx.env.moto.url).await?;
    let _op = ctx.start_operator_via(&proxy, &[&format!("--tenancy-file={}", file.display())])?;
    let table = profiles(&ctx, 10).await?;
    let payroll = ctx.table("Payroll");
    create_table(&ctx.dynamo(), &payroll, &[("p-1", "salary")]).await?;
    let api: Api<DynamoRestore> = ctx.api();
    api.create(&PostParams::default(), &repair("repair", &ctx.table("UserProfiles-fixed"), json!({"into": payroll}))?)
        .await
        .map_err(|e| e.to_string())?;
    let stalled = wait_condition(&api, "repair", "Stalled", WAIT, conditions).await?;
    let reason = crate::support::tables::condition(&conditions(&stalled), "Stalled").map(|c| c.reason.clone());
    ensure(reason.as_deref() == Some("CopyBackRefused"), || format!("{reason:?}"))?;
    let counts = proxy.counts();
    for operation in ["RestoreTableFromBackup", "Scan", "BatchGetItem", "PutItem"] {
        ensure(!counts.contains_key(operation), || format!("{operation} was called: {counts:?}"))?;
    }
    ensure(items(&ctx.dynamo(), &table).await?.len() == 10, || "the table changed".into())
}

/// A point-in-time source (moto restores the table as it is now, so nothing is missing): the
/// copy-back compares into the source table by default.
async fn point_in_time(ctx: TestCtx) -> Result<(), String> {
    let _op = ctx.start_operator(&[])?;
    let table = profiles(&ctx, 30).await?;
    let pitr = aws_sdk_dynamodb::types::PointInTimeRecoverySpecification::builder()
        .point_in_time_recovery_enabled(true)
        .build()
        .map_err(|e| e.to_string())?;
    ctx.dynamo()
        .update_continuous_backups()
        .table_name(&table)
        .point_in_time_recovery_specification(pitr)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let api: Api<DynamoRestore> = ctx.api();
    let r: DynamoRestore = serde_json::from_value(json!({
        "apiVersion": "dynamobackup.io/v1alpha1",
        "kind": "DynamoRestore",
        "metadata": {"name": "latest"},
        "spec": {
            "source": {"pointInTime": {"tableName": table, "latestRestorableTime": true}},
            "targetTableName": ctx.table("UserProfiles-latest"),
            "copyBack": {"dryRun": true},
        },
    }))
    .map_err(|e| e.to_string())?;
    api.create(&PostParams::default(), &r).await.map_err(|e| e.to_string())?;
    let done = completed(&api, "latest", true, Duration::from_secs(90)).await?;
    ensure((done.scanned, done.missing, done.differing) == (30, 0, 0) && done.into.as_deref() == Some(table.as_str()), || {
        format!("{done:?}")
    })
}
