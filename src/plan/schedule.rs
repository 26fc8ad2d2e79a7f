//! Schedule slots: when a policy's snapshots are due. Cron (5 fields or a macro) in an IANA time
//! zone, read by `croner` (which resolves DST gaps and folds as Vixie cron does: a slot in a
//! skipped hour happens once, at the jump; a slot in a repeated hour happens once, the first
//! time), or
//! `@every <duration>`, anchored at the Unix epoch so its slots do not depend on when the
//! operator started. Everything here takes `now` as an argument.

use std::time::Duration;

use croner::{
    Cron,
    parser::{CronParser, Seconds, Year},
};
use jiff::{Timestamp, tz::TimeZone};
use sha2::{Digest, Sha256};

use super::validate::{Invalid, invalid};
use crate::api::BackupSchedule;

#[derive(Clone, Debug)]
enum Rule {
    Cron(Box<Cron>),
    Every(Duration),
}

/// A parsed, valid `spec.schedule`.
#[derive(Clone, Debug)]
pub struct Schedule {
    rule: Rule,
    pub time_zone: TimeZone,
    pub jitter: Duration,
    pub starting_deadline: Option<Duration>,
    pub suspend: bool,
}

/// How many slots one look at the calendar may walk; a schedule that misses more than this
/// while the operator is down still takes at most one catch-up.
const MAX_SLOTS_WALKED: usize = 10_000;

fn parse_duration(field: &str, text: &str) -> Result<Duration, Invalid> {
    humantime::parse_duration(text).map_err(|e| invalid(format!("{field} {text:?} is not a duration such as 90s, 20m or 6h: {e}")))
}

impl Schedule {
    pub fn parse(spec: &BackupSchedule) -> Result<Self, Invalid> {
        let cron = spec.cron.trim();
        let rule = if let Some(every) = cron.strip_prefix("@every") {
            let every = parse_duration("spec.schedule.cron @every", every.trim())?;
            if every < Duration::from_secs(1) {
                return Err(invalid("spec.schedule.cron: @every needs at least 1s"));
            }
            Rule::Every(every)
        } else {
            let parser = CronParser::builder().seconds(Seconds::Disallowed).year(Year::Disallowed).build();
            let parsed = parser.parse(cron).map_err(|e| {
                invalid(format!("spec.schedule.cron {cron:?} is not a cron schedule (5 fields, @hourly .. @yearly, or @every 6h): {e}"))
            })?;
            Rule::Cron(Box::new(parsed))
        };
        let zone = spec.time_zone.as_deref().unwrap_or("UTC");
        let time_zone = TimeZone::get(zone)
            .map_err(|_| invalid(format!("spec.schedule.timeZone {zone:?} is not an IANA time zone such as Europe/Berlin")))?;
        let jitter = match &spec.jitter {
            Some(j) => parse_duration("spec.schedule.jitter", j)?,
            None => Duration::ZERO,
        };
        let starting_deadline =
            spec.starting_deadline.as_deref().map(|d| parse_duration("spec.schedule.startingDeadline", d)).transpose()?;
        Ok(Self { rule, time_zone, jitter, starting_deadline, suspend: spec.suspend })
    }

    /// The first slot strictly after `after`.
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        match &self.rule {
            Rule::Every(every) => {
                let step = i128::try_from(every.as_nanos()).ok()?;
                let now = after.as_nanosecond();
                let next = (now.div_euclid(step) + 1) * step;
                Timestamp::from_nanosecond(next).ok()
            }
            Rule::Cron(cron) => {
                let zoned = after.to_zoned(self.time_zone.clone());
                cron.find_next_occurrence(&zoned, false).ok().map(|z| z.timestamp())
            }
        }
    }

    /// The slots in `(after, until]`, oldest first, at most `MAX_SLOTS_WALKED`.
    pub fn slots_between(&self, after: Timestamp, until: Timestamp) -> Vec<Timestamp> {
        let mut slots = Vec::new();
        let mut cursor = after;
        while slots.len() < MAX_SLOTS_WALKED {
            match self.next_after(cursor) {
                Some(slot) if slot <= until => {
                    slots.push(slot);
                    cursor = slot;
                }
                _ => break,
            }
        }
        slots
    }

    /// The deterministic offset of one table's backup after each slot, in `[0, jitter)`.
    pub fn offset_for(&self, key: &str) -> Duration {
        let jitter = self.jitter.as_millis();
        if jitter == 0 {
            return Duration::ZERO;
        }
        let digest = Sha256::digest(key.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        let millis = u128::from(u64::from_be_bytes(first)) % jitter;
        Duration::from_millis(u64::try_from(millis).unwrap_or(0))
    }
}

impl Schedule {
    /// The part of a child backup's name that tells its slot: the slot's civil time in the
    /// schedule's zone, `YYYYMMDD-HHMM`, with seconds when the slot has them.
    pub fn slot_suffix(&self, slot: Timestamp) -> String {
        let local = slot.to_zoned(self.time_zone.clone());
        if local.second() == 0 { local.strftime("%Y%m%d-%H%M").to_string() } else { local.strftime("%Y%m%d-%H%M%S").to_string() }
    }
}

/// Why a slot made no backup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// A newer slot came before this one was taken (the operator was down or suspended).
    Missed,
    /// The latest missed slot was older than `startingDeadline`.
    MissedDeadline,
    /// The table's previous scheduled backup was still being created.
    PreviousBackupInProgress,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Missed => "Missed",
            SkipReason::MissedDeadline => "MissedDeadline",
            SkipReason::PreviousBackupInProgress => "PreviousBackupInProgress",
        }
    }
}

/// What the calendar says now, given the last slot already dealt with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotPlan {
    /// The slot to take now (at most one: catching up never makes more than one backup).
    pub due: Option<Timestamp>,
    /// Slots passed over since the last one dealt with, newest last.
    pub skipped: Vec<(Timestamp, SkipReason)>,
    /// The first slot after `now`.
    pub next: Option<Timestamp>,
}

/// `last`: the latest slot already dealt with (taken or skipped); None for a new policy, whose
/// slots start at `created`. A suspended schedule takes nothing and skips nothing: the slots it
/// passes over are reported when it resumes.
pub fn plan_slots(schedule: &Schedule, last: Option<Timestamp>, created: Timestamp, now: Timestamp) -> SlotPlan {
    let next = schedule.next_after(now);
    if schedule.suspend {
        return SlotPlan { due: None, skipped: Vec::new(), next };
    }
    let from = last.unwrap_or(created).max(created);
    let mut passed = schedule.slots_between(from, now);
    let Some(latest) = passed.pop() else { return SlotPlan { due: None, skipped: Vec::new(), next } };
    let mut skipped: Vec<(Timestamp, SkipReason)> = passed.into_iter().map(|s| (s, SkipReason::Missed)).collect();
    let late = Duration::try_from(now.duration_since(latest)).unwrap_or_default();
    let due = match schedule.starting_deadline {
        Some(deadline) if late > deadline => {
            skipped.push((latest, SkipReason::MissedDeadline));
            None
        }
        _ => Some(latest),
    };
    SlotPlan { due, skipped, next }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    fn schedule(cron: &str, zone: Option<&str>) -> Schedule {
        Schedule::parse(&BackupSchedule {
            cron: cron.into(),
            time_zone: zone.map(str::to_owned),
            jitter: None,
            starting_deadline: None,
            suspend: false,
        })
        .expect("valid schedule")
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    /// Slots per local calendar day over [from, to).
    fn per_local_day(s: &Schedule, from: &str, to: &str) -> BTreeMap<String, Vec<String>> {
        let mut days: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for slot in s.slots_between(ts(from), ts(to)) {
            let local = slot.to_zoned(s.time_zone.clone());
            days.entry(local.date().to_string()).or_default().push(local.strftime("%H:%M %Z").to_string());
        }
        days
    }

    fn assert_once_a_day(days: &BTreeMap<String, Vec<String>>, expected_days: usize) {
        assert_eq!(days.len(), expected_days, "{days:?}");
        assert!(days.values().all(|slots| slots.len() == 1), "a day with other than one slot: {days:?}");
    }

    #[test]
    fn daily_0230_across_spring_forward_in_berlin() {
        // 29 March 2026: 02:00 CET jumps to 03:00 CEST, so 02:30 does not exist.
        let s = schedule("30 2 * * *", Some("Europe/Berlin"));
        let days = per_local_day(&s, "2026-03-27T12:00:00Z", "2026-03-31T12:00:00Z");
        assert_once_a_day(&days, 4);
        assert_eq!(days["2026-03-28"], vec!["02:30 CET"]);
        assert_eq!(days["2026-03-29"], vec!["03:00 CEST"], "the skipped slot runs once, at the jump (as Vixie cron)");
        assert_eq!(days["2026-03-30"], vec!["02:30 CEST"]);
    }

    #[test]
    fn daily_0230_across_fall_back_in_berlin() {
        // 25 October 2026: 03:00 CEST falls back to 02:00 CET, so 02:30 happens twice.
        let s = schedule("30 2 * * *", Some("Europe/Berlin"));
        let days = per_local_day(&s, "2026-10-23T12:00:00Z", "2026-10-27T12:00:00Z");
        assert_once_a_day(&days, 4);
        assert_eq!(days["2026-10-25"], vec!["02:30 CEST"], "the repeated slot runs once, the first time");
    }

    #[test]
    fn daily_0230_across_both_changes_in_new_york() {
        // 8 March 2026: 02:00 EST jumps to 03:00 EDT. 1 November 2026: 02:00 EDT falls back to 01:00 EST.
        let s = schedule("30 2 * * *", Some("America/New_York"));
        let spring = per_local_day(&s, "2026-03-06T12:00:00Z", "2026-03-10T12:00:00Z");
        assert_once_a_day(&spring, 4);
        assert_eq!(spring["2026-03-08"], vec!["03:00 EDT"]);
        let fall = per_local_day(&s, "2026-10-30T12:00:00Z", "2026-11-03T12:00:00Z");
        assert_once_a_day(&fall, 4);
        assert_eq!(fall["2026-11-01"], vec!["02:30 EST"], "02:30 exists once that day, after the fold");
    }

    #[test]
    fn an_hourly_slot_in_the_repeated_hour_runs_once() {
        let s = schedule("30 * * * *", Some("Europe/Berlin"));
        // 00:00Z..02:00Z on 25 October is 02:00 CEST .. 02:00 CET (the fold) and on to 03:00 CET.
        let slots = s.slots_between(ts("2026-10-25T00:00:00Z"), ts("2026-10-25T02:00:00Z"));
        assert_eq!(slots, vec![ts("2026-10-25T00:30:00Z"), ts("2026-10-25T01:30:00Z")]);
    }

    #[test]
    fn slot_suffixes_read_in_the_zone() {
        let s = schedule("0 3 * * *", Some("Europe/Berlin"));
        assert_eq!(s.slot_suffix(ts("2026-01-15T02:00:00Z")), "20260115-0300");
        assert_eq!(schedule("@every 20s", None).slot_suffix(ts("2026-01-15T10:00:20Z")), "20260115-100020");
    }

    #[test]
    fn macros_and_time_zones() {
        let s = schedule("@daily", Some("Europe/Berlin"));
        assert_eq!(s.next_after(ts("2026-01-15T10:00:00Z")), Some(ts("2026-01-15T23:00:00Z")));
        let utc = schedule("@hourly", None);
        assert_eq!(utc.next_after(ts("2026-01-15T10:00:00Z")), Some(ts("2026-01-15T11:00:00Z")));
        assert!(schedule("@yearly", None).next_after(ts("2026-01-15T10:00:00Z")) == Some(ts("2027-01-01T00:00:00Z")));
    }

    #[test]
    fn every_is_anchored_at_the_epoch() {
        let s = schedule("@every 20s", None);
        assert_eq!(s.next_after(ts("2026-01-15T10:00:05Z")), Some(ts("2026-01-15T10:00:20Z")));
        assert_eq!(s.next_after(ts("2026-01-15T10:00:20Z")), Some(ts("2026-01-15T10:00:40Z")));
        let six = schedule("@every 6h", Some("Europe/Berlin"));
        assert_eq!(six.next_after(ts("2026-01-15T10:00:00Z")), Some(ts("2026-01-15T12:00:00Z")), "absolute, not local");
    }

    #[test]
    fn bad_schedules_are_invalid_with_the_field() {
        let parse = |cron: &str, zone: Option<&str>, jitter: Option<&str>| {
            Schedule::parse(&BackupSchedule {
                cron: cron.into(),
                time_zone: zone.map(str::to_owned),
                jitter: jitter.map(str::to_owned),
                starting_deadline: None,
                suspend: false,
            })
        };
        assert!(parse("61 * * * *", None, None).unwrap_err().message.contains("spec.schedule.cron"));
        assert!(parse("0 3 * * * *", None, None).is_err(), "six fields");
        assert!(parse("@every 0s", None, None).is_err());
        assert!(parse("0 3 * * *", Some("Mars/Olympus"), None).unwrap_err().message.contains("spec.schedule.timeZone"));
        assert!(parse("0 3 * * *", None, Some("soon")).unwrap_err().message.contains("spec.schedule.jitter"));
    }

    fn with(deadline: Option<&str>, suspend: bool) -> Schedule {
        let mut s = schedule("0 * * * *", None);
        s.starting_deadline = deadline.map(|d| humantime::parse_duration(d).expect("duration"));
        s.suspend = suspend;
        s
    }

    #[test]
    fn a_new_policy_starts_at_its_creation() {
        let p = plan_slots(&with(None, false), None, ts("2026-01-15T10:30:00Z"), ts("2026-01-15T10:45:00Z"));
        assert_eq!(p, SlotPlan { due: None, skipped: vec![], next: Some(ts("2026-01-15T11:00:00Z")) });
        let p = plan_slots(&with(None, false), None, ts("2026-01-15T10:30:00Z"), ts("2026-01-15T11:00:10Z"));
        assert_eq!(p.due, Some(ts("2026-01-15T11:00:00Z")));
    }

    #[test]
    fn missed_slots_make_one_catch_up_within_the_deadline() {
        // Down from 10:30 to 13:10: slots 11:00, 12:00 and 13:00 passed.
        let last = Some(ts("2026-01-15T10:00:00Z"));
        let p = plan_slots(&with(Some("15m"), false), last, ts("2026-01-01T00:00:00Z"), ts("2026-01-15T13:10:00Z"));
        assert_eq!(p.due, Some(ts("2026-01-15T13:00:00Z")));
        assert_eq!(p.skipped, vec![(ts("2026-01-15T11:00:00Z"), SkipReason::Missed), (ts("2026-01-15T12:00:00Z"), SkipReason::Missed)]);

        let late = plan_slots(&with(Some("5m"), false), last, ts("2026-01-01T00:00:00Z"), ts("2026-01-15T13:10:00Z"));
        assert_eq!(late.due, None, "the latest missed slot is past the deadline");
        assert_eq!(late.skipped.last(), Some(&(ts("2026-01-15T13:00:00Z"), SkipReason::MissedDeadline)));
        assert_eq!(late.skipped.len(), 3);
    }

    #[test]
    fn a_suspended_schedule_takes_nothing() {
        let p = plan_slots(&with(None, true), Some(ts("2026-01-15T10:00:00Z")), ts("2026-01-01T00:00:00Z"), ts("2026-01-15T13:10:00Z"));
        assert_eq!((p.due, p.skipped.len()), (None, 0));
        assert_eq!(p.next, Some(ts("2026-01-15T14:00:00Z")));
    }

    #[test]
    fn nothing_is_due_twice() {
        let s = with(None, false);
        let now = ts("2026-01-15T11:00:10Z");
        let first = plan_slots(&s, None, ts("2026-01-15T10:30:00Z"), now);
        let again = plan_slots(&s, first.due, ts("2026-01-15T10:30:00Z"), now);
        assert_eq!(again.due, None);
    }

    proptest! {
        #[test]
        fn jitter_is_stable_and_within_bounds(key in "[a-z/]{1,40}", jitter_secs in 1u64..7200) {
            let mut s = schedule("0 3 * * *", None);
            s.jitter = Duration::from_secs(jitter_secs);
            let offset = s.offset_for(&key);
            prop_assert!(offset < s.jitter);
            prop_assert_eq!(offset, s.offset_for(&key));
        }

        #[test]
        fn at_most_one_slot_is_due(last_h in 0i64..48, down_h in 0i64..200) {
            let s = with(None, false);
            let base = ts("2026-01-01T00:00:00Z").as_second();
            let last = Timestamp::from_second(base + last_h * 3600).expect("in range");
            let now = Timestamp::from_second(base + (last_h + down_h) * 3600 + 59).expect("in range");
            let p = plan_slots(&s, Some(last), ts("2025-12-01T00:00:00Z"), now);
            let passed = s.slots_between(last, now).len();
            prop_assert_eq!(p.skipped.len() + usize::from(p.due.is_some()), passed);
            prop_assert!(p.due.is_none_or(|d| d <= now && d > last));
        }
    }
}
