//! What one restore drill costs in DynamoDB: the calls (counted by the proxy, by operation) and
//! the read capacity of its verification, for a table of ITEMS items (default 1,000) of about
//! ITEM_BYTES bytes each (default 200). The release binary against the real apiserver and moto.
//!
//!     cargo bench --bench drill
//!
//! The drill is the one `kubectl dynamobackup drill` makes (from the newest backup, the default
//! checks: the item count within 5 percent), followed from its creation until it has deleted
//! itself and its table (ttlAfterFinished 2s). The read capacity is printed twice: as moto's
//! answers report it, and as DynamoDB documents it for an eventually consistent Scan (per page:
//! the items' size rounded up to 4 KB, half a unit per 4 KB). moto answers at once, so the
//! times printed are the operator's and the apiserver's, not a real restore's.

#[path = "../tests/e2e/support/mod.rs"]
#[allow(dead_code)]
mod support;

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use dynamo_backup_operator::{
    api::{
        BackupSchedule, DeletionPolicy, DrillSource, DrillSpec, DynamoBackup, DynamoBackupPolicy, DynamoBackupSpec, DynamoRestore, labels,
    },
    plan::{
        drill::{DrillFrom, drill_restore, outcome},
        verify::PAGE_ITEMS,
    },
};
use futures::{StreamExt, TryStreamExt};
use kube::{
    Api,
    api::{ObjectMeta, PostParams},
};

fn main() {
    let items: usize = std::env::var("ITEMS").ok().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let item_bytes: usize = std::env::var("ITEM_BYTES").ok().and_then(|n| n.parse().ok()).unwrap_or(200);
    support::run_benchmark(|env| async move { run(&env, items, item_bytes).await });
}

async fn run(env: &std::sync::Arc<support::Env>, count: usize, item_bytes: usize) -> Result<(), String> {
    let ctx = env.context("bench-drill");
    ctx.create_namespace().await?;
    let table = ctx.table("Orders");
    let db = ctx.dynamo();
    support::tables::create_table(&db, &table, &[]).await?;
    // An item: orderId (7 + 7 bytes) and item (4 + the payload): about item_bytes in all.
    let payload = "x".repeat(item_bytes.saturating_sub(25).max(1));
    futures::stream::iter((0..count).map(|i| {
        let (db, table, payload) = (db.clone(), table.clone(), payload.clone());
        async move { support::tables::put(&db, &table, &format!("o-{i:05}"), &payload).await }
    }))
    .buffer_unordered(16)
    .try_collect::<Vec<()>>()
    .await?;
    let item_size = "orderId".len() + "o-00000".len() + "item".len() + payload.len();

    let proxy = support::proxy::FaultProxy::start(&env.moto.url).await?;
    let _operator = ctx.start_operator_via(&proxy, &[])?;
    let backups: Api<DynamoBackup> = ctx.api();
    let mut snap = DynamoBackup::new("snap", DynamoBackupSpec::for_table(table.clone()));
    snap.spec.deletion_policy = DeletionPolicy::Delete;
    snap.metadata.labels = Some(BTreeMap::from([(labels::POLICY.to_owned(), "bench".to_owned())]));
    backups.create(&PostParams::default(), &snap).await.map_err(|e| e.to_string())?;
    support::tables::wait_condition(&backups, "snap", "Ready", Duration::from_secs(60), |b: &DynamoBackup| {
        b.status.as_ref().map(|s| s.conditions.clone()).unwrap_or_default()
    })
    .await?;
    let policies: Api<DynamoBackupPolicy> = ctx.api();
    let mut policy = DynamoBackupPolicy {
        metadata: ObjectMeta { name: Some("bench".into()), namespace: Some(ctx.namespace.clone()), ..Default::default() },
        spec: serde_json::from_value(serde_json::json!({"tables": [table]})).map_err(|e| e.to_string())?,
        status: None,
    };
    policy.spec.drill = Some(DrillSpec {
        schedule: BackupSchedule { cron: "@yearly".into(), time_zone: None, jitter: None, starting_deadline: None, suspend: false },
        source: DrillSource::LatestBackup,
        tables_per_run: 0,
        verify: None,
        ttl_after_finished: Some("2s".into()),
    });
    policies.create(&PostParams::default(), &policy).await.map_err(|e| e.to_string())?;
    support::tables::wait_condition(&policies, "bench", "Ready", Duration::from_secs(60), |p: &DynamoBackupPolicy| {
        p.status.as_ref().map(|s| s.conditions.clone()).unwrap_or_default()
    })
    .await?;
    // Let the policy's own first reads settle before counting.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let before = proxy.counts();
    let consumed_before = proxy.consumed("Scan");
    let restore = drill_restore(&policy, &table, &DrillFrom::Backup("snap".into()), "bench").map_err(|e| e.0)?;
    let name = restore.metadata.name.clone().unwrap_or_default();
    let target = restore.spec.target_table_name.clone();
    let restores: Api<DynamoRestore> = ctx.api();
    let started = Instant::now();
    restores.create(&PostParams::default(), &restore).await.map_err(|e| e.to_string())?;
    let finished = support::process::eventually("the drill to finish", Duration::from_secs(300), || async {
        let r = restores.get_opt(&name).await.ok()??;
        let seen = outcome(&r);
        (seen.result != dynamo_backup_operator::api::DrillResult::Running).then_some((seen, started.elapsed()))
    })
    .await?;
    support::process::eventually("the drill and its table deleted", Duration::from_secs(120), || async {
        let gone = restores.get_opt(&name).await.ok()?.is_none();
        (gone && !support::tables::table_exists(&ctx.env.moto.client(), &target).await).then_some(())
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = proxy.counts();

    let mut calls: Vec<(String, usize)> =
        after.iter().map(|(op, n)| (op.clone(), n - before.get(op).copied().unwrap_or(0))).filter(|(_, n)| *n > 0).collect();
    calls.sort();
    let total: usize = calls.iter().map(|(_, n)| n).sum();
    let pages = count / usize::try_from(PAGE_ITEMS).unwrap_or(1000) + 1;
    let per_page = usize::try_from(PAGE_ITEMS).unwrap_or(1000) * item_size;
    let documented: f64 = (0..pages)
        .map(|page| {
            let items_here =
                count.saturating_sub(page * usize::try_from(PAGE_ITEMS).unwrap_or(1000)).min(usize::try_from(PAGE_ITEMS).unwrap_or(1000));
            let bytes = (items_here * item_size).min(per_page);
            // A page that reads nothing is still charged as one 4 KB read.
            f64::from(u32::try_from(bytes.div_ceil(4096).max(1)).unwrap_or(u32::MAX)) * 0.5
        })
        .sum();
    println!("drill of a table of {count} items of {item_size} bytes ({} KiB):", count * item_size / 1024);
    println!(
        "  result: {:?} ({}) in {:.1} s from creation",
        finished.0.result,
        finished.0.message.unwrap_or_default(),
        finished.1.as_secs_f64()
    );
    println!("  DynamoDB calls, from the drill's creation until it and its table were deleted: {total}");
    for (op, n) in &calls {
        println!("    {op:<28}{n}");
    }
    println!(
        "  read capacity of the count: {:.1} RCU as moto reported; {documented:.1} RCU as DynamoDB documents it ({pages} Scan page(s), eventually consistent)",
        proxy.consumed("Scan") - consumed_before
    );
    Ok(())
}
