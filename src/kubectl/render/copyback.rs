//! `recover --wait`: what a copy-back has done so far (a line per reading) and, once it is
//! done, its summary. Pure functions of `status.copyBack` (and the reading before), so they are
//! tested from hand-made statuses.

use jiff::Timestamp;

use crate::api::{CopyBackPhase, CopyBackStatus};

/// One reading of the copy-back's progress: when, and how many items were compared by then.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reading {
    pub at: Timestamp,
    pub scanned: i64,
}

/// A count as people read it: 120,000.
fn count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// Items compared per second between two readings; None for the first or when no time passed.
pub fn items_per_second(before: Option<Reading>, now: Reading) -> Option<f64> {
    let before = before?;
    let secs = now.at.duration_since(before.at).as_secs_f64();
    (secs > 0.0).then(|| (now.scanned - before.scanned).max(0) as f64 / secs)
}

/// A progress line: `Writing: 120,000 items compared, 3,120 missing, 3,000 written, 850 items/s`.
pub fn copy_back_progress(status: &CopyBackStatus, rate: Option<f64>) -> String {
    let phase = match status.phase {
        Some(CopyBackPhase::Comparing) | None if status.dry_run => "comparing (dry run)",
        Some(CopyBackPhase::Comparing) | None => "comparing",
        Some(CopyBackPhase::Writing) => "writing",
        Some(CopyBackPhase::Completed) => "completed",
        Some(CopyBackPhase::Failed) => "failed",
    };
    let mut line = format!("copy-back {phase}: {} items compared, {} missing", count(status.scanned), count(status.missing));
    if !status.dry_run {
        line.push_str(&format!(", {} written", count(status.written)));
    }
    if let Some(rate) = rate {
        line.push_str(&format!(", {rate:.0} items/s"));
    }
    line
}

/// The summary once the copy-back is done: the counts, the capacity it consumed, how long it
/// took, the sample of missing keys, and for a dry run how to write them.
pub fn copy_back_summary(status: &CopyBackStatus, restore: &str, into: &str) -> String {
    let took = match (&status.started_at, &status.completed_at) {
        (Some(from), Some(to)) => {
            let secs = to.0.duration_since(from.0).as_secs().max(0).unsigned_abs();
            format!(" in {}", humantime::format_duration(std::time::Duration::from_secs(secs)))
        }
        _ => String::new(),
    };
    let what = match status.phase {
        Some(CopyBackPhase::Failed) => "failed",
        _ if status.dry_run => "compared (a dry run: nothing was written)",
        _ => "completed",
    };
    let mut out = format!("copy-back into {into} {what}{took}\n");
    let row = |out: &mut String, name: &str, n: String, note: &str| out.push_str(&format!("  {name:<10} {n:>9}{note}\n"));
    row(&mut out, "compared", count(status.scanned), " items of the restored table");
    row(&mut out, "missing", count(status.missing), " keys the live table lacked");
    row(&mut out, "differing", count(status.differing), " keys in both, with other values (never overwritten by --missing-items)");
    if status.not_in_restored > 0 {
        row(&mut out, "not found", count(status.not_in_restored), " listed keys the restored table does not hold");
    }
    row(&mut out, "written", count(status.written), "");
    row(&mut out, "skipped", count(status.skipped), " present by the time of the write, or already equal: left as they are");
    out.push_str(&format!(
        "  {:<10} {:>9} read and {:.1} write capacity units\n",
        "consumed",
        format!("{:.1}", status.consumed_read_capacity),
        status.consumed_write_capacity
    ));
    // The operator's message repeats the table above, but for a failure, which it explains.
    if let Some(message) = status.message.as_ref().filter(|_| status.phase == Some(CopyBackPhase::Failed)) {
        out.push_str(&format!("  {message}\n"));
    }
    if !status.sample_missing.is_empty() {
        out.push_str(&format!("missing keys (a sample of {}):\n", status.sample_missing.len()));
        for key in &status.sample_missing {
            out.push_str(&format!("  {key}\n"));
        }
    }
    if !status.sample_differing.is_empty() {
        out.push_str(&format!("differing keys (a sample of {}):\n", status.sample_differing.len()));
        for key in &status.sample_differing {
            out.push_str(&format!("  {key}\n"));
        }
    }
    if status.dry_run && status.phase == Some(CopyBackPhase::Completed) && status.missing > 0 {
        out.push_str(&format!(
            "to write them: kubectl dynamobackup write-back {restore} --wait (GitOps: commit spec.copyBack.dryRun: false)\n"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn progress_lines_and_their_rate() {
        let mut status =
            CopyBackStatus { phase: Some(CopyBackPhase::Writing), scanned: 120_000, missing: 3120, written: 3000, ..Default::default() };
        let before = Reading { at: at("2026-01-15T10:00:00Z"), scanned: 111_500 };
        let now = Reading { at: at("2026-01-15T10:00:10Z"), scanned: 120_000 };
        let rate = items_per_second(Some(before), now);
        assert_eq!(rate, Some(850.0));
        assert_eq!(
            copy_back_progress(&status, rate),
            "copy-back writing: 120,000 items compared, 3,120 missing, 3,000 written, 850 items/s"
        );
        assert_eq!(items_per_second(None, now), None, "the first reading has no rate");
        assert_eq!(items_per_second(Some(now), now), None);
        status.dry_run = true;
        status.phase = Some(CopyBackPhase::Comparing);
        assert_eq!(copy_back_progress(&status, None), "copy-back comparing (dry run): 120,000 items compared, 3,120 missing");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(12), "12");
    }

    #[test]
    fn the_summary_of_a_dry_run_says_how_to_write() {
        let status = CopyBackStatus {
            phase: Some(CopyBackPhase::Completed),
            dry_run: true,
            scanned: 120_000,
            missing: 3120,
            differing: 45,
            consumed_read_capacity: 812.5,
            sample_missing: vec![r#"{"id":{"S":"user-7"}}"#.into(), r#"{"id":{"S":"user-42"}}"#.into()],
            started_at: Some(Time(at("2026-01-15T10:00:00Z"))),
            completed_at: Some(Time(at("2026-01-15T10:04:12Z"))),
            ..Default::default()
        };
        let text = copy_back_summary(&status, "userprofiles-recover-20260115-093012", "UserProfiles");
        super::super::super::tests::golden("copy-back-dry-run.txt", &text);
        assert!(
            text.contains("4m 12s") && text.contains("user-42") && text.contains("write-back userprofiles-recover-20260115-093012 --wait"),
            "{text}"
        );
    }

    #[test]
    fn the_summary_of_a_copy() {
        let status = CopyBackStatus {
            phase: Some(CopyBackPhase::Completed),
            scanned: 120_000,
            missing: 3120,
            differing: 45,
            written: 3118,
            skipped: 2,
            consumed_read_capacity: 812.5,
            consumed_write_capacity: 3118.0,
            sample_missing: vec![r#"{"id":{"S":"user-7"}}"#.into()],
            started_at: Some(Time(at("2026-01-15T10:00:00Z"))),
            completed_at: Some(Time(at("2026-01-15T10:31:05Z"))),
            ..Default::default()
        };
        let text = copy_back_summary(&status, "r", "UserProfiles");
        super::super::super::tests::golden("copy-back-written.txt", &text);
        assert!(!text.contains("dryRun"), "{text}");
    }
}
