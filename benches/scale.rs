//! Scale at DynamoDB's real limits: the release binary with default flags against the real
//! apiserver and moto, behind the test proxy enforcing DynamoDB's documented per-second limits
//! (a call beyond them is answered with ThrottlingException). Each run prints its figure, the
//! floor the limits impose, and the DynamoDB calls it took by operation.
//!
//!     cargo bench --bench scale                      # every run below
//!     SCALE_RUNS=burst-10 cargo bench --bench scale  # some of them, comma-separated
//!
//! Runs:
//! - `burst-10`: 1,000 DynamoBackups applied at once over 10 tables: time until all are Ready;
//! - `burst-1000`: the same over 1,000 tables (one backup each).
//!
//! BACKUPS=n changes the 1,000.

#[path = "../tests/e2e/support/mod.rs"]
#[allow(dead_code)]
mod support;

use std::{
    collections::{BTreeMap, HashSet},
    sync::Arc,
    time::{Duration, Instant},
};

use dynamo_backup_operator::api::{DeletionPolicy, DynamoBackup, DynamoBackupSpec};
use futures::{StreamExt, TryStreamExt};
use kube::{
    Api,
    api::PostParams,
    runtime::{WatchStreamExt, watcher},
};

/// CreateBackup's documented rate: the floor of any burst of backups.
const CREATE_BACKUP_PER_SECOND: f64 = 50.0;

fn main() {
    let runs = std::env::var("SCALE_RUNS").unwrap_or_else(|_| "burst-10,burst-1000".into());
    let backups: usize = std::env::var("BACKUPS").ok().and_then(|n| n.parse().ok()).unwrap_or(1000);
    support::run_benchmark(|env| async move {
        for run in runs.split(',').map(str::trim).filter(|r| !r.is_empty()) {
            match run {
                "burst-10" => burst(&env, "burst-10", 10, backups).await?,
                "burst-1000" => burst(&env, "burst-1000", backups, backups).await?,
                other => return Err(format!("unknown run {other:?}: burst-10, burst-1000")),
            }
        }
        Ok(())
    });
}

fn is_ready(backup: &DynamoBackup) -> bool {
    backup.status.as_ref().is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// `backups` DynamoBackups over `tables` tables, created as fast as the apiserver takes them.
async fn burst(env: &Arc<support::Env>, name: &str, tables: usize, backups: usize) -> Result<(), String> {
    let ctx = env.context(&format!("bench-{name}"));
    ctx.create_namespace().await?;
    let dynamo = ctx.dynamo();
    let names: Vec<String> = (0..tables).map(|i| ctx.table(&format!("T{i}"))).collect();
    futures::stream::iter(names.iter().map(|table| support::tables::create_table(&dynamo, table, &[("o-1", "keyboard")])))
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await?;

    let proxy = support::proxy::FaultProxy::start(&env.moto.url).await?;
    proxy.enforce_documented_limits();
    let operator = ctx.start_operator_via(&proxy, &[])?;
    wait_ready(&operator).await?;
    let api: Api<DynamoBackup> = ctx.api();

    // Count Ready objects from a watch, so the measurement costs the apiserver little.
    let watch = {
        let api = api.clone();
        tokio::spawn(async move {
            let mut ready = HashSet::new();
            let mut stream = watcher(api, watcher::Config::default()).applied_objects().boxed();
            while let Some(Ok(backup)) = stream.next().await {
                if is_ready(&backup) {
                    ready.insert(backup.metadata.name.clone().unwrap_or_default());
                    if ready.len() == backups {
                        return Instant::now();
                    }
                }
            }
            Instant::now()
        })
    };
    let started = Instant::now();
    futures::stream::iter((0..backups).map(|i| {
        let api = api.clone();
        let table = names[i % tables].clone();
        async move {
            let spec = DynamoBackupSpec { table_name: table, region: None, backup_name: None, deletion_policy: DeletionPolicy::Retain };
            api.create(&PostParams::default(), &DynamoBackup::new(&format!("b-{i}"), spec)).await.map(|_| ()).map_err(|e| e.to_string())
        }
    }))
    .buffer_unordered(32)
    .try_collect::<Vec<()>>()
    .await?;
    let applied = started.elapsed();
    let done = tokio::time::timeout(Duration::from_secs(600), watch)
        .await
        .map_err(|_| format!("not every backup was Ready within 600 s ({name})"))?
        .map_err(|e| e.to_string())?;
    let elapsed = done.duration_since(started);
    // Follow-up calls (if any) land before the counts are read.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let listed = support::tables::all_backups(&dynamo).await?;
    let mut per_name: BTreeMap<String, usize> = BTreeMap::new();
    for (table, backup) in &listed {
        if names.contains(table) {
            *per_name.entry(backup.clone()).or_insert(0) += 1;
        }
    }
    let duplicates: usize = per_name.values().map(|n| n.saturating_sub(1)).sum();
    let counts: BTreeMap<String, usize> = proxy.counts().into_iter().collect();
    let throttled: BTreeMap<String, usize> = proxy.throttled().into_iter().collect();
    let total: usize = counts.values().sum::<usize>() - throttled.values().sum::<usize>();
    let floor = backups as f64 / CREATE_BACKUP_PER_SECOND;

    println!("== {backups} DynamoBackups at once over {tables} table(s), default flags, limits enforced ==");
    println!("  all Ready after      {:.1} s   (floor {floor:.1} s: CreateBackup at 50/s; target <= 25 s)", elapsed.as_secs_f64());
    println!("  applied in           {:.1} s", applied.as_secs_f64());
    println!("  throughput           {:.1} backups/s", backups as f64 / elapsed.as_secs_f64());
    println!("  DynamoDB calls       {counts:?}");
    println!("  calls per backup     {:.2}", total as f64 / backups as f64);
    println!("  throttled            {throttled:?}");
    println!("  backups in DynamoDB  {} for {} objects, {duplicates} duplicate(s)", per_name.values().sum::<usize>(), backups);
    let (rss, peak) = support::process::memory_kib(operator.process.pid())?;
    println!("  operator memory      {:.1} MiB resident, peak {:.1} MiB", rss as f64 / 1024.0, peak as f64 / 1024.0);
    if duplicates > 0 || per_name.len() != backups {
        return Err(format!("{duplicates} duplicate(s); {} backups for {backups} objects", per_name.len()));
    }
    Ok(())
}

async fn wait_ready(operator: &support::Operator) -> Result<(), String> {
    let url = format!("{}/readyz", operator.metrics_url);
    support::process::eventually("the operator ready", Duration::from_secs(60), || {
        let url = url.clone();
        async move { reqwest::get(&url).await.ok().filter(|r| r.status().is_success()) }
    })
    .await
    .map(|_| ())
}
