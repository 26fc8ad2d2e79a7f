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

/// The ARN of the table a native backup ARN belongs to (`<table ARN>/backup/<id>`).
pub fn table_arn_of(backup_arn: &str) -> Option<String> {
    let (table, id) = backup_arn.rsplit_once("/backup/")?;
    (table.contains(":table/") && !id.is_empty()).then(|| table.to_owned())
}

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
    fn a_backup_arn_names_its_table() {
        let arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/Orders/backup/01736000000000-abcdef12";
        assert_eq!(table_arn_of(arn).as_deref(), Some("arn:aws:dynamodb:eu-west-1:123456789012:table/Orders"));
        assert_eq!(table_arn_of("arn:aws:dynamodb:eu-west-1:123456789012:table/Orders"), None);
    }

    #[test]
    fn polling_backs_off_with_age_within_bounds() {
        let s = Duration::from_secs;
        assert_eq!(creating_poll(s(0)), s(5));
        assert_eq!(creating_poll(s(100)), s(25));
        assert_eq!(creating_poll(s(36_000)), s(60));
    }
}
