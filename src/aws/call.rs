//! One paced, counted AWS call, shared by every service adapter: it waits for its operation's
//! pace in the scope's region, makes the call once, classifies a failure, and tells the
//! process's observer how it went (the process counts it in its metrics).

use std::sync::Arc;

use aws_sdk_dynamodb::{
    config::http::HttpResponse,
    error::{DisplayErrorContext, ProvideErrorMetadata, SdkError},
};

use super::{
    errors::{AwsError, AwsResult, Service},
    pacing::{Lane, Pacer},
};
use crate::api::facts::Scope;

/// Told of every AWS call when it has finished; the process wires its metrics in.
pub trait CallObserver: Send + Sync {
    /// `outcome`: `ok`, or the failure's class (`throttled`, `transient`, `terminal`).
    fn call_finished(&self, service: Service, operation: &'static str, outcome: &'static str);
}

/// Makes one service's calls: paced, counted, classified.
#[derive(Clone)]
pub struct Caller {
    service: Service,
    pacer: Pacer,
    observer: Arc<dyn CallObserver>,
    default_region: Option<String>,
}

impl Caller {
    pub fn new(service: Service, pacer: Pacer, observer: Arc<dyn CallObserver>, default_region: Option<&str>) -> Self {
        Self { service, pacer, observer, default_region: default_region.map(str::to_owned) }
    }

    pub fn service(&self) -> Service {
        self.service
    }

    /// One call of `operation`, made when the pace of its region allows, counted and classified.
    pub async fn call<T, E, Fut>(&self, scope: &Scope, operation: &'static str, lane: Lane, request: Fut) -> AwsResult<T>
    where
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let region = scope.region.as_deref().or(self.default_region.as_deref());
        self.pacer.wait(scope.role_arn.as_deref(), region, operation, lane).await;
        let result = request.await.map_err(|err| to_error(self.service, operation, err));
        let outcome = match &result {
            Ok(_) => "ok",
            Err(err) => err.class.as_str(),
        };
        self.observer.call_finished(self.service, operation, outcome);
        if let Err(err) = &result {
            tracing::debug!(service = %self.service, operation, error = %err, "AWS call failed");
        }
        result
    }

    /// A request that could not be built, or an answer that lacks what it must carry.
    pub fn invalid(&self, operation: &'static str, code: &str, message: impl Into<String>) -> AwsError {
        AwsError::terminal(self.service, operation, code, message.into())
    }
}

/// A failed SDK call of `service` (the SDKs share their error types), classified by its code
/// and HTTP status.
pub fn to_error<E>(service: Service, operation: &'static str, err: SdkError<E, HttpResponse>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let code = err.code().map(str::to_owned);
    let message = err.message().map(str::to_owned).unwrap_or_else(|| DisplayErrorContext(&err).to_string());
    AwsError::new(service, operation, code, message, status)
}
