//! An in-memory DynamoDB for the state-machine tests: tables (with PITR, tags, TTL, deletion
//! protection, streams, resource policies and whole items), backups (with their items as they
//! were), and restores into new tables (`restore`), in one account, by region. What a test sets
//! and reads beside the port is in `setup`.
//! Backups stay CREATING and restored tables CREATING for as many reads as a test asks, then
//! move on, as they do in AWS. Faults come on demand, per operation: throttling, any error code,
//! and a call that takes effect and never answers (the caller is cut off, as by a crash). Every
//! call is counted by operation and lane.

use std::{
    collections::{BTreeMap, VecDeque},
    sync::{Arc, Mutex, MutexGuard},
};

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};

mod items;
mod restore;
mod setup;

use items::Items;

use super::port::DynamoPort;
use crate::api::facts::{
    Backup, BackupSource, BackupState, BatchRead, CountPage, Item, ItemKey, ItemsPage, KeyRole, Pitr, Put, RestoreFrom, RestoreSummary,
    Scope, Table, TableOverrides, Tags, item_size,
};
use crate::aws::{AwsError, AwsResult, Lane, Service};
use crate::faults::{Tripwire, hang_if};

/// The account every table and backup of the in-memory DynamoDB belongs to.
pub const ACCOUNT: &str = "123456789012";
/// The region of a scope that names none.
pub const DEFAULT_REGION: &str = "eu-west-1";

/// What the next call of an operation meets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// ThrottlingException: refused, nothing done.
    Throttle,
    /// Refused with this error code (classified as AWS would), nothing done.
    Refuse(&'static str),
    /// Takes effect, then never answers: the caller waits until it is cut off.
    Lost,
}

#[derive(Clone, Debug)]
struct TableState {
    table: Table,
    pitr: Pitr,
    tags: Tags,
    ttl: Option<String>,
    items: Items,
    /// Reads left before a CREATING (restored) table is ACTIVE.
    creating_reads: u32,
}

#[derive(Clone, Debug)]
struct BackupEntry {
    backup: Backup,
    region: String,
    /// Reads left before a CREATING backup is AVAILABLE.
    creating_reads: u32,
    /// The table's items when the backup was taken (None for a backup a test added: the
    /// table's items at restore time stand in).
    items: Option<Items>,
}

#[derive(Default)]
struct State {
    tables: BTreeMap<(String, String), TableState>,
    backups: BTreeMap<String, BackupEntry>,
    faults: BTreeMap<&'static str, VecDeque<Fault>>,
    calls: Vec<(&'static str, Lane)>,
    /// How many reads a new backup stays CREATING, and a restored table CREATING.
    backup_creating_reads: u32,
    restore_creating_reads: u32,
    serial: u64,
    /// Every item a PutItem wrote, with its table, in order.
    written: Vec<(String, Item)>,
    /// Resource-based policies by table ARN.
    resource_policies: BTreeMap<String, String>,
    /// How long each call of an operation takes to answer (none: at once).
    latency: BTreeMap<&'static str, std::time::Duration>,
}

#[derive(Default)]
pub struct MemoryDynamo {
    state: Mutex<State>,
    tripwire: Tripwire,
}

fn region_of(scope: &Scope) -> String {
    scope.region.clone().unwrap_or_else(|| DEFAULT_REGION.to_owned())
}

pub fn table_arn(region: &str, name: &str) -> String {
    format!("arn:aws:dynamodb:{region}:{ACCOUNT}:table/{name}")
}

fn error(operation: &'static str, code: &str, message: String) -> AwsError {
    AwsError::new(Service::DynamoDB, operation, Some(code.to_owned()), message, Some(400))
}

/// A table name from a name or a table ARN, with the ARN's region.
fn name_and_region(text: &str, region: &str) -> (String, String) {
    match text.strip_prefix("arn:").and_then(|rest| rest.split_once(":table/").map(|(head, name)| (head.to_owned(), name))) {
        Some((head, name)) => (name.to_owned(), head.split(':').nth(2).unwrap_or(region).to_owned()),
        None => (text.to_owned(), region.to_owned()),
    }
}

impl MemoryDynamo {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// One whose calls count towards `tripwire`'s crash.
    pub fn wired(tripwire: Tripwire) -> Arc<Self> {
        Arc::new(Self { state: Mutex::default(), tripwire })
    }

    /// Tables of the default region, each with its PITR on or off.
    pub fn with_tables(tables: &[(&str, bool)]) -> Arc<Self> {
        let memory = Self::new();
        for (name, pitr) in tables {
            memory.add_table(DEFAULT_REGION, name, *pitr, 0);
        }
        memory
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts the call and takes its fault, if one is queued. A refusal is returned at once.
    fn enter(&self, operation: &'static str, lane: Lane) -> AwsResult<bool> {
        let mut state = self.lock();
        state.calls.push((operation, lane));
        match state.faults.get_mut(operation).and_then(VecDeque::pop_front) {
            None => Ok(false),
            Some(Fault::Throttle) => Err(error(operation, "ThrottlingException", "Rate of requests exceeds the allowed throughput".into())),
            Some(Fault::Refuse(code)) => Err(error(operation, code, format!("{operation} refused ({code})"))),
            Some(Fault::Lost) => Ok(true),
        }
    }

    /// One call: the fault check, the effect, and (for a lost call) no answer ever.
    async fn call<T>(&self, operation: &'static str, lane: Lane, effect: impl FnOnce(&mut State) -> AwsResult<T>) -> AwsResult<T> {
        let lost = self.enter(operation, lane)?;
        let result = effect(&mut self.lock());
        let took = self.lock().latency.get(operation).copied();
        if let Some(took) = took {
            tokio::time::sleep(took).await;
        }
        let tripped = self.tripwire.count();
        hang_if(lost || tripped).await;
        result
    }
}

fn pitr_state(enabled: bool, since: Timestamp) -> Pitr {
    Pitr {
        enabled,
        recovery_period_in_days: enabled.then_some(35),
        earliest: enabled.then_some(since),
        latest: enabled.then(|| Timestamp::now() - SignedDuration::from_secs(5)),
    }
}

/// One read of a backup: a CREATING one comes a read closer to AVAILABLE.
fn read_backup(entry: &mut BackupEntry) -> Backup {
    if entry.backup.state == BackupState::Creating {
        if entry.creating_reads == 0 {
            entry.backup.state = BackupState::Available;
        } else {
            entry.creating_reads -= 1;
        }
    }
    entry.backup.clone()
}

fn find_table<'a>(state: &'a mut State, region: &str, name: &str, operation: &'static str) -> AwsResult<&'a mut TableState> {
    state
        .tables
        .get_mut(&(region.to_owned(), name.to_owned()))
        .ok_or_else(|| error(operation, "ResourceNotFoundException", format!("Requested resource not found: Table: {name} not found")))
}

#[async_trait]
impl DynamoPort for MemoryDynamo {
    async fn describe_table(&self, scope: &Scope, table: &str) -> AwsResult<Option<Table>> {
        let region = region_of(scope);
        self.call("DescribeTable", Lane::Now, |s| {
            let Some(t) = s.tables.get_mut(&(region, table.to_owned())) else { return Ok(None) };
            if t.table.status == "CREATING" {
                if t.creating_reads == 0 {
                    t.table.status = "ACTIVE".into();
                    if let Some(restore) = &mut t.table.restore {
                        restore.in_progress = false;
                    }
                } else {
                    t.creating_reads -= 1;
                }
            }
            Ok(Some(t.table.clone()))
        })
        .await
    }

    async fn create_backup(&self, scope: &Scope, table: &str, backup_name: &str) -> AwsResult<Backup> {
        let region = region_of(scope);
        self.call("CreateBackup", Lane::Now, |s| {
            let (name, region) = name_and_region(table, &region);
            let reads = s.backup_creating_reads;
            s.serial += 1;
            let serial = s.serial;
            let t = s
                .tables
                .get(&(region.clone(), name.clone()))
                .ok_or_else(|| error("CreateBackup", "TableNotFoundException", format!("Table not found: {name}")))?;
            let now = Timestamp::now();
            let arn = format!("{}/backup/{:017}-{serial:08x}", table_arn(&region, &name), now.as_millisecond());
            let backup = Backup {
                arn: arn.clone(),
                name: backup_name.to_owned(),
                state: if reads > 0 { BackupState::Creating } else { BackupState::Available },
                size_bytes: t.table.size_bytes,
                created_at: Some(now),
                source: Some(BackupSource {
                    table_name: name.clone(),
                    table_arn: t.table.arn.clone(),
                    table_id: t.table.id.clone(),
                    item_count: t.table.item_count,
                    indexes: Some((t.table.global_indexes.clone(), t.table.local_indexes.clone())),
                }),
            };
            let items = Some(t.items.clone());
            s.backups.insert(arn, BackupEntry { backup: backup.clone(), region, creating_reads: reads.saturating_sub(1), items });
            Ok(backup)
        })
        .await
    }

    async fn find_backup(&self, scope: &Scope, table: &str, backup_name: &str, since: Timestamp) -> AwsResult<Option<Backup>> {
        let region = region_of(scope);
        self.call("ListBackups", Lane::Now, |s| {
            let (name, region) = name_and_region(table, &region);
            let found = s
                .backups
                .values_mut()
                .filter(|e| e.region == region && e.backup.name == backup_name)
                .filter(|e| e.backup.source.as_ref().is_some_and(|src| src.table_name == name))
                .filter(|e| e.backup.created_at.is_none_or(|at| at >= since))
                .max_by_key(|e| e.backup.created_at)
                .map(read_backup);
            Ok(found)
        })
        .await
    }

    async fn list_backups(&self, scope: &Scope, since: Option<Timestamp>, lane: Lane) -> AwsResult<Vec<Backup>> {
        let region = region_of(scope);
        self.call("ListBackups", lane, |s| {
            Ok(s.backups
                .values_mut()
                .filter(|e| e.region == region)
                .filter(|e| since.is_none_or(|since| e.backup.created_at.is_none_or(|at| at >= since)))
                .map(read_backup)
                .collect())
        })
        .await
    }

    async fn describe_backup(&self, _scope: &Scope, backup_arn: &str) -> AwsResult<Option<Backup>> {
        self.call("DescribeBackup", Lane::Now, |s| Ok(s.backups.get_mut(backup_arn).map(read_backup))).await
    }

    async fn delete_backup(&self, _scope: &Scope, backup_arn: &str) -> AwsResult<()> {
        self.call("DeleteBackup", Lane::Now, |s| {
            if s.backups.get(backup_arn).is_some_and(|e| e.backup.state == BackupState::Creating) {
                return Err(error("DeleteBackup", "BackupInUseException", format!("backup {backup_arn} is being created")));
            }
            s.backups.remove(backup_arn);
            Ok(())
        })
        .await
    }

    async fn restore(&self, scope: &Scope, from: &RestoreFrom, target: &str, overrides: &TableOverrides) -> AwsResult<Table> {
        let region = region_of(scope);
        let operation = match from {
            RestoreFrom::Backup { .. } => "RestoreTableFromBackup",
            RestoreFrom::PointInTime { .. } => "RestoreTableToPointInTime",
        };
        self.call(operation, Lane::Now, |s| restore::restore_into(s, &region, from, target, overrides, operation)).await
    }

    async fn describe_pitr(&self, scope: &Scope, table: &str, lane: Lane) -> AwsResult<Pitr> {
        let region = region_of(scope);
        self.call("DescribeContinuousBackups", lane, |s| {
            let t = s
                .tables
                .get_mut(&(region, table.to_owned()))
                .ok_or_else(|| error("DescribeContinuousBackups", "TableNotFoundException", format!("Table not found: {table}")))?;
            if t.pitr.enabled {
                t.pitr.latest = Some(Timestamp::now() - SignedDuration::from_secs(5));
            }
            Ok(t.pitr.clone())
        })
        .await
    }

    async fn enable_pitr(&self, scope: &Scope, table: &str, recovery_period_in_days: i32) -> AwsResult<Pitr> {
        let region = region_of(scope);
        self.call("UpdateContinuousBackups", Lane::Now, |s| {
            let t = find_table(s, &region, table, "UpdateContinuousBackups")
                .map_err(|e| AwsError { code: Some("TableNotFoundException".into()), ..e })?;
            if !t.pitr.enabled {
                t.pitr = pitr_state(true, Timestamp::now());
            }
            t.pitr.recovery_period_in_days = Some(recovery_period_in_days);
            Ok(t.pitr.clone())
        })
        .await
    }

    async fn scan_items(&self, scope: &Scope, table: &str, start: Option<&ItemKey>, limit: i32) -> AwsResult<ItemsPage> {
        let region = region_of(scope);
        self.call("Scan", Lane::Now, |s| {
            let (items, next) = find_table(s, &region, table, "Scan")?.items.page(start, limit);
            let consumed = items::read_units(items.iter().map(item_size).sum());
            Ok(ItemsPage { items, consumed, next })
        })
        .await
    }

    async fn batch_get(&self, scope: &Scope, table: &str, keys: &[ItemKey]) -> AwsResult<BatchRead> {
        let region = region_of(scope);
        self.call("BatchGetItem", Lane::Now, |s| {
            let t = find_table(s, &region, table, "BatchGetItem")?;
            let items: Vec<Item> = keys.iter().filter_map(|k| t.items.get(k).cloned()).collect();
            let consumed = items.iter().map(|i| items::read_units(item_size(i))).sum();
            Ok(BatchRead { items, consumed, unprocessed: Vec::new() })
        })
        .await
    }

    async fn put_item(&self, scope: &Scope, table: &str, item: &Item, absent_key: Option<&[String]>) -> AwsResult<Put> {
        let region = region_of(scope);
        self.call("PutItem", Lane::Now, |s| {
            let t = find_table(s, &region, table, "PutItem")?;
            let key = t.items.key_of(item).ok_or_else(|| error("PutItem", "ValidationException", "the item lacks its key".into()))?;
            if absent_key.is_some() && t.items.get(&key).is_some() {
                return Ok(Put::Present);
            }
            t.items.put(item.clone());
            s.written.push((table.to_owned(), item.clone()));
            Ok(Put::Written { consumed: items::write_units(item) })
        })
        .await
    }

    async fn list_tables(&self, scope: &Scope, lane: Lane) -> AwsResult<Vec<String>> {
        let region = region_of(scope);
        self.call("ListTables", lane, |s| Ok(s.tables.keys().filter(|(r, _)| *r == region).map(|(_, name)| name.clone()).collect())).await
    }

    async fn list_tags(&self, scope: &Scope, resource_arn: &str, lane: Lane) -> AwsResult<Tags> {
        let region = region_of(scope);
        self.call("ListTagsOfResource", lane, |s| {
            let (name, region) = name_and_region(resource_arn, &region);
            Ok(find_table(s, &region, &name, "ListTagsOfResource")?.tags.clone())
        })
        .await
    }

    async fn tag(&self, scope: &Scope, resource_arn: &str, tags: &Tags) -> AwsResult<()> {
        let region = region_of(scope);
        self.call("TagResource", Lane::Now, |s| {
            let (name, region) = name_and_region(resource_arn, &region);
            find_table(s, &region, &name, "TagResource")?.tags.extend(tags.clone());
            Ok(())
        })
        .await
    }

    async fn set_deletion_protection(&self, scope: &Scope, table: &str, enabled: bool) -> AwsResult<()> {
        let region = region_of(scope);
        self.call("UpdateTable", Lane::Now, |s| {
            find_table(s, &region, table, "UpdateTable")?.table.deletion_protection = Some(enabled);
            Ok(())
        })
        .await
    }

    async fn time_to_live(&self, scope: &Scope, table: &str) -> AwsResult<Option<String>> {
        let region = region_of(scope);
        self.call("DescribeTimeToLive", Lane::Now, |s| Ok(find_table(s, &region, table, "DescribeTimeToLive")?.ttl.clone())).await
    }

    async fn enable_time_to_live(&self, scope: &Scope, table: &str, attribute: &str) -> AwsResult<()> {
        let region = region_of(scope);
        self.call("UpdateTimeToLive", Lane::Now, |s| {
            find_table(s, &region, table, "UpdateTimeToLive")?.ttl = Some(attribute.to_owned());
            Ok(())
        })
        .await
    }

    async fn delete_table(&self, scope: &Scope, table: &str) -> AwsResult<()> {
        let region = region_of(scope);
        self.call("DeleteTable", Lane::Now, |s| {
            if s.tables.get(&(region.clone(), table.to_owned())).is_some_and(|t| t.table.deletion_protection == Some(true)) {
                return Err(error("DeleteTable", "ValidationException", format!("table {table} has deletion protection")));
            }
            s.tables.remove(&(region, table.to_owned()));
            Ok(())
        })
        .await
    }

    async fn count_page(&self, scope: &Scope, table: &str, start: Option<&ItemKey>, limit: i32) -> AwsResult<CountPage> {
        let region = region_of(scope);
        self.call("Scan", Lane::Now, |s| {
            let t = find_table(s, &region, table, "Scan")?;
            let (page, next) = t.items.page(start, limit);
            Ok(CountPage { count: page.len() as i64, consumed: 0.5, next })
        })
        .await
    }

    async fn item_exists(&self, scope: &Scope, table: &str, key: &ItemKey) -> AwsResult<bool> {
        let region = region_of(scope);
        self.call("GetItem", Lane::Now, |s| Ok(find_table(s, &region, table, "GetItem")?.items.get(key).is_some())).await
    }

    async fn enable_stream(&self, scope: &Scope, table: &str, view_type: &str) -> AwsResult<()> {
        let region = region_of(scope);
        self.call("UpdateTable", Lane::Now, |s| {
            let t = find_table(s, &region, table, "UpdateTable")?;
            if t.table.stream_view_type.is_some() {
                return Err(error("UpdateTable", "ValidationException", format!("Table already has an enabled stream: {table}")));
            }
            t.table.stream_view_type = Some(view_type.to_owned());
            Ok(())
        })
        .await
    }

    async fn resource_policy(&self, scope: &Scope, resource_arn: &str) -> AwsResult<Option<String>> {
        let region = region_of(scope);
        self.call("GetResourcePolicy", Lane::Now, |s| {
            let (name, region) = name_and_region(resource_arn, &region);
            find_table(s, &region, &name, "GetResourcePolicy")?;
            Ok(s.resource_policies.get(resource_arn).cloned())
        })
        .await
    }

    async fn put_resource_policy(&self, scope: &Scope, resource_arn: &str, policy: &str) -> AwsResult<()> {
        let region = region_of(scope);
        self.call("PutResourcePolicy", Lane::Now, |s| {
            let (name, region) = name_and_region(resource_arn, &region);
            find_table(s, &region, &name, "PutResourcePolicy")?;
            s.resource_policies.insert(resource_arn.to_owned(), policy.to_owned());
            Ok(())
        })
        .await
    }
}

/// Waits (real time, at most 3 s) until `done` holds; the caches' tasks run meanwhile.
pub async fn until(done: impl Fn() -> bool) {
    for _ in 0..300 {
        if done() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("not within 3 s");
}
