//! Retention: which of a policy's DynamoBackups may go. Per table, over this policy's Available
//! backups that are not pinned. `keepLast` holds the newest N; `keepHourly` .. `keepYearly` hold
//! the newest backup of each of the newest N hour/day/week/month/year buckets, in the policy's
//! time zone (grandfather-father-son). A backup younger than `maxAge` is held too: "older than
//! this may go". With no keep rule and no `maxAge`, nothing goes. Whatever happens, a table keeps
//! at least `minAvailable` Available backups of this policy (pinned ones count).

use std::{collections::BTreeSet, time::Duration};

use jiff::{Timestamp, tz::TimeZone};

use super::validate::{Invalid, invalid};
use crate::api::Retention;

/// One DynamoBackup as retention sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub name: String,
    pub table: String,
    /// The policy that created it (its `dynamobackup.io/policy` label), if any.
    pub policy: Option<String>,
    pub created: Timestamp,
    pub available: bool,
    pub pinned: bool,
}

/// `spec.retention`, parsed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rules {
    pub keep_last: Option<u32>,
    pub keep_hourly: Option<u32>,
    pub keep_daily: Option<u32>,
    pub keep_weekly: Option<u32>,
    pub keep_monthly: Option<u32>,
    pub keep_yearly: Option<u32>,
    pub max_age: Option<Duration>,
    pub min_available: u32,
}

impl Rules {
    pub fn parse(spec: &Retention) -> Result<Self, Invalid> {
        let max_age = spec
            .max_age
            .as_deref()
            .map(|text| humantime::parse_duration(text).map_err(|e| invalid(format!("spec.retention.maxAge {text:?}: {e}"))))
            .transpose()?;
        Ok(Self {
            keep_last: spec.keep_last,
            keep_hourly: spec.keep_hourly,
            keep_daily: spec.keep_daily,
            keep_weekly: spec.keep_weekly,
            keep_monthly: spec.keep_monthly,
            keep_yearly: spec.keep_yearly,
            max_age,
            min_available: spec.min_available,
        })
    }

    fn has_keep_rule(&self) -> bool {
        [self.keep_last, self.keep_hourly, self.keep_daily, self.keep_weekly, self.keep_monthly, self.keep_yearly]
            .iter()
            .any(Option::is_some)
    }
}

/// The bucket a backup falls in for one GFS rule, in the policy's time zone.
fn bucket(kind: usize, at: Timestamp, tz: &TimeZone) -> (i32, i32, i32, i32) {
    let z = at.to_zoned(tz.clone());
    let (y, m, d, h) = (i32::from(z.year()), i32::from(z.month()), i32::from(z.day()), i32::from(z.hour()));
    match kind {
        0 => (y, m, d, h),
        1 => (y, m, d, 0),
        2 => {
            let week = z.date().iso_week_date();
            (i32::from(week.year()), i32::from(week.week()), 0, 0)
        }
        3 => (y, m, 0, 0),
        _ => (y, 0, 0, 0),
    }
}

/// The names of `policy`'s backups that may be deleted now, oldest first.
pub fn plan(policy: &str, candidates: &[Candidate], rules: &Rules, tz: &TimeZone, now: Timestamp) -> Vec<String> {
    if !rules.has_keep_rule() && rules.max_age.is_none() {
        return Vec::new();
    }
    let tables: BTreeSet<&str> = candidates.iter().filter(|c| c.policy.as_deref() == Some(policy)).map(|c| c.table.as_str()).collect();
    let mut delete = Vec::new();
    for table in tables {
        let mine: Vec<&Candidate> =
            candidates.iter().filter(|c| c.policy.as_deref() == Some(policy) && c.table == table && c.available).collect();
        // Newest first; the name breaks ties so the input order never matters.
        let mut eligible: Vec<&Candidate> = mine.iter().copied().filter(|c| !c.pinned).collect();
        eligible.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| b.name.cmp(&a.name)));

        let mut held: BTreeSet<&str> = BTreeSet::new();
        if let Some(n) = rules.keep_last {
            held.extend(eligible.iter().take(n as usize).map(|c| c.name.as_str()));
        }
        let gfs = [rules.keep_hourly, rules.keep_daily, rules.keep_weekly, rules.keep_monthly, rules.keep_yearly];
        for (kind, keep) in gfs.iter().enumerate() {
            let Some(n) = keep else { continue };
            let mut buckets = BTreeSet::new();
            for c in &eligible {
                if buckets.len() >= *n as usize {
                    break;
                }
                if buckets.insert(bucket(kind, c.created, tz)) {
                    held.insert(c.name.as_str());
                }
            }
        }
        if let Some(max_age) = rules.max_age {
            let within = |c: &&&Candidate| Duration::try_from(now.duration_since(c.created)).unwrap_or_default() <= max_age;
            held.extend(eligible.iter().filter(within).map(|c| c.name.as_str()));
        }

        let mut going: Vec<&Candidate> = eligible.iter().copied().filter(|c| !held.contains(c.name.as_str())).collect();
        // The floor: never fewer than minAvailable Available backups of this policy for the table.
        let may_go = mine.len().saturating_sub(rules.min_available as usize);
        going.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.name.cmp(&b.name)));
        going.truncate(may_go);
        delete.extend(going.into_iter().map(|c| c.name.clone()));
    }
    delete
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn backup(name: &str, created: &str) -> Candidate {
        Candidate {
            name: name.into(),
            table: "Orders".into(),
            policy: Some("p".into()),
            created: ts(created),
            available: true,
            pinned: false,
        }
    }

    fn daily(days: u32) -> Vec<Candidate> {
        (1..=days).map(|d| backup(&format!("d{d:02}"), &format!("2026-01-{d:02}T03:00:00Z"))).collect()
    }

    fn rules() -> Rules {
        Rules { min_available: 1, ..Default::default() }
    }

    #[test]
    fn keep_last_keeps_the_newest() {
        let r = Rules { keep_last: Some(2), ..rules() };
        let gone = plan("p", &daily(5), &r, &TimeZone::UTC, ts("2026-01-06T00:00:00Z"));
        assert_eq!(gone, vec!["d01", "d02", "d03"]);
    }

    #[test]
    fn no_rules_delete_nothing() {
        assert!(plan("p", &daily(5), &rules(), &TimeZone::UTC, ts("2026-02-01T00:00:00Z")).is_empty());
    }

    #[test]
    fn gfs_keeps_the_newest_of_each_bucket() {
        // Two backups a day for 20 days; keep 3 daily and 2 weekly.
        let mut all = Vec::new();
        for d in 1..=20u32 {
            all.push(backup(&format!("d{d:02}a"), &format!("2026-01-{d:02}T03:00:00Z")));
            all.push(backup(&format!("d{d:02}b"), &format!("2026-01-{d:02}T15:00:00Z")));
        }
        let r = Rules { keep_daily: Some(3), keep_weekly: Some(2), ..rules() };
        let gone = plan("p", &all, &r, &TimeZone::UTC, ts("2026-01-21T00:00:00Z"));
        let kept: Vec<&str> = all.iter().map(|c| c.name.as_str()).filter(|n| !gone.iter().any(|g| g == n)).collect();
        // Days 20, 19, 18 (newest of each); weeks: the ISO week of the 20th (Mon 19th..) and the one before (newest: the 18th, Sunday).
        assert_eq!(kept, vec!["d18b", "d19b", "d20b"]);
    }

    #[test]
    fn buckets_follow_the_time_zone() {
        // 23:30 UTC on the 1st is already the 2nd in Berlin.
        let all = vec![backup("late", "2026-01-01T23:30:00Z"), backup("next", "2026-01-02T10:00:00Z")];
        let r = Rules { keep_daily: Some(1), min_available: 0, ..Default::default() };
        let berlin = TimeZone::get("Europe/Berlin").expect("zone");
        assert_eq!(plan("p", &all, &r, &berlin, ts("2026-01-03T00:00:00Z")), vec!["late"]);
        let r2 = Rules { keep_daily: Some(2), min_available: 0, ..Default::default() };
        assert_eq!(plan("p", &all, &r2, &berlin, ts("2026-01-03T00:00:00Z")), vec!["late"], "same Berlin day");
        assert!(plan("p", &all, &r2, &TimeZone::UTC, ts("2026-01-03T00:00:00Z")).is_empty(), "two UTC days");
    }

    #[test]
    fn max_age_alone_deletes_what_is_older() {
        let r = Rules { max_age: Some(Duration::from_secs(3 * 86_400)), ..rules() };
        let gone = plan("p", &daily(10), &r, &TimeZone::UTC, ts("2026-01-10T12:00:00Z"));
        // Backups at 03:00; at 12:00 on the 10th, d07 is 3 days and 9 hours old.
        assert_eq!(gone, vec!["d01", "d02", "d03", "d04", "d05", "d06", "d07"]);
    }

    #[test]
    fn a_keep_rule_holds_what_max_age_would_let_go() {
        let r = Rules { keep_monthly: Some(2), max_age: Some(Duration::from_secs(86_400)), ..rules() };
        let mut all = daily(3);
        all.push(backup("dec", "2025-12-15T03:00:00Z"));
        let gone = plan("p", &all, &r, &TimeZone::UTC, ts("2026-01-03T12:00:00Z"));
        // Held: January's newest (d03, also the only one within a day) and December's newest.
        assert_eq!(gone, vec!["d01", "d02"]);
    }

    #[test]
    fn pinned_failed_and_foreign_backups_stay_and_pinned_ones_count_for_the_floor() {
        let mut all = daily(4);
        all[0].pinned = true;
        all[1].available = false;
        all.push(Candidate { policy: Some("other".into()), ..backup("theirs", "2026-01-01T00:00:00Z") });
        all.push(Candidate { policy: None, ..backup("manual", "2026-01-01T00:00:00Z") });
        let r = Rules { keep_last: Some(0), min_available: 2, ..Default::default() };
        // Available of p: d01 (pinned), d03, d04. Floor 2: one may go, the oldest eligible.
        assert_eq!(plan("p", &all, &r, &TimeZone::UTC, ts("2026-02-01T00:00:00Z")), vec!["d03"]);
    }

    fn candidates() -> impl Strategy<Value = Vec<Candidate>> {
        prop::collection::vec((0usize..3, 0usize..3, 0i64..5_000_000, any::<bool>(), any::<bool>()), 0..40).prop_map(|rows| {
            rows.into_iter()
                .enumerate()
                .map(|(i, (table, policy, secs, available, pinned))| Candidate {
                    name: format!("b{i:03}"),
                    table: ["Orders", "OrderItems", "Users"][table].into(),
                    policy: [Some("p".to_owned()), Some("other".to_owned()), None][policy].clone(),
                    created: Timestamp::from_second(1_767_225_600 + secs).expect("in range"),
                    available,
                    pinned,
                })
                .collect()
        })
    }

    fn any_rules() -> impl Strategy<Value = Rules> {
        let keep = || prop::option::of(0u32..6);
        ((keep(), keep(), keep(), keep(), keep(), keep()), prop::option::of(0u64..5_000_000), 0u32..4).prop_map(
            |((last, hourly, daily, weekly, monthly, yearly), max_age, min_available)| Rules {
                keep_last: last,
                keep_hourly: hourly,
                keep_daily: daily,
                keep_weekly: weekly,
                keep_monthly: monthly,
                keep_yearly: yearly,
                max_age: max_age.map(Duration::from_secs),
                min_available,
            },
        )
    }

    proptest! {
        #[test]
        fn retention_invariants(all in candidates(), r in any_rules(), shuffle in any::<u64>()) {
            let now = Timestamp::from_second(1_767_225_600 + 5_000_000).expect("in range");
            let gone = plan("p", &all, &r, &TimeZone::UTC, now);
            for name in &gone {
                let c = all.iter().find(|c| &c.name == name).expect("a known backup");
                prop_assert_eq!(c.policy.as_deref(), Some("p"), "never another policy's");
                prop_assert!(!c.pinned, "never a pinned one");
                prop_assert!(c.available, "never one that is not Available");
            }
            for table in ["Orders", "OrderItems", "Users"] {
                let available = all.iter().filter(|c| c.policy.as_deref() == Some("p") && c.table == table && c.available).count();
                let going = gone.iter().filter(|n| all.iter().any(|c| &c.name == *n && c.table == table)).count();
                prop_assert!(available - going >= (r.min_available as usize).min(available), "below minAvailable");
            }
            // The same set whatever order the backups come in.
            let mut shuffled = all.clone();
            let len = shuffled.len().max(1);
            shuffled.rotate_left((shuffle as usize) % len);
            shuffled.reverse();
            let mut again = plan("p", &shuffled, &r, &TimeZone::UTC, now);
            let mut first = gone.clone();
            again.sort();
            first.sort();
            prop_assert_eq!(first, again);
        }
    }
}
