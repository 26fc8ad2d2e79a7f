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
//! - `burst-1000`: the same over 1,000 tables (one backup each);
//! - `fleet`: 200 policies x 5 tables, PITR on, one shared hourly slot: time until every policy
//!   is Ready after apply; slot -> CreateBackup for the slot's 1,000 backups (p50, p99); a policy
//!   created during the slot's burst: time to its first status; then, with nothing due, DynamoDB
//!   calls per table-hour over QUIET_MINUTES (default 5) minutes;
//! - `fleet-retention`: the same fleet on a one-minute schedule with `keepLast: 2` and
//!   `backupDeletionPolicy: Delete`, over RETENTION_SLOTS (default 5) slots after every policy is
//!   Ready: from the third backup of a table on, each slot's retention deletes as many backups as
//!   the slot creates, behind DeleteBackup's 10 a second (100 s for 1,000, so deletions pile
//!   up). For each slot, slot -> CreateBackup (p50, p99, max) and the DeleteBackups made meanwhile;
//!   then the p99 over the slots in which retention deleted.
//!
//! BACKUPS=n changes the 1,000 of the bursts; POLICIES=n the 200 of the fleets.

#[path = "../tests/e2e/support/mod.rs"]
#[allow(dead_code)]
mod support;

use support::bench::{backup_ready, create_backups, create_tables, operator_memory, operator_ready, percentile, policies_ready};

use std::{
    collections::{BTreeMap, HashSet},
    sync::Arc,
    time::{Duration, Instant},
};

use dynamo_backup_operator::api::{
    BackupSchedule, DeletionPolicy, DynamoBackup, DynamoBackupPolicy, DynamoBackupPolicySpec, OnPolicyDelete, PointInTimeRecoverySpec,
};
use futures::{StreamExt, TryStreamExt};
use kube::{
    Api,
    api::{ListParams, PostParams},
    runtime::{WatchStreamExt, watcher},
};

/// CreateBackup's documented rate: the floor of any burst of backups.
const CREATE_BACKUP_PER_SECOND: f64 = 50.0;

fn main() {
    let runs = std::env::var("SCALE_RUNS").unwrap_or_else(|_| "burst-10,burst-1000,fleet,fleet-retention".into());
    let backups: usize = std::env::var("BACKUPS").ok().and_then(|n| n.parse().ok()).unwrap_or(1000);
    support::run_benchmark(|env| async move {
        for run in runs.split(',').map(str::trim).filter(|r| !r.is_empty()) {
            match run {
                "burst-10" => burst(&env, "burst-10", 10, backups).await?,
                "burst-1000" => burst(&env, "burst-1000", backups, backups).await?,
                "fleet" => fleet(&env).await?,
                "fleet-retention" => fleet_retention(&env).await?,
                other => return Err(format!("unknown run {other:?}: burst-10, burst-1000, fleet, fleet-retention")),
            }
        }
        Ok(())
    });
}

/// `backups` DynamoBackups over `tables` tables, created as fast as the apiserver takes them.
async fn burst(env: &Arc<support::Env>, name: &str, tables: usize, backups: usize) -> Result<(), String> {
    let ctx = env.context(&format!("bench-{name}"));
    ctx.create_namespace().await?;
    let dynamo = ctx.dynamo();
    let names: Vec<String> = (0..tables).map(|i| ctx.table(&format!("T{i}"))).collect();
    create_tables(&dynamo, &names).await?;

    let proxy = support::proxy::FaultProxy::start(&env.moto.url).await?;
    proxy.enforce_documented_limits();
    let operator = ctx.start_operator_via(&proxy, &[])?;
    operator_ready(&operator).await?;
    let api: Api<DynamoBackup> = ctx.api();

    // Count Ready objects from a watch, so the measurement costs the apiserver little.
    let watch = {
        let api = api.clone();
        tokio::spawn(async move {
            let mut ready = HashSet::new();
            let mut stream = watcher(api, watcher::Config::default()).applied_objects().boxed();
            while let Some(Ok(backup)) = stream.next().await {
                if backup_ready(&backup) {
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
    create_backups(&api, "b", 0..backups, |i| names[i % tables].clone()).await?;
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
    println!("  operator memory      {}", operator_memory(&operator)?);
    if duplicates > 0 || per_name.len() != backups {
        return Err(format!("{duplicates} duplicate(s); {} backups for {backups} objects", per_name.len()));
    }
    Ok(())
}

const TABLES_PER_POLICY: usize = 5;

/// 200 policies x 5 tables with one shared hourly slot, a latecomer during its burst, and the
/// calls made with nothing due.
async fn fleet(env: &Arc<support::Env>) -> Result<(), String> {
    let policies: usize = std::env::var("POLICIES").ok().and_then(|n| n.parse().ok()).unwrap_or(200);
    let quiet = Duration::from_secs(60 * std::env::var("QUIET_MINUTES").ok().and_then(|n| n.parse().ok()).unwrap_or(5));
    let ctx = env.context("bench-fleet");
    ctx.create_namespace().await?;
    let dynamo = ctx.dynamo();
    let names: Vec<String> = (0..(policies + 1) * TABLES_PER_POLICY).map(|i| ctx.table(&format!("F{i}"))).collect();
    create_tables(&dynamo, &names).await?;
    let tables = policies * TABLES_PER_POLICY;

    let proxy = support::proxy::FaultProxy::start(&env.moto.url).await?;
    proxy.enforce_documented_limits();
    let operator = ctx.start_operator_via(&proxy, &[])?;
    operator_ready(&operator).await?;
    let api: Api<DynamoBackupPolicy> = ctx.api();

    // One hourly slot for all, at least four minutes away: time to get Ready first.
    let now = jiff::Timestamp::now();
    let slot = (now + jiff::SignedDuration::from_mins(5))
        .round(jiff::TimestampRound::new().smallest(jiff::Unit::Minute).mode(jiff::RoundMode::Trunc))
        .map_err(|e| e.to_string())?;
    let minute = slot.to_zoned(jiff::tz::TimeZone::UTC).minute();
    let make = |i: usize| {
        let spec = DynamoBackupPolicySpec {
            tables: names[i * TABLES_PER_POLICY..(i + 1) * TABLES_PER_POLICY].to_vec(),
            table_selector: None,
            region: None,
            point_in_time_recovery: PointInTimeRecoverySpec::default(),
            schedule: Some(BackupSchedule {
                cron: format!("{minute} * * * *"),
                time_zone: None,
                jitter: None,
                starting_deadline: None,
                suspend: false,
            }),
            pre_rollout: None,
            retention: None,
            backup_deletion_policy: DeletionPolicy::Retain,
            on_policy_delete: OnPolicyDelete::Orphan,
            backup: None,
            drill: None,
        };
        DynamoBackupPolicy::new(&format!("p{i}"), spec)
    };
    let started = Instant::now();
    futures::stream::iter((0..policies).map(|i| {
        let (api, policy) = (api.clone(), make(i));
        async move { api.create(&PostParams::default(), &policy).await.map(|_| ()).map_err(|e| e.to_string()) }
    }))
    .buffer_unordered(16)
    .try_collect::<Vec<()>>()
    .await?;
    let ready_after = policies_ready(&api, policies, started).await?;
    let read_floor = tables as f64 / 10.0;
    println!("== fleet: {policies} policies x {TABLES_PER_POLICY} tables, PITR on, hourly slot at minute {minute}, limits enforced ==");
    println!(
        "  every policy Ready after   {:.1} s   (floor {read_floor:.1} s: DescribeContinuousBackups at 10/s; target <= {:.1} s)",
        ready_after.as_secs_f64(),
        read_floor * 1.5
    );

    // The slot's burst, and a latecomer created in the middle of it.
    let until_slot = Duration::try_from(slot.duration_since(jiff::Timestamp::now())).unwrap_or_default();
    tokio::time::sleep(until_slot + Duration::from_secs(5)).await;
    let latecomer = make(policies);
    let created = Instant::now();
    api.create(&PostParams::default(), &latecomer).await.map_err(|e| e.to_string())?;
    let first_status = support::process::eventually("the latecomer's first status", Duration::from_secs(300), || {
        let api = api.clone();
        async move {
            let p = api.get(&format!("p{policies}")).await.ok()?;
            p.status
                .as_ref()
                .is_some_and(|s| s.observed_generation == p.metadata.generation && !s.conditions.is_empty())
                .then(|| created.elapsed())
        }
    })
    .await?;
    let backups: Api<DynamoBackup> = ctx.api();
    support::process::eventually("the slot's backups Ready", Duration::from_secs(600), || {
        let backups = backups.clone();
        async move {
            let list = backups.list(&ListParams::default()).await.ok()?;
            let ready = list.items.iter().filter(|b| backup_ready(b)).count();
            (ready >= tables).then_some(())
        }
    })
    .await?;
    let mut delays: Vec<f64> = proxy
        .requests_at("CreateBackup")
        .into_iter()
        .filter(|(_, at)| *at >= slot)
        .map(|(_, at)| at.duration_since(slot).as_secs_f64())
        .collect();
    delays.sort_by(f64::total_cmp);
    println!(
        "  slot -> CreateBackup       p50 {:.1} s   p99 {:.1} s   max {:.1} s over {} backups   (floor 20.0 s for 1,000; target p99 <= 25 s)",
        percentile(&delays, 50.0),
        percentile(&delays, 99.0),
        percentile(&delays, 100.0),
        delays.len()
    );
    println!("  a policy created 5 s into the burst: first status after {:.1} s   (target <= 30 s)", first_status.as_secs_f64());
    let throttled: BTreeMap<String, usize> = proxy.throttled().into_iter().collect();
    println!("  throttled so far           {throttled:?}");

    // Nothing due: what the fleet costs at rest.
    tokio::time::sleep(Duration::from_secs(30)).await;
    let from = jiff::Timestamp::now();
    tokio::time::sleep(quiet).await;
    let to = jiff::Timestamp::now();
    let quiet_calls: BTreeMap<String, usize> = proxy.counts_between(from, to).into_iter().collect();
    let total: usize = quiet_calls.values().sum();
    let table_hours = (tables + TABLES_PER_POLICY) as f64 * quiet.as_secs_f64() / 3600.0;
    println!(
        "  nothing due, {} min        {total} DynamoDB calls {quiet_calls:?}: {:.2} per table-hour   (target <= 2)",
        quiet.as_secs() / 60,
        total as f64 / table_hours
    );
    let calls: BTreeMap<String, usize> = proxy.counts().into_iter().collect();
    println!("  DynamoDB calls in all      {calls:?}");
    println!("  operator memory            {}", operator_memory(&operator)?);
    Ok(())
}

/// The fleet on a one-minute schedule with `keepLast: 2`: slot -> CreateBackup while retention
/// deletes as many backups as each slot creates.
async fn fleet_retention(env: &Arc<support::Env>) -> Result<(), String> {
    let policies: usize = std::env::var("POLICIES").ok().and_then(|n| n.parse().ok()).unwrap_or(200);
    let slots: usize = std::env::var("RETENTION_SLOTS").ok().and_then(|n| n.parse().ok()).unwrap_or(5);
    let ctx = env.context("bench-fleet-retention");
    ctx.create_namespace().await?;
    let dynamo = ctx.dynamo();
    let names: Vec<String> = (0..policies * TABLES_PER_POLICY).map(|i| ctx.table(&format!("R{i}"))).collect();
    create_tables(&dynamo, &names).await?;
    let tables = names.len();

    let proxy = support::proxy::FaultProxy::start(&env.moto.url).await?;
    proxy.enforce_documented_limits();
    let operator = ctx.start_operator_via(&proxy, &[])?;
    operator_ready(&operator).await?;
    let api: Api<DynamoBackupPolicy> = ctx.api();
    let started = Instant::now();
    futures::stream::iter((0..policies).map(|i| {
        let api = api.clone();
        let spec = serde_json::json!({
            "tables": names[i * TABLES_PER_POLICY..(i + 1) * TABLES_PER_POLICY],
            "schedule": {"cron": "* * * * *"},
            "retention": {"keepLast": 2},
            "backupDeletionPolicy": "Delete",
        });
        async move {
            let policy = DynamoBackupPolicy::new(&format!("r{i}"), serde_json::from_value(spec).map_err(|e| e.to_string())?);
            api.create(&PostParams::default(), &policy).await.map(|_| ()).map_err(|e| e.to_string())
        }
    }))
    .buffer_unordered(16)
    .try_collect::<Vec<()>>()
    .await?;
    let ready_after = policies_ready(&api, policies, started).await?;
    println!("== fleet with retention: {policies} policies x {TABLES_PER_POLICY} tables, every minute, keepLast 2, limits enforced ==");
    println!("  every policy Ready after   {:.1} s", ready_after.as_secs_f64());

    // The slots measured: the next `slots` whole minutes.
    let first = support::bench::minute_after(Duration::ZERO)?;
    let marks: Vec<jiff::Timestamp> = (0..=slots).map(|k| first + jiff::SignedDuration::from_mins(k as i64)).collect();
    support::bench::sleep_until(marks[slots] + jiff::SignedDuration::from_secs(5)).await;

    let creates = proxy.requests_at("CreateBackup");
    let deletes = proxy.requests_at("DeleteBackup");
    let mut retention_delays: Vec<f64> = Vec::new();
    for k in 0..slots {
        let (from, to) = (marks[k], marks[k + 1]);
        let mut delays: Vec<f64> =
            creates.iter().filter(|(_, at)| *at >= from && *at < to).map(|(_, at)| at.duration_since(from).as_secs_f64()).collect();
        delays.sort_by(f64::total_cmp);
        let deleted = deletes.iter().filter(|(_, at)| *at >= from && *at < to).count();
        println!(
            "  slot {}: {} CreateBackups, slot -> CreateBackup p50 {:.1} s  p99 {:.1} s  max {:.1} s; {deleted} DeleteBackups in the minute",
            k + 1,
            delays.len(),
            percentile(&delays, 50.0),
            percentile(&delays, 99.0),
            percentile(&delays, 100.0),
        );
        if deleted > 0 {
            retention_delays.extend(delays);
        }
    }
    retention_delays.sort_by(f64::total_cmp);
    println!(
        "  slots in which retention deleted: slot -> CreateBackup p50 {:.1} s  p99 {:.1} s over {} backups   (floor {:.1} s: CreateBackup at 50/s; target p99 <= 25 s)",
        percentile(&retention_delays, 50.0),
        percentile(&retention_delays, 99.0),
        retention_delays.len(),
        tables as f64 / CREATE_BACKUP_PER_SECOND
    );
    let throttled: BTreeMap<String, usize> = proxy.throttled().into_iter().collect();
    println!("  throttled                  {throttled:?}");
    let calls: BTreeMap<String, usize> = proxy.counts().into_iter().collect();
    println!("  DynamoDB calls in all      {calls:?}");
    println!("  operator memory            {}", operator_memory(&operator)?);
    if retention_delays.is_empty() {
        return Err("retention deleted nothing in the slots measured: more RETENTION_SLOTS".into());
    }
    Ok(())
}
