//! Copy-back in memory: the incident (a dry run, then the flip), `Listed`, every refusal, an
//! item the application re-creates, throttling, a terminal error, and a crash after every call.
//! Time is paused: the budgets' pauses and the slices pass at once.

use serde_json::{Value as Json, json};

use crate::{
    api::{
        CopyBackPhase, CopyBackStatus, DynamoBackup, DynamoBackupSpec, DynamoRestore, RestorePhase,
        facts::{Item, Value},
    },
    controllers::testkit::{NS, World},
    dynamo::memory::{DEFAULT_REGION, Fault},
    plan::conditions,
};

/// UserProfiles: 100 items (keys `id` 0..99), and an Available DynamoBackup `before-bug` of it.
async fn incident() -> World {
    let world = World::new();
    world.dynamo.add_table(DEFAULT_REGION, "UserProfiles", true, 100);
    world.apply(&DynamoBackup::new("before-bug", DynamoBackupSpec::for_table("UserProfiles")));
    world.settle_backup("before-bug").await;
    // The bug deletes 30; then the application writes 5 new items and changes 2 old ones.
    world.dynamo.delete_now(DEFAULT_REGION, "UserProfiles", 0..30);
    for i in 100..105 {
        world.dynamo.put_now(DEFAULT_REGION, "UserProfiles", item(i, "new"));
    }
    for i in [50, 51] {
        world.dynamo.put_now(DEFAULT_REGION, "UserProfiles", item(i, "changed"));
    }
    world
}

fn item(id: usize, v: &str) -> Item {
    Item::from([("id".to_owned(), Value::N(id.to_string())), ("v".to_owned(), Value::S(v.to_owned()))])
}

fn repair(copy_back: Json) -> DynamoRestore {
    serde_json::from_value(json!({
        "apiVersion": "dynamobackup.io/v1alpha1",
        "kind": "DynamoRestore",
        "metadata": {"name": "repair", "generation": 1},
        "spec": {"source": {"backupRef": {"name": "before-bug"}}, "targetTableName": "UserProfiles-before-bug", "copyBack": copy_back},
    }))
    .unwrap_or_else(|err| panic!("test restore: {err}"))
}

/// A copy-back with budgets that do not slow a test down (time is paused anyway).
fn missing(dry_run: bool) -> Json {
    json!({"items": "Missing", "dryRun": dry_run, "maxReadCapacityPerSecond": 1000, "maxWriteCapacityPerSecond": 1000})
}

fn copy_status(r: &DynamoRestore) -> CopyBackStatus {
    r.status.as_ref().and_then(|s| s.copy_back.clone()).unwrap_or_default()
}

fn condition(r: &DynamoRestore, type_: &str) -> Option<(String, String)> {
    let c = r.status.as_ref()?.conditions.iter().find(|c| c.type_ == type_)?;
    Some((c.status.clone(), c.reason.clone()))
}

fn stalled_reason(r: &DynamoRestore) -> Option<String> {
    conditions::stalled(&r.status.as_ref()?.conditions).map(|c| c.reason.clone())
}

fn value_of(world: &World, id: usize) -> Option<String> {
    world.dynamo.items(DEFAULT_REGION, "UserProfiles").into_iter().find(|i| i.get("id") == Some(&Value::N(id.to_string()))).and_then(|i| {
        match i.get("v") {
            Some(Value::S(v)) => Some(v.clone()),
            _ => None,
        }
    })
}

/// The user flips `dryRun` to false, as a commit would.
fn flip(world: &World) {
    let mut r: DynamoRestore = world.get("repair");
    if let Some(copy) = r.spec.copy_back.as_mut() {
        copy.dry_run = false;
    }
    r.metadata.generation = Some(2);
    world.apply(&r);
}

#[tokio::test(start_paused = true)]
async fn a_dry_run_reports_then_the_flip_writes_only_what_is_missing() {
    let world = incident().await;
    world.apply(&repair(missing(true)));
    let r = world.settle_restore("repair").await.expect("kept");
    assert_eq!(r.status.as_ref().and_then(|s| s.phase), Some(RestorePhase::Completed), "{:?}", r.status);
    let s = copy_status(&r);
    assert_eq!((s.phase, s.dry_run, s.scanned, s.missing, s.differing, s.written), (Some(CopyBackPhase::Completed), true, 100, 30, 2, 0));
    assert_eq!(s.sample_missing.len(), 20);
    assert_eq!(s.sample_missing[0], r#"{"id":{"N":"0"}}"#);
    assert_eq!(condition(&r, "CopiedBack"), Some(("True".into(), "Compared".into())));
    assert_eq!(world.dynamo.count("PutItem"), 0, "a dry run writes nothing");
    assert_eq!(world.dynamo.items(DEFAULT_REGION, "UserProfiles").len(), 75);

    flip(&world);
    let r = world.settle_restore("repair").await.expect("kept");
    let s = copy_status(&r);
    assert_eq!((s.phase, s.dry_run, s.missing, s.differing, s.written, s.skipped), (Some(CopyBackPhase::Completed), false, 30, 2, 30, 0));
    assert!(s.consumed_write_capacity >= 30.0 && s.consumed_read_capacity > 0.0, "{s:?}");
    assert_eq!(world.dynamo.items(DEFAULT_REGION, "UserProfiles").len(), 105, "the 30 are back, the 5 new stay");
    assert_eq!(value_of(&world, 0).as_deref(), Some("item 0"));
    assert_eq!(value_of(&world, 50).as_deref(), Some("changed"), "a changed item is left as the application wrote it");
    assert_eq!(value_of(&world, 101).as_deref(), Some("new"));
    assert_eq!(condition(&r, "CopiedBack"), Some(("True".into(), "CopiedBack".into())));
    assert!(conditions::holds(&r.status.as_ref().expect("status").conditions, "Ready").is_some());
    assert_eq!(world.dynamo.count("RestoreTableFromBackup"), 1, "the flip copies; it does not restore again");
    let events = world.cluster.event_reasons();
    assert!(
        events.iter().any(|e| e == "CopyBackCompared") && events.ends_with(&["CopiedBack".into(), "RestoreCompleted".into()]),
        "{events:?}"
    );
    let metrics = world.ctx.metrics.render().expect("render");
    assert!(metrics.contains("dynamo_backup_operator_copy_back_items_total{result=\"written\"} 30"), "{metrics}");
}

#[tokio::test(start_paused = true)]
async fn listed_overwrites_exactly_its_keys() {
    let world = incident().await;
    let keys = json!([{"id": {"N": "50"}}, {"id": {"N": "3"}}, {"id": {"N": "60"}}, {"id": {"N": "999"}}]);
    world.apply(&repair(json!({"items": "Listed", "keys": keys, "maxReadCapacityPerSecond": 1000, "maxWriteCapacityPerSecond": 1000})));
    let s = copy_status(&world.settle_restore("repair").await.expect("kept"));
    assert_eq!((s.scanned, s.missing, s.differing, s.written, s.skipped, s.not_in_restored), (3, 1, 1, 2, 1, 1), "{s:?}");
    assert_eq!(value_of(&world, 50).as_deref(), Some("item 50"), "overwritten with the restored value");
    assert_eq!(value_of(&world, 3).as_deref(), Some("item 3"));
    assert_eq!(value_of(&world, 51).as_deref(), Some("changed"), "a key not listed is not touched");
    assert_eq!(value_of(&world, 4), None, "a missing key not listed stays missing");
}

#[tokio::test(start_paused = true)]
async fn refusals_come_before_any_read() {
    // Listed without keys (the schema refuses it too, on clusters with CEL).
    let world = incident().await;
    let before = world.dynamo.calls().len();
    world.apply(&repair(json!({"items": "Listed"})));
    let r = world.settle_restore("repair").await.expect("kept");
    assert_eq!(stalled_reason(&r).as_deref(), Some("CopyBackRefused"));
    assert_eq!(world.dynamo.calls().len(), before, "nothing was called");

    // `into` outside the namespace's tenancy.
    let world = World::with_tenancy(&format!("tenants:\n- namespace: {NS}\n  tables: ['UserProfiles*']\n"));
    world.dynamo.add_table(DEFAULT_REGION, "UserProfiles", true, 10);
    world.apply(&DynamoBackup::new("before-bug", DynamoBackupSpec::for_table("UserProfiles")));
    world.settle_backup("before-bug").await;
    let before = world.dynamo.calls().len();
    world.apply(&repair(json!({"into": "Payments"})));
    let r = world.settle_restore("repair").await.expect("kept");
    assert_eq!(stalled_reason(&r).as_deref(), Some("CopyBackRefused"), "{:?}", r.status);
    assert_eq!(world.dynamo.calls().len(), before, "refused before any read");
    assert!(world.dynamo.table(DEFAULT_REGION, "UserProfiles-before-bug").is_none());
}

#[tokio::test(start_paused = true)]
async fn a_live_table_that_is_gone_stalls_the_copy_with_the_table_restored() {
    let world = incident().await;
    world.apply(&repair(json!({"into": "UserProfilez"})));
    let r = world.settle_restore("repair").await.expect("kept");
    assert_eq!(stalled_reason(&r).as_deref(), Some("CopyBackTargetNotFound"), "{:?}", r.status);
    assert_eq!(condition(&r, "CopiedBack").map(|c| c.0), Some("False".into()));
    assert!(world.dynamo.table(DEFAULT_REGION, "UserProfiles-before-bug").is_some());
}

#[tokio::test(start_paused = true)]
async fn throttling_slows_the_copy_and_an_access_denial_stops_it() {
    let world = incident().await;
    for _ in 0..3 {
        world.dynamo.inject("BatchGetItem", Fault::Throttle);
        world.dynamo.inject("PutItem", Fault::Throttle);
    }
    world.apply(&repair(missing(false)));
    let s = copy_status(&world.settle_restore("repair").await.expect("kept"));
    assert_eq!((s.phase, s.written), (Some(CopyBackPhase::Completed), 30), "{s:?}");

    let world = incident().await;
    world.dynamo.inject("PutItem", Fault::Refuse("AccessDeniedException"));
    world.apply(&repair(missing(false)));
    let r = world.settle_restore("repair").await.expect("kept");
    assert_eq!(stalled_reason(&r).as_deref(), Some("CopyBackFailed"), "{:?}", r.status);
    let s = copy_status(&r);
    assert_eq!(s.phase, Some(CopyBackPhase::Failed));
    assert!(s.message.as_deref().is_some_and(|m| m.contains("dynamodb:PutItem")), "{s:?}");
}

#[tokio::test(start_paused = true)]
async fn the_budgets_pace_the_copy_in_slices() {
    let world = incident().await;
    // 30 writes of 1 unit at 1 a second: 30 s, more than one 20 s slice.
    world.apply(&repair(json!({"maxReadCapacityPerSecond": 1000, "maxWriteCapacityPerSecond": 1})));
    let started = tokio::time::Instant::now();
    for _ in 0..10 {
        world.reconcile_restore("repair").await.expect("reconciled");
        if copy_status(&world.get("repair")).written > 0 {
            break;
        }
    }
    // The first slice ended with part of the copy done.
    let s = copy_status(&world.get("repair"));
    assert_eq!(s.phase, Some(CopyBackPhase::Writing));
    assert!(s.written > 0 && s.written < 30, "{s:?}");
    let s = copy_status(&world.settle_restore("repair").await.expect("kept"));
    assert_eq!(s.written, 30);
    // 30 units at 1 a second: 29 s from the first write to the last; each new slice may start
    // with one write unpaced.
    assert!(started.elapsed() >= std::time::Duration::from_secs(27), "{:?}", started.elapsed());
}

/// A call's own time does not slow the pace below the budget: its units count from the moment
/// it was made, not from its answer.
#[tokio::test(start_paused = true)]
async fn the_time_a_call_takes_does_not_slow_the_pace() {
    let world = incident().await;
    world.dynamo.set_latency("PutItem", std::time::Duration::from_millis(500));
    // 30 writes of 1 unit at 1 a second, each answered after 0.5 s: about 30 s, not 45.
    world.apply(&repair(json!({"maxReadCapacityPerSecond": 1000, "maxWriteCapacityPerSecond": 1})));
    let started = tokio::time::Instant::now();
    let s = copy_status(&world.settle_restore("repair").await.expect("kept"));
    assert_eq!(s.written, 30);
    let took = started.elapsed();
    assert!(took >= std::time::Duration::from_secs(27) && took < std::time::Duration::from_secs(35), "{took:?}");
}

/// A crash after any call (the cluster's or DynamoDB's) of the copy: the next operator
/// resumes, the same items end up back, and no key is written twice.
#[tokio::test(start_paused = true)]
async fn a_crash_after_any_call_of_the_copy_writes_no_key_twice() {
    let clean = incident().await;
    clean.apply(&repair(missing(true)));
    clean.settle_restore("repair").await;
    flip(&clean);
    let before = clean.tripwire.calls();
    clean.settle_restore("repair").await;
    let calls = clean.tripwire.calls() - before;
    let expected = clean.dynamo.items(DEFAULT_REGION, "UserProfiles");
    for n in 1..=calls {
        let world = incident().await;
        world.apply(&repair(missing(true)));
        world.settle_restore("repair").await;
        flip(&world);
        if world.crash_at(n, world.settle_restore("repair")).await.is_some() {
            continue;
        }
        let r = world.restart().settle_restore("repair").await.expect("kept");
        let what = format!("crash after call {n} of {calls}");
        let s = copy_status(&r);
        assert_eq!(s.phase, Some(CopyBackPhase::Completed), "{what}: {s:?}");
        assert_eq!((s.missing, s.written + s.skipped), (30, 30), "{what}: {s:?}");
        assert_eq!(world.dynamo.items(DEFAULT_REGION, "UserProfiles"), expected, "{what}");
        let written = world.dynamo.written("UserProfiles");
        assert_eq!(written.len(), 30, "{what}: no key written twice");
    }
    eprintln!("copy-back: {calls} crash points");
}

#[tokio::test(start_paused = true)]
async fn an_item_the_application_recreates_during_the_copy_is_not_overwritten() {
    let world = incident().await;
    world.apply(&repair(missing(false)));
    // Crash right after the first chunk's keys were saved as pending, before its writes.
    let mut n = 1;
    loop {
        let attempt = incident().await;
        attempt.apply(&repair(missing(false)));
        if attempt.crash_at(n, attempt.settle_restore("repair")).await.is_none() && !copy_status(&attempt.get("repair")).pending.is_empty()
        {
            attempt.dynamo.put_now(DEFAULT_REGION, "UserProfiles", item(7, "re-created"));
            let s = copy_status(&attempt.restart().settle_restore("repair").await.expect("kept"));
            assert_eq!(value_of(&attempt, 7).as_deref(), Some("re-created"));
            assert_eq!((s.written, s.skipped), (29, 1), "{s:?}");
            break;
        }
        n += 1;
        assert!(n < 200, "no crash point left the chunk pending");
    }
    drop(world);
}
