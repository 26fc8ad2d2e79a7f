//! `restore`: a DynamoRestore into a NEW table, from a moment of the PITR window, its latest
//! moment, or a DynamoBackup; checked against the window a policy last read, or printed for
//! GitOps (`--dry-run`).

use jiff::{Timestamp, tz::TimeZone};
use kube::{Api, ResourceExt, api::PostParams};

use super::{
    args::{Format, RestoreArgs},
    client::{Ctx, list_all, where_},
    failure::{Failure, api_failed, refused},
    names::{derived_name, stamp},
    output::print_structured,
    render::{self, PitrWindow, pitr_window},
    wait::wait_ready,
};
use crate::{
    api::{
        AwsBackupRestore, DeletionPolicy, DynamoBackupPolicy, DynamoRestore, DynamoRestoreSpec, LocalObjectReference, PointInTimeSource,
        RestoreSource,
    },
    plan::when::{check_in_window, parse_moment, tz_name},
};

/// `restore`: builds the DynamoRestore, then prints it (`--dry-run`) or creates it and, with
/// `--wait`, follows it until it is Ready.
pub(super) async fn restore(ctx: &Ctx, args: RestoreArgs) -> Result<(), Failure> {
    let now = Timestamp::now();
    let source = match &args.from_backup {
        Some(backup) => backup_source(backup),
        None => pitr_source(ctx, args.table.as_deref(), args.to.as_deref(), args.tz.as_deref(), now).await?,
    };
    let restore = restore_object(&args, source, &ctx.namespace, now);
    if args.dry_run {
        return print_manifest(ctx.global.output, &restore);
    }
    let name = restore.name_any();
    let api: Api<DynamoRestore> = ctx.api();
    api.create(&PostParams::default(), &restore).await.map_err(|e| api_failed(&format!("creating DynamoRestore {name}"), e))?;
    eprintln!("dynamorestore/{name} created: a new table {}", args.target);
    if args.wait {
        wait_ready(&api, &name, "DynamoRestore", args.timeout).await?;
    }
    if !ctx.global.output.is_human() {
        print_structured(ctx.global.output, &restore)?;
    }
    Ok(())
}

/// The source `--from-backup` names: a DynamoBackup of the namespace.
pub(super) fn backup_source(backup: &str) -> RestoreSource {
    RestoreSource {
        backup_ref: Some(LocalObjectReference { name: backup.to_owned() }),
        backup_arn: None,
        recovery_point_arn: None,
        point_in_time: None,
    }
}

/// The source `--to` (or, without it, `--latest`) names: the PITR window of the source table.
/// Refused when a policy reports its PITR off, or the moment outside the window.
pub(super) async fn pitr_source(
    ctx: &Ctx,
    table: Option<&str>,
    to: Option<&str>,
    tz: Option<&str>,
    now: Timestamp,
) -> Result<RestoreSource, Failure> {
    let Some(table) = table.map(str::to_owned) else {
        return Err(Failure { code: 2, message: "name the source table: restore TABLE --to TIME | --latest".into() });
    };
    let policies = list_all(&ctx.api::<DynamoBackupPolicy>(), "DynamoBackupPolicies").await?;
    let window = pitr_window(&policies, render::table_name(&table));
    if let Some(PitrWindow { status: state, policy, .. }) = &window
        && state != "ENABLED"
    {
        return Err(refused(format!(
            "point-in-time recovery of {table} is {state} (as policy {policy} reports): there is no window to restore from; \
             restore a backup instead (kubectl dynamobackup list {table})"
        )));
    }
    let at = match to {
        Some(text) => Some(moment(ctx, &table, text, tz, window.as_ref(), now)?),
        None => None,
    };
    Ok(RestoreSource {
        backup_ref: None,
        backup_arn: None,
        recovery_point_arn: None,
        point_in_time: Some(PointInTimeSource {
            table_name: table,
            restore_time: at.map(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time),
            latest_restorable_time: at.is_none().then_some(true),
        }),
    })
}

/// The moment `--to` names, read in `--tz` (default: this machine's time zone), said back to the
/// user, and checked against the window where a policy reports it.
fn moment(ctx: &Ctx, table: &str, text: &str, tz: Option<&str>, window: Option<&PitrWindow>, now: Timestamp) -> Result<Timestamp, Failure> {
    let tz = match tz {
        Some(name) => TimeZone::get(name).map_err(|e| refused(format!("--tz {name:?}: {e}")))?,
        None => TimeZone::system(),
    };
    let at = parse_moment(text, &tz, now).map_err(refused)?;
    eprintln!("restoring {table} as of {at} ({} in {})", at.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M:%S"), tz_name(&tz));
    match window {
        Some(window) => check_in_window(table, at, window.earliest_restorable_time, window.latest_restorable_time).map_err(refused)?,
        None => eprintln!("no policy of {} reports the PITR window of {table}; the operator checks it", where_(ctx)),
    }
    Ok(at)
}

/// The DynamoRestore of `source` into the new table, named by `--name` or after the new table
/// and the time.
fn restore_object(args: &RestoreArgs, source: RestoreSource, namespace: &str, now: Timestamp) -> DynamoRestore {
    let name = args.name.clone().unwrap_or_else(|| derived_name(&args.target, &stamp(now)));
    let mut restore = DynamoRestore::new(
        &name,
        DynamoRestoreSpec {
            source,
            target_table_name: args.target.clone(),
            region: args.region.clone(),
            overrides: None,
            after_restore: Default::default(),
            deletion_policy: DeletionPolicy::Retain,
            aws_backup: args.aws_backup_role.clone().map(|iam_role_arn| AwsBackupRestore { iam_role_arn }),
            ttl_after_finished: None,
            verify: None,
            copy_back: None,
        },
    );
    restore.metadata.namespace = Some(namespace.to_owned());
    restore
}

/// `--dry-run`: the DynamoRestore as a manifest to commit, without status; YAML unless `-o json`.
pub(super) fn print_manifest(output: Format, restore: &DynamoRestore) -> Result<(), Failure> {
    let mut manifest = serde_json::to_value(restore).map_err(|e| Failure { code: 1, message: e.to_string() })?;
    if let Some(map) = manifest.as_object_mut() {
        map.remove("status");
    }
    print_structured(if output == Format::Json { Format::Json } else { Format::Yaml }, &manifest)
}
