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
