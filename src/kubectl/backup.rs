//! `backup`: a snapshot of a table now, or of every table of a policy, as DynamoBackups with
//! the trigger `manual`.

use std::collections::BTreeMap;

use jiff::Timestamp;
use kube::{Api, ResourceExt, api::PostParams};

use super::{
    args::{BackupArgs, DeletePolicy},
    client::{Ctx, list_all, where_},
    failure::{Failure, api_failed, refused},
    names::{derived_name, stamp},
    output::print_structured,
    render,
    wait::wait_ready,
};
use crate::{
    api::{DeletionPolicy, DynamoBackup, DynamoBackupPolicy, DynamoBackupSpec, labels},
    plan::{
        children::policy_backup,
        names::{child_backup_name, table_label_value},
    },
};

/// The policies of the namespace that name `table`.
fn covering<'a>(policies: &'a [DynamoBackupPolicy], table: &str) -> Vec<&'a DynamoBackupPolicy> {
    policies.iter().filter(|p| p.covered_tables().iter().any(|t| render::table_name(t) == table)).collect()
}

/// `backup`: builds the DynamoBackups, creates them and, with `--wait`, follows each until its
/// snapshot is Ready.
pub(super) async fn backup(ctx: &Ctx, args: BackupArgs) -> Result<(), Failure> {
    let api: Api<DynamoBackup> = ctx.api();
    let now = Timestamp::now();
    let policies = list_all(&ctx.api::<DynamoBackupPolicy>(), "DynamoBackupPolicies").await?;
    let made = if let Some(policy_name) = &args.policy {
        let Some(policy) = policies.iter().find(|p| &p.name_any() == policy_name) else {
            return Err(refused(format!("no DynamoBackupPolicy {policy_name} in {}", where_(ctx))));
        };
        policy_backups(policy, policy_name, args.delete_policy, now)
    } else if let Some(table) = &args.table {
        vec![table_backup(table, &args, &policies, now)]
    } else {
        Vec::new()
    };
    for b in &made {
        api.create(&PostParams::default(), b).await.map_err(|e| api_failed(&format!("creating DynamoBackup {}", b.name_any()), e))?;
        eprintln!("dynamobackup/{} created (table {}, {})", b.name_any(), b.spec.table_name, b.spec.method.as_str());
    }
    if args.wait {
        for b in &made {
            wait_ready(&api, &b.name_any(), "DynamoBackup", args.timeout).await?;
        }
    }
    if !ctx.global.output.is_human() {
        print_structured(ctx.global.output, &made)?;
    }
    Ok(())
}

/// `backup --policy`: a DynamoBackup of each table of the policy, as the policy would make it,
/// with `--delete-policy` where given.
fn policy_backups(
    policy: &DynamoBackupPolicy,
    policy_name: &str,
    delete_policy: Option<DeletePolicy>,
    now: Timestamp,
) -> Vec<DynamoBackup> {
    let mut made = Vec::new();
    for table in &policy.covered_tables() {
        let name = child_backup_name(policy_name, render::table_name(table), &format!("manual-{}", stamp(now)));
        let mut b = policy_backup(policy, &name, table, policy.spec.region.clone(), "manual");
        match delete_policy {
            Some(DeletePolicy::Delete) => b.spec.deletion_policy = DeletionPolicy::Delete,
            Some(DeletePolicy::Retain) => b.spec.deletion_policy = DeletionPolicy::Retain,
            None => {}
        }
        // Like any DynamoBackup a person creates: the operator adds its finalizer when it first
        // reconciles the object, so nothing waits on an operator that is not there.
        b.metadata.finalizers = None;
        made.push(b);
    }
    made
}

/// `backup TABLE`: a DynamoBackup of the table (Retain unless `--delete-policy Delete`), kept
/// as the one policy that covers it keeps its snapshots.
fn table_backup(table: &str, args: &BackupArgs, policies: &[DynamoBackupPolicy], now: Timestamp) -> DynamoBackup {
    let name = args.name.clone().unwrap_or_else(|| derived_name(render::table_name(table), &format!("manual-{}", stamp(now))));
    let mut b = DynamoBackup::new(&name, DynamoBackupSpec::for_table(table));
    b.spec.region = args.region.clone();
    b.spec.deletion_policy = match args.delete_policy {
        Some(DeletePolicy::Delete) => DeletionPolicy::Delete,
        _ => DeletionPolicy::Retain,
    };
    // Kept as the covering policy keeps its snapshots (for instance by AWS Backup with copies).
    let cover = covering(policies, render::table_name(table));
    if let [policy] = cover.as_slice()
        && let Some(template) = &policy.spec.backup
    {
        b.spec.method = template.method;
        b.spec.aws_backup = template.aws_backup.clone();
    }
    b.metadata.labels = Some(BTreeMap::from([
        (labels::TABLE.to_owned(), table_label_value(render::table_name(table))),
        (labels::TRIGGER.to_owned(), "manual".to_owned()),
    ]));
    b
}
