//! `points`: what a table can be restored to, drawn on one time axis: the PITR window as a
//! bar, every backup as a mark on the lane of the region that holds it, and the incident
//! (`--at`). Pure: the objects read, `now`, the time zone and the room in, the text out.

use jiff::{SignedDuration, Timestamp, tz::TimeZone};
use kube::ResourceExt;
use serde::Serialize;

use super::{Tone, paint, table_name};
use crate::api::{BackupMethod, BackupPhase, CopyState, DynamoBackup, DynamoBackupPolicy, labels};

/// The room a drawing has when nothing measures it (a pipe, a file).
pub const DEFAULT_WIDTH: usize = 80;
/// Below this the axis is too short to read; the drawing takes this much all the same.
const MIN_WIDTH: usize = 40;

/// The PITR window of a table, as a policy of the namespace last read it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PitrWindow {
    /// ENABLED, DISABLED... as DynamoDB reports it.
    pub status: String,
    pub earliest_restorable_time: Option<Timestamp>,
    pub latest_restorable_time: Option<Timestamp>,
    pub recovery_period_in_days: Option<i32>,
    /// The policy that read it.
    pub policy: String,
}

/// The PITR window a policy of the namespace last read for `table`, if one reports it.
pub fn pitr_window(policies: &[DynamoBackupPolicy], table: &str) -> Option<PitrWindow> {
    policies.iter().find_map(|p| {
        let status = p.status.as_ref()?;
        let line = status.tables.iter().find(|t| table_name(&t.name) == table)?;
        let pitr = line.point_in_time_recovery.as_ref()?;
        Some(PitrWindow {
            status: pitr.status.clone(),
            earliest_restorable_time: pitr.earliest_restorable_time.as_ref().map(|t| t.0),
            latest_restorable_time: pitr.latest_restorable_time.as_ref().map(|t| t.0),
            recovery_period_in_days: pitr.recovery_period_in_days,
            policy: p.name_any(),
        })
    })
}

/// One backup of the table: a DynamoBackup and the regions a restore can read it in.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RestorePoint {
    pub name: String,
    pub method: String,
    pub phase: String,
    /// The snapshot's moment.
    pub created_at: Option<Timestamp>,
    /// The region of the snapshot itself, when its ARN tells it.
    pub region: Option<String>,
    /// The regions holding a completed copy (AWS Backup `copyTo`).
    pub copies: Vec<String>,
    pub pinned: bool,
}

impl RestorePoint {
    fn restorable(&self) -> bool {
        self.phase == "Available" && self.created_at.is_some()
    }

    fn aws_backup(&self) -> bool {
        self.method == BackupMethod::AWSBackup.as_str()
    }
}

/// What `points` shows, and what `-o json|yaml` prints.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RestorePoints {
    pub table: String,
    pub window: Option<PitrWindow>,
    /// Oldest first.
    pub backups: Vec<RestorePoint>,
    /// The incident (`--at`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<Timestamp>,
}

/// The region an ARN names (`arn:aws:SERVICE:REGION:...`).
fn region_of(arn: &str) -> Option<String> {
    arn.split(':').nth(3).filter(|r| !r.is_empty()).map(str::to_owned)
}

/// The restore points of `table`: the window a policy reports and the DynamoBackups naming it.
pub fn restore_points(policies: &[DynamoBackupPolicy], backups: &[DynamoBackup], table: &str, at: Option<Timestamp>) -> RestorePoints {
    let mut points: Vec<RestorePoint> = backups
        .iter()
        .filter(|b| table_name(&b.spec.table_name) == table)
        .map(|b| {
            let status = b.status.clone().unwrap_or_default();
            let arn = status.recovery_point_arn.as_deref().or(status.backup_arn.as_deref()).or(status.table_arn.as_deref());
            RestorePoint {
                name: b.name_any(),
                method: status.method.unwrap_or(b.spec.method).as_str().to_owned(),
                phase: format!("{:?}", status.phase.unwrap_or(BackupPhase::Pending)),
                created_at: status.created_at.as_ref().map(|t| t.0),
                region: b.spec.region.clone().or_else(|| arn.and_then(region_of)),
                copies: status.copies.iter().filter(|c| c.state == CopyState::Completed).map(|c| c.region.clone()).collect(),
                pinned: b.labels().get(labels::PINNED).is_some_and(|v| v == "true"),
            }
        })
        .collect();
    points.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.name.cmp(&b.name)));
    RestorePoints { table: table.to_owned(), window: pitr_window(policies, table), backups: points, at }
}

/// What the drawing needs besides the points: `now` (the right edge), where the axis starts
/// (`--since`; None: just before the oldest thing to show), the time zone of the labels, the
/// room, and colour.
pub struct Canvas {
    pub now: Timestamp,
    pub since: Option<Timestamp>,
    pub tz: TimeZone,
    pub width: usize,
    pub colour: bool,
}

/// The time axis: `cells` columns from `from` to `to`.
struct Axis {
    from: Timestamp,
    to: Timestamp,
    cells: usize,
}

impl Axis {
    /// The column of `t`, or None when it is off the axis.
    fn cell(&self, t: Timestamp) -> Option<usize> {
        if t < self.from || t > self.to {
            return None;
        }
        let span = self.to.duration_since(self.from).as_secs_f64().max(1.0);
        let part = t.duration_since(self.from).as_secs_f64() / span;
        Some(((part * (self.cells - 1) as f64).round() as usize).min(self.cells - 1))
    }
}

/// The axis: from `since` (or a little before the oldest point) to now.
fn axis(points: &RestorePoints, canvas: &Canvas, cells: usize) -> Axis {
    let oldest = points
        .window
        .iter()
        .filter_map(|w| w.earliest_restorable_time)
        .chain(points.backups.iter().filter(|b| b.restorable()).filter_map(|b| b.created_at))
        .chain(points.at)
        .min();
    let from = canvas.since.or_else(|| {
        let oldest = oldest?;
        let span = canvas.now.duration_since(oldest).max(SignedDuration::from_mins(10));
        oldest.checked_sub(span / 20).ok()
    });
    let from = from.filter(|f| *f < canvas.now).unwrap_or_else(|| canvas.now - SignedDuration::from_hours(24));
    Axis { from, to: canvas.now, cells }
}

/// A time as the labels show it: the date when the axis spans days, else the time of day.
fn label(t: Timestamp, axis: &Axis, tz: &TimeZone) -> String {
    let span = axis.to.duration_since(axis.from);
    let zoned = t.to_zoned(tz.clone());
    let format = if span > SignedDuration::from_hours(72) {
        "%Y-%m-%d"
    } else if span > SignedDuration::from_hours(20) {
        "%m-%d %H:%M"
    } else if span > SignedDuration::from_mins(30) {
        "%H:%M"
    } else {
        "%H:%M:%S"
    };
    zoned.strftime(format).to_string()
}

/// A moment in full, in the labels' time zone.
fn moment(t: Timestamp, tz: &TimeZone) -> String {
    t.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M:%S").to_string()
}

/// A lane of the drawing: a label and a row of cells, each with a tone.
struct Lane {
    label: String,
    cells: Vec<(char, Tone)>,
}

impl Lane {
    fn new(label: impl Into<String>, cells: usize) -> Self {
        Lane { label: label.into(), cells: vec![(' ', Tone::Plain); cells] }
    }

    /// A backup's mark: its letter, or `*` where there is one already.
    fn mark(&mut self, cell: usize, letter: char) {
        let now = &mut self.cells[cell];
        *now = if now.0 == ' ' || now.0 == letter { (letter, Tone::Info) } else { ('*', Tone::Info) };
    }

    fn render(&self, label_width: usize, colour: bool) -> String {
        let label: String = self.label.chars().take(label_width).collect();
        let mut line = format!("{label:<label_width$} ");
        let mut run = String::new();
        let mut tone = Tone::Plain;
        for &(c, t) in &self.cells {
            if t != tone {
                line.push_str(&paint(&run, tone, colour));
                run.clear();
                tone = t;
            }
            run.push(c);
        }
        line.push_str(&paint(&run, tone, colour));
        line.trim_end().to_owned()
    }
}

/// The drawing of `points` on `canvas`: time labels, the PITR lane, a lane per region holding
/// backups, the incident, and a legend; every line fits `canvas.width`.
pub fn points_text(points: &RestorePoints, canvas: &Canvas) -> String {
    let width = canvas.width.max(MIN_WIDTH);
    let regions = backup_regions(points);
    let label_width = regions.iter().map(|r| r.chars().count()).chain([4, 6]).max().unwrap_or(6).min(14);
    let cells = width - label_width - 1;
    let axis = axis(points, canvas, cells);
    let title = format!("what it can be restored to (times in {})", crate::plan::when::tz_name(&canvas.tz));
    let mut out = format!("{}\n{}\n\n", fit(&points.table, width), fit(&title, width));
    out.push_str(&time_labels(&axis, &canvas.tz, label_width));
    out.push_str(&pitr_lane(points, &axis).render(label_width, canvas.colour));
    out.push('\n');
    for region in &regions {
        out.push_str(&region_lane(points, &axis, region).render(label_width, canvas.colour));
        out.push('\n');
    }
    if let Some(at) = points.at {
        out.push_str(&incident_line(at, &axis, label_width, &canvas.tz, canvas.colour));
    }
    out.push('\n');
    for line in legend(points, &axis, canvas) {
        out.push_str(&fit(&line, width));
        out.push('\n');
    }
    out
}

/// The lanes' names: the regions holding backups (a snapshot's own, then its copies'), or
/// "backups" for snapshots whose region is not known.
fn backup_regions(points: &RestorePoints) -> Vec<String> {
    let mut regions: Vec<String> = Vec::new();
    for b in points.backups.iter().filter(|b| b.restorable()) {
        for region in std::iter::once(b.region.clone().unwrap_or_else(|| "backups".into())).chain(b.copies.iter().cloned()) {
            if !regions.contains(&region) {
                regions.push(region);
            }
        }
    }
    if regions.is_empty() {
        regions.push("backups".into());
    }
    regions
}

/// The time labels over the axis, with a `+` under each, the last one at now.
fn time_labels(axis: &Axis, tz: &TimeZone, label_width: usize) -> String {
    let texts: Vec<String> = (0..5).map(|n| label(axis.from + axis.to.duration_since(axis.from) / 4 * n, axis, tz)).collect();
    let room = axis.cells;
    let mut labels = vec![' '; room];
    let mut ticks = vec![' '; room];
    let mut taken: Vec<(usize, usize)> = Vec::new();
    // The right edge (now) first, then the others from the left where they do not crowd it;
    // each label starts at its tick, the last ends at it.
    for n in [4, 0, 1, 2, 3] {
        let text = &texts[n];
        let len = text.chars().count();
        let cell = (room - 1) * n / 4;
        let start = if n == 4 { room.saturating_sub(len) } else { cell };
        let end = start + len;
        if end > room || taken.iter().any(|&(s, e)| start < e + 2 && s < end + 2) {
            continue;
        }
        for (i, c) in text.chars().enumerate() {
            labels[start + i] = c;
        }
        ticks[cell] = '+';
        taken.push((start, end));
    }
    let pad = " ".repeat(label_width + 1);
    let labels: String = labels.into_iter().collect();
    let ticks: String = ticks.into_iter().collect();
    format!("{pad}{}\n{pad}{}\n", labels.trim_end(), ticks.trim_end())
}

/// The PITR lane: `[====]` over the window, or why there is none.
fn pitr_lane(points: &RestorePoints, axis: &Axis) -> Lane {
    let mut lane = Lane::new("PITR", axis.cells);
    let Some(window) = &points.window else {
        return text_lane(lane, "(no policy reports it)");
    };
    if window.status != "ENABLED" {
        return text_lane(lane, &format!("({}: nothing to restore from)", window.status.to_lowercase()));
    }
    let (Some(earliest), Some(latest)) = (window.earliest_restorable_time, window.latest_restorable_time) else {
        return text_lane(lane, "(on; the window is not reported yet)");
    };
    // A window off the axis, or reported upside down, draws nothing rather than a wrong bar.
    let (Some(from), Some(to)) = (axis.cell(earliest.max(axis.from)), axis.cell(latest.min(axis.to))) else {
        return lane;
    };
    if from > to {
        return lane;
    }
    for cell in &mut lane.cells[from..=to] {
        *cell = ('=', Tone::Good);
    }
    if to > from {
        lane.cells[from] = (if earliest < axis.from { '<' } else { '[' }, Tone::Good);
        lane.cells[to] = (']', Tone::Good);
    } else {
        lane.cells[from] = ('|', Tone::Good);
    }
    lane
}

/// A lane that says something instead of drawing it.
fn text_lane(mut lane: Lane, text: &str) -> Lane {
    for (cell, c) in lane.cells.iter_mut().zip(text.chars()) {
        *cell = (c, Tone::Warn);
    }
    lane
}

/// The lane of `region`: a mark for each backup it holds (D DynamoDB, A AWS Backup, C a copy).
fn region_lane(points: &RestorePoints, axis: &Axis, region: &str) -> Lane {
    let mut lane = Lane::new(region, axis.cells);
    for b in points.backups.iter().filter(|b| b.restorable()) {
        let Some(cell) = b.created_at.and_then(|t| axis.cell(t)) else { continue };
        let own = b.region.as_deref().unwrap_or("backups") == region;
        if own {
            lane.mark(cell, if b.aws_backup() { 'A' } else { 'D' });
        } else if b.copies.iter().any(|c| c == region) {
            lane.mark(cell, 'C');
        }
    }
    lane
}

/// The incident: `^` under its moment, and the moment beside it.
fn incident_line(at: Timestamp, axis: &Axis, label_width: usize, tz: &TimeZone, colour: bool) -> String {
    let Some(cell) = axis.cell(at) else {
        return format!("{:<label_width$} (--at {} is off the axis)\n", "--at", moment(at, tz));
    };
    let text = format!("--at {}", moment(at, tz));
    let len = text.chars().count();
    let mark = paint("^", Tone::Bad, colour);
    let drawn = if cell + 2 + len <= axis.cells {
        format!("{}{mark} {text}", " ".repeat(cell))
    } else if cell > len {
        format!("{}{text} {mark}", " ".repeat(cell - len - 1))
    } else {
        format!("{}{mark}", " ".repeat(cell))
    };
    format!("{:<label_width$} {drawn}\n", "")
}

/// The legend: what the marks mean, the window in full, where the incident falls, and what is
/// not drawn.
fn legend(points: &RestorePoints, axis: &Axis, canvas: &Canvas) -> Vec<String> {
    let tz = &canvas.tz;
    let mut lines = vec!["[===] PITR window   D DynamoDB backup   A AWS Backup   C copy   * several".to_owned()];
    if let Some(w) = &points.window
        && let (Some(from), Some(to)) = (w.earliest_restorable_time, w.latest_restorable_time)
    {
        let days = w.recovery_period_in_days.map(|d| format!(", {d} days kept")).unwrap_or_default();
        lines.push(format!("PITR: {} .. {}{days}", moment(from, tz), moment(to, tz)));
    }
    let restorable: Vec<&RestorePoint> = points.backups.iter().filter(|b| b.restorable()).collect();
    let off = restorable.iter().filter(|b| b.created_at.is_some_and(|t| t < axis.from)).count();
    lines.push(format!("backups: {} restorable", restorable.len()));
    if off > 0 {
        lines.push(format!("  {off} older than the axis (--since to see them)"));
    }
    let waiting = points.backups.len() - restorable.len();
    if waiting > 0 {
        lines.push(format!("  {waiting} not available (not drawn)"));
    }
    if let Some(at) = points.at {
        lines.extend(incident_legend(points, &restorable, at, tz));
    }
    lines
}

/// Where the incident falls: in the PITR window or not, and the nearest backup before it.
fn incident_legend(points: &RestorePoints, restorable: &[&RestorePoint], at: Timestamp, tz: &TimeZone) -> Vec<String> {
    let mut lines = Vec::new();
    let in_window = points.window.as_ref().is_some_and(|w| {
        w.status == "ENABLED" && w.earliest_restorable_time.is_some_and(|e| e <= at) && w.latest_restorable_time.is_some_and(|l| at <= l)
    });
    lines.push(if in_window {
        format!("^ {}: inside the PITR window (restore or recover --to it)", moment(at, tz))
    } else {
        format!("^ {}: outside the PITR window", moment(at, tz))
    });
    if let Some(before) = restorable.iter().rev().find(|b| b.created_at.is_some_and(|t| t <= at))
        && let Some(t) = before.created_at
    {
        lines.push(format!("  last backup before it: {}", before.name));
        lines.push(format!("    {} ({} before, {})", moment(t, tz), super::age(t, at), before.method));
    }
    lines
}

/// `line` cut to `width` characters.
fn fit(line: &str, width: usize) -> String {
    if line.chars().count() <= width { line.to_owned() } else { line.chars().take(width.saturating_sub(3)).collect::<String>() + "..." }
}
