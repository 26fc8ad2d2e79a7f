//! The command line: every flag of `run` also reads an environment variable, so the Helm chart
//! and a shell configure the operator the same way.

use std::{net::SocketAddr, num::NonZeroU32, path::PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(name = "dynamo-backup-operator", version, about = "Keeps Amazon DynamoDB tables recoverable from Kubernetes")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the controllers.
    Run(Box<RunArgs>),
    /// Print the CustomResourceDefinitions (what `crds/` holds), or write one file per kind.
    Crd(CrdArgs),
}

#[derive(Args, Debug)]
pub struct CrdArgs {
    /// Write `<kind>.yaml` files into this folder instead of printing to stdout.
    #[arg(long)]
    pub output_dir: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Namespaces to watch, comma-separated. Empty: all namespaces.
    #[arg(long, env = "WATCH_NAMESPACES", value_delimiter = ',', default_value = "")]
    pub namespaces: Vec<String>,

    /// Region for tables named without an ARN or `spec.region`. Default: the AWS SDK's chain
    /// (AWS_REGION, profile, instance metadata).
    #[arg(long, env = "DEFAULT_REGION")]
    pub default_region: Option<String>,

    /// Where /metrics, /healthz and /readyz are served.
    #[arg(long, env = "METRICS_BIND_ADDRESS", default_value = "0.0.0.0:8080")]
    pub metrics_bind_address: SocketAddr,

    /// Log format. Levels and targets come from RUST_LOG (default `info`).
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// How many objects of one kind are reconciled at once.
    #[arg(long, env = "RECONCILE_CONCURRENCY", default_value = "16")]
    pub concurrency: NonZeroU32,

    /// Client-side pace of DynamoDB and AWS Backup operations, as `Operation=perSecond` pairs
    /// separated by commas. Without it, each DynamoDB operation whose API reference documents a
    /// per-account rate is paced at that rate (CreateBackup 50, ListBackups 5, DescribeBackup,
    /// DeleteBackup, DescribeContinuousBackups, RestoreTableFromBackup and ListTagsOfResource 10,
    /// TagResource and UntagResource 5) and the others are not paced; AWS Backup's
    /// StartBackupJob, StartCopyJob, StartRestoreJob and DeleteRecoveryPoint at 5, its
    /// Describe*Job at 10. A pair replaces an operation's pace, or paces one not paced.
    #[arg(long, env = "AWS_RATE_LIMITS", value_delimiter = ',', value_parser = crate::aws::parse_rate_limit)]
    pub aws_rate_limits: Vec<(String, NonZeroU32)>,

    /// How often the backups of each region are listed (in pages, at low priority) to notice an
    /// Available backup deleted outside the operator.
    #[arg(long, env = "BACKUP_RESYNC_INTERVAL", default_value = "1h", value_parser = humantime::parse_duration)]
    pub backup_resync_interval: std::time::Duration,

    /// How often a protected table's point-in-time recovery is read again (one
    /// DescribeContinuousBackups per table, shared by every policy that names it, spread over
    /// the interval). The PITR window in a policy's status is at most this old.
    #[arg(long, env = "PITR_REFRESH_INTERVAL", default_value = "40m", value_parser = humantime::parse_duration)]
    pub pitr_refresh_interval: std::time::Duration,

    /// How often the tables of each region are listed (ListTables, and ListTagsOfResource per
    /// table when a policy selects by tags): a new table a policy's tableSelector matches is
    /// protected within this interval, and the unprotected-tables metric is this old at most.
    #[arg(long, env = "TABLE_DISCOVERY_INTERVAL", default_value = "10m", value_parser = humantime::parse_duration)]
    pub table_discovery_interval: std::time::Duration,

    /// Elect a leader through a Lease, so that of several replicas only one reconciles.
    #[arg(long, env = "LEADER_ELECTION")]
    pub leader_election: bool,

    /// Namespace of the leader election Lease (in a pod: its own namespace).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub leader_election_namespace: String,

    #[arg(long, env = "LEADER_ELECTION_LEASE_NAME", default_value = "dynamo-backup-operator")]
    pub leader_election_lease_name: String,

    /// How long a leader that stops renewing keeps the lease (a standby takes over after it).
    #[arg(long, env = "LEADER_ELECTION_LEASE_DURATION", default_value = "15s", value_parser = humantime::parse_duration)]
    pub leader_election_lease_duration: std::time::Duration,

    /// The tenancy file: namespaces mapped to the tables (globs), regions and optional IAM role
    /// they may use. Without it the operator runs single-tenant.
    #[arg(long, env = "TENANCY_FILE")]
    pub tenancy_file: Option<PathBuf>,
}

impl RunArgs {
    /// The namespaces to watch, each once (in the order first given); empty means all of them.
    /// A namespace named twice (`--namespaces a,a`, or the flag given twice) would otherwise get
    /// two controllers: two watches of it, and two reconciles of each object at once.
    pub fn watched_namespaces(&self) -> Vec<String> {
        let mut watched: Vec<String> = Vec::new();
        for namespace in self.namespaces.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
            if !watched.iter().any(|w| w == namespace) {
                watched.push(namespace.to_owned());
            }
        }
        watched
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn rate_limits_are_pairs_separated_by_commas() {
        let cli = Cli::parse_from(["dbo", "run", "--aws-rate-limits", "ListBackups=2,CreateBackup=20"]);
        let Command::Run(args) = cli.command else { panic!("run expected") };
        let limits: Vec<(String, u32)> = args.aws_rate_limits.iter().map(|(op, n)| (op.clone(), n.get())).collect();
        assert_eq!(limits, vec![("ListBackups".to_owned(), 2), ("CreateBackup".to_owned(), 20)]);
        assert!(Cli::try_parse_from(["dbo", "run", "--aws-rate-limits", "ListBackups"]).is_err());
    }

    #[test]
    fn namespaces_split_on_commas_and_default_to_all() {
        let cli = Cli::parse_from(["dbo", "run", "--namespaces", "shop,payments"]);
        let Command::Run(args) = cli.command else { panic!("run expected") };
        assert_eq!(args.watched_namespaces(), vec!["shop", "payments"]);
        assert!(args.aws_rate_limits.is_empty());

        let cli = Cli::parse_from(["dbo", "run"]);
        let Command::Run(args) = cli.command else { panic!("run expected") };
        assert!(args.watched_namespaces().is_empty());
    }

    #[test]
    fn a_namespace_named_twice_is_watched_once() {
        let cli = Cli::parse_from(["dbo", "run", "--namespaces", "shop", "--namespaces=payments, shop,payments"]);
        let Command::Run(args) = cli.command else { panic!("run expected") };
        assert_eq!(args.watched_namespaces(), vec!["shop", "payments"]);
    }
}
