use proptest::prelude::*;

use super::*;
use crate::api::{
    AfterRestore, DeletionPolicy, PointInTimeSource, RestoreSource,
    facts::{KeyAttr, Value},
};
use crate::plan::validate;

fn schema() -> Vec<(String, KeyRole)> {
    vec![("id".to_owned(), KeyRole::Hash)]
}

fn item(id: u32, v: &str) -> Item {
    Item::from([("id".to_owned(), Value::S(format!("user-{id}"))), ("v".to_owned(), Value::S(v.to_owned()))])
}

fn spec(table: &str, copy: CopyBackSpec) -> DynamoRestoreSpec {
    DynamoRestoreSpec {
        source: RestoreSource {
            backup_ref: None,
            backup_arn: None,
            recovery_point_arn: None,
            point_in_time: Some(PointInTimeSource { table_name: table.into(), restore_time: None, latest_restorable_time: Some(true) }),
        },
        target_table_name: "UserProfiles-at-0914".into(),
        region: None,
        overrides: None,
        after_restore: AfterRestore::default(),
        deletion_policy: DeletionPolicy::Retain,
        verify: None,
        ttl_after_finished: None,
        aws_backup: None,
        copy_back: Some(copy),
    }
}

fn copy(items: CopyBackItems, keys: Option<Vec<KeyJson>>) -> CopyBackSpec {
    CopyBackSpec { into: None, items, keys, dry_run: false, max_read_capacity_per_second: 200, max_write_capacity_per_second: 100 }
}

use crate::api::KeyJson;

fn key_json(id: &str) -> KeyJson {
    KeyJson::from([("id".to_owned(), BTreeMap::from([("S".to_owned(), id.to_owned())]))])
}

#[test]
fn listed_needs_keys_and_keys_must_parse_before_any_call() {
    let s = spec("UserProfiles", copy(CopyBackItems::Listed, None));
    let request = validate::restore(&s).expect("valid restore");
    assert_eq!(check(&s, &request, "eu-west-1").unwrap_err().reason, REFUSED);
    let s = spec("UserProfiles", copy(CopyBackItems::Listed, Some(vec![key_json("user-1")])));
    assert_eq!(check(&s, &request, "eu-west-1").expect("fine").map(|k| k.len()), Some(1));
    let bad = KeyJson::from([("id".to_owned(), BTreeMap::from([("X".to_owned(), "1".to_owned())]))]);
    let s = spec("UserProfiles", copy(CopyBackItems::Missing, Some(vec![bad])));
    let err = check(&s, &request, "eu-west-1").unwrap_err();
    assert!(err.message.contains("keys[0]"), "{}", err.message);
}

#[test]
fn the_source_table_of_another_region_is_refused_unless_into_is_named() {
    let arn = "arn:aws:dynamodb:us-east-1:123456789012:table/UserProfiles";
    let s = spec(arn, copy(CopyBackItems::Missing, None));
    let request = validate::restore(&s).expect("valid restore");
    let err = check(&s, &request, "eu-west-1").unwrap_err();
    assert_eq!(err.reason, REFUSED);
    assert!(err.message.contains("us-east-1"), "{}", err.message);
    let mut named = s.clone();
    named.copy_back = Some(CopyBackSpec { into: Some("UserProfiles".into()), ..copy(CopyBackItems::Missing, None) });
    assert!(check(&named, &request, "eu-west-1").is_ok());
    let mut itself = s.clone();
    itself.copy_back = Some(CopyBackSpec { into: Some(s.target_table_name.clone()), ..copy(CopyBackItems::Missing, None) });
    assert_eq!(check(&itself, &request, "eu-west-1").unwrap_err().reason, REFUSED, "the restored table is not the live one");
}

#[test]
fn into_defaults_to_the_recorded_source_table_in_the_same_region() {
    let c = copy(CopyBackItems::Missing, None);
    let arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/UserProfiles";
    assert_eq!(into(&c, Some(arn), "eu-west-1", Some("123456789012")).expect("same region and account"), "UserProfiles");
    assert_eq!(into(&c, Some(arn), "eu-west-1", None).expect("account not known yet"), "UserProfiles");
    assert_eq!(into(&c, Some(arn), "us-east-1", None).unwrap_err().reason, REFUSED);
    // A restore of another account's copy: its source table is not where this restore writes.
    let err = into(&c, Some(arn), "eu-west-1", Some("222222222222")).unwrap_err();
    assert!(err.reason == REFUSED && err.message.contains("account 123456789012"), "{}", err.message);
    assert_eq!(into(&c, None, "eu-west-1", None).unwrap_err().reason, REFUSED);
    let named = CopyBackSpec { into: Some("Users".into()), ..c };
    assert_eq!(into(&named, None, "eu-west-1", Some("222222222222")).expect("named"), "Users");
}

#[test]
fn a_run_is_due_until_completed_for_the_specs_dry_run() {
    let mut c = copy(CopyBackItems::Missing, None);
    c.dry_run = true;
    assert!(!due(None, None));
    assert!(due(Some(&c), None));
    let now: Timestamp = "2026-01-15T10:30:00Z".parse().unwrap();
    let mut status = begin(&c, None, "UserProfiles", now);
    assert_eq!(status.phase, Some(CopyBackPhase::Comparing));
    assert!(due(Some(&c), Some(&status)));
    status.phase = Some(CopyBackPhase::Completed);
    status.missing = 300;
    assert!(!due(Some(&c), Some(&status)));
    // The flip: a writing run is due, and it starts from zero.
    c.dry_run = false;
    assert!(due(Some(&c), Some(&status)));
    let later: Timestamp = "2026-01-15T10:40:00Z".parse().unwrap();
    let writing = begin(&c, Some(&status), "UserProfiles", later);
    assert_eq!((writing.phase, writing.missing, writing.dry_run), (Some(CopyBackPhase::Writing), 0, false));
    // A saved writing run resumes as it was.
    let mut saved = writing.clone();
    saved.scanned = 500;
    assert_eq!(begin(&c, Some(&saved), "UserProfiles", later + jiff::SignedDuration::from_secs(60)).scanned, 500);
}

#[test]
fn missing_writes_only_absent_keys_and_listed_overwrites() {
    let restored = vec![item(1, "a"), item(2, "b"), item(3, "c")];
    let live = vec![item(2, "b"), item(3, "changed"), item(4, "new")];
    let compared = compare(&restored, &live, &schema());
    assert_eq!(compared.missing, vec![item(1, "a")]);
    assert_eq!(compared.differing, vec![item(3, "c")]);
    assert_eq!(compared.equal, 1);
    let missing = writes(CopyBackItems::Missing, false, &compared);
    assert_eq!(missing, vec![Write { item: item(1, "a"), only_if_absent: true }]);
    let listed = writes(CopyBackItems::Listed, false, &compared);
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|w| !w.only_if_absent));
    assert!(writes(CopyBackItems::Missing, true, &compared).is_empty());
}

#[test]
fn counts_grow_and_samples_stop_at_twenty() {
    let mut status = CopyBackStatus::default();
    let restored: Vec<Item> = (0..30).map(|i| item(i, "x")).collect();
    let compared = compare(&restored, &[], &schema());
    record(&mut status, restored.len(), &compared, &schema());
    record(&mut status, restored.len(), &compared, &schema());
    assert_eq!((status.scanned, status.missing, status.differing), (60, 60, 0));
    assert_eq!(status.sample_missing.len(), SAMPLE);
    assert_eq!(status.sample_missing[0], r#"{"id":{"S":"user-0"}}"#);
}

#[test]
fn an_item_without_its_key_is_left_out() {
    let keyless = Item::from([("v".to_owned(), Value::S("x".into()))]);
    assert_eq!(key_of(&keyless, &schema()), None);
    let compared = compare(&[keyless], &[], &schema());
    assert!(compared.missing.is_empty());
    let composite = vec![("pk".to_owned(), KeyRole::Hash), ("sk".to_owned(), KeyRole::Range)];
    let row = Item::from([("pk".to_owned(), Value::S("a".into())), ("sk".to_owned(), Value::N("1".into()))]);
    assert_eq!(key_of(&row, &composite).map(|k| k.len()), Some(2));
    assert_eq!(key_of(&row, &composite).and_then(|k| k.get("sk").cloned()), Some(KeyAttr::N("1".into())));
}

#[test]
fn the_budgets_set_the_pace() {
    let mut pace = Pace::new(100);
    assert_eq!(pace.wait(Duration::ZERO), Duration::ZERO);
    pace.spend(50.0, Duration::ZERO);
    assert_eq!(pace.wait(Duration::ZERO), Duration::from_millis(500));
    assert_eq!(pace.wait(Duration::from_millis(200)), Duration::from_millis(300));
    // Time that passed unused is not saved up: the next use starts from now.
    pace.spend(100.0, Duration::from_secs(5));
    assert_eq!(pace.wait(Duration::from_secs(5)), Duration::from_secs(1));
    assert_eq!(backoff(0), Duration::from_millis(100));
    assert_eq!(backoff(3), Duration::from_millis(800));
    assert_eq!(backoff(30), Duration::from_secs(10));
}

#[test]
fn the_summary_says_what_to_do_next() {
    let status = CopyBackStatus {
        dry_run: true,
        into: Some("UserProfiles".into()),
        scanned: 1000,
        missing: 300,
        differing: 20,
        ..Default::default()
    };
    let text = summary(&status, CopyBackItems::Missing);
    assert!(text.contains("1000 items compared, 300 missing from UserProfiles, 20 differing"), "{text}");
    assert!(text.contains("dryRun: false"), "{text}");
    let done = CopyBackStatus { dry_run: false, written: 298, skipped: 2, ..status };
    let text = summary(&done, CopyBackItems::Missing);
    assert!(text.starts_with("wrote 298 items into UserProfiles"), "{text}");
    assert!(text.contains("20 differing left as they are"), "{text}");
}

proptest! {
    /// Whatever the two tables hold, a Missing copy writes exactly the keys the live table lacks,
    /// each only where still absent, and every restored item is counted once.
    #[test]
    fn missing_writes_exactly_the_absent_keys(
        restored in proptest::collection::btree_map(0u32..60, "[a-c]", 0..40),
        live in proptest::collection::btree_map(0u32..60, "[a-c]", 0..40),
    ) {
        let restored_items: Vec<Item> = restored.iter().map(|(id, v)| item(*id, v)).collect();
        let live_items: Vec<Item> = live.iter().map(|(id, v)| item(*id, v)).collect();
        let compared = compare(&restored_items, &live_items, &schema());
        prop_assert_eq!(compared.missing.len() + compared.differing.len() + compared.equal, restored.len());
        let written: Vec<Write> = writes(CopyBackItems::Missing, false, &compared);
        let expected: Vec<u32> = restored.keys().filter(|id| !live.contains_key(id)).copied().collect();
        let got: Vec<u32> = written
            .iter()
            .map(|w| match w.item.get("id") { Some(Value::S(s)) => s.trim_start_matches("user-").parse().unwrap_or(u32::MAX), _ => u32::MAX })
            .collect();
        prop_assert_eq!(got, expected);
        prop_assert!(written.iter().all(|w| w.only_if_absent));
    }
}
