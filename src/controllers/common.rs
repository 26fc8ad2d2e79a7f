//! What every controller does the same way, through the cluster seam: status by server-side apply
//! (`StatusWriter`, `Reported`), finalizers, the children a policy creates and deletes, and events.

use std::fmt::Debug;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{Resource, ResourceExt};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::json;

use super::error::Error;
use crate::api::facts::Scope;
use crate::aws::AwsError;
use crate::{
    cluster::{self, Cluster, Target},
    context::Context,
    events::EventRecorder,
    plan::conditions::{Standing, apply_standing, stalled},
};

pub use crate::api::FINALIZER;

/// A reference to `obj` by namespace and name only. `ObjectRef::from_obj` also copies the uid
/// and resourceVersion, which comparisons ignore; in maps kept per object (thousands of
/// backups) those two strings are memory for nothing.
pub fn key_of<K: Resource<DynamicType = ()>>(obj: &K) -> kube::runtime::reflector::ObjectRef<K> {
    let key = kube::runtime::reflector::ObjectRef::new(obj.meta().name.as_deref().unwrap_or_default());
    match obj.meta().namespace.as_deref() {
        Some(namespace) => key.within(namespace),
        None => key,
    }
}

/// Writes `status` with server-side apply as the operator's field manager; with `version`, only
/// if the object is still at that resourceVersion (409 Conflict otherwise). The object's
/// resourceVersion after the write.
pub async fn apply_status<K, S>(cluster: &dyn Cluster, obj: &K, status: &S, version: Option<&str>) -> Result<Option<String>, Error>
where
    K: Resource<DynamicType = ()>,
    S: Serialize,
{
    let name = obj.meta().name.as_deref().ok_or(Error::MissingMetadata("name"))?;
    let namespace = obj.meta().namespace.as_deref().ok_or(Error::MissingMetadata("namespace"))?;
    let mut patch = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    if let Some(version) = version {
        patch["metadata"] = json!({ "resourceVersion": version });
    }
    Ok(cluster.apply_status(&Target::of::<K>(namespace, name), patch).await?)
}

/// Adds or removes the operator's finalizer, if the list is still what we read (a concurrent
/// change of it makes the write fail and the reconcile run again). When it wrote: the object's
/// resourceVersion after the write.
pub async fn set_finalizer<K>(cluster: &dyn Cluster, obj: &K, wanted: bool) -> Result<Option<String>, Error>
where
    K: Resource<DynamicType = ()>,
{
    let has = obj.finalizers().iter().any(|f| f == FINALIZER);
    if has == wanted {
        return Ok(None);
    }
    let mut finalizers: Vec<String> = obj.finalizers().iter().filter(|f| *f != FINALIZER).cloned().collect();
    if wanted {
        finalizers.push(FINALIZER.to_owned());
    }
    let name = obj.meta().name.as_deref().ok_or(Error::MissingMetadata("name"))?;
    let namespace = obj.meta().namespace.as_deref().ok_or(Error::MissingMetadata("namespace"))?;
    Ok(cluster.set_finalizers(&Target::of::<K>(namespace, name), obj.finalizers(), finalizers).await?)
}

/// Creates `obj` in `namespace`; an object of that name already there counts as done (false).
pub async fn create_once<K>(cluster: &dyn Cluster, namespace: &str, obj: &K) -> Result<bool, Error>
where
    K: Resource<DynamicType = ()> + Serialize,
{
    Ok(cluster::create(cluster, namespace, obj).await?)
}

/// Deletes the named object; one already gone counts as done (false).
pub async fn delete_once<K>(cluster: &dyn Cluster, namespace: &str, name: &str) -> Result<bool, Error>
where
    K: Resource<DynamicType = ()>,
{
    Ok(cluster.delete(&Target::of::<K>(namespace, name)).await?)
}

/// Publishes an event; a failure to publish is logged, never fails the reconcile.
pub async fn publish<K>(recorder: &EventRecorder, obj: &K, warning: bool, reason: &str, action: &str, note: String)
where
    K: Resource<DynamicType = ()>,
{
    if warning {
        tracing::warn!(reason, action, "{note}");
    } else {
        tracing::info!(reason, action, "{note}");
    }
    if let Err(err) = recorder.publish(obj.object_ref(&()), warning, reason, action, note).await {
        tracing::warn!(error = %err, reason, "cannot publish an event");
    }
}

/// A kind whose status carries kstatus conditions and a phase.
pub trait Reported: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync {
    type Status: Serialize + Default + Clone + Send;
    fn current_status(&self) -> Self::Status;
    /// Whether the object has a status at all (a new one does not).
    fn has_status(&self) -> bool;
    fn conditions(status: &mut Self::Status) -> &mut Vec<Condition>;
    fn observed_generation(status: &mut Self::Status) -> &mut Option<i64>;
    /// Sets the phase a stalled object shows.
    fn mark_stalled(status: &mut Self::Status);
}

/// `Reported` for a kind whose status has `conditions` and `observed_generation`; `$stalled` is
/// what a stalled object's status shows (its phase).
macro_rules! reported {
    ($kind:ty, $status:ty, |$s:ident| $stalled:block) => {
        impl $crate::controllers::common::Reported for $kind {
            type Status = $status;

            fn current_status(&self) -> $status {
                self.status.clone().unwrap_or_default()
            }

            fn has_status(&self) -> bool {
                self.status.is_some()
            }

            fn conditions(status: &mut $status) -> &mut Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
                &mut status.conditions
            }

            fn observed_generation(status: &mut $status) -> &mut Option<i64> {
                &mut status.observed_generation
            }

            fn mark_stalled($s: &mut $status) $stalled
        }
    };
}
pub(crate) use reported;

/// The status of one reconcile, built up as it goes and written with a standing's conditions.
pub struct StatusWriter<'a, K: Reported> {
    pub obj: &'a K,
    pub ctx: &'a Context,
    pub status: K::Status,
    /// The one reading of the clock this reconcile makes.
    pub now: jiff::Timestamp,
    /// The status as the apiserver last had it from us (or as read), to skip unchanged writes.
    written: Option<serde_json::Value>,
    /// The object's resourceVersion as read, or after this reconcile's last write.
    version: Option<String>,
}

impl<'a, K: Reported> StatusWriter<'a, K> {
    pub fn new(obj: &'a K, ctx: &'a Context) -> Self {
        let status = obj.current_status();
        let written = if obj.has_status() { serde_json::to_value(&status).ok() } else { None };
        let version = obj.meta().resource_version.clone();
        Self { obj, ctx, status, now: ctx.clock.now(), written, version }
    }

    /// This reconcile wrote the object itself (its finalizers): the resourceVersion after it.
    pub fn wrote(&mut self, version: Option<String>) {
        if version.is_some() {
            self.version = version;
        }
    }

    /// Where this object's DynamoDB calls go: `region` (None: the operator's default), with the
    /// role its namespace assumes by the tenancy file, if any.
    pub fn scope(&self, region: Option<String>) -> Scope {
        self.ctx.scope(&self.obj.namespace().unwrap_or_default(), region)
    }

    /// Writes the status with `standing`'s conditions; a status that would not change is not
    /// written (a reconcile with nothing new costs the apiserver nothing).
    pub async fn write(&mut self, standing: &Standing) -> Result<(), Error> {
        let generation = self.obj.meta().generation;
        let conditions = K::conditions(&mut self.status);
        *conditions = apply_standing(conditions, standing, generation, &Time(self.now));
        *K::observed_generation(&mut self.status) = generation;
        if self.written.as_ref().is_some_and(|written| serde_json::to_value(&self.status).ok().as_ref() == Some(written)) {
            return Ok(());
        }
        self.apply(false).await
    }

    /// Writes the status fields as they are, conditions and observedGeneration untouched: a
    /// record (such as an intent) that says nothing new about where the object stands.
    pub async fn save(&mut self) -> Result<(), Error> {
        self.apply(false).await
    }

    /// `save`, only if the object is still the version this reconcile read (or last wrote): a
    /// 409 Conflict otherwise, and the reconcile runs again on a fresher copy. For the intent
    /// written before a call that is not idempotent: a reconcile of a copy of the object older
    /// than a finished attempt (the watch cache lags behind the apiserver under load) would
    /// otherwise see no intent and make the call again.
    pub async fn save_if_current(&mut self) -> Result<(), Error> {
        self.apply(true).await
    }

    /// Applies the status as it is (`if_current`: on the version last known only) and records
    /// what the apiserver now has.
    async fn apply(&mut self, if_current: bool) -> Result<(), Error> {
        let expected = if if_current { self.version.as_deref() } else { None };
        let version = apply_status(self.ctx.cluster.as_ref(), self.obj, &self.status, expected).await?;
        self.written = serde_json::to_value(&self.status).ok();
        self.wrote(version);
        Ok(())
    }

    /// Nothing changes without a new spec or outside help; an event says why, once.
    pub async fn stalled(&mut self, reason: &str, message: String) -> Result<kube::runtime::controller::Action, Error> {
        let already = stalled(K::conditions(&mut self.status)).is_some_and(|c| c.reason == reason);
        K::mark_stalled(&mut self.status);
        self.write(&Standing::Stalled { reason: reason.into(), message: message.clone() }).await?;
        if !already {
            publish(&self.ctx.recorder, self.obj, true, reason, "Reconcile", message).await;
        }
        Ok(kube::runtime::controller::Action::await_change())
    }

    /// A transient failure: say so in status (Reconciling, with the reason) and retry with backoff.
    pub async fn retrying(&mut self, err: AwsError) -> Error {
        let reason = err.code.clone().unwrap_or_else(|| "AwsUnavailable".into()).trim_end_matches("Exception").to_owned();
        let standing = Standing::Reconciling { reason, message: format!("will retry: {err}") };
        if let Err(status_err) = self.write(&standing).await {
            tracing::warn!(error = %status_err, "cannot report a retry in status");
        }
        Error::Aws(err)
    }
}
