//! DynamoBackup against the real apiserver and moto, with the real binary; the proxy adds what
//! moto never does (CREATING backups, throttling, a kill right after CreateBackup).

use std::{sync::Arc, time::Duration};

use dynamo_backup_operator::api::{BackupPhase, DeletionPolicy, DynamoBackup, DynamoBackupSpec};
use k8s_openapi::api::events::v1::Event;
use kube::{
    Api,
    api::{DeleteParams, ListParams, PostParams},
};
use libtest_mimic::Trial;

use crate::support::{
    Env, TestCtx, ensure,
    process::eventually,
    proxy::{FaultProxy, Rule},
    tables::{backups_of, condition, create_table, wait_condition},
};

pub fn trials(env: &Arc<Env>) -> Vec<Trial> {
    vec![
        env.trial("backup_becomes_available_with_its_details", available_with_details),
        env.trial("backup_of_a_missing_table_stalls_naming_the_table", missing_table),
        env.trial("backup_with_contradicting_regions_stalls_without_aws_calls", contradicting_regions),
        env.trial("backup_deletion_policy_delete_removes_it_and_retain_keeps_it", deletion_policies),
        env.trial("backup_creating_is_polled_until_available", creating_then_available),
        env.trial("backup_throttled_create_is_retried_and_reported", throttled_create),
        env.trial("backup_operator_killed_after_create_backup_makes_exactly_one", killed_after_create),
        env.trial("backup_burst_stays_inside_dynamodb_limits", burst_inside_limits),
        env.trial("backup_deleted_outside_the_operator_is_noticed_by_the_resync", deleted_outside),
    ]
}

pub const WAIT: Duration = Duration::from_secs(60);

pub fn backup(name: &str, table: &str, deletion_policy: DeletionPolicy) -> DynamoBackup {
    DynamoBackup::new(name, DynamoBackupSpec { deletion_policy, ..DynamoBackupSpec::for_table(table) })
}

pub fn conditions(b: &DynamoBackup) -> Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    b.status.as_ref().map(|s| s.conditions.clone()).unwrap_or_default()
}

async fn event_reasons(ctx: &TestCtx, name: &str) -> Vec<String> {
    let events: Api<Event> = ctx.api();
    events
        .list(&ListParams::default())
        .await
        .map(|l| {
            l.items
                .into_iter()
                .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
                .filter_map(|e| e.reason)
                .collect()
        })
        .unwrap_or_default()
}

async fn available_with_details(ctx: TestCtx) -> Result<(), String> {
    let table = ctx.table("Orders");
    create_table(&ctx.dynamo(), &table, &[("o-1", "keyboard"), ("o-2", "monitor"), ("o-3", "desk lamp")]).await?;
    let proxy = FaultProxy::start(&ctx.env.moto.url).await?;
    let _op = ctx.start_operator_via(&proxy, &[])?;
    let api: Api<DynamoBackup> = ctx.api();
    let created = api
        .create(&PostParams::default(), &backup("orders-before-v42", &table, DeletionPolicy::Retain))
        .await
        .map_err(|e| e.to_string())?;
    let ready = wait_condition(&api, "orders-before-v42", "Ready", WAIT, conditions).await?;
    let status = ready.status.clone().ok_or("no status")?;
    println!("status: {}", serde_json::to_string_pretty(&status).unwrap_or_default());
    println!("DynamoDB calls from creation to Ready: {:?}", proxy.counts());

    let uid = created.metadata.uid.clone().unwrap_or_default();
    let expected_name = format!("orders-before-v42-{}", &uid[..8]);
    ensure(status.backup_name.as_deref() == Some(expected_name.as_str()), || format!("backupName {:?}", status.backup_name))?;
    ensure(status.phase == Some(BackupPhase::Available), || format!("phase {:?}", status.phase))?;
    ensure(status.backup_status.as_deref() == Some("AVAILABLE"), || "backupStatus".into())?;
    ensure(status.backup_arn.as_deref().is_some_and(|a| a.contains(&format!("table/{table}/backup/"))), || "backupArn".into())?;
    ensure(status.size_bytes.is_some() && status.created_at.is_some() && status.requested_at.is_some(), || "size and times".into())?;
    ensure(status.table_arn.as_deref().is_some_and(|a| a.ends_with(&format!("table/{table}"))), || "tableArn".into())?;
    ensure(status.observed_generation == ready.metadata.generation, || "observedGeneration".into())?;
    let conds = &status.conditions;
    ensure(condition(conds, "Reconciling").is_some_and(|c| c.status == "False"), || format!("{conds:?}"))?;
    ensure(condition(conds, "Stalled").is_some_and(|c| c.status == "False"), || format!("{conds:?}"))?;

    let backups = backups_of(&ctx.dynamo(), &table).await?;
    ensure(backups.len() == 1 && backups[0].0 == expected_name, || format!("backups in DynamoDB: {backups:?}"))?;
    // The happy path: the intent in status, then one CreateBackup; no lookup, no describe.
    ensure(proxy.calls() == ["CreateBackup"], || format!("DynamoDB calls to Ready: {:?}", proxy.calls()))?;
    let reasons = eventually("events BackupRequested and BackupAvailable", Duration::from_secs(10), || async {
        let reasons = event_reasons(&ctx, "orders-before-v42").await;
        (reasons.iter().any(|r| r == "BackupRequested") && reasons.iter().any(|r| r == "BackupAvailable")).then_some(reasons)
    })
    .await?;
    println!("events: {reasons:?}");
    Ok(())
}

async fn missing_table(ctx: TestCtx) -> Result<(), String> {
    let table = ctx.table("NoSuchTable");
    let proxy = FaultProxy::start(&ctx.env.moto.url).await?;
    let _op = ctx.start_operator_via(&proxy, &[])?;
    let api: Api<DynamoBackup> = ctx.api();
    api.create(&PostParams::default(), &backup("missing", &table, DeletionPolicy::Retain)).await.map_err(|e| e.to_string())?;
    let stalled = wait_condition(&api, "missing", "Stalled", WAIT, conditions).await?;
    let cond = condition(&conditions(&stalled), "Stalled").cloned().ok_or("no Stalled")?;
    println!("Stalled: {} — {}", cond.reason, cond.message);
    ensure(cond.reason == "TableNotFound" && cond.message.contains(&table), || format!("{cond:?}"))?;
    ensure(stalled.status.as_ref().and_then(|s| s.phase) == Some(BackupPhase::Failed), || "phase".into())?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    ensure(proxy.count("CreateBackup") == 1, || format!("a terminal error was retried: {:?}", proxy.calls()))
}

async fn contradicting_regions(ctx: TestCtx) -> Result<(), String> {
    let proxy = FaultProxy::start(&ctx.env.moto.url).await?;
    let _op = ctx.start_operator_via(&proxy, &[])?;
    let api: Api<DynamoBackup> = ctx.api();
    let mut b = backup("regions", "arn:aws:dynamodb:eu-west-1:123456789012:table/Orders", DeletionPolicy::Retain);
    b.spec.region = Some("us-east-1".into());
    api.create(&PostParams::default(), &b).await.map_err(|e| e.to_string())?;
    let stalled = wait_condition(&api, "regions", "Stalled", WAIT, conditions).await?;
    let cond = condition(&conditions(&stalled), "Stalled").cloned().ok_or("no Stalled")?;
    println!("Stalled: {} — {}", cond.reason, cond.message);
    ensure(cond.reason == "InvalidSpec" && cond.message.contains("spec.region"), || format!("{cond:?}"))?;
    ensure(proxy.calls().is_empty(), || format!("AWS calls on a known-bad spec: {:?}", proxy.calls()))
}

async fn deletion_policies(ctx: TestCtx) -> Result<(), String> {
    let table = ctx.table("Orders");
    create_table(&ctx.dynamo(), &table, &[("o-1", "keyboard")]).await?;
    let _op = ctx.start_operator(&[])?;
    let api: Api<DynamoBackup> = ctx.api();
    api.create(&PostParams::default(), &backup("drop", &table, DeletionPolicy::Delete)).await.map_err(|e| e.to_string())?;
    api.create(&PostParams::default(), &backup("keep", &table, DeletionPolicy::Retain)).await.map_err(|e| e.to_string())?;
    let dropped = wait_condition(&api, "drop", "Ready", WAIT, conditions).await?;
    let kept = wait_condition(&api, "keep", "Ready", WAIT, conditions).await?;
    ensure(dropped.metadata.finalizers.as_ref().is_some_and(|f| f.iter().any(|f| f == "dynamobackup.io/cleanup")), || {
        "no finalizer on Delete".into()
    })?;
    ensure(kept.metadata.finalizers.as_ref().is_none_or(|f| f.is_empty()), || "a finalizer on Retain".into())?;
    let drop_arn = dropped.status.and_then(|s| s.backup_arn).ok_or("no ARN")?;
    let keep_arn = kept.status.and_then(|s| s.backup_arn).ok_or("no ARN")?;

    for name in ["drop", "keep"] {
        api.delete(name, &DeleteParams::default()).await.map_err(|e| e.to_string())?;
    }
    for name in ["drop", "keep"] {
        eventually(&format!("{name} to be gone"), WAIT, || {
            let api = api.clone();
            async move { api.get_opt(name).await.ok().and_then(|o| o.is_none().then_some(())) }
        })
        .await?;
    }
    let left: Vec<String> = backups_of(&ctx.dynamo(), &table).await?.into_iter().map(|(_, arn)| arn).collect();
    println!("backups left in DynamoDB: {left:?}");
    ensure(!left.contains(&drop_arn), || format!("Delete left {drop_arn}"))?;
    ensure(left.contains(&keep_arn), || format!("Retain lost {keep_arn}"))
}

async fn creating_then_available(ctx: TestCtx) -> Result<(), String> {
    let table = ctx.table("Orders");
    create_table(&ctx.dynamo(), &table, &[("o-1", "keyboard")]).await?;
    let proxy = FaultProxy::start(&ctx.env.moto.url).await?;
    proxy.add(Rule::BackupCreating { times: 2 });
    let _op = ctx.start_operator_via(&proxy, &[])?;
    let api: Api<DynamoBackup> = ctx.api();
    api.create(&PostParams::default(), &backup("slow", &table, DeletionPolicy::Retain)).await.map_err(|e| e.to_string())?;
    let creating = wait_condition(&api, "slow", "Reconciling", WAIT, conditions).await?;
    let status = creating.status.clone().ok_or("no status")?;
    println!("while CREATING: phase {:?}, {:?}", status.phase, condition(&status.conditions, "Reconciling"));
    ensure(status.phase == Some(BackupPhase::Creating) && status.backup_arn.is_some(), || format!("{status:?}"))?;
    wait_condition(&api, "slow", "Ready", WAIT, conditions).await?;
    // CreateBackup answers CREATING; ListBackups pages (not one DescribeBackup per backup)
    // follow it: CREATING once more, then AVAILABLE.
    println!("DynamoDB calls: {:?}", proxy.calls());
    ensure(proxy.calls() == ["CreateBackup", "ListBackups", "ListBackups"], || format!("calls: {:?}", proxy.calls()))?;
    let bounded = proxy.requests("ListBackups").iter().all(|r| r.get("TimeRangeLowerBound").is_some() && r.get("TableName").is_none());
    ensure(bounded, || format!("a follow-up listing is not bounded by time: {:?}", proxy.requests("ListBackups")))
}

async fn throttled_create(ctx: TestCtx) -> Result<(), String> {
    let table = ctx.table("Orders");
    create_table(&ctx.dynamo(), &table, &[("o-1", "keyboard")]).await?;
    let proxy = FaultProxy::start(&ctx.env.moto.url).await?;
    proxy.add(Rule::Fail { operation: "CreateBackup", code: "ThrottlingException", status: 400, times: 1 });
    let _op = ctx.start_operator_via(&proxy, &[])?;
    let api: Api<DynamoBackup> = ctx.api();
    api.create(&PostParams::default(), &backup("throttled", &table, DeletionPolicy::Retain)).await.map_err(|e| e.to_string())?;
    let retrying = eventually("Reconciling with reason Throttling", WAIT, || {
        let api = api.clone();
        async move {
            let obj = api.get("throttled").await.ok()?;
            condition(&conditions(&obj), "Reconciling").filter(|c| c.status == "True" && c.reason == "Throttling").cloned()
        }
    })
    .await?;
    println!("while throttled: {} — {}", retrying.reason, retrying.message);
    wait_condition(&api, "throttled", "Ready", WAIT, conditions).await?;
    let backups = backups_of(&ctx.dynamo(), &table).await?;
    ensure(backups.len() == 1, || format!("backups: {backups:?}"))?;
    ensure(proxy.count("CreateBackup") == 2, || format!("calls: {:?}", proxy.calls()))
}

async fn killed_after_create(ctx: TestCtx) -> Result<(), String> {
    let table = ctx.table("Orders");
    create_table(&ctx.dynamo(), &table, &[("o-1", "keyboard")]).await?;
    let proxy = FaultProxy::start(&ctx.env.moto.url).await?;
    proxy.add(Rule::Hold { operation: "CreateBackup" });
    let mut first = ctx.start_operator_via(&proxy, &[])?;
    let api: Api<DynamoBackup> = ctx.api();
    api.create(&PostParams::default(), &backup("crash", &table, DeletionPolicy::Retain)).await.map_err(|e| e.to_string())?;
    tokio::time::timeout(WAIT, proxy.held()).await.map_err(|_| "CreateBackup never reached DynamoDB")?;
    first.process.signal(libc::SIGKILL);
    first.process.wait_timeout(Duration::from_secs(10)).ok_or("the operator survived SIGKILL")?;
    let before = api.get("crash").await.map_err(|e| e.to_string())?;
    let intent = before.status.clone().unwrap_or_default();
    ensure(intent.backup_arn.is_none(), || "the ARN was written before the answer".into())?;
    ensure(intent.requested_at.is_some() && intent.backup_name.is_some(), || {
        format!("no intent recorded before CreateBackup: {intent:?}")
    })?;
    ensure(backups_of(&ctx.dynamo(), &table).await?.len() == 1, || "CreateBackup did not reach moto".into())?;

    proxy.clear();
    let _second = ctx.start_operator_via(&proxy, &[])?;
    let ready = wait_condition(&api, "crash", "Ready", WAIT, conditions).await?;
    let backups = backups_of(&ctx.dynamo(), &table).await?;
    println!("after the restart: backups in DynamoDB {backups:?}; calls {:?}", proxy.calls());
    ensure(backups.len() == 1, || format!("expected exactly one backup: {backups:?}"))?;
    ensure(ready.status.and_then(|s| s.backup_arn).as_deref() == Some(backups[0].1.as_str()), || "status names another backup".into())?;
    ensure(proxy.count("CreateBackup") == 1, || format!("CreateBackup was called again: {:?}", proxy.calls()))?;
    // The one lookup after the crash is bounded by the intent's time and the table.
    let lookups = proxy.requests("ListBackups");
    ensure(lookups.len() == 1, || format!("expected one ListBackups after the restart: {:?}", proxy.calls()))?;
    ensure(lookups[0].get("TimeRangeLowerBound").is_some() && lookups[0]["TableName"] == table.as_str(), || {
        format!("the lookup is not bounded: {}", lookups[0])
    })
}

/// Many backups at once against DynamoDB's documented limits (enforced by the proxy): none is
/// throttled, each object gets exactly one backup, and nothing but CreateBackup is called.
async fn burst_inside_limits(ctx: TestCtx) -> Result<(), String> {
    const BACKUPS: usize = 120;
    let tables: Vec<String> = (0..3).map(|i| ctx.table(&format!("Burst{i}"))).collect();
    for table in &tables {
        create_table(&ctx.dynamo(), table, &[("o-1", "keyboard")]).await?;
    }
    let proxy = FaultProxy::start(&ctx.env.moto.url).await?;
    proxy.enforce_documented_limits();
    let _op = ctx.start_operator_via(&proxy, &[])?;
    let api: Api<DynamoBackup> = ctx.api();
    for i in 0..BACKUPS {
        let b = backup(&format!("burst-{i}"), &tables[i % tables.len()], DeletionPolicy::Retain);
        api.create(&PostParams::default(), &b).await.map_err(|e| e.to_string())?;
    }
    eventually("every backup Ready", Duration::from_secs(120), || {
        let api = api.clone();
        async move {
            let list = api.list(&ListParams::default()).await.ok()?;
            let ready = list.items.iter().filter(|b| condition(&conditions(b), "Ready").is_some_and(|c| c.status == "True")).count();
            (ready == BACKUPS).then_some(())
        }
    })
    .await?;
    let mut made: Vec<(String, String)> =
        crate::support::tables::all_backups(&ctx.dynamo()).await?.into_iter().filter(|(table, _)| tables.contains(table)).collect();
    made.sort();
    let count = made.len();
    made.dedup();
    ensure(made.len() == count, || "a backup name was made twice".into())?;
    let made = made.len();
    println!("DynamoDB calls: {:?}; throttled: {:?}", proxy.counts(), proxy.throttled());
    ensure(made == BACKUPS, || format!("{made} backups in DynamoDB for {BACKUPS} objects"))?;
    ensure(proxy.throttled().is_empty(), || format!("throttled: {:?}", proxy.throttled()))?;
    ensure(proxy.counts().keys().all(|op| op == "CreateBackup") && proxy.count("CreateBackup") == BACKUPS, || {
        format!("calls: {:?}", proxy.counts())
    })
}

/// A backup deleted outside the operator is noticed by the next listing of its region (the
/// resync, every 5 s here): its DynamoBackup stalls naming it, the one beside it stays Ready, and
/// only the missing one is described.
async fn deleted_outside(ctx: TestCtx) -> Result<(), String> {
    let table = ctx.table("Orders");
    create_table(&ctx.dynamo(), &table, &[("o-1", "keyboard")]).await?;
    let proxy = FaultProxy::start(&ctx.env.moto.url).await?;
    let _op = ctx.start_operator_via(&proxy, &["--backup-resync-interval=5s"])?;
    let api: Api<DynamoBackup> = ctx.api();
    for name in ["gone", "kept"] {
        api.create(&PostParams::default(), &backup(name, &table, DeletionPolicy::Retain)).await.map_err(|e| e.to_string())?;
    }
    let gone = wait_condition(&api, "gone", "Ready", WAIT, conditions).await?;
    wait_condition(&api, "kept", "Ready", WAIT, conditions).await?;
    let arn = gone.status.and_then(|s| s.backup_arn).ok_or("no ARN")?;
    ctx.dynamo().delete_backup().backup_arn(&arn).send().await.map_err(|e| format!("DeleteBackup outside the operator: {e}"))?;

    let stalled = wait_condition(&api, "gone", "Stalled", WAIT, conditions).await?;
    let cond = condition(&conditions(&stalled), "Stalled").cloned().ok_or("no Stalled")?;
    println!("Stalled: {} — {}", cond.reason, cond.message);
    println!("DynamoDB calls: {:?}", proxy.counts());
    ensure(cond.reason == "BackupNotFound" && cond.message.contains(&arn), || format!("{cond:?}"))?;
    ensure(stalled.status.as_ref().and_then(|s| s.phase) == Some(BackupPhase::Failed), || "phase".into())?;
    let kept = api.get("kept").await.map_err(|e| e.to_string())?;
    ensure(condition(&conditions(&kept), "Ready").is_some_and(|c| c.status == "True"), || format!("kept: {:?}", conditions(&kept)))?;
    ensure(proxy.count("DescribeBackup") == 1, || format!("only the missing backup is described: {:?}", proxy.counts()))?;
    // Later resyncs find nothing new: the stalled object is not described again.
    tokio::time::sleep(Duration::from_secs(12)).await;
    ensure(proxy.count("ListBackups") >= 2 && proxy.count("DescribeBackup") == 1, || format!("calls: {:?}", proxy.counts()))
}
