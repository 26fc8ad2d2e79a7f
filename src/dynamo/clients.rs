//! One SDK client per region (and tenant role), all built from the SDK's default chain: credentials (env, IRSA,
//! EKS Pod Identity, profiles) and the endpoint (`AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL`).
//! A tenant's role (tenancy file, `roleArn`) is assumed with STS on top of those credentials.

use std::{collections::HashMap, sync::Mutex, time::Duration};

use aws_config::{BehaviorVersion, Region, SdkConfig, retry::RetryConfig, sts::AssumeRoleProvider, timeout::TimeoutConfig};
use aws_sdk_dynamodb::Client;

/// A call that has not answered by then is treated as a transient failure.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);

/// The role session name of every AssumeRole call, as CloudTrail shows it.
const SESSION_NAME: &str = "dynamo-backup-operator";

pub struct RegionalClients {
    base: SdkConfig,
    clients: Mutex<HashMap<(String, Option<String>), Client>>,
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

    /// The client for `region` (None: the default region), under `role_arn` if given. Clients
    /// are made once and shared; a role's credentials are fetched from STS on first use and
    /// refreshed by the client's identity cache before they expire.
    pub async fn client(&self, region: Option<&str>, role_arn: Option<&str>) -> Client {
        let region = region.or(self.default_region()).unwrap_or_default().to_owned();
        let key = (region, role_arn.map(str::to_owned));
        if let Some(client) = self.lock().get(&key) {
            return client.clone();
        }
        // One attempt per call: the reconcile loop retries, after looking for what an earlier
        // attempt made. An SDK retry of CreateBackup whose answer was lost would make a second
        // backup, and retries inside a call hide throttling from status.
        let mut config = aws_sdk_dynamodb::config::Builder::from(&self.base)
            .retry_config(RetryConfig::disabled())
            .timeout_config(TimeoutConfig::builder().operation_timeout(OPERATION_TIMEOUT).build());
        if !key.0.is_empty() {
            config = config.region(Region::new(key.0.clone()));
        }
        if let Some(role) = &key.1 {
            // STS is asked in the same region as the table (its regional endpoint), with the
            // operator's own credentials; the session name shows in CloudTrail.
            let mut assume = AssumeRoleProvider::builder(role.clone()).session_name(SESSION_NAME).configure(&self.base);
            if !key.0.is_empty() {
                assume = assume.region(Region::new(key.0.clone()));
            }
            config = config.credentials_provider(assume.build().await);
        }
        let client = Client::from_conf(config.build());
        self.lock().entry(key).or_insert(client).clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, Option<String>), Client>> {
        // A poisoned lock only means another thread panicked while inserting; the map is intact.
        self.clients.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
