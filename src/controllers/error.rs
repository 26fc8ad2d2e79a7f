//! The one error type of a reconcile. Terminal AWS errors never get here: reconciles turn
//! them into `Stalled` status. What does get here is retried with backoff.

use crate::aws::{AwsError, ErrorClass};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("cannot serialize status: {0}")]
    Serialize(#[from] serde_json::Error),
    #[error("the object has no {0}")]
    MissingMetadata(&'static str),
    #[error("{0} is not ready yet")]
    NotReady(&'static str),
}

impl Error {
    /// A stable, bounded label for metrics and event reasons.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube(_) => "kube",
            Error::Aws(e) => match e.class {
                ErrorClass::Throttled => "aws_throttled",
                ErrorClass::Transient => "aws_transient",
                ErrorClass::Terminal => "aws_terminal",
            },
            Error::Serialize(_) => "serialize",
            Error::MissingMetadata(_) => "metadata",
            Error::NotReady(_) => "cache",
        }
    }

    /// When to try again after `attempts` failures in a row (1 for the first).
    pub fn retry_after(&self, attempts: u32) -> Duration {
        let base = match self {
            Error::Aws(e) => e.class.base_delay().unwrap_or(Duration::from_secs(60)),
            // A conditional write found the object changed: the watch cache is behind and
            // catches up within moments.
            Error::Kube(kube::Error::Api(status)) if status.code == 409 => Duration::from_millis(500),
            _ => Duration::from_secs(2),
        };
        backoff(base, attempts, Duration::from_secs(300))
    }
}

/// `base * 2^(attempts-1)`, at most `max`.
pub fn backoff(base: Duration, attempts: u32, max: Duration) -> Duration {
    let factor = 1u32 << attempts.saturating_sub(1).min(16);
    base.saturating_mul(factor).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::Service;

    #[test]
    fn backoff_doubles_up_to_a_ceiling() {
        let s = Duration::from_secs;
        assert_eq!(backoff(s(5), 1, s(300)), s(5));
        assert_eq!(backoff(s(5), 3, s(300)), s(20));
        assert_eq!(backoff(s(5), 40, s(300)), s(300));
    }

    #[test]
    fn throttling_waits_longer_than_other_transient_errors() {
        let throttled =
            Error::Aws(AwsError::new(Service::DynamoDB, "CreateBackup", Some("ThrottlingException".into()), String::new(), Some(400)));
        let busy =
            Error::Aws(AwsError::new(Service::DynamoDB, "DeleteBackup", Some("BackupInUseException".into()), String::new(), Some(400)));
        assert!(throttled.retry_after(1) > busy.retry_after(1));
        assert_eq!(throttled.metric_label(), "aws_throttled");
    }
}
