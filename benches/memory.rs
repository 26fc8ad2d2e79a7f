//! The operator's resident memory (VmRSS) at idle and with 1,000 DynamoBackups in the cluster:
//! the release binary against the real apiserver and moto.
//!
//!     cargo bench --bench memory                  # 1,000 backups (BACKUPS=n for another count)
//!
//! The backups are spread over 10 tables and made 16 at a time; the DynamoDB rate limits are
//! raised for the run (moto has none), so the figure is reached in minutes. Every backup is
//! Ready before the second reading; the operator then holds all of them in its caches.

#[path = "../tests/e2e/support/mod.rs"]
#[allow(dead_code)]
mod support;

use std::time::{Duration, Instant};

use dynamo_backup_operator::api::{DeletionPolicy, DynamoBackup, DynamoBackupSpec};
use futures::{StreamExt, TryStreamExt, stream};
use kube::{
    Api,
    api::{ListParams, PostParams},
};

const TABLES: usize = 10;

fn main() {
    let count: usize = std::env::var("BACKUPS").ok().and_then(|n| n.parse().ok()).unwrap_or(1000);
    support::run_benchmark(|env| async move { run(&env, count).await });
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn is_ready(b: &DynamoBackup) -> bool {
    b.status.as_ref().is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

async fn run(env: &std::sync::Arc<support::Env>, count: usize) -> Result<(), String> {
    let ctx = env.context("bench-memory");
    ctx.create_namespace().await?;
    let tables: Vec<String> = (0..TABLES).map(|i| ctx.table(&format!("Orders{i}"))).collect();
    for table in &tables {
        support::tables::create_table(&ctx.dynamo(), table, &[("o-1", "keyboard")]).await?;
    }
    let operator = ctx.start_operator(&[
        "--log-format=json",
        "--aws-rate-limits=ListBackups=200,CreateBackup=200,DescribeBackup=200,DeleteBackup=200,DescribeContinuousBackups=200",
    ])?;
    let pid = operator.process.pid();
    let ready_url = format!("{}/readyz", operator.metrics_url);
    support::process::eventually("the operator ready", Duration::from_secs(60), || {
        let url = ready_url.clone();
        async move { reqwest::get(&url).await.ok().filter(|r| r.status().is_success()) }
    })
    .await?;
    // Idle: ready, watching, no objects.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (idle, _) = support::process::memory_kib(pid)?;

    let api: Api<DynamoBackup> = ctx.api();
    let started = Instant::now();
    stream::iter(0..count)
        .map(|i| {
            let api = api.clone();
            let spec = DynamoBackupSpec {
                table_name: tables[i % TABLES].clone(),
                region: None,
                backup_name: None,
                deletion_policy: DeletionPolicy::Retain,
            };
            async move {
                api.create(&PostParams::default(), &DynamoBackup::new(&format!("b-{i:04}"), spec))
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("creating b-{i:04}: {e}"))
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await?;
    let created = started.elapsed();
    let all_ready = support::process::eventually("every backup Ready", Duration::from_secs(1200), || {
        let api = api.clone();
        async move {
            let list = api.list(&ListParams::default()).await.ok()?;
            let ready = list.items.iter().filter(|b| is_ready(b)).count();
            (ready == count).then_some(())
        }
    })
    .await;
    all_ready?;
    let ready_after = started.elapsed();
    // Settled: the last reconciles are done and the caches hold every object.
    tokio::time::sleep(Duration::from_secs(15)).await;
    let (loaded, peak) = support::process::memory_kib(pid)?;

    println!("Operator resident memory (VmRSS), release build, real kube-apiserver, moto:");
    println!("  idle (ready, watching, no objects)       {:.1} MiB", mib(idle));
    println!("  with {count} DynamoBackups, all Ready      {:.1} MiB", mib(loaded));
    println!("  peak during the run (VmHWM)              {:.1} MiB", mib(peak));
    println!(
        "  ({count} created in {:.1} s, all Ready after {:.1} s, over {TABLES} tables)",
        created.as_secs_f64(),
        ready_after.as_secs_f64()
    );
    Ok(())
}
