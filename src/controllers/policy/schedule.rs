//! The policy's schedule: the due slot's DynamoBackups created (`plan::policy::slots::slots`
//! decides which), skipped slots reported once each (status and a Warning event).

use std::{collections::BTreeMap, time::Duration};

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;

use crate::{
    api::{DynamoBackup, DynamoBackupPolicy, labels},
    controllers::{
        Error,
        common::{StatusWriter, create_once, publish},
    },
    plan::{
        children::policy_backup,
        policy::{
            Checked, TablesSeen,
            slots::{SKIPPED_KEPT, SlotFacts, new_skips, slots},
        },
        schedule::Schedule,
    },
};

type Writer<'a> = StatusWriter<'a, DynamoBackupPolicy>;

/// Takes the due slot, reports skipped ones. Returns when to look again.
pub async fn run(
    w: &mut Writer<'_>,
    checked: &Checked,
    schedule: &Schedule,
    children: &[DynamoBackup],
    tables: &TablesSeen,
) -> Result<Duration, Error> {
    let (obj, ctx) = (w.obj, w.ctx);
    let (namespace, policy) = (obj.namespace().unwrap_or_default(), obj.name_any());
    let facts = SlotFacts {
        namespace: &namespace,
        policy: &policy,
        checked,
        schedule,
        children,
        tables,
        created: obj.metadata.creation_timestamp.as_ref().map_or(w.now, |t| t.0),
        last: w.status.last_schedule_time.as_ref().map(|t| t.0),
        now: w.now,
    };
    let actions = slots(&facts);
    w.status.next_schedule_time = actions.next.map(Time);
    for (i, name, slot) in &actions.create {
        // One already there was made by an earlier attempt that did not live to record the slot.
        // The new backup's progress wakes the policy (status, retention once Available).
        let text = &checked.texts[*i];
        create_once(ctx.cluster.as_ref(), &namespace, &scheduled_backup(obj, name, text, checked.region.clone(), *slot)).await?;
    }
    if let Some(slot) = actions.last_schedule_time {
        w.status.last_schedule_time = Some(Time(slot));
    }
    let fresh = new_skips(&w.status.skipped_slots, &actions.skipped);
    for skip in fresh.iter().rev() {
        let what = skip.table.as_deref().map(|t| format!(" for table {t}")).unwrap_or_default();
        let note = format!("slot {}{what} skipped: {}", skip.slot_time.0, skip.reason);
        publish(&ctx.recorder, obj, true, "SlotSkipped", "Schedule", note).await;
    }
    w.status.skipped_slots.splice(0..0, fresh);
    w.status.skipped_slots.truncate(SKIPPED_KEPT);
    Ok(actions.wait)
}

fn scheduled_backup(policy: &DynamoBackupPolicy, name: &str, table: &str, region: Option<String>, slot: Timestamp) -> DynamoBackup {
    let mut backup = policy_backup(policy, name, table, region, "schedule");
    backup.metadata.annotations = Some(BTreeMap::from([(labels::SCHEDULED_TIME.to_owned(), slot.to_string())]));
    backup
}
