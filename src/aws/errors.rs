//! Every failed AWS call (DynamoDB, AWS Backup, Application Auto Scaling) is one of three classes, which decide what a
//! reconcile does next, and names the service that failed.

use std::time::Duration;

/// What a controller does with a failed AWS call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// Retry soon with backoff: 5xx, time-outs, resources busy, account limits that drain.
    Transient,
    /// DynamoDB asked us to slow down: retry later than for a transient error.
    Throttled,
    /// Retrying cannot help without a new spec or outside help: report `Stalled`.
    Terminal,
}

impl ErrorClass {
    /// A first retry delay for this class; callers grow it with their own backoff.
    pub fn base_delay(self) -> Option<Duration> {
        match self {
            ErrorClass::Transient => Some(Duration::from_secs(5)),
            ErrorClass::Throttled => Some(Duration::from_secs(15)),
            ErrorClass::Terminal => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Transient => "transient",
            ErrorClass::Throttled => "throttled",
            ErrorClass::Terminal => "terminal",
        }
    }
}

/// Busy or momentarily limited: these drain on their own (50 concurrent restores, a backup a
/// restore still reads, a table still being created, updated or deleted, PITR that is still
/// being turned on, a recovery point AWS Backup is still working on). The service refused the
/// request: nothing was done.
const BUSY: [&str; 6] = [
    "LimitExceededException",
    "BackupInUseException",
    "TableInUseException",
    "ResourceInUseException",
    "ContinuousBackupsUnavailableException",
    "InvalidResourceStateException",
];

/// Classifies an AWS error (both services share the codes below) by its error code and, when there is no code, the HTTP status.
/// `None` for both means the request never got an answer (dispatch failure, time-out).
pub fn classify(code: Option<&str>, http_status: Option<u16>) -> ErrorClass {
    match code {
        Some("ThrottlingException" | "ProvisionedThroughputExceededException" | "RequestLimitExceeded" | "TooManyRequestsException") => {
            ErrorClass::Throttled
        }
        Some(code) if BUSY.contains(&code) => ErrorClass::Transient,
        Some(
            "InternalServerError"
            | "InternalFailure"
            | "ServiceUnavailable"
            | "ServiceUnavailableException"
            | "RequestTimeout"
            | "RequestTimeoutException",
        ) => ErrorClass::Transient,
        Some(_) => match http_status {
            Some(s) if s >= 500 => ErrorClass::Transient,
            Some(429) => ErrorClass::Throttled,
            _ => ErrorClass::Terminal,
        },
        None => match http_status {
            Some(429) => ErrorClass::Throttled,
            Some(s) if (400..500).contains(&s) => ErrorClass::Terminal,
            _ => ErrorClass::Transient,
        },
    }
}

/// The AWS service a call went to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Service {
    DynamoDB,
    AwsBackup,
    ApplicationAutoScaling,
}

impl Service {
    pub fn as_str(self) -> &'static str {
        match self {
            Service::DynamoDB => "DynamoDB",
            Service::AwsBackup => "AWS Backup",
            Service::ApplicationAutoScaling => "Application Auto Scaling",
        }
    }
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed AWS call, with what the controller needs to report it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{service} {operation} failed ({}): {message}", code.as_deref().unwrap_or("no error code"))]
pub struct AwsError {
    pub service: Service,
    pub operation: &'static str,
    pub code: Option<String>,
    pub message: String,
    pub class: ErrorClass,
}

pub type AwsResult<T> = Result<T, AwsError>;

impl AwsError {
    /// An error the service answered with, classified by its code and HTTP status.
    pub fn new(service: Service, operation: &'static str, code: Option<String>, message: String, http_status: Option<u16>) -> Self {
        let class = classify(code.as_deref(), http_status);
        Self { service, operation, code, message, class }
    }

    /// A request the operator could not build, or an answer it could not read: retrying the
    /// same call cannot help.
    pub fn terminal(service: Service, operation: &'static str, code: &str, message: String) -> Self {
        Self { service, operation, code: Some(code.to_owned()), message, class: ErrorClass::Terminal }
    }

    pub fn is_code(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }

    /// The service answered that it did not carry the request out (throttled, refused, busy),
    /// as opposed to a time-out or a server error, after which it may have.
    pub fn was_refused(&self) -> bool {
        match self.class {
            ErrorClass::Throttled | ErrorClass::Terminal => true,
            ErrorClass::Transient => self.code.as_deref().is_some_and(|code| BUSY.contains(&code)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_is_apart_from_other_transient_errors() {
        assert_eq!(classify(Some("ThrottlingException"), Some(400)), ErrorClass::Throttled);
        assert_eq!(classify(Some("ProvisionedThroughputExceededException"), Some(400)), ErrorClass::Throttled);
    }

    #[test]
    fn busy_resources_and_server_errors_are_transient() {
        for code in ["LimitExceededException", "BackupInUseException", "TableInUseException", "InternalServerError"] {
            assert_eq!(classify(Some(code), Some(400)), ErrorClass::Transient, "{code}");
        }
        assert_eq!(classify(Some("SomethingNew"), Some(503)), ErrorClass::Transient);
        assert_eq!(classify(None, None), ErrorClass::Transient, "no answer at all");
    }

    #[test]
    fn bad_input_and_missing_sources_are_terminal() {
        for code in [
            "ValidationException",
            "TableNotFoundException",
            "SourceTableNotFoundException",
            "BackupNotFoundException",
            "AccessDeniedException",
            "InvalidRestoreTimeException",
            "PointInTimeRecoveryUnavailableException",
            "TableAlreadyExistsException",
        ] {
            assert_eq!(classify(Some(code), Some(400)), ErrorClass::Terminal, "{code}");
        }
    }
}
