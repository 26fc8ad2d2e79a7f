//! The DynamoDB port: the calls the controllers make, and nothing else. `AwsDynamo` implements
//! it with the SDK; the state-machine tests implement it in memory.

use async_trait::async_trait;
use jiff::Timestamp;

use crate::api::facts::{
    Backup, BatchRead, CountPage, Item, ItemKey, ItemsPage, Pitr, Put, RestoreFrom, Scope, Table, TableOverrides, Tags,
};
use crate::aws::{AwsResult, Lane};

#[async_trait]
pub trait DynamoPort: Send + Sync {
    /// None when the table does not exist.
    async fn describe_table(&self, scope: &Scope, table: &str) -> AwsResult<Option<Table>>;

    /// Starts an on-demand backup. Not idempotent: record the intent first, and after a crash
    /// look with `find_backup` before calling it again.
    async fn create_backup(&self, scope: &Scope, table: &str, backup_name: &str) -> AwsResult<Backup>;

    /// The table's user backup of this exact name made at or after `since`, if any (the newest
    /// when there are several).
    async fn find_backup(&self, scope: &Scope, table: &str, backup_name: &str, since: Timestamp) -> AwsResult<Option<Backup>>;

    /// Every user backup in the scope's region made at or after `since` (None: all of them),
    /// as ListBackups summarizes them: one call per page of many backups.
    async fn list_backups(&self, scope: &Scope, since: Option<Timestamp>, lane: Lane) -> AwsResult<Vec<Backup>>;

    /// None when the backup does not exist (any more).
    async fn describe_backup(&self, scope: &Scope, backup_arn: &str) -> AwsResult<Option<Backup>>;

    /// Deletes a backup; one that is already gone counts as deleted.
    async fn delete_backup(&self, scope: &Scope, backup_arn: &str) -> AwsResult<()>;

    /// Starts a restore into a new table and returns it as DynamoDB first describes it.
    async fn restore(&self, scope: &Scope, from: &RestoreFrom, target: &str, overrides: &TableOverrides) -> AwsResult<Table>;

    /// Point-in-time recovery of the table; `Background` when it only refreshes what is known.
    async fn describe_pitr(&self, scope: &Scope, table: &str, lane: Lane) -> AwsResult<Pitr>;

    async fn enable_pitr(&self, scope: &Scope, table: &str, recovery_period_in_days: i32) -> AwsResult<Pitr>;

    /// The names of every table of the scope's region (all pages).
    async fn list_tables(&self, scope: &Scope, lane: Lane) -> AwsResult<Vec<String>>;

    /// One page (at most `limit` items) of a Scan of `table` from after `start`, with the read
    /// capacity it consumed.
    async fn scan_items(&self, scope: &Scope, table: &str, start: Option<&ItemKey>, limit: i32) -> AwsResult<ItemsPage>;

    /// BatchGetItem of at most 100 keys of `table` (eventually consistent reads): the items
    /// found, and the keys DynamoDB left unprocessed.
    async fn batch_get(&self, scope: &Scope, table: &str, keys: &[ItemKey]) -> AwsResult<BatchRead>;

    /// PutItem. With `absent_key` (the key's attribute names), only where the key is absent:
    /// a present key is `Put::Present`, and nothing is written.
    async fn put_item(&self, scope: &Scope, table: &str, item: &Item, absent_key: Option<&[String]>) -> AwsResult<Put>;

    async fn list_tags(&self, scope: &Scope, resource_arn: &str, lane: Lane) -> AwsResult<Tags>;

    async fn tag(&self, scope: &Scope, resource_arn: &str, tags: &Tags) -> AwsResult<()>;

    async fn set_deletion_protection(&self, scope: &Scope, table: &str, enabled: bool) -> AwsResult<()>;

    /// The TTL attribute, when TTL is enabled.
    async fn time_to_live(&self, scope: &Scope, table: &str) -> AwsResult<Option<String>>;

    async fn enable_time_to_live(&self, scope: &Scope, table: &str, attribute: &str) -> AwsResult<()>;

    /// Deletes a table; one that is already gone counts as deleted.
    async fn delete_table(&self, scope: &Scope, table: &str) -> AwsResult<()>;

    /// One page (at most `limit` items) of a `Select: COUNT` scan of `table` from `start`.
    async fn count_page(&self, scope: &Scope, table: &str, start: Option<&ItemKey>, limit: i32) -> AwsResult<CountPage>;

    /// Whether `table` holds an item with this primary key.
    async fn item_exists(&self, scope: &Scope, table: &str, key: &ItemKey) -> AwsResult<bool>;

    /// Turns the table's stream on with this view type (UpdateTable StreamSpecification).
    async fn enable_stream(&self, scope: &Scope, table: &str, view_type: &str) -> AwsResult<()>;

    /// The resource-based policy of a table (by ARN); None when it has none.
    async fn resource_policy(&self, scope: &Scope, resource_arn: &str) -> AwsResult<Option<String>>;

    /// Puts (or replaces) the resource-based policy of a table (by ARN).
    async fn put_resource_policy(&self, scope: &Scope, resource_arn: &str, policy: &str) -> AwsResult<()>;
}
