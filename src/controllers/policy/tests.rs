//! The DynamoBackupPolicy lifecycle in memory, on a clock the tests move: PITR, schedule slots
//! (due, jitter, missed, past their deadline, a previous backup still in progress, a missing
//! table), pre-rollout snapshots once per template hash, retention and what it holds, drill
//! rotation, every Stalled reason, and a crash after every call of a slot with retention.

use jiff::SignedDuration;
use kube::ResourceExt;
use serde_json::{Value, json};

use crate::{
    api::{DrillResult, DynamoBackup, DynamoBackupPolicy, DynamoRestore, PolicyPhase, SkippedSlot, labels},
    controllers::testkit::{NS, World},
    dynamo::memory::{DEFAULT_REGION, Fault},
    plan::conditions,
};

/// 10:00:30 on a Monday: a slot of `0 * * * *` passed 30 s ago.
const START: &str = "2026-01-12T10:00:30Z";
/// When the test policies were created: before the 10:00 slot.
const CREATED: &str = "2026-01-12T09:59:00Z";

fn policy(name: &str, spec: Value) -> DynamoBackupPolicy {
    serde_json::from_value(json!({
        "apiVersion": "dynamobackup.io/v1alpha1",
        "kind": "DynamoBackupPolicy",
        "metadata": {"name": name, "creationTimestamp": CREATED},
        "spec": spec,
    }))
    .unwrap_or_else(|err| panic!("test policy {name}: {err}"))
}

fn hourly(tables: &[&str], extra: Value) -> DynamoBackupPolicy {
    let mut spec = json!({"tables": tables, "schedule": {"cron": "0 * * * *"}});
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    policy("nightly", spec)
}

fn world(tables: &[(&str, bool)]) -> World {
    let world = World::at(START);
    for (name, pitr) in tables {
        world.dynamo.add_table(DEFAULT_REGION, name, *pitr, 3);
    }
    world
}

fn backups_of(world: &World, table: &str) -> Vec<DynamoBackup> {
    let mut mine: Vec<DynamoBackup> = world.cluster.list::<DynamoBackup>(NS).into_iter().filter(|b| b.spec.table_name == table).collect();
    mine.sort_by_key(|b| b.name_any());
    mine
}

fn standing(p: &DynamoBackupPolicy) -> (Option<PolicyPhase>, Option<String>) {
    let status = p.status.as_ref();
    let stalled = status.and_then(|s| conditions::stalled(&s.conditions)).map(|c| c.reason.clone());
    let ready = status.and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready" && c.status == "True")).map(|c| c.reason.clone());
    (status.and_then(|s| s.phase), stalled.or(ready))
}

fn skipped(world: &World) -> Vec<SkippedSlot> {
    world.get::<DynamoBackupPolicy>("nightly").status.map(|s| s.skipped_slots).unwrap_or_default()
}

#[tokio::test]
async fn pitr_is_turned_on_and_a_quiet_policy_calls_aws_for_nothing() {
    let world = world(&[("Orders", false), ("Carts", true)]);
    world.apply(&policy("nightly", json!({"tables": ["Orders", "Carts"]})));
    world.settle_all().await;
    let p = world.get::<DynamoBackupPolicy>("nightly");
    assert_eq!(standing(&p), (Some(PolicyPhase::Protected), Some("Protected".into())), "{:?}", p.status);
    assert!(world.dynamo.pitr(DEFAULT_REGION, "Orders").is_some_and(|p| p.enabled));
    assert_eq!(world.dynamo.count("UpdateContinuousBackups"), 1, "only the table that lacked it");
    let calls = world.dynamo.calls().len();
    world.reconcile_policy("nightly").await.expect("reconciled");
    assert_eq!(world.dynamo.calls().len(), calls, "nothing due: no AWS call");
    assert!(world.cluster.event_reasons().contains(&"PointInTimeRecoveryEnabled".to_owned()));
}

#[tokio::test]
async fn the_due_slot_makes_one_backup_per_table_and_a_restart_no_second() {
    let world = world(&[("Orders", true), ("Carts", true)]);
    world.apply(&hourly(&["Orders", "Carts"], json!({})));
    world.settle_all().await;
    assert_eq!(backups_of(&world, "Orders").len(), 1);
    assert_eq!(backups_of(&world, "Carts").len(), 1);
    let b = &backups_of(&world, "Orders")[0];
    assert_eq!(b.labels().get(labels::TRIGGER).map(String::as_str), Some("schedule"));
    assert!(b.status.as_ref().is_some_and(|s| s.phase == Some(crate::api::BackupPhase::Available)));
    let p = world.get::<DynamoBackupPolicy>("nightly");
    assert_eq!(p.status.as_ref().and_then(|s| s.last_schedule_time.as_ref()).map(|t| t.0.to_string()), Some("2026-01-12T10:00:00Z".into()));
    world.restart().settle_all().await;
    assert_eq!(world.dynamo.count("CreateBackup"), 2, "a restart takes no slot twice");
    world.clock.advance(SignedDuration::from_hours(1));
    world.settle_all().await;
    assert_eq!(backups_of(&world, "Orders").len(), 2, "the next slot");
}

#[tokio::test]
async fn jitter_spreads_a_slot_and_every_table_gets_its_backup() {
    let world = world(&[("Orders", true), ("Carts", true), ("Items", true)]);
    world.apply(&hourly(&["Orders", "Carts", "Items"], json!({"schedule": {"cron": "0 * * * *", "jitter": "20m"}})));
    world.settle_all().await;
    let early = world.cluster.list::<DynamoBackup>(NS).len();
    assert!(early < 3, "with 20m of jitter not every table is due 30 s after the slot ({early})");
    world.clock.advance(SignedDuration::from_mins(21));
    world.settle_all().await;
    assert_eq!(world.cluster.list::<DynamoBackup>(NS).len(), 3);
}

#[tokio::test]
async fn slots_missed_while_down_are_skipped_and_one_catch_up_is_taken() {
    let world = world(&[("Orders", true)]);
    world.apply(&hourly(&["Orders"], json!({})));
    world.settle_all().await;
    world.clock.advance(SignedDuration::from_hours(3));
    world.restart().settle_all().await;
    assert_eq!(backups_of(&world, "Orders").len(), 2, "the 10:00 slot and one catch-up for 13:00");
    let reasons: Vec<String> = skipped(&world).iter().map(|s| format!("{} {}", s.slot_time.0, s.reason)).collect();
    assert_eq!(reasons, ["2026-01-12T12:00:00Z Missed", "2026-01-12T11:00:00Z Missed"]);
    assert_eq!(world.cluster.event_reasons().iter().filter(|r| *r == "SlotSkipped").count(), 2);
}

#[tokio::test]
async fn a_slot_past_its_starting_deadline_is_skipped() {
    let world = World::at("2026-01-12T10:20:00Z");
    world.dynamo.add_table(DEFAULT_REGION, "Orders", true, 1);
    world.apply(&hourly(&["Orders"], json!({"schedule": {"cron": "0 * * * *", "startingDeadline": "10m"}})));
    world.settle_all().await;
    assert!(backups_of(&world, "Orders").is_empty());
    assert_eq!(skipped(&world).first().map(|s| s.reason.as_str()), Some("MissedDeadline"));
}

#[tokio::test]
async fn a_slot_skips_a_table_whose_previous_backup_is_still_being_made_or_that_is_missing() {
    let world = world(&[("Orders", true)]);
    world.dynamo.backups_take(1000);
    world.apply(&hourly(&["Orders", "Gone"], json!({})));
    world.settle_all().await;
    world.clock.advance(SignedDuration::from_hours(1));
    world.settle_all().await;
    assert_eq!(backups_of(&world, "Orders").len(), 1, "still creating the 10:00 one");
    let skips: Vec<(String, Option<String>)> = skipped(&world).into_iter().map(|s| (s.reason, s.table)).collect();
    assert!(skips.contains(&("PreviousBackupInProgress".into(), Some("Orders".into()))), "{skips:?}");
    assert!(skips.contains(&("TableNotFound".into(), Some("Gone".into()))), "{skips:?}");
    let p = world.get::<DynamoBackupPolicy>("nightly");
    assert_eq!(standing(&p), (Some(PolicyPhase::Degraded), Some("TableNotFound".into())));
}

#[tokio::test]
async fn retention_keeps_the_newest_and_what_is_pinned_or_about_to_be_restored() {
    let world = world(&[("Orders", true)]);
    world.apply(&hourly(&["Orders"], json!({"retention": {"keepLast": 1}})));
    for _ in 0..3 {
        world.settle_all().await;
        world.clock.advance(SignedDuration::from_hours(1));
    }
    world.settle_all().await;
    let left = backups_of(&world, "Orders");
    assert_eq!(left.len(), 1, "{:?}", left.iter().map(|b| b.name_any()).collect::<Vec<_>>());
    assert!(world.cluster.event_reasons().iter().filter(|r| *r == "RetentionDeleted").count() >= 2);
    // Pinned, and named by an unfinished restore: both held.
    let pinned = left[0].name_any();
    world.cluster.edit::<DynamoBackup, _>(NS, &pinned, |b| {
        b.labels_mut().insert(labels::PINNED.into(), "true".into());
    });
    world.clock.advance(SignedDuration::from_hours(1));
    world.settle_all().await;
    let held = backups_of(&world, "Orders").last().map(|b| b.name_any()).expect("the newest");
    let restore: DynamoRestore = serde_json::from_value(json!({
        "apiVersion": "dynamobackup.io/v1alpha1", "kind": "DynamoRestore", "metadata": {"name": "drill-like"},
        "spec": {"source": {"backupRef": {"name": held}}, "targetTableName": "Orders-copy"},
    }))
    .expect("restore");
    world.cluster.put(NS, &restore);
    world.clock.advance(SignedDuration::from_hours(1));
    for name in world.cluster.list::<DynamoBackupPolicy>(NS).iter().map(|p| p.name_any()) {
        world.reconcile_policy(&name).await.expect("reconciled");
    }
    let names: Vec<String> = backups_of(&world, "Orders").iter().map(|b| b.name_any()).collect();
    assert!(names.contains(&pinned) && names.contains(&held), "{names:?}");
}

#[tokio::test]
async fn drills_rotate_over_the_tables_drilled_longest_ago() {
    let world = world(&[("Orders", true), ("Carts", true)]);
    let drill = json!({"drill": {"schedule": {"cron": "30 * * * *"}, "tablesPerRun": 1, "source": "LatestRestorableTime"}});
    world.apply(&policy("nightly", json!({"tables": ["Orders", "Carts"], "drill": drill["drill"]})));
    world.clock.advance(SignedDuration::from_mins(30));
    world.settle_all().await;
    world.clock.advance(SignedDuration::from_hours(1));
    world.settle_all().await;
    let drills = world.get::<DynamoBackupPolicy>("nightly").status.map(|s| s.drills).unwrap_or_default();
    let passed: Vec<&str> = drills.iter().filter(|d| d.result == DrillResult::Passed).map(|d| d.table.as_str()).collect();
    assert_eq!(passed.len(), 2, "one table per run, the other next: {drills:?}");
}

/// Every Stalled reason of a policy.
#[tokio::test]
async fn each_stalled_reason_is_reported_with_its_reason() {
    type Case = (&'static str, Value, fn(&World));
    let cases: Vec<Case> = vec![
        ("InvalidSpec", json!({"tables": ["Orders"], "schedule": {"cron": "every day"}}), |_| {}),
        ("TableNotFound", json!({"tables": ["Orders", "Gone"]}), |_| {}),
        ("TableReadFailed", json!({"tables": ["Orders"]}), |w| {
            (0..5).for_each(|_| w.dynamo.inject("DescribeContinuousBackups", Fault::Refuse("AccessDeniedException")))
        }),
        ("SelectorTooBroad", json!({"tableSelector": {"names": ["T*"]}}), |w| {
            (0..501).for_each(|i| w.dynamo.add_table(DEFAULT_REGION, &format!("T{i:03}"), true, 0))
        }),
        (
            "DrillFailed",
            json!({"tables": ["Orders"], "drill": {"schedule": {"cron": "30 * * * *"}, "source": "LatestRestorableTime", "verify": {"keys": [{"id": {"N": "999"}}]}}}),
            |w| w.clock.advance(SignedDuration::from_mins(30)),
        ),
    ];
    for (reason, spec, setup) in cases {
        let world = world(&[("Orders", true)]);
        setup(&world);
        world.apply(&policy("nightly", spec));
        world.settle_all().await;
        let p = world.get::<DynamoBackupPolicy>("nightly");
        assert_eq!(standing(&p).1.as_deref(), Some(reason), "{:?}", p.status);
    }
    let world = World::with_tenancy("tenants:\n  - namespace: other\n    tables: ['*']\n");
    world.apply(&policy("nightly", json!({"tables": ["Orders"]})));
    world.settle_all().await;
    assert_eq!(standing(&world.get("nightly")).1.as_deref(), Some("AccessDenied"));
    assert!(world.dynamo.calls().is_empty(), "refused before any AWS call");
}

/// Two slots with retention, crashed after every call: the next process converges with one
/// backup per table (keepLast 1), each object with its one DynamoDB backup, and none left
/// behind by the objects retention deleted.
#[tokio::test]
async fn a_crash_after_any_call_of_a_slot_with_retention_converges() {
    let make = || {
        let world = world(&[("Orders", true), ("Carts", true)]);
        world.apply(&hourly(&["Orders", "Carts"], json!({"retention": {"keepLast": 1}, "backupDeletionPolicy": "Delete"})));
        world
    };
    let clean = make();
    let before = clean.tripwire.calls();
    two_slots(&clean).await;
    let calls = clean.tripwire.calls() - before;
    for n in 1..=calls {
        let world = make();
        if world.crash_at(n, two_slots(&world)).await.is_some() {
            continue;
        }
        let next = world.restart();
        next.settle_all().await;
        next.settle_all().await;
        let what = format!("crash after call {n} of {calls}");
        for table in ["Orders", "Carts"] {
            assert_eq!(backups_of(&world, table).len(), 1, "{what}: {table}");
        }
        let arns: std::collections::BTreeSet<String> =
            world.cluster.list::<DynamoBackup>(NS).iter().filter_map(|b| b.status.as_ref()?.backup_arn.clone()).collect();
        let kept: std::collections::BTreeSet<String> = world.dynamo.backups().into_iter().map(|b| b.arn).collect();
        assert_eq!(arns, kept, "{what}: one DynamoDB backup per object, no orphan");
    }
    eprintln!("two slots with retention: {calls} crash points");
}

/// A policy's backups to be deleted with their objects are made with the finalizer: the backup
/// controller writes none on their way to CreateBackup, and retention still deletes each
/// DynamoDB backup before its object goes.
#[tokio::test]
async fn backups_made_for_deletion_carry_their_finalizer_from_creation() {
    let world = world(&[("Orders", true)]);
    world.apply(&hourly(&["Orders"], json!({"retention": {"keepLast": 1}, "backupDeletionPolicy": "Delete"})));
    world.settle_all().await;
    let first = backups_of(&world, "Orders");
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].metadata.finalizers, Some(vec![crate::api::FINALIZER.to_owned()]));
    let finalizer_writes = |world: &World| world.cluster.writes().into_iter().filter(|w| w.starts_with("finalizers DynamoBackup")).count();
    assert_eq!(finalizer_writes(&world), 0, "{:?}", world.cluster.writes());

    two_slots(&world).await;
    assert_eq!(backups_of(&world, "Orders").len(), 1, "keepLast 1");
    assert_eq!(world.dynamo.backups().len(), 1, "the older DynamoDB backup deleted with its object");
    assert!(finalizer_writes(&world) >= 1, "the finalizer removed once its backup was deleted");
}

/// The 10:00 slot, then the 11:00 one.
async fn two_slots(world: &World) {
    world.settle_all().await;
    world.clock.advance(SignedDuration::from_hours(1));
    world.settle_all().await;
}

/// A rollout (a new pod template) of a followed workload snapshots every table once per
/// template hash: the same revision seen again, or after a restart, makes nothing more.
#[tokio::test]
async fn a_rollout_snapshots_every_table_once_per_template_hash() {
    use crate::api::WorkloadKind;
    let world = world(&[("Orders", true), ("Carts", true)]);
    world.workloads.set(NS, WorkloadKind::Deployment, "checkout", &[("app", "checkout")], 1, "hash-a");
    let spec = json!({"tables": ["Orders", "Carts"], "preRollout": {"workloads": [{"kind": "Deployment", "name": "checkout"}]}});
    world.apply(&policy("nightly", spec));
    world.settle_all().await;
    assert!(world.cluster.list::<DynamoBackup>(NS).is_empty(), "a workload first seen is recorded, not snapshotted");
    world.workloads.set(NS, WorkloadKind::Deployment, "checkout", &[("app", "checkout")], 2, "hash-b");
    world.settle_all().await;
    world.restart().settle_all().await;
    let pre: Vec<DynamoBackup> = world
        .cluster
        .list::<DynamoBackup>(NS)
        .into_iter()
        .filter(|b| b.labels().get(labels::TRIGGER).map(String::as_str) == Some("pre-rollout"))
        .collect();
    assert_eq!(pre.len(), 2, "one snapshot per table for hash-b, none again after the restart");
    assert!(pre.iter().all(|b| b.name_any().ends_with("pre-hash-b")));
    let rollouts = world.get::<DynamoBackupPolicy>("nightly").status.map(|s| s.rollouts).unwrap_or_default();
    assert_eq!(rollouts.len(), 1, "{rollouts:?}");
    assert_eq!(world.cluster.event_reasons().iter().filter(|r| *r == "PreRolloutBackup").count(), 1);
}
