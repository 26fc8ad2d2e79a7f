//! Client-side pacing so the operator stays inside DynamoDB's per-account control-plane limits
//! instead of learning them from ThrottlingException.

use std::{num::NonZeroU32, sync::Arc};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// The limit buckets DynamoDB's control plane counts separately.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OperationClass {
    /// ListBackups: 5 per second per account.
    ListBackups,
    /// CreateBackup: 50 per second.
    CreateBackup,
    /// Describe*, Delete*, Restore*, Update*: 10 per second.
    ControlPlane,
}

#[derive(Clone)]
pub struct Pacer {
    list_backups: Arc<DefaultDirectRateLimiter>,
    create_backup: Arc<DefaultDirectRateLimiter>,
    control_plane: Arc<DefaultDirectRateLimiter>,
}

impl Pacer {
    pub fn new(list_backups: NonZeroU32, create_backup: NonZeroU32, control_plane: NonZeroU32) -> Self {
        let limiter = |rate| Arc::new(RateLimiter::direct(Quota::per_second(rate)));
        Self { list_backups: limiter(list_backups), create_backup: limiter(create_backup), control_plane: limiter(control_plane) }
    }

    /// Waits until one more call of this class fits the pace.
    pub async fn wait(&self, class: OperationClass) {
        match class {
            OperationClass::ListBackups => self.list_backups.until_ready().await,
            OperationClass::CreateBackup => self.create_backup.until_ready().await,
            OperationClass::ControlPlane => self.control_plane.until_ready().await,
        }
    }
}
