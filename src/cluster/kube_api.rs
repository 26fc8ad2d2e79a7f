//! The apiserver writes made against the apiserver itself.

use async_trait::async_trait;
use k8s_openapi::api::events::v1::Event;
use kube::{
    Api,
    api::{DeleteParams, DynamicObject, Patch, PatchParams, PostParams},
    core::ApiResource,
};
use serde_json::json;

use super::port::{Cluster, FIELD_MANAGER, Target};

pub struct Kube(pub kube::Client);

impl Kube {
    fn api(&self, resource: &ApiResource, namespace: &str) -> Api<DynamicObject> {
        Api::namespaced_with(self.0.clone(), namespace, resource)
    }
}

#[async_trait]
impl Cluster for Kube {
    async fn apply_status(&self, target: &Target<'_>, patch: serde_json::Value) -> Result<Option<String>, kube::Error> {
        let api = self.api(&target.resource, target.namespace);
        let written = api.patch_status(target.name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch)).await?;
        Ok(written.metadata.resource_version)
    }

    async fn set_finalizers(
        &self,
        target: &Target<'_>,
        expected: &[String],
        finalizers: Vec<String>,
    ) -> Result<Option<String>, kube::Error> {
        // The test operation makes a concurrent change of the list fail the patch (and the
        // reconcile run again), while status writes in between do not get in the way.
        let current = if expected.is_empty() { serde_json::Value::Null } else { json!(expected) };
        let patch: json_patch::Patch = serde_json::from_value(json!([
            {"op": "test", "path": "/metadata/finalizers", "value": current},
            {"op": "add", "path": "/metadata/finalizers", "value": finalizers},
        ]))
        .map_err(kube::Error::SerdeError)?;
        let api = self.api(&target.resource, target.namespace);
        let written = api.patch(target.name, &PatchParams::default(), &Patch::<()>::Json(patch)).await?;
        Ok(written.metadata.resource_version)
    }

    async fn create(&self, resource: &ApiResource, namespace: &str, object: serde_json::Value) -> Result<bool, kube::Error> {
        let object: DynamicObject = serde_json::from_value(object).map_err(kube::Error::SerdeError)?;
        match self.api(resource, namespace).create(&PostParams::default(), &object).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(err) => Err(err),
        }
    }

    async fn delete(&self, target: &Target<'_>) -> Result<bool, kube::Error> {
        match self.api(&target.resource, target.namespace).delete(target.name, &DeleteParams::default()).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
            Err(err) => Err(err),
        }
    }

    async fn get(&self, target: &Target<'_>) -> Result<Option<serde_json::Value>, kube::Error> {
        let found = self.api(&target.resource, target.namespace).get_opt(target.name).await?;
        found.map(serde_json::to_value).transpose().map_err(kube::Error::SerdeError)
    }

    async fn publish(&self, event: Event) -> Result<(), kube::Error> {
        let namespace = event.metadata.namespace.clone().unwrap_or_else(|| "default".to_owned());
        Api::<Event>::namespaced(self.0.clone(), &namespace).create(&PostParams::default(), &event).await.map(|_| ())
    }
}
