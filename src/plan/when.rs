//! Moments as a person types them during an incident, for `kubectl dynamobackup restore --to`:
//! RFC 3339 (`2026-01-15T10:14:59Z`), a local date and time or a time of today in a time zone
//! (`"2026-01-15 10:14:59" --tz Europe/Berlin`, `10:14:59`), or relative (`15m ago`, `now`).
//! Restores are to the second, so fractions are cut.

use jiff::{Timestamp, Unit, civil, tz::TimeZone};

/// The moment `text` names, read in `tz` when it carries no offset; `now` anchors relative
/// times and "today". A moment in the future is refused: nothing can be restored from it.
pub fn parse_moment(text: &str, tz: &TimeZone, now: Timestamp) -> Result<Timestamp, String> {
    let text = text.trim();
    let at = if text.eq_ignore_ascii_case("now") {
        now
    } else if let Some(ago) = text.strip_suffix(" ago").or_else(|| text.strip_suffix("ago")) {
        let span = humantime::parse_duration(ago.trim())
            .map_err(|e| format!("{text:?}: {e}; a relative time reads like \"15m ago\" or \"1h30m ago\""))?;
        let span = jiff::SignedDuration::try_from(span).map_err(|e| format!("{text:?}: {e}"))?;
        now.checked_sub(span).map_err(|e| format!("{text:?}: {e}"))?
    } else if let Ok(at) = text.parse::<Timestamp>() {
        at
    } else if let Ok(local) = text.parse::<civil::DateTime>() {
        local.to_zoned(tz.clone()).map_err(|e| format!("{text:?} in {}: {e}", tz_name(tz)))?.timestamp()
    } else if let Ok(time) = text.parse::<civil::Time>() {
        let today = now.to_zoned(tz.clone()).date();
        today.to_datetime(time).to_zoned(tz.clone()).map_err(|e| format!("{text:?} in {}: {e}", tz_name(tz)))?.timestamp()
    } else {
        return Err(format!(
            "{text:?} is not a moment: use RFC 3339 (2026-01-15T10:14:59Z), a local time with --tz \
             (\"2026-01-15 10:14:59\", or 10:14:59 for today), or a relative time (\"15m ago\")"
        ));
    };
    let at = at.round(to_second()).map_err(|e| e.to_string())?;
    if at > now {
        return Err(format!("{text:?} is {at}, in the future (now is {})", now.round(to_second()).unwrap_or(now)));
    }
    Ok(at)
}

/// Restores are to the second: fractions are cut, never rounded up into the future.
fn to_second() -> jiff::TimestampRound {
    jiff::TimestampRound::new().smallest(Unit::Second).mode(jiff::RoundMode::Trunc)
}

/// The name of a time zone for messages.
pub fn tz_name(tz: &TimeZone) -> String {
    tz.iana_name().map(str::to_owned).unwrap_or_else(|| "the local time zone".to_owned())
}

/// Whether `at` lies in the PITR window `[earliest, latest]`; otherwise a message that prints
/// the window.
pub fn check_in_window(table: &str, at: Timestamp, earliest: Option<Timestamp>, latest: Option<Timestamp>) -> Result<(), String> {
    match (earliest, latest) {
        (Some(earliest), Some(latest)) if at < earliest || at > latest => Err(format!(
            "{at} is outside the point-in-time window of {table}: from {earliest} to {latest} (as the policy last read it); \
             choose a moment inside it, or --latest"
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-01-15T09:30:00Z".parse().unwrap()
    }

    fn berlin() -> TimeZone {
        TimeZone::get("Europe/Berlin").unwrap()
    }

    #[test]
    fn the_incident_of_the_seeds_reads_in_berlin_time() {
        // 10:14:59 in Berlin (UTC+1 in January) is 09:14:59Z, before "now" (09:30Z).
        let at = parse_moment("10:14:59", &berlin(), now()).unwrap();
        assert_eq!(at.to_string(), "2026-01-15T09:14:59Z");
        let at = parse_moment("2026-01-15 10:14:59", &berlin(), now()).unwrap();
        assert_eq!(at.to_string(), "2026-01-15T09:14:59Z");
    }

    #[test]
    fn rfc3339_relative_and_now() {
        assert_eq!(parse_moment("2026-01-15T08:00:00+01:00", &TimeZone::UTC, now()).unwrap().to_string(), "2026-01-15T07:00:00Z");
        assert_eq!(parse_moment("15m ago", &TimeZone::UTC, now()).unwrap().to_string(), "2026-01-15T09:15:00Z");
        assert_eq!(parse_moment("1h30m ago", &TimeZone::UTC, now()).unwrap().to_string(), "2026-01-15T08:00:00Z");
        assert_eq!(parse_moment("now", &TimeZone::UTC, now()).unwrap(), now());
    }

    #[test]
    fn the_future_and_nonsense_are_refused_with_help() {
        let err = parse_moment("11:00", &TimeZone::UTC, now()).unwrap_err();
        assert!(err.contains("in the future"), "{err}");
        let err = parse_moment("yesterday-ish", &TimeZone::UTC, now()).unwrap_err();
        assert!(err.contains("RFC 3339") && err.contains("15m ago"), "{err}");
    }

    #[test]
    fn a_moment_outside_the_window_prints_the_window() {
        let (earliest, latest) = (Some("2026-01-14T00:00:00Z".parse().unwrap()), Some("2026-01-15T09:25:00Z".parse().unwrap()));
        assert!(check_in_window("UserProfiles", "2026-01-15T09:00:00Z".parse().unwrap(), earliest, latest).is_ok());
        let err = check_in_window("UserProfiles", "2026-01-13T00:00:00Z".parse().unwrap(), earliest, latest).unwrap_err();
        assert!(err.contains("2026-01-14T00:00:00Z") && err.contains("2026-01-15T09:25:00Z"), "{err}");
        assert!(check_in_window("T", now(), None, None).is_ok(), "no window known: the operator checks");
    }
}
