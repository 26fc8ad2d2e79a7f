//! One SDK client per region, all built from the SDK's default chain: credentials (env, IRSA,
//! EKS Pod Identity, profiles) and the endpoint (`AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL`).

use std::{collections::HashMap, sync::Mutex, time::Duration};

use aws_config::{BehaviorVersion, Region, SdkConfig, retry::RetryConfig, timeout::TimeoutConfig};
use aws_sdk_dynamodb::Client;

/// A call that has not answered by then is treated as a transient failure.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);

pub struct RegionalClients {
    base: SdkConfig,
    clients: Mutex<HashMap<String, Client>>,
}

impl RegionalClients {
    /// Loads the SDK's default configuration; `default_region` wins over the chain's region.
    pub async fn load(default_region: Option<String>) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(region) = default_region {
            loader = loader.region(Region::new(region));
        }
        Self { base: loader.load().await, clients: Mutex::new(HashMap::new()) }
    }

    /// The region used when an object names none.
    pub fn default_region(&self) -> Option<&str> {
        self.base.region().map(Region::as_ref)
    }

    /// The client for `region`, or for the default region. Clients are made once and shared.
    pub fn client(&self, region: Option<&str>) -> Client {
        let key = region.or(self.default_region()).unwrap_or_default().to_owned();
        // A poisoned lock only means another thread panicked while inserting; the map is intact.
        let mut clients = self.clients.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        clients
            .entry(key.clone())
            .or_insert_with(|| {
                // One attempt per call: the reconcile loop retries, after looking for what an
                // earlier attempt made. An SDK retry of CreateBackup whose answer was lost would
                // make a second backup, and retries inside a call hide throttling from status.
                let mut config = aws_sdk_dynamodb::config::Builder::from(&self.base)
                    .retry_config(RetryConfig::disabled())
                    .timeout_config(TimeoutConfig::builder().operation_timeout(OPERATION_TIMEOUT).build());
                if !key.is_empty() {
                    config = config.region(Region::new(key));
                }
                Client::from_conf(config.build())
            })
            .clone()
    }
}
