//! Types and schema patterns shared by the three kinds.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A DynamoDB table name (3..255 of `[A-Za-z0-9_.-]`) or a table ARN, which carries region and
/// account. The same rule is checked again in `plan::validate` for clusters that skip schemas.
pub const TABLE_REF_PATTERN: &str = r"^([A-Za-z0-9_.-]{3,255}|arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:[0-9]{12}:table/[A-Za-z0-9_.-]{3,255})$";

/// A DynamoDB table name alone (restore targets are always names: the region comes from `region`).
pub const TABLE_NAME_PATTERN: &str = r"^[A-Za-z0-9_.-]{3,255}$";

/// An on-demand backup's name as DynamoDB accepts it.
pub const BACKUP_NAME_PATTERN: &str = r"^[A-Za-z0-9_.-]{3,255}$";

/// A native DynamoDB backup ARN.
pub const BACKUP_ARN_PATTERN: &str = r"^arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:[0-9]{12}:table/[A-Za-z0-9_.-]{3,255}/backup/[A-Za-z0-9_.-]+$";

/// An AWS region code such as `eu-west-1` or `us-gov-west-1`.
pub const REGION_PATTERN: &str = r"^[a-z]{2}(-[a-z]+)+-[0-9]+$";

/// A duration as `humantime` reads it (`90s`, `20m`, `1h30m`, `400d`).
pub const DURATION_PATTERN: &str = r"^([0-9]+(ns|us|ms|s|m|h|d|w))+$";

/// CEL: `spec.region` may not be added, removed or changed after creation.
pub const REGION_IMMUTABLE: &str = "has(self.region) == has(oldSelf.region) && (!has(self.region) || self.region == oldSelf.region)";

/// What deleting a Kubernetes object does to the DynamoDB resource it stands for.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    /// Leave the DynamoDB resource in place.
    #[default]
    Retain,
    /// Delete the DynamoDB resource, through a finalizer, before the object goes.
    Delete,
}

/// A reference to an object by name in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct LocalObjectReference {
    /// The object's name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// Point-in-time recovery settings, as a policy asks for them and a restore applies them.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PointInTimeRecoverySpec {
    /// true: make sure PITR is on. false: leave PITR as it is found (the operator never disables it).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// How many days back a point-in-time restore may reach.
    #[serde(default = "default_recovery_period")]
    #[schemars(range(min = 1, max = 35))]
    pub recovery_period_in_days: i32,
}

impl Default for PointInTimeRecoverySpec {
    fn default() -> Self {
        Self { enabled: true, recovery_period_in_days: default_recovery_period() }
    }
}

pub(crate) fn default_true() -> bool {
    true
}

pub(crate) fn default_recovery_period() -> i32 {
    35
}

/// The condition list of every kind's status: `meta/v1` Conditions keyed on `type`.
pub type Conditions = Vec<Condition>;

/// Condition types, following kstatus.
pub mod condition {
    pub const READY: &str = "Ready";
    pub const RECONCILING: &str = "Reconciling";
    pub const STALLED: &str = "Stalled";
}

/// Labels and annotations the operator sets on the DynamoBackups a policy creates.
pub mod labels {
    /// The policy that created the backup (a label-safe form of its name).
    pub const POLICY: &str = "dynamobackup.io/policy";
    /// The table (a label-safe form of its name; `spec.tableName` stays the truth).
    pub const TABLE: &str = "dynamobackup.io/table";
    /// `schedule`, `pre-rollout` or `manual`.
    pub const TRIGGER: &str = "dynamobackup.io/trigger";
    /// `"true"` exempts a backup from retention.
    pub const PINNED: &str = "dynamobackup.io/pinned";
    /// On scheduled backups: the slot time (RFC 3339).
    pub const SCHEDULED_TIME: &str = "dynamobackup.io/scheduled-time";
}

/// Where a snapshot is kept.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum BackupMethod {
    /// DynamoDB's own on-demand backup (CreateBackup), kept in the table's region.
    #[default]
    DynamoDB,
    /// An AWS Backup recovery point in a backup vault (StartBackupJob), which AWS Backup can
    /// copy to other regions and accounts, lock and tier to cold storage.
    AWSBackup,
}

impl BackupMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            BackupMethod::DynamoDB => "DynamoDB",
            BackupMethod::AWSBackup => "AWSBackup",
        }
    }
}

/// An AWS Backup vault's name as AWS Backup accepts it.
pub const VAULT_NAME_PATTERN: &str = r"^[a-zA-Z0-9_-]{2,50}$";

/// An IAM role ARN.
pub const ROLE_ARN_PATTERN: &str = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$";

/// An AWS Backup vault ARN (its region and account are those of the copies kept in it).
pub const VAULT_ARN_PATTERN: &str = r"^arn:aws[a-z-]*:backup:[a-z0-9-]+:[0-9]{12}:backup-vault:[a-zA-Z0-9_-]{2,50}$";

/// An AWS Backup recovery point ARN of a DynamoDB table (advanced DynamoDB backup).
pub const RECOVERY_POINT_ARN_PATTERN: &str = r"^arn:aws[a-z-]*:backup:[a-z0-9-]+:[0-9]{12}:recovery-point:[A-Za-z0-9_.-]+$";

/// CEL: with both, deletion comes at least 90 days after the move to cold storage, as AWS
/// Backup requires.
const LIFECYCLE_RULE: &str =
    "!(has(self.moveToColdStorageAfterDays) && has(self.deleteAfterDays)) || self.deleteAfterDays >= self.moveToColdStorageAfterDays + 90";

/// When AWS Backup moves a recovery point to cold storage and deletes it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, kube::KubeSchema)]
#[x_kube(validation = Rule::new(LIFECYCLE_RULE)
    .message("lifecycle.deleteAfterDays must be at least moveToColdStorageAfterDays + 90 (AWS Backup's minimum in cold storage)"))]
#[serde(rename_all = "camelCase")]
pub struct BackupLifecycle {
    /// Days after creation until the recovery point moves to cold storage. Omitted: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub move_to_cold_storage_after_days: Option<i64>,
    /// Days after creation until AWS Backup deletes the recovery point. Omitted: kept until
    /// deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub delete_after_days: Option<i64>,
}

/// A copy of the recovery point into another vault (another region or account).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CopyDestination {
    /// The destination vault's ARN; its region is where the copy can be restored.
    #[schemars(pattern(VAULT_ARN_PATTERN))]
    pub destination_backup_vault_arn: String,
    /// The copy's lifecycle. Omitted: the copy is kept until deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<BackupLifecycle>,
}

/// Where and how AWS Backup keeps a snapshot (method AWSBackup).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, kube::KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsBackupSpec {
    /// The backup vault in the table's region, 2..50 of `[a-zA-Z0-9_-]`.
    #[schemars(pattern(VAULT_NAME_PATTERN))]
    pub backup_vault_name: String,
    /// The role AWS Backup assumes to back up and copy (the operator needs iam:PassRole on it).
    #[schemars(pattern(ROLE_ARN_PATTERN))]
    pub iam_role_arn: String,
    /// The recovery point's lifecycle. Omitted: kept until deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<BackupLifecycle>,
    /// Disaster-recovery copies, at most 10, each vault once (a list keyed on the vault ARN).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["destinationBackupVaultArn".into()]))]
    pub copy_to: Vec<CopyDestination>,
}

/// CEL on a spec with `method` and `awsBackup`: the settings go with the method.
pub const AWS_BACKUP_WITH_METHOD: &str = "(has(self.method) && self.method == 'AWSBackup') == has(self.awsBackup)";

/// The message for `AWS_BACKUP_WITH_METHOD`.
pub const AWS_BACKUP_WITH_METHOD_MESSAGE: &str = "spec.awsBackup is required with method AWSBackup and refused with method DynamoDB";
