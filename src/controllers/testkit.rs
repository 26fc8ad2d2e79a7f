//! The in-memory tier of the controller tests: a "world" of an in-memory cluster, DynamoDB,
//! AWS Backup and Application Auto Scaling, and one operator process (a Context) over them, whose reconciles a test runs one
//! at a time, as the watches would, in milliseconds. `restart` gives a new process over the
//! same world (empty caches, nothing remembered), as after a crash.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use kube::{
    Resource, ResourceExt,
    runtime::{
        controller::Action,
        reflector::{self, ObjectRef, store::Writer},
        watcher,
    },
};
use serde::{Serialize, de::DeserializeOwned};
use tokio::sync::mpsc::UnboundedReceiver;

use super::error::Error;
use crate::{
    api::{DynamoBackup, DynamoBackupPolicy, DynamoRestore, facts::Scope},
    autoscaling::memory::MemoryAutoScaling,
    awsbackup::memory::MemoryAwsBackup,
    caches::{Child, ChildCache, Digests, memory::MemoryWorkloads, slim},
    cluster::memory::MemoryCluster,
    context::{Clock, Context, Parts},
    dynamo::memory::MemoryDynamo,
    faults::Tripwire,
    metrics::Metrics,
    plan::tenancy::Tenancy,
};

pub const NS: &str = "shop";

/// A kind's cache as its watch would fill it: the store's writer and the digests of `follow`.
struct Fed<K: Child> {
    writer: Writer<K>,
    seen: Digests,
    last: BTreeMap<String, K>,
}

impl<K: Child + DeserializeOwned + Resource<DynamicType = ()>> Fed<K> {
    fn new(cache: &ChildCache<K>) -> Self {
        let (store, writer) = reflector::store();
        cache.add_store(store);
        Self { writer, seen: Digests::new(), last: BTreeMap::new() }
    }

    /// Lists the cluster's objects into the store and files each change as the watch would.
    fn sync(&mut self, cluster: &MemoryCluster, cache: &ChildCache<K>) {
        let mut now: Vec<K> = cluster.all::<K>();
        now.iter_mut().for_each(slim);
        self.writer.apply_watcher_event(&watcher::Event::Init);
        for obj in &now {
            self.writer.apply_watcher_event(&watcher::Event::InitApply(obj.clone()));
        }
        self.writer.apply_watcher_event(&watcher::Event::InitDone);
        let mut current = BTreeMap::new();
        for obj in now {
            cache.follow(&watcher::Event::Apply(obj.clone()), &mut self.seen);
            current.insert(format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any()), obj);
        }
        for (key, gone) in &self.last {
            if !current.contains_key(key) {
                cache.follow(&watcher::Event::Delete(gone.clone()), &mut self.seen);
            }
        }
        self.last = current;
    }
}

pub struct World {
    pub cluster: Arc<MemoryCluster>,
    pub dynamo: Arc<MemoryDynamo>,
    pub aws_backup: Arc<MemoryAwsBackup>,
    pub auto_scaling: Arc<MemoryAutoScaling>,
    pub ctx: Arc<Context>,
    /// Counts every call the cluster, DynamoDB and AWS Backup answer; armed, it stages a crash.
    pub tripwire: Tripwire,
    /// The Deployments and StatefulSets policies follow, as a test sets them.
    pub workloads: Arc<MemoryWorkloads>,
    /// The time the reconciles read.
    pub clock: Clock,
    tenancy: Tenancy,
    backups: Mutex<Fed<DynamoBackup>>,
    restores: Mutex<Fed<DynamoRestore>>,
    woken_backups: Mutex<UnboundedReceiver<ObjectRef<DynamoBackup>>>,
    woken_policies: Mutex<UnboundedReceiver<ObjectRef<DynamoBackupPolicy>>>,
}

/// The in-memory AWS services a world's processes share.
struct Aws {
    dynamo: Arc<MemoryDynamo>,
    aws_backup: Arc<MemoryAwsBackup>,
    auto_scaling: Arc<MemoryAutoScaling>,
}

/// A client that answers nothing: the in-memory tier reaches the apiserver only through the
/// cluster seam. (A client from a Config would load TLS roots: some 18 ms a world.)
fn unreachable_client() -> kube::Client {
    let nothing = tower::service_fn(|_: http::Request<kube::client::Body>| async {
        Err::<http::Response<kube::client::Body>, _>(std::io::Error::other("no apiserver in the in-memory tier"))
    });
    kube::Client::new(nothing, NS)
}

impl World {
    /// A world on the system's clock.
    pub fn new() -> Self {
        Self::built(Tenancy::SingleTenant, Clock::default())
    }

    /// A world whose clock stands at `at` until `clock.advance` moves it.
    pub fn at(at: &str) -> Self {
        Self::built(Tenancy::SingleTenant, Clock::fixed(at.parse().unwrap_or_else(|err| panic!("test time {at:?}: {err}"))))
    }

    /// A world whose operator runs with this tenancy file.
    pub fn with_tenancy(yaml: &str) -> Self {
        Self::built(Tenancy::parse(yaml).unwrap_or_else(|err| panic!("test tenancy file: {err}")), Clock::default())
    }

    fn built(tenancy: Tenancy, clock: Clock) -> Self {
        let tripwire = Tripwire::default();
        let dynamo = MemoryDynamo::wired(tripwire.clone());
        let aws_backup = MemoryAwsBackup::new(dynamo.clone(), tripwire.clone());
        let auto_scaling = Arc::new(MemoryAutoScaling::wired(tripwire.clone()));
        let workloads = Arc::new(MemoryWorkloads::default());
        let cluster = Arc::new(MemoryCluster::wired(tripwire.clone()));
        Self::over(cluster, Aws { dynamo, aws_backup, auto_scaling }, workloads, tenancy, tripwire, clock)
    }

    fn over(
        cluster: Arc<MemoryCluster>,
        aws: Aws,
        workloads: Arc<MemoryWorkloads>,
        tenancy: Tenancy,
        tripwire: Tripwire,
        clock: Clock,
    ) -> Self {
        let Aws { dynamo, aws_backup, auto_scaling } = aws;
        let ctx = Context::assemble(Parts {
            client: unreachable_client(),
            cluster: cluster.clone(),
            dynamo: dynamo.clone(),
            aws_backup: aws_backup.clone(),
            auto_scaling: auto_scaling.clone(),
            workloads: workloads.clone(),
            metrics: Arc::new(Metrics::default()),
            tenancy: tenancy.clone(),
            namespaces: Vec::new(),
            default_region: Some(crate::dynamo::memory::DEFAULT_REGION.to_owned()),
            accounts: crate::aws::Accounts::with_own(crate::dynamo::memory::ACCOUNT),
            concurrency: 4,
            backup_resync: Duration::from_secs(3600),
            pitr_refresh: Duration::from_secs(3600),
            table_discovery: Duration::from_secs(3600),
            recorder: crate::events::EventRecorder::inline(cluster.clone(), crate::context::FIELD_MANAGER, None),
            clock: clock.clone(),
        });
        let backups = Mutex::new(Fed::new(&ctx.backups));
        let restores = Mutex::new(Fed::new(&ctx.restores));
        let woken_backups = Mutex::new(ctx.wake_backups.subscribe(None));
        let woken_policies = Mutex::new(ctx.wake_policies.subscribe(None));
        Self {
            cluster,
            dynamo,
            aws_backup,
            auto_scaling,
            ctx,
            tenancy,
            tripwire,
            workloads,
            clock,
            backups,
            restores,
            woken_backups,
            woken_policies,
        }
    }

    /// A new operator process over the same cluster and AWS: caches start empty.
    pub fn restart(&self) -> Self {
        let (tenancy, tripwire, clock) = (self.tenancy.clone(), self.tripwire.clone(), self.clock.clone());
        let aws = Aws { dynamo: self.dynamo.clone(), aws_backup: self.aws_backup.clone(), auto_scaling: self.auto_scaling.clone() };
        Self::over(self.cluster.clone(), aws, self.workloads.clone(), tenancy, tripwire, clock)
    }

    /// The watches catch up with the cluster.
    pub fn sync(&self) {
        self.backups.lock().unwrap_or_else(|p| p.into_inner()).sync(&self.cluster, &self.ctx.backups);
        self.restores.lock().unwrap_or_else(|p| p.into_inner()).sync(&self.cluster, &self.ctx.restores);
    }

    /// Creates `obj` in the test namespace as a user would.
    pub fn apply<K: Resource<DynamicType = ()> + Serialize>(&self, obj: &K) {
        self.cluster.put(NS, obj);
        self.sync();
    }

    pub fn get<K: Resource<DynamicType = ()> + DeserializeOwned>(&self, name: &str) -> K {
        self.cluster.object::<K>(NS, name).unwrap_or_else(|| panic!("{} {name} is not in the cluster", K::kind(&())))
    }

    /// One reconcile of the DynamoBackup `name` as the cluster has it now.
    pub async fn reconcile_backup(&self, name: &str) -> Result<Action, Error> {
        self.reconcile(name, super::backup::reconcile).await
    }

    /// One reconcile of this copy of a DynamoBackup, however old (a watch cache behind the
    /// apiserver hands a reconcile such a copy).
    pub async fn reconcile_backup_as(&self, copy: DynamoBackup) -> Result<Action, Error> {
        self.sync();
        let result = super::backup::reconcile(Arc::new(copy), self.ctx.clone()).await;
        self.sync();
        result
    }

    /// One reconcile of the object `name` of kind `K`, the caches caught up before and after.
    async fn reconcile<K, Fut>(&self, name: &str, reconcile: fn(Arc<K>, Arc<Context>) -> Fut) -> Result<Action, Error>
    where
        K: Resource<DynamicType = ()> + DeserializeOwned,
        Fut: Future<Output = Result<Action, Error>>,
    {
        self.sync();
        let result = reconcile(Arc::new(self.get::<K>(name)), self.ctx.clone()).await;
        self.sync();
        result
    }

    /// The names of the objects an observation woke since the last look (any kind).
    fn drain_woken(&self) -> Vec<String> {
        let mut woken = Vec::new();
        let mut backups = self.woken_backups.lock().unwrap_or_else(|p| p.into_inner());
        while let Ok(obj) = backups.try_recv() {
            woken.push(obj.name);
        }
        let mut policies = self.woken_policies.lock().unwrap_or_else(|p| p.into_inner());
        while let Ok(obj) = policies.try_recv() {
            woken.push(obj.name);
        }
        woken
    }

    /// One reconcile of the DynamoRestore `name` as the cluster has it now.
    pub async fn reconcile_restore(&self, name: &str) -> Result<Action, Error> {
        self.reconcile(name, super::restore::reconcile).await
    }

    pub async fn settle_restore(&self, name: &str) -> Option<DynamoRestore> {
        settle(self, name, |w, n| Box::pin(w.reconcile_restore(n))).await
    }

    /// The inventory's follower lists the default scope now (its creating backups, or all of
    /// them with `resync`), as it would when due.
    pub async fn list_backups_now(&self, resync: bool) {
        let _ = self.ctx.inventory.list_now(&Scope::default(), resync).await;
    }

    /// Reconciles the DynamoBackup `name` (the inventory listing between rounds) until its
    /// status stops changing; the object as it is then (None: it is gone).
    pub async fn settle_backup(&self, name: &str) -> Option<DynamoBackup> {
        settle(self, name, |w, n| Box::pin(w.reconcile_backup(n))).await
    }

    /// Reconciles every object of every kind, round after round (the inventory listing between
    /// rounds), until a round writes nothing to the cluster; at most 30 rounds.
    pub async fn settle_all(&self) {
        for _ in 0..30 {
            let before = self.cluster.writes().len();
            for name in names::<DynamoBackupPolicy>(&self.cluster) {
                let _ = self.reconcile_policy(&name).await;
            }
            for name in names::<DynamoBackup>(&self.cluster) {
                let _ = self.reconcile_backup(&name).await;
            }
            for name in names::<DynamoRestore>(&self.cluster) {
                let _ = self.reconcile_restore(&name).await;
            }
            self.list_backups_now(false).await;
            // The caches' tasks (PITR reads, table listings) run, and may wake someone.
            for _ in 0..20 {
                tokio::task::yield_now().await;
            }
            let woken = !self.drain_woken().is_empty();
            if self.cluster.writes().len() == before && !woken {
                return;
            }
        }
    }

    /// One reconcile of the DynamoBackupPolicy `name` as the cluster has it now.
    pub async fn reconcile_policy(&self, name: &str) -> Result<Action, Error> {
        self.reconcile(name, super::policy::reconcile).await
    }

    /// Runs `step` with the `n`-th call from now (to the cluster, DynamoDB or AWS Backup)
    /// taking effect and never answering, and drops the reconcile there, as a killed process
    /// stops. None when it crashed; else what `step` returned (it made fewer than `n` calls).
    pub async fn crash_at<T>(&self, n: usize, step: impl Future<Output = T>) -> Option<T> {
        self.tripwire.arm(n);
        tokio::select! {
            biased;
            out = step => Some(out),
            () = self.tripwire.tripped() => None,
        }
    }
}

fn names<K: Resource<DynamicType = ()> + DeserializeOwned>(cluster: &MemoryCluster) -> Vec<String> {
    cluster.list::<K>(NS).iter().filter_map(|o| o.meta().name.clone()).collect()
}

type Step<'a> = std::pin::Pin<Box<dyn Future<Output = Result<Action, Error>> + 'a>>;

/// Reconciles as the controller would: again after an error or a requeue (at once: time is not
/// waited for), and after `await_change` only when an observation woke the object (the
/// inventory lists between rounds). At most 40 rounds.
async fn settle<K>(world: &World, name: &str, reconcile: for<'a> fn(&'a World, &'a str) -> Step<'a>) -> Option<K>
where
    K: Resource<DynamicType = ()> + DeserializeOwned,
{
    // What the object's own watch reacts to: a new generation, the start of its deletion.
    let watched = |obj: &K| (obj.meta().generation, obj.meta().deletion_timestamp.is_some());
    for _ in 0..40 {
        let before = watched(&world.cluster.object::<K>(NS, name)?);
        let result = reconcile(world, name).await;
        world.list_backups_now(false).await;
        let woken =
            world.drain_woken().iter().any(|n| n == name) || world.cluster.object::<K>(NS, name).is_none_or(|obj| watched(&obj) != before);
        if result.is_ok_and(|action| action == Action::await_change()) && !woken {
            break;
        }
    }
    world.cluster.object::<K>(NS, name)
}
