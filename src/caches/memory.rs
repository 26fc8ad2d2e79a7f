//! Workloads for the state-machine tests, without watches: what a test says each namespace holds
//! (kind, name, labels, generation) and each workload's pod-template hash.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Mutex,
};

use async_trait::async_trait;

use super::workloads::{WorkloadChange, WorkloadSeen, Workloads};
use crate::api::WorkloadKind;

#[derive(Default)]
pub struct MemoryWorkloads {
    /// namespace -> (workload, its template hash).
    held: Mutex<BTreeMap<String, Vec<(WorkloadSeen, String)>>>,
}

impl MemoryWorkloads {
    /// `name` of `kind` in `namespace` now has `labels`, `generation` and a pod template hashed
    /// `hash` (a new hash is a rollout).
    pub fn set(&self, namespace: &str, kind: WorkloadKind, name: &str, labels: &[(&str, &str)], generation: i64, hash: &str) {
        let labels = labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let seen = (kind, name.to_owned(), labels, Some(generation));
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let list = held.entry(namespace.to_owned()).or_default();
        list.retain(|((k, n, _, _), _)| !(*k == kind && n == name));
        list.push((seen, hash.to_owned()));
    }
}

#[async_trait]
impl Workloads for MemoryWorkloads {
    fn watch(&self, _namespace: &str, _changed: Box<dyn Fn(WorkloadChange) + Send + Sync>) {}

    fn retain(&self, _wanted: &BTreeSet<String>) {}

    async fn workloads(&self, namespace: &str) -> Option<Vec<WorkloadSeen>> {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        Some(held.get(namespace).map(|list| list.iter().map(|(seen, _)| seen.clone()).collect()).unwrap_or_default())
    }

    async fn template_hash(&self, kind: WorkloadKind, namespace: &str, name: &str, _: Option<i64>) -> Result<Option<String>, kube::Error> {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let found = held.get(namespace).and_then(|list| list.iter().find(|((k, n, _, _), _)| *k == kind && n == name));
        Ok(found.map(|(_, hash)| hash.clone()))
    }
}
