//! The one Context every reconcile shares.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use kube::{
    Resource,
    runtime::{events::Recorder, reflector::ObjectRef},
};

use crate::{dynamo::DynamoPort, metrics::Metrics, plan::tenancy::Tenancy};

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
