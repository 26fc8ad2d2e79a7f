//! Many tenants, many accounts: the release binary with default flags against the real apiserver
//! and moto, behind the test proxy enforcing DynamoDB's documented limits per account and region
//! (a call beyond its account's rate is answered with ThrottlingException). Each run prints its
//! figure against its floor.
//!
//!     cargo bench --bench tenants                            # every run below
//!     TENANT_RUNS=fair-share cargo bench --bench tenants     # some of them, comma-separated
//!
//! Runs:
//! - `three-accounts`: three namespaces, each a tenant of its own account (the operator's own,
//!   and two reached through tenant roles), create 1,000 DynamoBackups each (over 10 tables of
//!   their account) at once: time until each namespace's are all Ready. Each account's
//!   CreateBackup limit is 50 a second, so the floor is 20 s per account, in parallel.
//! - `fair-share`: one namespace creates 5,000 DynamoBackups at once; 30 s into that burst, a
//!   policy of 10 tables in another namespace reaches its slot: slot -> CreateBackup for those
//!   10 backups, while the burst still waits for CreateBackup's pace (100 s for 5,000).
//!
//! BACKUPS=n changes the 1,000 per account of `three-accounts`; BURST=n the 5,000 of `fair-share`;
//! CONCURRENCY=n runs the operator with `--concurrency=n` instead of its default;
//! FLOW_CONTROL=chart applies the chart's FlowSchema and priority level before `three-accounts`.

#[path = "../tests/e2e/support/mod.rs"]
#[allow(dead_code)]
mod support;

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::Arc,
    time::{Duration, Instant},
};

use dynamo_backup_operator::api::{DynamoBackup, DynamoBackupPolicy};
use futures::StreamExt;
use kube::{
    Api,
    api::PostParams,
    runtime::{WatchStreamExt, watcher},
};
use support::{
    bench::{
        apiserver_requests, backup_ready, create_backups, create_tables, minute_after, operator_memory, operator_metric, operator_ready,
        percentile, policy_ready, requests_between, sleep_until,
    },
    moto::{OWN_ACCOUNT, REGION},
};

/// CreateBackup's documented rate per account and region.
const CREATE_BACKUP_PER_SECOND: f64 = 50.0;
const TABLES: usize = 10;

fn main() {
    let runs = std::env::var("TENANT_RUNS").unwrap_or_else(|_| "three-accounts,fair-share".into());
    support::run_benchmark(|env| async move {
        for run in runs.split(',').map(str::trim).filter(|r| !r.is_empty()) {
            match run {
                "three-accounts" => three_accounts(&env).await?,
                "fair-share" => fair_share(&env).await?,
                other => return Err(format!("unknown run {other:?}: three-accounts, fair-share")),
            }
        }
        Ok(())
    });
}

fn count(var: &str, default: usize) -> usize {
    std::env::var(var).ok().and_then(|n| n.parse().ok()).unwrap_or(default)
}

/// `--concurrency=n` when CONCURRENCY=n is set.
fn concurrency() -> Option<String> {
    std::env::var("CONCURRENCY").ok().map(|n| format!("--concurrency={n}"))
}

/// Resolves, from a watch of `api`, when `want` of its DynamoBackups are Ready.
fn when_ready(api: Api<DynamoBackup>, want: usize) -> tokio::task::JoinHandle<Instant> {
    tokio::spawn(async move {
        let mut ready = HashSet::new();
        let mut stream = watcher(api, watcher::Config::default()).applied_objects().boxed();
        while let Some(Ok(backup)) = stream.next().await {
            if backup_ready(&backup) {
                ready.insert(backup.metadata.name.clone().unwrap_or_default());
                if ready.len() >= want {
                    return Instant::now();
                }
            }
        }
        Instant::now()
    })
}

/// One namespace per account, 1,000 DynamoBackups each, all at once.
async fn three_accounts(env: &Arc<support::Env>) -> Result<(), String> {
    let per_account = count("BACKUPS", 1000);
    let ctx = env.context("bench-three-accounts");
    ctx.create_namespace().await?;
    // (namespace, tenant role, account)
    let tenants = [
        (ctx.namespace.clone(), None, OWN_ACCOUNT.to_owned()),
        (format!("{}-b", ctx.namespace), Some("arn:aws:iam::222222222222:role/team-b-backups"), "222222222222".to_owned()),
        (format!("{}-c", ctx.namespace), Some("arn:aws:iam::333333333333:role/team-c-backups"), "333333333333".to_owned()),
    ];
    let mut tenancy = String::from("tenants:\n");
    let mut clients = Vec::new();
    for (namespace, role, _) in &tenants {
        if *namespace != ctx.namespace {
            support::create_namespace(ctx.client(), namespace).await?;
        }
        tenancy.push_str(&format!("  - namespace: {namespace}\n    tables: ['*-{}']\n    regions: [{REGION}]\n", ctx.namespace));
        let dynamo = match role {
            Some(role) => {
                tenancy.push_str(&format!("    roleArn: {role}\n"));
                env.moto.assumed(role, REGION).await?.0
            }
            None => ctx.dynamo(),
        };
        clients.push(dynamo);
    }
    let tables: Vec<String> = (0..TABLES).map(|i| ctx.table(&format!("A{i}"))).collect();
    for dynamo in &clients {
        create_tables(dynamo, &tables).await?;
    }
    let file = env.dir.join(format!("tenancy-{}.yaml", ctx.namespace));
    std::fs::write(&file, tenancy).map_err(|e| e.to_string())?;

    if std::env::var("FLOW_CONTROL").is_ok_and(|v| v == "chart") {
        let applied = support::bench::apply_chart_flow_control(env)?;
        println!("-- the chart's flow control applied: {}", applied.trim().replace('\n', "; "));
    }
    let proxy = support::proxy::FaultProxy::start(&env.moto.url).await?;
    proxy.enforce_documented_limits();
    let namespaces: Vec<&str> = tenants.iter().map(|(n, _, _)| n.as_str()).collect();
    let operator = ctx
        .start_operator_via(&proxy, &[&format!("--tenancy-file={}", file.display()), &format!("--namespaces={}", namespaces.join(","))])?;
    operator_ready(&operator).await?;

    let apis: Vec<Api<DynamoBackup>> = namespaces.iter().map(|n| Api::namespaced(ctx.client(), n)).collect();
    let watches: Vec<_> = apis.iter().map(|api| when_ready(api.clone(), per_account)).collect();
    let requests_before = apiserver_requests(&ctx.client()).await?;
    let started = Instant::now();
    // The three namespaces' objects at once, interleaved.
    let creations = apis.iter().map(|api| create_backups(api, "b", 0..per_account, |i| tables[i % TABLES].clone()));
    let applied: Vec<Result<(), String>> = futures::future::join_all(creations).await;
    applied.into_iter().collect::<Result<Vec<()>, String>>()?;
    let applied = started.elapsed();
    let mut ready_after = Vec::new();
    for watch in watches {
        let done = tokio::time::timeout(Duration::from_secs(600), watch)
            .await
            .map_err(|_| "not every backup was Ready within 600 s".to_owned())?
            .map_err(|e| e.to_string())?;
        ready_after.push(done.duration_since(started).as_secs_f64());
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let requests = requests_between(&requests_before, &apiserver_requests(&ctx.client()).await?);

    let floor = per_account as f64 / CREATE_BACKUP_PER_SECOND;
    let all = ready_after.iter().copied().fold(0.0, f64::max);
    println!("== three accounts, {per_account} DynamoBackups each over {TABLES} tables, at once; limits enforced per account ==");
    println!(
        "  all Ready after      {all:.1} s   (floor {floor:.1} s: CreateBackup at 50/s per account, in parallel; target <= 25 s; one bucket for all would make it {:.1} s)",
        3.0 * floor
    );
    println!("  applied in           {:.1} s", applied.as_secs_f64());
    let creates = proxy.accounts_at("CreateBackup");
    let throttled = proxy.throttled_by_account();
    let mut duplicates = 0;
    for (((namespace, _, account), after), dynamo) in tenants.iter().zip(&ready_after).zip(&clients) {
        let times: Vec<jiff::Timestamp> = creates.iter().filter(|(a, _)| a == account).map(|(_, at)| *at).collect();
        let span = match (times.first(), times.last()) {
            (Some(first), Some(last)) => last.duration_since(*first).as_secs_f64(),
            _ => 0.0,
        };
        let throttled: BTreeMap<&str, usize> =
            throttled.iter().filter(|((a, _), _)| a == account).map(|((_, op), n)| (op.as_str(), *n)).collect();
        let listed = support::tables::all_backups(dynamo).await?;
        let mut per_name: HashMap<String, usize> = HashMap::new();
        for (table, backup) in &listed {
            if tables.contains(table) {
                *per_name.entry(backup.clone()).or_insert(0) += 1;
            }
        }
        let dup: usize = per_name.values().map(|n| n.saturating_sub(1)).sum();
        duplicates += dup + per_account.abs_diff(per_name.len());
        println!(
            "  account {account} ({namespace}): Ready after {after:.1} s; {} CreateBackups over {span:.1} s ({:.1}/s); {} backups in its DynamoDB, {dup} duplicate(s); throttled {throttled:?}",
            times.len(),
            times.len() as f64 / span.max(0.001),
            per_name.len()
        );
    }
    let calls: BTreeMap<String, usize> = proxy.counts().into_iter().collect();
    println!("  calls                {calls:?}");
    // Per backup; a refusal (a code other than 2xx) as its count.
    let backups = (3 * per_account) as f64;
    let requests: Vec<String> = requests
        .iter()
        .map(|(what, n)| if what.ends_with(')') { format!("{what} x{n:.0}") } else { format!("{what} {:.2}", n / backups) })
        .collect();
    println!("  apiserver requests per backup (its creation included, 2 s after the last Ready): {}", requests.join(", "));
    println!(
        "  DynamoBackup reconciles per backup {:.2}; events dropped {}",
        operator_metric(&operator, "reconciles_total{kind=\"DynamoBackup\"}").await? / backups,
        operator_metric(&operator, "events_dropped_total").await?
    );
    println!("  operator memory      {}", operator_memory(&operator)?);
    if duplicates > 0 {
        return Err(format!("{duplicates} backup(s) missing or duplicated"));
    }
    Ok(())
}

/// A tenant's burst of 5,000 while another namespace's policy reaches its slot.
async fn fair_share(env: &Arc<support::Env>) -> Result<(), String> {
    let burst = count("BURST", 5000);
    let ctx = env.context("bench-fair-share");
    ctx.create_namespace().await?;
    let other = format!("{}-b", ctx.namespace);
    support::create_namespace(ctx.client(), &other).await?;
    let dynamo = ctx.dynamo();
    let busy: Vec<String> = (0..TABLES).map(|i| ctx.table(&format!("Busy{i}"))).collect();
    let slotted: Vec<String> = (0..TABLES).map(|i| ctx.table(&format!("Slot{i}"))).collect();
    create_tables(&dynamo, &busy).await?;
    create_tables(&dynamo, &slotted).await?;

    let proxy = support::proxy::FaultProxy::start(&env.moto.url).await?;
    proxy.enforce_documented_limits();
    let mut args = vec![format!("--namespaces={},{other}", ctx.namespace)];
    args.extend(concurrency());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let operator = ctx.start_operator_via(&proxy, &args)?;
    operator_ready(&operator).await?;

    // The other namespace's policy: one slot, at least 40 s away, so that it is Ready first.
    let slot = minute_after(Duration::from_secs(40))?;
    let minute = slot.to_zoned(jiff::tz::TimeZone::UTC).minute();
    let policies: Api<DynamoBackupPolicy> = Api::namespaced(ctx.client(), &other);
    let spec = serde_json::json!({"tables": slotted, "schedule": {"cron": format!("{minute} * * * *")}});
    let policy = DynamoBackupPolicy::new("slotted", serde_json::from_value(spec).map_err(|e| e.to_string())?);
    policies.create(&PostParams::default(), &policy).await.map_err(|e| e.to_string())?;
    support::process::eventually("the policy Ready", Duration::from_secs(60), || {
        let policies = policies.clone();
        async move { policies.get("slotted").await.ok().filter(policy_ready).map(|_| ()) }
    })
    .await?;

    // The burst starts 30 s before the slot.
    sleep_until(slot - jiff::SignedDuration::from_secs(30)).await;
    let api: Api<DynamoBackup> = ctx.api();
    let watch = when_ready(api.clone(), burst);
    let started = Instant::now();
    let creating = {
        let (api, busy) = (api.clone(), busy.clone());
        tokio::spawn(async move { create_backups(&api, "burst", 0..burst, |i| busy[i % TABLES].clone()).await })
    };
    let slot_backups: Api<DynamoBackup> = Api::namespaced(ctx.client(), &other);
    support::process::eventually("the slot's backups requested", Duration::from_secs(300), || {
        let proxy = &proxy;
        let slotted = &slotted;
        async move {
            let requested = proxy.requests("CreateBackup").iter().filter(|b| slotted.iter().any(|t| b["TableName"] == *t)).count();
            (requested >= TABLES).then_some(())
        }
    })
    .await?;
    let creates = proxy.requests_at("CreateBackup");
    let is_slotted = |body: &serde_json::Value| slotted.iter().any(|t| body["TableName"] == *t);
    let mut delays: Vec<f64> = creates.iter().filter(|(b, _)| is_slotted(b)).map(|(_, at)| at.duration_since(slot).as_secs_f64()).collect();
    delays.sort_by(f64::total_cmp);
    // What of the burst was still waiting when the slot came.
    let burst_before_slot = creates.iter().filter(|(b, at)| !is_slotted(b) && *at < slot).count();
    let created_before_slot = {
        let list = api.list(&kube::api::ListParams::default()).await.map_err(|e| e.to_string())?;
        list.items.iter().filter(|b| b.metadata.creation_timestamp.as_ref().is_some_and(|t| t.0 < slot)).count()
    };
    creating.await.map_err(|e| e.to_string())??;
    let applied = started.elapsed();
    let done = tokio::time::timeout(Duration::from_secs(900), watch)
        .await
        .map_err(|_| "not every backup of the burst was Ready within 900 s".to_owned())?
        .map_err(|e| e.to_string())?;
    let burst_ready = done.duration_since(started).as_secs_f64();
    let slot_ready = slot_backups.list(&kube::api::ListParams::default()).await.map_err(|e| e.to_string())?;

    println!("== fair share: {burst} DynamoBackups of one namespace at once; another namespace's slot of {TABLES} tables 30 s in ==");
    println!(
        "  slot -> CreateBackup       max {:.1} s   p50 {:.1} s for its {} backups   (target <= 3 s; in arrival order they would wait for the burst: {:.1} s)",
        percentile(&delays, 100.0),
        percentile(&delays, 50.0),
        delays.len(),
        (created_before_slot.saturating_sub(burst_before_slot)) as f64 / CREATE_BACKUP_PER_SECOND
    );
    println!(
        "  when the slot came         {created_before_slot} of the burst created, {burst_before_slot} requested, {} waiting",
        created_before_slot.saturating_sub(burst_before_slot)
    );
    println!("  the slot's objects Ready   {} of {}", slot_ready.items.iter().filter(|b| backup_ready(b)).count(), slot_ready.items.len());
    println!(
        "  the burst: applied in {:.1} s, all Ready after {burst_ready:.1} s   (floor {:.1} s: CreateBackup at 50/s)",
        applied.as_secs_f64(),
        burst as f64 / CREATE_BACKUP_PER_SECOND
    );
    let throttled: BTreeMap<String, usize> = proxy.throttled().into_iter().collect();
    println!("  throttled                  {throttled:?}");
    println!("  operator memory            {}", operator_memory(&operator)?);
    Ok(())
}
