//! Verification of a restored table (`DynamoRestore.spec.verify`): keys as the spec writes them,
//! the count's resume point as status keeps it, and the verdict.

use std::{collections::BTreeMap, time::Duration};

use base64::Engine;

use crate::api::facts::{ItemKey, KeyAttr};

/// Items per Scan page of the count: a page reads at most 1 MB anyway.
pub const PAGE_ITEMS: i32 = 1000;

/// How long one reconcile counts before it saves its place and yields.
pub const COUNT_SLICE: Duration = Duration::from_secs(20);

/// `resumeKey` of a count that has not read its first page yet.
pub const FROM_THE_START: &str = "{}";

/// The default read capacity a count may use per second.
pub const DEFAULT_MAX_READ_CAPACITY: u32 = 100;

/// A key of `spec.verify.keys` (`{attribute: {S|N|B: value}}`), checked.
pub fn parse_key(json: &BTreeMap<String, BTreeMap<String, String>>) -> Result<ItemKey, String> {
    if json.is_empty() {
        return Err("a key names no attribute".into());
    }
    json.iter()
        .map(|(name, typed)| {
            let mut values = typed.iter();
            let value = match (values.next(), values.next()) {
                (Some((kind, value)), None) => match kind.as_str() {
                    "S" => KeyAttr::S(value.clone()),
                    "N" => KeyAttr::N(value.clone()),
                    "B" => KeyAttr::B(
                        base64::engine::general_purpose::STANDARD.decode(value).map_err(|e| format!("{name}: B is not base64: {e}"))?,
                    ),
                    other => return Err(format!("{name}: {other} is not a key type (S, N or B)")),
                },
                _ => return Err(format!("{name}: give exactly one of S, N, B")),
            };
            Ok((name.clone(), value))
        })
        .collect()
}

/// A key as DynamoDB JSON text, for status (`resumeKey`) and messages.
pub fn key_text(key: &ItemKey) -> String {
    let json: BTreeMap<&str, BTreeMap<&str, String>> = key
        .iter()
        .map(|(name, value)| {
            let typed = match value {
                KeyAttr::S(s) => ("S", s.clone()),
                KeyAttr::N(n) => ("N", n.clone()),
                KeyAttr::B(b) => ("B", base64::engine::general_purpose::STANDARD.encode(b)),
            };
            (name.as_str(), BTreeMap::from([typed]))
        })
        .collect();
    serde_json::to_string(&json).unwrap_or_default()
}

/// A key back from its text in status.
pub fn key_from_text(text: &str) -> Result<ItemKey, String> {
    let json: BTreeMap<String, BTreeMap<String, String>> = serde_json::from_str(text).map_err(|e| e.to_string())?;
    parse_key(&json)
}

/// How long to pause after a page that consumed `consumed` read capacity units, to stay under
/// `max_per_second`.
pub fn pause_after(consumed: f64, max_per_second: u32) -> Duration {
    Duration::from_secs_f64((consumed.max(0.0) / f64::from(max_per_second.max(1))).min(60.0))
}

/// The verdict of the count: None when it passes, else what differed. No recorded count: the
/// count cannot fail.
pub fn count_differs(counted: i64, expected: Option<i64>, tolerance_percent: u32) -> Option<String> {
    let expected = expected?;
    let allowed = (expected as f64 * f64::from(tolerance_percent) / 100.0).floor() as i64;
    let off = (counted - expected).abs();
    (off > allowed).then(|| {
        format!(
            "the new table holds {counted} items, the snapshot {expected} (a difference of {off}; {tolerance_percent}% allows {allowed})"
        )
    })
}

/// What the checks of a restored table concluded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub passed: bool,
    /// `Verified`, `ItemCountMismatch`, `KeysMissing` or `VerificationFailed` (both).
    pub reason: &'static str,
    pub message: String,
}

/// The verdict of a count (`tolerance`: the spec asked for one, within this percent) of
/// `counted` items against the snapshot's `expected`, and of `keys` keys of which `missing`
/// were not found.
pub fn verdict(tolerance: Option<u32>, counted: Option<i64>, expected: Option<i64>, keys: usize, missing: &[String]) -> Verdict {
    let mut problems = Vec::new();
    let mut reason = "Verified";
    if let Some(tolerance) = tolerance
        && let Some(differs) = count_differs(counted.unwrap_or(0), expected, tolerance)
    {
        problems.push(differs);
        reason = "ItemCountMismatch";
    }
    if !missing.is_empty() {
        problems.push(format!("{} of {keys} keys missing: {}", missing.len(), missing.join(", ")));
        reason = if reason == "Verified" { "KeysMissing" } else { "VerificationFailed" };
    }
    if !problems.is_empty() {
        return Verdict { passed: false, reason, message: problems.join("; ") };
    }
    let counted = match (tolerance, counted, expected) {
        (Some(_), Some(n), Some(m)) => format!("{n} items (the snapshot recorded {m})"),
        (Some(_), Some(n), None) => format!("{n} items (no count recorded for the snapshot to compare)"),
        _ => String::new(),
    };
    let found = if keys == 0 { String::new() } else { format!("{keys} keys found") };
    let message = [counted, found].into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>().join(", ");
    Verdict { passed: true, reason, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str, kind: &str, value: &str) -> BTreeMap<String, BTreeMap<String, String>> {
        BTreeMap::from([(name.to_owned(), BTreeMap::from([(kind.to_owned(), value.to_owned())]))])
    }

    #[test]
    fn keys_round_trip_through_status_text() {
        let mut two = key("orderId", "S", "order-1");
        two.extend(key("line", "N", "3"));
        let parsed = parse_key(&two).unwrap();
        let text = key_text(&parsed);
        assert_eq!(text, r#"{"line":{"N":"3"},"orderId":{"S":"order-1"}}"#);
        assert_eq!(key_from_text(&text).unwrap(), parsed);
        let binary = parse_key(&key("blob", "B", "AAEC")).unwrap();
        assert_eq!(binary["blob"], KeyAttr::B(vec![0, 1, 2]));
        assert_eq!(key_from_text(&key_text(&binary)).unwrap(), binary);
    }

    #[test]
    fn bad_keys_say_why() {
        assert!(parse_key(&key("id", "BOOL", "true")).unwrap_err().contains("not a key type"));
        assert!(parse_key(&BTreeMap::new()).is_err());
        let mut both = key("id", "S", "a");
        both.get_mut("id").unwrap().insert("N".into(), "1".into());
        assert!(parse_key(&both).unwrap_err().contains("exactly one"));
    }

    #[test]
    fn the_count_passes_within_its_tolerance() {
        assert_eq!(count_differs(4200, Some(4200), 0), None);
        assert_eq!(count_differs(4000, Some(4200), 5), None, "200 of 4200 is within 5%");
        let off = count_differs(3900, Some(4200), 5).unwrap();
        assert!(off.contains("3900") && off.contains("4200") && off.contains("300"), "{off}");
        assert_eq!(count_differs(17, None, 0), None, "no recorded count: nothing to compare");
    }

    #[test]
    fn the_verdict_names_what_failed() {
        let ok = verdict(Some(5), Some(4000), Some(4200), 2, &[]);
        assert_eq!(
            (ok.passed, ok.reason, ok.message.as_str()),
            (true, "Verified", "4000 items (the snapshot recorded 4200), 2 keys found")
        );
        assert_eq!(verdict(Some(0), Some(1), Some(2), 0, &[]).reason, "ItemCountMismatch");
        let missing = ["{\"id\":{\"S\":\"a\"}}".to_owned()];
        assert_eq!(verdict(None, None, None, 3, &missing).reason, "KeysMissing");
        let both = verdict(Some(0), Some(1), Some(2), 3, &missing);
        assert_eq!(both.reason, "VerificationFailed");
        assert!(both.message.contains("1 of 3 keys missing"), "{}", both.message);
    }

    #[test]
    fn pauses_follow_the_consumed_capacity() {
        assert_eq!(pause_after(50.0, 100), Duration::from_millis(500));
        assert_eq!(pause_after(0.0, 100), Duration::ZERO);
        assert_eq!(pause_after(1e9, 1), Duration::from_secs(60), "bounded");
    }
}
