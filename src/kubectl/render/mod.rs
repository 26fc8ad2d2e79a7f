//! What the plugin prints, from objects already read: pure functions of the objects and `now`,
//! so the human output is tested against golden files (tests in `kubectl/tests.rs`). Here:
//! `status` and `list`; tables are laid out by `grid`, `describe` is in `describe`.

mod copyback;
mod describe;
mod grid;
mod points;

use std::collections::BTreeMap;

use jiff::Timestamp;
use kube::ResourceExt;
use serde::Serialize;

use crate::{
    api::{BackupPhase, CopyState, DynamoBackup, DynamoBackupPolicy, PolicyTableStatus, labels},
    plan::conditions::stalled,
};

pub use self::{
    copyback::{Reading, copy_back_progress, copy_back_summary, items_per_second},
    describe::{EventLine, describe_text},
    grid::{Cell, Column, Layout, grid},
    points::{Canvas, DEFAULT_WIDTH, PitrWindow, RestorePoints, pitr_window, points_text, restore_points},
};
#[cfg(test)]
pub use grid::widest_line;

/// Red for what needs a person, yellow for what is under way, green for what can be restored,
/// cyan for a backup; nothing without a terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    Plain,
    Warn,
    Bad,
    Good,
    Info,
}

pub fn paint(text: &str, tone: Tone, colour: bool) -> String {
    let style = match tone {
        Tone::Plain => return text.to_owned(),
        Tone::Warn => anstyle::Style::new().fg_color(Some(anstyle::AnsiColor::Yellow.into())),
        Tone::Bad => anstyle::Style::new().fg_color(Some(anstyle::AnsiColor::Red.into())).bold(),
        Tone::Good => anstyle::Style::new().fg_color(Some(anstyle::AnsiColor::Green.into())),
        Tone::Info => anstyle::Style::new().fg_color(Some(anstyle::AnsiColor::Cyan.into())).bold(),
    };
    if colour { format!("{}{text}{}", style.render(), style.render_reset()) } else { text.to_owned() }
}

/// An age as kubectl prints it: 45s, 12m, 3h, 2d.
pub fn age(from: Timestamp, now: Timestamp) -> String {
    let secs = now.duration_since(from).as_secs().max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// A size in bytes, short.
pub fn size(bytes: Option<i64>) -> String {
    match bytes {
        None => "-".into(),
        Some(b) if b < 1024 => format!("{b} B"),
        Some(b) if b < 1024 * 1024 => format!("{:.1} KiB", b as f64 / 1024.0),
        Some(b) if b < 1024 * 1024 * 1024 => format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0)),
        Some(b) => format!("{:.1} GiB", b as f64 / (1024.0 * 1024.0 * 1024.0)),
    }
}

/// One protected (or only backed-up) table, as `status` shows it.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TableLine {
    pub namespace: String,
    pub table: String,
    /// The table's AWS account, as a policy or a backup's ARN says ("" when none says).
    pub account: String,
    /// ENABLED or DISABLED as a policy last read it; None: no policy reports it.
    pub pitr: Option<String>,
    pub recovery_period_in_days: Option<i32>,
    pub earliest_restorable_time: Option<Timestamp>,
    pub latest_restorable_time: Option<Timestamp>,
    /// The newest Available snapshot (DynamoBackup name) and its moment.
    pub last_backup: Option<String>,
    pub last_backup_time: Option<Timestamp>,
    pub next_schedule_time: Option<Timestamp>,
    pub policies: Vec<String>,
    pub available_backups: u32,
    /// What a person should look at: no policy, PITR off, a policy or backup stalled.
    pub attention: Vec<String>,
    /// The policies' own count of their Available backups (the listed DynamoBackups may be
    /// fewer when only some namespaces are readable).
    #[serde(skip)]
    reported_backups: u32,
}

fn is_table(spec_name: &str, table: &str) -> bool {
    spec_name == table || spec_name.rsplit_once(":table/").is_some_and(|(_, name)| name == table)
}

/// The table a spec names, without an ARN's prefix.
pub fn table_name(spec_name: &str) -> &str {
    spec_name.rsplit_once(":table/").map(|(_, name)| name).unwrap_or(spec_name)
}

/// Every table the policies cover or the DynamoBackups name, one line each per namespace;
/// `only`: a table name or a policy name.
pub fn status_lines(policies: &[DynamoBackupPolicy], backups: &[DynamoBackup], only: Option<&str>) -> Vec<TableLine> {
    let mut lines: Lines = BTreeMap::new();
    let policy_named = only.is_some_and(|o| policies.iter().any(|p| p.name_any() == o));
    for p in policies {
        if policy_named && only != Some(p.name_any().as_str()) {
            continue;
        }
        add_policy(&mut lines, p, if policy_named { None } else { only });
    }
    for b in backups {
        let namespace = b.namespace().unwrap_or_default();
        let name = table_name(&b.spec.table_name);
        let wanted = if policy_named { lines.contains_key(&(namespace.clone(), name.to_owned())) } else { only.is_none_or(|o| o == name) };
        if wanted {
            add_backup(line_of(&mut lines, &namespace, name), b);
        }
    }
    for line in lines.values_mut() {
        line.available_backups = line.available_backups.max(line.reported_backups);
        if line.policies.is_empty() {
            line.attention.insert(0, "no policy: PITR not kept on, no schedule".into());
        } else if line.pitr.as_deref().is_some_and(|p| p != "ENABLED") {
            line.attention.insert(0, "PITR is off".into());
        }
    }
    lines.into_values().collect()
}

/// The status lines being built, by namespace and table.
type Lines = BTreeMap<(String, String), TableLine>;

/// The line of `table` in `namespace`, new if there is none yet.
fn line_of<'a>(lines: &'a mut Lines, namespace: &str, table: &str) -> &'a mut TableLine {
    lines.entry((namespace.to_owned(), table.to_owned())).or_insert_with(|| TableLine {
        namespace: namespace.to_owned(),
        table: table.to_owned(),
        ..Default::default()
    })
}

/// What policy `p` says of each table it covers (only of `table`, if given): that it covers it,
/// its next slot, what stands in its way, and what it last read of the table.
fn add_policy(lines: &mut Lines, p: &DynamoBackupPolicy, table: Option<&str>) {
    let namespace = p.namespace().unwrap_or_default();
    let status = p.status.clone().unwrap_or_default();
    let stalled = stalled(&status.conditions).map(|c| format!("policy {} Stalled ({}): {}", p.name_any(), c.reason, c.message));
    for spec_table in &p.covered_tables() {
        let name = table_name(spec_table);
        if table.is_some_and(|o| o != name) {
            continue;
        }
        let line = line_of(lines, &namespace, name);
        line.policies.push(p.name_any());
        if let Some(next) = status.next_schedule_time.as_ref().map(|t| t.0)
            && p.spec.schedule.as_ref().is_some_and(|s| !s.suspend)
        {
            line.next_schedule_time = Some(line.next_schedule_time.map_or(next, |n| n.min(next)));
        }
        if p.spec.schedule.as_ref().is_some_and(|s| s.suspend) {
            line.attention.push(format!("policy {}: schedule suspended", p.name_any()));
        }
        if let Some(stalled) = &stalled {
            line.attention.push(stalled.clone());
        }
        if let Some(t) = status.tables.iter().find(|t| t.name == *spec_table) {
            add_table_status(line, t);
        }
    }
}

/// What a policy last read of the table: its PITR and window, its count of Available backups,
/// and the newest one.
fn add_table_status(line: &mut TableLine, t: &PolicyTableStatus) {
    if line.account.is_empty()
        && let Some(account) = &t.account
    {
        line.account = account.clone();
    }
    if let Some(pitr) = &t.point_in_time_recovery {
        line.pitr = Some(pitr.status.clone());
        line.recovery_period_in_days = pitr.recovery_period_in_days;
        line.earliest_restorable_time = pitr.earliest_restorable_time.as_ref().map(|t| t.0);
        line.latest_restorable_time = pitr.latest_restorable_time.as_ref().map(|t| t.0);
    }
    line.reported_backups += t.available_backups.unwrap_or(0);
    if let Some(last) = &t.last_backup
        && let Some(at) = last.created_at.as_ref().map(|t| t.0)
    {
        line.saw_backup(&last.name, at);
    }
}

/// What a DynamoBackup of the table adds: one more Available backup (maybe the newest), or a
/// stalled one.
fn add_backup(line: &mut TableLine, b: &DynamoBackup) {
    let status = b.status.clone().unwrap_or_default();
    if line.account.is_empty()
        && let Some(account) = status.backup_arn.as_deref().or(status.recovery_point_arn.as_deref()).and_then(crate::aws::account_in_arn)
    {
        line.account = account.to_owned();
    }
    if status.phase == Some(BackupPhase::Available) {
        line.available_backups += 1;
        if let Some(at) = status.created_at.as_ref().map(|t| t.0) {
            line.saw_backup(&b.name_any(), at);
        }
    }
    if let Some(c) = stalled(&status.conditions) {
        line.attention.push(format!("backup {} Stalled ({})", b.name_any(), c.reason));
    }
}

impl TableLine {
    /// The backup `name` made at `at`: the last backup if it is newer than the one known.
    fn saw_backup(&mut self, name: &str, at: Timestamp) {
        if self.last_backup_time.is_none_or(|known| at > known) {
            self.last_backup = Some(name.to_owned());
            self.last_backup_time = Some(at);
        }
    }
}

/// The columns of `status`: the table, its PITR and what needs a person stay; as the room
/// shrinks, the last backup's name goes first, then the count of backups, the next slot, the
/// policies, the window, and the last backup's age.
const STATUS_COLUMNS: [Column; 11] = [
    Column::fixed("NAMESPACE"),
    Column::fixed("TABLE"),
    Column::droppable("ACCOUNT", 2),
    Column::fixed("PITR"),
    Column::droppable("WINDOW", 5),
    Column::droppable("LAST-BACKUP", 1),
    Column::droppable("AGE", 6),
    Column::droppable("NEXT", 3),
    Column::droppable("POLICIES", 4),
    Column::droppable("BACKUPS", 2),
    Column::elastic("ATTENTION"),
];

pub fn status_table(lines: &[TableLine], now: Timestamp, all_namespaces: bool, layout: Layout) -> String {
    if lines.is_empty() {
        return "No protected or backed-up tables found.\n".into();
    }
    let rows: Vec<Vec<Cell>> = lines
        .iter()
        .map(|l| {
            let pitr = match (l.pitr.as_deref(), l.recovery_period_in_days) {
                (Some("ENABLED"), Some(days)) => Cell::plain(format!("on ({days}d)")),
                (Some("ENABLED"), None) => Cell::plain("on"),
                (Some(other), _) => Cell::toned(other.to_lowercase(), Tone::Bad),
                (None, _) if l.policies.is_empty() => Cell::toned("-", Tone::Bad),
                (None, _) => Cell::plain("unknown"),
            };
            let window = match (l.earliest_restorable_time, l.latest_restorable_time) {
                (Some(from), Some(to)) => format!("{} .. {}", short_time(from), short_time(to)),
                _ => "-".into(),
            };
            vec![
                Cell::plain(l.namespace.clone()),
                Cell::plain(l.table.clone()),
                Cell::plain(if l.account.is_empty() { "-".into() } else { l.account.clone() }),
                pitr,
                Cell::plain(window),
                Cell::plain(l.last_backup.clone().unwrap_or_else(|| "-".into())),
                Cell::plain(l.last_backup_time.map(|t| age(t, now)).unwrap_or_else(|| "-".into())),
                Cell::plain(l.next_schedule_time.map(|t| format!("in {}", age(now, t))).unwrap_or_else(|| "-".into())),
                Cell::plain(if l.policies.is_empty() { "-".into() } else { l.policies.join(",") }),
                Cell::plain(l.available_backups.to_string()),
                Cell::toned(l.attention.join("; "), Tone::Bad),
            ]
        })
        .collect();
    without_namespace(&STATUS_COLUMNS, rows, all_namespaces, layout)
}

/// The table of `rows`, their first column (NAMESPACE) left out unless every namespace is shown.
fn without_namespace(columns: &[Column], mut rows: Vec<Vec<Cell>>, all_namespaces: bool, layout: Layout) -> String {
    if all_namespaces {
        return grid(columns, &rows, layout);
    }
    for row in &mut rows {
        row.remove(0);
    }
    grid(&columns[1..], &rows, layout)
}

fn short_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// One DynamoBackup, as `list` shows it.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BackupLine {
    pub namespace: String,
    pub name: String,
    pub table: String,
    pub method: String,
    pub phase: String,
    pub size_bytes: Option<i64>,
    pub created_at: Option<Timestamp>,
    pub trigger: String,
    pub pinned: bool,
    pub policy: Option<String>,
    /// The regions holding a completed copy (AWS Backup `copyTo`).
    pub copies: Vec<String>,
}

/// The DynamoBackups (of `table`, if given), newest first.
pub fn backup_lines(backups: &[DynamoBackup], table: Option<&str>) -> Vec<BackupLine> {
    let mut lines: Vec<BackupLine> = backups
        .iter()
        .filter(|b| table.is_none_or(|t| is_table(&b.spec.table_name, t)))
        .map(|b| {
            let status = b.status.clone().unwrap_or_default();
            let labels = b.labels();
            BackupLine {
                namespace: b.namespace().unwrap_or_default(),
                name: b.name_any(),
                table: table_name(&b.spec.table_name).to_owned(),
                method: b.spec.method.as_str().to_owned(),
                phase: status.phase.map(|p| format!("{p:?}")).unwrap_or_else(|| "Pending".into()),
                size_bytes: status.size_bytes,
                created_at: status.created_at.as_ref().map(|t| t.0),
                trigger: labels.get(labels::TRIGGER).cloned().unwrap_or_else(|| "-".into()),
                pinned: labels.get(labels::PINNED).is_some_and(|v| v == "true"),
                policy: labels.get(labels::POLICY).cloned(),
                copies: status.copies.iter().filter(|c| c.state == CopyState::Completed).map(|c| c.region.clone()).collect(),
            }
        })
        .collect();
    lines.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| a.name.cmp(&b.name)));
    lines
}

/// The columns of `list`: the name, table and phase stay; as the room shrinks, the trigger
/// goes first, then the policy, the method, the size, the pin, and the age. `-o wide` adds
/// the regions holding copies (AWS Backup).
const LIST_COLUMNS: [Column; 11] = [
    Column::fixed("NAMESPACE"),
    Column::fixed("NAME"),
    Column::fixed("TABLE"),
    Column::droppable("METHOD", 3),
    Column::fixed("PHASE"),
    Column::droppable("SIZE", 4),
    Column::droppable("CREATED", 6),
    Column::droppable("TRIGGER", 1),
    Column::droppable("PINNED", 5),
    Column::droppable("POLICY", 2),
    Column::wide("COPIES"),
];

pub fn list_table(lines: &[BackupLine], now: Timestamp, all_namespaces: bool, layout: Layout) -> String {
    if lines.is_empty() {
        return "No DynamoBackups found.\n".into();
    }
    let rows: Vec<Vec<Cell>> = lines
        .iter()
        .map(|l| {
            let tone = match l.phase.as_str() {
                "Failed" => Tone::Bad,
                "Available" => Tone::Plain,
                _ => Tone::Warn,
            };
            vec![
                Cell::plain(l.namespace.clone()),
                Cell::plain(l.name.clone()),
                Cell::plain(l.table.clone()),
                Cell::plain(l.method.clone()),
                Cell::toned(l.phase.clone(), tone),
                Cell::plain(size(l.size_bytes)),
                Cell::plain(l.created_at.map(|t| format!("{} ago", age(t, now))).unwrap_or_else(|| "-".into())),
                Cell::plain(l.trigger.clone()),
                Cell::plain(if l.pinned { "yes" } else { "-" }),
                Cell::plain(l.policy.clone().unwrap_or_else(|| "-".into())),
                Cell::plain(if l.copies.is_empty() { "-".into() } else { l.copies.join(",") }),
            ]
        })
        .collect();
    without_namespace(&LIST_COLUMNS, rows, all_namespaces, layout)
}
