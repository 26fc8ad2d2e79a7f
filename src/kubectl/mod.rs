//! `kubectl dynamobackup`: the command line an engineer reaches for in an incident. It talks to
//! the Kubernetes API only, never to AWS: RBAC and the operator's tenancy file keep their
//! meaning, and what it creates is what a manifest would (the operator does the rest).
//!
//! Exit codes: 0 done; 1 the apiserver failed or refused; 2 a usage error; 3 refused before
//! anything was created (not found, a moment outside the PITR window, a bad time); 4 the object
//! waited for (`--wait`) stalled or failed; 5 `--wait` timed out.

mod render;

use std::{
    collections::BTreeMap,
    io::{IsTerminal, Write},
    process::ExitCode,
    time::Duration,
};

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use jiff::{Timestamp, tz::TimeZone};
use k8s_openapi::api::events::v1::Event;
use kube::{
    Api, Client, Config, Resource, ResourceExt,
    api::{ListParams, Patch, PatchParams, PostParams},
    config::KubeConfigOptions,
};
use serde::{Serialize, de::DeserializeOwned};

pub use render::{BackupLine, EventLine, TableLine, backup_lines, describe_text, list_table, status_lines, status_table};

use crate::{
    api::{
        AwsBackupRestore, DeletionPolicy, DrillResult, DrillSource, DynamoBackup, DynamoBackupPolicy, DynamoBackupSpec, DynamoRestore,
        DynamoRestoreSpec, LocalObjectReference, PointInTimeSource, RestoreSource, labels,
    },
    plan::{
        children::policy_backup,
        drill::{DrillFrom, compact, drill_restore, newest_backup, outcome},
        names::{child_backup_name, label_value, table_label_value},
        when::{check_in_window, parse_moment, tz_name},
    },
};

#[derive(Parser, Debug)]
#[command(
    name = "kubectl dynamobackup",
    bin_name = "kubectl dynamobackup",
    version,
    about = "Back up and restore DynamoDB tables through dynamo-backup-operator",
    long_about = "Back up and restore DynamoDB tables through dynamo-backup-operator. Talks only to the Kubernetes API: \
                  what it creates is a DynamoBackup or DynamoRestore, as a manifest would be, and RBAC decides who may.\n\n\
                  Exit codes: 0 done, 1 the apiserver failed, 2 usage, 3 refused before anything was created, \
                  4 the object stalled or failed, 5 --wait timed out."
)]
pub struct Plugin {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug, Clone)]
struct Global {
    /// The namespace (default: the kubeconfig context's).
    #[arg(short = 'n', long, global = true)]
    namespace: Option<String>,
    /// Every namespace (status, list).
    #[arg(short = 'A', long = "all-namespaces", global = true)]
    all_namespaces: bool,
    /// Output format.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = Format::Table)]
    output: Format,
    /// The kubeconfig context to use.
    #[arg(long, global = true)]
    context: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Json,
    Yaml,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Per table: PITR and its window, the last backup and its age, the next slot, the
    /// policies that cover it; what needs attention stands out.
    Status {
        /// A table or a policy (default: all).
        target: Option<String>,
        /// Only tables that are not protected: no policy covers them, or their PITR is off.
        /// (Tables no policy or backup names are not in the Kubernetes API: the operator's
        /// metric unprotected_table lists them.)
        #[arg(long)]
        unprotected: bool,
    },
    /// Take a snapshot of a table now, or of every table of a policy (trigger `manual`).
    Backup(BackupArgs),
    /// The DynamoBackups, newest first.
    List {
        /// Only this table's.
        table: Option<String>,
    },
    /// Restore into a NEW table: from a moment of the PITR window, the latest one, or a backup.
    Restore(RestoreArgs),
    /// Status and events of an object, for a person: backup/NAME, restore/NAME or policy/NAME.
    Describe {
        /// KIND/NAME, KIND one of backup, restore, policy (or their kubectl names).
        object: String,
    },
    /// Exempt a DynamoBackup from retention.
    Pin {
        /// The DynamoBackup.
        backup: String,
    },
    /// Make a pinned DynamoBackup subject to retention again.
    Unpin {
        /// The DynamoBackup.
        backup: String,
    },
    /// Stop a policy's scheduled snapshots (PITR and pre-rollout snapshots go on).
    Suspend {
        /// The DynamoBackupPolicy.
        policy: String,
    },
    /// Take a suspended policy's scheduled snapshots again.
    Resume {
        /// The DynamoBackupPolicy.
        policy: String,
    },
    /// Run a restore drill of a policy's tables now, as its spec.drill describes: restore into
    /// new tables, check them, measure, and delete them after ttlAfterFinished.
    Drill(DrillArgs),
    /// Print a shell completion script.
    Completion {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the plugin's version and the API it speaks.
    Version,
}

#[derive(Args, Debug)]
struct BackupArgs {
    /// The table (name or ARN).
    #[arg(required_unless_present = "policy", conflicts_with = "policy")]
    table: Option<String>,
    /// Every table of this policy, as the policy would back it up.
    #[arg(long)]
    policy: Option<String>,
    /// The DynamoBackup's name (default: derived from the table and the time).
    #[arg(long, conflicts_with = "policy")]
    name: Option<String>,
    /// What deleting the DynamoBackup does to the snapshot (default: Retain; with --policy, the policy's).
    #[arg(long = "delete-policy", value_enum)]
    delete_policy: Option<DeletePolicy>,
    /// The table's region, when not the operator's default.
    #[arg(long, conflicts_with = "policy")]
    region: Option<String>,
    /// Wait until the snapshot is Ready (or stalls).
    #[arg(long)]
    wait: bool,
    /// How long --wait waits.
    #[arg(long, default_value = "30m", value_parser = humantime::parse_duration)]
    timeout: Duration,
}

#[derive(Args, Debug)]
struct DrillArgs {
    /// The DynamoBackupPolicy (it needs spec.drill).
    policy: String,
    /// Only this table of the policy (repeatable; default: every table).
    #[arg(long)]
    table: Vec<String>,
    /// Wait until every drill has passed (exit 4 when one fails).
    #[arg(long)]
    wait: bool,
    /// How long --wait waits.
    #[arg(long, default_value = "2h", value_parser = humantime::parse_duration)]
    timeout: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum DeletePolicy {
    Retain,
    Delete,
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["to", "latest", "from_backup"])))]
struct RestoreArgs {
    /// The source table (required with --to and --latest).
    table: Option<String>,
    /// A moment of the PITR window: RFC 3339, a local time with --tz ("2026-01-15 10:14:59", or
    /// 10:14:59 for today), or relative ("15m ago").
    #[arg(long)]
    to: Option<String>,
    /// The time zone of --to without an offset (default: this machine's).
    #[arg(long)]
    tz: Option<String>,
    /// The latest restorable moment.
    #[arg(long)]
    latest: bool,
    /// A DynamoBackup of the namespace.
    #[arg(long = "from-backup")]
    from_backup: Option<String>,
    /// The NEW table's name; it must not exist.
    #[arg(long = "as", value_name = "NEW_TABLE")]
    target: String,
    /// The new table's region (for an AWSBackup backup: a region holding a copy).
    #[arg(long)]
    region: Option<String>,
    /// The role AWS Backup restores with (backups kept by AWS Backup).
    #[arg(long = "aws-backup-role")]
    aws_backup_role: Option<String>,
    /// The DynamoRestore's name (default: derived from the new table and the time).
    #[arg(long)]
    name: Option<String>,
    /// Print the DynamoRestore (YAML) instead of creating it: commit it for GitOps.
    #[arg(long = "dry-run")]
    dry_run: bool,
    /// Wait until the restore is Completed (or stalls).
    #[arg(long)]
    wait: bool,
    /// How long --wait waits.
    #[arg(long, default_value = "2h", value_parser = humantime::parse_duration)]
    timeout: Duration,
}

/// Why the plugin stops, with the exit code a script reads.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

fn refused(message: impl Into<String>) -> Failure {
    Failure { code: 3, message: message.into() }
}

fn api_failed(what: &str, err: kube::Error) -> Failure {
    let hint = match &err {
        kube::Error::Api(status) if status.code == 403 => "; your RBAC does not allow it",
        kube::Error::Api(status) if status.code == 404 && status.message.contains("the server could not find the requested resource") => {
            "; are the operator's CRDs installed?"
        }
        _ => "",
    };
    Failure { code: 1, message: format!("{what}: {err}{hint}") }
}

pub fn main() -> ExitCode {
    let plugin = Plugin::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start: {err}");
            return ExitCode::FAILURE;
        }
    };
    if rustls::crypto::aws_lc_rs::default_provider().install_default().is_err() {
        // Another provider is in place already: kube uses it.
    }
    match runtime.block_on(run(plugin)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

/// Whether to colour standard output: a terminal, and no NO_COLOR.
fn colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

struct Ctx {
    client: Client,
    namespace: String,
    global: Global,
}

impl Ctx {
    fn api<K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>>(&self) -> Api<K> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    fn list_api<K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>>(&self) -> Api<K> {
        if self.global.all_namespaces { Api::all(self.client.clone()) } else { self.api() }
    }
}

async fn connect(global: &Global) -> Result<Ctx, Failure> {
    let options = KubeConfigOptions { context: global.context.clone(), ..Default::default() };
    let config = match Config::from_kubeconfig(&options).await {
        Ok(config) => config,
        Err(_) if global.context.is_none() => Config::infer().await.map_err(|e| Failure {
            code: 1,
            message: format!("no Kubernetes configuration: {e}; set KUBECONFIG or run inside a cluster"),
        })?,
        Err(e) => return Err(Failure { code: 1, message: format!("kubeconfig context {:?}: {e}", global.context) }),
    };
    let namespace = global.namespace.clone().unwrap_or_else(|| config.default_namespace.clone());
    let client = Client::try_from(config).map_err(|e| Failure { code: 1, message: format!("cannot reach the apiserver: {e}") })?;
    Ok(Ctx { client, namespace, global: global.clone() })
}

async fn run(plugin: Plugin) -> Result<(), Failure> {
    match plugin.command {
        Command::Completion { shell } => {
            let mut command = Plugin::command();
            clap_complete::generate(shell, &mut command, "kubectl-dynamobackup", &mut std::io::stdout());
            Ok(())
        }
        Command::Version => {
            let version = serde_json::json!({"plugin": env!("CARGO_PKG_VERSION"), "api": "dynamobackup.io/v1alpha1"});
            match plugin.global.output {
                Format::Table => println!("kubectl-dynamobackup {} (dynamobackup.io/v1alpha1)", env!("CARGO_PKG_VERSION")),
                format => print_structured(format, &version)?,
            }
            Ok(())
        }
        command => {
            let ctx = connect(&plugin.global).await?;
            match command {
                Command::Status { target, unprotected } => status(&ctx, target.as_deref(), unprotected).await,
                Command::List { table } => list(&ctx, table.as_deref()).await,
                Command::Backup(args) => backup(&ctx, args).await,
                Command::Restore(args) => restore(&ctx, args).await,
                Command::Describe { object } => describe(&ctx, &object).await,
                Command::Pin { backup } => pin(&ctx, &backup, true).await,
                Command::Unpin { backup } => pin(&ctx, &backup, false).await,
                Command::Suspend { policy } => suspend(&ctx, &policy, true).await,
                Command::Resume { policy } => suspend(&ctx, &policy, false).await,
                Command::Drill(args) => drill(&ctx, args).await,
                Command::Completion { .. } | Command::Version => Ok(()),
            }
        }
    }
}

fn print_structured<T: Serialize>(format: Format, value: &T) -> Result<(), Failure> {
    let text = match format {
        Format::Json => serde_json::to_string_pretty(value).map(|mut s| {
            s.push('\n');
            s
        }),
        _ => serde_yaml_ng::to_string(value).map_err(|e| serde_json::Error::io(std::io::Error::other(e.to_string()))),
    }
    .map_err(|e| Failure { code: 1, message: format!("cannot print: {e}") })?;
    let mut out = std::io::stdout();
    out.write_all(text.as_bytes()).map_err(|e| Failure { code: 1, message: e.to_string() })
}

async fn list_all<K>(api: &Api<K>, what: &str) -> Result<Vec<K>, Failure>
where
    K: Clone + DeserializeOwned + std::fmt::Debug,
{
    api.list(&ListParams::default()).await.map(|l| l.items).map_err(|e| api_failed(&format!("listing {what}"), e))
}

async fn status(ctx: &Ctx, target: Option<&str>, unprotected: bool) -> Result<(), Failure> {
    let policies = list_all(&ctx.list_api::<DynamoBackupPolicy>(), "DynamoBackupPolicies").await?;
    let backups = list_all(&ctx.list_api::<DynamoBackup>(), "DynamoBackups").await?;
    let mut lines = status_lines(&policies, &backups, target);
    if unprotected {
        lines.retain(|l| l.policies.is_empty() || l.pitr.as_deref().is_some_and(|p| p != "ENABLED"));
    }
    if let Some(target) = target
        && lines.is_empty()
    {
        return Err(refused(format!("no policy or DynamoBackup names {target:?} in {}", where_(ctx))));
    }
    match ctx.global.output {
        Format::Table => print!("{}", status_table(&lines, Timestamp::now(), ctx.global.all_namespaces, colour())),
        format => print_structured(format, &lines)?,
    }
    Ok(())
}

fn where_(ctx: &Ctx) -> String {
    if ctx.global.all_namespaces { "any namespace".into() } else { format!("namespace {}", ctx.namespace) }
}

async fn list(ctx: &Ctx, table: Option<&str>) -> Result<(), Failure> {
    let backups = list_all(&ctx.list_api::<DynamoBackup>(), "DynamoBackups").await?;
    let lines = backup_lines(&backups, table);
    match ctx.global.output {
        Format::Table => print!("{}", list_table(&lines, Timestamp::now(), ctx.global.all_namespaces, colour())),
        format => print_structured(format, &lines)?,
    }
    Ok(())
}

/// A time suffix for derived names: `20260115-101459` (UTC).
fn stamp(now: Timestamp) -> String {
    now.strftime("%Y%m%d-%H%M%S").to_string()
}

/// An object name made from a table name and the time: `userprofiles-fixed-20260115-093012`.
/// The time keeps it apart from others; the table name is only there to be read.
fn derived_name(table: &str, suffix: &str) -> String {
    let mut name = String::new();
    for c in table.chars() {
        let c = if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' };
        if !(c == '-' && (name.is_empty() || name.ends_with('-'))) {
            name.push(c);
        }
    }
    let mut name: String = name.chars().take(200).collect();
    while name.ends_with('-') {
        name.pop();
    }
    if name.is_empty() { suffix.to_owned() } else { format!("{name}-{suffix}") }
}

/// The policies of the namespace that name `table`.
fn covering<'a>(policies: &'a [DynamoBackupPolicy], table: &str) -> Vec<&'a DynamoBackupPolicy> {
    policies.iter().filter(|p| p.covered_tables().iter().any(|t| render::table_name(t) == table)).collect()
}

async fn backup(ctx: &Ctx, args: BackupArgs) -> Result<(), Failure> {
    let api: Api<DynamoBackup> = ctx.api();
    let now = Timestamp::now();
    let policies = list_all(&ctx.api::<DynamoBackupPolicy>(), "DynamoBackupPolicies").await?;
    let mut made = Vec::new();
    if let Some(policy_name) = &args.policy {
        let Some(policy) = policies.iter().find(|p| &p.name_any() == policy_name) else {
            return Err(refused(format!("no DynamoBackupPolicy {policy_name} in {}", where_(ctx))));
        };
        for table in &policy.covered_tables() {
            let name = child_backup_name(policy_name, render::table_name(table), &format!("manual-{}", stamp(now)));
            let mut b = policy_backup(policy, &name, table, policy.spec.region.clone(), "manual");
            match args.delete_policy {
                Some(DeletePolicy::Delete) => b.spec.deletion_policy = DeletionPolicy::Delete,
                Some(DeletePolicy::Retain) => b.spec.deletion_policy = DeletionPolicy::Retain,
                None => {}
            }
            made.push(b);
        }
    } else if let Some(table) = &args.table {
        let name = args.name.clone().unwrap_or_else(|| derived_name(render::table_name(table), &format!("manual-{}", stamp(now))));
        let mut b = DynamoBackup::new(&name, DynamoBackupSpec::for_table(table.clone()));
        b.spec.region = args.region.clone();
        b.spec.deletion_policy = match args.delete_policy {
            Some(DeletePolicy::Delete) => DeletionPolicy::Delete,
            _ => DeletionPolicy::Retain,
        };
        // Kept as the covering policy keeps its snapshots (for instance by AWS Backup with copies).
        let cover = covering(&policies, render::table_name(table));
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
        made.push(b);
    }
    for b in &made {
        api.create(&PostParams::default(), b).await.map_err(|e| api_failed(&format!("creating DynamoBackup {}", b.name_any()), e))?;
        eprintln!("dynamobackup/{} created (table {}, {})", b.name_any(), b.spec.table_name, b.spec.method.as_str());
    }
    if args.wait {
        for b in &made {
            wait_ready(&api, &b.name_any(), "DynamoBackup", args.timeout).await?;
        }
    }
    if ctx.global.output != Format::Table {
        print_structured(ctx.global.output, &made)?;
    }
    Ok(())
}

/// `drill POLICY`: a drill of each (chosen) table now, built as the operator builds scheduled
/// ones, so the policy follows them in `status.drills` like its own.
async fn drill(ctx: &Ctx, args: DrillArgs) -> Result<(), Failure> {
    let policies: Api<DynamoBackupPolicy> = ctx.api();
    let policy = policies.get_opt(&args.policy).await.map_err(|e| api_failed(&format!("reading DynamoBackupPolicy {}", args.policy), e))?;
    let Some(policy) = policy else { return Err(refused(format!("no DynamoBackupPolicy {} in {}", args.policy, where_(ctx)))) };
    let Some(spec) = &policy.spec.drill else {
        return Err(refused(format!(
            "DynamoBackupPolicy {} has no spec.drill: add one (schedule, source, verify) so its drills are followed in its status",
            args.policy
        )));
    };
    let covered = policy.covered_tables();
    let tables: Vec<&String> =
        covered.iter().filter(|t| args.table.is_empty() || args.table.iter().any(|a| a == render::table_name(t) || a == *t)).collect();
    if let Some(unknown) = args.table.iter().find(|a| !covered.iter().any(|t| render::table_name(t) == a.as_str() || t == *a)) {
        return Err(refused(format!("table {unknown} is not among the tables of DynamoBackupPolicy {}", args.policy)));
    }
    let backups = if spec.source == DrillSource::LatestBackup {
        let api: Api<DynamoBackup> = ctx.api();
        let selector = format!("{}={}", labels::POLICY, label_value(&args.policy));
        api.list(&ListParams::default().labels(&selector)).await.map_err(|e| api_failed("listing DynamoBackups", e))?.items
    } else {
        Vec::new()
    };
    let suffix = stamp(Timestamp::now());
    let mut made = Vec::new();
    for table in tables {
        let from = match spec.source {
            DrillSource::LatestRestorableTime => DrillFrom::LatestRestorableTime,
            DrillSource::LatestBackup => match newest_backup(&backups, table) {
                Some(b) => DrillFrom::Backup(b.name_any()),
                None => {
                    return Err(refused(format!(
                        "no Available backup of table {table} made by policy {} to drill; `kubectl dynamobackup backup --policy {} --wait` makes one",
                        args.policy, args.policy
                    )));
                }
            },
        };
        made.push(drill_restore(&policy, table, &from, &suffix).map_err(|e| refused(e.0))?);
    }
    let api: Api<DynamoRestore> = ctx.api();
    for r in &made {
        api.create(&PostParams::default(), r).await.map_err(|e| api_failed(&format!("creating DynamoRestore {}", r.name_any()), e))?;
        eprintln!("dynamorestore/{} created: a drill into table {}", r.name_any(), r.spec.target_table_name);
    }
    if args.wait {
        let mut failed = Vec::new();
        for r in &made {
            wait_ready(&api, &r.name_any(), "DynamoRestore", args.timeout).await?;
            let done = api.get(&r.name_any()).await.map_err(|e| api_failed(&format!("reading DynamoRestore {}", r.name_any()), e))?;
            let seen = outcome(&done);
            let took = seen.restore_duration.map(|d| format!(": restored in {}", compact(d))).unwrap_or_default();
            let age = seen.data_age.map(|d| format!(", data {} old", compact(d))).unwrap_or_default();
            let what = seen.message.clone().map(|m| format!("; {m}")).unwrap_or_default();
            let verdict = if seen.result == DrillResult::Passed { "passed" } else { "FAILED" };
            eprintln!("drill of {} {verdict}{took}{age}{what}", r.spec.target_table_name);
            if seen.result != DrillResult::Passed {
                failed.push(r.name_any());
            }
        }
        if !failed.is_empty() {
            return Err(Failure { code: 4, message: format!("drill(s) failed: {}", failed.join(", ")) });
        }
    }
    if ctx.global.output != Format::Table {
        print_structured(ctx.global.output, &made)?;
    }
    Ok(())
}

/// The PITR window a policy of the namespace last read for `table`: (state, earliest, latest).
fn window_of(policies: &[DynamoBackupPolicy], table: &str) -> Option<(String, Option<Timestamp>, Option<Timestamp>, String)> {
    policies.iter().find_map(|p| {
        let status = p.status.as_ref()?;
        let line = status.tables.iter().find(|t| render::table_name(&t.name) == table)?;
        let pitr = line.point_in_time_recovery.as_ref()?;
        Some((
            pitr.status.clone(),
            pitr.earliest_restorable_time.as_ref().map(|t| t.0),
            pitr.latest_restorable_time.as_ref().map(|t| t.0),
            p.name_any(),
        ))
    })
}

async fn restore(ctx: &Ctx, args: RestoreArgs) -> Result<(), Failure> {
    let now = Timestamp::now();
    let source = if let Some(backup) = &args.from_backup {
        RestoreSource {
            backup_ref: Some(LocalObjectReference { name: backup.clone() }),
            backup_arn: None,
            recovery_point_arn: None,
            point_in_time: None,
        }
    } else {
        let Some(table) = args.table.clone() else {
            return Err(Failure { code: 2, message: "name the source table: restore TABLE --to TIME | --latest".into() });
        };
        let policies = list_all(&ctx.api::<DynamoBackupPolicy>(), "DynamoBackupPolicies").await?;
        let window = window_of(&policies, render::table_name(&table));
        if let Some((state, _, _, policy)) = &window
            && state != "ENABLED"
        {
            return Err(refused(format!(
                "point-in-time recovery of {table} is {state} (as policy {policy} reports): there is no window to restore from; \
                 restore a backup instead (kubectl dynamobackup list {table})"
            )));
        }
        let at = match &args.to {
            Some(text) => {
                let tz = match &args.tz {
                    Some(name) => TimeZone::get(name).map_err(|e| refused(format!("--tz {name:?}: {e}")))?,
                    None => TimeZone::system(),
                };
                let at = parse_moment(text, &tz, now).map_err(refused)?;
                eprintln!("restoring {table} as of {at} ({} in {})", at.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M:%S"), tz_name(&tz));
                match &window {
                    Some((_, earliest, latest, _)) => check_in_window(&table, at, *earliest, *latest).map_err(refused)?,
                    None => eprintln!("no policy of {} reports the PITR window of {table}; the operator checks it", where_(ctx)),
                }
                Some(at)
            }
            None => None,
        };
        RestoreSource {
            backup_ref: None,
            backup_arn: None,
            recovery_point_arn: None,
            point_in_time: Some(PointInTimeSource {
                table_name: table,
                restore_time: at.map(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time),
                latest_restorable_time: at.is_none().then_some(true),
            }),
        }
    };
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
        },
    );
    restore.metadata.namespace = Some(ctx.namespace.clone());
    if args.dry_run {
        let mut manifest = serde_json::to_value(&restore).map_err(|e| Failure { code: 1, message: e.to_string() })?;
        if let Some(map) = manifest.as_object_mut() {
            map.remove("status");
        }
        return print_structured(if ctx.global.output == Format::Json { Format::Json } else { Format::Yaml }, &manifest);
    }
    let api: Api<DynamoRestore> = ctx.api();
    api.create(&PostParams::default(), &restore).await.map_err(|e| api_failed(&format!("creating DynamoRestore {name}"), e))?;
    eprintln!("dynamorestore/{name} created: a new table {}", args.target);
    if args.wait {
        wait_ready(&api, &name, "DynamoRestore", args.timeout).await?;
    }
    if ctx.global.output != Format::Table {
        print_structured(ctx.global.output, &restore)?;
    }
    Ok(())
}

/// Waits until `name` is Ready (exit 0), Stalled (exit 4) or `timeout` passes (exit 5), showing
/// where it stands: a spinner on a terminal, a line per change elsewhere.
async fn wait_ready<K>(api: &Api<K>, name: &str, kind: &str, timeout: Duration) -> Result<(), Failure>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Serialize,
{
    let spinner = indicatif::ProgressBar::new_spinner();
    if std::io::stderr().is_terminal() {
        spinner.enable_steady_tick(Duration::from_millis(120));
    } else {
        spinner.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last = String::new();
    loop {
        let obj = api.get(name).await.map_err(|e| api_failed(&format!("reading {kind} {name}"), e))?;
        let value = serde_json::to_value(&obj).unwrap_or_default();
        let conditions = value["status"]["conditions"].as_array().cloned().unwrap_or_default();
        let is = |type_: &str| conditions.iter().find(|c| c["type"] == type_ && c["status"] == "True").cloned();
        let phase = value["status"]["phase"].as_str().unwrap_or("Pending").to_owned();
        if let Some(ready) = is("Ready") {
            spinner.finish_and_clear();
            eprintln!("{kind} {name} is Ready: {}", ready["message"].as_str().unwrap_or_default());
            return Ok(());
        }
        if let Some(stalled) = is("Stalled") {
            spinner.finish_and_clear();
            return Err(Failure {
                code: 4,
                message: format!(
                    "{kind} {name} is Stalled ({}): {}",
                    stalled["reason"].as_str().unwrap_or_default(),
                    stalled["message"].as_str().unwrap_or_default()
                ),
            });
        }
        let now = is("Reconciling").map(|c| format!("{phase}: {}", c["message"].as_str().unwrap_or_default())).unwrap_or(phase);
        if now != last {
            if spinner.is_hidden() {
                eprintln!("{kind} {name}: {now}");
            }
            spinner.set_message(format!("{kind} {name}: {now}"));
            last = now;
        }
        if tokio::time::Instant::now() >= deadline {
            spinner.finish_and_clear();
            return Err(Failure {
                code: 5,
                message: format!("{kind} {name} is not Ready after {}: {last}", humantime::format_duration(timeout)),
            });
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// `describe KIND/NAME`.
async fn describe(ctx: &Ctx, object: &str) -> Result<(), Failure> {
    let Some((kind, name)) = object.split_once('/') else {
        return Err(Failure { code: 2, message: format!("{object:?}: name it as KIND/NAME, e.g. backup/orders-before-v42") });
    };
    let (kind, value) = match kind.to_ascii_lowercase().as_str() {
        "backup" | "backups" | "ddbbackup" | "dynamobackup" | "dynamobackups" => {
            ("DynamoBackup", get_value::<DynamoBackup>(ctx, name).await?)
        }
        "restore" | "restores" | "ddbrestore" | "dynamorestore" | "dynamorestores" => {
            ("DynamoRestore", get_value::<DynamoRestore>(ctx, name).await?)
        }
        "policy" | "policies" | "ddbpolicy" | "dynamobackuppolicy" | "dynamobackuppolicies" => {
            ("DynamoBackupPolicy", get_value::<DynamoBackupPolicy>(ctx, name).await?)
        }
        other => return Err(Failure { code: 2, message: format!("unknown kind {other:?}: use backup, restore or policy") }),
    };
    if ctx.global.output != Format::Table {
        return print_structured(ctx.global.output, &value);
    }
    let events: Api<Event> = ctx.api();
    let mut lines: Vec<EventLine> = events
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e.regarding.as_ref().is_some_and(|r| r.name.as_deref() == Some(name) && r.kind.as_deref() == Some(kind)))
        .map(|e| EventLine {
            at: e.event_time.as_ref().map(|t| t.0).or(e.deprecated_last_timestamp.as_ref().map(|t| t.0)),
            warning: e.type_.as_deref() == Some("Warning"),
            reason: e.reason.clone().unwrap_or_default(),
            message: e.note.clone().unwrap_or_default(),
        })
        .collect();
    lines.sort_by_key(|e| e.at);
    print!("{}", describe_text(kind, &value, &lines, Timestamp::now(), colour()));
    Ok(())
}

async fn get_value<K>(ctx: &Ctx, name: &str) -> Result<serde_json::Value, Failure>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Serialize,
{
    let api: Api<K> = ctx.api();
    match api.get_opt(name).await {
        Ok(Some(obj)) => {
            let mut value = serde_json::to_value(&obj).map_err(|e| Failure { code: 1, message: e.to_string() })?;
            if let Some(meta) = value["metadata"].as_object_mut() {
                meta.remove("managedFields");
            }
            Ok(value)
        }
        Ok(None) => Err(refused(format!("{} {name} not found in {}", K::kind(&()), where_(ctx)))),
        Err(e) => Err(api_failed(&format!("reading {} {name}", K::kind(&())), e)),
    }
}

async fn pin(ctx: &Ctx, backup: &str, pinned: bool) -> Result<(), Failure> {
    let api: Api<DynamoBackup> = ctx.api();
    let value = if pinned { serde_json::json!("true") } else { serde_json::Value::Null };
    let patch = serde_json::json!({"metadata": {"labels": {labels::PINNED: value}}});
    match api.patch(backup, &PatchParams::default(), &Patch::Merge(&patch)).await {
        Ok(_) => {
            eprintln!("dynamobackup/{backup} {}", if pinned { "pinned: retention keeps it" } else { "unpinned: retention may delete it" });
            Ok(())
        }
        Err(kube::Error::Api(status)) if status.code == 404 => Err(refused(format!("DynamoBackup {backup} not found in {}", where_(ctx)))),
        Err(e) => Err(api_failed(&format!("patching DynamoBackup {backup}"), e)),
    }
}

async fn suspend(ctx: &Ctx, policy: &str, suspended: bool) -> Result<(), Failure> {
    let api: Api<DynamoBackupPolicy> = ctx.api();
    let current = match api.get_opt(policy).await {
        Ok(Some(p)) => p,
        Ok(None) => return Err(refused(format!("DynamoBackupPolicy {policy} not found in {}", where_(ctx)))),
        Err(e) => return Err(api_failed(&format!("reading DynamoBackupPolicy {policy}"), e)),
    };
    if current.spec.schedule.is_none() {
        return Err(refused(format!("policy {policy} has no schedule to {}", if suspended { "suspend" } else { "resume" })));
    }
    let patch = serde_json::json!({"spec": {"schedule": {"suspend": suspended}}});
    api.patch(policy, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| api_failed(&format!("patching DynamoBackupPolicy {policy}"), e))?;
    eprintln!(
        "dynamobackuppolicy/{policy} {}",
        if suspended { "suspended: no scheduled snapshots (PITR and pre-rollout snapshots go on)" } else { "resumed" }
    );
    Ok(())
}

#[cfg(test)]
mod tests;
