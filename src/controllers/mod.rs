//! The controllers, one folder per kind (`backup`, `restore`, `policy`), and how they run: one
//! watch per watched namespace (or one for all), reconciles filtered to spec changes, bounded
//! concurrency, backoff on errors, metrics for every reconcile. `common` is what they share,
//! `error` their one error type, `testkit` the in-memory world their tests run in.

pub mod backup;
mod common;
mod error;
pub mod policy;
pub mod restore;
#[cfg(test)]
pub(crate) mod testkit;

use std::{
    fmt::Debug,
    sync::Arc,
    time::{Duration, Instant},
};

use futures::{StreamExt, future::join_all};
use kube::{
    Api, Resource,
    runtime::{
        Controller, WatchStreamExt,
        controller::{self, Action},
        predicates, reflector,
        reflector::ObjectRef,
        watcher,
    },
};
use serde::de::DeserializeOwned;
use tracing::Instrument;

pub use common::FINALIZER;
pub use error::Error;

use crate::{
    api::{DynamoBackup, DynamoBackupPolicy, DynamoRestore, RestorePhase},
    caches::{Child, ChildCache},
    context::Context,
    metrics::{ErrorLabels, KindLabels},
};

/// Runs every controller until `stop` turns true; reconciles in flight finish first.
pub async fn run(ctx: Arc<Context>, stop: tokio::sync::watch::Receiver<bool>) {
    let backups = watch::<DynamoBackup, _, _>(ctx.clone(), backup::KIND, backup::reconcile, stop.clone(), backup::wake_on_observations);
    let restores = watch::<DynamoRestore, _, _>(ctx.clone(), restore::KIND, restore::reconcile, stop.clone(), |c, _, _| c);
    let policies = watch::<DynamoBackupPolicy, _, _>(ctx.clone(), policy::KIND, policy::reconcile, stop.clone(), policy::extend);
    futures::join!(backups, restores, policies);
}

fn stopped(stop: &tokio::sync::watch::Receiver<bool>) -> impl Future<Output = ()> + Send + Sync + 'static {
    let mut stop = stop.clone();
    async move {
        let _ = stop.wait_for(|stop| *stop).await;
    }
}

/// One Api per watched namespace (None: all namespaces).
fn apis<K>(ctx: &Context) -> Vec<(Option<String>, Api<K>)>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
{
    if ctx.namespaces.is_empty() {
        vec![(None, Api::all(ctx.client.clone()))]
    } else {
        ctx.namespaces.iter().map(|ns| (Some(ns.clone()), Api::namespaced(ctx.client.clone(), ns))).collect()
    }
}

/// How a kind's watch events become reconciles.
pub trait Watched: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + Sync + 'static {
    /// The object's kstatus conditions (none before its first status).
    fn conditions(&self) -> &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition];

    /// The reconcile triggers from the watch's events (already in `store`): by default spec
    /// changes (and the start of a deletion) only, so status writes do not count.
    fn triggers(
        events: impl futures::Stream<Item = Result<watcher::Event<Self>, watcher::Error>> + Send + 'static,
        _store: reflector::Store<Self>,
        _ctx: &Arc<Context>,
    ) -> futures::stream::BoxStream<'static, Result<Self, watcher::Error>> {
        events.applied_objects().predicate_filter(predicates::generation, Default::default()).boxed()
    }
}

/// `Watched::conditions` of a kind whose status carries `conditions`.
macro_rules! status_conditions {
    () => {
        fn conditions(&self) -> &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition] {
            self.status.as_ref().map(|s| s.conditions.as_slice()).unwrap_or_default()
        }
    };
}

impl Watched for DynamoBackupPolicy {
    status_conditions!();
}

/// The one watch of DynamoBackups feeds three readers: the cache policies read their children
/// from, the DynamoBackup controller (spec changes), and the policies (a child appeared,
/// changed phase or went away), woken instead of polling.
impl Watched for DynamoBackup {
    status_conditions!();

    fn triggers(
        events: impl futures::Stream<Item = Result<watcher::Event<Self>, watcher::Error>> + Send + 'static,
        store: reflector::Store<Self>,
        ctx: &Arc<Context>,
    ) -> futures::stream::BoxStream<'static, Result<Self, watcher::Error>> {
        follow_children(events, store, ctx, |ctx| &ctx.backups)
    }
}

/// The same for DynamoRestores: a drill's progress wakes the policy that started it.
impl Watched for DynamoRestore {
    status_conditions!();

    fn triggers(
        events: impl futures::Stream<Item = Result<watcher::Event<Self>, watcher::Error>> + Send + 'static,
        store: reflector::Store<Self>,
        ctx: &Arc<Context>,
    ) -> futures::stream::BoxStream<'static, Result<Self, watcher::Error>> {
        // A restore that finished (or went) no longer holds its backup against retention: the
        // policy that made the backup is told.
        let woken = ctx.clone();
        let events = events.inspect(move |event| {
            let restore = match event {
                Ok(watcher::Event::Delete(r)) => r,
                Ok(watcher::Event::Apply(r))
                    if matches!(r.status.as_ref().and_then(|s| s.phase), Some(RestorePhase::Completed | RestorePhase::Failed)) =>
                {
                    r
                }
                _ => return,
            };
            let (Some(namespace), Some(source)) = (restore.metadata.namespace.as_deref(), restore.spec.source.backup_ref.as_ref()) else {
                return;
            };
            if let Some(policy) = woken.backups.policy_of_child(namespace, &source.name) {
                woken.wake_policies.wake(&ObjectRef::new(&policy).within(namespace));
            }
        });
        follow_children(events, store, ctx, |ctx| &ctx.restores)
    }
}

/// Files every event of a kind policies make in its cache, wakes the policy a change concerns,
/// and passes on the events that start the object's own reconcile (spec changes, deletion).
fn follow_children<K: Watched + Child>(
    events: impl futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
    store: reflector::Store<K>,
    ctx: &Arc<Context>,
    cache: fn(&Context) -> &ChildCache<K>,
) -> futures::stream::BoxStream<'static, Result<K, watcher::Error>> {
    cache(ctx).add_store(store);
    let ctx = ctx.clone();
    let mut seen = crate::caches::Digests::new();
    events
        .filter_map(move |event| {
            let out: Option<Result<K, watcher::Error>> = match event {
                Err(err) => Some(Err(err)),
                Ok(event) => {
                    let mut reconcile = None;
                    for followed in cache(&ctx).follow(&event, &mut seen) {
                        if let Some((namespace, policy)) = followed.wake_policy {
                            ctx.wake_policies.wake(&ObjectRef::new(&policy).within(&namespace));
                        }
                        reconcile = reconcile.or(followed.reconcile);
                    }
                    reconcile.map(|obj| Ok(Arc::unwrap_or_clone(obj)))
                }
            };
            futures::future::ready(out)
        })
        .boxed()
}

/// How often a watch that has not listed yet says so.
const LIST_WARNING_EVERY: Duration = Duration::from_secs(15);

/// Adds further triggers to a controller: (controller, its namespace, its cache) -> controller.
pub type Extend<K> = fn(Controller<K>, Option<&str>, &Arc<Context>) -> Controller<K>;

/// One controller per watched namespace for kind `K`, reconciled by `reconcile`.
async fn watch<K, F, Fut>(ctx: Arc<Context>, kind: &'static str, reconcile: F, stop: tokio::sync::watch::Receiver<bool>, extend: Extend<K>)
where
    K: Watched + Resource<Scope = k8s_openapi::NamespaceResourceScope> + DeserializeOwned,
    F: Fn(Arc<K>, Arc<Context>) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = Result<Action, Error>> + Send + 'static,
{
    let runs = apis::<K>(&ctx).into_iter().map(|(namespace, api)| {
        let (reader, writer) = reflector::store();
        let events = watcher(api, watcher::Config::default()).default_backoff().modify(crate::caches::slim).reflect(writer);
        // A line when the first list lands: a controller that never says it is waiting on the
        // apiserver, not on itself.
        let listed = reader.clone();
        let watched = namespace.clone().unwrap_or_else(|| "(all)".into());
        // Until then, a warning every 15 s says which watch waits, and for how long.
        tokio::spawn(async move {
            let started = Instant::now();
            loop {
                match crate::caches::listed_within(&listed, LIST_WARNING_EVERY).await {
                    crate::caches::Listed::Yes => {
                        tracing::info!(kind, namespace = %watched, objects = listed.state().len(), "watch listed");
                        return;
                    }
                    crate::caches::Listed::Never => return,
                    crate::caches::Listed::NotYet => tracing::warn!(
                        kind,
                        namespace = %watched,
                        waited_s = started.elapsed().as_secs(),
                        "the watch has not listed yet: the API server has not answered its list; nothing of this kind is \
                         reconciled until it does (see the API server's apiserver_flowcontrol_* metrics for queued or \
                         rejected requests)"
                    ),
                }
            }
        });
        // Where each object stands, for the metrics, read from this cache at scrape time.
        let cached = reader.clone();
        ctx.metrics.standings.add(kind, move || {
            cached
                .state()
                .iter()
                .map(|obj| {
                    let (state, reason) = crate::metrics::standing_of(obj.conditions());
                    (obj.meta().namespace.clone().unwrap_or_default(), obj.meta().name.clone().unwrap_or_default(), state, reason)
                })
                .collect()
        });
        // Which events start a reconcile is the kind's choice (`Watched::triggers`).
        let stream = K::triggers(events, reader.clone(), &ctx);
        let reconcile = reconcile.clone();
        // `--concurrency` reconciles work at once. The slots are ours rather than the
        // controller's: a reconcile whose AWS call waits for its operation's pace gives its slot
        // back meanwhile (`aws::held`), so waiting never holds up the reconciles that could work.
        let slots = crate::aws::held::Slots::new(usize::from(ctx.concurrency.max(1)));
        let measured = move |obj: Arc<K>, ctx: Arc<Context>| {
            let reconcile = reconcile.clone();
            let slots = slots.clone();
            // Every line logged during this reconcile carries the object and a fresh trace id.
            let span = tracing::info_span!(
                "reconcile",
                kind,
                object = %format!("{}/{}", obj.meta().namespace.as_deref().unwrap_or_default(), obj.meta().name.as_deref().unwrap_or_default()),
                trace_id = %trace_id(),
            );
            let tenant = obj.meta().namespace.clone().unwrap_or_default();
            let work = async move {
                let started = Instant::now();
                let labels = KindLabels { kind };
                ctx.metrics.reconciles.get_or_create(&labels).inc();
                let result = reconcile(obj.clone(), ctx.clone()).await;
                ctx.metrics.reconcile_duration.get_or_create(&labels).observe(started.elapsed().as_secs_f64());
                if result.is_ok() {
                    ctx.failures.reset(obj.as_ref());
                }
                result
            };
            async move { crate::aws::held::holding(&tenant, Some(slots), work).await }.instrument(span)
        };
        let controller = extend(Controller::for_stream(stream, reader), namespace.as_deref(), &ctx);
        controller
            .with_config(controller::Config::default().concurrency(0))
            .graceful_shutdown_on(stopped(&stop))
            .run(measured, move |obj, err, ctx| error_policy(kind, obj, err, ctx), ctx.clone())
            .for_each(|result| async move {
                match result {
                    Ok((obj, _)) => tracing::debug!(object = %obj, "reconciled"),
                    Err(controller::Error::ReconcilerFailed(err, obj)) => {
                        tracing::warn!(object = %obj, error = %err, "reconcile failed; will retry")
                    }
                    Err(err) => tracing::debug!(error = %err, "controller event"),
                }
            })
    });
    join_all(runs).await;
}

/// A W3C-style trace id: 32 lowercase hex digits, random per reconcile.
fn trace_id() -> String {
    format!("{:032x}", fastrand::u128(1..))
}

fn error_policy<K: Resource<DynamicType = ()>>(kind: &'static str, obj: Arc<K>, err: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.reconcile_errors.get_or_create(&ErrorLabels { kind, error: err.metric_label() }).inc();
    let attempts = ctx.failures.record(obj.as_ref());
    Action::requeue(err.retry_after(attempts))
}
