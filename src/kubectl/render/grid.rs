//! Columns as kubectl aligns them (left, three spaces apart, no borders), fitted to the
//! terminal: the least important columns go first, then the free-text column is cut, so a
//! line never wraps. `-o wide` shows every column, whole, as kubectl's wide output does.

use super::{Tone, paint};

/// Spaces between two columns.
const GAP: usize = 3;
/// What a cut cell ends with (plain ASCII, so any terminal shows it).
const CUT: &str = "...";
/// The room a free-text column is counted at when choosing which columns stay: one long
/// message should cost the other columns no more than this; the rest of it is cut.
const ELASTIC_FLOOR: usize = 40;

/// A column of a table: its header, how long it stays as the width shrinks, and whether it is
/// only in `-o wide`.
#[derive(Clone, Copy, Debug)]
pub struct Column {
    pub header: &'static str,
    /// 0: always shown; otherwise the columns with the largest numbers are shown first, as long
    /// as they fit (of two alike, the one further left).
    pub keep: u8,
    /// Only with `-o wide`.
    pub wide_only: bool,
    /// Free text that may be cut (with "...") once every droppable column is gone.
    pub elastic: bool,
}

impl Column {
    /// A column that is always shown.
    pub const fn fixed(header: &'static str) -> Self {
        Column { header, keep: 0, wide_only: false, elastic: false }
    }

    /// A column dropped when the table is too wide; lower `keep` goes first.
    pub const fn droppable(header: &'static str, keep: u8) -> Self {
        Column { header, keep, wide_only: false, elastic: false }
    }

    /// A column of free text, always shown but cut to the room left.
    pub const fn elastic(header: &'static str) -> Self {
        Column { header, keep: 0, wide_only: false, elastic: true }
    }

    /// A column only `-o wide` shows.
    pub const fn wide(header: &'static str) -> Self {
        Column { header, keep: 0, wide_only: true, elastic: false }
    }
}

/// A cell: its text and how it is coloured on a terminal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cell {
    pub text: String,
    pub tone: Tone,
}

impl Cell {
    pub fn plain(text: impl Into<String>) -> Self {
        Cell { text: text.into(), tone: Tone::Plain }
    }

    pub fn toned(text: impl Into<String>, tone: Tone) -> Self {
        Cell { text: text.into(), tone }
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Self {
        Cell::plain(text)
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Self {
        Cell::plain(text)
    }
}

/// How a table is laid out: the room it has (None: as wide as it needs, e.g. into a pipe),
/// `-o wide`, and colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub width: Option<usize>,
    pub wide: bool,
    pub colour: bool,
}

impl Layout {
    /// As wide as it needs, every non-wide column, no colour: for tests and nested tables.
    pub const fn unbounded() -> Self {
        Layout { width: None, wide: false, colour: false }
    }
}

/// Characters a text takes on a terminal (the plugin prints ASCII and names; a char is a
/// column).
fn width_of(text: &str) -> usize {
    text.chars().count()
}

/// `text` cut to `room` characters, ending in "..." when cut.
fn cut(text: &str, room: usize) -> String {
    if width_of(text) <= room {
        return text.to_owned();
    }
    if room <= CUT.len() {
        return text.chars().take(room).collect();
    }
    let mut out: String = text.chars().take(room - CUT.len()).collect();
    out.push_str(CUT);
    out
}

/// The table of `rows` under `columns`, laid out as `layout` says; every line ends in "\n".
pub fn grid(columns: &[Column], rows: &[Vec<Cell>], layout: Layout) -> String {
    let mut shown: Vec<usize> = (0..columns.len()).filter(|&i| layout.wide || !columns[i].wide_only).collect();
    let natural = |i: usize| rows.iter().filter_map(|r| r.get(i)).map(|c| width_of(&c.text)).fold(width_of(columns[i].header), usize::max);
    let mut widths: Vec<usize> = (0..columns.len()).map(natural).collect();
    if let (Some(room), false) = (layout.width, layout.wide) {
        let total =
            |shown: &[usize], widths: &[usize]| shown.iter().map(|&i| widths[i]).sum::<usize>() + GAP * shown.len().saturating_sub(1);
        let floor = |i: usize| if columns[i].elastic { widths[i].min(ELASTIC_FLOOR.max(width_of(columns[i].header))) } else { widths[i] };
        let floors: Vec<usize> = (0..columns.len()).map(floor).collect();
        // The columns always shown, then each other one, the most important first, while it fits.
        let mut by_importance: Vec<usize> = shown.iter().copied().filter(|&i| columns[i].keep > 0).collect();
        by_importance.sort_by_key(|&i| (std::cmp::Reverse(columns[i].keep), i));
        shown.retain(|&i| columns[i].keep == 0);
        for i in by_importance {
            let mut with = shown.clone();
            with.push(i);
            if total(&with, &floors) <= room {
                shown = with;
            }
        }
        shown.sort_unstable();
        // Still too wide: cut the widest free-text column, never below its header.
        while total(&shown, &widths) > room {
            let over = total(&shown, &widths) - room;
            let Some(&widest) =
                shown.iter().filter(|&&i| columns[i].elastic && widths[i] > width_of(columns[i].header)).max_by_key(|&&i| widths[i])
            else {
                break;
            };
            widths[widest] = (widths[widest] - over).max(width_of(columns[widest].header));
        }
    }
    let mut out = String::new();
    let header: Vec<Cell> = columns.iter().map(|c| Cell::plain(c.header)).collect();
    for row in std::iter::once(&header).chain(rows.iter()) {
        let mut line = String::new();
        for (n, &i) in shown.iter().enumerate() {
            let cell = row.get(i).cloned().unwrap_or_else(|| Cell::plain(""));
            let text = cut(&cell.text, widths[i]);
            let pad = widths[i] - width_of(&text);
            line.push_str(&paint(&text, cell.tone, layout.colour));
            if n + 1 < shown.len() {
                line.push_str(&" ".repeat(pad + GAP));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The widest line of `text`, not counting colour escapes: what a terminal shows.
#[cfg(test)]
pub fn widest_line(text: &str) -> usize {
    text.lines().map(|l| width_of(&strip_escapes(l))).max().unwrap_or(0)
}

/// `text` without ANSI colour escapes.
#[cfg(test)]
pub fn strip_escapes(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols() -> [Column; 4] {
        [Column::fixed("NAME"), Column::droppable("LOW", 1), Column::droppable("HIGH", 2), Column::elastic("NOTE")]
    }

    fn rows() -> Vec<Vec<Cell>> {
        vec![vec!["alpha".into(), "lowlowlow".into(), "highhigh".into(), Cell::toned("a long note that goes on and on", Tone::Bad)]]
    }

    #[test]
    fn the_least_important_column_goes_first_then_the_note_is_cut() {
        let all = grid(&cols(), &rows(), Layout::unbounded());
        assert_eq!(all, "NAME    LOW         HIGH       NOTE\nalpha   lowlowlow   highhigh   a long note that goes on and on\n");
        let narrower = grid(&cols(), &rows(), Layout { width: Some(60), ..Layout::unbounded() });
        assert!(!narrower.contains("LOW") && narrower.contains("HIGH"), "{narrower}");
        let narrow = grid(&cols(), &rows(), Layout { width: Some(30), ..Layout::unbounded() });
        assert_eq!(narrow, "NAME    NOTE\nalpha   a long note that go...\n");
        assert!(widest_line(&narrow) <= 30);
        let wide = grid(&cols(), &rows(), Layout { width: Some(30), wide: true, colour: false });
        assert_eq!(wide, all, "-o wide shows everything, whole");
    }

    #[test]
    fn colour_does_not_count_as_width() {
        let coloured = grid(&cols(), &rows(), Layout { width: Some(30), wide: false, colour: true });
        assert!(coloured.contains('\u{1b}'));
        assert_eq!(strip_escapes(&coloured), grid(&cols(), &rows(), Layout { width: Some(30), ..Layout::unbounded() }));
    }

    #[test]
    fn wide_only_columns_show_with_wide() {
        let columns = [Column::fixed("NAME"), Column::wide("EXTRA")];
        let rows = vec![vec![Cell::plain("a"), Cell::plain("b")]];
        assert_eq!(grid(&columns, &rows, Layout::unbounded()), "NAME\na\n");
        assert_eq!(grid(&columns, &rows, Layout { wide: true, ..Layout::unbounded() }), "NAME   EXTRA\na      b\n");
    }
}
