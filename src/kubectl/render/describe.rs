//! `describe`: an object's conditions, status fields and events, for a person.

use jiff::Timestamp;

use super::{Cell, Column, Layout, Tone, age, grid};

/// An event of an object, for `describe`.
#[derive(Clone, Debug, PartialEq)]
pub struct EventLine {
    pub at: Option<Timestamp>,
    pub warning: bool,
    pub reason: String,
    pub message: String,
}

/// `describe`: the object's conditions, its status fields and its events, for a person.
/// The tables of conditions and events fit `layout` (their messages cut, unless `-o wide`).
pub fn describe_text(kind: &str, object: &serde_json::Value, events: &[EventLine], now: Timestamp, layout: Layout) -> String {
    let meta = &object["metadata"];
    let status = &object["status"];
    let mut out = String::new();
    let field = |out: &mut String, name: &str, value: &str| out.push_str(&format!("{:<13}{value}\n", format!("{name}:")));
    field(&mut out, "Name", meta["name"].as_str().unwrap_or_default());
    field(&mut out, "Namespace", meta["namespace"].as_str().unwrap_or_default());
    field(&mut out, "Kind", kind);
    if let Some(phase) = status["phase"].as_str() {
        field(&mut out, "Phase", phase);
    }
    let nested = Layout { width: layout.width.map(|w| w.saturating_sub(2)), ..layout };
    describe_conditions(&mut out, status, nested);
    describe_status_fields(&mut out, status);
    describe_events(&mut out, events, now, nested);
    out
}

/// `text`'s lines, indented by two spaces.
fn indented(out: &mut String, text: &str) {
    for line in text.lines() {
        out.push_str(&format!("  {line}\n"));
    }
}

/// `Conditions:` and a row per condition, the stalled in red and the reconciling in yellow.
fn describe_conditions(out: &mut String, status: &serde_json::Value, layout: Layout) {
    out.push_str("Conditions:\n");
    let conditions = status["conditions"].as_array().cloned().unwrap_or_default();
    if conditions.is_empty() {
        out.push_str("  (none yet: the operator has not reported on it)\n");
        return;
    }
    let rows = conditions
        .iter()
        .map(|c| {
            let (type_, state) = (c["type"].as_str().unwrap_or_default(), c["status"].as_str().unwrap_or_default());
            let tone = match (type_, state) {
                ("Stalled", "True") => Tone::Bad,
                ("Reconciling", "True") => Tone::Warn,
                _ => Tone::Plain,
            };
            vec![
                Cell::toned(type_, tone),
                Cell::plain(state),
                Cell::plain(c["reason"].as_str().unwrap_or_default()),
                Cell::plain(c["message"].as_str().unwrap_or_default()),
            ]
        })
        .collect::<Vec<_>>();
    let columns = [Column::fixed("TYPE"), Column::fixed("STATUS"), Column::fixed("REASON"), Column::elastic("MESSAGE")];
    indented(out, &grid(&columns, &rows, layout));
}

/// `Status:` and the status fields but the conditions, the phase and the observed generation,
/// as YAML; nothing when there are none.
fn describe_status_fields(out: &mut String, status: &serde_json::Value) {
    let mut rest = status.clone();
    if let Some(map) = rest.as_object_mut() {
        for key in ["conditions", "phase", "observedGeneration"] {
            map.remove(key);
        }
    }
    if rest.as_object().is_some_and(|m| !m.is_empty()) {
        out.push_str("Status:\n");
        indented(out, &serde_yaml_ng::to_string(&rest).unwrap_or_default());
    }
}

/// `Events:` and a row per event, the warnings in red.
fn describe_events(out: &mut String, events: &[EventLine], now: Timestamp, layout: Layout) {
    out.push_str("Events:\n");
    if events.is_empty() {
        out.push_str("  (none)\n");
        return;
    }
    let rows = events
        .iter()
        .map(|e| {
            vec![
                Cell::plain(e.at.map(|t| age(t, now)).unwrap_or_else(|| "-".into())),
                if e.warning { Cell::toned("Warning", Tone::Bad) } else { Cell::plain("Normal") },
                Cell::plain(e.reason.clone()),
                Cell::plain(e.message.clone()),
            ]
        })
        .collect::<Vec<_>>();
    let columns = [Column::fixed("AGE"), Column::fixed("TYPE"), Column::fixed("REASON"), Column::elastic("MESSAGE")];
    indented(out, &grid(&columns, &rows, layout));
}
