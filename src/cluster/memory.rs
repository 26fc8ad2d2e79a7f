//! An in-memory cluster for the state-machine tests: objects kept as JSON by kind, namespace
//! and name, written as the apiserver would (status replaced by the operator's apply, uid and
//! generation on create, a deletion held by finalizers), every write logged, events kept, and
//! a write that fails on demand.

use std::{collections::BTreeMap, sync::Mutex};

use async_trait::async_trait;
use k8s_openapi::api::events::v1::Event;
use kube::{Resource, core::ApiResource};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Value, json};

use super::port::{Cluster, Target};
use crate::faults::{Tripwire, hang_if};

type Key = (String, String, String);

#[derive(Default)]
pub struct MemoryCluster {
    objects: Mutex<BTreeMap<Key, Value>>,
    events: Mutex<Vec<Event>>,
    writes: Mutex<Vec<String>>,
    /// Writes that fail (HTTP 500) before they take effect, by the write's log line prefix.
    failing: Mutex<Vec<String>>,
    next_uid: Mutex<u64>,
    /// The last resourceVersion handed out; every write of an object gives it the next.
    last_version: Mutex<u64>,
    tripwire: Tripwire,
}

fn key(resource: &ApiResource, namespace: &str, name: &str) -> Key {
    (resource.kind.clone(), namespace.to_owned(), name.to_owned())
}

fn status(code: u16, reason: &str, message: String) -> kube::Error {
    kube::Error::Api(kube::core::Status::failure(&message, reason).with_code(code).boxed())
}

impl MemoryCluster {
    fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        m.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One whose writes count towards `tripwire`'s crash.
    pub fn wired(tripwire: Tripwire) -> Self {
        Self { tripwire, ..Self::default() }
    }

    /// Notes a write; fails it when a test asked for that.
    fn write(&self, line: String) -> Result<(), kube::Error> {
        let fail = Self::lock(&self.failing).iter().any(|prefix| line.starts_with(prefix.as_str()));
        Self::lock(&self.writes).push(line.clone());
        if fail { Err(status(500, "InternalError", format!("injected failure of {line}"))) } else { Ok(()) }
    }

    /// After a write took effect: the crash a test staged, if it is this write.
    async fn answer<T>(&self, result: Result<T, kube::Error>) -> Result<T, kube::Error> {
        let tripped = result.is_ok() && self.tripwire.count();
        hang_if(tripped).await;
        result
    }

    /// Puts `obj` in as a user's `kubectl apply` would: a uid, generation 1, a creation time.
    pub fn put<K: Resource<DynamicType = ()> + Serialize>(&self, namespace: &str, obj: &K) {
        let mut value = serde_json::to_value(obj).unwrap_or(Value::Null);
        value["apiVersion"] = K::api_version(&()).into();
        value["kind"] = K::kind(&()).into();
        let name = obj.meta().name.clone().unwrap_or_default();
        self.insert(&ApiResource::erase::<K>(&()), namespace, &name, value);
    }

    /// Gives the object a new resourceVersion, as every write in the apiserver does; the new one.
    fn bump(&self, value: &mut Value) -> String {
        let mut last = Self::lock(&self.last_version);
        *last += 1;
        let version = last.to_string();
        value["metadata"]["resourceVersion"] = version.clone().into();
        version
    }

    fn insert(&self, resource: &ApiResource, namespace: &str, name: &str, mut value: Value) {
        let uid = {
            let mut next = Self::lock(&self.next_uid);
            *next += 1;
            format!("00000000-0000-4000-8000-{:012x}", *next)
        };
        let meta = &mut value["metadata"];
        meta["namespace"] = namespace.into();
        if meta.get("uid").is_none_or(Value::is_null) {
            meta["uid"] = uid.into();
        }
        if meta.get("generation").is_none_or(Value::is_null) {
            meta["generation"] = 1.into();
        }
        if meta.get("creationTimestamp").is_none_or(Value::is_null) {
            meta["creationTimestamp"] = jiff::Timestamp::now().to_string().into();
        }
        self.bump(&mut value);
        Self::lock(&self.objects).insert(key(resource, namespace, name), value);
    }

    /// The object as it is stored now.
    pub fn object<K: Resource<DynamicType = ()> + DeserializeOwned>(&self, namespace: &str, name: &str) -> Option<K> {
        let value = Self::lock(&self.objects).get(&key(&ApiResource::erase::<K>(&()), namespace, name)).cloned()?;
        serde_json::from_value(value).ok()
    }

    /// Every object of kind `K`, in every namespace.
    pub fn all<K: Resource<DynamicType = ()> + DeserializeOwned>(&self) -> Vec<K> {
        let kind = K::kind(&()).into_owned();
        Self::lock(&self.objects)
            .iter()
            .filter(|((k, _, _), _)| *k == kind)
            .filter_map(|(_, v)| serde_json::from_value(v.clone()).ok())
            .collect()
    }

    /// Every object of kind `K` in `namespace`.
    pub fn list<K: Resource<DynamicType = ()> + DeserializeOwned>(&self, namespace: &str) -> Vec<K> {
        let kind = K::kind(&()).into_owned();
        Self::lock(&self.objects)
            .iter()
            .filter(|((k, ns, _), _)| *k == kind && ns == namespace)
            .filter_map(|(_, v)| serde_json::from_value(v.clone()).ok())
            .collect()
    }

    /// Changes a stored object as a user would (a spec edit bumps the generation).
    pub fn edit<K, F>(&self, namespace: &str, name: &str, change: F)
    where
        K: Resource<DynamicType = ()> + DeserializeOwned + Serialize,
        F: FnOnce(&mut K),
    {
        let resource = ApiResource::erase::<K>(&());
        let mut objects = Self::lock(&self.objects);
        let Some(value) = objects.get_mut(&key(&resource, namespace, name)) else { return };
        let Ok(mut obj) = serde_json::from_value::<K>(value.clone()) else { return };
        let spec_before = value.get("spec").cloned();
        change(&mut obj);
        let Ok(mut changed) = serde_json::to_value(&obj) else { return };
        changed["apiVersion"] = value["apiVersion"].clone();
        changed["kind"] = value["kind"].clone();
        if changed.get("spec").cloned() != spec_before {
            let generation = value["metadata"]["generation"].as_i64().unwrap_or(1) + 1;
            changed["metadata"]["generation"] = generation.into();
        }
        *value = changed;
    }

    /// A user's deletion: gone at once without finalizers, else marked for the controller.
    pub fn request_delete<K: Resource<DynamicType = ()>>(&self, namespace: &str, name: &str) {
        self.request_delete_of(&ApiResource::erase::<K>(&()), namespace, name);
    }

    fn request_delete_of(&self, resource: &ApiResource, namespace: &str, name: &str) {
        let k = key(resource, namespace, name);
        let mut objects = Self::lock(&self.objects);
        let Some(value) = objects.get_mut(&k) else { return };
        if value["metadata"]["finalizers"].as_array().is_some_and(|f| !f.is_empty()) {
            value["metadata"]["deletionTimestamp"] = jiff::Timestamp::now().to_string().into();
            self.bump(value);
        } else {
            objects.remove(&k);
        }
    }

    /// Every write so far, one line each (`status Kind ns/name`, `create ...`, ...).
    pub fn writes(&self) -> Vec<String> {
        Self::lock(&self.writes).clone()
    }

    /// The reasons of the events published so far, in order.
    pub fn event_reasons(&self) -> Vec<String> {
        Self::lock(&self.events).iter().filter_map(|e| e.reason.clone()).collect()
    }

    /// Writes whose log line starts with `prefix` fail from now on, before taking effect.
    pub fn fail_writes(&self, prefix: &str) {
        Self::lock(&self.failing).push(prefix.to_owned());
    }

    pub fn heal(&self) {
        Self::lock(&self.failing).clear();
    }
}

impl MemoryCluster {
    fn apply_status_now(&self, target: &Target<'_>, patch: Value) -> Result<Option<String>, kube::Error> {
        self.write(format!("status {} {}/{}", target.resource.kind, target.namespace, target.name))?;
        let mut objects = Self::lock(&self.objects);
        let Some(value) = objects.get_mut(&key(&target.resource, target.namespace, target.name)) else {
            return Err(status(404, "NotFound", format!("{} {} not found", target.resource.kind, target.name)));
        };
        if let Some(expected) = patch["metadata"]["resourceVersion"].as_str()
            && value["metadata"]["resourceVersion"].as_str() != Some(expected)
        {
            return Err(status(409, "Conflict", format!("{} {} has changed since version {expected}", target.resource.kind, target.name)));
        }
        // The operator owns every status field it sends and sends them all.
        value["status"] = patch.get("status").cloned().unwrap_or(Value::Null);
        Ok(Some(self.bump(value)))
    }

    fn set_finalizers_now(&self, target: &Target<'_>, expected: &[String], finalizers: Vec<String>) -> Result<Option<String>, kube::Error> {
        self.write(format!("finalizers {} {}/{} {finalizers:?}", target.resource.kind, target.namespace, target.name))?;
        let mut objects = Self::lock(&self.objects);
        let k = key(&target.resource, target.namespace, target.name);
        let Some(value) = objects.get_mut(&k) else {
            return Err(status(404, "NotFound", format!("{} {} not found", target.resource.kind, target.name)));
        };
        let current: Vec<String> = serde_json::from_value(value["metadata"]["finalizers"].clone()).unwrap_or_default();
        if current != expected {
            return Err(status(422, "Invalid", "the finalizer list changed".into()));
        }
        let deleting = value["metadata"].get("deletionTimestamp").is_some_and(|t| !t.is_null());
        if deleting && finalizers.is_empty() {
            objects.remove(&k);
            Ok(None)
        } else {
            value["metadata"]["finalizers"] = json!(finalizers);
            Ok(Some(self.bump(value)))
        }
    }

    fn create_now(&self, resource: &ApiResource, namespace: &str, object: Value) -> Result<bool, kube::Error> {
        let name = object["metadata"]["name"].as_str().unwrap_or_default().to_owned();
        self.write(format!("create {} {namespace}/{name}", resource.kind))?;
        if Self::lock(&self.objects).contains_key(&key(resource, namespace, &name)) {
            return Ok(false);
        }
        self.insert(resource, namespace, &name, object);
        Ok(true)
    }

    fn delete_now(&self, target: &Target<'_>) -> Result<bool, kube::Error> {
        self.write(format!("delete {} {}/{}", target.resource.kind, target.namespace, target.name))?;
        let existed = Self::lock(&self.objects).contains_key(&key(&target.resource, target.namespace, target.name));
        if existed {
            self.request_delete_of(&target.resource, target.namespace, target.name);
        }
        Ok(existed)
    }
}

#[async_trait]
impl Cluster for MemoryCluster {
    async fn apply_status(&self, target: &Target<'_>, patch: Value) -> Result<Option<String>, kube::Error> {
        self.answer(self.apply_status_now(target, patch)).await
    }

    async fn set_finalizers(
        &self,
        target: &Target<'_>,
        expected: &[String],
        finalizers: Vec<String>,
    ) -> Result<Option<String>, kube::Error> {
        self.answer(self.set_finalizers_now(target, expected, finalizers)).await
    }

    async fn create(&self, resource: &ApiResource, namespace: &str, object: Value) -> Result<bool, kube::Error> {
        self.answer(self.create_now(resource, namespace, object)).await
    }

    async fn delete(&self, target: &Target<'_>) -> Result<bool, kube::Error> {
        self.answer(self.delete_now(target)).await
    }

    async fn get(&self, target: &Target<'_>) -> Result<Option<Value>, kube::Error> {
        Ok(Self::lock(&self.objects).get(&key(&target.resource, target.namespace, target.name)).cloned())
    }

    async fn publish(&self, event: Event) -> Result<(), kube::Error> {
        Self::lock(&self.events).push(event);
        Ok(())
    }
}
