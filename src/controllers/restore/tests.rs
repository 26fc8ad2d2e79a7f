//! The DynamoRestore lifecycle in memory: from a DynamoBackup, a backup ARN, a point in time and
//! a recovery point; the after-restore steps and checks; expiry and deletion; every Stalled
//! reason; and a crash after every call of a lifecycle.

use serde_json::{Value, json};

use crate::{
    api::{
        AwsBackupSpec, BackupMethod, CopyDestination, DynamoBackup, DynamoBackupSpec, DynamoRestore, RestorePhase, VerificationResult,
        facts::{Backup, BackupSource, BackupState, Tags},
    },
    controllers::testkit::{NS, World},
    dynamo::memory::{DEFAULT_REGION, Fault},
    plan::conditions,
};

const ROLE: &str = "arn:aws:iam::123456789012:role/backup";
const ORDERS_ARN: &str = "arn:aws:dynamodb:eu-west-1:123456789012:table/Orders";

fn restore(name: &str, spec: Value) -> DynamoRestore {
    let mut spec = spec;
    if spec.get("targetTableName").is_none() {
        spec["targetTableName"] = "Orders-restored".into();
    }
    serde_json::from_value(json!({
        "apiVersion": "dynamobackup.io/v1alpha1",
        "kind": "DynamoRestore",
        "metadata": {"name": name},
        "spec": spec,
    }))
    .unwrap_or_else(|err| panic!("test restore {name}: {err}"))
}

fn from_backup_ref(name: &str) -> DynamoRestore {
    restore(name, json!({"source": {"backupRef": {"name": "orders-1"}}}))
}

fn point_in_time(name: &str) -> DynamoRestore {
    restore(name, json!({"source": {"pointInTime": {"tableName": "Orders", "latestRestorableTime": true}}}))
}

fn world_with_orders() -> World {
    let world = World::new();
    world.dynamo.add_table(DEFAULT_REGION, "Orders", true, 10);
    world
}

/// A world with an Available native DynamoBackup `orders-1` of Orders.
async fn world_with_backup() -> World {
    let world = world_with_orders();
    world.apply(&DynamoBackup::new("orders-1", DynamoBackupSpec::for_table("Orders")));
    world.settle_backup("orders-1").await;
    world
}

/// A world with an Available AWSBackup DynamoBackup `orders-1` of Orders, copied to `copies`.
async fn world_with_recovery_point(copies: &[&str]) -> World {
    let world = world_with_orders();
    let mut b = DynamoBackup::new("orders-1", DynamoBackupSpec::for_table("Orders"));
    b.spec.method = BackupMethod::AWSBackup;
    b.spec.aws_backup = Some(AwsBackupSpec {
        backup_vault_name: "orders-vault".into(),
        iam_role_arn: ROLE.into(),
        lifecycle: None,
        copy_to: copies.iter().map(|arn| CopyDestination { destination_backup_vault_arn: (*arn).into(), lifecycle: None }).collect(),
    });
    world.apply(&b);
    world.settle_backup("orders-1").await;
    world
}

fn phase(r: &DynamoRestore) -> Option<RestorePhase> {
    r.status.as_ref().and_then(|s| s.phase)
}

fn stalled_reason(r: &DynamoRestore) -> Option<String> {
    conditions::stalled(&r.status.as_ref()?.conditions).map(|c| c.reason.clone())
}

#[tokio::test]
async fn a_restore_from_a_dynamobackup_makes_a_new_table() {
    let world = world_with_backup().await;
    world.apply(&from_backup_ref("r"));
    let r = world.settle_restore("r").await.expect("kept");
    assert_eq!(phase(&r), Some(RestorePhase::Completed), "{:?}", r.status);
    let status = r.status.expect("status");
    assert_eq!(status.item_count, Some(10));
    assert!(status.source_backup_arn.is_some() && status.target_table_id.is_some());
    assert!(world.dynamo.table(DEFAULT_REGION, "Orders-restored").is_some());
    assert_eq!(world.dynamo.count("RestoreTableFromBackup"), 1);
    let events = world.cluster.event_reasons();
    assert!(events.ends_with(&["RestoreStarted".to_owned(), "RestoreCompleted".to_owned()]), "{events:?}");
}

#[tokio::test]
async fn a_table_dynamodb_is_still_making_is_followed_until_active() {
    let world = world_with_backup().await;
    world.dynamo.restores_take(2);
    world.apply(&from_backup_ref("r"));
    world.reconcile_restore("r").await.expect("reconciled");
    assert_eq!(phase(&world.get("r")), Some(RestorePhase::Restoring));
    let r = world.settle_restore("r").await.expect("kept");
    assert_eq!(phase(&r), Some(RestorePhase::Completed));
    assert_eq!(world.dynamo.count("RestoreTableFromBackup"), 1);
}

#[tokio::test]
async fn a_point_in_time_restore_carries_over_what_dynamodb_does_not() {
    let world = world_with_orders();
    world.dynamo.tag_now(DEFAULT_REGION, "Orders", &Tags::from([("team".into(), "shop".into())]));
    let mut r = point_in_time("r");
    r.spec.after_restore.tags.insert("restored".into(), "true".into());
    r.spec.after_restore.deletion_protection = Some(true);
    r.spec.after_restore.point_in_time_recovery = Some(crate::api::PointInTimeRecoverySpec { enabled: true, recovery_period_in_days: 7 });
    world.apply(&r);
    let r = world.settle_restore("r").await.expect("kept");
    assert_eq!(phase(&r), Some(RestorePhase::Completed), "{:?}", r.status);
    let done = r.status.expect("status").after_restore_done;
    assert_eq!(done, ["tags", "pointInTimeRecovery", "deletionProtection", "timeToLive", "streams", "autoScaling", "resourcePolicy"]);
    let tags = world.dynamo.tags(DEFAULT_REGION, "Orders-restored").expect("table");
    assert_eq!(tags.get("team").map(String::as_str), Some("shop"));
    assert_eq!(tags.get("restored").map(String::as_str), Some("true"));
    assert!(world.dynamo.pitr(DEFAULT_REGION, "Orders-restored").is_some_and(|p| p.enabled));
    assert_eq!(world.dynamo.table(DEFAULT_REGION, "Orders-restored").and_then(|t| t.deletion_protection), Some(true));
}

#[tokio::test]
async fn a_recovery_point_is_restored_by_aws_backup() {
    let world = world_with_recovery_point(&[]).await;
    world.aws_backup.jobs_take(1);
    world.apply(&restore("r", json!({"source": {"backupRef": {"name": "orders-1"}}, "awsBackup": {"iamRoleArn": ROLE}})));
    let r = world.settle_restore("r").await.expect("kept");
    assert_eq!(phase(&r), Some(RestorePhase::Completed), "{:?}", r.status);
    assert_eq!(world.aws_backup.count("StartRestoreJob"), 1);
    assert!(world.dynamo.table(DEFAULT_REGION, "Orders-restored").is_some_and(|t| t.item_count == Some(10)));
}

#[tokio::test]
async fn a_restore_in_another_region_takes_the_copy_there() {
    let world = world_with_recovery_point(&["arn:aws:backup:eu-central-1:123456789012:backup-vault:dr"]).await;
    let spec = json!({"source": {"backupRef": {"name": "orders-1"}}, "region": "eu-central-1", "awsBackup": {"iamRoleArn": ROLE}});
    world.apply(&restore("r", spec));
    let r = world.settle_restore("r").await.expect("kept");
    assert_eq!(phase(&r), Some(RestorePhase::Completed), "{:?}", r.status);
    let copy = world.get::<DynamoBackup>("orders-1").status.expect("status").copies[0].recovery_point_arn.clone();
    assert_eq!(r.status.and_then(|s| s.recovery_point_arn), copy);
    assert!(world.dynamo.table("eu-central-1", "Orders-restored").is_some());
}

#[tokio::test]
async fn the_checks_pass_or_say_what_is_missing() {
    let world = world_with_backup().await;
    let spec = json!({"source": {"backupRef": {"name": "orders-1"}}, "verify": {"itemCount": {"tolerancePercent": 0}, "keys": [{"id": {"N": "3"}}]}});
    world.apply(&restore("good", spec));
    let good = world.settle_restore("good").await.expect("kept");
    let v = good.status.and_then(|s| s.verification).expect("verified");
    assert_eq!((v.result, v.item_count, v.expected_item_count), (Some(VerificationResult::Passed), Some(10), Some(10)));
    let spec =
        json!({"source": {"backupRef": {"name": "orders-1"}}, "targetTableName": "Orders-2", "verify": {"keys": [{"id": {"N": "99"}}]}});
    world.apply(&restore("bad", spec));
    let bad = world.settle_restore("bad").await.expect("kept");
    let verified = bad.status.as_ref().and_then(|s| s.conditions.iter().find(|c| c.type_ == "Verified")).expect("Verified");
    assert_eq!((verified.status.as_str(), verified.reason.as_str()), ("False", "KeysMissing"));
    assert_eq!(phase(&bad), Some(RestorePhase::Completed), "the table stays; the verdict says what is wrong");
}

#[tokio::test]
async fn a_finished_restore_expires_and_takes_its_table_with_deletion_policy_delete() {
    let world = world_with_backup().await;
    let spec = json!({"source": {"backupRef": {"name": "orders-1"}}, "ttlAfterFinished": "0s", "deletionPolicy": "Delete"});
    world.apply(&restore("r", spec));
    world.settle_restore("r").await;
    assert!(world.cluster.object::<DynamoRestore>(NS, "r").is_none(), "expired and gone");
    assert!(world.dynamo.table(DEFAULT_REGION, "Orders-restored").is_none(), "its table went with it");
    assert!(world.dynamo.table(DEFAULT_REGION, "Orders").is_some(), "the source stays");
    let events = world.cluster.event_reasons();
    assert!(events.contains(&"Expired".to_owned()) && events.contains(&"TableDeleted".to_owned()), "{events:?}");
}

#[tokio::test]
async fn a_restore_waits_for_its_backup_to_be_available() {
    let world = world_with_orders();
    world.dynamo.backups_take(3);
    world.apply(&DynamoBackup::new("orders-1", DynamoBackupSpec::for_table("Orders")));
    world.reconcile_backup("orders-1").await.expect("reconciled");
    world.apply(&from_backup_ref("r"));
    world.reconcile_restore("r").await.expect("reconciled");
    let r = world.get::<DynamoRestore>("r");
    assert_eq!(phase(&r), Some(RestorePhase::Pending));
    let reconciling = r.status.as_ref().and_then(|s| s.conditions.iter().find(|c| c.type_ == "Reconciling")).expect("conditions");
    assert_eq!(reconciling.reason, "WaitingForBackup");
    world.settle_backup("orders-1").await;
    assert_eq!(phase(&world.settle_restore("r").await.expect("kept")), Some(RestorePhase::Completed));
}

/// Every Stalled reason of a DynamoRestore, and no write to DynamoDB on a restore that stalls
/// before it starts.
#[tokio::test]
async fn each_stalled_reason_is_reported_with_its_reason() {
    type Setup = fn(&World);
    let other_region_backup = "arn:aws:dynamodb:us-east-1:123456789012:table/Orders/backup/01736000000000-abcdef12";
    let keeps = json!({"keepGlobalSecondaryIndexes": ["byCustomer"]});
    let cases: Vec<(&str, Value, Setup)> = vec![
        (
            "InvalidSpec",
            json!({"source": {"pointInTime": {"tableName": "Orders", "latestRestorableTime": true}}, "targetTableName": "x"}),
            |_| {},
        ),
        (
            "TargetTableExists",
            json!({"source": {"pointInTime": {"tableName": "Orders", "latestRestorableTime": true}}, "targetTableName": "Orders"}),
            |_| {},
        ),
        ("SourceBackupNotFound", json!({"source": {"backupArn": format!("{ORDERS_ARN}/backup/01736000000000-00000000")}}), |_| {}),
        ("SourceTableNotFound", json!({"source": {"pointInTime": {"tableName": "Missing", "latestRestorableTime": true}}}), |_| {}),
        ("PointInTimeRecoveryDisabled", json!({"source": {"pointInTime": {"tableName": "Items", "latestRestorableTime": true}}}), |w| {
            w.dynamo.add_table(DEFAULT_REGION, "Items", false, 1)
        }),
        (
            "RestoreTimeOutsideWindow",
            json!({"source": {"pointInTime": {"tableName": "Orders", "restoreTime": "2020-01-01T00:00:00Z"}}}),
            |_| {},
        ),
        ("IndexesUnknown", json!({"source": {"backupArn": GONE_BACKUP}, "overrides": keeps}), |w| {
            w.dynamo.add_backup(DEFAULT_REGION, orphan_backup())
        }),
        ("RestoreFailed", json!({"source": {"pointInTime": {"tableName": "Orders", "latestRestorableTime": true}}}), |w| {
            w.dynamo.inject("RestoreTableToPointInTime", Fault::Refuse("ValidationException"))
        }),
        ("AfterRestoreFailed", json!({"source": {"pointInTime": {"tableName": "Orders", "latestRestorableTime": true}}}), |w| {
            w.dynamo.inject("TagResource", Fault::Refuse("ValidationException"))
        }),
        ("CrossRegionNeedsAWSBackup", json!({"source": {"backupArn": other_region_backup}, "region": DEFAULT_REGION}), |_| {}),
        (
            "AWSBackupSettingsMissing",
            json!({"source": {"recoveryPointArn": "arn:aws:backup:eu-west-1:123456789012:recovery-point:rp-1"}}),
            |_| {},
        ),
    ];
    for (reason, spec, setup) in cases {
        let world = world_with_orders();
        setup(&world);
        world.apply(&restore("r", spec));
        let r = world.settle_restore("r").await.expect("kept");
        assert_eq!(stalled_reason(&r).as_deref(), Some(reason), "{:?}", r.status);
        assert_eq!(phase(&r), Some(RestorePhase::Failed), "{reason}");
        assert_eq!(world.cluster.event_reasons().iter().filter(|e| *e == reason).count(), 1, "{reason}: one Warning event");
        if reason != "AfterRestoreFailed" {
            assert!(world.dynamo.table(DEFAULT_REGION, "Orders-restored").is_none(), "{reason}: no table made");
        }
    }
}

const GONE_BACKUP: &str = "arn:aws:dynamodb:eu-west-1:123456789012:table/Gone/backup/01736000000000-11111111";

/// A backup whose source table is gone and whose answer lists no indexes.
fn orphan_backup() -> Backup {
    Backup {
        arn: GONE_BACKUP.into(),
        name: "old".into(),
        state: BackupState::Available,
        size_bytes: None,
        created_at: None,
        source: Some(BackupSource { table_name: "Gone".into(), indexes: None, ..Default::default() }),
    }
}

#[tokio::test]
async fn stalled_reasons_of_snapshots_and_targets_that_change_under_it() {
    // A namespace outside the tenancy file: refused before any AWS call.
    let world = World::with_tenancy("tenants:\n  - namespace: other\n    tables: ['*']\n");
    world.apply(&point_in_time("r"));
    assert_eq!(stalled_reason(&world.settle_restore("r").await.expect("kept")).as_deref(), Some("AccessDenied"));
    assert!(world.dynamo.calls().is_empty());

    // The table it was making deleted behind its back: never restored a second time.
    let world = world_with_orders();
    world.dynamo.restores_take(3);
    world.apply(&point_in_time("r"));
    world.reconcile_restore("r").await.expect("reconciled");
    world.dynamo.delete_table_now(DEFAULT_REGION, "Orders-restored");
    assert_eq!(stalled_reason(&world.settle_restore("r").await.expect("kept")).as_deref(), Some("TargetTableGone"));
    assert_eq!(world.dynamo.count("RestoreTableToPointInTime"), 1);

    // No copy in the region asked for.
    let world = world_with_recovery_point(&[]).await;
    let spec = json!({"source": {"backupRef": {"name": "orders-1"}}, "region": "eu-central-1", "awsBackup": {"iamRoleArn": ROLE}});
    world.apply(&restore("r", spec));
    assert_eq!(stalled_reason(&world.settle_restore("r").await.expect("kept")).as_deref(), Some("NoCopyInRegion"));

    // AWS Backup's restore job fails.
    let world = world_with_recovery_point(&[]).await;
    world.aws_backup.jobs_fail("the table could not be made");
    world.apply(&restore("r", json!({"source": {"backupRef": {"name": "orders-1"}}, "awsBackup": {"iamRoleArn": ROLE}})));
    assert_eq!(stalled_reason(&world.settle_restore("r").await.expect("kept")).as_deref(), Some("RestoreJobFailed"));
}

/// For each lifecycle, a first run counts the calls to convergence; then for every N the
/// process dies right after its N-th call took effect, and a new one must converge to one
/// restored table, Completed, without a second restore call.
#[tokio::test]
async fn a_crash_after_any_call_converges_to_one_table() {
    type Lifecycle = (&'static str, fn() -> DynamoRestore, bool);
    let lifecycles: [Lifecycle; 3] = [
        ("from a DynamoBackup", || from_backup_ref("r"), false),
        (
            "from a point in time, with after-restore steps and checks",
            || {
                let mut r = point_in_time("r");
                r.spec.after_restore.deletion_protection = Some(true);
                r.spec.verify = serde_json::from_value(json!({"itemCount": {"tolerancePercent": 0}})).ok();
                r
            },
            false,
        ),
        (
            "from a recovery point",
            || restore("r", json!({"source": {"backupRef": {"name": "orders-1"}}, "awsBackup": {"iamRoleArn": ROLE}})),
            true,
        ),
    ];
    for (lifecycle, make, vaulted) in lifecycles {
        let prepare = || async move { if vaulted { world_with_recovery_point(&[]).await } else { world_with_backup().await } };
        let clean = prepare().await;
        clean.dynamo.restores_take(1);
        clean.apply(&make());
        let before = clean.tripwire.calls();
        clean.settle_restore("r").await;
        let calls = clean.tripwire.calls() - before;
        for n in 1..=calls {
            let world = prepare().await;
            world.dynamo.restores_take(1);
            world.apply(&make());
            if world.crash_at(n, world.settle_restore("r")).await.is_some() {
                continue;
            }
            world.restart().settle_restore("r").await;
            let what = format!("{lifecycle}: crash after call {n} of {calls}");
            assert_eq!(phase(&world.get("r")), Some(RestorePhase::Completed), "{what}: {:?}", world.get::<DynamoRestore>("r").status);
            let restores = world.dynamo.count("RestoreTableFromBackup") + world.dynamo.count("RestoreTableToPointInTime");
            assert!(restores <= 1, "{what}: {restores} restore calls");
            assert!(world.aws_backup.job_count() <= 2, "{what}: one backup job and one restore job at most");
            assert!(world.dynamo.table(DEFAULT_REGION, "Orders-restored").is_some(), "{what}");
        }
        eprintln!("{lifecycle}: {calls} crash points");
    }
}
