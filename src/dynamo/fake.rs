//! An in-memory DynamoDB port for the state-machine tests of the caches: tables with PITR, the
//! backups ListBackups shows, and a count of every call by operation. What the caches never call
//! answers an error.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use jiff::Timestamp;

use super::DynamoPort;
use crate::api::facts::{Backup, CountPage, ItemKey, Pitr, RestoreFrom, Scope, Table, TableOverrides, Tags};
use crate::aws::{AwsError, AwsResult, ErrorClass, Lane, Service};

#[derive(Default)]
pub struct FakeDynamo {
    /// Table name -> PITR on.
    pub tables: Mutex<HashMap<String, bool>>,
    /// What ListBackups answers (whatever its time bound).
    pub backups: Mutex<Vec<Backup>>,
    pub calls: Mutex<Vec<(&'static str, Lane)>>,
}

impl FakeDynamo {
    pub fn with_tables(tables: &[(&str, bool)]) -> Arc<Self> {
        let fake = Self::default();
        fake.tables.lock().unwrap().extend(tables.iter().map(|(t, on)| ((*t).to_owned(), *on)));
        Arc::new(fake)
    }

    pub fn count(&self, operation: &str) -> usize {
        self.calls.lock().unwrap().iter().filter(|(op, _)| *op == operation).count()
    }

    fn record(&self, operation: &'static str, lane: Lane) {
        self.calls.lock().unwrap().push((operation, lane));
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

fn unsupported<T>(operation: &'static str) -> AwsResult<T> {
    Err(AwsError {
        service: Service::DynamoDB,
        operation,
        code: Some("Unsupported".into()),
        message: "not in the fake".into(),
        class: ErrorClass::Terminal,
    })
}

#[async_trait]
impl DynamoPort for FakeDynamo {
    async fn describe_table(&self, _: &Scope, table: &str) -> AwsResult<Option<Table>> {
        self.record("DescribeTable", Lane::Now);
        Ok(self.tables.lock().unwrap().contains_key(table).then(|| Table {
            name: table.to_owned(),
            arn: Some(format!("arn:aws:dynamodb:eu-west-1:123456789012:table/{table}")),
            id: None,
            status: "ACTIVE".into(),
            item_count: None,
            size_bytes: None,
            created_at: None,
            global_indexes: Vec::new(),
            local_indexes: Vec::new(),
            restore: None,
            deletion_protection: None,
        }))
    }

    async fn create_backup(&self, _: &Scope, _: &str, _: &str) -> AwsResult<Backup> {
        unsupported("CreateBackup")
    }

    async fn find_backup(&self, _: &Scope, _: &str, _: &str, _: Timestamp) -> AwsResult<Option<Backup>> {
        unsupported("ListBackups")
    }

    async fn list_backups(&self, _: &Scope, _: Option<Timestamp>, lane: Lane) -> AwsResult<Vec<Backup>> {
        self.record("ListBackups", lane);
        Ok(self.backups.lock().unwrap().clone())
    }

    async fn describe_backup(&self, _: &Scope, _: &str) -> AwsResult<Option<Backup>> {
        unsupported("DescribeBackup")
    }

    async fn delete_backup(&self, _: &Scope, _: &str) -> AwsResult<()> {
        unsupported("DeleteBackup")
    }

    async fn restore(&self, _: &Scope, _: &RestoreFrom, _: &str, _: &TableOverrides) -> AwsResult<Table> {
        unsupported("Restore")
    }

    async fn describe_pitr(&self, _: &Scope, table: &str, lane: Lane) -> AwsResult<Pitr> {
        self.record("DescribeContinuousBackups", lane);
        match self.tables.lock().unwrap().get(table) {
            Some(on) => Ok(Pitr { enabled: *on, recovery_period_in_days: on.then_some(35), earliest: None, latest: None }),
            None => Err(AwsError {
                service: Service::DynamoDB,
                operation: "DescribeContinuousBackups",
                code: Some("TableNotFoundException".into()),
                message: format!("{table} not found"),
                class: ErrorClass::Terminal,
            }),
        }
    }

    async fn enable_pitr(&self, _: &Scope, _: &str, _: i32) -> AwsResult<Pitr> {
        unsupported("UpdateContinuousBackups")
    }

    async fn list_tables(&self, _: &Scope, _: Lane) -> AwsResult<Vec<String>> {
        unsupported("ListTables")
    }

    async fn list_tags(&self, _: &Scope, _: &str, _: Lane) -> AwsResult<Tags> {
        unsupported("ListTagsOfResource")
    }

    async fn tag(&self, _: &Scope, _: &str, _: &Tags) -> AwsResult<()> {
        unsupported("TagResource")
    }

    async fn set_deletion_protection(&self, _: &Scope, _: &str, _: bool) -> AwsResult<()> {
        unsupported("UpdateTable")
    }

    async fn time_to_live(&self, _: &Scope, _: &str) -> AwsResult<Option<String>> {
        unsupported("DescribeTimeToLive")
    }

    async fn enable_time_to_live(&self, _: &Scope, _: &str, _: &str) -> AwsResult<()> {
        unsupported("UpdateTimeToLive")
    }

    async fn delete_table(&self, _: &Scope, _: &str) -> AwsResult<()> {
        unsupported("DeleteTable")
    }

    async fn count_page(&self, _: &Scope, _: &str, _: Option<&ItemKey>, _: i32) -> AwsResult<CountPage> {
        unsupported("Scan")
    }

    async fn item_exists(&self, _: &Scope, _: &str, _: &ItemKey) -> AwsResult<bool> {
        unsupported("GetItem")
    }
}
