//! The lifecycle of a DynamoBackup kept by DynamoDB, as decisions: what to do next from what
//! status records and the inventory learnt (`next`), what DynamoDB's answer means for the
//! object (`report`), and how often to look again.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::{
    api::{
        BackupPhase, DynamoBackupStatus,
        facts::{Backup, BackupState, Seen},
    },
    plan::{
        arns::table_arn_of,
        conditions::{Standing, stalled},
    },
};

/// How far before the recorded intent a lookup starts: clocks differ.
pub const LOOKUP_MARGIN: SignedDuration = SignedDuration::from_mins(5);

/// What a reconcile does next for a native backup.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Record the intent (name, moment), then CreateBackup, then report its answer.
    Create,
    /// An intent without an ARN: the request may have reached DynamoDB before a crash. Look for
    /// that backup (ListBackups since `since`): found, report it (`adopt`); else `Create`.
    Lookup { since: Timestamp },
    /// DescribeBackup, then report its answer.
    Describe { arn: String },
    /// Report what a listing (or a call) said.
    Report(Option<Box<Backup>>),
    /// Nothing new since status was written: it stands as it is (the inventory follows a
    /// Creating backup; an Available one waits for the resync). No AWS call.
    Stand,
    /// Stalled as recorded: nothing to do until the spec changes.
    Wait,
}

/// The next step for a native backup whose spec asks for `backup_name`, from its status and
/// what the inventory's listings learnt of it since the last reconcile.
pub fn next(status: &DynamoBackupStatus, backup_name: &str, seen: Option<Seen>) -> Step {
    let Some(arn) = status.backup_arn.clone() else {
        return match &status.requested_at {
            Some(intent) if status.backup_name.as_deref() == Some(backup_name) => Step::Lookup { since: intent.0 - LOOKUP_MARGIN },
            _ => Step::Create,
        };
    };
    match seen {
        Some(Seen::Backup(backup)) => return Step::Report(Some(backup)),
        // A listing lacked it: DescribeBackup says for sure.
        Some(Seen::Missing) => return Step::Describe { arn },
        None => {}
    }
    match status.phase {
        // Nothing new: a restart or a spec change (say, deletionPolicy) costs no AWS call.
        Some(BackupPhase::Available | BackupPhase::Creating) => Step::Stand,
        Some(BackupPhase::Failed) if stalled(&status.conditions).is_some() => Step::Wait,
        _ => Step::Describe { arn },
    }
}

/// After a lookup: the backup an earlier attempt made, else a new one.
pub fn after_lookup(found: Option<Backup>) -> Step {
    match found {
        Some(backup) => Step::Report(Some(Box::new(backup))),
        None => Step::Create,
    }
}

/// What the inventory should do with a backup from now on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Follow {
    /// Listings look for it until it leaves CREATING.
    Creating,
    /// Resyncs look for it: deleted outside the operator, it is missing.
    Available,
    /// Nothing to follow any more.
    Forget,
}

/// Where a native backup stands once DynamoDB said what it knows (None: no such backup).
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub standing: Standing,
    pub follow: Follow,
    /// The event of a backup that just became available.
    pub available_event: Option<String>,
}

/// Records DynamoDB's answer in `status` and says where the object stands. `previous` is the
/// phase before this reconcile.
pub fn report(status: &mut DynamoBackupStatus, backup: Option<&Backup>) -> Report {
    let previous = status.phase;
    let Some(backup) = backup else {
        let arn = status.backup_arn.clone().unwrap_or_default();
        status.backup_status = Some(BackupState::Deleted.as_str().to_owned());
        let message = format!(
            "the DynamoDB backup {arn} no longer exists (deleted outside the operator); delete this object or create a new DynamoBackup"
        );
        return Report {
            standing: Standing::Stalled { reason: "BackupNotFound".into(), message },
            follow: Follow::Forget,
            available_event: None,
        };
    };
    record(status, backup);
    match backup.state {
        BackupState::Creating => Report {
            standing: Standing::Reconciling { reason: "Creating".into(), message: format!("DynamoDB is creating backup {}", backup.name) },
            follow: Follow::Creating,
            available_event: None,
        },
        BackupState::Available => {
            let size = backup.size_bytes.map(|s| format!(", {s} bytes")).unwrap_or_default();
            Report {
                standing: Standing::Ready { reason: "Available".into(), message: format!("backup {} is available", backup.name) },
                follow: Follow::Available,
                available_event: (previous != Some(BackupPhase::Available)).then(|| format!("backup {} is available{size}", backup.arn)),
            }
        }
        BackupState::Deleted => Report {
            standing: Standing::Stalled {
                reason: "BackupDeleted".into(),
                message: format!("DynamoDB reports backup {} as deleted", backup.arn),
            },
            follow: Follow::Forget,
            available_event: None,
        },
    }
}

/// Where a backup that status already records stands (`Step::Stand`).
pub fn standing_of(status: &DynamoBackupStatus) -> (Standing, Follow) {
    let name = status.backup_name.clone().unwrap_or_default();
    match status.phase {
        Some(BackupPhase::Creating) => {
            (Standing::Reconciling { reason: "Creating".into(), message: format!("DynamoDB is creating backup {name}") }, Follow::Creating)
        }
        _ => (Standing::Ready { reason: "Available".into(), message: format!("backup {name} is available") }, Follow::Available),
    }
}

/// What DynamoDB says of a backup, in status; what it leaves out, status keeps.
fn record(status: &mut DynamoBackupStatus, backup: &Backup) {
    status.backup_arn = Some(backup.arn.clone());
    status.backup_name = Some(backup.name.clone());
    status.backup_status = Some(backup.state.as_str().to_owned());
    status.size_bytes = backup.size_bytes.or(status.size_bytes);
    status.created_at = backup.created_at.map(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time).or(status.created_at.take());
    status.table_arn = status.table_arn.take().or_else(|| table_arn_of(&backup.arn));
    if let Some(source) = &backup.source {
        status.table_arn = source.table_arn.clone().or(status.table_arn.take());
        status.table_id = source.table_id.clone().or(status.table_id.take());
        status.item_count = source.item_count.or(status.item_count);
    }
    status.phase = Some(phase_for(backup.state));
}

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
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

    use super::*;

    const ARN: &str = "arn:aws:dynamodb:eu-west-1:123456789012:table/Orders/backup/01736000000000-abcdef12";

    fn backup(state: BackupState) -> Backup {
        Backup { arn: ARN.into(), name: "orders-1".into(), state, size_bytes: Some(9), created_at: None, source: None }
    }

    fn status(arn: bool, phase: Option<BackupPhase>, intent: Option<&str>) -> DynamoBackupStatus {
        DynamoBackupStatus {
            backup_arn: arn.then(|| ARN.into()),
            phase,
            backup_name: intent.map(str::to_owned),
            requested_at: intent.map(|_| Time(Timestamp::UNIX_EPOCH + SignedDuration::from_hours(1))),
            ..Default::default()
        }
    }

    #[test]
    fn the_next_step_follows_from_status_and_what_the_inventory_saw() {
        let since = Timestamp::UNIX_EPOCH + SignedDuration::from_hours(1) - LOOKUP_MARGIN;
        let cases: Vec<(DynamoBackupStatus, Option<Seen>, Step)> = vec![
            (status(false, None, None), None, Step::Create),
            // An intent for another name (the spec changed before anything was made): a new backup.
            (status(false, None, Some("older")), None, Step::Create),
            (status(false, None, Some("orders-1")), None, Step::Lookup { since }),
            (status(true, Some(BackupPhase::Creating), None), None, Step::Stand),
            (status(true, Some(BackupPhase::Available), None), None, Step::Stand),
            (status(true, Some(BackupPhase::Creating), None), Some(Seen::Missing), Step::Describe { arn: ARN.into() }),
            (
                status(true, Some(BackupPhase::Creating), None),
                Some(Seen::Backup(Box::new(backup(BackupState::Available)))),
                Step::Report(Some(Box::new(backup(BackupState::Available)))),
            ),
            // Status written by an older operator with no phase: ask.
            (status(true, None, None), None, Step::Describe { arn: ARN.into() }),
        ];
        for (status, seen, step) in cases {
            assert_eq!(next(&status, "orders-1", seen), step, "{status:?}");
        }
        let mut stalled = status(true, Some(BackupPhase::Failed), None);
        stalled.conditions.push(Condition {
            type_: "Stalled".into(),
            status: "True".into(),
            reason: "BackupDeleted".into(),
            message: "gone".into(),
            last_transition_time: Time(Timestamp::UNIX_EPOCH),
            observed_generation: None,
        });
        assert_eq!(next(&stalled, "orders-1", None), Step::Wait);
        assert_eq!(after_lookup(None), Step::Create);
    }

    #[test]
    fn dynamodbs_answer_decides_the_standing_and_what_the_inventory_follows() {
        let mut s = status(false, None, Some("orders-1"));
        let creating = report(&mut s, Some(&backup(BackupState::Creating)));
        assert_eq!((creating.standing.reason(), creating.follow, s.phase), ("Creating", Follow::Creating, Some(BackupPhase::Creating)));
        assert_eq!(s.table_arn.as_deref(), Some("arn:aws:dynamodb:eu-west-1:123456789012:table/Orders"));
        let available = report(&mut s, Some(&backup(BackupState::Available)));
        assert_eq!((available.standing.reason(), available.follow), ("Available", Follow::Available));
        assert!(available.available_event.is_some_and(|e| e.ends_with(", 9 bytes")));
        // Told once: a second report of the same state publishes nothing.
        assert_eq!(report(&mut s, Some(&backup(BackupState::Available))).available_event, None);
        let gone = report(&mut s, None);
        assert_eq!((gone.standing.reason(), gone.follow), ("BackupNotFound", Follow::Forget));
        assert_eq!(report(&mut s, Some(&backup(BackupState::Deleted))).standing.reason(), "BackupDeleted");
    }

    #[test]
    fn polling_backs_off_with_age_within_bounds() {
        let s = Duration::from_secs;
        assert_eq!(creating_poll(s(0)), s(5));
        assert_eq!(creating_poll(s(100)), s(25));
        assert_eq!(creating_poll(s(36_000)), s(60));
    }
}
