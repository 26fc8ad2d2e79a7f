//! `drill`: a restore drill of a policy's tables now, built as the operator builds its scheduled
//! drills, and with `--wait` the verdict of each.

use std::time::Duration;

use jiff::Timestamp;
use kube::{
    Api, ResourceExt,
    api::{ListParams, PostParams},
};

use super::{
    args::DrillArgs,
    client::{Ctx, where_},
    failure::{Failure, api_failed, refused},
    names::stamp,
    output::print_structured,
    render,
    wait::wait_ready,
};
use crate::{
    api::{DrillResult, DrillSource, DynamoBackup, DynamoBackupPolicy, DynamoRestore, labels},
    plan::{
        drill::{DrillFrom, Outcome, compact, drill_restore, newest_backup, outcome},
        names::label_value,
    },
};

/// `drill POLICY`: a drill of each (chosen) table now, built as the operator builds scheduled
/// ones, so the policy follows them in `status.drills` like its own.
pub(super) async fn drill(ctx: &Ctx, args: DrillArgs) -> Result<(), Failure> {
    let policies: Api<DynamoBackupPolicy> = ctx.api();
    let policy = policies.get_opt(&args.policy).await.map_err(|e| api_failed(&format!("reading DynamoBackupPolicy {}", args.policy), e))?;
    let Some(policy) = policy else { return Err(refused(format!("no DynamoBackupPolicy {} in {}", args.policy, where_(ctx)))) };
    let Some(spec) = &policy.spec.drill else {
        return Err(refused(format!(
            "DynamoBackupPolicy {} has no spec.drill: add one (schedule, source, verify) so its drills are followed in its status",
            args.policy
        )));
    };
    let tables = chosen_tables(&policy, &args)?;
    let backups = if spec.source == DrillSource::LatestBackup { policy_backups(ctx, &args.policy).await? } else { Vec::new() };
    let made = drills(&policy, &args.policy, spec.source, &tables, &backups, Timestamp::now())?;
    let api: Api<DynamoRestore> = ctx.api();
    for r in &made {
        api.create(&PostParams::default(), r).await.map_err(|e| api_failed(&format!("creating DynamoRestore {}", r.name_any()), e))?;
        eprintln!("dynamorestore/{} created: a drill into table {}", r.name_any(), r.spec.target_table_name);
    }
    if args.wait {
        wait_verdicts(&api, &made, args.timeout).await?;
    }
    if !ctx.global.output.is_human() {
        print_structured(ctx.global.output, &made)?;
    }
    Ok(())
}

/// The policy's tables `--table` chooses (by name or as the policy names them), or all of them;
/// refused when `--table` names one the policy does not cover.
fn chosen_tables(policy: &DynamoBackupPolicy, args: &DrillArgs) -> Result<Vec<String>, Failure> {
    let covered = policy.covered_tables();
    if let Some(unknown) = args.table.iter().find(|a| !covered.iter().any(|t| render::table_name(t) == a.as_str() || t == *a)) {
        return Err(refused(format!("table {unknown} is not among the tables of DynamoBackupPolicy {}", args.policy)));
    }
    Ok(covered.into_iter().filter(|t| args.table.is_empty() || args.table.iter().any(|a| a == render::table_name(t) || a == t)).collect())
}

/// The DynamoBackups the policy made (its label), for drills from the latest backup.
async fn policy_backups(ctx: &Ctx, policy: &str) -> Result<Vec<DynamoBackup>, Failure> {
    let api: Api<DynamoBackup> = ctx.api();
    let selector = format!("{}={}", labels::POLICY, label_value(policy));
    Ok(api.list(&ListParams::default().labels(&selector)).await.map_err(|e| api_failed("listing DynamoBackups", e))?.items)
}

/// The drills' DynamoRestores, one per table, each from the PITR window's latest moment or the
/// table's newest Available backup by the policy; refused when a table has no such backup or
/// cannot be drilled.
fn drills(
    policy: &DynamoBackupPolicy,
    policy_name: &str,
    source: DrillSource,
    tables: &[String],
    backups: &[DynamoBackup],
    now: Timestamp,
) -> Result<Vec<DynamoRestore>, Failure> {
    let suffix = stamp(now);
    let mut made = Vec::new();
    for table in tables {
        let from = match source {
            DrillSource::LatestRestorableTime => DrillFrom::LatestRestorableTime,
            DrillSource::LatestBackup => match newest_backup(backups, table) {
                Some(b) => DrillFrom::Backup(b.name_any()),
                None => {
                    return Err(refused(format!(
                        "no Available backup of table {table} made by policy {policy_name} to drill; `kubectl dynamobackup backup --policy {policy_name} --wait` makes one"
                    )));
                }
            },
        };
        made.push(drill_restore(policy, table, &from, &suffix).map_err(|e| refused(e.0))?);
    }
    Ok(made)
}

/// `--wait`: each drill until it is done, with its verdict on standard error; exit 4 when one
/// failed.
async fn wait_verdicts(api: &Api<DynamoRestore>, made: &[DynamoRestore], timeout: Duration) -> Result<(), Failure> {
    let mut failed = Vec::new();
    for r in made {
        wait_ready(api, &r.name_any(), "DynamoRestore", timeout).await?;
        let done = api.get(&r.name_any()).await.map_err(|e| api_failed(&format!("reading DynamoRestore {}", r.name_any()), e))?;
        let seen = outcome(&done);
        eprintln!("{}", verdict(&r.spec.target_table_name, &seen));
        if seen.result != DrillResult::Passed {
            failed.push(r.name_any());
        }
    }
    if !failed.is_empty() {
        return Err(Failure { code: 4, message: format!("drill(s) failed: {}", failed.join(", ")) });
    }
    Ok(())
}

/// A drill's verdict for a person: `drill of T passed: restored in 4m12s, data 3m old`.
fn verdict(table: &str, seen: &Outcome) -> String {
    let took = seen.restore_duration.map(|d| format!(": restored in {}", compact(d))).unwrap_or_default();
    let age = seen.data_age.map(|d| format!(", data {} old", compact(d))).unwrap_or_default();
    let what = seen.message.clone().map(|m| format!("; {m}")).unwrap_or_default();
    let verdict = if seen.result == DrillResult::Passed { "passed" } else { "FAILED" };
    format!("drill of {table} {verdict}{took}{age}{what}")
}
