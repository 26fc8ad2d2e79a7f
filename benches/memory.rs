//! The operator's resident memory (VmRSS) at idle and with 10,000 DynamoBackups and 1,000
//! DynamoBackupPolicies in the cluster: the release binary against the real apiserver and moto.
//!
//!     cargo bench --bench memory        # BACKUPS=n and POLICIES=n for other counts
//!
//! The policies protect one table each (PITR, no schedule); the backups are spread over those
//! tables and labelled as made by their policies, so every policy has children to count. The
//! DynamoDB rate limits are raised for the run, so the figure is reached in minutes. Every
//! backup and policy is Ready before the second reading; the operator then holds all of them in
//! its caches.

#[path = "../tests/e2e/support/mod.rs"]
#[allow(dead_code)]
mod support;

use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use dynamo_backup_operator::api::{
    DeletionPolicy, DynamoBackup, DynamoBackupPolicy, DynamoBackupPolicySpec, DynamoBackupSpec, OnPolicyDelete, PointInTimeRecoverySpec,
    labels,
};
use futures::{StreamExt, TryStreamExt, stream};
use kube::{
    Api,
    api::{ListParams, PostParams},
};

fn main() {
    let backups: usize = std::env::var("BACKUPS").ok().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let policies: usize = std::env::var("POLICIES").ok().and_then(|n| n.parse().ok()).unwrap_or(1000).max(1);
    support::run_benchmark(|env| async move { run(&env, backups, policies).await });
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn ready(conditions: Option<&Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>>) -> bool {
    conditions.is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

async fn run(env: &std::sync::Arc<support::Env>, count: usize, policies: usize) -> Result<(), String> {
    let ctx = env.context("bench-memory");
    ctx.create_namespace().await?;
    let tables: Vec<String> = (0..policies).map(|i| ctx.table(&format!("Orders{i}"))).collect();
    stream::iter(tables.iter().cloned().map(|table| {
        let dynamo = ctx.dynamo();
        async move { support::tables::create_table(&dynamo, &table, &[("o-1", "keyboard")]).await }
    }))
    .buffer_unordered(16)
    .try_collect::<Vec<()>>()
    .await?;
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

    let started = Instant::now();
    let policy_api: Api<DynamoBackupPolicy> = ctx.api();
    stream::iter(0..policies)
        .map(|i| {
            let api = policy_api.clone();
            let spec = DynamoBackupPolicySpec {
                tables: vec![tables[i].clone()],
                table_selector: None,
                region: None,
                point_in_time_recovery: PointInTimeRecoverySpec::default(),
                schedule: None,
                pre_rollout: None,
                retention: None,
                backup_deletion_policy: DeletionPolicy::Retain,
                on_policy_delete: OnPolicyDelete::Orphan,
                backup: None,
                drill: None,
            };
            async move {
                api.create(&PostParams::default(), &DynamoBackupPolicy::new(&format!("p-{i:04}"), spec))
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("creating p-{i:04}: {e}"))
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await?;
    let api: Api<DynamoBackup> = ctx.api();
    stream::iter(0..count)
        .map(|i| {
            let api = api.clone();
            let spec = DynamoBackupSpec::for_table(tables[i % policies].clone());
            let mut backup = DynamoBackup::new(&format!("b-{i:05}"), spec);
            backup.metadata.labels = Some(BTreeMap::from([
                (labels::POLICY.to_owned(), format!("p-{:04}", i % policies)),
                (labels::TRIGGER.to_owned(), "manual".to_owned()),
            ]));
            async move { api.create(&PostParams::default(), &backup).await.map(|_| ()).map_err(|e| format!("creating b-{i:05}: {e}")) }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await?;
    let created = started.elapsed();
    support::process::eventually("every backup and policy Ready", Duration::from_secs(1800), || {
        let (api, policy_api) = (api.clone(), policy_api.clone());
        async move {
            let list = api.list(&ListParams::default()).await.ok()?;
            let backups = list.items.iter().filter(|b| ready(b.status.as_ref().map(|s| &s.conditions))).count();
            let list = policy_api.list(&ListParams::default()).await.ok()?;
            let protected = list.items.iter().filter(|p| ready(p.status.as_ref().map(|s| &s.conditions))).count();
            (backups == count && protected == policies).then_some(())
        }
    })
    .await?;
    let ready_after = started.elapsed();
    // Settled: the last reconciles are done and the caches hold every object.
    tokio::time::sleep(Duration::from_secs(20)).await;
    let (loaded, peak) = support::process::memory_kib(pid)?;
    let (anon, file) = (support::process::status_kib(pid, "RssAnon:")?, support::process::status_kib(pid, "RssFile:")?);

    println!("Operator resident memory (VmRSS), release build, real kube-apiserver, moto:");
    println!("  idle (ready, watching, no objects)                      {:.1} MiB", mib(idle));
    println!("  {count} DynamoBackups and {policies} policies, all Ready     {:.1} MiB   (target <= 64 MiB)", mib(loaded));
    println!("    of which heap and stacks (RssAnon) {:.1} MiB, the binary's code (RssFile) {:.1} MiB", mib(anon), mib(file));
    println!("  peak during the run (VmHWM)                             {:.1} MiB", mib(peak));
    println!(
        "  (created in {:.1} s, all Ready after {:.1} s; {policies} tables, one per policy)",
        created.as_secs_f64(),
        ready_after.as_secs_f64()
    );
    Ok(())
}
