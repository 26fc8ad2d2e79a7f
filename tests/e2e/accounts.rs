//! Many accounts: snapshots copied by AWS Backup into a vault of another account of the
//! organization, restored there through a tenant role of that account, and a tenant whose role
//! is in another account backing up and restoring in its own account. moto keeps one backend per
//! account; credentials of a role assumed through its STS act in the role's account, in moto and
//! in the AWS Backup emulator alike. The tests check each account through clients of its own.

use std::{path::PathBuf, sync::Arc, time::Duration};

use dynamo_backup_operator::api::{
    AwsBackupRestore, BackupPhase, CopyState, DeletionPolicy, DynamoBackup, DynamoBackupPolicy, DynamoRestore, RestoreSource,
};
use kube::{Api, api::PostParams};
use libtest_mimic::Trial;

use crate::{
    aws_backup::{aws_backup, create_vault, recovery_points, settings, vault},
    backup::{WAIT, backup, conditions},
    plugin::kubectl,
    policy::policy,
    restore::{self as restores, from_backup, restore},
    support::{
        Env, TestCtx, ensure,
        moto::{DR_ACCOUNT, OWN_ACCOUNT, REGION},
        process::eventually,
        proxy::{FaultProxy, Rule},
        tables::{condition, create_table, items, table_exists, wait_condition},
    },
};

pub fn trials(env: &Arc<Env>) -> Vec<Trial> {
    vec![
        env.trial("account_copy_to_a_vault_of_another_account_lands_there", copy_lands_there),
        env.trial("account_restore_from_the_copy_through_a_tenant_role_of_that_account", restore_from_the_copy),
        env.trial("account_tenant_role_in_another_account_backs_up_and_restores_there", tenant_in_another_account),
        env.trial("account_backup_ref_in_the_dr_namespace_restores_that_accounts_copy", backup_ref_in_the_dr_namespace),
        env.trial("account_same_table_name_in_two_accounts_makes_two_series_and_two_lines", same_name_in_two_accounts),
        env.trial("account_throttling_of_one_account_does_not_hold_up_another", throttled_account),
    ]
}

/// The tenant role of the disaster-recovery namespace: the operator assumes it for that
/// namespace's calls, which then act in the DR account.
const DR_TENANT_ROLE: &str = "arn:aws:iam::222222222222:role/dynamo-dr-restores";
/// The role AWS Backup restores with in the DR account (a role is passed within its account).
const DR_BACKUP_ROLE: &str = "arn:aws:iam::222222222222:role/service-role/AWSBackupDefaultServiceRole";

const ROWS: [(&str, &str); 3] = [("o-1", "keyboard"), ("o-2", "monitor"), ("o-3", "desk lamp")];

/// A vault of the DR account whose access policy lets the operator's account copy in (`allow`),
/// or that has none; its ARN.
async fn dr_vault(ctx: &TestCtx, name: &str, allow: bool) -> Result<String, String> {
    let (_, backup) = ctx.env.moto.assumed(DR_TENANT_ROLE, REGION).await?;
    let made = backup
        .create_backup_vault()
        .backup_vault_name(name)
        .send()
        .await
        .map_err(|e| format!("CreateBackupVault {name} in {DR_ACCOUNT}: {}", aws_sdk_backup::error::DisplayErrorContext(e)))?;
    let arn = made.backup_vault_arn().unwrap_or_default().to_owned();
    ensure(arn == format!("arn:aws:backup:{REGION}:{DR_ACCOUNT}:backup-vault:{name}"), || format!("vault ARN {arn}"))?;
    if allow {
        let policy = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "CopiesFromProduction",
                "Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{OWN_ACCOUNT}:root")},
                "Action": "backup:CopyIntoBackupVault",
                "Resource": "*"
            }]
        });
        backup
            .put_backup_vault_access_policy()
            .backup_vault_name(name)
            .policy(policy.to_string())
            .send()
            .await
            .map_err(|e| format!("PutBackupVaultAccessPolicy {name}: {}", aws_sdk_backup::error::DisplayErrorContext(e)))?;
    }
    Ok(arn)
}

/// The recovery points of the DR account's vault `name`.
async fn dr_recovery_points(ctx: &TestCtx, name: &str) -> Result<Vec<String>, String> {
    let (_, backup) = ctx.env.moto.assumed(DR_TENANT_ROLE, REGION).await?;
    let out = backup
        .list_recovery_points_by_backup_vault()
        .backup_vault_name(name)
        .send()
        .await
        .map_err(|e| format!("ListRecoveryPointsByBackupVault {name}: {}", aws_sdk_backup::error::DisplayErrorContext(e)))?;
    Ok(out.recovery_points().iter().filter_map(|r| r.recovery_point_arn().map(str::to_owned)).collect())
}

/// A second namespace for the disaster-recovery tenant: `<test namespace>-dr`.
async fn dr_namespace(ctx: &TestCtx) -> Result<String, String> {
    let name = format!("{}-dr", ctx.namespace);
    crate::support::create_namespace(ctx.client(), &name).await?;
    Ok(name)
}

/// A tenancy file: the test's namespace in the operator's own account (no role), `dr` under the
/// DR tenant role; both may name this test's tables in the default region.
fn tenancy_file(ctx: &TestCtx, dr: &str) -> Result<PathBuf, String> {
    let file = ctx.env.dir.join(format!("tenancy-{}.yaml", ctx.namespace));
    let tables = format!("['*-{}']", ctx.namespace);
    let yaml = format!(
        "tenants:\n  - namespace: {prod}\n    tables: {tables}\n    regions: [{REGION}]\n  - namespace: {dr}\n    tables: {tables}\n    \
         regions: [{REGION}]\n    roleArn: {DR_TENANT_ROLE}\n",
        prod = ctx.namespace
    );
    std::fs::write(&file, yaml).map_err(|e| e.to_string())?;
    Ok(file)
}

fn by_arn(recovery_point: &str) -> RestoreSource {
    RestoreSource { backup_ref: None, backup_arn: None, recovery_point_arn: Some(recovery_point.to_owned()), point_in_time: None }
}

fn stalled(conds: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition]) -> Option<(String, String)> {
    condition(conds, "Stalled").filter(|c| c.status == "True").map(|c| (c.reason.clone(), c.message.clone()))
}

/// A snapshot of the test's `Orders` table kept by AWS Backup in the operator's account and
/// copied to `dr_vault_arn`; its status once Ready.
async fn snapshot_copied_to(ctx: &TestCtx, name: &str, table: &str, dr_vault_arn: &str) -> Result<DynamoBackup, String> {
    let source = vault(ctx, "prod");
    create_vault(ctx, REGION, &source).await?;
    let backups: Api<DynamoBackup> = ctx.api();
    let b = aws_backup(name, table, settings(&source, &[dr_vault_arn.to_owned()]), DeletionPolicy::Retain);
    backups.create(&PostParams::default(), &b).await.map_err(|e| e.to_string())?;
    wait_condition(&backups, name, "Ready", Duration::from_secs(90), conditions).await
}

/// (a) A copy to a vault of account 222222222222: complete, its recovery point that account's;
/// a vault whose access policy does not let the operator's account in fails the copy.
async fn copy_lands_there(ctx: TestCtx) -> Result<(), String> {
    let table = ctx.table("Orders");
    create_table(&ctx.dynamo(), &table, &ROWS).await?;
    let allowed = dr_vault(&ctx, &vault(&ctx, "dr"), true).await?;
    let closed_name = vault(&ctx, "closed");
    let closed = dr_vault(&ctx, &closed_name, false).await?;
    let _op = ctx.start_operator(&[])?;

    let ready = snapshot_copied_to(&ctx, "orders-dr", &table, &allowed).await?;
    let status = ready.status.clone().ok_or("no status")?;
    println!("status: {}", serde_json::to_string_pretty(&status).unwrap_or_default());
    ensure(status.phase == Some(BackupPhase::Available), || format!("{status:?}"))?;
    let source = status.recovery_point_arn.clone().unwrap_or_default();
    ensure(source.starts_with(&format!("arn:aws:backup:{REGION}:{OWN_ACCOUNT}:recovery-point:")), || source.clone())?;
    let copy = status.copies.first().ok_or("no copy in status")?;
    let copied = copy.recovery_point_arn.clone().unwrap_or_default();
    ensure(copy.state == CopyState::Completed && copy.region == REGION, || format!("{copy:?}"))?;
    ensure(copied.starts_with(&format!("arn:aws:backup:{REGION}:{DR_ACCOUNT}:recovery-point:")), || {
        format!("the copy's recovery point is not the DR account's: {copied}")
    })?;
    let in_dr = dr_recovery_points(&ctx, &vault(&ctx, "dr")).await?;
    ensure(in_dr == vec![copied.clone()], || format!("the DR vault holds {in_dr:?}"))?;
    // The operator's own account has no vault of that name: the copy is not there.
    ensure(recovery_points(&ctx, REGION, &vault(&ctx, "dr")).await.is_err(), || "a vault dr in the operator's account".into())?;

    // No access policy on the destination: AWS Backup fails the copy, the object says why.
    let backups: Api<DynamoBackup> = ctx.api();
    let b = aws_backup("orders-closed", &table, settings(&vault(&ctx, "prod"), std::slice::from_ref(&closed)), DeletionPolicy::Retain);
    backups.create(&PostParams::default(), &b).await.map_err(|e| e.to_string())?;
    let refused = wait_condition(&backups, "orders-closed", "Stalled", Duration::from_secs(90), conditions).await?;
    let (reason, message) = stalled(&conditions(&refused)).ok_or("not Stalled")?;
    println!("orders-closed: Stalled {reason} — {message}");
    ensure(reason == "CopyFailed" && message.contains("Access Denied") && message.contains(&closed), || format!("{reason}: {message}"))?;
    ensure(dr_recovery_points(&ctx, &closed_name).await?.is_empty(), || "a copy landed in the closed vault".into())
}

/// (b) The copy restored from a namespace whose tenant role is in the DR account: the table is
/// made in that account, with the snapshot's items, and not in the operator's own. The
/// production namespace, in the operator's own account, cannot restore it.
async fn restore_from_the_copy(ctx: TestCtx) -> Result<(), String> {
    let table = ctx.table("Orders");
    create_table(&ctx.dynamo(), &table, &ROWS).await?;
    let dr = dr_namespace(&ctx).await?;
    let allowed = dr_vault(&ctx, &vault(&ctx, "dr"), true).await?;
    let file = tenancy_file(&ctx, &dr)?;
    let tenancy = format!("--tenancy-file={}", file.display());
    let watch = format!("--namespaces={dr}");
    let _op = ctx.start_operator(&[&tenancy, &watch])?;

    let ready = snapshot_copied_to(&ctx, "orders-dr", &table, &allowed).await?;
    let copied = ready.status.as_ref().and_then(|s| s.copies.first()).and_then(|c| c.recovery_point_arn.clone()).ok_or("no copy")?;

    let target = ctx.table("Orders-restored");
    let restores: Api<DynamoRestore> = Api::namespaced(ctx.client(), &dr);
    let mut r = restore("from-the-copy", by_arn(&copied), &target);
    r.spec.aws_backup = Some(AwsBackupRestore { iam_role_arn: DR_BACKUP_ROLE.to_owned() });
    restores.create(&PostParams::default(), &r).await.map_err(|e| e.to_string())?;
    let done = wait_condition(&restores, "from-the-copy", "Ready", Duration::from_secs(90), restores::conditions).await?;
    let status = done.status.clone().ok_or("no restore status")?;
    println!("restore status: {}", serde_json::to_string_pretty(&status).unwrap_or_default());
    ensure(status.recovery_point_arn.as_deref() == Some(copied.as_str()), || format!("restored {:?}", status.recovery_point_arn))?;
    ensure(status.target_table_arn.as_deref() == Some(format!("arn:aws:dynamodb:{REGION}:{DR_ACCOUNT}:table/{target}").as_str()), || {
        format!("target table ARN {:?}", status.target_table_arn)
    })?;
    let (dr_dynamo, _) = ctx.env.moto.assumed(DR_TENANT_ROLE, REGION).await?;
    let got = items(&dr_dynamo, &target).await?;
    ensure(got.len() == ROWS.len() && ROWS.iter().all(|(id, item)| got.get(*id).map(String::as_str) == Some(*item)), || {
        format!("items in the DR account: {got:?}")
    })?;
    ensure(!table_exists(&ctx.dynamo(), &target).await, || "the restored table is in the operator's own account too".into())?;

    // From the production namespace (the operator's own account) the copy is not to be found.
    let prod_restores: Api<DynamoRestore> = ctx.api();
    let mut wrong = restore("copy-from-prod", by_arn(&copied), &ctx.table("Nope"));
    let own_role = format!("arn:aws:iam::{OWN_ACCOUNT}:role/service-role/AWSBackupDefaultServiceRole");
    wrong.spec.aws_backup = Some(AwsBackupRestore { iam_role_arn: own_role });
    prod_restores.create(&PostParams::default(), &wrong).await.map_err(|e| e.to_string())?;
    let refused = wait_condition(&prod_restores, "copy-from-prod", "Stalled", WAIT, restores::conditions).await?;
    let (reason, message) = stalled(&restores::conditions(&refused)).ok_or("not Stalled")?;
    println!("copy-from-prod: Stalled {reason} — {message}");
    // Known before any call: the operator's own account, from STS, is not the copy's.
    ensure(reason == "NoCopyInAccount" && message.contains("the operator's own credentials"), || format!("{reason}: {message}"))?;
    ensure(!table_exists(&ctx.dynamo(), &ctx.table("Nope")).await, || "a table was made in the operator's account".into())
}

/// (c) A tenant whose role is in the DR account: its native DynamoDB backup and its restore
/// are that account's.
async fn tenant_in_another_account(ctx: TestCtx) -> Result<(), String> {
    let dr = dr_namespace(&ctx).await?;
    let (dr_dynamo, _) = ctx.env.moto.assumed(DR_TENANT_ROLE, REGION).await?;
    let table = ctx.table("Ledger");
    create_table(&dr_dynamo, &table, &ROWS).await?;
    ensure(!table_exists(&ctx.dynamo(), &table).await, || "the DR account's table shows in the operator's account".into())?;
    let file = tenancy_file(&ctx, &dr)?;
    let tenancy = format!("--tenancy-file={}", file.display());
    let watch = format!("--namespaces={dr}");
    let _op = ctx.start_operator(&[&tenancy, &watch])?;

    let backups: Api<DynamoBackup> = Api::namespaced(ctx.client(), &dr);
    backups.create(&PostParams::default(), &backup("ledger-snap", &table, DeletionPolicy::Retain)).await.map_err(|e| e.to_string())?;
    let ready = wait_condition(&backups, "ledger-snap", "Ready", WAIT, conditions).await?;
    let arn = ready.status.as_ref().and_then(|s| s.backup_arn.clone()).ok_or("no backupArn")?;
    println!("backup: {arn}");
    ensure(arn.starts_with(&format!("arn:aws:dynamodb:{REGION}:{DR_ACCOUNT}:table/{table}/backup/")), || arn.clone())?;

    let target = ctx.table("Ledger-restored");
    let restores: Api<DynamoRestore> = Api::namespaced(ctx.client(), &dr);
    restores
        .create(&PostParams::default(), &restore("ledger-back", from_backup("ledger-snap"), &target))
        .await
        .map_err(|e| e.to_string())?;
    let done = wait_condition(&restores, "ledger-back", "Ready", WAIT, restores::conditions).await?;
    let target_arn = done.status.as_ref().and_then(|s| s.target_table_arn.clone()).unwrap_or_default();
    ensure(target_arn == format!("arn:aws:dynamodb:{REGION}:{DR_ACCOUNT}:table/{target}"), || target_arn.clone())?;
    let got = items(&dr_dynamo, &target).await?;
    ensure(got.len() == ROWS.len(), || format!("items in the DR account: {got:?}"))?;
    ensure(!table_exists(&ctx.dynamo(), &target).await, || "the restored table is in the operator's own account".into())
}

/// (d) A DynamoBackup that lives in the DR namespace: AWS Backup keeps it in a vault of the DR
/// account and copies it to another region of that account. A DynamoRestore of that namespace
/// by `backupRef`, in the copy's region, restores the copy there, in the DR account.
async fn backup_ref_in_the_dr_namespace(ctx: TestCtx) -> Result<(), String> {
    const FAR: &str = "eu-central-1";
    let dr = dr_namespace(&ctx).await?;
    let (dr_dynamo, dr_backup) = ctx.env.moto.assumed(DR_TENANT_ROLE, REGION).await?;
    let (far_dynamo, far_backup) = ctx.env.moto.assumed(DR_TENANT_ROLE, FAR).await?;
    let table = ctx.table("Ledger");
    create_table(&dr_dynamo, &table, &ROWS).await?;
    let (source, copies) = (vault(&ctx, "dr-src"), vault(&ctx, "dr-far"));
    for (client, name) in [(&dr_backup, &source), (&far_backup, &copies)] {
        client
            .create_backup_vault()
            .backup_vault_name(name.as_str())
            .send()
            .await
            .map_err(|e| format!("CreateBackupVault {name} in {DR_ACCOUNT}: {}", aws_sdk_backup::error::DisplayErrorContext(e)))?;
    }
    let file = ctx.env.dir.join(format!("tenancy-{}.yaml", ctx.namespace));
    let yaml = format!(
        "tenants:\n  - namespace: {dr}\n    tables: ['*-{ns}']\n    regions: [{REGION}, {FAR}]\n    roleArn: {DR_TENANT_ROLE}\n",
        ns = ctx.namespace
    );
    std::fs::write(&file, yaml).map_err(|e| e.to_string())?;
    let (tenancy, watch) = (format!("--tenancy-file={}", file.display()), format!("--namespaces={dr}"));
    let _op = ctx.start_operator(&[&tenancy, &watch])?;

    let backups: Api<DynamoBackup> = Api::namespaced(ctx.client(), &dr);
    let far_vault = format!("arn:aws:backup:{FAR}:{DR_ACCOUNT}:backup-vault:{copies}");
    let mut spec = settings(&source, &[far_vault]);
    spec.iam_role_arn = DR_BACKUP_ROLE.to_owned();
    backups
        .create(&PostParams::default(), &aws_backup("ledger-dr", &table, spec, DeletionPolicy::Retain))
        .await
        .map_err(|e| e.to_string())?;
    let ready = wait_condition(&backups, "ledger-dr", "Ready", Duration::from_secs(90), conditions).await?;
    let status = ready.status.clone().ok_or("no status")?;
    let copy = status.copies.first().ok_or("no copy in status")?;
    let copied = copy.recovery_point_arn.clone().unwrap_or_default();
    ensure(
        copy.state == CopyState::Completed && copied.starts_with(&format!("arn:aws:backup:{FAR}:{DR_ACCOUNT}:recovery-point:")),
        || format!("the copy: {copy:?}"),
    )?;

    let target = ctx.table("Ledger-far");
    let restores: Api<DynamoRestore> = Api::namespaced(ctx.client(), &dr);
    let mut r = restore("ledger-far", from_backup("ledger-dr"), &target);
    r.spec.region = Some(FAR.to_owned());
    r.spec.aws_backup = Some(AwsBackupRestore { iam_role_arn: DR_BACKUP_ROLE.to_owned() });
    restores.create(&PostParams::default(), &r).await.map_err(|e| e.to_string())?;
    let done = wait_condition(&restores, "ledger-far", "Ready", Duration::from_secs(90), restores::conditions).await?;
    let status = done.status.clone().ok_or("no restore status")?;
    ensure(status.recovery_point_arn.as_deref() == Some(copied.as_str()), || {
        format!("restored {:?}, not the copy", status.recovery_point_arn)
    })?;
    ensure(status.target_table_arn.as_deref() == Some(format!("arn:aws:dynamodb:{FAR}:{DR_ACCOUNT}:table/{target}").as_str()), || {
        format!("target table ARN {:?}", status.target_table_arn)
    })?;
    let got = items(&far_dynamo, &target).await?;
    ensure(got.len() == ROWS.len(), || format!("items in the DR account's {FAR}: {got:?}"))?;
    ensure(!table_exists(&ctx.env.moto.client_in(FAR), &target).await, || "the restored table is in the operator's own account".into())
}

/// The same table name in the operator's account and in the DR account, each protected by a
/// policy of its namespace: two series of each per-table metric, told apart by `account`, and two
/// lines of `kubectl dynamobackup status`, each naming its account.
async fn same_name_in_two_accounts(ctx: TestCtx) -> Result<(), String> {
    let dr = dr_namespace(&ctx).await?;
    let (dr_dynamo, _) = ctx.env.moto.assumed(DR_TENANT_ROLE, REGION).await?;
    let table = ctx.table("Orders");
    create_table(&ctx.dynamo(), &table, &ROWS).await?;
    create_table(&dr_dynamo, &table, &ROWS[..1]).await?;
    let file = tenancy_file(&ctx, &dr)?;
    let tenancy = format!("--tenancy-file={}", file.display());
    let watch = format!("--namespaces={},{dr}", ctx.namespace);
    let op = ctx.start_operator(&[&tenancy, &watch])?;
    for namespace in [ctx.namespace.as_str(), dr.as_str()] {
        let policies: Api<DynamoBackupPolicy> = Api::namespaced(ctx.client(), namespace);
        policies.create(&PostParams::default(), &policy("orders", &[&table])).await.map_err(|e| e.to_string())?;
        wait_condition(&policies, "orders", "Ready", WAIT, policy_conditions).await?;
    }
    let url = format!("{}/metrics", op.metrics_url);
    let series = |account: &str| {
        format!(
            "dynamo_backup_operator_seconds_since_latest_restorable_time{{account=\"{account}\",region=\"{REGION}\",table=\"{table}\"}}"
        )
    };
    let wanted = [series(OWN_ACCOUNT), series(DR_ACCOUNT)];
    eventually("one series per account", WAIT, || {
        let (url, wanted) = (url.clone(), wanted.clone());
        async move {
            let (_, text) = crate::operator::get(&url).await?;
            wanted.iter().all(|w| text.contains(w.as_str())).then_some(())
        }
    })
    .await?;
    let status = kubectl(&ctx, &["status", "-A", "-o", "wide"])?;
    ensure(status.code == Some(0), || status.stderr.clone())?;
    let lines: Vec<&str> = status.stdout.lines().filter(|l| l.contains(table.as_str())).collect();
    ensure(lines.len() == 2, || format!("expected two lines of {table}:\n{}", status.stdout))?;
    ensure(lines.iter().any(|l| l.contains(OWN_ACCOUNT)) && lines.iter().any(|l| l.contains(DR_ACCOUNT)), || status.stdout.clone())
}

fn policy_conditions(p: &DynamoBackupPolicy) -> Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    p.status.as_ref().map(|s| s.conditions.clone()).unwrap_or_default()
}

/// DynamoDB throttles the operator's own account (every CreateBackup it signs, for a while);
/// the DR tenant's backup, made under its role in its own account, is Ready meanwhile.
async fn throttled_account(ctx: TestCtx) -> Result<(), String> {
    let dr = dr_namespace(&ctx).await?;
    let (dr_dynamo, _) = ctx.env.moto.assumed(DR_TENANT_ROLE, REGION).await?;
    let table = ctx.table("Orders");
    create_table(&ctx.dynamo(), &table, &ROWS).await?;
    create_table(&dr_dynamo, &table, &ROWS).await?;
    let proxy = FaultProxy::start(&ctx.env.moto.url).await?;
    // The operator's own credentials sign with this access key (moto's test credentials).
    proxy.add(Rule::FailSignedBy { operation: "CreateBackup", signer: "testing".into(), code: "ThrottlingException", times: 3 });
    let file = tenancy_file(&ctx, &dr)?;
    let tenancy = format!("--tenancy-file={}", file.display());
    let watch = format!("--namespaces={},{dr}", ctx.namespace);
    let _op = ctx.start_operator_via(&proxy, &[&tenancy, &watch])?;
    let own: Api<DynamoBackup> = ctx.api();
    let other: Api<DynamoBackup> = Api::namespaced(ctx.client(), &dr);
    own.create(&PostParams::default(), &backup("own", &table, DeletionPolicy::Retain)).await.map_err(|e| e.to_string())?;
    other.create(&PostParams::default(), &backup("other", &table, DeletionPolicy::Retain)).await.map_err(|e| e.to_string())?;
    wait_condition(&other, "other", "Ready", WAIT, conditions).await?;
    let own_now = own.get("own").await.map_err(|e| e.to_string())?;
    let ready = condition(&conditions(&own_now), "Ready").is_some_and(|c| c.status == "True");
    println!(
        "when the DR account's backup was Ready, the own account's: {:?}",
        condition(&conditions(&own_now), "Reconciling").map(|c| &c.reason)
    );
    ensure(!ready, || "the own account's backup was Ready first: the throttling did not hold it".into())?;
    wait_condition(&own, "own", "Ready", Duration::from_secs(120), conditions).await?;
    let signers = proxy.signers("CreateBackup");
    ensure(signers.iter().filter(|s| *s == "testing").count() > 3, || format!("the throttled calls were not retried: {signers:?}"))
}
