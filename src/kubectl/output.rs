//! How a command writes its answer on standard output: for a person, the tables of `render`
//! (coloured on a terminal); for a script, the objects as JSON or YAML.

use std::io::{IsTerminal, Write};

use serde::Serialize;

use super::{args::Format, failure::Failure, render::Layout};

/// Whether to colour standard output: a terminal, and no NO_COLOR.
pub(super) fn colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The room a line has: `COLUMNS` when set to a number, else the terminal's width when
/// standard output is one; None into a pipe or a file, where nothing is left out (a script or
/// `less -S` reads every column).
pub(super) fn terminal_width() -> Option<usize> {
    if let Some(columns) = std::env::var("COLUMNS").ok().and_then(|c| c.trim().parse::<usize>().ok()).filter(|&c| c > 0) {
        return Some(columns);
    }
    let stdout = std::io::stdout();
    if !stdout.is_terminal() {
        return None;
    }
    terminal_size::terminal_size_of(&stdout).map(|(terminal_size::Width(w), _)| usize::from(w)).filter(|&w| w > 0)
}

/// How a table is laid out for `format` on this standard output.
pub(super) fn layout(format: Format) -> Layout {
    Layout { width: terminal_width(), wide: format == Format::Wide, colour: colour() }
}

/// `-o json` or `-o yaml`: `value` on standard output.
pub(super) fn print_structured<T: Serialize>(format: Format, value: &T) -> Result<(), Failure> {
    let text = match format {
        Format::Json => serde_json::to_string_pretty(value).map(|mut s| {
            s.push('\n');
            s
        }),
        _ => serde_yaml_ng::to_string(value).map_err(|e| serde_json::Error::io(std::io::Error::other(e.to_string()))),
    }
    .map_err(|e| Failure { code: 1, message: format!("cannot print: {e}") })?;
    let mut out = std::io::stdout();
    out.write_all(text.as_bytes()).map_err(|e| Failure { code: 1, message: e.to_string() })
}
