//! One SDK client per region (and tenant role), all built from the SDK's default chain: credentials (env, IRSA,
//! EKS Pod Identity, profiles) and the endpoint (`AWS_ENDPOINT_URL_DYNAMODB`,
//! `AWS_ENDPOINT_URL_BACKUP` or `AWS_ENDPOINT_URL_APPLICATION_AUTO_SCALING`, then `AWS_ENDPOINT_URL`). A tenant's role (tenancy file, `roleArn`)
//! is assumed with STS on top of those credentials.

use std::{collections::HashMap, sync::Mutex, time::Duration};

use aws_config::{BehaviorVersion, Region, SdkConfig, retry::RetryConfig, sts::AssumeRoleProvider, timeout::TimeoutConfig};
use aws_sdk_dynamodb::config::SharedCredentialsProvider;

/// An SDK client the operator keeps one of per region and role.
pub trait RegionalClient: Clone + Send + Sync + 'static {
    /// A client from the shared configuration, with no retries inside a call (the reconcile
    /// loop retries, after looking for what an earlier attempt made) and a time-out per call.
    fn build(base: &SdkConfig, region: Option<Region>, credentials: Option<SharedCredentialsProvider>) -> Self;
}

/// The same builder calls for each SDK: their config builders are distinct types.
macro_rules! regional_client {
    ($sdk:ident) => {
        impl RegionalClient for $sdk::Client {
            fn build(base: &SdkConfig, region: Option<Region>, credentials: Option<SharedCredentialsProvider>) -> Self {
                let mut config = $sdk::config::Builder::from(base)
                    .retry_config(RetryConfig::disabled())
                    .timeout_config(TimeoutConfig::builder().operation_timeout(OPERATION_TIMEOUT).build());
                if let Some(region) = region {
                    config = config.region(region);
                }
                if let Some(credentials) = credentials {
                    config = config.credentials_provider(credentials);
                }
                Self::from_conf(config.build())
            }
        }
    };
}

regional_client!(aws_sdk_dynamodb);
regional_client!(aws_sdk_backup);
regional_client!(aws_sdk_applicationautoscaling);
regional_client!(aws_sdk_sts);

/// A call that has not answered by then is treated as a transient failure.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);

/// The role session name of every AssumeRole call, as CloudTrail shows it.
const SESSION_NAME: &str = "dynamo-backup-operator";

pub struct RegionalClients<C: RegionalClient = aws_sdk_dynamodb::Client> {
    base: SdkConfig,
    clients: Mutex<HashMap<(String, Option<String>), C>>,
}

impl<C: RegionalClient> RegionalClients<C> {
    /// Loads the SDK's default configuration; `default_region` wins over the chain's region.
    pub async fn load(default_region: Option<String>) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(region) = default_region {
            loader = loader.region(Region::new(region));
        }
        Self { base: loader.load().await, clients: Mutex::new(HashMap::new()) }
    }

    /// Clients of another service on the same configuration (credentials, default region).
    pub fn sibling<D: RegionalClient>(&self) -> RegionalClients<D> {
        RegionalClients { base: self.base.clone(), clients: Mutex::new(HashMap::new()) }
    }

    /// The region used when an object names none.
    pub fn default_region(&self) -> Option<&str> {
        self.base.region().map(Region::as_ref)
    }

    /// The client for `region` (None: the default region), under `role_arn` if given. Clients
    /// are made once and shared; a role's credentials are fetched from STS on first use and
    /// refreshed by the client's identity cache before they expire.
    pub async fn client(&self, region: Option<&str>, role_arn: Option<&str>) -> C {
        let region = region.or(self.default_region()).unwrap_or_default().to_owned();
        let key = (region, role_arn.map(str::to_owned));
        if let Some(client) = self.lock().get(&key) {
            return client.clone();
        }
        // One attempt per call: the reconcile loop retries, after looking for what an earlier
        // attempt made. An SDK retry of CreateBackup whose answer was lost would make a second
        // backup, and retries inside a call hide throttling from status.
        let region = (!key.0.is_empty()).then(|| Region::new(key.0.clone()));
        let credentials = match &key.1 {
            // STS is asked in the same region as the table (its regional endpoint), with the
            // operator's own credentials; the session name shows in CloudTrail.
            Some(role) => {
                let mut assume = AssumeRoleProvider::builder(role.clone()).session_name(SESSION_NAME).configure(&self.base);
                if let Some(region) = &region {
                    assume = assume.region(region.clone());
                }
                Some(SharedCredentialsProvider::new(assume.build().await))
            }
            None => None,
        };
        let client = C::build(&self.base, region, credentials);
        self.lock().entry(key).or_insert(client).clone()
    }

    /// The client for `scope`: its region, under its tenant role if it has one.
    pub async fn for_scope(&self, scope: &crate::api::facts::Scope) -> C {
        self.client(scope.region.as_deref(), scope.role_arn.as_deref()).await
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, Option<String>), C>> {
        // A poisoned lock only means another thread panicked while inserting; the map is intact.
        self.clients.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
