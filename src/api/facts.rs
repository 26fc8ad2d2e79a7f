//! What the operator knows of DynamoDB: plain data, free of SDK types, so that the decisions in
//! `plan`, the in-memory port of the tests and the AWS adapter speak the same language.

use std::collections::BTreeMap;

use jiff::Timestamp;

/// Where a call goes: the region (None: the operator's default), and the IAM role it is made
/// under (None: the operator's own credentials).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Scope {
    pub region: Option<String>,
    pub role_arn: Option<String>,
}

/// A backup's lifecycle as DynamoDB reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackupState {
    Creating,
    Available,
    Deleted,
}

impl BackupState {
    pub fn as_str(self) -> &'static str {
        match self {
            BackupState::Creating => "CREATING",
            BackupState::Available => "AVAILABLE",
            BackupState::Deleted => "DELETED",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Backup {
    pub arn: String,
    pub name: String,
    pub state: BackupState,
    pub size_bytes: Option<i64>,
    pub created_at: Option<Timestamp>,
    /// Filled by DescribeBackup; CreateBackup and ListBackups know less.
    pub source: Option<BackupSource>,
}

/// The table a backup was taken of, and what a restore of it needs to know.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct BackupSource {
    pub table_name: String,
    pub table_arn: Option<String>,
    pub table_id: Option<String>,
    pub item_count: Option<i64>,
    /// (global, local) secondary indexes of the table when the backup was taken; None when
    /// DynamoDB's answer did not say.
    pub indexes: Option<(Vec<IndexDef>, Vec<IndexDef>)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyRole {
    Hash,
    Range,
}

/// A secondary index's definition, enough to pass it back as a restore override.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexDef {
    pub name: String,
    pub key_schema: Vec<(String, KeyRole)>,
    /// ALL, KEYS_ONLY or INCLUDE.
    pub projection_type: Option<String>,
    pub non_key_attributes: Vec<String>,
    /// Read and write capacity, for tables with provisioned billing.
    pub throughput: Option<(i64, i64)>,
}

/// What a listing said of a followed backup.
#[derive(Clone, Debug, PartialEq)]
pub enum Seen {
    /// The backup left CREATING (AVAILABLE, or DELETED by DynamoDB).
    Backup(Box<Backup>),
    /// A listing that should have held it did not: describe it to be sure.
    Missing,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    pub name: String,
    pub arn: Option<String>,
    pub id: Option<String>,
    /// CREATING, ACTIVE, UPDATING, DELETING, ...
    pub status: String,
    pub item_count: Option<i64>,
    /// TableSizeBytes (refreshed about every six hours in AWS).
    pub size_bytes: Option<i64>,
    pub created_at: Option<Timestamp>,
    pub global_indexes: Vec<IndexDef>,
    pub local_indexes: Vec<IndexDef>,
    pub restore: Option<RestoreSummary>,
    pub deletion_protection: Option<bool>,
    /// The primary key: the partition key, then the sort key when there is one.
    pub key_schema: Vec<(String, KeyRole)>,
    /// PAY_PER_REQUEST or PROVISIONED (None: DynamoDB did not say, which means PROVISIONED).
    pub billing_mode: Option<String>,
    /// The stream's view type (KEYS_ONLY, NEW_IMAGE, OLD_IMAGE, NEW_AND_OLD_IMAGES) when the
    /// table has a stream enabled.
    pub stream_view_type: Option<String>,
}

impl Table {
    pub fn is_active(&self) -> bool {
        self.status == "ACTIVE" && !self.restore.as_ref().is_some_and(|r| r.in_progress)
    }
}

/// How a table came to be, when it was restored.
#[derive(Clone, Debug, PartialEq)]
pub struct RestoreSummary {
    pub source_backup_arn: Option<String>,
    pub source_table_arn: Option<String>,
    pub restored_at: Option<Timestamp>,
    pub in_progress: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Pitr {
    pub enabled: bool,
    pub recovery_period_in_days: Option<i32>,
    pub earliest: Option<Timestamp>,
    pub latest: Option<Timestamp>,
}

/// Settings of the new table that differ from its source.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TableOverrides {
    /// PAY_PER_REQUEST or PROVISIONED.
    pub billing_mode: Option<String>,
    pub throughput: Option<(i64, i64)>,
    /// Some: exactly these indexes (possibly none); None: keep the source's.
    pub global_indexes: Option<Vec<IndexDef>>,
    pub local_indexes: Option<Vec<IndexDef>>,
    /// (enabled, KMS key).
    pub sse: Option<(bool, Option<String>)>,
}

/// Where a restore takes its data from.
#[derive(Clone, Debug, PartialEq)]
pub enum RestoreFrom {
    Backup {
        arn: String,
    },
    PointInTime {
        /// A name in the target's region, or an ARN (of another region: cross-region).
        source_table: String,
        /// None: the latest restorable time.
        at: Option<Timestamp>,
    },
}

pub type Tags = BTreeMap<String, String>;

/// One attribute of an item's primary key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyAttr {
    S(String),
    N(String),
    B(Vec<u8>),
}

/// An item's primary key: attribute name -> value.
pub type ItemKey = std::collections::BTreeMap<String, KeyAttr>;

/// One page of a `Select: COUNT` scan.
#[derive(Clone, Debug, PartialEq)]
pub struct CountPage {
    /// Items counted in the page.
    pub count: i64,
    /// Read capacity units the page consumed.
    pub consumed: f64,
    /// Where the next page starts; None: the table is done.
    pub next: Option<ItemKey>,
}

/// An attribute value of an item, as DynamoDB types it. Sets are kept sorted, so two items
/// compare equal when DynamoDB would call them the same.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Value {
    S(String),
    N(String),
    B(Vec<u8>),
    Bool(bool),
    Null,
    M(Item),
    L(Vec<Value>),
    Ss(Vec<String>),
    Ns(Vec<String>),
    Bs(Vec<Vec<u8>>),
}

/// A whole item: attribute name -> value.
pub type Item = BTreeMap<String, Value>;

impl Value {
    /// The value as a key attribute, when it is one of the three key types.
    pub fn as_key(&self) -> Option<KeyAttr> {
        match self {
            Value::S(s) => Some(KeyAttr::S(s.clone())),
            Value::N(n) => Some(KeyAttr::N(n.clone())),
            Value::B(b) => Some(KeyAttr::B(b.clone())),
            _ => None,
        }
    }

    /// Roughly the bytes DynamoDB counts for the value (its item-size rules: strings and
    /// binaries by length, numbers about half their digits, one byte for booleans and nulls, three
    /// for a container plus its elements).
    pub fn size(&self) -> usize {
        match self {
            Value::S(s) => s.len(),
            Value::N(n) => n.len().div_ceil(2) + 1,
            Value::B(b) => b.len(),
            Value::Bool(_) | Value::Null => 1,
            Value::M(m) => 3 + m.iter().map(|(k, v)| k.len() + v.size() + 1).sum::<usize>(),
            Value::L(l) => 3 + l.iter().map(|v| v.size() + 1).sum::<usize>(),
            Value::Ss(s) | Value::Ns(s) => s.iter().map(String::len).sum(),
            Value::Bs(b) => b.iter().map(Vec::len).sum(),
        }
    }
}

impl From<&KeyAttr> for Value {
    fn from(key: &KeyAttr) -> Self {
        match key {
            KeyAttr::S(s) => Value::S(s.clone()),
            KeyAttr::N(n) => Value::N(n.clone()),
            KeyAttr::B(b) => Value::B(b.clone()),
        }
    }
}

/// An item's size as DynamoDB counts it for capacity: names and values.
pub fn item_size(item: &Item) -> usize {
    item.iter().map(|(name, value)| name.len() + value.size()).sum()
}

/// One page of a Scan that returns items.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ItemsPage {
    pub items: Vec<Item>,
    /// Read capacity units the page consumed.
    pub consumed: f64,
    /// Where the next page starts; None: the table is done.
    pub next: Option<ItemKey>,
}

/// What a BatchGetItem read of one table found.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct BatchRead {
    pub items: Vec<Item>,
    pub consumed: f64,
    /// Keys DynamoDB did not get to (throttling, or the 16 MB answer limit): ask again.
    pub unprocessed: Vec<ItemKey>,
}

/// What a PutItem did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Put {
    /// Written; the write capacity it consumed.
    Written { consumed: f64 },
    /// Not written: it was only to be written where its key was absent, and the key is present.
    Present,
}

/// An Application Auto Scaling scalable target of a DynamoDB table or global secondary index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScalableTarget {
    /// `table/NAME` or `table/NAME/index/INDEX`.
    pub resource_id: String,
    /// Such as `dynamodb:table:ReadCapacityUnits` or `dynamodb:index:WriteCapacityUnits`.
    pub dimension: String,
    pub min_capacity: i32,
    pub max_capacity: i32,
    /// The role Application Auto Scaling scales with (for DynamoDB, normally its service-linked
    /// role).
    pub role_arn: Option<String>,
    /// (dynamic scale-in, dynamic scale-out, scheduled scaling) suspended, when it says.
    pub suspended: Option<(Option<bool>, Option<bool>, Option<bool>)>,
}

/// A scaling policy of a scalable target.
#[derive(Clone, Debug, PartialEq)]
pub struct ScalingPolicy {
    pub name: String,
    pub resource_id: String,
    pub dimension: String,
    /// TargetTrackingScaling, StepScaling, PredictiveScaling.
    pub policy_type: String,
    /// The configuration of a TargetTrackingScaling policy.
    pub target_tracking: Option<TargetTracking>,
}

/// A target-tracking policy's configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetTracking {
    pub target_value: f64,
    /// Such as `DynamoDBReadCapacityUtilization`; None for a customized metric.
    pub predefined_metric: Option<String>,
    pub resource_label: Option<String>,
    pub scale_in_cooldown: Option<i32>,
    pub scale_out_cooldown: Option<i32>,
    pub disable_scale_in: Option<bool>,
}
