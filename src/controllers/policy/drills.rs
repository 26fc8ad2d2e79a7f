//! A policy's restore drills (`spec.drill`). On the drill schedule the policy creates a
//! DynamoRestore per table (or the tables drilled longest ago) from the newest Available backup
//! or the latest restorable time; the restore makes its table, checks it, and deletes itself
//! and its table `ttlAfterFinished` later. The policy follows each drill from the DynamoRestore
//! cache (a change wakes it, no polling) into `status.drills`, events and metrics.

use std::{sync::Arc, time::Duration};

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;

use crate::controllers::{
    common::{StatusWriter, create_once, publish},
    error::Error,
};
use crate::{
    api::{DrillResult, DrillStatus, DynamoBackup, DynamoBackupPolicy, DynamoRestore, labels},
    cluster,
    metrics::{PolicyLabels, PolicyTableLabels},
    plan::{
        drill::{self, DrillFrom, Start, compact, outcome, pick_tables, restore_name},
        names::{label_value, table_label_value},
        policy::TablesSeen,
        schedule::{Schedule, plan_slots},
        tables::TableRef,
    },
};

type Writer<'a> = StatusWriter<'a, DynamoBackupPolicy>;

/// Follows the drills under way and starts the due ones. Returns when to look again (the next
/// drill slot); a drill's progress wakes the policy by itself.
pub async fn run(
    w: &mut Writer<'_>,
    schedule: Option<&Schedule>,
    texts: &[String],
    tables: &TablesSeen,
    backups: &[DynamoBackup],
    now: Timestamp,
) -> Result<Option<Duration>, Error> {
    let (obj, ctx) = (w.obj, w.ctx);
    let (Some(spec), Some(schedule)) = (obj.spec.drill.as_ref(), schedule) else {
        w.status.drills.clear();
        w.status.last_drill_time = None;
        w.status.next_drill_time = None;
        return Ok(None);
    };
    let namespace = obj.namespace().unwrap_or_default();
    let label = label_value(&obj.name_any());
    ctx.restores.name_policy(&namespace, &label, &obj.name_any());
    if !ctx.restores.wait_ready(Duration::from_secs(10)).await {
        return Err(Error::NotReady("the DynamoRestore cache"));
    }
    let drills: Vec<Arc<DynamoRestore>> = ctx
        .restores
        .children(&namespace, &label)
        .into_iter()
        .filter(|r| r.labels().get(labels::TRIGGER).map(String::as_str) == Some(drill::TRIGGER))
        .collect();
    let mut entries: Vec<DrillStatus> = Vec::with_capacity(texts.len());
    for text in texts {
        let entry = w.status.drills.iter().find(|e| e.table == *text).cloned();
        entries.push(follow(w, &namespace, &drills, text, entry).await?);
    }

    let plan = plan_slots(schedule, w.status.last_drill_time.as_ref().map(|t| t.0), created(obj, now), now);
    w.status.next_drill_time = plan.next.map(Time);
    let mut wait = plan.next.map(|next| Duration::try_from(next.duration_since(now)).unwrap_or_default());
    if let Some(slot) = plan.due {
        let key = format!("{namespace}/{}/drill", obj.name_any());
        let at = slot + schedule.offset_for(&key);
        if at > now {
            let until = Duration::try_from(at.duration_since(now)).unwrap_or_default();
            wait = Some(wait.map_or(until, |w| w.min(until)));
        } else if tables.unread.is_empty() {
            let suffix = schedule.slot_suffix(slot);
            for text in slot_tables(obj, texts, &drills, &entries, &suffix, spec.tables_per_run) {
                let Some(entry) = entries.iter_mut().find(|e| e.table == text) else { continue };
                start(w, &namespace, &text, &suffix, slot, tables, backups, entry, now).await?;
            }
            w.status.last_drill_time = Some(Time(slot));
        }
        // With tables unread, their first read wakes the policy and the slot is taken then.
    } else if let Some((latest, _)) = plan.skipped.last() {
        w.status.last_drill_time = Some(Time(*latest));
    }
    record_metrics(w, &entries);
    w.status.drills = entries.into_iter().filter(|e| e.last_run.is_some() || e.result != DrillResult::Skipped).collect();
    Ok(wait)
}

fn created(obj: &DynamoBackupPolicy, now: Timestamp) -> Timestamp {
    obj.metadata.creation_timestamp.as_ref().map(|t| t.0).unwrap_or(now)
}

/// The tables a slot drills: those that already have this slot's drill (an attempt that did not
/// live to record the slot), and as many more as `tablesPerRun` asks, drilled longest ago first.
fn slot_tables(
    obj: &DynamoBackupPolicy,
    texts: &[String],
    drills: &[Arc<DynamoRestore>],
    entries: &[DrillStatus],
    suffix: &str,
    per_run: u32,
) -> Vec<String> {
    let name_of = |table: &str| restore_name(&obj.name_any(), table, suffix);
    let started = |table: &String| {
        let name = name_of(table);
        drills.iter().any(|r| r.name_any() == name) || entries.iter().any(|e| e.restore.as_deref() == Some(name.as_str()))
    };
    let (done, rest): (Vec<String>, Vec<String>) = texts.iter().cloned().partition(started);
    let more = if per_run == 0 { rest.len() } else { usize::try_from(per_run).unwrap_or(usize::MAX).saturating_sub(done.len()) };
    if more == 0 {
        return done;
    }
    let last_run = |table: &str| entries.iter().find(|e| e.table == table).and_then(|e| e.last_run.as_ref()).map(|t| t.0);
    let picked = pick_tables(&rest, last_run, u32::try_from(more).unwrap_or(u32::MAX));
    let mut chosen = done;
    chosen.extend(picked.into_iter().cloned());
    chosen
}

/// The latest drill of one table, as its DynamoRestore now says: the one the entry names, or a
/// newer one (a drill started from the command line). A drill's end is told once (event,
/// duration histogram).
async fn follow(
    w: &Writer<'_>,
    namespace: &str,
    drills: &[Arc<DynamoRestore>],
    table: &str,
    entry: Option<DrillStatus>,
) -> Result<DrillStatus, Error> {
    let slug = TableRef::parse(table).map(|t| table_label_value(&t.name)).unwrap_or_default();
    let since = entry.as_ref().and_then(|e| e.last_run.as_ref()).map(|t| t.0);
    let own = entry.as_ref().and_then(|e| e.restore.clone());
    let newest = drills
        .iter()
        .filter(|r| r.labels().get(labels::TABLE) == Some(&slug))
        .filter(|r| Some(r.name_any()) == own || since.is_none_or(|since| begun(r) > since))
        .max_by_key(|r| begun(r))
        .cloned();
    let mut entry = entry.unwrap_or_else(|| line(table, None, None, DrillResult::Skipped, None));
    let current = match newest {
        Some(restore) => Some(restore),
        // The cache no longer has the drill under way: deleted, or not listed yet. One GET tells.
        None if entry.result == DrillResult::Running => match entry.restore.as_deref() {
            Some(name) => cluster::get::<DynamoRestore>(w.ctx.cluster.as_ref(), namespace, name).await?.map(Arc::new),
            None => None,
        },
        None => None,
    };
    let Some(restore) = current else {
        if entry.result == DrillResult::Running {
            entry.result = DrillResult::Failed;
            entry.message = Some("the drill's DynamoRestore was deleted before it finished".into());
            ended(w, &entry).await;
        }
        return Ok(entry);
    };
    let was = (entry.restore.as_deref() == Some(restore.name_any().as_str())).then_some(entry.result);
    let seen = outcome(&restore);
    entry.restore = Some(restore.name_any());
    entry.last_run = Some(Time(begun(&restore)));
    entry.result = seen.result;
    entry.restore_duration = seen.restore_duration.map(compact);
    entry.data_age = seen.data_age.map(compact);
    entry.message = seen.message;
    let finished = matches!(seen.result, DrillResult::Passed | DrillResult::Failed);
    if finished && was != Some(seen.result) {
        if let Some(took) = seen.restore_duration {
            let labels = PolicyLabels { namespace: w.obj.namespace().unwrap_or_default(), policy: w.obj.name_any() };
            w.ctx.metrics.drill_restore_duration.get_or_create(&labels).observe(took.as_secs_f64());
        }
        ended(w, &entry).await;
    }
    Ok(entry)
}

/// When a drill began: its restore call, else its object's creation.
fn begun(restore: &DynamoRestore) -> Timestamp {
    restore
        .status
        .as_ref()
        .and_then(|s| s.started_at.as_ref())
        .or(restore.metadata.creation_timestamp.as_ref())
        .map(|t| t.0)
        .unwrap_or_default()
}

async fn ended(w: &Writer<'_>, entry: &DrillStatus) {
    let passed = entry.result == DrillResult::Passed;
    let mut note = format!("drill of table {} {}", entry.table, if passed { "passed" } else { "FAILED" });
    if let Some(took) = &entry.restore_duration {
        note.push_str(&format!(": restored in {took}"));
    }
    if let Some(age) = &entry.data_age {
        note.push_str(&format!(", data {age} old"));
    }
    if let Some(message) = &entry.message {
        note.push_str(&format!("; {message}"));
    }
    publish(&w.ctx.recorder, w.obj, !passed, if passed { "DrillPassed" } else { "DrillFailed" }, "Drill", note).await;
}

/// Starts the slot's drill of one table, unless its previous drill still runs or there is
/// nothing to restore yet.
#[allow(clippy::too_many_arguments)]
async fn start(
    w: &Writer<'_>,
    namespace: &str,
    text: &str,
    suffix: &str,
    slot: Timestamp,
    tables: &TablesSeen,
    backups: &[DynamoBackup],
    entry: &mut DrillStatus,
    now: Timestamp,
) -> Result<(), Error> {
    let (obj, ctx) = (w.obj, w.ctx);
    let Some(spec) = obj.spec.drill.as_ref() else { return Ok(()) };
    let name = restore_name(&obj.name_any(), text, suffix);
    let table = TableRef::parse(text).map(|t| t.name).unwrap_or_else(|_| text.to_owned());
    let missing = tables.missing.contains(&table);
    let from = match drill::start(spec.source, entry, &name, text, missing, backups, slot) {
        Start::Restore(from) => from,
        Start::StillRunning { note } => {
            publish(&ctx.recorder, obj, true, "DrillSkipped", "Drill", note).await;
            return Ok(());
        }
        Start::Skip { message, warn } => {
            if warn {
                publish(&ctx.recorder, obj, true, "DrillSkipped", "Drill", message.clone()).await;
            }
            *entry = line(text, None, Some(now), DrillResult::Skipped, Some(message));
            return Ok(());
        }
    };
    let mut restore = match drill::drill_restore(obj, text, &from, suffix) {
        Ok(restore) => restore,
        Err(drill::NotDrillable(message)) => return fail(w, entry, text, now, message).await,
    };
    let region = restore.spec.region.clone();
    if let Err(denied) = ctx.tenancy.check(&obj.namespace().unwrap_or_default(), &restore.spec.target_table_name, region.as_deref()) {
        let message = format!("{}; a drill of {table} makes tables named {table}-drill-*", denied.0);
        return fail(w, entry, text, now, message).await;
    }
    restore.metadata.annotations = Some([(labels::SCHEDULED_TIME.to_owned(), slot.to_string())].into());
    // An existing one was made by an attempt that did not live to record the slot.
    create_once(ctx.cluster.as_ref(), namespace, &restore).await?;
    let what = match &from {
        DrillFrom::Backup(name) => format!("DynamoBackup {name}"),
        DrillFrom::LatestRestorableTime => format!("the latest restorable time of {table}"),
    };
    let message = format!("restoring {what} into table {}", restore.spec.target_table_name);
    publish(&ctx.recorder, obj, false, "DrillStarted", "Drill", format!("drill of table {table}: {message}")).await;
    *entry = line(text, Some(name), Some(now), DrillResult::Running, Some(message));
    Ok(())
}

async fn fail(w: &Writer<'_>, entry: &mut DrillStatus, text: &str, now: Timestamp, message: String) -> Result<(), Error> {
    *entry = line(text, None, Some(now), DrillResult::Failed, Some(message));
    ended(w, entry).await;
    Ok(())
}

/// A table's drill line before anything of its restore is measured.
fn line(table: &str, restore: Option<String>, last_run: Option<Timestamp>, result: DrillResult, message: Option<String>) -> DrillStatus {
    DrillStatus { table: table.to_owned(), restore, last_run: last_run.map(Time), result, restore_duration: None, data_age: None, message }
}

/// The gauges of every finished drill, from status: right again after a restart.
fn record_metrics(w: &Writer<'_>, entries: &[DrillStatus]) {
    let metrics = &w.ctx.metrics;
    for entry in entries {
        let passed = match entry.result {
            DrillResult::Passed => 1,
            DrillResult::Failed => 0,
            DrillResult::Running | DrillResult::Skipped => continue,
        };
        let labels =
            PolicyTableLabels { namespace: w.obj.namespace().unwrap_or_default(), policy: w.obj.name_any(), table: entry.table.clone() };
        metrics.drill_last_result.get_or_create(&labels).set(passed);
        if let Some(run) = &entry.last_run {
            metrics.drill_last_run.get_or_create(&labels).set(run.0.as_second());
        }
        if let Some(age) = entry.data_age.as_deref().and_then(|a| humantime::parse_duration(a).ok()) {
            metrics.drill_data_age.get_or_create(&labels).set(i64::try_from(age.as_secs()).unwrap_or(i64::MAX));
        }
    }
}
