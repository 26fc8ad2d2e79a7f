//! DynamoBackupPolicy: PITR on every table, scheduled and pre-rollout snapshots, retention.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::*;

/// Cron in five fields, a macro, or `@every <duration>`; parsed precisely by the controller.
pub const SCHEDULE_PATTERN: &str =
    r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|@every ([0-9]+(ns|us|ms|s|m|h|d|w))+|\S+( +\S+){4})$";

/// Protection for a set of tables: PITR, snapshots on a schedule and before rollouts, retention.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "dynamobackup.io",
    version = "v1alpha1",
    kind = "DynamoBackupPolicy",
    namespaced,
    status = "DynamoBackupPolicyStatus",
    shortname = "ddbpolicy",
    category = "dynamobackup",
    doc = "Point-in-time recovery, scheduled and pre-rollout snapshots and retention for DynamoDB tables.",
    printcolumn(name = "Tables", type_ = "string", json_path = ".spec.tables"),
    printcolumn(name = "PITR", type_ = "boolean", json_path = ".spec.pointInTimeRecovery.enabled"),
    printcolumn(name = "Schedule", type_ = "string", json_path = ".spec.schedule.cron"),
    printcolumn(name = "Last-Backup", type_ = "date", json_path = ".status.lastSuccessfulBackupTime"),
    // A string: kubectl shows a future `date` as <invalid>.
    printcolumn(name = "Next", type_ = "string", json_path = ".status.nextScheduleTime"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[x_kube(
    validation = Rule::new(REGION_IMMUTABLE).message("spec.region is immutable").field_path(".region"),
    validation = Rule::new("(has(self.tables) && size(self.tables) > 0) || has(self.tableSelector)")
        .message("name the tables in spec.tables, select them with spec.tableSelector, or both")
)]
#[serde(rename_all = "camelCase")]
pub struct DynamoBackupPolicySpec {
    /// The tables to protect: up to 100 names or ARNs, each at most once (at least one, unless
    /// spec.tableSelector selects them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100), inner(pattern(TABLE_REF_PATTERN)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub tables: Vec<String>,

    /// Tables found by name and tags in the policy's region, beside or instead of spec.tables:
    /// looked for again every table-discovery interval (10 minutes by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_selector: Option<TableSelector>,

    /// The region of tables named without an ARN, when it is not the operator's default, such as
    /// `eu-west-1`. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(REGION_PATTERN))]
    pub region: Option<String>,

    /// PITR is the baseline: omitted means enabled with a 35-day window.
    #[serde(default)]
    pub point_in_time_recovery: PointInTimeRecoverySpec,

    /// Snapshots on a schedule. No schedule: PITR and pre-rollout snapshots only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<BackupSchedule>,

    /// Snapshot every table before a new rollout of these workloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_rollout: Option<PreRollout>,

    /// Which of this policy's Available backups to keep, per table. Pinned ones are exempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,

    /// The deletionPolicy of the DynamoBackups this policy creates: Delete (default) or Retain.
    #[serde(default = "default_backup_deletion_policy")]
    pub backup_deletion_policy: DeletionPolicy,

    /// How the snapshots this policy makes are kept: the template of every DynamoBackup it
    /// creates. Omitted: DynamoDB's own backups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<BackupTemplate>,

    /// Restore drills: on their own schedule, a DynamoRestore of each table (or a rotating
    /// subset) into a new table, verified, timed and deleted. Omitted: no drills.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill: Option<DrillSpec>,

    /// What deleting the policy does to the DynamoBackups it created: Orphan (default) keeps them,
    /// DeleteBackups deletes them (their deletionPolicy then decides about the DynamoDB backups).
    #[serde(default)]
    pub on_policy_delete: OnPolicyDelete,
}

impl DynamoBackupPolicy {
    /// Every table the policy protects as far as the API tells: those of spec.tables, then
    /// those its status reports its selector matched.
    pub fn covered_tables(&self) -> Vec<String> {
        let mut tables = self.spec.tables.clone();
        let selected = self.status.iter().flat_map(|s| s.tables.iter()).filter(|t| t.selected && !tables.contains(&t.name));
        let selected: Vec<String> = selected.map(|t| t.name.clone()).collect();
        tables.extend(selected);
        tables
    }
}

/// Tables by name and tags: a table matches when its name matches one of `names` (all names when
/// omitted) and it carries every tag of `tags`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[x_kube(validation = Rule::new("has(self.names) || has(self.tags)").message("spec.tableSelector needs names, tags or both"))]
#[serde(rename_all = "camelCase")]
pub struct TableSelector {
    /// Globs over the exact, case-sensitive table name (`orders-*`, `*`), at most 50.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50), inner(length(min = 1, max = 255)))]
    pub names: Vec<String>,
    /// Tags the table must carry, every one with this value, at most 50.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(length(max = 50))]
    pub tags: BTreeMap<String, String>,
}

/// The method (and AWS Backup settings) of the DynamoBackups a policy makes.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[x_kube(validation = Rule::new(AWS_BACKUP_WITH_METHOD).message(AWS_BACKUP_WITH_METHOD_MESSAGE))]
#[serde(rename_all = "camelCase")]
pub struct BackupTemplate {
    /// DynamoDB (default) or AWSBackup.
    #[serde(default)]
    pub method: BackupMethod,
    /// Vault, role, lifecycle and copies: required with method AWSBackup, refused without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_backup: Option<AwsBackupSpec>,
}

/// A restore drill: restore, verify, measure, clean up.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DrillSpec {
    /// When drills run: the fields of spec.schedule (cron, timeZone, jitter, startingDeadline,
    /// suspend).
    pub schedule: BackupSchedule,
    /// What a drill restores: LatestBackup (default), the newest Available backup of the table
    /// this policy made; or LatestRestorableTime, the table's point-in-time window.
    #[serde(default)]
    pub source: DrillSource,
    /// 0 (default): every table at each drill; N: the N tables drilled longest ago, so the
    /// drills rotate through the tables.
    #[serde(default)]
    #[schemars(range(min = 0, max = 100))]
    pub tables_per_run: u32,
    /// The checks of each drill's restored table. Omitted: its item count against the
    /// snapshot's, within 5 percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<super::restore::VerifySpec>,
    /// How long a finished drill's DynamoRestore (and its table) stays before it is deleted.
    /// Default `1h`. A duration such as `30m` or `2h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DURATION_PATTERN))]
    pub ttl_after_finished: Option<String>,
}

/// What a drill restores.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DrillSource {
    /// The newest Available backup of the table that this policy made.
    #[default]
    LatestBackup,
    /// The latest restorable moment of the table's point-in-time window.
    LatestRestorableTime,
}

/// How a drill ended.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum DrillResult {
    /// The restore is under way (or its checks are).
    Running,
    /// The table was restored and its checks passed.
    Passed,
    /// The restore failed, or its checks did.
    Failed,
    /// Nothing to restore yet (no Available backup of the table); the next drill tries again.
    Skipped,
}

/// The last drill of one table.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DrillStatus {
    /// The table as the spec names it.
    pub table: String,
    /// The drill's DynamoRestore (deleted ttlAfterFinished after it finished).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore: Option<String>,
    /// When the drill started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<Time>,
    /// Running, Passed, Failed or Skipped.
    pub result: DrillResult,
    /// From the restore call to the new table ACTIVE with its after-restore steps done: the
    /// recovery time measured, such as `4m12s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_duration: Option<String>,
    /// How old the restored data was when the drill started: the recovery point objective at
    /// drill time, such as `13h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_age: Option<String>,
    /// What was restored and found, or what failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

fn default_backup_deletion_policy() -> DeletionPolicy {
    DeletionPolicy::Delete
}

/// When scheduled snapshots are taken.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupSchedule {
    /// Five cron fields (`0 3 * * *`), a macro (`@hourly`, `@daily`, `@weekly`, `@monthly`,
    /// `@yearly`), or `@every <duration>` (`@every 6h`, anchored at the Unix epoch).
    #[schemars(pattern(SCHEDULE_PATTERN), length(max = 256))]
    pub cron: String,
    /// The IANA time zone the cron fields are read in, such as `Europe/Berlin` (default UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub time_zone: Option<String>,
    /// A deterministic per-table offset in [0, jitter) that spreads load: a duration such as `90s`, `20m`, `1h30m` or `400d` (units ns, us, ms, s, m, h, d, w).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DURATION_PATTERN))]
    pub jitter: Option<String>,
    /// A slot missed by more than this is skipped (and reported), never back-filled: a duration such as `90s`, `20m`, `1h30m` or `400d` (units ns, us, ms, s, m, h, d, w).
    /// Default: the schedule's interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DURATION_PATTERN))]
    pub starting_deadline: Option<String>,
    /// true: make no new scheduled snapshots (PITR and pre-rollout snapshots go on).
    #[serde(default)]
    pub suspend: bool,
}

/// Snapshots taken when a workload rolls out a new pod template.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct PreRollout {
    /// The workloads (1..50) of the policy's namespace whose new pod templates trigger a
    /// snapshot of every table.
    #[schemars(length(min = 1, max = 50))]
    pub workloads: Vec<WorkloadSelector>,
}

/// The kinds of workload a policy follows.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
}

/// Workloads of the policy's namespace, by name or by label selector.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[x_kube(validation = Rule::new("has(self.name) != has(self.selector)")
    .message("a workload is chosen by exactly one of name and selector"))]
pub struct WorkloadSelector {
    /// Deployment or StatefulSet.
    pub kind: WorkloadKind,
    /// The workload's name; exactly one of name and selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub name: Option<String>,
    /// The workloads whose labels match; exactly one of name and selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
}

/// What `keep*` rules hold, per table, over this policy's Available backups.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Retention {
    /// Keep the newest N backups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_last: Option<u32>,
    /// Keep the newest backup of each of the last N hours (in the schedule's time zone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_hourly: Option<u32>,
    /// Keep the newest backup of each of the last N days (in the schedule's time zone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_daily: Option<u32>,
    /// Keep the newest backup of each of the last N ISO weeks (in the schedule's time zone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_weekly: Option<u32>,
    /// Keep the newest backup of each of the last N months (in the schedule's time zone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_monthly: Option<u32>,
    /// Keep the newest backup of each of the last N years (in the schedule's time zone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_yearly: Option<u32>,
    /// Backups older than this may go, unless a keep rule holds them; younger ones always stay:
    /// a duration such as `90s`, `20m`, `1h30m` or `400d` (units ns, us, ms, s, m, h, d, w).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DURATION_PATTERN))]
    pub max_age: Option<String>,
    /// Never go below this many Available backups per table, pinned ones counted (default 1).
    #[serde(default = "default_min_available")]
    pub min_available: u32,
    /// true: report in status what would go, delete nothing.
    #[serde(default)]
    pub dry_run: bool,
}

fn default_min_available() -> u32 {
    1
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum OnPolicyDelete {
    /// Keep the DynamoBackups and their DynamoDB backups.
    #[default]
    Orphan,
    /// Delete the DynamoBackups; their finalizers then act per backupDeletionPolicy.
    DeleteBackups,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum PolicyPhase {
    #[default]
    Pending,
    /// Every table is protected as specified.
    Protected,
    /// Some table is not (yet) protected as specified; conditions say why.
    Degraded,
    Failed,
}

/// What the operator last saw and did. A new object shows `observedGeneration: -1` (a schema
/// default) until the operator has seen it, so kstatus tools read it as in progress.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[schemars(extend("default" = {"observedGeneration": -1}))]
#[serde(rename_all = "camelCase")]
pub struct DynamoBackupPolicyStatus {
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// kstatus conditions: Ready, Reconciling, Stalled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Conditions,
    /// Pending, Protected, Degraded or Failed: for people and printer columns; conditions are the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<PolicyPhase>,
    /// The latest slot the schedule has taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_schedule_time: Option<Time>,
    /// The next slot of the schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_schedule_time: Option<Time>,
    /// When the newest Available backup of any of the policy's tables was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_backup_time: Option<Time>,
    /// One line per table protected (named or selected): its ARN, PITR, last backup, number of
    /// Available backups and sizes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["name".into()]))]
    pub tables: Vec<PolicyTableStatus>,
    /// How many tables spec.tableSelector matches now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched_tables: Option<u32>,
    /// The size of the policy's Available backups, summed over its tables (what backup storage
    /// is billed on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_bytes: Option<i64>,
    /// The last retention run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<RetentionStatus>,
    /// Slots that were not taken, newest first (bounded), with the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped_slots: Vec<SkippedSlot>,
    /// The last pod-template revision seen per followed workload, and its snapshot.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rollouts: Vec<RolloutStatus>,
    /// The latest slot of the drill schedule taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_drill_time: Option<Time>,
    /// The next slot of the drill schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_drill_time: Option<Time>,
    /// The last drill of each table.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["table".into()]))]
    pub drills: Vec<DrillStatus>,
}

/// What a policy knows of one of its tables.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyTableStatus {
    /// The table as the spec names it.
    pub name: String,
    /// The table's ARN, as DynamoDB reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_arn: Option<String>,
    /// The AWS account the table is in (its ARN's; the tenant role's or the operator's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The table's point-in-time recovery, as DynamoDB reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub point_in_time_recovery: Option<PitrStatus>,
    /// The newest Available backup this policy made of the table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_backup: Option<LastBackup>,
    /// How many of this policy's backups of the table are Available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_backups: Option<u32>,
    /// The size of this policy's Available backups of the table, summed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_bytes: Option<i64>,
    /// The table's size as DynamoDB reports it (what PITR is billed on; refreshed about every
    /// six hours in AWS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_size_bytes: Option<i64>,
    /// true: the table is here because spec.tableSelector matches it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub selected: bool,
}

/// A table's point-in-time recovery window.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PitrStatus {
    /// ENABLED or DISABLED, as DynamoDB reports it.
    pub status: String,
    /// How many days back a point-in-time restore may reach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_period_in_days: Option<i32>,
    /// The earliest moment a point-in-time restore may reach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub earliest_restorable_time: Option<Time>,
    /// The latest moment a point-in-time restore may reach (about five minutes ago in AWS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_restorable_time: Option<Time>,
}

/// A backup, by its DynamoBackup's name and its snapshot time.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LastBackup {
    /// The DynamoBackup's name.
    pub name: String,
    /// The snapshot's moment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Time>,
}

/// What retention did.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RetentionStatus {
    /// When retention last ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run_time: Option<Time>,
    /// DynamoBackups deleted by retention since the policy was created.
    #[serde(default)]
    pub deleted: u64,
    /// With dryRun: the DynamoBackups that would go now.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub would_delete: Vec<String>,
}

/// A slot of the schedule that was not taken.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SkippedSlot {
    /// The slot's time.
    pub slot_time: Time,
    /// A stable CamelCase reason (MissedDeadline, PreviousBackupInProgress, Suspended).
    pub reason: String,
    /// The table the slot was skipped for; none: every table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
}

/// The last pod-template revision seen of one workload.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStatus {
    /// Deployment or StatefulSet.
    pub kind: WorkloadKind,
    /// The workload's name.
    pub name: String,
    /// A short hash of the workload's pod template.
    pub template_hash: String,
    /// The pre-rollout snapshot of the first table for this revision; every table has one,
    /// named `<policy>-<table>-pre-<templateHash>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
}
