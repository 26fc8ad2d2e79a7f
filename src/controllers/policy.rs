//! DynamoBackupPolicy: PITR on every table, a DynamoBackup per table for each schedule slot,
//! retention over the DynamoBackups it made, and what its deletion does to them.
//!
//! The policy never talks to DynamoDB about backups itself: it creates and deletes DynamoBackup
//! objects (named from policy, table and slot, so a restart never doubles a slot), and their
//! controller does the rest.
//!
//! A reconcile reads caches, not the world: its children from the DynamoBackup watch (a child's
//! change wakes it), each table's PITR from the shared PITR cache (a read landing wakes it), and
//! workloads from metadata watches. With nothing due it makes no AWS call and, when its status
//! would not change, no apiserver call either.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
    time::Duration,
};

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{
    ResourceExt,
    api::ObjectMeta,
    runtime::{
        Controller,
        controller::Action,
        reflector::{ObjectRef, Store},
    },
};

use super::{
    Error,
    common::{FINALIZER, Reported, StatusWriter, create_once, delete_once, key_of, publish, set_finalizer},
};
use crate::api::facts::Scope;
use crate::aws::{AwsError, ErrorClass};
use crate::{
    api::{
        BackupPhase, DynamoBackup, DynamoBackupPolicy, DynamoBackupPolicyStatus, LastBackup, OnPolicyDelete, PitrStatus, PolicyPhase,
        PolicyTableStatus, RestorePhase, SkippedSlot, WorkloadKind, labels,
    },
    context::Context,
    metrics::{PolicyLabels, PolicyTableLabels, TableLabels},
    plan::{
        children::policy_backup,
        conditions::Standing,
        names::{child_backup_name, label_value},
        retention::{self, Candidate, Rules},
        rollout::{Seen, changes, selects},
        schedule::{Schedule, plan_slots},
        selector::{MAX_SELECTED, Selector},
        tables::TableRef,
        validate::invalid,
    },
};

pub const KIND: &str = "DynamoBackupPolicy";

/// How long a reconcile waits for the first reads of tables it names for the first time.
const FIRST_READ_WAIT: Duration = Duration::from_secs(2);

/// With nothing else due, a policy is looked at again after this long (a safety net: every
/// change that matters wakes it).
const RESYNC: Duration = Duration::from_secs(3600);
/// Skipped slots kept in status, newest first.
const SKIPPED_KEPT: usize = 20;

type Writer<'a> = StatusWriter<'a, DynamoBackupPolicy>;

impl Reported for DynamoBackupPolicy {
    type Status = DynamoBackupPolicyStatus;

    fn current_status(&self) -> DynamoBackupPolicyStatus {
        self.status.clone().unwrap_or_default()
    }

    fn has_status(&self) -> bool {
        self.status.is_some()
    }

    fn conditions(status: &mut DynamoBackupPolicyStatus) -> &mut Vec<Condition> {
        &mut status.conditions
    }

    fn observed_generation(status: &mut DynamoBackupPolicyStatus) -> &mut Option<i64> {
        &mut status.observed_generation
    }

    fn mark_stalled(status: &mut DynamoBackupPolicyStatus) {
        status.phase = Some(PolicyPhase::Failed);
    }
}

/// The spec, checked once: everything the reconcile acts on.
struct Checked {
    /// Every table protected: those of spec.tables, then those the selector matched.
    tables: Vec<TableRef>,
    /// The same, as status names them (spec.tables' text, a selected table's name).
    texts: Vec<String>,
    /// The tables the selector matched.
    selected: BTreeSet<String>,
    region: Option<String>,
    selector: Option<Selector>,
    schedule: Option<Schedule>,
    rules: Option<Rules>,
    drill: Option<Schedule>,
}

fn check(policy: &DynamoBackupPolicy) -> Result<Checked, crate::plan::validate::Invalid> {
    let spec = &policy.spec;
    if spec.tables.len() > 100 {
        return Err(invalid("spec.tables names more than 100 tables; select them with spec.tableSelector instead"));
    }
    if spec.tables.is_empty() && spec.table_selector.is_none() {
        return Err(invalid("name the tables in spec.tables, select them with spec.tableSelector, or both"));
    }
    let selector = spec.table_selector.as_ref().map(Selector::parse).transpose()?;
    let mut tables = Vec::with_capacity(spec.tables.len());
    for (i, text) in spec.tables.iter().enumerate() {
        let table = TableRef::parse(text).map_err(|e| invalid(format!("spec.tables[{i}]: {e}")))?;
        if tables.iter().any(|t: &TableRef| t.name == table.name && t.region == table.region) {
            return Err(invalid(format!("spec.tables[{i}]: {text:?} is listed twice")));
        }
        tables.push(table);
    }
    let days = spec.point_in_time_recovery.recovery_period_in_days;
    if !(1..=35).contains(&days) {
        return Err(invalid(format!("spec.pointInTimeRecovery.recoveryPeriodInDays {days} must be 1 to 35")));
    }
    if let Some(template) = &spec.backup {
        crate::plan::validate::aws_backup_settings(template.method, template.aws_backup.as_ref(), "spec.backup")?;
    }
    let schedule = spec.schedule.as_ref().map(Schedule::parse).transpose()?;
    let rules = spec.retention.as_ref().map(Rules::parse).transpose()?;
    let drill = spec.drill.as_ref().map(super::drill::check).transpose()?;
    let texts = spec.tables.clone();
    Ok(Checked { tables, texts, selected: BTreeSet::new(), region: spec.region.clone(), selector, schedule, rules, drill })
}

/// What the selector adds: the tables of the region's last listing it matches and the tenancy
/// file allows, not named in spec.tables, sorted, at most `MAX_SELECTED`. None: the first
/// listing is under way (the policy is woken when it lands). Err: the listing failed.
fn select(w: &Writer<'_>, checked: &Checked, namespace: &str) -> Option<Result<(Vec<String>, usize), AwsError>> {
    let (obj, ctx) = (w.obj, w.ctx);
    let me = key_of(obj);
    let Some(selector) = &checked.selector else {
        ctx.discovery.follow(&me, None);
        return Some(Ok((Vec::new(), 0)));
    };
    let scope = w.scope(checked.region.clone());
    let listing = ctx.discovery.follow(&me, Some((&scope, selector.wants_tags())))?;
    if let Some(err) = &listing.error
        && listing.tables.is_empty()
    {
        return Some(Err(err.clone()));
    }
    let region = checked.region.as_deref();
    let matched: Vec<String> = listing
        .tables
        .iter()
        .filter(|(name, tags)| selector.matches(name, tags))
        .filter(|(name, _)| ctx.tenancy.check(namespace, name, region).is_ok())
        .filter(|(name, _)| !checked.tables.iter().any(|t| &t.name == *name && t.region.as_deref().is_none_or(|r| Some(r) == region)))
        .map(|(name, _)| name.clone())
        .collect();
    let count = matched.len();
    Some(Ok((matched.into_iter().take(MAX_SELECTED).collect(), count)))
}

pub async fn reconcile(obj: Arc<DynamoBackupPolicy>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = obj.namespace().ok_or(Error::MissingMetadata("namespace"))?;
    let mut w = StatusWriter::new(obj.as_ref(), &ctx);
    match reconcile_with(&mut w, &namespace).await {
        Err(Error::Dynamo(err)) => Err(w.retrying(err).await),
        other => other,
    }
}

async fn reconcile_with(w: &mut Writer<'_>, namespace: &str) -> Result<Action, Error> {
    let (obj, ctx) = (w.obj, w.ctx);
    let label = label_value(&obj.name_any());
    ctx.backups.name_policy(namespace, &label, &obj.name_any());
    if !ctx.backups.wait_ready(Duration::from_secs(10)).await {
        tracing::warn!("the DynamoBackup cache has not listed yet; will retry");
        return Err(Error::NotReady("the DynamoBackup cache"));
    }
    let children: Vec<DynamoBackup> = ctx.backups.children(namespace, &label).iter().map(|c| c.as_ref().clone()).collect();
    tracing::debug!(children = children.len(), "children from the DynamoBackup cache");
    let me = key_of(obj);

    if obj.metadata.deletion_timestamp.is_some() {
        ctx.pitr.forget(&me);
        return delete_policy(w, namespace, &children).await;
    }
    let mut checked = match check(obj) {
        Ok(checked) => checked,
        Err(invalid) => {
            ctx.pitr.forget(&me);
            ctx.discovery.follow(&me, None);
            return w.stalled(invalid.reason, invalid.message).await;
        }
    };
    for table in &checked.tables {
        if let Err(denied) = ctx.tenancy.check(namespace, &table.name, table.region_or(checked.region.as_deref())) {
            ctx.pitr.forget(&me);
            ctx.discovery.follow(&me, None);
            return w.stalled("AccessDenied", denied.0).await;
        }
    }
    set_finalizer(w.ctx.cluster.as_ref(), obj, obj.spec.on_policy_delete == OnPolicyDelete::DeleteBackups).await?;
    // The policy's region counts in the unprotected-tables metric.
    ctx.discovery.watch(&w.scope(checked.region.clone()));
    let (selected, too_many) = match select(w, &checked, namespace) {
        Some(Ok((selected, matched))) => {
            w.status.matched_tables = checked.selector.as_ref().and_then(|_| u32::try_from(matched).ok());
            (Some(selected), (matched > MAX_SELECTED).then_some(matched))
        }
        Some(Err(err)) => {
            let message =
                format!("listing the tables of {} failed: {err}; retried within a minute", ctx.region_label(checked.region.as_deref()));
            if checked.texts.is_empty() && !w.status.tables.iter().any(|t| t.selected) {
                w.status.phase = Some(PolicyPhase::Pending);
                w.write(&Standing::Reconciling { reason: "DiscoveringTables".into(), message }).await?;
                return Ok(Action::requeue(Duration::from_secs(60)));
            }
            (None, None)
        }
        None => {
            if checked.texts.is_empty() && !w.status.tables.iter().any(|t| t.selected) {
                w.status.phase = Some(PolicyPhase::Pending);
                let message = format!("listing the tables of {} for spec.tableSelector", ctx.region_label(checked.region.as_deref()));
                w.write(&Standing::Reconciling { reason: "DiscoveringTables".into(), message }).await?;
                return Ok(Action::requeue(RESYNC));
            }
            (None, None)
        }
    };
    // Until the selector's tables are known, the ones selected before stay (none is released).
    let selected: Vec<String> = selected.unwrap_or_else(|| w.status.tables.iter().filter(|t| t.selected).map(|t| t.name.clone()).collect());
    for name in selected {
        checked.tables.push(TableRef { name: name.clone(), region: None, account: None });
        checked.texts.push(name.clone());
        checked.selected.insert(name);
    }
    release(w, &checked).await;

    let now = Timestamp::now();
    let tables = protect_tables(w, &checked, &children).await?;
    let mut requeue = RESYNC;
    if let Some(schedule) = &checked.schedule {
        requeue = requeue.min(run_schedule(w, namespace, &checked, schedule, &children, &tables, now).await?);
    }
    if let Some(wait) = run_pre_rollout(w, namespace, &checked, &tables.missing, namespace).await? {
        requeue = requeue.min(wait);
    }
    if let Some(rules) = &checked.rules {
        apply_retention(w, namespace, &checked, rules, &children, now).await?;
    }
    if let Some(wait) = super::drill::run_drills(w, checked.drill.as_ref(), &checked.texts, &tables, &children, now).await? {
        requeue = requeue.min(wait);
    }
    let drills_failed = super::drill::failed(&w.status.drills);

    let count = checked.tables.len();
    if !tables.failed.is_empty() {
        w.status.phase = Some(PolicyPhase::Degraded);
        let what: Vec<String> = tables.failed.iter().map(|(table, err)| format!("{table}: {err}")).collect();
        let message = format!("cannot read table(s) {}; will retry", what.join("; "));
        let standing = if tables.failed.iter().all(|(_, err)| err.class == ErrorClass::Terminal) {
            Standing::Stalled { reason: "TableReadFailed".into(), message: format!("{message}; check the operator's IAM permissions") }
        } else {
            Standing::Reconciling { reason: "TableReadFailed".into(), message }
        };
        w.write(&standing).await?;
    } else if !tables.unread.is_empty() {
        w.status.phase = Some(PolicyPhase::Pending);
        let message = format!("reading point-in-time recovery of {} of {count} table(s)", tables.unread.len());
        w.write(&Standing::Reconciling { reason: "ReadingTables".into(), message }).await?;
    } else if tables.missing.is_empty() && too_many.is_some() {
        w.status.phase = Some(PolicyPhase::Degraded);
        let message = format!(
            "spec.tableSelector matches {} tables; a policy protects at most {MAX_SELECTED} of them (the first by name are): narrow the selector or split it over several policies",
            too_many.unwrap_or_default()
        );
        w.write(&Standing::Stalled { reason: "SelectorTooBroad".into(), message }).await?;
    } else if tables.missing.is_empty() && !drills_failed.is_empty() {
        w.status.phase = Some(PolicyPhase::Degraded);
        let message = format!(
            "restore drill failed for {}; the policy is Ready again once a later drill passes (`kubectl dynamobackup drill {}` runs one now)",
            drills_failed.join("; "),
            obj.name_any()
        );
        w.write(&Standing::Stalled { reason: "DrillFailed".into(), message }).await?;
    } else if tables.missing.is_empty() {
        w.status.phase = Some(PolicyPhase::Protected);
        let snapshots = match &checked.schedule {
            Some(schedule) if schedule.suspend => Some("scheduled snapshots suspended"),
            Some(_) => Some("snapshots scheduled"),
            None => None,
        };
        let message = match (snapshots, obj.spec.point_in_time_recovery.enabled) {
            (Some(snapshots), true) => format!("PITR on and {snapshots} for {count} table(s)"),
            (None, true) => format!("PITR on for {count} table(s)"),
            (Some(snapshots), false) => format!("{snapshots} for {count} table(s); PITR left as found"),
            (None, false) => format!("{count} table(s) watched; PITR left as found"),
        };
        let passed = w.status.drills.iter().filter(|d| d.result == crate::api::DrillResult::Passed).count();
        let message = match &checked.drill {
            Some(_) if passed > 0 => format!("{message}; the last drill passed for {passed} table(s)"),
            Some(_) => format!("{message}; restore drills scheduled"),
            None => message,
        };
        w.write(&Standing::Ready { reason: "Protected".into(), message }).await?;
    } else {
        w.status.phase = Some(PolicyPhase::Degraded);
        let message = format!(
            "table(s) {} do not exist in {}; the others are protected. Create them or fix spec.tables",
            tables.missing.join(", "),
            ctx.region_label(checked.region.as_deref())
        );
        w.write(&Standing::Stalled { reason: "TableNotFound".into(), message }).await?;
    }
    Ok(Action::requeue(requeue.max(Duration::from_secs(1))))
}

/// Tables the policy protected and does not any more (removed from spec.tables, or no longer
/// matched by the selector): released, with an event. Nothing is deleted and PITR stays as it
/// is; their backups stay, under retention as before.
async fn release(w: &Writer<'_>, checked: &Checked) {
    for line in w.status.tables.iter().filter(|l| !checked.texts.contains(&l.name)) {
        let why = if line.selected { "no longer matches spec.tableSelector" } else { "is no longer in spec.tables" };
        let note =
            format!("table {} {why}: released; its point-in-time recovery and backups are left as they are, nothing is deleted", line.name);
        publish(&w.ctx.recorder, w.obj, false, "TableReleased", "Release", note).await;
    }
}

/// What the PITR cache told of the policy's tables.
pub(super) struct TablesSeen {
    /// Tables that do not exist.
    pub missing: Vec<String>,
    /// Tables whose first read has not landed yet.
    pub unread: Vec<String>,
    /// Tables whose last read failed, with the error.
    pub failed: Vec<(String, AwsError)>,
}

/// PITR as asked on every table, and each table's line in status, from the shared PITR cache:
/// no DynamoDB read here. The one call a reconcile may make is turning PITR on.
async fn protect_tables(w: &mut Writer<'_>, checked: &Checked, children: &[DynamoBackup]) -> Result<TablesSeen, Error> {
    let (obj, ctx) = (w.obj, w.ctx);
    let pitr_spec = &obj.spec.point_in_time_recovery;
    let keys: Vec<(Scope, String)> = checked
        .tables
        .iter()
        .map(|table| (w.scope(table.region_or(checked.region.as_deref()).map(str::to_owned)), table.name.clone()))
        .collect();
    let me = key_of(obj);
    let mut known = ctx.pitr.follow(&me, &keys);
    // A table named for the first time is usually read within moments: wait that long rather
    // than report ReadingTables and flip back at once. Its read lands at the front of the queue.
    let deadline = tokio::time::Instant::now() + FIRST_READ_WAIT;
    while known.iter().any(Option::is_none) && tokio::time::Instant::now() < deadline {
        ctx.pitr.read_landed(deadline - tokio::time::Instant::now()).await;
        known = ctx.pitr.follow(&me, &keys);
    }
    let mut seen = TablesSeen { missing: Vec::new(), unread: Vec::new(), failed: Vec::new() };
    let mut lines = Vec::with_capacity(checked.tables.len());
    for (((table, text), (scope, _)), facts) in checked.tables.iter().zip(&checked.texts).zip(&keys).zip(known) {
        let mut line = w.status.tables.iter().find(|l| l.name == *text).cloned().unwrap_or_default();
        line.name = text.clone();
        match facts {
            None => seen.unread.push(table.name.clone()),
            Some(facts) => {
                if let Some(err) = &facts.error {
                    seen.failed.push((table.name.clone(), err.clone()));
                }
                if facts.error.is_none() && !facts.exists() {
                    seen.missing.push(table.name.clone());
                    line = PolicyTableStatus { name: text.clone(), ..Default::default() };
                }
                line.table_arn = facts.arn.clone().or(line.table_arn.take());
                line.table_size_bytes = facts.size_bytes.or(line.table_size_bytes);
                if let Some(size) = line.table_size_bytes {
                    let labels = TableLabels { region: ctx.region_label(scope.region.as_deref()).to_owned(), table: table.name.clone() };
                    ctx.metrics.table_size_bytes.get_or_create(&labels).set(size);
                }
                if let Some(mut pitr) = facts.pitr.clone() {
                    let wrong_period = pitr.recovery_period_in_days.is_some_and(|d| d != pitr_spec.recovery_period_in_days);
                    if pitr_spec.enabled && facts.exists() && (!pitr.enabled || wrong_period) {
                        pitr = ctx.dynamo.enable_pitr(scope, &table.name, pitr_spec.recovery_period_in_days).await?;
                        ctx.pitr.record(scope, &table.name, pitr.clone());
                        let note =
                            format!("point-in-time recovery on for table {} ({} days)", table.name, pitr_spec.recovery_period_in_days);
                        publish(&ctx.recorder, obj, false, "PointInTimeRecoveryEnabled", "UpdateContinuousBackups", note).await;
                    }
                    let region = ctx.region_label(scope.region.as_deref()).to_owned();
                    let latest = pitr.latest.filter(|_| pitr.enabled);
                    ctx.metrics.latest_restorable.set(TableLabels { region, table: table.name.clone() }, latest);
                    line.point_in_time_recovery = Some(PitrStatus {
                        status: if pitr.enabled { "ENABLED" } else { "DISABLED" }.into(),
                        recovery_period_in_days: pitr.recovery_period_in_days,
                        earliest_restorable_time: pitr.earliest.map(Time),
                        latest_restorable_time: pitr.latest.map(Time),
                    });
                }
            }
        }
        let mine: Vec<&DynamoBackup> = children.iter().filter(|c| c.spec.table_name == *text).collect();
        let available: Vec<&DynamoBackup> =
            mine.iter().copied().filter(|c| c.status.as_ref().and_then(|s| s.phase) == Some(BackupPhase::Available)).collect();
        line.available_backups = u32::try_from(available.len()).ok();
        line.selected = checked.selected.contains(text);
        let bytes: i64 = available.iter().filter_map(|c| c.status.as_ref().and_then(|s| s.size_bytes)).sum();
        line.backup_bytes = Some(bytes);
        let labels =
            PolicyTableLabels { namespace: obj.namespace().unwrap_or_default(), policy: obj.name_any(), table: table.name.clone() };
        ctx.metrics.table_backup_bytes.get_or_create(&labels).set(bytes);
        let newest = available.iter().max_by_key(|c| created_at(c));
        line.last_backup =
            newest.map(|c| LastBackup { name: c.name_any(), created_at: c.status.as_ref().and_then(|s| s.created_at.clone()) });
        if let Some(newest) = newest {
            ctx.metrics.last_successful_backup.get_or_create(&labels).set(created_at(newest).as_second());
        }
        lines.push(line);
    }
    w.status.backup_bytes = Some(lines.iter().filter_map(|l| l.backup_bytes).sum());
    w.status.tables = lines;
    w.status.last_successful_backup_time = children
        .iter()
        .filter(|c| c.status.as_ref().and_then(|s| s.phase) == Some(BackupPhase::Available))
        .filter_map(|c| c.status.as_ref().and_then(|s| s.created_at.clone()))
        .max_by_key(|t| t.0);
    Ok(seen)
}

fn created_at(backup: &DynamoBackup) -> Timestamp {
    backup
        .status
        .as_ref()
        .and_then(|s| s.created_at.as_ref().map(|t| t.0))
        .or_else(|| backup.metadata.creation_timestamp.as_ref().map(|t| t.0))
        .unwrap_or_default()
}

/// Takes the due slot (one DynamoBackup per table), reports skipped ones. Returns when to look again.
async fn run_schedule(
    w: &mut Writer<'_>,
    ns: &str,
    checked: &Checked,
    schedule: &Schedule,
    children: &[DynamoBackup],
    tables: &TablesSeen,
    now: Timestamp,
) -> Result<Duration, Error> {
    let missing = &tables.missing;
    let (obj, ctx) = (w.obj, w.ctx);
    let created = obj.metadata.creation_timestamp.as_ref().map(|t| t.0).unwrap_or(now);
    let last = w.status.last_schedule_time.as_ref().map(|t| t.0);
    let plan = plan_slots(schedule, last, created, now);
    w.status.next_schedule_time = plan.next.map(Time);
    let mut skipped: Vec<(Timestamp, &'static str, Option<String>)> =
        plan.skipped.iter().map(|(slot, reason)| (*slot, reason.as_str(), None)).collect();
    let mut wait = plan.next.map(|next| Duration::try_from(next.duration_since(now)).unwrap_or_default()).unwrap_or(RESYNC);

    let mut slot_done = true;
    if let Some(slot) = plan.due {
        for (table, text) in checked.tables.iter().zip(&checked.texts) {
            let key = format!("{}/{}/{}", obj.namespace().unwrap_or_default(), obj.name_any(), text);
            let at = slot + schedule.offset_for(&key);
            if at > now {
                // Jitter: this table's backup of the slot is due a little later.
                slot_done = false;
                wait = wait.min(Duration::try_from(at.duration_since(now)).unwrap_or_default());
                continue;
            }
            let name = child_backup_name(&obj.name_any(), text, &schedule.slot_suffix(slot));
            if children.iter().any(|c| c.name_any() == name) {
                continue;
            }
            // Whether the table exists is not known yet: its first read wakes the policy again.
            if tables.unread.contains(&table.name) {
                slot_done = false;
                continue;
            }
            // A backup of a missing table could only fail; the slot is reported instead.
            if missing.contains(&table.name) {
                skipped.push((slot, "TableNotFound", Some(table.name.clone())));
                continue;
            }
            let in_progress = children.iter().any(|c| {
                c.spec.table_name == *text
                    && c.labels().get(labels::TRIGGER).map(String::as_str) == Some("schedule")
                    && matches!(c.status.as_ref().and_then(|s| s.phase), None | Some(BackupPhase::Pending | BackupPhase::Creating))
            });
            if in_progress {
                skipped.push((slot, "PreviousBackupInProgress", Some(table.name.clone())));
                continue;
            }
            // An existing one was made by an earlier attempt that did not live to record the slot.
            // The new backup's progress wakes the policy (status, retention once Available).
            create_once(ctx.cluster.as_ref(), ns, &scheduled_backup(obj, &name, text, checked.region.clone(), slot)).await?;
        }
        if slot_done {
            w.status.last_schedule_time = Some(Time(slot));
        }
    } else if let Some((latest, _)) = plan.skipped.last() {
        w.status.last_schedule_time = Some(Time(*latest));
    }

    for (slot, reason, table) in skipped {
        let known = w.status.skipped_slots.iter().any(|s| s.slot_time.0 == slot && s.reason == reason && s.table == table);
        if known {
            continue;
        }
        let what = table.as_deref().map(|t| format!(" for table {t}")).unwrap_or_default();
        publish(&ctx.recorder, obj, true, "SlotSkipped", "Schedule", format!("slot {slot}{what} skipped: {reason}")).await;
        w.status.skipped_slots.insert(0, SkippedSlot { slot_time: Time(slot), reason: reason.to_owned(), table });
    }
    w.status.skipped_slots.truncate(SKIPPED_KEPT);
    Ok(wait)
}

fn scheduled_backup(policy: &DynamoBackupPolicy, name: &str, table: &str, region: Option<String>, slot: Timestamp) -> DynamoBackup {
    let mut backup = policy_backup(policy, name, table, region, "schedule");
    backup.metadata.annotations = Some(BTreeMap::from([(labels::SCHEDULED_TIME.to_owned(), slot.to_string())]));
    backup
}

/// Further triggers of a policy: a wake-up from the caches (a child changed, a table was read)
/// and a spec change of a workload it follows. The workload watches exist only in namespaces
/// that have a policy with `preRollout`, started and stopped as such policies come and go.
pub fn extend(controller: Controller<DynamoBackupPolicy>, namespace: Option<&str>, ctx: &Arc<Context>) -> Controller<DynamoBackupPolicy> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(follow_workload_namespaces(ctx.clone(), controller.store(), tx));
    let woken = ctx.wake_policies.subscribe(namespace.map(str::to_owned));
    let workloads = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|policy| (policy, rx)) });
    let woken = futures::stream::unfold(woken, |mut rx| async move { rx.recv().await.map(|policy| (policy, rx)) });
    controller.reconcile_on(futures::stream::select(workloads, woken))
}

/// How often the set of namespaces with preRollout policies is looked at (in memory).
const WORKLOAD_NAMESPACES_EVERY: Duration = Duration::from_secs(2);

async fn follow_workload_namespaces(
    ctx: Arc<Context>,
    policies: Store<DynamoBackupPolicy>,
    tx: tokio::sync::mpsc::UnboundedSender<ObjectRef<DynamoBackupPolicy>>,
) {
    while !tx.is_closed() {
        let wanted: BTreeSet<String> =
            policies.state().iter().filter(|p| p.spec.pre_rollout.is_some()).filter_map(|p| p.namespace()).collect();
        ctx.workloads.retain(&wanted);
        for namespace in &wanted {
            let (policies, tx) = (policies.clone(), tx.clone());
            ctx.workloads.watch(namespace, move |(kind, workload)| {
                for policy in following(&policies, kind, &workload) {
                    let _ = tx.send(policy);
                }
            });
        }
        tokio::time::sleep(WORKLOAD_NAMESPACES_EVERY).await;
    }
    ctx.workloads.retain(&BTreeSet::new());
}

/// The policies of the workload's namespace that follow it.
fn following(policies: &Store<DynamoBackupPolicy>, kind: WorkloadKind, workload: &ObjectMeta) -> Vec<ObjectRef<DynamoBackupPolicy>> {
    let labels = workload.labels.clone().unwrap_or_default();
    let name = workload.name.clone().unwrap_or_default();
    policies
        .state()
        .iter()
        .filter(|p| p.metadata.namespace == workload.namespace)
        .filter(|p| p.spec.pre_rollout.as_ref().is_some_and(|pre| pre.workloads.iter().any(|sel| selects(sel, kind, &name, &labels))))
        .map(|p| ObjectRef::from_obj(p.as_ref()))
        .collect()
}

/// Snapshots of every table before a new rollout of the selected workloads: one DynamoBackup
/// per table, named from the new pod template's hash. The workloads are only read.
async fn run_pre_rollout(
    w: &mut Writer<'_>,
    ns: &str,
    checked: &Checked,
    missing: &[String],
    namespace: &str,
) -> Result<Option<Duration>, Error> {
    let (obj, ctx) = (w.obj, w.ctx);
    let Some(pre) = &obj.spec.pre_rollout else {
        w.status.rollouts.clear();
        return Ok(None);
    };
    // The namespace follower starts the watches within a moment of a preRollout policy.
    let Some(workloads) = ctx.workloads.workloads(namespace).await else {
        return Ok(Some(WORKLOAD_NAMESPACES_EVERY));
    };
    let mut selected = Vec::new();
    for (kind, name, labels, generation) in workloads {
        if !pre.workloads.iter().any(|sel| selects(sel, kind, &name, &labels)) {
            continue;
        }
        if let Some(hash) = ctx.workloads.template_hash(kind, namespace, &name, generation).await? {
            selected.push(Seen { kind, name, hash });
        }
    }
    let (mut record, snapshots) = changes(&w.status.rollouts, &selected);
    for change in snapshots {
        let mut first = None;
        for (table, text) in checked.tables.iter().zip(&checked.texts) {
            if missing.contains(&table.name) {
                continue;
            }
            let name = child_backup_name(&obj.name_any(), text, &format!("pre-{}", change.hash));
            first.get_or_insert_with(|| name.clone());
            // An existing one: this revision was snapshotted before, and never is twice.
            create_once(ctx.cluster.as_ref(), ns, &policy_backup(obj, &name, text, checked.region.clone(), "pre-rollout")).await?;
        }
        let note = format!("{:?} {} has a new pod template ({}): snapshot of every table", change.kind, change.name, change.hash);
        publish(&ctx.recorder, obj, false, "PreRolloutBackup", "Rollout", note).await;
        if let Some(entry) = record.iter_mut().find(|r| r.kind == change.kind && r.name == change.name) {
            entry.backup = first;
        }
    }
    w.status.rollouts = record;
    Ok(None)
}

async fn apply_retention(
    w: &mut Writer<'_>,
    ns: &str,
    checked: &Checked,
    rules: &Rules,
    children: &[DynamoBackup],
    now: Timestamp,
) -> Result<(), Error> {
    let (obj, ctx) = (w.obj, w.ctx);
    let policy = label_value(&obj.name_any());
    let mut candidates: Vec<Candidate> = children
        .iter()
        .filter(|c| c.metadata.deletion_timestamp.is_none())
        .map(|c| Candidate {
            name: c.name_any(),
            table: c.spec.table_name.clone(),
            policy: c.labels().get(labels::POLICY).cloned(),
            created: created_at(c),
            available: c.status.as_ref().and_then(|s| s.phase) == Some(BackupPhase::Available),
            pinned: c.labels().get(labels::PINNED).map(String::as_str) == Some("true"),
        })
        .collect();
    let zone = checked.schedule.as_ref().map(|s| s.time_zone.clone()).unwrap_or(jiff::tz::TimeZone::UTC);
    let mut going = retention::plan(&policy, &candidates, rules, &zone, now);
    // A backup an unfinished restore (a drill, say) is about to restore is kept until it has.
    // Holding more can only keep more, so the restores are looked at only when something goes.
    if !going.is_empty() {
        let in_use = backups_in_use(ctx, &obj.namespace().unwrap_or_default()).await?;
        candidates.iter_mut().filter(|c| in_use.contains(&c.name)).for_each(|c| c.pinned = true);
        going = retention::plan(&policy, &candidates, rules, &zone, now);
    }
    let mut status = w.status.retention.clone().unwrap_or_default();
    status.last_run_time = Some(Time(now));
    let dry_run = obj.spec.retention.as_ref().is_some_and(|r| r.dry_run);
    if dry_run {
        status.would_delete = going;
    } else {
        status.would_delete = Vec::new();
        for name in &going {
            if !delete_once::<DynamoBackup>(ctx.cluster.as_ref(), ns, name).await? {
                continue;
            }
            status.deleted += 1;
            let labels = PolicyLabels { namespace: obj.namespace().unwrap_or_default(), policy: obj.name_any() };
            ctx.metrics.retention_deletions.get_or_create(&labels).inc();
            publish(&ctx.recorder, obj, false, "RetentionDeleted", "Retention", format!("deleted DynamoBackup {name}")).await;
        }
    }
    w.status.retention = Some(status);
    Ok(())
}

/// The DynamoBackups of `namespace` that an unfinished DynamoRestore names in backupRef.
async fn backups_in_use(ctx: &Context, namespace: &str) -> Result<BTreeSet<String>, Error> {
    if !ctx.restores.wait_ready(Duration::from_secs(10)).await {
        return Err(Error::NotReady("the DynamoRestore cache"));
    }
    Ok(ctx
        .restores
        .in_namespace(namespace)
        .iter()
        .filter(|r| r.metadata.deletion_timestamp.is_none())
        .filter(|r| !matches!(r.status.as_ref().and_then(|s| s.phase), Some(RestorePhase::Completed | RestorePhase::Failed)))
        .filter_map(|r| r.spec.source.backup_ref.as_ref().map(|b| b.name.clone()))
        .collect())
}

/// The policy is going: with `onPolicyDelete: DeleteBackups`, its DynamoBackups go too (their
/// own finalizers then act per their deletionPolicy); with Orphan, they stay.
async fn delete_policy(w: &mut Writer<'_>, ns: &str, children: &[DynamoBackup]) -> Result<Action, Error> {
    if !w.obj.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(Action::await_change());
    }
    if w.obj.spec.on_policy_delete == OnPolicyDelete::DeleteBackups {
        for child in children.iter().filter(|c| c.metadata.deletion_timestamp.is_none()) {
            delete_once::<DynamoBackup>(w.ctx.cluster.as_ref(), ns, &child.name_any()).await?;
        }
        let note = format!("deleting {} DynamoBackup(s) of this policy", children.len());
        publish(&w.ctx.recorder, w.obj, false, "BackupsDeleted", "Delete", note).await;
    }
    set_finalizer(w.ctx.cluster.as_ref(), w.obj, false).await?;
    Ok(Action::await_change())
}
