//! The connection to the apiserver every command works with (`Ctx`: client, namespace, global
//! flags), and the reads and wording they share.

use kube::{Api, Client, Config, Resource, api::ListParams, config::KubeConfigOptions};
use serde::de::DeserializeOwned;

use super::{
    args::Global,
    failure::{Failure, api_failed},
};

/// What every command that reaches the apiserver works with: the client, the namespace and the
/// global flags.
pub struct Ctx {
    pub client: Client,
    pub namespace: String,
    pub global: Global,
}

impl Ctx {
    pub fn api<K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>>(&self) -> Api<K> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    pub fn list_api<K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>>(&self) -> Api<K> {
        if self.global.all_namespaces { Api::all(self.client.clone()) } else { self.api() }
    }
}

/// The client of the kubeconfig context (`--context`, else the current one, else in-cluster).
pub async fn connect(global: &Global) -> Result<Ctx, Failure> {
    let options = KubeConfigOptions { context: global.context.clone(), ..Default::default() };
    let config = match Config::from_kubeconfig(&options).await {
        Ok(config) => config,
        Err(_) if global.context.is_none() => Config::infer().await.map_err(|e| Failure {
            code: 1,
            message: format!("no Kubernetes configuration: {e}; set KUBECONFIG or run inside a cluster"),
        })?,
        Err(e) => return Err(Failure { code: 1, message: format!("kubeconfig context {:?}: {e}", global.context) }),
    };
    let namespace = global.namespace.clone().unwrap_or_else(|| config.default_namespace.clone());
    let client = Client::try_from(config).map_err(|e| Failure { code: 1, message: format!("cannot reach the apiserver: {e}") })?;
    Ok(Ctx { client, namespace, global: global.clone() })
}

/// Every object `api` lists; `what` names them if the apiserver fails.
pub async fn list_all<K>(api: &Api<K>, what: &str) -> Result<Vec<K>, Failure>
where
    K: Clone + DeserializeOwned + std::fmt::Debug,
{
    api.list(&ListParams::default()).await.map(|l| l.items).map_err(|e| api_failed(&format!("listing {what}"), e))
}

/// Where the command looked, for messages: `namespace NAME` or `any namespace`.
pub fn where_(ctx: &Ctx) -> String {
    if ctx.global.all_namespaces { "any namespace".into() } else { format!("namespace {}", ctx.namespace) }
}
