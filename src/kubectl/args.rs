//! The command line as clap reads it: the global flags, the output format, the commands and
//! their arguments. The doc comments are the help text a user reads (`--help`).

use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
    pub(super) global: Global,
    #[command(subcommand)]
    pub(super) command: Command,
}

#[derive(Args, Debug, Clone)]
pub(super) struct Global {
    /// The namespace (default: the kubeconfig context's).
    #[arg(short = 'n', long, global = true)]
    pub(super) namespace: Option<String>,
    /// Every namespace (status, list).
    #[arg(short = 'A', long = "all-namespaces", global = true)]
    pub(super) all_namespaces: bool,
    /// Output format. `table` fits the terminal's width (COLUMNS, else the terminal's size):
    /// the least important columns are left out and long text is cut with "..."; into a pipe
    /// or a file nothing is left out. `wide` shows every column, whole.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = Format::Table)]
    pub(super) output: Format,
    /// The kubeconfig context to use.
    #[arg(long, global = true)]
    pub(super) context: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(super) enum Format {
    Table,
    Wide,
    Json,
    Yaml,
}

impl Format {
    /// Whether the answer is for a person (table or wide) rather than a script.
    pub(super) fn is_human(self) -> bool {
        matches!(self, Format::Table | Format::Wide)
    }
}

#[derive(Subcommand, Debug)]
pub(super) enum Command {
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
    /// Copy lost items back into the live table, from a moment before the incident.
    ///
    /// Creates a DynamoRestore of TABLE (from --to TIME in its PITR window, or --backup NAME)
    /// into a new table, with spec.copyBack writing into TABLE: --missing-items copies every key
    /// TABLE lacks (never overwriting, never deleting); --keys FILE overwrites exactly the keys
    /// listed. Start with --dry-run to see what would be written.
    Recover(RecoverArgs),
    /// Write what a copy-back's dry run found: set spec.copyBack.dryRun to false on the
    /// DynamoRestore (the one change its schema allows) and, with --wait, follow the writes.
    ///
    /// The operator compares again (the live table has moved on since the dry run) and writes
    /// the keys the live table lacks, each on condition that it is still absent. GitOps teams
    /// commit dryRun: false instead.
    WriteBack(WriteBackArgs),
    /// Draw what a table can be restored to, on one time axis.
    ///
    /// The PITR window as a bar, every backup (DynamoDB and AWS Backup, and the regions holding
    /// copies) as a mark, and the incident (--at). Fits the terminal (80 columns into a pipe);
    /// -o json|yaml prints the window and the backups instead.
    Points(PointsArgs),
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
pub(super) struct BackupArgs {
    /// The table (name or ARN).
    #[arg(required_unless_present = "policy", conflicts_with = "policy")]
    pub(super) table: Option<String>,
    /// Every table of this policy, as the policy would back it up.
    #[arg(long)]
    pub(super) policy: Option<String>,
    /// The DynamoBackup's name (default: derived from the table and the time).
    #[arg(long, conflicts_with = "policy")]
    pub(super) name: Option<String>,
    /// What deleting the DynamoBackup does to the snapshot (default: Retain; with --policy, the policy's).
    #[arg(long = "delete-policy", value_enum)]
    pub(super) delete_policy: Option<DeletePolicy>,
    /// The table's region, when not the operator's default.
    #[arg(long, conflicts_with = "policy")]
    pub(super) region: Option<String>,
    /// Wait until the snapshot is Ready (or stalls).
    #[arg(long)]
    pub(super) wait: bool,
    /// How long --wait waits.
    #[arg(long, default_value = "30m", value_parser = humantime::parse_duration)]
    pub(super) timeout: Duration,
}

#[derive(Args, Debug)]
pub(super) struct DrillArgs {
    /// The DynamoBackupPolicy (it needs spec.drill).
    pub(super) policy: String,
    /// Only this table of the policy (repeatable; default: every table).
    #[arg(long)]
    pub(super) table: Vec<String>,
    /// Wait until every drill has passed (exit 4 when one fails).
    #[arg(long)]
    pub(super) wait: bool,
    /// How long --wait waits.
    #[arg(long, default_value = "2h", value_parser = humantime::parse_duration)]
    pub(super) timeout: Duration,
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("from").required(true).args(["to", "backup"])))]
#[command(group(clap::ArgGroup::new("items").required(true).args(["missing_items", "keys"])))]
pub(super) struct RecoverArgs {
    /// The live table that lost items (name or ARN); the copy-back writes into it.
    pub(super) table: String,
    /// A moment before the incident, in TABLE's PITR window: RFC 3339, a local time with --tz
    /// ("2026-01-15 10:14:59", or 10:14:59 for today), or relative ("15m ago").
    #[arg(long, value_name = "TIME")]
    pub(super) to: Option<String>,
    /// The time zone of --to without an offset (default: this machine's).
    #[arg(long, value_name = "ZONE", conflicts_with = "backup")]
    pub(super) tz: Option<String>,
    /// A DynamoBackup of TABLE in the namespace, taken before the incident, instead of --to.
    #[arg(long, value_name = "NAME")]
    pub(super) backup: Option<String>,
    /// Copy every item whose key TABLE lacks now, each on condition that the key is still
    /// absent: nothing existing is overwritten, nothing is deleted.
    #[arg(long = "missing-items")]
    pub(super) missing_items: bool,
    /// Copy exactly these keys, overwriting what TABLE holds for them now. FILE is a JSON
    /// array of keys in DynamoDB JSON ([{"id":{"S":"user-7"}}]) or one key per line; - reads
    /// standard input. A bad file is refused (exit 3, naming the line) before anything is
    /// created. At most 1000 keys.
    #[arg(long, value_name = "FILE")]
    pub(super) keys: Option<String>,
    /// Compare only: the operator reports what it would write (counts and a sample of keys)
    /// and writes nothing; patch spec.copyBack.dryRun to false to write. (Unlike restore
    /// --dry-run, the DynamoRestore IS created; --manifest prints it instead.)
    #[arg(long = "dry-run")]
    pub(super) dry_run: bool,
    /// Print the DynamoRestore (YAML, or -o json) instead of creating it: commit it for GitOps.
    #[arg(long)]
    pub(super) manifest: bool,
    /// The new table the moment is restored into (default: TABLE-recover-TIME); it must not exist.
    #[arg(long, value_name = "NEW_TABLE")]
    pub(super) target: Option<String>,
    /// The DynamoRestore's name (default: derived from TABLE and the time).
    #[arg(long)]
    pub(super) name: Option<String>,
    /// Follow the copy-back: a progress line (items compared, missing, written, items/s) until
    /// it is done, then a summary and a sample of the missing keys. Exit 4 when it fails.
    #[arg(long)]
    pub(super) wait: bool,
    /// How long --wait waits (exit 5 after it).
    #[arg(long, default_value = "6h", value_parser = humantime::parse_duration)]
    pub(super) timeout: Duration,
}

#[derive(Args, Debug)]
pub(super) struct WriteBackArgs {
    /// The DynamoRestore whose copy-back ran as a dry run.
    pub(super) restore: String,
    /// Follow the copy-back: a progress line until it is done, then the summary. Exit 4 when
    /// it fails.
    #[arg(long)]
    pub(super) wait: bool,
    /// How long --wait waits (exit 5 after it).
    #[arg(long, default_value = "6h", value_parser = humantime::parse_duration)]
    pub(super) timeout: Duration,
}

#[derive(Args, Debug)]
pub(super) struct PointsArgs {
    /// The table (name or ARN).
    pub(super) table: String,
    /// The incident, marked on the axis: RFC 3339, a local time with --tz, or relative
    /// ("15m ago"). The legend says whether it is inside the PITR window and names the last
    /// backup before it.
    #[arg(long, value_name = "TIME")]
    pub(super) at: Option<String>,
    /// The time zone of --at and of the drawing's times (default: this machine's).
    #[arg(long)]
    pub(super) tz: Option<String>,
    /// How far back the axis goes (e.g. 6h, 2d; default: to the oldest backup or the start
    /// of the PITR window, whichever is older).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub(super) since: Option<Duration>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(super) enum DeletePolicy {
    Retain,
    Delete,
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["to", "latest", "from_backup"])))]
pub(super) struct RestoreArgs {
    /// The source table (required with --to and --latest).
    pub(super) table: Option<String>,
    /// A moment of the PITR window: RFC 3339, a local time with --tz ("2026-01-15 10:14:59", or
    /// 10:14:59 for today), or relative ("15m ago").
    #[arg(long)]
    pub(super) to: Option<String>,
    /// The time zone of --to without an offset (default: this machine's).
    #[arg(long)]
    pub(super) tz: Option<String>,
    /// The latest restorable moment.
    #[arg(long)]
    pub(super) latest: bool,
    /// A DynamoBackup of the namespace.
    #[arg(long = "from-backup")]
    pub(super) from_backup: Option<String>,
    /// The NEW table's name; it must not exist.
    #[arg(long = "as", value_name = "NEW_TABLE")]
    pub(super) target: String,
    /// The new table's region (for an AWSBackup backup: a region holding a copy).
    #[arg(long)]
    pub(super) region: Option<String>,
    /// The role AWS Backup restores with (backups kept by AWS Backup).
    #[arg(long = "aws-backup-role")]
    pub(super) aws_backup_role: Option<String>,
    /// The DynamoRestore's name (default: derived from the new table and the time).
    #[arg(long)]
    pub(super) name: Option<String>,
    /// Print the DynamoRestore (YAML) instead of creating it: commit it for GitOps.
    #[arg(long = "dry-run")]
    pub(super) dry_run: bool,
    /// Wait until the restore is Completed (or stalls).
    #[arg(long)]
    pub(super) wait: bool,
    /// How long --wait waits.
    #[arg(long, default_value = "2h", value_parser = humantime::parse_duration)]
    pub(super) timeout: Duration,
}
