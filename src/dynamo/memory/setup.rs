//! What the state-machine tests set up and look at directly, beside the port: tables, items,
//! backups, faults and how long things stay CREATING; no call is counted.

use super::*;

impl MemoryDynamo {
    /// An ACTIVE table with `items` items (keys `id` = 0..items) and PITR on or off.
    pub fn add_table(&self, region: &str, name: &str, pitr: bool, items: usize) {
        let now = Timestamp::now();
        let rows = Items::numbered(items);
        let table = Table {
            name: name.to_owned(),
            arn: Some(table_arn(region, name)),
            id: Some(format!("id-{name}")),
            status: "ACTIVE".into(),
            item_count: Some(items as i64),
            size_bytes: Some(items as i64 * 100),
            created_at: Some(now),
            global_indexes: Vec::new(),
            local_indexes: Vec::new(),
            restore: None,
            deletion_protection: Some(false),
            key_schema: vec![("id".to_owned(), KeyRole::Hash)],
            billing_mode: Some("PAY_PER_REQUEST".into()),
            stream_view_type: None,
        };
        let pitr = pitr_state(pitr, now);
        let state = TableState { table, pitr, tags: Tags::new(), ttl: None, items: rows, creating_reads: 0 };
        self.lock().tables.insert((region.to_owned(), name.to_owned()), state);
    }

    /// A table someone else's restore made (AWS Backup's): ACTIVE, with `source`'s items.
    pub fn add_copy(&self, region: &str, name: &str, source: &str) {
        let items = self.lock().tables.values().find(|t| t.table.name == source).map_or(0, |t| t.items.len());
        self.add_table(region, name, false, items);
    }

    /// Writes an item into a table now, as the application would (no call counted).
    pub fn put_now(&self, region: &str, table: &str, item: Item) {
        if let Some(t) = self.lock().tables.get_mut(&(region.to_owned(), table.to_owned())) {
            t.items.put(item);
        }
    }

    /// Deletes the items numbered `ids` (keys `id`) from a table now, as a bug would.
    pub fn delete_now(&self, region: &str, table: &str, ids: impl IntoIterator<Item = usize>) {
        if let Some(t) = self.lock().tables.get_mut(&(region.to_owned(), table.to_owned())) {
            ids.into_iter().for_each(|i| t.items.delete(&items::numbered_key(i)));
        }
    }

    /// The items PutItem wrote into `table`, in order (a key written twice shows twice).
    pub fn written(&self, table: &str) -> Vec<Item> {
        self.lock().written.iter().filter(|(t, _)| t == table).map(|(_, i)| i.clone()).collect()
    }

    /// A table's items, in scan order.
    pub fn items(&self, region: &str, table: &str) -> Vec<Item> {
        self.lock().tables.get(&(region.to_owned(), table.to_owned())).map(|t| t.items.all().to_vec()).unwrap_or_default()
    }

    /// Backups made from now on stay CREATING for `reads` reads (DescribeBackup, ListBackups).
    pub fn backups_take(&self, reads: u32) {
        self.lock().backup_creating_reads = reads;
    }

    /// Tables restored from now on stay CREATING for `reads` DescribeTable calls.
    pub fn restores_take(&self, reads: u32) {
        self.lock().restore_creating_reads = reads;
    }

    /// Every call of `operation` from now on takes `took` to answer (after taking effect).
    pub fn set_latency(&self, operation: &'static str, took: std::time::Duration) {
        self.lock().latency.insert(operation, took);
    }

    /// The next call of `operation` meets `fault` (queued after earlier ones).
    pub fn inject(&self, operation: &'static str, fault: Fault) {
        self.lock().faults.entry(operation).or_default().push_back(fault);
    }

    /// A backup as if made outside the operator (or before this test), in `region`.
    pub fn add_backup(&self, region: &str, backup: Backup) {
        self.lock().backups.insert(backup.arn.clone(), BackupEntry { backup, region: region.to_owned(), creating_reads: 0, items: None });
    }

    /// Tags a table behind the operator's back.
    pub fn tag_now(&self, region: &str, name: &str, tags: &Tags) {
        if let Some(t) = self.lock().tables.get_mut(&(region.to_owned(), name.to_owned())) {
            t.tags.extend(tags.clone());
        }
    }

    /// Deletes a table behind the operator's back.
    pub fn delete_table_now(&self, region: &str, name: &str) {
        self.lock().tables.remove(&(region.to_owned(), name.to_owned()));
    }

    /// Deletes a backup behind the operator's back.
    pub fn remove_backup(&self, arn: &str) {
        self.lock().backups.remove(arn);
    }

    pub fn backups(&self) -> Vec<Backup> {
        self.lock().backups.values().map(|e| e.backup.clone()).collect()
    }

    pub fn table(&self, region: &str, name: &str) -> Option<Table> {
        self.lock().tables.get(&(region.to_owned(), name.to_owned())).map(|t| t.table.clone())
    }

    pub fn table_names(&self) -> Vec<String> {
        self.lock().tables.keys().map(|(_, name)| name.clone()).collect()
    }

    pub fn pitr(&self, region: &str, name: &str) -> Option<Pitr> {
        self.lock().tables.get(&(region.to_owned(), name.to_owned())).map(|t| t.pitr.clone())
    }

    pub fn tags(&self, region: &str, name: &str) -> Option<Tags> {
        self.lock().tables.get(&(region.to_owned(), name.to_owned())).map(|t| t.tags.clone())
    }

    pub fn calls(&self) -> Vec<(&'static str, Lane)> {
        self.lock().calls.clone()
    }

    pub fn count(&self, operation: &str) -> usize {
        self.lock().calls.iter().filter(|(op, _)| *op == operation).count()
    }

    /// Turns a table's stream on (or off) behind the operator's back.
    pub fn set_stream_now(&self, region: &str, name: &str, view_type: Option<&str>) {
        if let Some(t) = self.lock().tables.get_mut(&(region.to_owned(), name.to_owned())) {
            t.table.stream_view_type = view_type.map(str::to_owned);
        }
    }

    /// Makes a table PROVISIONED (or PAY_PER_REQUEST) behind the operator's back.
    pub fn set_billing_now(&self, region: &str, name: &str, mode: &str) {
        if let Some(t) = self.lock().tables.get_mut(&(region.to_owned(), name.to_owned())) {
            t.table.billing_mode = Some(mode.to_owned());
        }
    }

    /// Gives a table a global secondary index behind the operator's back.
    pub fn add_index_now(&self, region: &str, name: &str, index: &str) {
        if let Some(t) = self.lock().tables.get_mut(&(region.to_owned(), name.to_owned())) {
            t.table.global_indexes.push(crate::api::facts::IndexDef {
                name: index.to_owned(),
                key_schema: vec![("id".to_owned(), KeyRole::Hash)],
                projection_type: Some("ALL".into()),
                non_key_attributes: Vec::new(),
                throughput: Some((5, 5)),
            });
        }
    }

    /// Puts a resource-based policy on a table (by ARN) behind the operator's back.
    pub fn put_policy_now(&self, arn: &str, policy: &str) {
        self.lock().resource_policies.insert(arn.to_owned(), policy.to_owned());
    }

    /// The resource-based policy of a table, by ARN.
    pub fn policy(&self, arn: &str) -> Option<String> {
        self.lock().resource_policies.get(arn).cloned()
    }
}
