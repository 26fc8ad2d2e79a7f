//! The workloads policies follow for pre-rollout snapshots, from metadata watches.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::Mutex,
};

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::{
    api::apps::v1::{Deployment, StatefulSet},
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kube::{
    Api,
    api::PartialObjectMeta,
    runtime::{
        WatchStreamExt, predicates,
        reflector::{self, Store},
        watcher,
    },
};

use super::slim::slim;
use crate::{api::WorkloadKind, plan::rollout::template_hash};

/// The Deployments and StatefulSets of the namespaces that have a policy with `preRollout`:
/// their metadata from watches (names, labels, generation; no pod templates over the wire), and
/// each selected workload's pod-template hash, read with one GET per new generation. Never a
/// LIST of full workloads.
pub struct WorkloadCache {
    client: kube::Client,
    namespaces: Mutex<HashMap<String, WorkloadWatch>>,
    /// (kind, namespace, name) -> (generation, pod-template hash).
    hashes: Mutex<HashMap<WorkloadKey, (Option<i64>, String)>>,
}

struct WorkloadWatch {
    deployments: Store<PartialObjectMeta<Deployment>>,
    statefulsets: Store<PartialObjectMeta<StatefulSet>>,
    task: tokio::task::JoinHandle<()>,
}

/// A workload by kind, namespace and name.
type WorkloadKey = (WorkloadKind, String, String);

/// A workload's metadata change, for the policies that follow it.
pub type WorkloadChange = (WorkloadKind, ObjectMeta);

/// A workload as its metadata watch shows it: kind, name, labels, generation.
pub type WorkloadSeen = (WorkloadKind, String, BTreeMap<String, String>, Option<i64>);

/// What the policies read of workloads: the seam the in-memory tests fill without watches.
#[async_trait]
pub trait Workloads: Send + Sync {
    /// Watches the workloads of `namespace` from now on (once); `changed` hears of every
    /// generation change.
    fn watch(&self, namespace: &str, changed: Box<dyn Fn(WorkloadChange) + Send + Sync>);

    /// Stops watching the namespaces not in `wanted`.
    fn retain(&self, wanted: &BTreeSet<String>);

    /// The workloads of a watched namespace (None: not watched, or not listed yet).
    async fn workloads(&self, namespace: &str) -> Option<Vec<WorkloadSeen>>;

    /// The pod template's hash of one workload at `generation` (None: it is gone).
    async fn template_hash(
        &self,
        kind: WorkloadKind,
        namespace: &str,
        name: &str,
        generation: Option<i64>,
    ) -> Result<Option<String>, kube::Error>;
}

impl WorkloadCache {
    pub fn new(client: kube::Client) -> Self {
        Self { client, namespaces: Mutex::default(), hashes: Mutex::default() }
    }
}

#[async_trait]
impl Workloads for WorkloadCache {
    fn watch(&self, namespace: &str, changed: Box<dyn Fn(WorkloadChange) + Send + Sync>) {
        let mut namespaces = self.namespaces.lock().unwrap_or_else(|p| p.into_inner());
        if namespaces.contains_key(namespace) {
            return;
        }
        tracing::info!(namespace, "watching Deployments and StatefulSets for preRollout");
        let (deployments, deployments_writer) = reflector::store();
        let (statefulsets, statefulsets_writer) = reflector::store();
        let config = watcher::Config::default();
        let d = watcher(Api::<PartialObjectMeta<Deployment>>::namespaced(self.client.clone(), namespace), config.clone())
            .default_backoff()
            .modify(slim)
            .reflect(deployments_writer)
            .applied_objects()
            .predicate_filter(predicates::generation, Default::default())
            .map_ok(|d| (WorkloadKind::Deployment, d.metadata));
        let s = watcher(Api::<PartialObjectMeta<StatefulSet>>::namespaced(self.client.clone(), namespace), config)
            .default_backoff()
            .modify(slim)
            .reflect(statefulsets_writer)
            .applied_objects()
            .predicate_filter(predicates::generation, Default::default())
            .map_ok(|s| (WorkloadKind::StatefulSet, s.metadata));
        let owned = namespace.to_owned();
        let task = tokio::spawn(async move {
            let mut changes = futures::stream::select(d.boxed(), s.boxed());
            while let Some(change) = changes.next().await {
                match change {
                    Ok(change) => changed(change),
                    // The watcher backs off and resumes by itself.
                    Err(err) => tracing::warn!(namespace = owned, error = %err, "watching workloads"),
                }
            }
        });
        namespaces.insert(namespace.to_owned(), WorkloadWatch { deployments, statefulsets, task });
    }

    /// Stops watching the namespaces not in `wanted`.
    fn retain(&self, wanted: &BTreeSet<String>) {
        let mut namespaces = self.namespaces.lock().unwrap_or_else(|p| p.into_inner());
        namespaces.retain(|namespace, watch| {
            let keep = wanted.contains(namespace);
            if !keep {
                watch.task.abort();
                tracing::info!(namespace, "no policy with preRollout left; stopped watching workloads");
            }
            keep
        });
        let mut hashes = self.hashes.lock().unwrap_or_else(|p| p.into_inner());
        hashes.retain(|(_, namespace, _), _| wanted.contains(namespace));
    }

    /// The workloads of `namespace` as (kind, name, labels, generation), once its watches have
    /// listed them; None while they have not.
    async fn workloads(&self, namespace: &str) -> Option<Vec<WorkloadSeen>> {
        let (deployments, statefulsets) = {
            let namespaces = self.namespaces.lock().unwrap_or_else(|p| p.into_inner());
            let watch = namespaces.get(namespace)?;
            (watch.deployments.clone(), watch.statefulsets.clone())
        };
        let within = std::time::Duration::from_secs(10);
        let (d, s) = tokio::join!(super::listed_within(&deployments, within), super::listed_within(&statefulsets, within));
        if (d, s) != (super::Listed::Yes, super::Listed::Yes) {
            return None;
        }
        let meta = |kind, m: &ObjectMeta| (kind, m.name.clone().unwrap_or_default(), m.labels.clone().unwrap_or_default(), m.generation);
        let mut all: Vec<_> = deployments.state().iter().map(|d| meta(WorkloadKind::Deployment, &d.metadata)).collect();
        all.extend(statefulsets.state().iter().map(|s| meta(WorkloadKind::StatefulSet, &s.metadata)));
        Some(all)
    }

    /// The pod-template hash of a workload at `generation`: from memory, else one GET. None
    /// when the workload is gone.
    async fn template_hash(
        &self,
        kind: WorkloadKind,
        namespace: &str,
        name: &str,
        generation: Option<i64>,
    ) -> Result<Option<String>, kube::Error> {
        let key = (kind, namespace.to_owned(), name.to_owned());
        if let Some((seen, hash)) = self.hashes.lock().unwrap_or_else(|p| p.into_inner()).get(&key)
            && *seen == generation
        {
            return Ok(Some(hash.clone()));
        }
        let (template, generation) = match kind {
            WorkloadKind::Deployment => {
                let Some(d) = Api::<Deployment>::namespaced(self.client.clone(), namespace).get_opt(name).await? else { return Ok(None) };
                (serde_json::to_value(d.spec.as_ref().map(|s| &s.template)).unwrap_or_default(), d.metadata.generation)
            }
            WorkloadKind::StatefulSet => {
                let Some(s) = Api::<StatefulSet>::namespaced(self.client.clone(), namespace).get_opt(name).await? else { return Ok(None) };
                (serde_json::to_value(s.spec.as_ref().map(|s| &s.template)).unwrap_or_default(), s.metadata.generation)
            }
        };
        let hash = template_hash(&template);
        self.hashes.lock().unwrap_or_else(|p| p.into_inner()).insert(key, (generation, hash.clone()));
        Ok(Some(hash))
    }
}
