//! The names the plugin gives what it creates when the user names nothing: the table's name and
//! the time.

use jiff::Timestamp;

/// A time suffix for derived names: `20260115-101459` (UTC).
pub(super) fn stamp(now: Timestamp) -> String {
    now.strftime("%Y%m%d-%H%M%S").to_string()
}

/// An object name made from a table name and the time: `userprofiles-fixed-20260115-093012`.
/// The time keeps it apart from others; the table name is only there to be read.
pub(super) fn derived_name(table: &str, suffix: &str) -> String {
    let mut name = String::new();
    for c in table.chars() {
        let c = if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' };
        if !(c == '-' && (name.is_empty() || name.ends_with('-'))) {
            name.push(c);
        }
    }
    let mut name: String = name.chars().take(200).collect();
    while name.ends_with('-') {
        name.pop();
    }
    if name.is_empty() { suffix.to_owned() } else { format!("{name}-{suffix}") }
}
