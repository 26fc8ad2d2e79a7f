//! The long chaos run (`make chaos`, not in CI): a mixed workload (two scheduled policies with
//! retention, one with restore drills; snapshots made by hand; restores from snapshots and from
//! PITR; AWS Backup snapshots with a copy) while the operator is SIGKILLed 50 times at random
//! moments and, for 5 minutes, half of all AWS calls are answered ThrottlingException. Then the
//! faults stop, the schedules are suspended, and everything must converge: every DynamoBackup
//! Available with exactly its one backup, no backup nobody owns, every restore Completed into
//! its one table, every policy Ready, one recovery point and one copy per AWS Backup snapshot.
//!
//!     make chaos            # or: cargo bench --bench chaos (KILLS=n, CHAOS_SECS=n to shorten)

#[path = "../tests/e2e/support/mod.rs"]
#[allow(dead_code)]
mod support;

use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

use dynamo_backup_operator::api::{
    AwsBackupSpec, BackupMethod, BackupPhase, BackupSchedule, CopyDestination, DeletionPolicy, DrillSource, DrillSpec, DynamoBackup,
    DynamoBackupPolicy, DynamoBackupSpec, DynamoRestore, DynamoRestoreSpec, LocalObjectReference, PointInTimeSource, RestorePhase,
    RestoreSource, Retention,
};
use kube::{
    Api, ResourceExt,
    api::{ObjectMeta, Patch, PatchParams, PostParams},
};
use support::{TestCtx, proxy::Rule};

const TABLES: usize = 8;
const ROLE: &str = "arn:aws:iam::123456789012:role/service-role/AWSBackupDefaultServiceRole";

fn main() {
    let kills: usize = std::env::var("KILLS").ok().and_then(|n| n.parse().ok()).unwrap_or(50);
    let chaos = Duration::from_secs(std::env::var("CHAOS_SECS").ok().and_then(|n| n.parse().ok()).unwrap_or(300));
    support::run_benchmark(|env| async move { run(&env, kills, chaos).await });
}

fn schedule(cron: &str) -> BackupSchedule {
    BackupSchedule { cron: cron.into(), time_zone: None, jitter: None, starting_deadline: None, suspend: false }
}

fn policy(ctx: &TestCtx, name: &str, tables: &[String], every: &str, keep: u32) -> Result<DynamoBackupPolicy, String> {
    let mut spec: dynamo_backup_operator::api::DynamoBackupPolicySpec =
        serde_json::from_value(serde_json::json!({ "tables": tables })).map_err(|e| e.to_string())?;
    spec.schedule = Some(schedule(every));
    spec.retention = Some(Retention { keep_last: Some(keep), min_available: 1, ..Default::default() });
    Ok(DynamoBackupPolicy {
        metadata: ObjectMeta { name: Some(name.into()), namespace: Some(ctx.namespace.clone()), ..Default::default() },
        spec,
        status: None,
    })
}

fn restore(name: &str, source: RestoreSource, target: &str) -> DynamoRestore {
    DynamoRestore::new(
        name,
        DynamoRestoreSpec {
            source,
            target_table_name: target.into(),
            region: None,
            overrides: None,
            after_restore: Default::default(),
            deletion_policy: DeletionPolicy::Retain,
            verify: None,
            ttl_after_finished: None,
            aws_backup: None,
            copy_back: None,
        },
    )
}

fn no_source() -> RestoreSource {
    RestoreSource { backup_ref: None, backup_arn: None, recovery_point_arn: None, point_in_time: None }
}

async fn run(env: &std::sync::Arc<support::Env>, kills: usize, chaos: Duration) -> Result<(), String> {
    let started = Instant::now();
    let ctx = env.context("chaos");
    ctx.create_namespace().await?;
    let db = ctx.dynamo();
    let tables: Vec<String> = (0..TABLES).map(|i| ctx.table(&format!("Chaos{i}"))).collect();
    for table in &tables {
        support::tables::create_table(&db, table, &[("o-1", "keyboard"), ("o-2", "mouse"), ("o-3", "desk")]).await?;
    }
    let (source_vault, dr_vault) = ("chaos-src".to_owned(), "chaos-dr".to_owned());
    for (region, vault) in [(support::moto::REGION, &source_vault), ("eu-central-1", &dr_vault)] {
        env.moto.backup_client(region).create_backup_vault().backup_vault_name(vault).send().await.map_err(|e| format!("vault: {e}"))?;
    }
    let proxy = support::proxy::FaultProxy::start(&env.moto.url).await?;
    let args = ["--table-discovery-interval=1m"];
    let mut operator = ctx.start_operator_via(&proxy, &args)?;

    // The workload: two policies (one with drills), then snapshots and restores along the way.
    let policies: Api<DynamoBackupPolicy> = ctx.api();
    let backups: Api<DynamoBackup> = ctx.api();
    let restores: Api<DynamoRestore> = ctx.api();
    let nightly = policy(&ctx, "nightly", &tables[..4], "@every 20s", 2)?;
    let mut hourly = policy(&ctx, "hourly", &tables[4..], "@every 30s", 3)?;
    hourly.spec.drill = Some(DrillSpec {
        schedule: schedule("@every 1m"),
        source: DrillSource::LatestBackup,
        tables_per_run: 2,
        verify: None,
        ttl_after_finished: Some("20s".into()),
    });
    for p in [&nightly, &hourly] {
        policies.create(&PostParams::default(), p).await.map_err(|e| e.to_string())?;
    }
    proxy.add(Rule::Throttle { percent: 50 });
    let chaos_ends = Instant::now() + chaos;
    let mut made = 0usize;
    let mut kill_at: Vec<Duration> = (0..kills).map(|_| Duration::from_millis(fastrand::u64(0..chaos.as_millis() as u64))).collect();
    kill_at.sort();
    let mut killed = 0;
    while Instant::now() < chaos_ends {
        let elapsed = chaos - chaos_ends.saturating_duration_since(Instant::now());
        while killed < kill_at.len() && kill_at[killed] <= elapsed {
            operator.process.signal(libc::SIGKILL);
            operator.process.wait_timeout(Duration::from_secs(10)).ok_or("the operator survived SIGKILL")?;
            operator = ctx.start_operator_via(&proxy, &args)?;
            killed += 1;
        }
        // Every few seconds one more thing to do: a snapshot, a restore, an AWS Backup snapshot.
        if fastrand::u8(0..3) == 0 {
            let i = made;
            let table = &tables[i % TABLES];
            match i % 6 {
                0..=2 => {
                    let mut b = DynamoBackup::new(&format!("manual-{i}"), DynamoBackupSpec::for_table(table.clone()));
                    b.spec.deletion_policy = DeletionPolicy::Delete;
                    backups.create(&PostParams::default(), &b).await.map_err(|e| e.to_string())?;
                }
                3 => {
                    let source = RestoreSource {
                        point_in_time: Some(PointInTimeSource {
                            table_name: table.clone(),
                            restore_time: None,
                            latest_restorable_time: Some(true),
                        }),
                        ..no_source()
                    };
                    restores
                        .create(&PostParams::default(), &restore(&format!("pitr-{i}"), source, &ctx.table(&format!("Pitr{i}"))))
                        .await
                        .map_err(|e| e.to_string())?;
                }
                4 if i >= 6 => {
                    let from = format!("manual-{}", i - 4);
                    let source = RestoreSource { backup_ref: Some(LocalObjectReference { name: from }), ..no_source() };
                    restores
                        .create(&PostParams::default(), &restore(&format!("from-{i}"), source, &ctx.table(&format!("From{i}"))))
                        .await
                        .map_err(|e| e.to_string())?;
                }
                _ => {
                    let mut b = DynamoBackup::new(&format!("vault-{i}"), DynamoBackupSpec::for_table(table.clone()));
                    b.spec.method = BackupMethod::AWSBackup;
                    b.spec.deletion_policy = DeletionPolicy::Retain;
                    b.spec.aws_backup = Some(AwsBackupSpec {
                        backup_vault_name: source_vault.clone(),
                        iam_role_arn: ROLE.into(),
                        lifecycle: None,
                        copy_to: vec![CopyDestination {
                            destination_backup_vault_arn: format!("arn:aws:backup:eu-central-1:123456789012:backup-vault:{dr_vault}"),
                            lifecycle: None,
                        }],
                    });
                    backups.create(&PostParams::default(), &b).await.map_err(|e| e.to_string())?;
                }
            }
            made += 1;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let throttled: usize = proxy.throttled().values().sum();
    println!("chaos: {killed} SIGKILLs and {throttled} throttled calls over {} s; {made} objects made along the way", chaos.as_secs());

    // Quiet: no faults, no new slots or drills; everything must converge.
    proxy.clear();
    let suspend = serde_json::json!({"spec": {"schedule": {"suspend": true}}});
    let suspend_drills =
        serde_json::json!({"spec": {"schedule": {"suspend": true}, "drill": {"schedule": {"cron": "@every 1m", "suspend": true}}}});
    policies.patch("nightly", &PatchParams::default(), &Patch::Merge(&suspend)).await.map_err(|e| e.to_string())?;
    policies.patch("hourly", &PatchParams::default(), &Patch::Merge(&suspend_drills)).await.map_err(|e| e.to_string())?;
    let settled = support::process::eventually("everything to converge", Duration::from_secs(600), || async {
        let bs = backups.list(&Default::default()).await.ok()?.items;
        let rs = restores.list(&Default::default()).await.ok()?.items;
        let ps = policies.list(&Default::default()).await.ok()?.items;
        let backups_done = bs
            .iter()
            .all(|b| b.metadata.deletion_timestamp.is_none() && b.status.as_ref().and_then(|s| s.phase) == Some(BackupPhase::Available));
        let restores_done = rs
            .iter()
            .filter(|r| r.metadata.deletion_timestamp.is_none())
            .all(|r| r.status.as_ref().and_then(|s| s.phase) == Some(RestorePhase::Completed));
        let ready = |p: &DynamoBackupPolicy| {
            p.status.as_ref().is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        };
        (backups_done && restores_done && ps.iter().all(ready)).then_some((bs, rs, ps))
    })
    .await;
    let (bs, rs, ps) = match settled {
        Ok(all) => all,
        Err(err) => {
            let bs = backups.list(&Default::default()).await.map_err(|e| e.to_string())?.items;
            for b in bs.iter().filter(|b| b.status.as_ref().and_then(|s| s.phase) != Some(BackupPhase::Available)) {
                println!("not Available: {} {:?}", b.name_any(), b.status.as_ref().map(|s| &s.conditions));
            }
            for r in restores.list(&Default::default()).await.map_err(|e| e.to_string())?.items {
                if r.status.as_ref().and_then(|s| s.phase) != Some(RestorePhase::Completed) {
                    println!("not Completed: {} {:?}", r.name_any(), r.status.as_ref().map(|s| &s.conditions));
                }
            }
            for p in policies.list(&Default::default()).await.map_err(|e| e.to_string())?.items {
                println!("policy {}: {:?}", p.name_any(), p.status.as_ref().map(|s| &s.conditions));
            }
            return Err(err);
        }
    };
    let mut problems = Vec::new();
    // One DynamoDB backup per DynamoBackup, and none that no DynamoBackup owns.
    let owned: BTreeSet<String> = bs.iter().filter_map(|b| b.status.as_ref().and_then(|s| s.backup_arn.clone())).collect();
    let mut native = 0;
    for table in &tables {
        for (name, arn) in support::tables::backups_of(&db, table).await? {
            // The AWS Backup emulator keeps each recovery point's data as a DynamoDB backup named
            // AwsBackup-<job>: those are counted below, by vault.
            if name.starts_with("AwsBackup-") {
                continue;
            }
            native += 1;
            if !owned.contains(&arn) {
                problems.push(format!("backup {name} ({arn}) of {table} belongs to no DynamoBackup"));
            }
        }
    }
    let native_objects = bs.iter().filter(|b| b.spec.method == BackupMethod::DynamoDB).count();
    if native != native_objects {
        problems.push(format!("{native} DynamoDB backups for {native_objects} DynamoBackups"));
    }
    // Restores: each target exists.
    for r in rs.iter().filter(|r| r.metadata.deletion_timestamp.is_none()) {
        if !support::tables::table_exists(&db, &r.spec.target_table_name).await {
            problems.push(format!("restore {} is Completed but {} does not exist", r.name_any(), r.spec.target_table_name));
        }
    }
    // AWS Backup: one recovery point and one copy per snapshot.
    let vaulted = bs.iter().filter(|b| b.spec.method == BackupMethod::AWSBackup).count();
    let mut points = BTreeMap::new();
    for (region, vault) in [(support::moto::REGION, &source_vault), ("eu-central-1", &dr_vault)] {
        let out = env
            .moto
            .backup_client(region)
            .list_recovery_points_by_backup_vault()
            .backup_vault_name(vault)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        points.insert(vault.clone(), out.recovery_points().len());
    }
    if points.values().any(|n| *n != vaulted) {
        problems.push(format!("{vaulted} AWS Backup snapshots, recovery points by vault {points:?}"));
    }
    println!(
        "checked after {} s: {} DynamoBackups ({native} DynamoDB backups, {vaulted} with AWS Backup: {points:?}), {} DynamoRestores, {} policies Ready",
        started.elapsed().as_secs(),
        bs.len(),
        rs.len(),
        ps.len()
    );
    println!("throttled by operation: {:?}", proxy.throttled());
    operator.process.kill();
    if problems.is_empty() {
        println!("chaos: every check passed");
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}
