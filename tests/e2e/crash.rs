//! The crash-point sweep: for each lifecycle, a first run counts the AWS calls the operator
//! makes until it converges (M); then, for every N in 1..=M, a fresh run is killed (SIGKILL)
//! right after its N-th call reached AWS (the proxy forwards it and never answers), a new
//! operator starts, and the lifecycle must converge with exactly one backup, job or table, no
//! orphan, and no second call of an operation that is not idempotent. Each lifecycle prints how
//! many crash points it covered.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use aws_sdk_dynamodb::types::{PointInTimeRecoverySpecification, TimeToLiveSpecification};
use dynamo_backup_operator::api::{
    AfterRestore, BackupPhase, DeletionPolicy, DynamoBackup, DynamoBackupPolicy, DynamoRestore, PointInTimeRecoverySpec, PointInTimeSource,
    RestorePhase, RestoreSource, TimeToLiveMode, labels,
};
use kube::{
    Api,
    api::{ListParams, Patch, PatchParams, PostParams},
};
use libtest_mimic::Trial;

use crate::{
    aws_backup::{aws_backup, create_vault, recovery_points, settings, vault, vault_arn},
    backup::{self, backup},
    policy::{every, keep_last, policy},
    restore::restore,
    selector::tag,
    support::{
        Env, TestCtx, ensure,
        moto::REGION,
        process::eventually,
        proxy::{FaultProxy, Rule},
        tables::{backups_of, create_table, items, table_exists},
    },
};

/// How long a lifecycle may take to converge after a restart.
const CONVERGE: Duration = Duration::from_secs(90);

pub fn trials(env: &Arc<Env>) -> Vec<Trial> {
    vec![
        env.trial("crash_sweep_native_backup", native_backup),
        env.trial("crash_sweep_native_backup_while_creating", native_backup_creating),
        env.trial("crash_sweep_restore_from_a_backup", restore_from_backup),
        env.trial("crash_sweep_pitr_restore_with_after_restore_steps", pitr_restore),
        env.trial("crash_sweep_policy_slot_with_retention", policy_slot),
        env.trial("crash_sweep_aws_backup_with_a_copy", aws_backup_copy),
    ]
}

/// What one lifecycle does, for run `n` (0: the counting run): `setup` before its operator
/// starts, `act` with it running, `done` once converged, `check` the invariants.
trait Lifecycle {
    async fn setup(&self, ctx: &TestCtx, n: usize) -> Result<(), String>;
    async fn act(&self, ctx: &TestCtx, n: usize) -> Result<(), String>;
    async fn done(&self, ctx: &TestCtx, n: usize) -> bool;
    async fn check(&self, ctx: &TestCtx, n: usize, proxy: &FaultProxy) -> Result<(), String>;
    /// Rules the proxy applies until the crash (and through the counting run).
    fn faults(&self) -> Vec<Rule> {
        Vec::new()
    }
}

async fn converge<L: Lifecycle>(life: &L, ctx: &TestCtx, n: usize) -> Result<(), String> {
    eventually(&format!("run {n} to converge"), CONVERGE, || async { life.done(ctx, n).await.then_some(()) }).await?;
    // What a last reconcile does after the object looks done is counted too.
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok(())
}

async fn sweep<L: Lifecycle>(ctx: &TestCtx, name: &str, life: L) -> Result<(), String> {
    const ARGS: [&str; 1] = ["--table-discovery-interval=1h"];
    life.setup(ctx, 0).await?;
    let proxy = FaultProxy::start(&ctx.env.moto.url).await?;
    life.faults().into_iter().for_each(|rule| proxy.add(rule));
    let mut counting = ctx.start_operator_via(&proxy, &ARGS)?;
    life.act(ctx, 0).await?;
    converge(&life, ctx, 0).await?;
    let calls = proxy.calls();
    life.check(ctx, 0, &proxy).await?;
    counting.process.kill();
    println!("{name}: {} calls to converge: {}", calls.len(), calls.join(" "));
    ensure(!calls.is_empty(), || format!("{name}: no AWS call to crash after"))?;

    let mut covered = 0;
    for n in 1..=calls.len() {
        life.setup(ctx, n).await?;
        let proxy = FaultProxy::start(&ctx.env.moto.url).await?;
        life.faults().into_iter().for_each(|rule| proxy.add(rule));
        proxy.add(Rule::HoldCall { skip: u32::try_from(n - 1).unwrap_or(u32::MAX) });
        let mut first = ctx.start_operator_via(&proxy, &ARGS)?;
        life.act(ctx, n).await?;
        let held = eventually(&format!("call {n} to be held"), CONVERGE, || async {
            if proxy.holding() > 0 {
                Some(true)
            } else if life.done(ctx, n).await {
                Some(false)
            } else {
                None
            }
        })
        .await?;
        if !held {
            // This run needed fewer calls than the counting one (fewer polls): nothing to crash.
            first.process.kill();
            continue;
        }
        let call = proxy.calls().get(n - 1).cloned().unwrap_or_default();
        first.process.signal(libc::SIGKILL);
        first.process.wait_timeout(Duration::from_secs(10)).ok_or("the operator survived SIGKILL")?;
        proxy.clear();
        let mut second = ctx.start_operator_via(&proxy, &ARGS)?;
        converge(&life, ctx, n).await.map_err(|e| format!("{name}: killed after call {n} ({call}): {e}"))?;
        life.check(ctx, n, &proxy).await.map_err(|e| format!("{name}: killed after call {n} ({call}): {e}"))?;
        second.process.kill();
        covered += 1;
    }
    println!("{name}: {covered} crash points covered (of {} calls)", calls.len());
    ensure(covered > 0, || format!("{name}: no crash point reached"))
}

/// How many requests of `operation` name `value` (a table, a backup) in their body.
fn requests_naming(proxy: &FaultProxy, operation: &str, value: &str) -> usize {
    proxy.requests_raw(operation).iter().filter(|body| body.contains(&format!("\"{value}\""))).count()
}

fn table(ctx: &TestCtx, base: &str, n: usize) -> String {
    ctx.table(&format!("{base}{n}"))
}

// --- A native backup: CreateBackup once, the backup Available, one in DynamoDB; and the same
// while DynamoDB says CREATING for a while (followed by ListBackups pages).

struct NativeBackup;

struct Creating;

impl Lifecycle for Creating {
    async fn setup(&self, ctx: &TestCtx, n: usize) -> Result<(), String> {
        NativeBackup.setup(ctx, n).await
    }

    async fn act(&self, ctx: &TestCtx, n: usize) -> Result<(), String> {
        NativeBackup.act(ctx, n).await
    }

    async fn done(&self, ctx: &TestCtx, n: usize) -> bool {
        NativeBackup.done(ctx, n).await
    }

    async fn check(&self, ctx: &TestCtx, n: usize, proxy: &FaultProxy) -> Result<(), String> {
        NativeBackup.check(ctx, n, proxy).await
    }

    fn faults(&self) -> Vec<Rule> {
        vec![Rule::BackupCreating { times: 3 }]
    }
}

async fn native_backup_creating(ctx: TestCtx) -> Result<(), String> {
    sweep(&ctx, "native backup while CREATING", Creating).await
}

impl Lifecycle for NativeBackup {
    async fn setup(&self, ctx: &TestCtx, n: usize) -> Result<(), String> {
        create_table(&ctx.dynamo(), &table(ctx, "Orders", n), &[("o-1", "keyboard")]).await
    }

    async fn act(&self, ctx: &TestCtx, n: usize) -> Result<(), String> {
        let api: Api<DynamoBackup> = ctx.api();
        let b = backup(&format!("b{n}"), &table(ctx, "Orders", n), DeletionPolicy::Retain);
        api.create(&PostParams::default(), &b).await.map(|_| ()).map_err(|e| e.to_string())
    }

    async fn done(&self, ctx: &TestCtx, n: usize) -> bool {
        let api: Api<DynamoBackup> = ctx.api();
        api.get(&format!("b{n}")).await.ok().and_then(|b| b.status).is_some_and(|s| s.phase == Some(BackupPhase::Available))
    }

    async fn check(&self, ctx: &TestCtx, n: usize, proxy: &FaultProxy) -> Result<(), String> {
        let orders = table(ctx, "Orders", n);
        let held = backups_of(&ctx.dynamo(), &orders).await?;
        ensure(held.len() == 1, || format!("{} DynamoDB backups of {orders}: {held:?}", held.len()))?;
        let created = requests_naming(proxy, "CreateBackup", &orders);
        ensure(created == 1, || format!("CreateBackup called {created} times"))?;
        let api: Api<DynamoBackup> = ctx.api();
        let arn = api.get(&format!("b{n}")).await.map_err(|e| e.to_string())?.status.and_then(|s| s.backup_arn);
        ensure(arn.as_deref() == Some(held[0].1.as_str()), || format!("status says {arn:?}, DynamoDB {held:?}"))
    }
}

async fn native_backup(ctx: TestCtx) -> Result<(), String> {
    sweep(&ctx, "native backup", NativeBackup).await
}

// --- A restore from a backup: one RestoreTableFromBackup, one new table holding the snapshot.

struct FromBackup;

impl Lifecycle for FromBackup {
    async fn setup(&self, ctx: &TestCtx, n: usize) -> Result<(), String> {
        let source = table(ctx, "Source", n);
        create_table(&ctx.dynamo(), &source, &[("o-1", "keyboard"), ("o-2", "mouse")]).await?;
        ctx.dynamo().create_backup().table_name(&source).backup_name(format!("snap{n}")).send().await.map_err(|e| e.to_string())?;
        Ok(())
    }

    async fn act(&self, ctx: &TestCtx, n: usize) -> Result<(), String> {
        let held = backups_of(&ctx.dynamo(), &table(ctx, "Source", n)).await?;
        let arn = held.first().map(|(_, arn)| arn.clone()).ok_or("no backup to restore")?;
        let source = RestoreSource { backup_ref: None, backup_arn: Some(arn), recovery_point_arn: None, point_in_time: None };
        let api: Api<DynamoRestore> = ctx.api();
        api.create(&PostParams::default(), &restore(&format!("r{n}"), source, &table(ctx, "Restored", n)))
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    async fn done(&self, ctx: &TestCtx, n: usize) -> bool {
        completed(ctx, n).await
    }

    async fn check(&self, ctx: &TestCtx, n: usize, proxy: &FaultProxy) -> Result<(), String> {
        let target = table(ctx, "Restored", n);
        ensure(items(&ctx.dynamo(), &target).await?.len() == 2, || format!("{target} lacks the snapshot's items"))?;
        let calls = requests_naming(proxy, "RestoreTableFromBackup", &target);
        ensure(calls == 1, || format!("RestoreTableFromBackup called {calls} times"))
    }
}

async fn completed(ctx: &TestCtx, n: usize) -> bool {
    let api: Api<DynamoRestore> = ctx.api();
    api.get(&format!("r{n}")).await.ok().and_then(|r| r.status).is_some_and(|s| s.phase == Some(RestorePhase::Completed))
}

async fn restore_from_backup(ctx: TestCtx) -> Result<(), String> {
    sweep(&ctx, "restore from a backup", FromBackup).await
}

// --- A PITR restore with its after-restore steps: tags copied and added, PITR and TTL on.

struct PitrRestore;

impl Lifecycle for PitrRestore {
    async fn setup(&self, ctx: &TestCtx, n: usize) -> Result<(), String> {
        let source = table(ctx, "Profiles", n);
        let db = ctx.dynamo();
        create_table(&db, &source, &[("u-1", "ada")]).await?;
        let pitr = PointInTimeRecoverySpecification::builder().point_in_time_recovery_enabled(true).build().map_err(|e| e.to_string())?;
        db.update_continuous_backups()
            .table_name(&source)
            .point_in_time_recovery_specification(pitr)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let ttl = TimeToLiveSpecification::builder().enabled(true).attribute_name("expiresAt").build().map_err(|e| e.to_string())?;
        db.update_time_to_live().table_name(&source).time_to_live_specification(ttl).send().await.map_err(|e| e.to_string())?;
        tag(ctx, &source, "team", "profiles").await
    }

    async fn act(&self, ctx: &TestCtx, n: usize) -> Result<(), String> {
        let point = PointInTimeSource { table_name: table(ctx, "Profiles", n), restore_time: None, latest_restorable_time: Some(true) };
        let source = RestoreSource { backup_ref: None, backup_arn: None, recovery_point_arn: None, point_in_time: Some(point) };
        let mut r = restore(&format!("r{n}"), source, &table(ctx, "Fixed", n));
        r.spec.after_restore = AfterRestore {
            copy_tags: true,
            tags: BTreeMap::from([("restored".to_owned(), "yes".to_owned())]),
            point_in_time_recovery: Some(PointInTimeRecoverySpec { enabled: true, recovery_period_in_days: 7 }),
            deletion_protection: None,
            time_to_live: TimeToLiveMode::Copy,
            ..Default::default()
        };
        let api: Api<DynamoRestore> = ctx.api();
        api.create(&PostParams::default(), &r).await.map(|_| ()).map_err(|e| e.to_string())
    }

    async fn done(&self, ctx: &TestCtx, n: usize) -> bool {
        completed(ctx, n).await
    }

    async fn check(&self, ctx: &TestCtx, n: usize, proxy: &FaultProxy) -> Result<(), String> {
        let target = table(ctx, "Fixed", n);
        let db = ctx.dynamo();
        ensure(table_exists(&db, &target).await, || format!("{target} missing"))?;
        let calls = requests_naming(proxy, "RestoreTableToPointInTime", &target);
        ensure(calls == 1, || format!("RestoreTableToPointInTime called {calls} times"))?;
        let arn = db
            .describe_table()
            .table_name(&target)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .table()
            .and_then(|t| t.table_arn().map(str::to_owned));
        let tags = db.list_tags_of_resource().resource_arn(arn.unwrap_or_default()).send().await.map_err(|e| e.to_string())?;
        let tags: BTreeMap<&str, &str> = tags.tags().iter().map(|t| (t.key(), t.value())).collect();
        ensure(tags.get("team") == Some(&"profiles") && tags.get("restored") == Some(&"yes"), || format!("tags {tags:?}"))?;
        let pitr = db.describe_continuous_backups().table_name(&target).send().await.map_err(|e| e.to_string())?;
        let on = pitr
            .continuous_backups_description()
            .and_then(|d| d.point_in_time_recovery_description())
            .and_then(|p| p.point_in_time_recovery_status())
            .map(|s| s.as_str() == "ENABLED");
        ensure(on == Some(true), || "PITR not on for the new table".into())?;
        let ttl = db.describe_time_to_live().table_name(&target).send().await.map_err(|e| e.to_string())?;
        let attribute = ttl.time_to_live_description().and_then(|d| d.attribute_name()).map(str::to_owned);
        ensure(attribute.as_deref() == Some("expiresAt"), || format!("TTL {attribute:?}"))
    }
}

async fn pitr_restore(ctx: TestCtx) -> Result<(), String> {
    sweep(&ctx, "PITR restore with after-restore steps", PitrRestore).await
}

// --- A policy's slot with retention: the slot's backup made once, the older one deleted.

struct PolicySlot;

impl Lifecycle for PolicySlot {
    async fn setup(&self, ctx: &TestCtx, n: usize) -> Result<(), String> {
        create_table(&ctx.dynamo(), &table(ctx, "Carts", n), &[("c-1", "apple")]).await
    }

    async fn act(&self, ctx: &TestCtx, n: usize) -> Result<(), String> {
        let carts = table(ctx, "Carts", n);
        let name = format!("p{n}");
        // The backup retention will find older: made as if by the policy, before its slot.
        let backups: Api<DynamoBackup> = ctx.api();
        let mut old = backup(&format!("old{n}"), &carts, DeletionPolicy::Delete);
        old.metadata.labels =
            Some(BTreeMap::from([(labels::POLICY.to_owned(), name.clone()), (labels::TRIGGER.to_owned(), "manual".to_owned())]));
        backups.create(&PostParams::default(), &old).await.map_err(|e| e.to_string())?;
        let mut p = policy(&name, &[&carts]);
        p.spec.schedule = Some(every("@every 15s"));
        p.spec.retention = Some(keep_last(1));
        let api: Api<DynamoBackupPolicy> = ctx.api();
        api.create(&PostParams::default(), &p).await.map(|_| ()).map_err(|e| e.to_string())
    }

    /// The slot's backup Available and the old one gone. Once the slot's backup exists the
    /// schedule is suspended, so no second slot comes during the run.
    async fn done(&self, ctx: &TestCtx, n: usize) -> bool {
        let name = format!("p{n}");
        let backups: Api<DynamoBackup> = ctx.api();
        let Ok(list) = backups.list(&ListParams::default().labels(&format!("{}={name}", labels::POLICY))).await else { return false };
        let scheduled: Vec<&DynamoBackup> = list
            .items
            .iter()
            .filter(|b| b.metadata.labels.as_ref().and_then(|l| l.get(labels::TRIGGER)).map(String::as_str) == Some("schedule"))
            .collect();
        if !scheduled.is_empty() {
            let policies: Api<DynamoBackupPolicy> = ctx.api();
            let suspend = serde_json::json!({"spec": {"schedule": {"suspend": true}}});
            let _ = policies.patch(&name, &PatchParams::default(), &Patch::Merge(&suspend)).await;
        }
        let available = |b: &&DynamoBackup| b.status.as_ref().and_then(|s| s.phase) == Some(BackupPhase::Available);
        scheduled.len() == 1 && scheduled.iter().all(available) && list.items.len() == 1
    }

    async fn check(&self, ctx: &TestCtx, n: usize, proxy: &FaultProxy) -> Result<(), String> {
        let carts = table(ctx, "Carts", n);
        let held = backups_of(&ctx.dynamo(), &carts).await?;
        ensure(held.len() == 1, || format!("{} DynamoDB backups of {carts}: {held:?}", held.len()))?;
        let created = requests_naming(proxy, "CreateBackup", &carts);
        ensure(created == 2, || format!("CreateBackup called {created} times (the old backup and the slot's)"))
    }
}

async fn policy_slot(ctx: TestCtx) -> Result<(), String> {
    sweep(&ctx, "policy slot with retention", PolicySlot).await
}

// --- AWS Backup with a copy to another region: one recovery point in each vault.

struct AwsBackupCopy;

impl Lifecycle for AwsBackupCopy {
    async fn setup(&self, ctx: &TestCtx, n: usize) -> Result<(), String> {
        create_table(&ctx.dynamo(), &table(ctx, "Ledger", n), &[("l-1", "debit")]).await?;
        create_vault(ctx, REGION, &vault(ctx, &format!("src{n}"))).await?;
        create_vault(ctx, "eu-central-1", &vault(ctx, &format!("dr{n}"))).await
    }

    async fn act(&self, ctx: &TestCtx, n: usize) -> Result<(), String> {
        let copies = [vault_arn("eu-central-1", &vault(ctx, &format!("dr{n}")))];
        let b = aws_backup(
            &format!("b{n}"),
            &table(ctx, "Ledger", n),
            settings(&vault(ctx, &format!("src{n}")), &copies),
            DeletionPolicy::Retain,
        );
        let api: Api<DynamoBackup> = ctx.api();
        api.create(&PostParams::default(), &b).await.map(|_| ()).map_err(|e| e.to_string())
    }

    async fn done(&self, ctx: &TestCtx, n: usize) -> bool {
        let api: Api<DynamoBackup> = ctx.api();
        let Ok(b) = api.get(&format!("b{n}")).await else { return false };
        backup::conditions(&b).iter().any(|c| c.type_ == "Ready" && c.status == "True")
    }

    async fn check(&self, ctx: &TestCtx, n: usize, _proxy: &FaultProxy) -> Result<(), String> {
        let source = recovery_points(ctx, REGION, &vault(ctx, &format!("src{n}"))).await?;
        let copies = recovery_points(ctx, "eu-central-1", &vault(ctx, &format!("dr{n}"))).await?;
        ensure(source.len() == 1 && copies.len() == 1, || format!("recovery points: source {source:?}, copies {copies:?}"))
    }
}

async fn aws_backup_copy(ctx: TestCtx) -> Result<(), String> {
    sweep(&ctx, "AWS Backup with a copy", AwsBackupCopy).await
}
