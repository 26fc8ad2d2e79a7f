//! The apiserver writes the controllers make, as one trait over JSON and `ApiResource` (so it
//! serves every kind), and the typed helpers the controllers call it through.

use async_trait::async_trait;
use k8s_openapi::api::events::v1::Event;
use kube::{Resource, core::ApiResource};
use serde::{Serialize, de::DeserializeOwned};

/// The field manager of every status write, and the controller name in events.
pub const FIELD_MANAGER: &str = "dynamo-backup-operator";

/// Where an object lives: its kind's resource, namespace and name.
#[derive(Clone, Debug)]
pub struct Target<'a> {
    pub resource: ApiResource,
    pub namespace: &'a str,
    pub name: &'a str,
}

impl<'a> Target<'a> {
    pub fn of<K: Resource<DynamicType = ()>>(namespace: &'a str, name: &'a str) -> Self {
        Self { resource: ApiResource::erase::<K>(&()), namespace, name }
    }
}

#[async_trait]
pub trait Cluster: Send + Sync {
    /// Applies `patch` (apiVersion, kind and status) to the status subresource, as the
    /// operator's field manager, forcing ownership. A `metadata.resourceVersion` in the patch is
    /// a precondition: the write fails with 409 Conflict if the object has changed since that
    /// version. The object's resourceVersion after the write.
    async fn apply_status(&self, target: &Target<'_>, patch: serde_json::Value) -> Result<Option<String>, kube::Error>;

    /// Replaces the finalizer list with `finalizers` if it is still `expected` (None: unset);
    /// a conflict otherwise. The object's resourceVersion after the write.
    async fn set_finalizers(
        &self,
        target: &Target<'_>,
        expected: &[String],
        finalizers: Vec<String>,
    ) -> Result<Option<String>, kube::Error>;

    /// Creates the object; false when one of that name is already there.
    async fn create(&self, resource: &ApiResource, namespace: &str, object: serde_json::Value) -> Result<bool, kube::Error>;

    /// Deletes the object; false when it was already gone.
    async fn delete(&self, target: &Target<'_>) -> Result<bool, kube::Error>;

    /// The object as the apiserver has it now, if it exists.
    async fn get(&self, target: &Target<'_>) -> Result<Option<serde_json::Value>, kube::Error>;

    /// Publishes an events.k8s.io Event.
    async fn publish(&self, event: Event) -> Result<(), kube::Error>;
}

/// Creates `obj` in `namespace`; false when one of its name is already there.
pub async fn create<K: Resource<DynamicType = ()> + Serialize>(
    cluster: &dyn Cluster,
    namespace: &str,
    obj: &K,
) -> Result<bool, kube::Error> {
    let mut object = serde_json::to_value(obj).map_err(kube::Error::SerdeError)?;
    object["apiVersion"] = K::api_version(&()).into();
    object["kind"] = K::kind(&()).into();
    cluster.create(&ApiResource::erase::<K>(&()), namespace, object).await
}

/// The object of kind `K` as the apiserver has it now, if it exists.
pub async fn get<K: Resource<DynamicType = ()> + DeserializeOwned>(
    cluster: &dyn Cluster,
    namespace: &str,
    name: &str,
) -> Result<Option<K>, kube::Error> {
    match cluster.get(&Target::of::<K>(namespace, name)).await? {
        Some(value) => serde_json::from_value(value).map(Some).map_err(kube::Error::SerdeError),
        None => Ok(None),
    }
}
