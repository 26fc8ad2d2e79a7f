//! DynamoBackup decisions: what a backup's DynamoDB state means for the object, and how often
//! to look again.

use std::time::Duration;

use crate::{api::BackupPhase, api::facts::BackupState};

/// How long to wait before describing a CREATING backup again: a quarter of the time it has
/// taken so far, between 5 s and 60 s (small tables finish in seconds, large ones in hours).
pub fn creating_poll(elapsed: Duration) -> Duration {
    (elapsed / 4).clamp(Duration::from_secs(5), Duration::from_secs(60))
}

/// A backup followed by the inventory is also looked at after this long, should a wake-up
/// have been lost.
pub const FOLLOW_SAFETY_NET: Duration = Duration::from_secs(600);

/// The phase for a backup's DynamoDB state.
pub fn phase_for(state: BackupState) -> BackupPhase {
    match state {
        BackupState::Creating => BackupPhase::Creating,
        BackupState::Available => BackupPhase::Available,
        BackupState::Deleted => BackupPhase::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polling_backs_off_with_age_within_bounds() {
        let s = Duration::from_secs;
        assert_eq!(creating_poll(s(0)), s(5));
        assert_eq!(creating_poll(s(100)), s(25));
        assert_eq!(creating_poll(s(36_000)), s(60));
    }
}
