//! The DynamoBackup lifecycle in memory: both keepers, every Stalled reason, retries, deletion,
//! and a crash after every call of a lifecycle.

use crate::{
    api::{
        AwsBackupSpec, BackupMethod, BackupPhase, CopyDestination, CopyState, DeletionPolicy, DynamoBackup, DynamoBackupSpec,
        facts::BackupState,
    },
    controllers::testkit::{NS, World},
    dynamo::memory::{DEFAULT_REGION, Fault},
    plan::conditions,
};

const VAULT: &str = "orders-vault";
const ROLE: &str = "arn:aws:iam::123456789012:role/backup";
const DR_VAULT: &str = "arn:aws:backup:eu-central-1:123456789012:backup-vault:dr";

fn native(name: &str, table: &str) -> DynamoBackup {
    DynamoBackup::new(name, DynamoBackupSpec::for_table(table))
}

fn vaulted(name: &str, table: &str, copies: &[&str]) -> DynamoBackup {
    let mut b = native(name, table);
    b.spec.method = BackupMethod::AWSBackup;
    b.spec.aws_backup = Some(AwsBackupSpec {
        backup_vault_name: VAULT.into(),
        iam_role_arn: ROLE.into(),
        lifecycle: None,
        copy_to: copies.iter().map(|arn| CopyDestination { destination_backup_vault_arn: (*arn).into(), lifecycle: None }).collect(),
    });
    b
}

fn world_with_orders() -> World {
    let world = World::new();
    world.dynamo.add_table(DEFAULT_REGION, "Orders", true, 10);
    world
}

/// The reason of the object's Stalled condition, if it is stalled.
fn stalled_reason(b: &DynamoBackup) -> Option<String> {
    conditions::stalled(&b.status.as_ref()?.conditions).map(|c| c.reason.clone())
}

fn phase(b: &DynamoBackup) -> Option<BackupPhase> {
    b.status.as_ref().and_then(|s| s.phase)
}

/// Under load the watch cache lags behind the apiserver: a reconcile may get a copy of the object
/// from before an attempt that has finished, with no intent in it. Its intent write is
/// conditional on that copy's resourceVersion, so it fails (409 Conflict) rather than ask for a
/// second backup (with `deletionPolicy: Delete` the finalizer's write, conditional on the list
/// read, fails first), and the next reconcile, of the object as it is, finds it Available.
#[tokio::test]
async fn a_stale_copy_of_the_object_never_makes_a_second_backup() {
    for policy in [DeletionPolicy::Retain, DeletionPolicy::Delete] {
        let world = world_with_orders();
        let mut b = native("orders-1", "Orders");
        b.spec.deletion_policy = policy;
        world.apply(&b);
        let stale: DynamoBackup = world.get("orders-1");
        assert_eq!(phase(&world.settle_backup("orders-1").await.expect("kept")), Some(BackupPhase::Available));
        let err = world.reconcile_backup_as(stale).await.expect_err("the stale copy's intent is refused");
        // Retain: the intent's precondition (409). Delete: the finalizer's, written first (422).
        assert!(matches!(&err, crate::controllers::Error::Kube(kube::Error::Api(s)) if [409, 422].contains(&s.code)), "{err}");
        assert_eq!(world.dynamo.count("CreateBackup"), 1, "{policy:?}");
        world.reconcile_backup("orders-1").await.expect("reconciled");
        assert_eq!(world.dynamo.count("CreateBackup"), 1, "{policy:?}");
        assert_eq!(phase(&world.get::<DynamoBackup>("orders-1")), Some(BackupPhase::Available));
    }
}

/// A copy of the object from between the intent and the ARN (the watch cache behind the
/// apiserver) is told from a crash by one read of the object: no ListBackups lookup, no call.
#[tokio::test]
async fn a_copy_with_the_intent_but_not_yet_the_arn_waits_for_the_cache() {
    let world = world_with_orders();
    world.apply(&native("orders-1", "Orders"));
    let mut copy = world.settle_backup("orders-1").await.expect("kept");
    if let Some(status) = copy.status.as_mut() {
        status.backup_arn = None;
    }
    world.reconcile_backup_as(copy).await.expect("reconciled");
    assert_eq!(world.dynamo.count("ListBackups"), 0);
    assert_eq!(world.dynamo.count("CreateBackup"), 1);
}

#[tokio::test]
async fn a_native_backup_is_made_once_and_reported_available() {
    let world = world_with_orders();
    world.apply(&native("orders-1", "Orders"));
    let b = world.settle_backup("orders-1").await.expect("kept");
    assert_eq!(phase(&b), Some(BackupPhase::Available));
    assert_eq!(world.dynamo.count("CreateBackup"), 1);
    assert_eq!(world.dynamo.count("ListBackups"), 0, "no lookup on the happy path");
    let status = b.status.expect("status");
    assert_eq!(status.item_count, Some(10));
    assert!(status.table_arn.is_some_and(|arn| arn.ends_with(":table/Orders")));
    assert_eq!(world.cluster.event_reasons(), ["BackupRequested", "BackupAvailable"]);
}

#[tokio::test]
async fn a_creating_backup_waits_for_the_inventory_and_costs_no_describe() {
    let world = world_with_orders();
    world.dynamo.backups_take(2);
    world.apply(&native("orders-1", "Orders"));
    world.reconcile_backup("orders-1").await.expect("reconciled");
    let b = world.get::<DynamoBackup>("orders-1");
    assert_eq!(phase(&b), Some(BackupPhase::Creating));
    // Without news from the inventory, a reconcile asks DynamoDB nothing.
    world.reconcile_backup("orders-1").await.expect("reconciled");
    assert_eq!(world.dynamo.count("DescribeBackup"), 0);
    let b = world.settle_backup("orders-1").await.expect("kept");
    assert_eq!(phase(&b), Some(BackupPhase::Available));
    assert_eq!(world.dynamo.count("CreateBackup"), 1);
    assert_eq!(world.dynamo.count("DescribeBackup"), 0, "ListBackups pages confirmed it");
}

#[tokio::test]
async fn throttling_is_retried_without_a_lookup_and_makes_one_backup() {
    let world = world_with_orders();
    world.dynamo.inject("CreateBackup", Fault::Throttle);
    world.apply(&native("orders-1", "Orders"));
    assert!(world.reconcile_backup("orders-1").await.is_err(), "a throttled call is retried with backoff");
    let b = world.get::<DynamoBackup>("orders-1");
    let reconciling = b.status.as_ref().and_then(|s| s.conditions.iter().find(|c| c.type_ == "Reconciling")).expect("conditions");
    assert_eq!((reconciling.status.as_str(), reconciling.reason.as_str()), ("True", "Throttling"));
    let b = world.settle_backup("orders-1").await.expect("kept");
    assert_eq!(phase(&b), Some(BackupPhase::Available));
    assert_eq!(world.dynamo.backups().len(), 1);
    assert_eq!(world.dynamo.count("ListBackups"), 0, "a refused call made nothing: no lookup");
}

#[tokio::test]
async fn an_available_backup_deleted_outside_the_operator_is_found_by_the_resync() {
    let world = world_with_orders();
    world.apply(&native("orders-1", "Orders"));
    world.apply(&native("orders-2", "Orders"));
    world.settle_backup("orders-1").await;
    world.settle_backup("orders-2").await;
    let gone = world.get::<DynamoBackup>("orders-1").status.and_then(|s| s.backup_arn).expect("arn");
    world.dynamo.remove_backup(&gone);
    world.list_backups_now(true).await;
    world.reconcile_backup("orders-1").await.expect("reconciled");
    world.reconcile_backup("orders-2").await.expect("reconciled");
    assert_eq!(stalled_reason(&world.get("orders-1")).as_deref(), Some("BackupNotFound"));
    assert_eq!(phase(&world.get("orders-2")), Some(BackupPhase::Available));
    assert_eq!(world.dynamo.count("DescribeBackup"), 1, "only the missing one is described");
}

#[tokio::test]
async fn a_backup_dynamodb_reports_deleted_stalls() {
    let world = world_with_orders();
    world.apply(&native("orders-1", "Orders"));
    world.settle_backup("orders-1").await;
    let arn = world.get::<DynamoBackup>("orders-1").status.and_then(|s| s.backup_arn).expect("arn");
    let mut deleted = world.dynamo.backups().into_iter().find(|b| b.arn == arn).expect("backup");
    deleted.state = BackupState::Deleted;
    world.dynamo.add_backup(DEFAULT_REGION, deleted);
    world.list_backups_now(true).await;
    world.reconcile_backup("orders-1").await.expect("reconciled");
    assert_eq!(stalled_reason(&world.get("orders-1")).as_deref(), Some("BackupDeleted"));
}

/// Every Stalled reason of a DynamoBackup from spec, tenancy or AWS's answer, and no AWS call
/// where the spec alone is known to be wrong.
#[tokio::test]
async fn each_stalled_reason_is_reported_with_its_reason() {
    struct Case {
        reason: &'static str,
        backup: DynamoBackup,
        setup: fn(&World),
        aws_calls: bool,
    }
    let mut missing_settings = native("b", "Orders");
    missing_settings.spec.method = BackupMethod::AWSBackup;
    let cases = [
        Case { reason: "InvalidSpec", backup: native("b", "no such table!"), setup: |_| {}, aws_calls: false },
        Case { reason: "AWSBackupSettingsMissing", backup: missing_settings, setup: |_| {}, aws_calls: false },
        Case { reason: "TableNotFound", backup: native("b", "Missing"), setup: |_| {}, aws_calls: true },
        Case {
            reason: "CreateBackupFailed",
            backup: native("b", "Orders"),
            setup: |w| w.dynamo.inject("CreateBackup", Fault::Refuse("ValidationException")),
            aws_calls: true,
        },
        Case { reason: "TableNotFound", backup: vaulted("b", "Missing", &[]), setup: |_| {}, aws_calls: true },
        Case {
            reason: "VaultNotFound",
            backup: vaulted("b", "Orders", &[]),
            setup: |w| w.aws_backup.inject("StartBackupJob", Fault::Refuse("ResourceNotFoundException")),
            aws_calls: true,
        },
        Case {
            reason: "AccessDenied",
            backup: vaulted("b", "Orders", &[]),
            setup: |w| w.aws_backup.inject("StartBackupJob", Fault::Refuse("AccessDeniedException")),
            aws_calls: true,
        },
        Case {
            reason: "StartBackupJobFailed",
            backup: vaulted("b", "Orders", &[]),
            setup: |w| w.aws_backup.inject("StartBackupJob", Fault::Refuse("InvalidParameterValueException")),
            aws_calls: true,
        },
        Case {
            reason: "BackupJobFailed",
            backup: vaulted("b", "Orders", &[]),
            setup: |w| w.aws_backup.jobs_fail("the table was busy"),
            aws_calls: true,
        },
        Case {
            reason: "CopyFailed",
            backup: vaulted("b", "Orders", &[DR_VAULT]),
            setup: |w| w.aws_backup.inject("StartCopyJob", Fault::Refuse("InvalidParameterValueException")),
            aws_calls: true,
        },
    ];
    for case in cases {
        let world = world_with_orders();
        (case.setup)(&world);
        world.apply(&case.backup);
        let b = world.settle_backup("b").await.expect("kept");
        assert_eq!(stalled_reason(&b).as_deref(), Some(case.reason), "{:?}", b.status);
        assert_eq!(phase(&b), Some(BackupPhase::Failed));
        let calls = world.dynamo.calls().len() + world.aws_backup.count("StartBackupJob");
        assert_eq!(calls > 0, case.aws_calls, "{}: AWS calls {calls}", case.reason);
        assert_eq!(world.cluster.event_reasons().last().map(String::as_str), Some(case.reason), "a Warning event says why, once");
        assert_eq!(world.cluster.event_reasons().iter().filter(|r| *r == case.reason).count(), 1);
    }
}

#[tokio::test]
async fn a_namespace_outside_the_tenancy_file_is_refused_before_any_aws_call() {
    let world = World::with_tenancy("tenants:\n  - namespace: other\n    tables: ['*']\n");
    world.dynamo.add_table(DEFAULT_REGION, "Orders", true, 1);
    world.apply(&native("b", "Orders"));
    let b = world.settle_backup("b").await.expect("kept");
    assert_eq!(stalled_reason(&b).as_deref(), Some("AccessDenied"));
    assert!(world.dynamo.calls().is_empty());
}

#[tokio::test]
async fn deletion_policy_delete_deletes_the_backup_with_the_object() {
    let world = world_with_orders();
    let mut b = native("orders-1", "Orders");
    b.spec.deletion_policy = DeletionPolicy::Delete;
    world.apply(&b);
    let b = world.settle_backup("orders-1").await.expect("kept");
    assert!(b.metadata.finalizers.as_ref().is_some_and(|f| f.iter().any(|f| f == crate::controllers::common::FINALIZER)));
    world.cluster.request_delete::<DynamoBackup>(NS, "orders-1");
    assert!(world.settle_backup("orders-1").await.is_none(), "the finalizer is dropped once the backup is gone");
    assert!(world.dynamo.backups().is_empty());
    assert!(world.cluster.event_reasons().contains(&"BackupDeleted".to_owned()));
}

#[tokio::test]
async fn a_retained_backup_outlives_its_object() {
    let world = world_with_orders();
    world.apply(&native("orders-1", "Orders"));
    world.settle_backup("orders-1").await;
    world.cluster.request_delete::<DynamoBackup>(NS, "orders-1");
    assert!(world.cluster.object::<DynamoBackup>(NS, "orders-1").is_none());
    assert_eq!(world.dynamo.backups().len(), 1);
}

#[tokio::test]
async fn an_aws_backup_snapshot_is_copied_then_available() {
    let world = world_with_orders();
    world.aws_backup.jobs_take(2);
    world.apply(&vaulted("b", "Orders", &[DR_VAULT]));
    world.reconcile_backup("b").await.expect("reconciled");
    assert_eq!(phase(&world.get("b")), Some(BackupPhase::Creating));
    let b = world.settle_backup("b").await.expect("kept");
    assert_eq!(phase(&b), Some(BackupPhase::Available), "{:?}", b.status);
    let status = b.status.expect("status");
    assert_eq!(status.copies.len(), 1);
    assert_eq!(status.copies[0].state, CopyState::Completed);
    assert_eq!(status.copies[0].region, "eu-central-1");
    assert_eq!(world.aws_backup.count("StartBackupJob"), 1);
    assert_eq!(world.aws_backup.count("StartCopyJob"), 1);
    assert_eq!(world.aws_backup.recovery_points().len(), 2);
}

#[tokio::test]
async fn a_locked_vault_keeps_the_object_until_aws_backup_allows_the_deletion() {
    let world = world_with_orders();
    let mut b = vaulted("b", "Orders", &[]);
    b.spec.deletion_policy = DeletionPolicy::Delete;
    world.apply(&b);
    world.settle_backup("b").await;
    world.aws_backup.lock_vault(VAULT);
    world.cluster.request_delete::<DynamoBackup>(NS, "b");
    let b = world.settle_backup("b").await.expect("kept while locked");
    let reconciling = b.status.as_ref().and_then(|s| s.conditions.iter().find(|c| c.type_ == "Reconciling" && c.status == "True"));
    assert_eq!(reconciling.map(|c| c.reason.as_str()), Some("RetentionLocked"));
    assert_eq!(world.aws_backup.recovery_points().len(), 1, "nothing deleted");
}

/// For each lifecycle, a first run counts the calls to convergence; then for every N the
/// process dies right after its N-th call took effect, and a new one must converge with one
/// snapshot, and no second call of a non-idempotent operation.
#[tokio::test]
async fn a_crash_after_any_call_converges_to_one_snapshot() {
    type Lifecycle = (&'static str, fn() -> DynamoBackup, fn(&World));
    let lifecycles: [Lifecycle; 4] = [
        ("native", || native("b", "Orders"), |_| {}),
        ("native, creating for a while", || native("b", "Orders"), |w| w.dynamo.backups_take(2)),
        (
            "native, deleted with the object",
            || {
                let mut b = native("b", "Orders");
                b.spec.deletion_policy = DeletionPolicy::Delete;
                b
            },
            |_| {},
        ),
        ("AWS Backup with a copy", || vaulted("b", "Orders", &[DR_VAULT]), |w| w.aws_backup.jobs_take(1)),
    ];
    for (lifecycle, make, setup) in lifecycles {
        let deleting = make().spec.deletion_policy == DeletionPolicy::Delete;
        let clean = world_with_orders();
        setup(&clean);
        clean.apply(&make());
        let before = clean.tripwire.calls();
        run(&clean, deleting).await;
        let calls = clean.tripwire.calls() - before;
        for n in 1..=calls {
            let world = world_with_orders();
            setup(&world);
            world.apply(&make());
            if world.crash_at(n, run(&world, deleting)).await.is_some() {
                continue;
            }
            let next = world.restart();
            run(&next, deleting).await;
            let what = format!("{lifecycle}: crash after call {n} of {calls}");
            if deleting {
                assert!(world.cluster.object::<DynamoBackup>(NS, "b").is_none(), "{what}: object gone");
                assert!(world.dynamo.backups().is_empty(), "{what}: no orphaned backup");
            } else {
                assert_eq!(phase(&world.get("b")), Some(BackupPhase::Available), "{what}");
                let snapshots = world.dynamo.backups().len() + world.aws_backup.recovery_points().len();
                let expected = if make().spec.method == BackupMethod::AWSBackup { 2 } else { 1 };
                assert_eq!(snapshots, expected, "{what}: one snapshot (and its copy)");
            }
            assert!(world.dynamo.count("CreateBackup") <= 1, "{what}: CreateBackup twice");
        }
        eprintln!("{lifecycle}: {calls} crash points");
    }
}

/// Settles the backup; with `deleting`, then deletes it as a user would and settles again.
async fn run(world: &World, deleting: bool) {
    world.settle_backup("b").await;
    if deleting {
        world.cluster.request_delete::<DynamoBackup>(NS, "b");
        world.settle_backup("b").await;
    }
}
