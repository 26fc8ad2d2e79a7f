//! DynamoBackupPolicy: PITR on every table, scheduled and pre-rollout snapshots, retention.

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
#[x_kube(validation = Rule::new(REGION_IMMUTABLE)
    .message("spec.region is immutable").field_path(".region"))]
#[serde(rename_all = "camelCase")]
pub struct DynamoBackupPolicySpec {
    /// The tables to protect: 1..100 names or ARNs.
    #[schemars(length(min = 1, max = 100), inner(pattern(TABLE_REF_PATTERN)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub tables: Vec<String>,

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

    /// The deletionPolicy of the DynamoBackups this policy creates.
    #[serde(default = "default_backup_deletion_policy")]
    pub backup_deletion_policy: DeletionPolicy,

    /// What deleting the policy does to the DynamoBackups it created.
    #[serde(default)]
    pub on_policy_delete: OnPolicyDelete,
}

fn default_backup_deletion_policy() -> DeletionPolicy {
    DeletionPolicy::Delete
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupSchedule {
    /// Five cron fields, `@hourly` .. `@yearly`, or `@every 6h`.
    #[schemars(pattern(SCHEDULE_PATTERN), length(max = 256))]
    pub cron: String,
    /// IANA time zone the cron fields are read in (default UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub time_zone: Option<String>,
    /// A deterministic per-table offset in [0, jitter) that spreads load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DURATION_PATTERN))]
    pub jitter: Option<String>,
    /// A slot missed by more than this is skipped (and reported), never back-filled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DURATION_PATTERN))]
    pub starting_deadline: Option<String>,
    /// true: make no new scheduled snapshots.
    #[serde(default)]
    pub suspend: bool,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct PreRollout {
    #[schemars(length(min = 1, max = 50))]
    pub workloads: Vec<WorkloadSelector>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
}

/// Workloads of the policy's namespace, by name or by label selector.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[x_kube(validation = Rule::new("has(self.name) != has(self.selector)")
    .message("a workload is chosen by exactly one of name and selector"))]
pub struct WorkloadSelector {
    pub kind: WorkloadKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
}

/// What `keep*` rules hold, per table, over this policy's Available backups.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Retention {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_last: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_hourly: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_daily: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_weekly: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_monthly: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_yearly: Option<u32>,
    /// Older than this may go, unless a keep rule holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DURATION_PATTERN))]
    pub max_age: Option<String>,
    /// Never go below this many Available backups per table.
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Conditions,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<PolicyPhase>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_schedule_time: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_schedule_time: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_backup_time: Option<Time>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["name".into()]))]
    pub tables: Vec<PolicyTableStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<RetentionStatus>,
    /// Slots that were not taken, newest first (bounded), with the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped_slots: Vec<SkippedSlot>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rollouts: Vec<RolloutStatus>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyTableStatus {
    /// The table as the spec names it.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub point_in_time_recovery: Option<PitrStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_backup: Option<LastBackup>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_backups: Option<u32>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PitrStatus {
    /// ENABLED or DISABLED, as DynamoDB reports it.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_period_in_days: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub earliest_restorable_time: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_restorable_time: Option<Time>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LastBackup {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Time>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RetentionStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run_time: Option<Time>,
    /// DynamoBackups deleted by retention since the policy was created.
    #[serde(default)]
    pub deleted: u64,
    /// With dryRun: the DynamoBackups that would go now.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub would_delete: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SkippedSlot {
    pub slot_time: Time,
    /// A stable CamelCase reason (MissedDeadline, PreviousBackupInProgress, Suspended).
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStatus {
    pub kind: WorkloadKind,
    pub name: String,
    pub template_hash: String,
    /// The pre-rollout snapshot of the first table for this revision; every table has one,
    /// named `<policy>-<table>-pre-<templateHash>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
}
