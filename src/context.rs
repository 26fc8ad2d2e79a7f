//! The one Context every reconcile shares.

use std::sync::Arc;

use kube::runtime::events::Reporter;

use crate::{dynamo::{Pacer, RegionalClients}, metrics::Metrics, plan::tenancy::Tenancy};

pub struct Context {
    pub client: kube::Client,
    pub dynamo: RegionalClients,
    pub pacer: Pacer,
    pub metrics: Arc<Metrics>,
    pub tenancy: Tenancy,
    pub reporter: Reporter,
    /// The namespaces watched; empty means all.
    pub namespaces: Vec<String>,
}
