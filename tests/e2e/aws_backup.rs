//! `method: AWSBackup`: recovery points in AWS Backup vaults, copies to other regions, restores
//! wherever a copy is. AWS Backup's jobs and recovery points come from the emulator moto runs
//! in (tests/emulators/aws_backup.py); vaults and Vault Lock are moto's own. The operator's AWS
//! Backup calls go through the test proxy, which counts them and can hold one back.

use std::{sync::Arc, time::Duration};

use dynamo_backup_operator::api::{
    AwsBackupRestore, AwsBackupSpec, BackupMethod, BackupPhase, BackupTemplate, CopyDestination, CopyState, DeletionPolicy, DrillResult,
    DrillSource, DynamoBackup, DynamoBackupPolicy, DynamoRestore, RestoreSource, labels,
};
use kube::{
    Api,
    api::{DeleteParams, PostParams},
};
use libtest_mimic::Trial;

use crate::{
    backup::{WAIT, backup, conditions},
    policy::{every, keep_last, policy},
    restore::{self as restores, from_backup, restore},
    support::{
        Env, TestCtx, ensure,
        moto::REGION,
        process::eventually,
        proxy::{FaultProxy, Rule},
        tables::{condition, create_table, items, wait_condition},
    },
};

pub fn trials(env: &Arc<Env>) -> Vec<Trial> {
    vec![
        env.trial("aws_backup_two_copies_then_restore_in_a_copy_region", two_copies_then_restore),
        env.trial("aws_backup_crash_after_start_jobs_makes_one_job_each", crash_after_start_jobs),
        env.trial("aws_backup_deleted_after_a_crash_mid_call_leaves_no_recovery_point", deleted_after_crash),
        env.trial("aws_backup_failures_are_reported", failures),
        env.trial("aws_backup_retention_deletes_recovery_points", retention),
        env.trial("aws_backup_tenancy_bounds_and_signs_with_the_tenant_role", tenancy),
        env.trial("aws_backup_drill_restores_the_recovery_point_with_the_policy_role", drill),
    ]
}

const ROLE: &str = "arn:aws:iam::123456789012:role/service-role/AWSBackupDefaultServiceRole";
const ACCOUNT: &str = "123456789012";

/// A vault name unique to this test (tests share one moto): `base` and the test's number.
pub(crate) fn vault(ctx: &TestCtx, base: &str) -> String {
    format!("{base}-{}", ctx.namespace.split('-').next().unwrap_or("t"))
}

pub(crate) fn vault_arn(region: &str, name: &str) -> String {
    format!("arn:aws:backup:{region}:{ACCOUNT}:backup-vault:{name}")
}

pub(crate) async fn create_vault(ctx: &TestCtx, region: &str, name: &str) -> Result<(), String> {
    ctx.env
        .moto
        .backup_client(region)
        .create_backup_vault()
        .backup_vault_name(name)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("CreateBackupVault {name} in {region}: {}", aws_sdk_backup::error::DisplayErrorContext(e)))
}

/// The recovery points of vault `name` in `region`.
pub(crate) async fn recovery_points(ctx: &TestCtx, region: &str, name: &str) -> Result<Vec<String>, String> {
    let out = ctx
        .env
        .moto
        .backup_client(region)
        .list_recovery_points_by_backup_vault()
        .backup_vault_name(name)
        .send()
        .await
        .map_err(|e| format!("ListRecoveryPointsByBackupVault {name}: {}", aws_sdk_backup::error::DisplayErrorContext(e)))?;
    Ok(out.recovery_points().iter().filter_map(|r| r.recovery_point_arn().map(str::to_owned)).collect())
}

pub(crate) fn settings(vault: &str, copies: &[String]) -> AwsBackupSpec {
    AwsBackupSpec {
        backup_vault_name: vault.to_owned(),
        iam_role_arn: ROLE.to_owned(),
        lifecycle: None,
        copy_to: copies.iter().map(|arn| CopyDestination { destination_backup_vault_arn: arn.clone(), lifecycle: None }).collect(),
    }
}

pub(crate) fn aws_backup(name: &str, table: &str, settings: AwsBackupSpec, deletion_policy: DeletionPolicy) -> DynamoBackup {
    let mut b = backup(name, table, deletion_policy);
    b.spec.method = BackupMethod::AWSBackup;
    b.spec.aws_backup = Some(settings);
    b
}

fn restore_by_aws_backup(name: &str, source: RestoreSource, target: &str, region: Option<&str>) -> DynamoRestore {
    let mut r = restore(name, source, target);
    r.spec.region = region.map(str::to_owned);
    r.spec.aws_backup = Some(AwsBackupRestore { iam_role_arn: ROLE.to_owned() });
    r
}

fn stalled(conds: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition]) -> Option<(String, String)> {
    condition(conds, "Stalled").filter(|c| c.status == "True").map(|c| (c.reason.clone(), c.message.clone()))
}

async fn two_copies_then_restore(ctx: TestCtx) -> Result<(), String> {
    let table = ctx.table("Orders");
    let rows = [("o-1", "keyboard"), ("o-2", "monitor"), ("o-3", "desk lamp")];
    create_table(&ctx.dynamo(), &table, &rows).await?;
    let (source, dr1, dr2) = (vault(&ctx, "prod"), vault(&ctx, "dr1"), vault(&ctx, "dr2"));
    create_vault(&ctx, REGION, &source).await?;
    create_vault(&ctx, "eu-central-1", &dr1).await?;
    create_vault(&ctx, "eu-west-1", &dr2).await?;
    let proxy = FaultProxy::start(&ctx.env.moto.url).await?;
    let _op = ctx.start_operator_via(&proxy, &[])?;

    let copies = [vault_arn("eu-central-1", &dr1), vault_arn("eu-west-1", &dr2)];
    let backups: Api<DynamoBackup> = ctx.api();
    backups
        .create(&PostParams::default(), &aws_backup("orders-dr", &table, settings(&source, &copies), DeletionPolicy::Delete))
        .await
        .map_err(|e| e.to_string())?;
    let ready = wait_condition(&backups, "orders-dr", "Ready", Duration::from_secs(90), conditions).await?;
    let status = ready.status.clone().ok_or("no status")?;
    println!("status: {}", serde_json::to_string_pretty(&status).unwrap_or_default());
    let counts = proxy.counts();
    println!("calls from creation to Ready (DynamoDB and AWS Backup): {counts:?}");
    ensure(status.method == Some(BackupMethod::AWSBackup) && status.phase == Some(BackupPhase::Available), || format!("{status:?}"))?;
    let source_point = status.recovery_point_arn.clone().ok_or("no recoveryPointArn")?;
    ensure(source_point.starts_with(&format!("arn:aws:backup:{REGION}:")), || source_point.clone())?;
    ensure(status.backup_job_id.is_some() && status.created_at.is_some(), || "job id and time".into())?;
    ensure(status.copies.len() == 2, || format!("copies: {:?}", status.copies))?;
    for (copy, region) in status.copies.iter().zip(["eu-central-1", "eu-west-1"]) {
        ensure(copy.state == CopyState::Completed && copy.region == region && copy.copy_job_id.is_some(), || format!("{copy:?}"))?;
        ensure(copy.recovery_point_arn.as_deref().is_some_and(|a| a.starts_with(&format!("arn:aws:backup:{region}:"))), || {
            format!("copy recovery point: {copy:?}")
        })?;
    }
    // One job for the snapshot and one per copy, whatever the follow-ups.
    ensure(proxy.count("StartBackupJob") == 1 && proxy.count("StartCopyJob") == 2, || format!("{counts:?}"))?;
    ensure(proxy.count("CreateBackup") == 0, || "a DynamoDB backup besides AWS Backup's".into())?;
    ensure(recovery_points(&ctx, "eu-central-1", &dr1).await?.len() == 1, || "no copy in eu-central-1's vault".into())?;

    // Restored where a copy is: the data crossed regions.
    let restores: Api<DynamoRestore> = ctx.api();
    let target = ctx.table("Orders-dr");
    restores
        .create(&PostParams::default(), &restore_by_aws_backup("to-frankfurt", from_backup("orders-dr"), &target, Some("eu-central-1")))
        .await
        .map_err(|e| e.to_string())?;
    let restored = wait_condition(&restores, "to-frankfurt", "Ready", Duration::from_secs(90), restores::conditions).await?;
    let rstatus = restored.status.clone().ok_or("no restore status")?;
    println!("restore status: {}", serde_json::to_string_pretty(&rstatus).unwrap_or_default());
    ensure(rstatus.recovery_point_arn.as_deref() == status.copies[0].recovery_point_arn.as_deref(), || {
        format!("restored {:?}, not the copy in eu-central-1", rstatus.recovery_point_arn)
    })?;
    ensure(rstatus.restore_job_id.is_some() && rstatus.target_table_arn.as_deref().is_some_and(|a| a.contains(":eu-central-1:")), || {
        "job id and table ARN".into()
    })?;
    let frankfurt = ctx.env.moto.client_in("eu-central-1");
    let got = items(&frankfurt, &target).await?;
    ensure(got.len() == rows.len() && rows.iter().all(|(id, item)| got.get(*id).map(String::as_str) == Some(*item)), || {
        format!("items in eu-central-1: {got:?}")
    })?;

    // No copy in ap-south-1: refused, naming where it can be restored.
    restores
        .create(
            &PostParams::default(),
            &restore_by_aws_backup("to-mumbai", from_backup("orders-dr"), &ctx.table("Orders-mumbai"), Some("ap-south-1")),
        )
        .await
        .map_err(|e| e.to_string())?;
    let refused = wait_condition(&restores, "to-mumbai", "Stalled", WAIT, restores::conditions).await?;
    let (reason, message) = stalled(&restores::conditions(&refused)).ok_or("not Stalled")?;
    println!("Stalled: {reason} — {message}");
    ensure(reason == "NoCopyInRegion" && ["us-east-1", "eu-central-1", "eu-west-1"].iter().all(|r| message.contains(r)), || {
        format!("{reason}: {message}")
    })?;

    // Deleting the object deletes the source recovery point; the copies stay.
    backups.delete("orders-dr", &DeleteParams::default()).await.map_err(|e| e.to_string())?;
    eventually("orders-dr to be gone", WAIT, || {
        let backups = backups.clone();
        async move { backups.get_opt("orders-dr").await.ok().and_then(|o| o.is_none().then_some(())) }
    })
    .await?;
    ensure(!recovery_points(&ctx, REGION, &source).await?.contains(&source_point), || "the source recovery point is still there".into())?;
    ensure(recovery_points(&ctx, "eu-central-1", &dr1).await?.len() == 1, || "the copy in eu-central-1 went too".into())?;
    ensure(recovery_points(&ctx, "eu-west-1", &dr2).await?.len() == 1, || "the copy in eu-west-1 went too".into())
}

/// SIGKILL, and the process gone.
fn kill(operator: &mut crate::support::operator::Operator) -> Result<(), String> {
    operator.process.signal(libc::SIGKILL);
    operator.process.wait_timeout(Duration::from_secs(10)).map(|_| ()).ok_or_else(|| "the operator survived SIGKILL".into())
}

/// A table and its vault, and an operator killed while the StartBackupJob of DynamoBackup
/// `name` was in flight: AWS Backup got it, the operator never heard back. The proxy no longer
/// holds anything.
async fn killed_mid_start_backup_job(ctx: &TestCtx, name: &str, deletion: DeletionPolicy) -> Result<(String, String, FaultProxy), String> {
    let table = ctx.table("Orders");
    create_table(&ctx.dynamo(), &table, &[("o-1", "keyboard")]).await?;
    let source = vault(ctx, "prod");
    create_vault(ctx, REGION, &source).await?;
    let proxy = FaultProxy::start(&ctx.env.moto.url).await?;
    proxy.add(Rule::Hold { operation: "StartBackupJob" });
    let mut first = ctx.start_operator_via(&proxy, &[])?;
    let backups: Api<DynamoBackup> = ctx.api();
    backups.create(&PostParams::default(), &aws_backup(name, &table, settings(&source, &[]), deletion)).await.map_err(|e| e.to_string())?;
    tokio::time::timeout(WAIT, proxy.held()).await.map_err(|_| "StartBackupJob never reached AWS Backup")?;
    kill(&mut first)?;
    proxy.clear();
    Ok((table, source, proxy))
}

async fn crash_after_start_jobs(ctx: TestCtx) -> Result<(), String> {
    let (_, source, proxy) = killed_mid_start_backup_job(&ctx, "crash", DeletionPolicy::Retain).await?;
    let backups: Api<DynamoBackup> = ctx.api();
    let mut second = ctx.start_operator_via(&proxy, &[])?;
    let ready = wait_condition(&backups, "crash", "Ready", Duration::from_secs(90), conditions).await?;
    let point = ready.status.and_then(|s| s.recovery_point_arn).ok_or("no recovery point")?;
    let jobs = ctx
        .env
        .moto
        .backup_client(REGION)
        .list_backup_jobs()
        .by_backup_vault_name(&source)
        .send()
        .await
        .map_err(|e| format!("ListBackupJobs: {}", aws_sdk_backup::error::DisplayErrorContext(e)))?;
    println!("backup jobs in {source}: {}; calls {:?}", jobs.backup_jobs().len(), proxy.counts());
    ensure(jobs.backup_jobs().len() == 1, || format!("expected exactly one backup job, found {}", jobs.backup_jobs().len()))?;
    ensure(proxy.count("StartBackupJob") == 2, || "the restart did not ask again with its token".into())?;
    ensure(recovery_points(&ctx, REGION, &source).await? == [point.clone()], || "not exactly the one recovery point".into())?;

    // Killed with StartRestoreJob in flight: the restart adopts the one job.
    kill(&mut second)?;
    proxy.add(Rule::Hold { operation: "StartRestoreJob" });
    let mut third = ctx.start_operator_via(&proxy, &[])?;
    let restores: Api<DynamoRestore> = ctx.api();
    let target = ctx.table("Orders-restored");
    restores
        .create(&PostParams::default(), &restore_by_aws_backup("crash-restore", from_backup("crash"), &target, None))
        .await
        .map_err(|e| e.to_string())?;
    tokio::time::timeout(WAIT, proxy.held()).await.map_err(|_| "StartRestoreJob never reached AWS Backup")?;
    kill(&mut third)?;
    proxy.clear();
    let _fourth = ctx.start_operator_via(&proxy, &[])?;
    let done = wait_condition(&restores, "crash-restore", "Ready", Duration::from_secs(90), restores::conditions).await?;
    let jobs = ctx
        .env
        .moto
        .backup_client(REGION)
        .list_restore_jobs()
        .send()
        .await
        .map_err(|e| format!("ListRestoreJobs: {}", aws_sdk_backup::error::DisplayErrorContext(e)))?;
    let ours = jobs.restore_jobs().iter().filter(|j| j.recovery_point_arn() == Some(point.as_str())).count();
    println!("restore jobs of {point}: {ours}; restore status {:?}", done.status.as_ref().map(|s| &s.restore_job_id));
    ensure(ours == 1, || format!("expected exactly one restore job, found {ours}"))?;
    ensure(items(&ctx.dynamo(), &target).await?.len() == 1, || "the restored table lacks its item".into())
}

/// Killed with StartBackupJob in flight, then deleted (deletionPolicy Delete) before any
/// operator recorded the job: the next one finds the job by its token and deletes its recovery
/// point, so nothing is left in the vault.
async fn deleted_after_crash(ctx: TestCtx) -> Result<(), String> {
    let (_, source, proxy) = killed_mid_start_backup_job(&ctx, "gone", DeletionPolicy::Delete).await?;
    let backups: Api<DynamoBackup> = ctx.api();
    let intent = backups.get("gone").await.map_err(|e| e.to_string())?.status.unwrap_or_default();
    ensure(intent.backup_job_id.is_none() && intent.requested_at.is_some(), || format!("not an unanswered intent: {intent:?}"))?;
    backups.delete("gone", &DeleteParams::default()).await.map_err(|e| e.to_string())?;
    let _second = ctx.start_operator_via(&proxy, &[])?;
    eventually("the object to be gone", Duration::from_secs(90), || {
        let backups = backups.clone();
        async move { backups.get_opt("gone").await.ok().and_then(|o| o.is_none().then_some(())) }
    })
    .await?;
    let left = recovery_points(&ctx, REGION, &source).await?;
    println!("recovery points left: {left:?}; calls {:?}", proxy.counts());
    ensure(left.is_empty(), || format!("left behind: {left:?}"))?;
    ensure(proxy.count("DeleteRecoveryPoint") == 1, || format!("{:?}", proxy.counts()))
}

async fn failures(ctx: TestCtx) -> Result<(), String> {
    let table = ctx.table("Orders");
    create_table(&ctx.dynamo(), &table, &[("o-1", "keyboard")]).await?;
    let (source, locked, failing) = (vault(&ctx, "prod"), vault(&ctx, "locked"), vault(&ctx, "drfail"));
    create_vault(&ctx, REGION, &source).await?;
    create_vault(&ctx, REGION, &locked).await?;
    create_vault(&ctx, "eu-central-1", &failing).await?;
    ctx.env
        .moto
        .backup_client(REGION)
        .put_backup_vault_lock_configuration()
        .backup_vault_name(&locked)
        .min_retention_days(7)
        .send()
        .await
        .map_err(|e| format!("PutBackupVaultLockConfiguration: {}", aws_sdk_backup::error::DisplayErrorContext(e)))?;
    let denied_role = format!("arn:aws:iam::{ACCOUNT}:role/NotPassable-{}", vault(&ctx, "r"));
    let failing_arn = vault_arn("eu-central-1", &failing);
    ctx.env.moto.aws_backup_faults(serde_json::json!({"denyPassRole": [denied_role], "failCopiesTo": [failing_arn]})).await?;
    let proxy = FaultProxy::start(&ctx.env.moto.url).await?;
    let _op = ctx.start_operator_via(&proxy, &[])?;
    let backups: Api<DynamoBackup> = ctx.api();
    let result = failure_cases(&ctx, &backups, &table, &source, &locked, &denied_role, &failing_arn, &proxy).await;
    ctx.env.moto.aws_backup_faults(serde_json::json!({})).await?;
    result
}

#[allow(clippy::too_many_arguments)]
async fn failure_cases(
    ctx: &TestCtx,
    backups: &Api<DynamoBackup>,
    table: &str,
    source: &str,
    locked: &str,
    denied_role: &str,
    failing_arn: &str,
    proxy: &FaultProxy,
) -> Result<(), String> {
    // Refused by the schema: AWSBackup without its settings.
    let mut bare = backup("bare", table, DeletionPolicy::Retain);
    bare.spec.method = BackupMethod::AWSBackup;
    let refused = backups.create(&PostParams::default(), &bare).await;
    println!("AWSBackup without awsBackup: {refused:?}");
    ensure(refused.as_ref().is_err_and(|e| e.to_string().contains("spec.awsBackup is required")), || format!("{refused:?}"))?;

    let mut role = settings(source, &[]);
    role.iam_role_arn = denied_role.to_owned();
    let no_vault = settings("no-such-vault", &[]);
    let copy_fails = settings(source, &[failing_arn.to_owned()]);
    for (name, spec) in [("role", role), ("no-vault", no_vault), ("copy-fails", copy_fails)] {
        backups.create(&PostParams::default(), &aws_backup(name, table, spec, DeletionPolicy::Retain)).await.map_err(|e| e.to_string())?;
    }
    let expect =
        [("role", "AccessDenied", "iam:PassRole"), ("no-vault", "VaultNotFound", "no-such-vault"), ("copy-fails", "CopyFailed", "is kept")];
    for (name, reason, words) in expect {
        let obj = wait_condition(backups, name, "Stalled", Duration::from_secs(90), conditions).await?;
        let (got, message) = stalled(&conditions(&obj)).ok_or("not Stalled")?;
        println!("{name}: Stalled {got} — {message}");
        ensure(got == reason && message.contains(words), || format!("{name}: {got}: {message}"))?;
    }
    let kept = backups.get("copy-fails").await.map_err(|e| e.to_string())?;
    let point = kept.status.and_then(|s| s.recovery_point_arn).ok_or("the failed copy lost its source recovery point")?;
    ensure(recovery_points(ctx, REGION, source).await?.contains(&point), || "the source recovery point is gone".into())?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    ensure(proxy.count("StartBackupJob") == 3, || format!("a refusal was retried: {:?}", proxy.counts()))?;

    // A Vault Lock keeps the recovery point: the object stays, saying so.
    backups
        .create(&PostParams::default(), &aws_backup("locked", table, settings(locked, &[]), DeletionPolicy::Delete))
        .await
        .map_err(|e| e.to_string())?;
    let ready = wait_condition(backups, "locked", "Ready", Duration::from_secs(90), conditions).await?;
    let point = ready.status.and_then(|s| s.recovery_point_arn).ok_or("no recovery point")?;
    backups.delete("locked", &DeleteParams::default()).await.map_err(|e| e.to_string())?;
    let held = eventually("RetentionLocked", WAIT, || {
        let backups = backups.clone();
        async move {
            let obj = backups.get_opt("locked").await.ok().flatten()?;
            condition(&conditions(&obj), "Reconciling").filter(|c| c.reason == "RetentionLocked").map(|c| c.message.clone())
        }
    })
    .await?;
    println!("Reconciling RetentionLocked — {held}");
    ensure(held.contains(locked), || held.clone())?;
    ensure(recovery_points(ctx, REGION, locked).await?.contains(&point), || "the locked recovery point was deleted".into())?;
    let still = backups.get("locked").await.map_err(|e| e.to_string())?;
    ensure(still.metadata.finalizers.as_ref().is_some_and(|f| !f.is_empty()), || "the object went without its recovery point".into())?;

    // A DynamoDB backup cannot be restored in another region.
    backups.create(&PostParams::default(), &backup("native", table, DeletionPolicy::Retain)).await.map_err(|e| e.to_string())?;
    wait_condition(backups, "native", "Ready", WAIT, conditions).await?;
    let restores: Api<DynamoRestore> = ctx.api();
    let mut r = restore("native-elsewhere", from_backup("native"), &ctx.table("Orders-eu"));
    r.spec.region = Some("eu-central-1".into());
    restores.create(&PostParams::default(), &r).await.map_err(|e| e.to_string())?;
    let obj = wait_condition(&restores, "native-elsewhere", "Stalled", WAIT, restores::conditions).await?;
    let (reason, message) = stalled(&restores::conditions(&obj)).ok_or("not Stalled")?;
    println!("native-elsewhere: Stalled {reason} — {message}");
    ensure(reason == "CrossRegionNeedsAWSBackup" && message.contains("AWSBackup") && message.contains("copyTo"), || message.clone())
}

async fn retention(ctx: TestCtx) -> Result<(), String> {
    let table = ctx.table("Orders");
    create_table(&ctx.dynamo(), &table, &[("o-1", "keyboard")]).await?;
    let source = vault(&ctx, "prod");
    create_vault(&ctx, REGION, &source).await?;
    let proxy = FaultProxy::start(&ctx.env.moto.url).await?;
    let _op = ctx.start_operator_via(&proxy, &[])?;
    let mut p = policy("nightly", &[&table]);
    p.spec.schedule = Some(every("@every 12s"));
    p.spec.retention = Some(keep_last(1));
    p.spec.backup = Some(BackupTemplate { method: BackupMethod::AWSBackup, aws_backup: Some(settings(&source, &[])) });
    let policies: Api<DynamoBackupPolicy> = ctx.api();
    policies.create(&PostParams::default(), &p).await.map_err(|e| e.to_string())?;
    // Three snapshots made, the older ones' recovery points deleted by retention.
    let points = eventually("retention to delete recovery points", Duration::from_secs(150), || {
        let (ctx, proxy, source) = (&ctx, &proxy, &source);
        async move {
            let points = recovery_points(ctx, REGION, source).await.ok()?;
            (proxy.count("StartBackupJob") >= 3 && proxy.count("DeleteRecoveryPoint") >= 2 && points.len() <= 2).then_some(points)
        }
    })
    .await?;
    println!("recovery points left: {points:?}; calls {:?}", proxy.counts());
    let backups: Api<DynamoBackup> = ctx.api();
    let children = backups.list(&Default::default()).await.map_err(|e| e.to_string())?;
    ensure(children.items.iter().all(|b| b.spec.method == BackupMethod::AWSBackup), || "a child without the template's method".into())
}

async fn tenancy(ctx: TestCtx) -> Result<(), String> {
    const TENANT_ROLE: &str = "arn:aws:iam::123456789012:role/shop-backups";
    let allowed = ctx.table("Orders");
    let other = ctx.table("Payroll");
    create_table(&ctx.dynamo(), &allowed, &[("o-1", "keyboard")]).await?;
    create_table(&ctx.dynamo(), &other, &[("p-1", "salary")]).await?;
    let source = vault(&ctx, "prod");
    create_vault(&ctx, REGION, &source).await?;
    let file = ctx.env.dir.join(format!("tenancy-{}.yaml", ctx.namespace));
    let yaml = format!(
        "tenants:\n  - namespace: {}\n    tables: ['Orders*']\n    regions: [us-east-1]\n    roleArn: {TENANT_ROLE}\n",
        ctx.namespace
    );
    std::fs::write(&file, yaml).map_err(|e| e.to_string())?;
    let proxy = FaultProxy::start(&ctx.env.moto.url).await?;
    let _op = ctx.start_operator_via(&proxy, &[&format!("--tenancy-file={}", file.display())])?;
    let backups: Api<DynamoBackup> = ctx.api();
    backups
        .create(&PostParams::default(), &aws_backup("allowed", &allowed, settings(&source, &[]), DeletionPolicy::Retain))
        .await
        .map_err(|e| e.to_string())?;
    backups
        .create(&PostParams::default(), &aws_backup("other", &other, settings(&source, &[]), DeletionPolicy::Retain))
        .await
        .map_err(|e| e.to_string())?;
    wait_condition(&backups, "allowed", "Ready", Duration::from_secs(90), conditions).await?;
    let refused = wait_condition(&backups, "other", "Stalled", WAIT, conditions).await?;
    let (reason, message) = stalled(&conditions(&refused)).ok_or("not Stalled")?;
    println!("other: Stalled {reason} — {message}");
    ensure(reason == "AccessDenied", || format!("{reason}: {message}"))?;
    let signers = proxy.signers("StartBackupJob");
    println!("StartBackupJob signed by: {signers:?}");
    ensure(signers.len() == 1 && signers.iter().all(|k| !k.is_empty() && k != "testing"), || {
        format!("AWS Backup was not called once, with the tenant role's credentials: {signers:?}")
    })
}

/// A policy whose snapshots AWS Backup keeps drills from its newest recovery point: the drill's
/// restore is an AWS Backup restore job with the policy's role, and it passes.
async fn drill(ctx: TestCtx) -> Result<(), String> {
    let table = ctx.table("Orders");
    create_table(&ctx.dynamo(), &table, &[("o-1", "keyboard"), ("o-2", "monitor")]).await?;
    let source = vault(&ctx, "prod");
    create_vault(&ctx, REGION, &source).await?;
    let proxy = FaultProxy::start(&ctx.env.moto.url).await?;
    let _op = ctx.start_operator_via(&proxy, &[])?;
    let backups: Api<DynamoBackup> = ctx.api();
    let mut snap = aws_backup("orders-rp", &table, settings(&source, &[]), DeletionPolicy::Delete);
    snap.metadata.labels = Some([(labels::POLICY.to_owned(), "kept".to_owned())].into());
    backups.create(&PostParams::default(), &snap).await.map_err(|e| e.to_string())?;
    wait_condition(&backups, "orders-rp", "Ready", Duration::from_secs(90), conditions).await?;

    let mut p = policy("kept", &[&table]);
    p.spec.backup = Some(BackupTemplate { method: BackupMethod::AWSBackup, aws_backup: Some(settings(&source, &[])) });
    p.spec.drill = Some(crate::drill::drill(DrillSource::LatestBackup));
    let policies: Api<DynamoBackupPolicy> = ctx.api();
    policies.create(&PostParams::default(), &p).await.map_err(|e| e.to_string())?;
    let line = crate::drill::drill_line(&policies, "kept", &table, |d| d.result == DrillResult::Passed).await?;
    println!("AWS Backup drill: {line:?}; calls {:?}", proxy.counts());
    ensure(proxy.count("StartRestoreJob") >= 1, || "no AWS Backup restore job".into())?;
    let jobs = proxy.requests("StartRestoreJob");
    ensure(jobs.iter().all(|j| j["IamRoleArn"] == ROLE), || format!("restore jobs without the policy's role: {jobs:?}"))?;
    ensure(line.message.as_deref().is_some_and(|m| m.contains("2 items")), || format!("{:?}", line.message))
}
