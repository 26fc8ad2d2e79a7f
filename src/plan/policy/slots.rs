//! A policy's schedule, table by table: which DynamoBackups the due slot creates (after each
//! table's jitter), which slots or tables are skipped and why, and when to look again.

use std::time::Duration;

use jiff::Timestamp;
use kube::ResourceExt;

use super::{Checked, TablesSeen};
use crate::{
    api::{BackupPhase, DynamoBackup, SkippedSlot, labels},
    plan::{
        names::child_backup_name,
        schedule::{Schedule, plan_slots},
    },
};

/// With nothing else due, a policy is looked at again after this long (a safety net: every
/// change that matters wakes it).
pub const RESYNC: Duration = Duration::from_secs(3600);
/// Skipped slots kept in status, newest first.
pub const SKIPPED_KEPT: usize = 20;

/// What the reconcile knows when it looks at the schedule.
pub struct SlotFacts<'a> {
    pub namespace: &'a str,
    pub policy: &'a str,
    pub checked: &'a Checked,
    pub schedule: &'a Schedule,
    pub children: &'a [DynamoBackup],
    pub tables: &'a TablesSeen,
    /// When the policy was created: its slots start there.
    pub created: Timestamp,
    /// The latest slot already dealt with.
    pub last: Option<Timestamp>,
    pub now: Timestamp,
}

/// What the schedule asks for now.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SlotActions {
    /// DynamoBackups to create: (index in `checked.tables`, object name, slot).
    pub create: Vec<(usize, String, Timestamp)>,
    /// Skipped: (slot, reason, the table when only one was skipped).
    pub skipped: Vec<(Timestamp, &'static str, Option<String>)>,
    /// The new lastScheduleTime, when the slot (or a skipped one) is dealt with for every table.
    pub last_schedule_time: Option<Timestamp>,
    pub next: Option<Timestamp>,
    /// When to look again.
    pub wait: Duration,
}

pub fn slots(f: &SlotFacts<'_>) -> SlotActions {
    let plan = plan_slots(f.schedule, f.last, f.created, f.now);
    let until = |at: Timestamp| Duration::try_from(at.duration_since(f.now)).unwrap_or_default();
    let mut actions = SlotActions {
        skipped: plan.skipped.iter().map(|(slot, reason)| (*slot, reason.as_str(), None)).collect(),
        next: plan.next,
        wait: plan.next.map_or(RESYNC, until),
        ..Default::default()
    };
    let Some(slot) = plan.due else {
        actions.last_schedule_time = plan.skipped.last().map(|(latest, _)| *latest);
        return actions;
    };
    let mut slot_done = true;
    for (i, (table, text)) in f.checked.tables.iter().zip(&f.checked.texts).enumerate() {
        let at = slot + f.schedule.offset_for(&format!("{}/{}/{text}", f.namespace, f.policy));
        if at > f.now {
            // Jitter: this table's backup of the slot is due a little later.
            slot_done = false;
            actions.wait = actions.wait.min(until(at));
            continue;
        }
        let name = child_backup_name(f.policy, text, &f.schedule.slot_suffix(slot));
        if f.children.iter().any(|c| c.name_any() == name) {
            continue;
        }
        // Whether the table exists is not known yet: its first read wakes the policy again.
        if f.tables.unread.contains(&table.name) {
            slot_done = false;
        } else if f.tables.missing.contains(&table.name) {
            // A backup of a missing table could only fail; the slot is reported instead.
            actions.skipped.push((slot, "TableNotFound", Some(table.name.clone())));
        } else if in_progress(f.children, text) {
            actions.skipped.push((slot, "PreviousBackupInProgress", Some(table.name.clone())));
        } else {
            actions.create.push((i, name, slot));
        }
    }
    actions.last_schedule_time = slot_done.then_some(slot);
    actions
}

/// Whether the table's previous scheduled backup is still being made.
fn in_progress(children: &[DynamoBackup], text: &str) -> bool {
    children.iter().any(|c| {
        c.spec.table_name == text
            && c.labels().get(labels::TRIGGER).map(String::as_str) == Some("schedule")
            && matches!(c.status.as_ref().and_then(|s| s.phase), None | Some(BackupPhase::Pending | BackupPhase::Creating))
    })
}

/// The skips status does not record yet, newest first, as they go into `skippedSlots`.
pub fn new_skips(known: &[SkippedSlot], skipped: &[(Timestamp, &'static str, Option<String>)]) -> Vec<SkippedSlot> {
    skipped
        .iter()
        .filter(|(slot, reason, table)| !known.iter().any(|s| s.slot_time.0 == *slot && s.reason == *reason && s.table == *table))
        .rev()
        .map(|(slot, reason, table)| SkippedSlot {
            slot_time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(*slot),
            reason: (*reason).to_owned(),
            table: table.clone(),
        })
        .collect()
}
