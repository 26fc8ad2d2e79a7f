//! How long from creating a DynamoBackup to Ready=True, and how many DynamoDB calls one backup
//! costs: the release binary against the real apiserver and moto, through the counting proxy.
//!
//!     cargo bench --bench backup_ready            # 20 backups (BACKUPS=n for another count)
//!
//! moto answers at once (a backup is AVAILABLE immediately), so this measures the operator and
//! the apiserver, not DynamoDB: against AWS, the CREATING time of the backup adds to it.

#[path = "../tests/e2e/support/mod.rs"]
#[allow(dead_code)]
mod support;

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use dynamo_backup_operator::api::{DynamoBackup, DynamoBackupSpec};
use kube::{Api, api::PostParams, runtime::wait::await_condition};

fn main() {
    let count: usize = std::env::var("BACKUPS").ok().and_then(|n| n.parse().ok()).unwrap_or(20);
    support::run_benchmark(|env| async move { run(&env, count).await });
}

fn is_ready(obj: Option<&DynamoBackup>) -> bool {
    obj.and_then(|b| b.status.as_ref()).is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

async fn run(env: &std::sync::Arc<support::Env>, count: usize) -> Result<(), String> {
    let ctx = env.context("bench-backup-ready");
    ctx.create_namespace().await?;
    let table = ctx.table("Orders");
    support::tables::create_table(&ctx.dynamo(), &table, &[("o-1", "keyboard"), ("o-2", "monitor")]).await?;
    let proxy = support::proxy::FaultProxy::start(&env.moto.url).await?;
    let _operator = ctx.start_operator_via(&proxy, &[])?;
    let api: Api<DynamoBackup> = ctx.api();

    let mut samples = Vec::with_capacity(count);
    let mut calls_per_backup: Vec<BTreeMap<String, usize>> = Vec::with_capacity(count);
    // One backup first, not counted: the operator's watches and clients warm up.
    for i in 0..=count {
        let name = format!("bench-{i}");
        let before = proxy.calls().len();
        let backup = DynamoBackup::new(&name, DynamoBackupSpec::for_table(table.clone()));
        let started = Instant::now();
        api.create(&PostParams::default(), &backup).await.map_err(|e| e.to_string())?;
        tokio::time::timeout(Duration::from_secs(60), await_condition(api.clone(), &name, is_ready))
            .await
            .map_err(|_| format!("{name} was not Ready within 60 s"))?
            .map_err(|e| e.to_string())?;
        let elapsed = started.elapsed();
        // Let any follow-up reconcile of this backup finish before counting its calls.
        tokio::time::sleep(Duration::from_millis(500)).await;
        if i == 0 {
            continue;
        }
        samples.push(elapsed);
        let mut calls = BTreeMap::new();
        for op in &proxy.calls()[before..] {
            *calls.entry(op.clone()).or_insert(0) += 1;
        }
        calls_per_backup.push(calls);
    }

    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let median = if count % 2 == 1 { ms(samples[count / 2]) } else { (ms(samples[count / 2 - 1]) + ms(samples[count / 2])) / 2.0 };
    let p90 = ms(samples[(count * 9).div_ceil(10) - 1]);
    println!("DynamoBackup created -> Ready=True, {count} backups, release build, moto behind the proxy:");
    println!("  median {median:.0} ms   min {:.0} ms   p90 {p90:.0} ms   max {:.0} ms", ms(samples[0]), ms(samples[count - 1]));
    let totals: Vec<usize> = calls_per_backup.iter().map(|c| c.values().sum()).collect();
    let same = calls_per_backup.windows(2).all(|w| w[0] == w[1]);
    println!(
        "DynamoDB calls per backup, creation to Ready: {} {:?}{}",
        totals.first().copied().unwrap_or(0),
        calls_per_backup.first().cloned().unwrap_or_default(),
        if same { " (the same for every backup)".to_owned() } else { format!(" (varied: {totals:?})") }
    );
    Ok(())
}
