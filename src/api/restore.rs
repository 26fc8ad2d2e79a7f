//! DynamoRestore: a NEW table from a backup or from a point in time. Never an overwrite.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    common::*,
    copyback::{CopyBackSpec, CopyBackStatus},
};

/// Restores a DynamoDB backup, or a table's point-in-time window, into a new table.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "dynamobackup.io",
    version = "v1alpha1",
    kind = "DynamoRestore",
    namespaced,
    status = "DynamoRestoreStatus",
    shortname = "ddbrestore",
    category = "dynamobackup",
    doc = "Creates a new DynamoDB table from a backup or from a point in time.",
    printcolumn(name = "Source", type_ = "string", json_path = ".status.source"),
    printcolumn(name = "Target", type_ = "string", json_path = ".spec.targetTableName"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Restore-Time", type_ = "date", json_path = ".status.restoreTime"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[x_kube(
    validation = Rule::new(REGION_IMMUTABLE)
        .message("spec.region is immutable").field_path(".region"),
    validation = Rule::new("has(self.overrides) == has(oldSelf.overrides) && (!has(self.overrides) || self.overrides == oldSelf.overrides)")
        .message("spec.overrides is immutable: the table is created once").field_path(".overrides"),
    validation = Rule::new("!(has(self.deletionPolicy) && self.deletionPolicy == 'Delete' && has(self.afterRestore) && has(self.afterRestore.deletionProtection) && self.afterRestore.deletionProtection)")
        .message("spec.deletionPolicy Delete cannot drop a table that spec.afterRestore.deletionProtection protects; choose one")
        .field_path(".deletionPolicy"),
    validation = Rule::new("!has(self.copyBack) || !has(self.copyBack.into) || self.copyBack.into != self.targetTableName")
        .message("spec.copyBack.into names the restored table itself: name the live table to write into")
        .field_path(".copyBack.into"),
    validation = Rule::new("has(self.copyBack) == has(oldSelf.copyBack)")
        .message("spec.copyBack cannot be added or removed after creation; make a new DynamoRestore")
        .field_path(".copyBack"),
    validation = Rule::new("!has(self.source.recoveryPointArn) || has(self.awsBackup)")
        .message("spec.awsBackup.iamRoleArn is required to restore a recovery point: AWS Backup restores with that role")
        .field_path(".awsBackup")
)]
#[serde(rename_all = "camelCase")]
pub struct DynamoRestoreSpec {
    /// What to restore from: exactly one of backupRef, backupArn, pointInTime. Immutable.
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.source is immutable"))]
    pub source: RestoreSource,

    /// The new table's name, 3..255 of `[A-Za-z0-9_.-]`. It must not exist: a restore never
    /// overwrites a table. Immutable.
    #[schemars(pattern(TABLE_NAME_PATTERN))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.targetTableName is immutable"))]
    pub target_table_name: String,

    /// The region of the new table when it is not the operator's default, such as `eu-west-1`.
    /// Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(REGION_PATTERN))]
    pub region: Option<String>,

    /// Settings of the new table that differ from the source, as RestoreTable* accepts them.
    /// Immutable: the table is created once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overrides: Option<RestoreOverrides>,

    /// What DynamoDB does not carry over, applied once the new table is ACTIVE.
    #[serde(default)]
    pub after_restore: AfterRestore,

    /// Retain (default): deleting this object leaves the table. Delete: drop the table this
    /// restore created (for restore drills).
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// Checks of the new table once it is ACTIVE: its item count against the snapshot's, and
    /// keys that must exist. The result is in `status.verification` and a `Verified` condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<VerifySpec>,

    /// Delete this object that long after it finished (Completed, or Failed), like a Job's
    /// `ttlSecondsAfterFinished`; with `deletionPolicy: Delete` its table goes too. A duration
    /// such as `2h` or `30m`. Omitted: kept until deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DURATION_PATTERN))]
    pub ttl_after_finished: Option<String>,

    /// The role AWS Backup restores with: required for a recovery point (recoveryPointArn, or a
    /// backupRef to an AWSBackup DynamoBackup). Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.awsBackup is immutable"))]
    pub aws_backup: Option<AwsBackupRestore>,

    /// Once the new table is ACTIVE (and verified, when `verify` is set), write back into the
    /// live table what it lacks. Immutable, but for `dryRun` going from true to false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_back: Option<CopyBackSpec>,
}

/// What to check of a restored table.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifySpec {
    /// Count the new table's items (a paced Scan with Select COUNT) and compare with the count
    /// DynamoDB recorded for the snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_count: Option<ItemCountCheck>,
    /// Items that must exist, by primary key in DynamoDB JSON: `{orderId: {S: order-1}}`
    /// (key attributes are strings S, numbers N or base64 binaries B). At most 100.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub keys: Vec<BTreeMap<String, BTreeMap<String, String>>>,
    /// The read capacity the count may use, per second (the Scan is paced to it). Default 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_read_capacity_per_second: Option<u32>,
}

/// How far the counted items may differ from the snapshot's recorded count.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ItemCountCheck {
    /// Allowed difference in percent of the recorded count (DynamoDB's counts are approximate,
    /// refreshed about every six hours in AWS). Default 0.
    #[serde(default)]
    #[schemars(range(min = 0, max = 100))]
    pub tolerance_percent: u32,
}

/// Passed or Failed.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum VerificationResult {
    Passed,
    Failed,
}

/// What the checks of `spec.verify` found; the count resumes from `resumeKey` after a restart.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerificationStatus {
    /// Passed or Failed, once every check is done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<VerificationResult>,
    /// Items counted in the new table (so far, while counting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_count: Option<i64>,
    /// The count DynamoDB recorded for the snapshot (a backup's source table count, or the
    /// source table's count for a point in time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_item_count: Option<i64>,
    /// Keys of spec.verify.keys that are not in the new table.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_keys: Vec<String>,
    /// When the checks began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// When the checks ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_at: Option<Time>,
    /// How long the checks took, such as `12s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// What differed, or what was checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Where the count goes on after a restart: the last page's LastEvaluatedKey (DynamoDB JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_key: Option<String>,
}

/// How AWS Backup restores a recovery point.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsBackupRestore {
    /// The role AWS Backup assumes to make the table (the operator needs iam:PassRole on it).
    #[schemars(pattern(ROLE_ARN_PATTERN))]
    pub iam_role_arn: String,
}

/// Where a restore's data comes from.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[x_kube(validation = Rule::new(
    "(has(self.backupRef) ? 1 : 0) + (has(self.backupArn) ? 1 : 0) + (has(self.recoveryPointArn) ? 1 : 0) + (has(self.pointInTime) ? 1 : 0) == 1"
).message("exactly one of spec.source.backupRef, spec.source.backupArn, spec.source.recoveryPointArn and spec.source.pointInTime must be set"))]
#[serde(rename_all = "camelCase")]
pub struct RestoreSource {
    /// A DynamoBackup in this namespace. The restore waits until it is Available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_ref: Option<LocalObjectReference>,
    /// Any native DynamoDB backup the operator may read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(BACKUP_ARN_PATTERN))]
    pub backup_arn: Option<String>,
    /// Any AWS Backup recovery point of a DynamoDB table (needs spec.awsBackup); restored in
    /// its own region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(RECOVERY_POINT_ARN_PATTERN))]
    pub recovery_point_arn: Option<String>,
    /// A moment of a table's point-in-time recovery window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub point_in_time: Option<PointInTimeSource>,
}

/// A moment of a table's point-in-time recovery window.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[x_kube(validation = Rule::new(
    "(has(self.restoreTime) ? 1 : 0) + (has(self.latestRestorableTime) && self.latestRestorableTime ? 1 : 0) == 1"
).message("exactly one of spec.source.pointInTime.restoreTime and spec.source.pointInTime.latestRestorableTime: true must be set"))]
#[serde(rename_all = "camelCase")]
pub struct PointInTimeSource {
    /// The source table: a name, or an ARN (an ARN of another region makes a cross-region restore).
    #[schemars(pattern(TABLE_REF_PATTERN))]
    pub table_name: String,
    /// The moment to restore, to the second (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_time: Option<Time>,
    /// true: restore the latest restorable moment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_restorable_time: Option<bool>,
}

/// How the new table is billed.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum BillingMode {
    #[serde(rename = "PAY_PER_REQUEST")]
    PayPerRequest,
    #[serde(rename = "PROVISIONED")]
    Provisioned,
}

/// Capacity of a PROVISIONED table.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProvisionedThroughput {
    /// Read capacity units, at least 1.
    #[schemars(range(min = 1))]
    pub read_capacity_units: i64,
    /// Write capacity units, at least 1.
    #[schemars(range(min = 1))]
    pub write_capacity_units: i64,
}

/// Server-side encryption of the new table.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SseOverride {
    /// true: encrypt with a KMS key (kmsKeyId, or the AWS managed key); false: the AWS-owned key.
    pub enabled: bool,
    /// A KMS key id, ARN or alias; omitted means the AWS-owned key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[x_kube(
    validation = Rule::new("!has(self.provisionedThroughput) || (has(self.billingMode) && self.billingMode == 'PROVISIONED')")
        .message("spec.overrides.provisionedThroughput is allowed only with billingMode PROVISIONED")
        .field_path(".provisionedThroughput"),
    validation = Rule::new("!has(self.billingMode) || self.billingMode != 'PROVISIONED' || has(self.provisionedThroughput)")
        .message("spec.overrides.billingMode PROVISIONED needs spec.overrides.provisionedThroughput")
        .field_path(".billingMode")
)]
#[serde(rename_all = "camelCase")]
pub struct RestoreOverrides {
    /// PAY_PER_REQUEST or PROVISIONED (which needs provisionedThroughput). Default: the source's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_mode: Option<BillingMode>,
    /// Read and write capacity, only with billingMode PROVISIONED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioned_throughput: Option<ProvisionedThroughput>,
    /// Global secondary indexes to keep (default: all). The operator builds the full override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub keep_global_secondary_indexes: Option<Vec<String>>,
    /// Local secondary indexes to keep (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub keep_local_secondary_indexes: Option<Vec<String>>,
    /// Server-side encryption of the new table. Default: the source's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sse: Option<SseOverride>,
}

/// Time to live after a restore: DynamoDB does not carry it over.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum TimeToLiveMode {
    /// Copy the source table's TTL setting when the source table still exists.
    #[default]
    Copy,
    /// Leave TTL off.
    None,
}

/// Settings DynamoDB does not carry over to a restored table.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AfterRestore {
    /// Copy the source table's tags onto the new table (default true).
    #[serde(default = "default_true")]
    pub copy_tags: bool,
    /// Tags to set on the new table (they win over copied ones).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Point-in-time recovery for the new table. Omitted: left off, as DynamoDB creates it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub point_in_time_recovery: Option<PointInTimeRecoverySpec>,
    /// true: turn on deletion protection for the new table (not with deletionPolicy Delete).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_protection: Option<bool>,
    /// Copy (default): the source table's time-to-live setting, when the source still exists;
    /// None: leave TTL off.
    #[serde(default)]
    pub time_to_live: TimeToLiveMode,
    /// Copy (default): the source table's stream, with its view type, when the source still
    /// exists and has one; None: no stream.
    #[serde(default)]
    pub streams: CarryOver,
    /// Copy (default): the source table's resource-based policy, its table ARN rewritten to the
    /// new table's; None: no policy.
    #[serde(default)]
    pub resource_policy: CarryOver,
    /// Copy (default): Application Auto Scaling's scalable targets and target-tracking policies
    /// of the source table and of each kept index, when the new table is PROVISIONED; None: none.
    #[serde(default)]
    pub auto_scaling: CarryOver,
}

/// Whether a setting of the source table is carried over to the restored one.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum CarryOver {
    /// Copy the source table's setting, when the source still exists.
    #[default]
    Copy,
    /// Leave it off.
    None,
}

impl Default for AfterRestore {
    fn default() -> Self {
        Self {
            copy_tags: true,
            tags: BTreeMap::new(),
            point_in_time_recovery: None,
            deletion_protection: None,
            time_to_live: TimeToLiveMode::Copy,
            streams: CarryOver::Copy,
            resource_policy: CarryOver::Copy,
            auto_scaling: CarryOver::Copy,
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum RestorePhase {
    #[default]
    Pending,
    Restoring,
    Finalizing,
    Completed,
    Failed,
}

/// What the operator last saw and did. A new object shows `observedGeneration: -1` (a schema
/// default) until the operator has seen it, so kstatus tools read it as in progress.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[schemars(extend("default" = {"observedGeneration": -1}))]
#[serde(rename_all = "camelCase")]
pub struct DynamoRestoreStatus {
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// kstatus conditions: Ready, Reconciling, Stalled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Conditions,
    /// Pending, Restoring, Finalizing, Completed or Failed: for people and printer columns;
    /// conditions are the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<RestorePhase>,
    /// The source in one short line, for printer columns (`backup/NAME`, a backup ARN, `pitr/TABLE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The ARN of the backup restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_backup_arn: Option<String>,
    /// What spec.verify found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<VerificationStatus>,
    /// AWS Backup sources: the recovery point restored (the source's, or its copy in spec.region).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_point_arn: Option<String>,
    /// AWS Backup sources: the restore job AWS Backup runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_job_id: Option<String>,
    /// The ARN of the table whose backup or point in time is restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_table_arn: Option<String>,
    /// The exact moment restored, resolved for `latestRestorableTime` too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_time: Option<Time>,
    /// The new table's ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_table_arn: Option<String>,
    /// The id of the table this restore created: a table made again under the same name has
    /// the same ARN but another id, and is never mistaken for ours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_table_id: Option<String>,
    /// The new table's status as DynamoDB reports it (CREATING, ACTIVE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_status: Option<String>,
    /// When the operator called the restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// When the restore reached Completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Time>,
    /// The new table's item count, as DynamoDB reports it (updated about every six hours in AWS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_count: Option<i64>,
    /// The after-restore steps done so far (tags, pointInTimeRecovery, deletionProtection,
    /// timeToLive, streams, autoScaling, resourcePolicy), in the order they run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub after_restore_done: Vec<String>,
    /// What the source table had that the operator does not carry over, for the user to redo
    /// by hand (CloudWatchAlarms, IAMPolicies, KinesisStreamingDestination, ContributorInsights...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub not_carried_over: Vec<String>,
    /// What `spec.copyBack` compared and wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_back: Option<CopyBackStatus>,
}
