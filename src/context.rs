//! The one Context every reconcile shares.

use std::sync::Arc;

use kube::runtime::events::Recorder;

use crate::{controllers::Failures, dynamo::DynamoPort, metrics::Metrics, plan::tenancy::Tenancy};

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
