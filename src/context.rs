//! The one Context every reconcile shares.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use kube::{
    Resource,
    runtime::{events::Recorder, reflector::ObjectRef},
};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use crate::{
    api::{DynamoBackup, DynamoBackupPolicy},
    caches::{BackupCache, WorkloadCache},
    dynamo::{DynamoPort, Inventory, PitrCache},
    metrics::Metrics,
    plan::tenancy::Tenancy,
};

/// The field manager of every status write, and the controller name in events.
pub const FIELD_MANAGER: &str = "dynamo-backup-operator";

pub struct Context {
    pub client: kube::Client,
    pub dynamo: Arc<dyn DynamoPort>,
    pub metrics: Arc<Metrics>,
    pub tenancy: Tenancy,
    pub recorder: Recorder,
    /// The namespaces watched; empty means all.
    pub namespaces: Vec<String>,
    /// The region used when an object names none, for messages.
    pub default_region: Option<String>,
    pub concurrency: u16,
    pub failures: Failures,
    /// What ListBackups pages say of the backups the DynamoBackups follow.
    pub inventory: Inventory<ObjectRef<DynamoBackup>>,
    /// Each protected table's existence and PITR, read once per interval for all its policies.
    pub pitr: PitrCache<ObjectRef<DynamoBackupPolicy>>,
    /// The DynamoBackups, by the policy that made them.
    pub backups: BackupCache,
    /// The workloads policies follow for pre-rollout snapshots.
    pub workloads: WorkloadCache,
    /// Reconciles started from outside the watches: AWS observations, children's changes.
    pub wake_backups: Arc<Wakers<DynamoBackup>>,
    pub wake_policies: Arc<Wakers<DynamoBackupPolicy>>,
}

impl Context {
    pub fn region_label<'a>(&'a self, region: Option<&'a str>) -> &'a str {
        region.or(self.default_region.as_deref()).unwrap_or("the default region")
    }
}

/// Consecutive failures per object, for exponential backoff in `error_policy`.
#[derive(Default)]
pub struct Failures(Mutex<HashMap<String, u32>>);

impl Failures {
    pub fn record<K: Resource<DynamicType = ()>>(&self, obj: &K) -> u32 {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(ObjectRef::from_obj(obj).to_string()).or_insert(0);
        *n += 1;
        *n
    }

    pub fn reset<K: Resource<DynamicType = ()>>(&self, obj: &K) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&ObjectRef::from_obj(obj).to_string());
    }
}

/// Wakes the reconcile of an object from outside its watch (an AWS observation, a child's
/// change): each controller subscribes for its namespace (None: all namespaces).
pub struct Wakers<K: Resource<DynamicType = ()>> {
    subscribers: Mutex<Vec<Subscriber<K>>>,
}

/// A controller's namespace (None: all) and where its wake-ups go.
type Subscriber<K> = (Option<String>, UnboundedSender<ObjectRef<K>>);

impl<K: Resource<DynamicType = ()>> Default for Wakers<K> {
    fn default() -> Self {
        Self { subscribers: Mutex::new(Vec::new()) }
    }
}

impl<K: Resource<DynamicType = ()>> Wakers<K> {
    pub fn subscribe(&self, namespace: Option<String>) -> UnboundedReceiver<ObjectRef<K>> {
        let (tx, rx) = unbounded_channel();
        self.subscribers.lock().unwrap_or_else(|p| p.into_inner()).push((namespace, tx));
        rx
    }

    pub fn wake(&self, obj: &ObjectRef<K>) {
        let mut subscribers = self.subscribers.lock().unwrap_or_else(|p| p.into_inner());
        subscribers.retain(|(_, tx)| !tx.is_closed());
        for (namespace, tx) in subscribers.iter() {
            if namespace.is_none() || *namespace == obj.namespace {
                let _ = tx.send(obj.clone());
            }
        }
    }
}
