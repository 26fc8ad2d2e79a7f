//! The one Context every reconcile shares.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use kube::{Resource, runtime::reflector::ObjectRef};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use crate::api::facts::Scope;
use crate::{
    api::{BackupMethod, BackupPhase, DynamoBackup, DynamoBackupPolicy, DynamoRestore},
    caches::{ChildCache, Workloads},
    cluster::Cluster,
    dynamo::{DynamoPort, Inventory, PitrCache, TableDiscovery},
    events::EventRecorder,
    metrics::Metrics,
    plan::tenancy::Tenancy,
};

pub use crate::cluster::FIELD_MANAGER;

pub struct Context {
    /// For the watches; every write of a reconcile goes through `cluster`.
    pub client: kube::Client,
    /// The apiserver writes the controllers make (status, finalizers, children, events).
    pub cluster: Arc<dyn Cluster>,
    pub dynamo: Arc<dyn DynamoPort>,
    /// AWS Backup: recovery points of AWSBackup snapshots, their copies and restores.
    pub aws_backup: Arc<dyn crate::awsbackup::AwsBackupPort>,
    /// Application Auto Scaling: the scalable targets and policies a restored table gets.
    pub auto_scaling: Arc<dyn crate::autoscaling::AutoScalingPort>,
    pub metrics: Arc<Metrics>,
    pub tenancy: Tenancy,
    pub recorder: EventRecorder,
    /// The namespaces watched; empty means all.
    pub namespaces: Vec<String>,
    /// The region used when an object names none, for messages.
    pub default_region: Option<String>,
    pub concurrency: u16,
    pub failures: Failures,
    /// What a reconcile reads once, as `now`.
    pub clock: Clock,
    /// Which AWS account a scope's calls go to (its tenant role's, or the operator's own).
    pub accounts: crate::aws::Accounts,
    /// What ListBackups pages say of the backups the DynamoBackups follow.
    pub inventory: Inventory<ObjectRef<DynamoBackup>>,
    /// Each protected table's existence and PITR, read once per interval for all its policies.
    pub pitr: PitrCache<ObjectRef<DynamoBackupPolicy>>,
    /// The tables of each region policies select from, with their tags when asked.
    pub discovery: TableDiscovery<ObjectRef<DynamoBackupPolicy>>,
    /// The DynamoBackups, by the policy that made them.
    pub backups: ChildCache<DynamoBackup>,
    /// The DynamoRestores, by the policy whose drills made them.
    pub restores: ChildCache<DynamoRestore>,
    /// The workloads policies follow for pre-rollout snapshots.
    pub workloads: Arc<dyn Workloads>,
    /// Reconciles started from outside the watches: AWS observations, children's changes.
    pub wake_backups: Arc<Wakers<DynamoBackup>>,
    pub wake_policies: Arc<Wakers<DynamoBackupPolicy>>,
}

/// What a Context is made of; the caches and wake-ups between them are made by `assemble`.
pub struct Parts {
    pub client: kube::Client,
    pub cluster: Arc<dyn Cluster>,
    pub dynamo: Arc<dyn DynamoPort>,
    pub aws_backup: Arc<dyn crate::awsbackup::AwsBackupPort>,
    pub auto_scaling: Arc<dyn crate::autoscaling::AutoScalingPort>,
    pub workloads: Arc<dyn Workloads>,
    pub metrics: Arc<Metrics>,
    pub tenancy: Tenancy,
    pub namespaces: Vec<String>,
    pub default_region: Option<String>,
    pub concurrency: u16,
    /// How often the inventory lists every backup of a scope.
    pub backup_resync: Duration,
    /// How often each protected table's PITR is read.
    pub pitr_refresh: Duration,
    /// How often each region's tables are listed for selectors.
    pub table_discovery: Duration,
    /// Events go out through it: queued in the operator, inline in the in-memory tests.
    pub recorder: EventRecorder,
    pub clock: Clock,
    pub accounts: crate::aws::Accounts,
}

impl Context {
    /// The Context of one process: the shared caches over the DynamoDB port, each waking the
    /// reconciles its observations concern.
    pub fn assemble(parts: Parts) -> Arc<Context> {
        let Parts {
            client,
            cluster,
            dynamo,
            aws_backup,
            auto_scaling,
            workloads,
            metrics,
            tenancy,
            namespaces,
            default_region,
            concurrency,
            ..
        } = parts;
        let wake_backups: Arc<Wakers<DynamoBackup>> = Arc::new(Wakers::default());
        let wake_policies: Arc<Wakers<DynamoBackupPolicy>> = Arc::new(Wakers::default());
        let inventory = {
            let wake_backups = wake_backups.clone();
            Inventory::new(dynamo.clone(), parts.backup_resync, crate::plan::backup::creating_poll, move |b| wake_backups.wake(b))
        };
        let pitr = {
            let wake_policies = wake_policies.clone();
            PitrCache::new(dynamo.clone(), parts.pitr_refresh, move |policy| wake_policies.wake(policy))
        };
        let discovery = {
            let (wake_policies, pitr, tenancy, metrics) = (wake_policies.clone(), pitr.clone(), tenancy.clone(), metrics.clone());
            let accounts = parts.accounts.clone();
            let default_region = default_region.clone();
            TableDiscovery::new(
                dynamo.clone(),
                parts.table_discovery,
                move |policy| wake_policies.wake(policy),
                move |scope, listing| {
                    if listing.error.is_some() {
                        return;
                    }
                    let region = scope.region.as_deref();
                    let followed = pitr.followed_in(region);
                    let found = crate::plan::selector::unprotected(&listing.tables, &followed, |t| tenancy.anyone_may(t, region));
                    let label = region.or(default_region.as_deref()).unwrap_or("default");
                    metrics.unprotected.set(&accounts.label(scope.role_arn.as_deref()), label, found);
                },
            )
        };
        let ctx = Arc::new(Context {
            recorder: parts.recorder,
            workloads,
            client,
            cluster,
            dynamo,
            aws_backup,
            auto_scaling,
            inventory,
            wake_backups,
            wake_policies,
            pitr,
            discovery,
            backups: Default::default(),
            restores: Default::default(),
            metrics,
            tenancy,
            namespaces,
            default_region,
            concurrency,
            failures: Default::default(),
            clock: parts.clock,
            accounts: parts.accounts,
        });
        // Which backups should be AVAILABLE is the DynamoBackup cache's to say; the context owns
        // the inventory, so the inventory holds it weakly.
        let held = Arc::downgrade(&ctx);
        ctx.inventory.held_by(move |scope| held.upgrade().map(|ctx| ctx.held_backups(scope)).unwrap_or_default());
        ctx
    }

    /// The account `scope`'s calls go to, as a label ("" until STS has named the own one).
    pub fn account_label(&self, scope: &Scope) -> String {
        self.accounts.label(scope.role_arn.as_deref())
    }

    /// Where an object of `namespace` calls AWS: its region and its tenant's role, if any.
    pub fn scope(&self, namespace: &str, region: Option<String>) -> Scope {
        Scope { region, role_arn: self.tenancy.role_for(namespace).map(str::to_owned) }
    }

    /// The DynamoDB backups of `scope` that should be AVAILABLE, by the DynamoBackups whose
    /// cached status says so: what the inventory's resync looks for.
    pub fn held_backups(&self, scope: &Scope) -> Vec<(String, ObjectRef<DynamoBackup>)> {
        self.backups
            .all()
            .into_iter()
            .filter(|b| b.spec.method == BackupMethod::DynamoDB && b.metadata.deletion_timestamp.is_none())
            .filter_map(|b| {
                let status = b.status.as_ref().filter(|s| s.phase == Some(BackupPhase::Available))?;
                let arn = status.backup_arn.clone()?;
                let (name, namespace) = (b.meta().name.as_deref()?, b.meta().namespace.as_deref()?);
                let target = crate::plan::validate::backup(&b.spec, name, b.meta().uid.as_deref()?).ok()?;
                (self.scope(namespace, target.region) == *scope).then(|| (arn, ObjectRef::new(name).within(namespace)))
            })
            .collect()
    }

    pub fn region_label<'a>(&'a self, region: Option<&'a str>) -> &'a str {
        region.or(self.default_region.as_deref()).unwrap_or("the default region")
    }
}

/// The time as the reconciles read it: the system's, or one a test sets and moves.
#[derive(Clone, Default)]
pub struct Clock(Option<Arc<Mutex<jiff::Timestamp>>>);

impl Clock {
    /// A clock that stands at `at` until a test moves it.
    pub fn fixed(at: jiff::Timestamp) -> Self {
        Self(Some(Arc::new(Mutex::new(at))))
    }

    pub fn now(&self) -> jiff::Timestamp {
        match &self.0 {
            Some(at) => *at.lock().unwrap_or_else(|p| p.into_inner()),
            None => jiff::Timestamp::now(),
        }
    }

    /// Moves a fixed clock on by `by` (a system clock moves by itself).
    pub fn advance(&self, by: jiff::SignedDuration) {
        if let Some(at) = &self.0 {
            let mut at = at.lock().unwrap_or_else(|p| p.into_inner());
            *at = at.checked_add(by).unwrap_or(*at);
        }
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
