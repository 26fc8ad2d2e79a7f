//! DynamoBackup: one on-demand snapshot of one table.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::*;

/// One on-demand DynamoDB backup of one table: a full, static snapshot kept until deleted.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "dynamobackup.io",
    version = "v1alpha1",
    kind = "DynamoBackup",
    namespaced,
    status = "DynamoBackupStatus",
    shortname = "ddbbackup",
    category = "dynamobackup",
    doc = "An on-demand snapshot of one DynamoDB table.",
    printcolumn(name = "Table", type_ = "string", json_path = ".spec.tableName"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Size", type_ = "integer", json_path = ".status.sizeBytes"),
    printcolumn(name = "Created", type_ = "date", json_path = ".status.createdAt"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[x_kube(
    validation = Rule::new(REGION_IMMUTABLE)
        .message("spec.region is immutable").field_path(".region"),
    validation = Rule::new("has(self.backupName) == has(oldSelf.backupName) && (!has(self.backupName) || self.backupName == oldSelf.backupName)")
        .message("spec.backupName is immutable").field_path(".backupName"),
    validation = Rule::new(AWS_BACKUP_WITH_METHOD).message(AWS_BACKUP_WITH_METHOD_MESSAGE).field_path(".awsBackup"),
    validation = Rule::new("has(self.awsBackup) == has(oldSelf.awsBackup) && (!has(self.awsBackup) || self.awsBackup == oldSelf.awsBackup)")
        .message("spec.awsBackup is immutable").field_path(".awsBackup"),
    validation = Rule::new("!(has(self.backupName) && has(self.method) && self.method == 'AWSBackup')")
        .message("spec.backupName names a DynamoDB backup; AWS Backup names its recovery points itself").field_path(".backupName")
)]
#[serde(rename_all = "camelCase")]
pub struct DynamoBackupSpec {
    /// The table to back up: a name, or an ARN (which carries region and account). Immutable.
    #[schemars(pattern(TABLE_REF_PATTERN))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.tableName is immutable"))]
    pub table_name: String,

    /// The table's region when it is not the operator's default, such as `eu-west-1` (an ARN's
    /// region wins). Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(REGION_PATTERN))]
    pub region: Option<String>,

    /// The DynamoDB backup name, 3..255 of `[A-Za-z0-9_.-]`. Default: derived from this object's
    /// name and uid. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(BACKUP_NAME_PATTERN))]
    pub backup_name: Option<String>,

    /// What deleting this object does to the DynamoDB backup: Retain (default) leaves it,
    /// Delete deletes it first (through a finalizer). With AWSBackup: the source recovery
    /// point; copies stay, governed by their lifecycle.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// Where the snapshot is kept: DynamoDB (default, CreateBackup) or AWSBackup (a recovery
    /// point in an AWS Backup vault, copies to other regions possible). Immutable.
    #[serde(default)]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.method is immutable"))]
    pub method: BackupMethod,

    /// Vault, role, lifecycle and copies: required with method AWSBackup, refused without it.
    /// Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_backup: Option<AwsBackupSpec>,
}

/// Where one copy of a recovery point stands.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum CopyState {
    /// Not started yet (the source recovery point is not complete).
    Pending,
    /// AWS Backup is copying.
    Running,
    /// The copy is a recovery point in the destination vault.
    Completed,
    /// AWS Backup gave up on the copy; `message` says why.
    Failed,
}

/// One disaster-recovery copy of an AWSBackup snapshot.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CopyStatus {
    /// The vault the copy goes to (from spec.awsBackup.copyTo).
    pub destination_backup_vault_arn: String,
    /// The destination vault's region: where the copy can be restored.
    pub region: String,
    /// AWS Backup's copy job, once started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_job_id: Option<String>,
    /// The copy's recovery point, once AWS Backup names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_point_arn: Option<String>,
    /// Pending, Running, Completed or Failed.
    pub state: CopyState,
    /// AWS Backup's message for a failed copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Where a DynamoBackup stands, for printer columns and humans. Conditions are the API.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum BackupPhase {
    #[default]
    Pending,
    Creating,
    Available,
    Failed,
    Deleting,
}

/// What the operator last saw and did. A new object shows `observedGeneration: -1` (a schema
/// default) until the operator has seen it, so kstatus tools read it as in progress.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[schemars(extend("default" = {"observedGeneration": -1}))]
#[serde(rename_all = "camelCase")]
pub struct DynamoBackupStatus {
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    /// kstatus conditions: Ready, Reconciling, Stalled.
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Conditions,
    /// Pending, Creating, Available, Failed or Deleting: for people and printer columns;
    /// conditions are the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<BackupPhase>,
    /// The DynamoDB backup's ARN, once CreateBackup answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_arn: Option<String>,
    /// The DynamoDB backup name this object creates or created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_name: Option<String>,
    /// The backup's status as DynamoDB reports it (CREATING, AVAILABLE, DELETED).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_status: Option<String>,
    /// The backup's size in bytes, as DynamoDB reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<i64>,
    /// The number of items in the backup, as DynamoDB recorded it (approximate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_count: Option<i64>,
    /// The ARN of the table backed up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_arn: Option<String>,
    /// The id of the table backed up (a table made again under the same name has another id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_id: Option<String>,
    /// When the operator called CreateBackup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_at: Option<Time>,
    /// The snapshot's moment (BackupCreationDateTime).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Time>,
    /// The method the snapshot was taken with (DynamoDB or AWSBackup).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<BackupMethod>,
    /// AWSBackup: the backup job AWS Backup runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_job_id: Option<String>,
    /// AWSBackup: the recovery point in the source vault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_point_arn: Option<String>,
    /// AWSBackup: one line per spec.awsBackup.copyTo destination.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["destinationBackupVaultArn".into()]))]
    pub copies: Vec<CopyStatus>,
}

impl DynamoBackupSpec {
    /// A DynamoDB-method backup of `table` with every default (Retain, a derived name).
    pub fn for_table(table: impl Into<String>) -> Self {
        Self {
            table_name: table.into(),
            region: None,
            backup_name: None,
            deletion_policy: DeletionPolicy::default(),
            method: BackupMethod::default(),
            aws_backup: None,
        }
    }
}
