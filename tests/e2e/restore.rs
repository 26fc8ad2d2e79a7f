//! DynamoRestore against the real apiserver and moto, with the real binary; the proxy adds what
//! moto never does (tables that stay CREATING, LimitExceeded, a kill right after the restore call)
//! and shows what the operator asked DynamoDB for.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, PointInTimeRecoverySpecification, Projection,
    ProjectionType, ScalarAttributeType, Tag,
};
use dynamo_backup_operator::api::{
    AfterRestore, DeletionPolicy, DynamoBackup, DynamoRestore, DynamoRestoreSpec, ItemCountCheck, LocalObjectReference,
    PointInTimeRecoverySpec, PointInTimeSource, RestoreOverrides, RestorePhase, RestoreSource, VerificationResult, VerifySpec,
};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{
    Api,
    api::{DeleteParams, PostParams},
};
use libtest_mimic::Trial;

use crate::{
    backup::{self, WAIT},
    support::{
        Env, TestCtx, ensure,
        process::eventually,
        proxy::{FaultProxy, Rule},
        tables::{condition, create_table, delete, items, put, table_exists, wait_condition},
    },
};

pub fn trials(env: &Arc<Env>) -> Vec<Trial> {
    vec![
        env.trial("restore_of_an_orders_backup_holds_exactly_the_snapshot", orders_snapshot),
        env.trial("restore_of_userprofiles_to_the_latest_restorable_time", userprofiles_latest),
        env.trial("restore_into_an_existing_table_stalls_and_touches_nothing", target_exists),
        env.trial("restore_before_the_window_stalls_without_a_restore_call", before_window),
        env.trial("restore_without_pitr_on_the_source_stalls", pitr_disabled),
        env.trial("restore_operator_killed_after_the_restore_call_adopts_it", killed_after_restore),
        env.trial("restore_deletion_policy_delete_drops_only_its_table", drill_drops_its_table),
        env.trial("restore_ttl_after_finished_deletes_it_and_its_table", ttl_after_finished),
        env.trial("restore_verify_passes_and_reports_what_differs", verify_passes_and_fails),
        env.trial("restore_verify_resumes_its_count_after_a_crash", verify_resumes),
        env.trial("restore_in_progress_is_followed_until_active", creating_then_active),
        env.trial("restore_limit_exceeded_is_retried_and_reported", limit_exceeded),
        env.trial("restore_keeps_only_the_listed_global_indexes", gsi_keep_list),
        env.trial("restore_goes_on_from_the_recorded_backup_when_its_dynamobackup_is_deleted", backup_object_deleted),
        env.trial("restore_in_progress_holds_its_backup_against_retention", retention_waits_for_restore),
    ]
}

pub fn restore(name: &str, source: RestoreSource, target: &str) -> DynamoRestore {
    DynamoRestore::new(
        name,
        DynamoRestoreSpec {
            source,
            target_table_name: target.to_owned(),
            region: None,
            overrides: None,
            after_restore: AfterRestore::default(),
            deletion_policy: DeletionPolicy::Retain,
            aws_backup: None,
            ttl_after_finished: None,
            verify: None,
            copy_back: None,
        },
    )
}

pub fn from_backup(name: &str) -> RestoreSource {
    RestoreSource {
        backup_ref: Some(LocalObjectReference { name: name.to_owned() }),
        backup_arn: None,
        recovery_point_arn: None,
        point_in_time: None,
    }
}

pub fn point_in_time(table: &str, at: Option<&str>) -> RestoreSource {
    RestoreSource {
        backup_ref: None,
        backup_arn: None,
        recovery_point_arn: None,
        point_in_time: Some(PointInTimeSource {
            table_name: table.to_owned(),
            restore_time: at.and_then(|t| t.parse().ok()).map(Time),
            latest_restorable_time: at.is_none().then_some(true),
        }),
    }
}

pub fn conditions(r: &DynamoRestore) -> Vec<Condition> {
    r.status.as_ref().map(|s| s.conditions.clone()).unwrap_or_default()
}

pub async fn enable_pitr(ctx: &TestCtx, table: &str) -> Result<(), String> {
    let spec = PointInTimeRecoverySpecification::builder().point_in_time_recovery_enabled(true).build().map_err(|e| e.to_string())?;
    ctx.dynamo()
        .update_continuous_backups()
        .table_name(table)
        .point_in_time_recovery_specification(spec)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("UpdateContinuousBackups: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e)))
}

async fn stalled_with(api: &Api<DynamoRestore>, name: &str) -> Result<Condition, String> {
    let obj = wait_condition(api, name, "Stalled", WAIT, conditions).await?;
    let cond = condition(&conditions(&obj), "Stalled").cloned().ok_or("no Stalled condition")?;
    println!("{name}: Stalled {} — {}", cond.reason, cond.message);
    Ok(cond)
}

fn expected(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

/// Seed scenario "Orders": snapshot, then data changes, then a restore into a new table holds
/// exactly the snapshot, and Orders is untouched.
async fn orders_snapshot(ctx: TestCtx) -> Result<(), String> {
    let orders = ctx.table("Orders");
    let restored = ctx.table("Orders-restored");
    let db = ctx.dynamo();
    create_table(&db, &orders, &[("o-1", "keyboard"), ("o-2", "monitor"), ("o-3", "desk lamp")]).await?;
    let orders_arn = db
        .describe_table()
        .table_name(&orders)
        .send()
        .await
        .ok()
        .and_then(|o| o.table()?.table_arn().map(str::to_owned))
        .ok_or("no ARN")?;
    db.tag_resource()
        .resource_arn(&orders_arn)
        .tags(Tag::builder().key("team").value("shop").build().map_err(|e| e.to_string())?)
        .send()
        .await
        .map_err(|e| format!("TagResource: {e}"))?;
    let _op = ctx.start_operator(&[])?;

    // The restore comes first and waits for its backup.
    let restores: Api<DynamoRestore> = ctx.api();
    let mut r = restore("orders-restore", from_backup("orders-before-v42"), &restored);
    r.spec.after_restore.tags = BTreeMap::from([("restored-by".to_owned(), "dynamo-backup-operator".to_owned())]);
    r.spec.after_restore.point_in_time_recovery = Some(PointInTimeRecoverySpec { enabled: true, recovery_period_in_days: 7 });
    restores.create(&PostParams::default(), &r).await.map_err(|e| e.to_string())?;
    let waiting = eventually("the restore to wait for its backup", WAIT, || {
        let restores = restores.clone();
        async move {
            let obj = restores.get("orders-restore").await.ok()?;
            condition(&conditions(&obj), "Reconciling").filter(|c| c.reason == "WaitingForBackup").cloned()
        }
    })
    .await?;
    println!("before the backup: {} — {}", waiting.reason, waiting.message);

    let backups: Api<DynamoBackup> = ctx.api();
    backups
        .create(&PostParams::default(), &backup::backup("orders-before-v42", &orders, DeletionPolicy::Retain))
        .await
        .map_err(|e| e.to_string())?;
    let snapshot = wait_condition(&backups, "orders-before-v42", "Ready", WAIT, backup::conditions).await?;
    // After the snapshot: one order deleted, one added. The restore must not see either.
    delete(&db, &orders, "o-2").await?;
    put(&db, &orders, "o-4", "chair").await?;

    let done = wait_condition(&restores, "orders-restore", "Ready", WAIT, conditions).await?;
    let status = done.status.clone().ok_or("no status")?;
    println!("restore status: {}", serde_json::to_string_pretty(&status).unwrap_or_default());
    let restored_items = items(&db, &restored).await?;
    println!("{restored}: {restored_items:?}");
    ensure(restored_items == expected(&[("o-1", "keyboard"), ("o-2", "monitor"), ("o-3", "desk lamp")]), || {
        format!("restored items {restored_items:?}")
    })?;
    let orders_items = items(&db, &orders).await?;
    ensure(orders_items == expected(&[("o-1", "keyboard"), ("o-3", "desk lamp"), ("o-4", "chair")]), || {
        format!("Orders changed: {orders_items:?}")
    })?;

    let backup_arn = snapshot.status.as_ref().and_then(|s| s.backup_arn.clone());
    ensure(status.phase == Some(RestorePhase::Completed), || format!("phase {:?}", status.phase))?;
    ensure(status.source_backup_arn == backup_arn && status.source_table_arn.as_deref() == Some(orders_arn.as_str()), || {
        "source ARNs".into()
    })?;
    ensure(status.restore_time == snapshot.status.as_ref().and_then(|s| s.created_at.clone()), || {
        "restoreTime is not the snapshot's moment".into()
    })?;
    ensure(status.source.as_deref() == Some("backup/orders-before-v42"), || format!("source {:?}", status.source))?;
    let reported_id = db.describe_table().table_name(&restored).send().await.ok().and_then(|o| o.table()?.table_id().map(str::to_owned));
    ensure(status.target_table_arn.as_deref().is_some_and(|a| a.ends_with(&format!("table/{restored}"))), || "targetTableArn".into())?;
    ensure(status.target_table_id == reported_id, || format!("targetTableId {:?}, DynamoDB says {reported_id:?}", status.target_table_id))?;
    ensure(status.item_count == Some(3) && status.completed_at.is_some() && status.started_at.is_some(), || "counts and times".into())?;
    ensure(
        status.after_restore_done
            == vec!["tags", "pointInTimeRecovery", "deletionProtection", "timeToLive", "streams", "autoScaling", "resourcePolicy"],
        || format!("{:?}", status.after_restore_done),
    )?;

    let target_arn = status.target_table_arn.clone().unwrap_or_default();
    let tags = db.list_tags_of_resource().resource_arn(&target_arn).send().await.map_err(|e| e.to_string())?;
    let tags: BTreeMap<String, String> = tags.tags().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect();
    ensure(tags.get("team").map(String::as_str) == Some("shop") && tags.contains_key("restored-by"), || format!("tags {tags:?}"))?;
    let pitr = db.describe_continuous_backups().table_name(&restored).send().await.map_err(|e| e.to_string())?;
    let pitr_on = pitr
        .continuous_backups_description()
        .and_then(|d| d.point_in_time_recovery_description())
        .and_then(|p| p.point_in_time_recovery_status())
        .map(|s| s.as_str().to_owned());
    ensure(pitr_on.as_deref() == Some("ENABLED"), || format!("PITR on the new table: {pitr_on:?}"))
}

/// Seed scenario "UserProfiles": PITR on, restore the latest restorable moment into a new table.
async fn userprofiles_latest(ctx: TestCtx) -> Result<(), String> {
    let profiles = ctx.table("UserProfiles");
    let clone = ctx.table("UserProfiles-clone");
    create_table(&ctx.dynamo(), &profiles, &[("u-1", "ada"), ("u-2", "grace")]).await?;
    enable_pitr(&ctx, &profiles).await?;
    let _op = ctx.start_operator(&[])?;
    let api: Api<DynamoRestore> = ctx.api();
    api.create(&PostParams::default(), &restore("latest", point_in_time(&profiles, None), &clone)).await.map_err(|e| e.to_string())?;
    let done = wait_condition(&api, "latest", "Ready", WAIT, conditions).await?;
    let status = done.status.clone().ok_or("no status")?;
    println!("restoreTime {:?}, table {:?} {:?}", status.restore_time, status.target_table_arn, status.table_status);
    ensure(status.restore_time.is_some(), || "no restoreTime for latest".into())?;
    ensure(status.table_status.as_deref() == Some("ACTIVE"), || "not ACTIVE".into())?;
    ensure(status.source.as_deref() == Some(format!("pitr/{profiles}@latest").as_str()), || format!("{:?}", status.source))?;
    let got = items(&ctx.dynamo(), &clone).await?;
    ensure(got == expected(&[("u-1", "ada"), ("u-2", "grace")]), || format!("items {got:?}"))
}

async fn target_exists(ctx: TestCtx) -> Result<(), String> {
    let profiles = ctx.table("UserProfiles");
    let existing = ctx.table("Existing");
    create_table(&ctx.dynamo(), &profiles, &[("u-1", "ada")]).await?;
    enable_pitr(&ctx, &profiles).await?;
    create_table(&ctx.dynamo(), &existing, &[("e-1", "precious")]).await?;
    let proxy = FaultProxy::start(&ctx.env.moto.url).await?;
    let _op = ctx.start_operator_via(&proxy, &[])?;
    let api: Api<DynamoRestore> = ctx.api();
    api.create(&PostParams::default(), &restore("clash", point_in_time(&profiles, None), &existing)).await.map_err(|e| e.to_string())?;
    let cond = stalled_with(&api, "clash").await?;
    ensure(cond.reason == "TargetTableExists" && cond.message.contains(&existing), || format!("{cond:?}"))?;
    ensure(items(&ctx.dynamo(), &existing).await? == expected(&[("e-1", "precious")]), || "the existing table changed".into())?;
    let restores = proxy.count("RestoreTableToPointInTime") + proxy.count("RestoreTableFromBackup");
    ensure(restores == 0, || format!("a restore call was made: {:?}", proxy.calls()))
}

async fn before_window(ctx: TestCtx) -> Result<(), String> {
    let profiles = ctx.table("UserProfiles");
    create_table(&ctx.dynamo(), &profiles, &[("u-1", "ada")]).await?;
    enable_pitr(&ctx, &profiles).await?;
    let proxy = FaultProxy::start(&ctx.env.moto.url).await?;
    let _op = ctx.start_operator_via(&proxy, &[])?;
    let api: Api<DynamoRestore> = ctx.api();
    let target = ctx.table("UserProfiles-2020");
    api.create(&PostParams::default(), &restore("too-early", point_in_time(&profiles, Some("2020-01-15T10:14:59Z")), &target))
        .await
        .map_err(|e| e.to_string())?;
    let cond = stalled_with(&api, "too-early").await?;
    ensure(cond.reason == "RestoreTimeOutsideWindow" && cond.message.contains("from ") && cond.message.contains(" to "), || {
        format!("{cond:?}")
    })?;
    ensure(proxy.count("RestoreTableToPointInTime") == 0, || format!("the restore call reached DynamoDB: {:?}", proxy.calls()))?;
    ensure(!table_exists(&ctx.dynamo(), &target).await, || "a table was created".into())
}

async fn pitr_disabled(ctx: TestCtx) -> Result<(), String> {
    let profiles = ctx.table("UserProfiles");
    create_table(&ctx.dynamo(), &profiles, &[("u-1", "ada")]).await?;
    let proxy = FaultProxy::start(&ctx.env.moto.url).await?;
    let _op = ctx.start_operator_via(&proxy, &[])?;
    let api: Api<DynamoRestore> = ctx.api();
    api.create(&PostParams::default(), &restore("no-pitr", point_in_time(&profiles, None), &ctx.table("Clone")))
        .await
        .map_err(|e| e.to_string())?;
    let cond = stalled_with(&api, "no-pitr").await?;
    ensure(cond.reason == "PointInTimeRecoveryDisabled" && cond.message.contains(&profiles), || format!("{cond:?}"))?;
    ensure(proxy.count("RestoreTableToPointInTime") == 0, || format!("calls: {:?}", proxy.calls()))
}

async fn killed_after_restore(ctx: TestCtx) -> Result<(), String> {
    let orders = ctx.table("Orders");
    let restored = ctx.table("Orders-restored");
    create_table(&ctx.dynamo(), &orders, &[("o-1", "keyboard")]).await?;
    let proxy = FaultProxy::start(&ctx.env.moto.url).await?;
    let mut first = ctx.start_operator_via(&proxy, &[])?;
    let backups: Api<DynamoBackup> = ctx.api();
    backups.create(&PostParams::default(), &backup::backup("snap", &orders, DeletionPolicy::Retain)).await.map_err(|e| e.to_string())?;
    wait_condition(&backups, "snap", "Ready", WAIT, backup::conditions).await?;

    proxy.add(Rule::Hold { operation: "RestoreTableFromBackup" });
    let api: Api<DynamoRestore> = ctx.api();
    api.create(&PostParams::default(), &restore("crash", from_backup("snap"), &restored)).await.map_err(|e| e.to_string())?;
    tokio::time::timeout(WAIT, proxy.held()).await.map_err(|_| "the restore call never reached DynamoDB")?;
    first.process.signal(libc::SIGKILL);
    first.process.wait_timeout(Duration::from_secs(10)).ok_or("the operator survived SIGKILL")?;
    ensure(table_exists(&ctx.dynamo(), &restored).await, || "the restore did not reach moto".into())?;
    let before = api.get("crash").await.map_err(|e| e.to_string())?;
    ensure(before.status.as_ref().is_some_and(|s| s.target_table_id.is_none() && s.started_at.is_some()), || {
        format!("{:?}", before.status)
    })?;

    proxy.clear();
    let _second = ctx.start_operator_via(&proxy, &[])?;
    let done = wait_condition(&api, "crash", "Ready", WAIT, conditions).await?;
    let status = done.status.clone().ok_or("no status")?;
    let table_id =
        ctx.dynamo().describe_table().table_name(&restored).send().await.ok().and_then(|o| o.table()?.table_id().map(str::to_owned));
    println!("after the restart: {:?}; calls {:?}", status.phase, proxy.counts());
    ensure(status.target_table_id == table_id, || "status names another table".into())?;
    ensure(proxy.count("RestoreTableFromBackup") == 1, || format!("the restore was called again: {:?}", proxy.calls()))?;
    ensure(items(&ctx.dynamo(), &restored).await? == expected(&[("o-1", "keyboard")]), || "items".into())
}

async fn drill_drops_its_table(ctx: TestCtx) -> Result<(), String> {
    let profiles = ctx.table("UserProfiles");
    create_table(&ctx.dynamo(), &profiles, &[("u-1", "ada")]).await?;
    enable_pitr(&ctx, &profiles).await?;
    let _op = ctx.start_operator(&[])?;
    let api: Api<DynamoRestore> = ctx.api();
    let (drill_table, kept_table) = (ctx.table("Drill"), ctx.table("Kept"));
    let mut drill = restore("drill", point_in_time(&profiles, None), &drill_table);
    drill.spec.deletion_policy = DeletionPolicy::Delete;
    api.create(&PostParams::default(), &drill).await.map_err(|e| e.to_string())?;
    api.create(&PostParams::default(), &restore("kept", point_in_time(&profiles, None), &kept_table)).await.map_err(|e| e.to_string())?;
    wait_condition(&api, "drill", "Ready", WAIT, conditions).await?;
    wait_condition(&api, "kept", "Ready", WAIT, conditions).await?;
    for name in ["drill", "kept"] {
        api.delete(name, &DeleteParams::default()).await.map_err(|e| e.to_string())?;
        eventually(&format!("{name} to be gone"), WAIT, || {
            let api = api.clone();
            async move { api.get_opt(name).await.ok().and_then(|o| o.is_none().then_some(())) }
        })
        .await?;
    }
    ensure(!table_exists(&ctx.dynamo(), &drill_table).await, || "Delete left the drill table".into())?;
    ensure(table_exists(&ctx.dynamo(), &kept_table).await, || "Retain dropped the table".into())?;
    ensure(table_exists(&ctx.dynamo(), &profiles).await, || "the source table is gone".into())
}

/// `ttlAfterFinished`: a finished restore deletes itself (and, with `deletionPolicy: Delete`, its
/// table) once that long has passed; one without it stays.
async fn ttl_after_finished(ctx: TestCtx) -> Result<(), String> {
    let profiles = ctx.table("UserProfiles");
    create_table(&ctx.dynamo(), &profiles, &[("u-1", "ada")]).await?;
    enable_pitr(&ctx, &profiles).await?;
    let _op = ctx.start_operator(&[])?;
    let api: Api<DynamoRestore> = ctx.api();
    let (short_table, kept_table) = (ctx.table("ShortLived"), ctx.table("Kept"));
    let mut short = restore("short-lived", point_in_time(&profiles, None), &short_table);
    short.spec.deletion_policy = DeletionPolicy::Delete;
    short.spec.ttl_after_finished = Some("3s".into());
    api.create(&PostParams::default(), &short).await.map_err(|e| e.to_string())?;
    api.create(&PostParams::default(), &restore("kept", point_in_time(&profiles, None), &kept_table)).await.map_err(|e| e.to_string())?;
    wait_condition(&api, "kept", "Ready", WAIT, conditions).await?;
    eventually("short-lived to delete itself", WAIT, || {
        let api = api.clone();
        async move { api.get_opt("short-lived").await.ok().and_then(|o| o.is_none().then_some(())) }
    })
    .await?;
    ensure(!table_exists(&ctx.dynamo(), &short_table).await, || "its table stayed".into())?;
    tokio::time::sleep(Duration::from_secs(4)).await;
    ensure(api.get_opt("kept").await.map_err(|e| e.to_string())?.is_some(), || "a restore without a TTL went".into())?;
    ensure(table_exists(&ctx.dynamo(), &kept_table).await, || "the kept table went".into())
}

fn verify_spec(keys: &[&str]) -> VerifySpec {
    VerifySpec {
        item_count: Some(ItemCountCheck { tolerance_percent: 0 }),
        keys: keys.iter().map(|k| BTreeMap::from([("orderId".to_owned(), BTreeMap::from([("S".to_owned(), (*k).to_owned())]))])).collect(),
        max_read_capacity_per_second: None,
    }
}

/// The Verified condition and `status.verification` of restore `name`, once it is Ready.
async fn verified(api: &Api<DynamoRestore>, name: &str) -> Result<(Condition, dynamo_backup_operator::api::VerificationStatus), String> {
    let done = wait_condition(api, name, "Ready", WAIT, conditions).await?;
    let status = done.status.clone().unwrap_or_default();
    let cond = condition(&status.conditions, "Verified").cloned().ok_or_else(|| format!("{name}: no Verified condition"))?;
    let v = status.verification.ok_or_else(|| format!("{name}: no status.verification"))?;
    println!("{name}: Verified={} ({}) {}; {v:?}", cond.status, cond.reason, cond.message);
    Ok((cond, v))
}

/// A count and keys that match pass; a count the proxy falsifies, and a key that is not
/// there, fail with what differed. The restore itself stays Ready: the table exists.
async fn verify_passes_and_fails(ctx: TestCtx) -> Result<(), String> {
    let orders = ctx.table("Orders");
    create_table(&ctx.dynamo(), &orders, &[("o-1", "keyboard"), ("o-2", "monitor"), ("o-3", "desk lamp")]).await?;
    let proxy = FaultProxy::start(&ctx.env.moto.url).await?;
    let _op = ctx.start_operator_via(&proxy, &[])?;
    let backups: Api<DynamoBackup> = ctx.api();
    backups.create(&PostParams::default(), &backup::backup("snap", &orders, DeletionPolicy::Retain)).await.map_err(|e| e.to_string())?;
    let restores: Api<DynamoRestore> = ctx.api();

    let mut good = restore("good", from_backup("snap"), &ctx.table("Good"));
    good.spec.verify = Some(verify_spec(&["o-1", "o-3"]));
    restores.create(&PostParams::default(), &good).await.map_err(|e| e.to_string())?;
    let (cond, v) = verified(&restores, "good").await?;
    ensure(cond.status == "True" && v.result == Some(VerificationResult::Passed), || format!("{cond:?}"))?;
    ensure(v.item_count == Some(3) && v.expected_item_count == Some(3) && v.duration.is_some(), || format!("{v:?}"))?;

    let mut missing = restore("missing-key", from_backup("snap"), &ctx.table("Missing"));
    missing.spec.verify = Some(verify_spec(&["o-1", "o-404"]));
    restores.create(&PostParams::default(), &missing).await.map_err(|e| e.to_string())?;
    let (cond, v) = verified(&restores, "missing-key").await?;
    ensure(cond.status == "False" && cond.reason == "KeysMissing" && cond.message.contains("o-404"), || format!("{cond:?}"))?;
    ensure(v.missing_keys.len() == 1, || format!("{v:?}"))?;

    proxy.add(Rule::ScanCount { add: 2 });
    let mut falsified = restore("falsified", from_backup("snap"), &ctx.table("Falsified"));
    falsified.spec.verify = Some(verify_spec(&[]));
    restores.create(&PostParams::default(), &falsified).await.map_err(|e| e.to_string())?;
    let (cond, v) = verified(&restores, "falsified").await?;
    ensure(cond.status == "False" && cond.reason == "ItemCountMismatch", || format!("{cond:?}"))?;
    ensure(cond.message.contains("holds 5 items, the snapshot 3") && v.result == Some(VerificationResult::Failed), || cond.message.clone())
}

/// An operator killed in the middle of a count: the next one resumes from the saved place
/// instead of counting again from the start.
async fn verify_resumes(ctx: TestCtx) -> Result<(), String> {
    const ITEMS: usize = 2100;
    let big = ctx.table("Big");
    create_table(&ctx.dynamo(), &big, &[]).await?;
    let db = ctx.dynamo();
    futures::stream::iter((0..ITEMS).map(|i| {
        let (db, big) = (db.clone(), big.clone());
        async move { put(&db, &big, &format!("o-{i:05}"), "item").await }
    }))
    .buffer_unordered(16)
    .try_collect::<Vec<()>>()
    .await?;
    let proxy = FaultProxy::start(&ctx.env.moto.url).await?;
    let mut first = ctx.start_operator_via(&proxy, &[])?;
    let backups: Api<DynamoBackup> = ctx.api();
    backups.create(&PostParams::default(), &backup::backup("big", &big, DeletionPolicy::Retain)).await.map_err(|e| e.to_string())?;
    wait_condition(&backups, "big", "Ready", WAIT, backup::conditions).await?;
    // The second page of the count reaches DynamoDB; its answer never comes back.
    proxy.add(Rule::HoldAfter { operation: "Scan", skip: 1 });
    let restores: Api<DynamoRestore> = ctx.api();
    let mut r = restore("big-restore", from_backup("big"), &ctx.table("BigRestored"));
    r.spec.verify = Some(verify_spec(&[]));
    restores.create(&PostParams::default(), &r).await.map_err(|e| e.to_string())?;
    tokio::time::timeout(WAIT, proxy.held()).await.map_err(|_| "the second page was never asked for")?;
    first.process.signal(libc::SIGKILL);
    first.process.wait_timeout(Duration::from_secs(10)).ok_or("the operator survived SIGKILL")?;
    let saved = restores.get("big-restore").await.map_err(|e| e.to_string())?.status.and_then(|s| s.verification).unwrap_or_default();
    println!("saved before the crash: {saved:?}");
    ensure(saved.item_count == Some(1000) && saved.resume_key.is_some(), || format!("no place saved: {saved:?}"))?;
    let before = proxy.count("Scan");
    proxy.clear();
    let _second = ctx.start_operator_via(&proxy, &[])?;
    let (cond, v) = verified(&restores, "big-restore").await?;
    ensure(cond.status == "True" && v.item_count == Some(ITEMS as i64), || format!("{cond:?} {v:?}"))?;
    let after = proxy.count("Scan") - before;
    ensure(after == 2, || format!("expected the count to resume with 2 pages, it took {after}"))
}

async fn creating_then_active(ctx: TestCtx) -> Result<(), String> {
    let profiles = ctx.table("UserProfiles");
    let clone = ctx.table("Clone");
    create_table(&ctx.dynamo(), &profiles, &[("u-1", "ada")]).await?;
    enable_pitr(&ctx, &profiles).await?;
    let proxy = FaultProxy::start(&ctx.env.moto.url).await?;
    proxy.add(Rule::TableCreating { table: clone.clone(), times: 2 });
    let _op = ctx.start_operator_via(&proxy, &[])?;
    let api: Api<DynamoRestore> = ctx.api();
    api.create(&PostParams::default(), &restore("slow", point_in_time(&profiles, None), &clone)).await.map_err(|e| e.to_string())?;
    let restoring = eventually("phase Restoring with table CREATING", WAIT, || {
        let api = api.clone();
        async move {
            let obj = api.get("slow").await.ok()?;
            let s = obj.status?;
            (s.phase == Some(RestorePhase::Restoring) && s.table_status.as_deref() == Some("CREATING")).then_some(s)
        }
    })
    .await?;
    println!("while restoring: {:?}", condition(&restoring.conditions, "Reconciling").map(|c| &c.message));
    wait_condition(&api, "slow", "Ready", WAIT, conditions).await?;
    Ok(())
}

async fn limit_exceeded(ctx: TestCtx) -> Result<(), String> {
    let profiles = ctx.table("UserProfiles");
    create_table(&ctx.dynamo(), &profiles, &[("u-1", "ada")]).await?;
    enable_pitr(&ctx, &profiles).await?;
    let proxy = FaultProxy::start(&ctx.env.moto.url).await?;
    proxy.add(Rule::Fail { operation: "RestoreTableToPointInTime", code: "LimitExceededException", status: 400, times: 1 });
    let _op = ctx.start_operator_via(&proxy, &[])?;
    let api: Api<DynamoRestore> = ctx.api();
    api.create(&PostParams::default(), &restore("busy", point_in_time(&profiles, None), &ctx.table("Clone")))
        .await
        .map_err(|e| e.to_string())?;
    let retrying = eventually("Reconciling with reason LimitExceeded", WAIT, || {
        let api = api.clone();
        async move {
            let obj = api.get("busy").await.ok()?;
            condition(&conditions(&obj), "Reconciling").filter(|c| c.reason == "LimitExceeded").cloned()
        }
    })
    .await?;
    println!("while limited: {} — {}", retrying.reason, retrying.message);
    wait_condition(&api, "busy", "Ready", WAIT, conditions).await?;
    ensure(proxy.count("RestoreTableToPointInTime") == 2, || format!("calls: {:?}", proxy.calls()))
}

async fn gsi_keep_list(ctx: TestCtx) -> Result<(), String> {
    let profiles = ctx.table("UserProfiles");
    let key = |name: &str, kind| KeySchemaElement::builder().attribute_name(name).key_type(kind).build().map_err(|e| e.to_string());
    let attr = |name: &str| {
        AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build().map_err(|e| e.to_string())
    };
    let gsi = |name: &str, attribute: &str| -> Result<GlobalSecondaryIndex, String> {
        GlobalSecondaryIndex::builder()
            .index_name(name)
            .key_schema(key(attribute, KeyType::Hash)?)
            .projection(Projection::builder().projection_type(ProjectionType::All).build())
            .build()
            .map_err(|e| e.to_string())
    };
    ctx.dynamo()
        .create_table()
        .table_name(&profiles)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("userId", KeyType::Hash)?)
        .attribute_definitions(attr("userId")?)
        .attribute_definitions(attr("email")?)
        .attribute_definitions(attr("name")?)
        .global_secondary_indexes(gsi("byEmail", "email")?)
        .global_secondary_indexes(gsi("byName", "name")?)
        .send()
        .await
        .map_err(|e| format!("CreateTable: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
    let proxy = FaultProxy::start(&ctx.env.moto.url).await?;
    let _op = ctx.start_operator_via(&proxy, &[])?;
    let backups: Api<DynamoBackup> = ctx.api();
    backups.create(&PostParams::default(), &backup::backup("snap", &profiles, DeletionPolicy::Retain)).await.map_err(|e| e.to_string())?;
    wait_condition(&backups, "snap", "Ready", WAIT, backup::conditions).await?;
    let api: Api<DynamoRestore> = ctx.api();
    let mut r = restore("slim", from_backup("snap"), &ctx.table("Slim"));
    r.spec.overrides = Some(RestoreOverrides {
        billing_mode: None,
        provisioned_throughput: None,
        keep_global_secondary_indexes: Some(vec!["byEmail".into()]),
        keep_local_secondary_indexes: None,
        sse: None,
    });
    api.create(&PostParams::default(), &r).await.map_err(|e| e.to_string())?;
    wait_condition(&api, "slim", "Ready", WAIT, conditions).await?;
    let sent = proxy.requests("RestoreTableFromBackup");
    let overrides = sent.first().map(|b| b["GlobalSecondaryIndexOverride"].clone()).unwrap_or_default();
    println!("GlobalSecondaryIndexOverride sent: {overrides}");
    ensure(overrides.as_array().is_some_and(|a| a.len() == 1), || format!("override {overrides}"))?;
    ensure(overrides[0]["IndexName"] == "byEmail" && overrides[0]["KeySchema"][0]["AttributeName"] == "email", || {
        format!("override {overrides}")
    })?;
    ensure(overrides[0]["Projection"]["ProjectionType"] == "ALL", || format!("override {overrides}"))
}

/// The restore call is throttled after the intent was recorded, and meanwhile the DynamoBackup
/// object is deleted (Retain: the DynamoDB backup stays): the restore goes on from the backup
/// it recorded instead of waiting for an object that will not come back.
async fn backup_object_deleted(ctx: TestCtx) -> Result<(), String> {
    let orders = ctx.table("Orders");
    let target = ctx.table("Again");
    create_table(&ctx.dynamo(), &orders, &[("o-1", "keyboard"), ("o-2", "mouse")]).await?;
    let proxy = FaultProxy::start(&ctx.env.moto.url).await?;
    proxy.add(Rule::Fail { operation: "RestoreTableFromBackup", code: "ThrottlingException", status: 400, times: 2 });
    let _op = ctx.start_operator_via(&proxy, &[])?;
    let backups: Api<DynamoBackup> = ctx.api();
    backups.create(&PostParams::default(), &backup::backup("snap", &orders, DeletionPolicy::Retain)).await.map_err(|e| e.to_string())?;
    wait_condition(&backups, "snap", "Ready", WAIT, backup::conditions).await?;
    let api: Api<DynamoRestore> = ctx.api();
    api.create(&PostParams::default(), &restore("again", from_backup("snap"), &target)).await.map_err(|e| e.to_string())?;
    eventually("a restore call", WAIT, || async { (proxy.count("RestoreTableFromBackup") >= 1).then_some(()) }).await?;
    backups.delete("snap", &DeleteParams::default()).await.map_err(|e| e.to_string())?;
    eventually("the DynamoBackup gone", WAIT, || async { backups.get_opt("snap").await.ok()?.is_none().then_some(()) }).await?;
    // Throttled twice: retried after 15 s, then 30 s.
    wait_condition(&api, "again", "Ready", Duration::from_secs(150), conditions).await?;
    ensure(items(&ctx.dynamo(), &target).await?.len() == 2, || "the table lacks the snapshot's items".into())
}

/// Retention does not delete the backup a restore in progress is restoring; once the restore has
/// finished, it does.
async fn retention_waits_for_restore(ctx: TestCtx) -> Result<(), String> {
    let carts = ctx.table("Carts");
    let target = ctx.table("CartsBack");
    create_table(&ctx.dynamo(), &carts, &[("c-1", "apple")]).await?;
    let proxy = FaultProxy::start(&ctx.env.moto.url).await?;
    proxy.add(Rule::TableCreating { table: target.clone(), times: 8 });
    let _op = ctx.start_operator_via(&proxy, &[])?;
    crate::policy::labelled_backup(&ctx, "old", &carts, "keeper").await?;
    // A snapshot time strictly after the first one's (DynamoDB reports whole seconds).
    tokio::time::sleep(Duration::from_millis(1200)).await;
    crate::policy::labelled_backup(&ctx, "new", &carts, "keeper").await?;
    let api: Api<DynamoRestore> = ctx.api();
    api.create(&PostParams::default(), &restore("from-old", from_backup("old"), &target)).await.map_err(|e| e.to_string())?;
    eventually("the restore under way", WAIT, || async {
        (api.get("from-old").await.ok()?.status?.phase == Some(RestorePhase::Restoring)).then_some(())
    })
    .await?;
    let mut p = crate::policy::policy("keeper", &[&carts]);
    p.spec.retention = Some(crate::policy::keep_last(1));
    let policies: Api<dynamo_backup_operator::api::DynamoBackupPolicy> = ctx.api();
    policies.create(&PostParams::default(), &p).await.map_err(|e| e.to_string())?;
    wait_condition(&policies, "keeper", "Ready", WAIT, crate::policy::conditions).await?;
    let backups: Api<DynamoBackup> = ctx.api();
    let still = api.get("from-old").await.map_err(|e| e.to_string())?.status.and_then(|s| s.phase);
    if still != Some(RestorePhase::Completed) {
        ensure(backups.get_opt("old").await.map_err(|e| e.to_string())?.is_some(), || {
            "retention deleted the backup being restored".into()
        })?;
    }
    wait_condition(&api, "from-old", "Ready", WAIT, conditions).await?;
    eventually("retention to delete the old backup once restored", WAIT, || async {
        backups.get_opt("old").await.ok()?.is_none().then_some(())
    })
    .await
}
