//! `recover`: lost items back into the live table. A DynamoRestore of the table as it was
//! before the incident (a moment of its PITR window, or a DynamoBackup) into a new table, with
//! `spec.copyBack` writing into the live table; `--wait` follows the copy-back to its summary.

use std::{io::Read, time::Duration};

use jiff::Timestamp;
use kube::{
    Api, ResourceExt,
    api::{Patch, PatchParams, PostParams},
};

use super::{
    args::{RecoverArgs, WriteBackArgs},
    client::{Ctx, where_},
    failure::{Failure, api_failed, refused},
    keys::parse_keys,
    names::{derived_name, stamp},
    render::{Reading, copy_back_progress, copy_back_summary, items_per_second, table_name},
    restore::{backup_source, pitr_source, print_manifest},
    wait::{Standing, spinner, standing},
};
use crate::api::{
    CopyBackItems, CopyBackPhase, CopyBackSpec, DEFAULT_COPY_BACK_READ, DEFAULT_COPY_BACK_WRITE, DeletionPolicy, DynamoBackup,
    DynamoRestore, DynamoRestoreSpec, KeyJson, RestoreSource,
};

/// `recover TABLE`: reads `--keys` first (a bad file is refused before anything else), checks
/// the source, creates the DynamoRestore (or prints it, `--manifest`) and, with `--wait`,
/// follows its copy-back.
pub(super) async fn recover(ctx: &Ctx, args: RecoverArgs) -> Result<(), Failure> {
    let keys = match &args.keys {
        Some(file) => Some(read_keys(file)?),
        None => None,
    };
    let now = Timestamp::now();
    let table = table_name(&args.table).to_owned();
    let source = match &args.backup {
        Some(backup) => {
            check_backup(ctx, backup, &table).await?;
            backup_source(backup)
        }
        None => pitr_source(ctx, Some(&args.table), args.to.as_deref(), args.tz.as_deref(), now).await?,
    };
    let restore = recover_object(&args, &table, source, keys, &ctx.namespace, now);
    if args.manifest {
        return print_manifest(ctx.global.output, &restore);
    }
    let name = restore.name_any();
    let api: Api<DynamoRestore> = ctx.api();
    api.create(&PostParams::default(), &restore).await.map_err(|e| api_failed(&format!("creating DynamoRestore {name}"), e))?;
    let target = &restore.spec.target_table_name;
    let what = if args.dry_run { "compares, writing nothing (dry run)" } else { "writes the missing items" };
    eprintln!("dynamorestore/{name} created: {table} as it was, restored into a new table {target}; then copy-back {what} into {table}");
    if args.wait {
        wait_copy_back(&api, &name, &table, args.dry_run, args.timeout).await?;
    } else {
        eprintln!("follow it: kubectl dynamobackup describe restore/{name}");
    }
    Ok(())
}

/// The keys of `--keys FILE` (`-`: standard input); refused, naming the line, when bad.
fn read_keys(file: &str) -> Result<Vec<KeyJson>, Failure> {
    let text = if file == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map_err(|e| refused(format!("--keys -: cannot read standard input: {e}")))?;
        text
    } else {
        std::fs::read_to_string(file).map_err(|e| refused(format!("--keys {file}: {e}")))?
    };
    let keys = parse_keys(&text).map_err(|e| refused(format!("--keys {file}: {e}")))?;
    eprintln!("--keys {file}: {} keys", keys.len());
    Ok(keys)
}

/// `--backup NAME` must be a DynamoBackup of the namespace, of TABLE.
async fn check_backup(ctx: &Ctx, name: &str, table: &str) -> Result<(), Failure> {
    let backup = ctx.api::<DynamoBackup>().get_opt(name).await.map_err(|e| api_failed(&format!("reading DynamoBackup {name}"), e))?;
    let Some(backup) = backup else {
        return Err(refused(format!("DynamoBackup {name} not found in {}; kubectl dynamobackup list {table}", where_(ctx))));
    };
    let of = table_name(&backup.spec.table_name);
    if of != table {
        return Err(refused(format!("DynamoBackup {name} is of table {of}, not {table}: copy-back writes into the table it came from")));
    }
    Ok(())
}

/// The new table's name: `--target`, else TABLE-recover-TIME (cut so it stays a table name).
fn target_table(args: &RecoverArgs, table: &str, now: Timestamp) -> String {
    args.target.clone().unwrap_or_else(|| {
        let base: String = table.chars().take(200).collect();
        format!("{base}-recover-{}", stamp(now))
    })
}

/// The DynamoRestore of `source` into the new table, its copy-back into TABLE.
fn recover_object(
    args: &RecoverArgs,
    table: &str,
    source: RestoreSource,
    keys: Option<Vec<KeyJson>>,
    namespace: &str,
    now: Timestamp,
) -> DynamoRestore {
    let target = target_table(args, table, now);
    let name = args.name.clone().unwrap_or_else(|| derived_name(table, &format!("recover-{}", stamp(now))));
    let mut restore = DynamoRestore::new(
        &name,
        DynamoRestoreSpec {
            source,
            target_table_name: target,
            region: None,
            overrides: None,
            after_restore: Default::default(),
            deletion_policy: DeletionPolicy::Retain,
            aws_backup: None,
            ttl_after_finished: None,
            verify: None,
            copy_back: Some(CopyBackSpec {
                into: Some(table.to_owned()),
                items: if keys.is_some() { CopyBackItems::Listed } else { CopyBackItems::Missing },
                keys,
                dry_run: args.dry_run,
                max_read_capacity_per_second: DEFAULT_COPY_BACK_READ,
                max_write_capacity_per_second: DEFAULT_COPY_BACK_WRITE,
            }),
        },
    );
    restore.metadata.namespace = Some(namespace.to_owned());
    restore
}

/// `write-back RESTORE`: `dryRun` to false on a copy-back that ran as a dry run, then (`--wait`)
/// the writing run followed to its summary. A restore without copy-back is refused (exit 3).
pub(super) async fn write_back(ctx: &Ctx, args: WriteBackArgs) -> Result<(), Failure> {
    let api: Api<DynamoRestore> = ctx.api();
    let name = &args.restore;
    let restore = match api.get_opt(name).await.map_err(|e| api_failed(&format!("reading DynamoRestore {name}"), e))? {
        Some(restore) => restore,
        None => return Err(refused(format!("DynamoRestore {name} not found{}", where_(ctx)))),
    };
    let Some(copy_back) = &restore.spec.copy_back else {
        return Err(refused(format!("DynamoRestore {name} has no spec.copyBack: it restores a table and writes nothing back")));
    };
    let into = copy_back.into.clone().unwrap_or_else(|| "the source table".to_owned());
    if copy_back.dry_run {
        let patch = serde_json::json!({"spec": {"copyBack": {"dryRun": false}}});
        api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|e| api_failed(&format!("setting spec.copyBack.dryRun of DynamoRestore {name} to false"), e))?;
        eprintln!("dynamorestore/{name}: spec.copyBack.dryRun is false: the operator compares again and writes into {into}");
    } else {
        eprintln!("dynamorestore/{name} already writes (spec.copyBack.dryRun is false)");
    }
    if args.wait {
        wait_copy_back(&api, name, &into, false, args.timeout).await?;
    } else {
        eprintln!("follow it: kubectl dynamobackup describe restore/{name}");
    }
    Ok(())
}

/// Follows the restore and then its copy-back run for `dry_run` (a status of the other run is
/// not this one's: the writing run after a dry run starts from nothing): a line per change
/// (items/s between two readings), the summary once done (exit 0), exit 4 when it stalls or
/// fails, 5 after `timeout`.
async fn wait_copy_back(api: &Api<DynamoRestore>, name: &str, into: &str, dry_run: bool, timeout: Duration) -> Result<(), Failure> {
    let spinner = spinner();
    let deadline = tokio::time::Instant::now() + timeout;
    let (mut last, mut before): (String, Option<Reading>) = (String::new(), None);
    loop {
        let restore = api.get(name).await.map_err(|e| api_failed(&format!("reading DynamoRestore {name}"), e))?;
        let copy_back = restore.status.as_ref().and_then(|s| s.copy_back.clone()).filter(|c| c.dry_run == dry_run);
        let seen = restore.status.as_ref().and_then(|s| s.observed_generation) == restore.metadata.generation;
        let value = serde_json::to_value(&restore).unwrap_or_default();
        let failed = copied_back_failure(&value);
        let copied = seen
            && value["status"]["conditions"]
                .as_array()
                .is_some_and(|cs| cs.iter().any(|c| c["type"] == "CopiedBack" && c["status"] == "True"));
        let now = match (&copy_back, standing(&value)) {
            (_, Standing::Stalled { reason, message }) if seen => {
                spinner.finish_and_clear();
                return Err(Failure { code: 4, message: format!("DynamoRestore {name} is Stalled ({reason}): {message}") });
            }
            (Some(status), _)
                if copied || failed.is_some() || matches!(status.phase, Some(CopyBackPhase::Completed | CopyBackPhase::Failed)) =>
            {
                spinner.finish_and_clear();
                print!("{}", copy_back_summary(status, name, into));
                return match (status.phase, failed) {
                    (Some(CopyBackPhase::Failed), reason) | (_, reason @ Some(_)) => Err(Failure {
                        code: 4,
                        message: format!(
                            "the copy-back of DynamoRestore {name} failed{}",
                            reason.map(|r| format!(": {r}")).unwrap_or_default()
                        ),
                    }),
                    _ => Ok(()),
                };
            }
            (Some(status), _) => {
                let reading = Reading { at: Timestamp::now(), scanned: status.scanned };
                let line = copy_back_progress(status, items_per_second(before, reading));
                before = Some(reading);
                line
            }
            (None, _) if !seen => "waiting for the operator to see the change".to_owned(),
            (None, Standing::OnItsWay(now)) => format!("restoring: {now}"),
            (None, _) => "restored; the copy-back has not started".to_owned(),
        };
        if now != last {
            if spinner.is_hidden() {
                eprintln!("DynamoRestore {name}: {now}");
            }
            spinner.set_message(format!("DynamoRestore {name}: {now}"));
            last = now;
        }
        if tokio::time::Instant::now() >= deadline {
            spinner.finish_and_clear();
            let waited = humantime::format_duration(timeout);
            return Err(Failure { code: 5, message: format!("the copy-back of DynamoRestore {name} is not done after {waited}: {last}") });
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// The reason and message of a CopiedBack=False condition that means it failed, if any.
fn copied_back_failure(value: &serde_json::Value) -> Option<String> {
    let conditions = value["status"]["conditions"].as_array()?;
    conditions.iter().find_map(|c| {
        let reason = c["reason"].as_str().unwrap_or_default();
        let failed = c["type"] == "CopiedBack"
            && c["status"] == "False"
            && ["CopyBackRefused", "CopyBackTargetNotFound", "CopyBackFailed"].contains(&reason);
        failed.then(|| format!("{reason}: {}", c["message"].as_str().unwrap_or_default()))
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use serde_json::json;

    use super::*;
    use crate::kubectl::{Plugin, args::Command};

    fn args(line: &[&str]) -> Result<RecoverArgs, clap::Error> {
        let plugin = Plugin::try_parse_from(std::iter::once("kubectl-dynamobackup").chain(line.iter().copied()))?;
        match plugin.command {
            Command::Recover(args) => Ok(args),
            other => panic!("not recover: {other:?}"),
        }
    }

    #[test]
    fn exactly_one_moment_and_one_kind_of_items() {
        assert!(args(&["recover", "T", "--to", "10:14:59", "--missing-items"]).is_ok());
        assert!(args(&["recover", "T", "--backup", "b", "--keys", "-"]).is_ok());
        for bad in [
            &["recover", "T", "--missing-items"][..],
            &["recover", "T", "--to", "now"],
            &["recover", "T", "--to", "now", "--backup", "b", "--missing-items"],
            &["recover", "T", "--to", "now", "--missing-items", "--keys", "k.json"],
            &["recover", "T", "--backup", "b", "--tz", "UTC", "--missing-items"],
        ] {
            let err = args(bad).expect_err("refused");
            assert_eq!(err.exit_code(), 2, "{bad:?} is a usage error");
        }
    }

    #[test]
    fn the_restore_it_creates() {
        let now: Timestamp = "2026-01-15T09:30:12Z".parse().unwrap();
        let missing = args(&["recover", "UserProfiles", "--to", "10:14:59", "--missing-items", "--dry-run"]).unwrap();
        let source = backup_source("before-v42");
        let r = recover_object(&missing, "UserProfiles", source.clone(), None, "shop", now);
        assert_eq!(r.metadata.name.as_deref(), Some("userprofiles-recover-20260115-093012"));
        assert_eq!(r.spec.target_table_name, "UserProfiles-recover-20260115-093012");
        let copy = r.spec.copy_back.unwrap();
        assert_eq!((copy.into.as_deref(), copy.items, copy.dry_run, copy.keys), (Some("UserProfiles"), CopyBackItems::Missing, true, None));
        let listed = args(&["recover", "UserProfiles", "--backup", "b", "--keys", "k", "--target", "Fixed", "--name", "fix"]).unwrap();
        let keys = crate::kubectl::keys::parse_keys(r#"[{"id":{"S":"user-7"}}]"#).unwrap();
        let r = recover_object(&listed, "UserProfiles", source, Some(keys.clone()), "shop", now);
        assert_eq!((r.metadata.name.as_deref(), r.spec.target_table_name.as_str()), (Some("fix"), "Fixed"));
        let copy = r.spec.copy_back.unwrap();
        assert_eq!((copy.items, copy.dry_run, copy.keys), (CopyBackItems::Listed, false, Some(keys)));
    }

    #[test]
    fn a_copy_back_failure_is_read_from_its_condition() {
        let failed = json!({"status": {"conditions": [
            {"type": "Ready", "status": "True"},
            {"type": "CopiedBack", "status": "False", "reason": "CopyBackTargetNotFound", "message": "UserProfiles is gone"}]}});
        assert_eq!(copied_back_failure(&failed).as_deref(), Some("CopyBackTargetNotFound: UserProfiles is gone"));
        let going = json!({"status": {"conditions": [{"type": "CopiedBack", "status": "False", "reason": "Comparing"}]}});
        assert_eq!(copied_back_failure(&going), None);
        assert_eq!(copied_back_failure(&json!({})), None);
    }
}
