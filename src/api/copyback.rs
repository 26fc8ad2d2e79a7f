//! `DynamoRestore.spec.copyBack`: once the new table is ACTIVE (and verified), the items the live
//! table lost are written back into it, page by page, paced, resumable.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::*;

/// An item's primary key in DynamoDB JSON: `{id: {S: user-42}}`.
pub type KeyJson = BTreeMap<String, BTreeMap<String, String>>;

/// Which items a copy-back writes.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum CopyBackItems {
    /// Every key of the restored table (or of `keys`) that the live table lacks, each written
    /// on condition that the key is still absent: nothing existing is overwritten, nothing is
    /// deleted.
    #[default]
    Missing,
    /// Exactly the keys of `keys`, overwriting what the live table holds now.
    Listed,
}

/// Copy items of the restored table back into the live one.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[x_kube(
    validation = Rule::new("self.items != 'Listed' || (has(self.keys) && size(self.keys) > 0)")
        .message("spec.copyBack.items Listed needs spec.copyBack.keys: the exact keys to overwrite")
        .field_path(".keys"),
    validation = Rule::new(
        "self.items == oldSelf.items && self.maxReadCapacityPerSecond == oldSelf.maxReadCapacityPerSecond \
         && self.maxWriteCapacityPerSecond == oldSelf.maxWriteCapacityPerSecond \
         && has(self.into) == has(oldSelf.into) && (!has(self.into) || self.into == oldSelf.into) \
         && has(self.keys) == has(oldSelf.keys) && (!has(self.keys) || self.keys == oldSelf.keys) \
         && (self.dryRun == oldSelf.dryRun || (oldSelf.dryRun && !self.dryRun))"
    ).message("spec.copyBack is immutable, but for dryRun going from true to false")
)]
#[serde(rename_all = "camelCase")]
pub struct CopyBackSpec {
    /// The live table to write into, in the restore's region. Default: the source table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(TABLE_NAME_PATTERN))]
    pub into: Option<String>,
    /// Missing (default) or Listed.
    #[serde(default)]
    pub items: CopyBackItems,
    /// Listed: the keys to copy (required). Missing: narrows the copy to these keys. Each in
    /// DynamoDB JSON (`{id: {S: user-42}}`; S, N or B). At most 1,000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1000))]
    pub keys: Option<Vec<KeyJson>>,
    /// true: compare and report, write nothing. The one field that may change after creation,
    /// and only from true to false.
    #[serde(default)]
    pub dry_run: bool,
    /// Read capacity units per second for the reads of both tables, counted from DynamoDB's
    /// ConsumedCapacity. Default 200.
    #[serde(default = "default_max_read")]
    #[schemars(range(min = 1, max = 40000))]
    pub max_read_capacity_per_second: u32,
    /// Write capacity units per second for the writes into the live table. Default 100.
    #[serde(default = "default_max_write")]
    #[schemars(range(min = 1, max = 40000))]
    pub max_write_capacity_per_second: u32,
}

pub const DEFAULT_COPY_BACK_READ: u32 = 200;
pub const DEFAULT_COPY_BACK_WRITE: u32 = 100;

fn default_max_read() -> u32 {
    DEFAULT_COPY_BACK_READ
}

fn default_max_write() -> u32 {
    DEFAULT_COPY_BACK_WRITE
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum CopyBackPhase {
    /// A dry run compares.
    #[default]
    Comparing,
    /// Compares and writes, page by page.
    Writing,
    Completed,
    Failed,
}

/// How far the copy-back has come; saved after every page.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CopyBackStatus {
    /// Comparing (a dry run), Writing, Completed or Failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<CopyBackPhase>,
    /// Whether these figures are a dry run's (nothing written).
    #[serde(default)]
    pub dry_run: bool,
    /// The live table written into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub into: Option<String>,
    /// Items of the restored table read so far (or keys looked up, with `keys`).
    #[serde(default)]
    pub scanned: i64,
    /// Keys the live table lacked when compared.
    #[serde(default)]
    pub missing: i64,
    /// Keys in both tables with other values (reported; Missing never writes them).
    #[serde(default)]
    pub differing: i64,
    /// Items written into the live table.
    #[serde(default)]
    pub written: i64,
    /// Items not written because the key was present by the time of the write (left as it is),
    /// or, with Listed, because the live item already equals the restored one.
    #[serde(default)]
    pub skipped: i64,
    /// Listed keys the restored table does not hold (nothing to copy).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub not_in_restored: i64,
    /// Read capacity units consumed on both tables.
    #[serde(default)]
    pub consumed_read_capacity: f64,
    /// Write capacity units consumed on the live table.
    #[serde(default)]
    pub consumed_write_capacity: f64,
    /// Up to 20 of the missing keys (DynamoDB JSON), for a human to check before `dryRun: false`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sample_missing: Vec<String>,
    /// Up to 20 of the differing keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sample_differing: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Time>,
    /// Where the scan of the restored table goes on after a restart: the last key done (DynamoDB
    /// JSON); absent before the first page and once done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_key: Option<String>,
    /// With `keys`: how many of them are done.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub keys_done: i64,
    /// The keys of the page being written, saved before its writes: after a restart they are
    /// written again, each finding its key present and counted as skipped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<String>,
    /// Why it failed, or what it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}
