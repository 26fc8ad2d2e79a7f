//! The lifecycle of a DynamoBackupPolicy, as decisions: the spec checked once (`check`), the
//! tables a selector adds (`select`), what the PITR cache told of each table (`TablesSeen`),
//! PITR drift (`pitr_needs_fix`), a schedule slot's creations and skips (`slots`), and where the
//! policy stands with its message (`standing`). Retention, drills and rollouts have their own
//! modules (`plan::retention`, `plan::drill`, `plan::rollout`).

pub mod slots;

use std::collections::BTreeSet;

use crate::{
    api::{DrillResult, DrillStatus, DynamoBackupPolicy, PointInTimeRecoverySpec, PolicyPhase, facts::Pitr},
    plan::{
        conditions::Standing,
        drill,
        retention::Rules,
        schedule::Schedule,
        selector::{MAX_SELECTED, Selector},
        tables::TableRef,
        validate::{self, Invalid, invalid},
    },
};

/// The spec, checked once: everything the reconcile acts on.
pub struct Checked {
    /// Every table protected: those of spec.tables, then those the selector matched.
    pub tables: Vec<TableRef>,
    /// The same, as status names them (spec.tables' text, a selected table's name).
    pub texts: Vec<String>,
    /// The tables the selector matched.
    pub selected: BTreeSet<String>,
    pub region: Option<String>,
    pub selector: Option<Selector>,
    pub schedule: Option<Schedule>,
    pub rules: Option<Rules>,
    pub drill: Option<Schedule>,
}

impl Checked {
    /// Adds the tables the selector matched (by name, in the policy's region).
    pub fn add_selected(&mut self, names: Vec<String>) {
        for name in names {
            self.tables.push(TableRef { name: name.clone(), region: None, account: None });
            self.texts.push(name.clone());
            self.selected.insert(name);
        }
    }
}

pub fn check(policy: &DynamoBackupPolicy) -> Result<Checked, Invalid> {
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
        validate::aws_backup_settings(template.method, template.aws_backup.as_ref(), "spec.backup")?;
    }
    let schedule = spec.schedule.as_ref().map(Schedule::parse).transpose()?;
    let rules = spec.retention.as_ref().map(Rules::parse).transpose()?;
    let drill = spec.drill.as_ref().map(drill::check).transpose()?;
    let texts = spec.tables.clone();
    Ok(Checked { tables, texts, selected: BTreeSet::new(), region: spec.region.clone(), selector, schedule, rules, drill })
}

/// The tables of a region's listing the selector adds: matched, allowed (the tenancy file), not
/// named in spec.tables; sorted, at most `MAX_SELECTED`, and how many matched in all.
pub fn select<'a>(
    checked: &Checked,
    selector: &Selector,
    listed: impl IntoIterator<Item = (&'a String, &'a std::collections::BTreeMap<String, String>)>,
    allowed: impl Fn(&str) -> bool,
) -> (Vec<String>, usize) {
    let region = checked.region.as_deref();
    let matched: Vec<String> = listed
        .into_iter()
        .filter(|(name, tags)| selector.matches(name, tags))
        .filter(|(name, _)| allowed(name))
        .filter(|(name, _)| !checked.tables.iter().any(|t| &t.name == *name && t.region.as_deref().is_none_or(|r| Some(r) == region)))
        .map(|(name, _)| name.clone())
        .collect();
    let count = matched.len();
    (matched.into_iter().take(MAX_SELECTED).collect(), count)
}

/// What the PITR cache told of the policy's tables.
#[derive(Debug, Default)]
pub struct TablesSeen {
    /// Tables that do not exist.
    pub missing: Vec<String>,
    /// Tables whose first read has not landed yet.
    pub unread: Vec<String>,
    /// Tables whose last read failed: (table, message, whether retrying cannot help).
    pub failed: Vec<(String, String, bool)>,
}

/// Whether PITR must be turned on (or its period set) on a table that exists.
pub fn pitr_needs_fix(spec: &PointInTimeRecoverySpec, pitr: &Pitr, exists: bool) -> bool {
    let wrong_period = pitr.recovery_period_in_days.is_some_and(|d| d != spec.recovery_period_in_days);
    spec.enabled && exists && (!pitr.enabled || wrong_period)
}

/// The drills that failed, for the policy's standing: `table: what failed`.
pub fn failed_drills(status: &[DrillStatus]) -> Vec<String> {
    status
        .iter()
        .filter(|e| e.result == DrillResult::Failed)
        .map(|e| format!("{}: {}", e.table, e.message.as_deref().unwrap_or("failed")))
        .collect()
}

/// What the policy's standing is decided from, once every part of the reconcile ran.
pub struct Outcome<'a> {
    pub policy: &'a str,
    pub checked: &'a Checked,
    pub tables: &'a TablesSeen,
    /// How many tables the selector matched, when more than a policy takes.
    pub too_many: Option<usize>,
    pub drills: &'a [DrillStatus],
    pub pitr_enabled: bool,
    /// The region as messages name it.
    pub region: &'a str,
}

/// Where the policy stands: its phase and conditions, the first that applies of: a table read
/// failed, tables not read yet, a selector too broad, a failed drill, every table protected,
/// some tables missing.
pub fn standing(o: &Outcome<'_>) -> (PolicyPhase, Standing) {
    let count = o.checked.tables.len();
    let missing = &o.tables.missing;
    if !o.tables.failed.is_empty() {
        let what: Vec<String> = o.tables.failed.iter().map(|(table, err, _)| format!("{table}: {err}")).collect();
        let message = format!("cannot read table(s) {}; will retry", what.join("; "));
        let standing = if o.tables.failed.iter().all(|(_, _, terminal)| *terminal) {
            Standing::Stalled { reason: "TableReadFailed".into(), message: format!("{message}; check the operator's IAM permissions") }
        } else {
            Standing::Reconciling { reason: "TableReadFailed".into(), message }
        };
        return (PolicyPhase::Degraded, standing);
    }
    if !o.tables.unread.is_empty() {
        let message = format!("reading point-in-time recovery of {} of {count} table(s)", o.tables.unread.len());
        return (PolicyPhase::Pending, Standing::Reconciling { reason: "ReadingTables".into(), message });
    }
    if !missing.is_empty() {
        let message = format!(
            "table(s) {} do not exist in {}; the others are protected. Create them or fix spec.tables",
            missing.join(", "),
            o.region
        );
        return (PolicyPhase::Degraded, Standing::Stalled { reason: "TableNotFound".into(), message });
    }
    if let Some(matched) = o.too_many {
        let message = format!(
            "spec.tableSelector matches {matched} tables; a policy protects at most {MAX_SELECTED} of them (the first by name are): narrow the selector or split it over several policies"
        );
        return (PolicyPhase::Degraded, Standing::Stalled { reason: "SelectorTooBroad".into(), message });
    }
    let drills_failed = failed_drills(o.drills);
    if !drills_failed.is_empty() {
        let message = format!(
            "restore drill failed for {}; the policy is Ready again once a later drill passes (`kubectl dynamobackup drill {}` runs one now)",
            drills_failed.join("; "),
            o.policy
        );
        return (PolicyPhase::Degraded, Standing::Stalled { reason: "DrillFailed".into(), message });
    }
    (PolicyPhase::Protected, Standing::Ready { reason: "Protected".into(), message: protected_message(o, count) })
}

fn protected_message(o: &Outcome<'_>, count: usize) -> String {
    let snapshots = match &o.checked.schedule {
        Some(schedule) if schedule.suspend => Some("scheduled snapshots suspended"),
        Some(_) => Some("snapshots scheduled"),
        None => None,
    };
    let message = match (snapshots, o.pitr_enabled) {
        (Some(snapshots), true) => format!("PITR on and {snapshots} for {count} table(s)"),
        (None, true) => format!("PITR on for {count} table(s)"),
        (Some(snapshots), false) => format!("{snapshots} for {count} table(s); PITR left as found"),
        (None, false) => format!("{count} table(s) watched; PITR left as found"),
    };
    let passed = o.drills.iter().filter(|d| d.result == DrillResult::Passed).count();
    match &o.checked.drill {
        Some(_) if passed > 0 => format!("{message}; the last drill passed for {passed} table(s)"),
        Some(_) => format!("{message}; restore drills scheduled"),
        None => message,
    }
}
