//! What every controller does the same way: status by server-side apply, finalizers, events,
//! and counting failures for backoff.

use std::{
    collections::HashMap,
    fmt::Debug,
    sync::Mutex,
};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{
    Api, Resource, ResourceExt,
    api::{Patch, PatchParams},
    runtime::{
        events::{Event, EventType, Recorder},
        reflector::ObjectRef,
    },
};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::json;

use super::Error;
use crate::run::FIELD_MANAGER;

/// The operator's finalizer: on objects whose deletion must clean up DynamoDB state.
pub const FINALIZER: &str = "dynamobackup.io/cleanup";

pub fn now() -> Time {
    Time(jiff::Timestamp::now())
}

/// Writes `status` with server-side apply as the operator's field manager.
pub async fn apply_status<K, S>(api: &Api<K>, obj: &K, status: &S) -> Result<(), Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
    S: Serialize,
{
    let name = obj.meta().name.clone().ok_or(Error::MissingMetadata("name"))?;
    let patch = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch)).await?;
    Ok(())
}

/// Adds or removes the operator's finalizer; optimistic (resourceVersion), so a concurrent
/// change makes this fail and the reconcile run again rather than clobber another writer.
pub async fn set_finalizer<K>(api: &Api<K>, obj: &K, wanted: bool) -> Result<bool, Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    let has = obj.finalizers().iter().any(|f| f == FINALIZER);
    if has == wanted {
        return Ok(false);
    }
    let mut finalizers: Vec<String> = obj.finalizers().iter().filter(|f| *f != FINALIZER).cloned().collect();
    if wanted {
        finalizers.push(FINALIZER.to_owned());
    }
    let patch = json!({"metadata": {"finalizers": finalizers, "resourceVersion": obj.resource_version()}});
    api.patch(&obj.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
    Ok(true)
}

/// Publishes an event; a failure to publish is logged, never fails the reconcile.
pub async fn publish<K>(recorder: &Recorder, obj: &K, warning: bool, reason: &str, action: &str, note: String)
where
    K: Resource<DynamicType = ()>,
{
    let event = Event {
        type_: if warning { EventType::Warning } else { EventType::Normal },
        reason: reason.to_owned(),
        note: Some(note),
        action: action.to_owned(),
        secondary: None,
    };
    if let Err(err) = recorder.publish(&event, &obj.object_ref(&())).await {
        tracing::warn!(error = %err, reason, "cannot publish an event");
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
