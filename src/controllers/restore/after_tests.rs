//! The after-restore steps that make a restored table whole, in memory: the source's stream,
//! resource-based policy and Application Auto Scaling carried over (or not, when declined), no
//! step repeated after a restart, nothing to scale on an on-demand table, and what is left for
//! the user in `status.notCarriedOver`.

use serde_json::{Value, json};

use crate::{
    api::{
        DynamoRestore, RestorePhase,
        facts::{ScalableTarget, ScalingPolicy, TargetTracking},
    },
    controllers::testkit::World,
    dynamo::memory::{DEFAULT_REGION, Fault, table_arn},
    plan::conditions,
};

const SLR: &str = "arn:aws:iam::123456789012:role/aws-service-role/dynamodb.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_DynamoDBTable";

fn restore(spec: Value) -> DynamoRestore {
    let mut spec = spec;
    spec["source"] = json!({"pointInTime": {"tableName": "Orders", "latestRestorableTime": true}});
    spec["targetTableName"] = "Orders-restored".into();
    serde_json::from_value(
        json!({"apiVersion": "dynamobackup.io/v1alpha1", "kind": "DynamoRestore", "metadata": {"name": "r"}, "spec": spec}),
    )
    .unwrap_or_else(|err| panic!("test restore: {err}"))
}

fn policy_naming(arn: &str) -> String {
    json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::123456789012:role/app"},
        "Action": ["dynamodb:GetItem", "dynamodb:Query"],
        "Resource": [arn, format!("{arn}/index/*")]
    }]})
    .to_string()
}

fn target(id: &str, dimension: &str) -> ScalableTarget {
    ScalableTarget {
        resource_id: id.into(),
        dimension: dimension.into(),
        min_capacity: 5,
        max_capacity: 50,
        role_arn: Some(SLR.into()),
        suspended: None,
    }
}

fn tracking(id: &str, dimension: &str, metric: &str) -> ScalingPolicy {
    ScalingPolicy {
        name: format!("{metric}:{id}"),
        resource_id: id.into(),
        dimension: dimension.into(),
        policy_type: "TargetTrackingScaling".into(),
        target_tracking: Some(TargetTracking {
            target_value: 70.0,
            predefined_metric: Some(metric.into()),
            resource_label: None,
            scale_in_cooldown: Some(60),
            scale_out_cooldown: Some(60),
            disable_scale_in: Some(false),
        }),
    }
}

/// Orders: PROVISIONED, a NEW_AND_OLD_IMAGES stream, a resource policy naming its ARN, and
/// read auto scaling on the table and on both its indexes (byCustomer, byDate).
fn world_with_whole_orders() -> World {
    let world = World::new();
    let d = &world.dynamo;
    d.add_table(DEFAULT_REGION, "Orders", true, 10);
    d.set_billing_now(DEFAULT_REGION, "Orders", "PROVISIONED");
    d.set_stream_now(DEFAULT_REGION, "Orders", Some("NEW_AND_OLD_IMAGES"));
    d.add_index_now(DEFAULT_REGION, "Orders", "byCustomer");
    d.add_index_now(DEFAULT_REGION, "Orders", "byDate");
    d.put_policy_now(&table_arn(DEFAULT_REGION, "Orders"), &policy_naming(&table_arn(DEFAULT_REGION, "Orders")));
    for (id, dimension, metric) in [
        ("table/Orders", "dynamodb:table:ReadCapacityUnits", "DynamoDBReadCapacityUtilization"),
        ("table/Orders", "dynamodb:table:WriteCapacityUnits", "DynamoDBWriteCapacityUtilization"),
        ("table/Orders/index/byCustomer", "dynamodb:index:ReadCapacityUnits", "DynamoDBReadCapacityUtilization"),
        ("table/Orders/index/byDate", "dynamodb:index:ReadCapacityUnits", "DynamoDBReadCapacityUtilization"),
    ] {
        world.auto_scaling.add_target(DEFAULT_REGION, target(id, dimension));
        world.auto_scaling.add_policy(DEFAULT_REGION, tracking(id, dimension, metric));
    }
    world
}

fn status_of(r: &DynamoRestore) -> crate::api::DynamoRestoreStatus {
    r.status.clone().unwrap_or_default()
}

const KEEP_BY_CUSTOMER: &str = "byCustomer";

#[tokio::test]
async fn a_restore_carries_over_the_stream_the_policy_and_auto_scaling() {
    let world = world_with_whole_orders();
    world.apply(&restore(json!({"overrides": {"keepGlobalSecondaryIndexes": [KEEP_BY_CUSTOMER]}})));
    let r = world.settle_restore("r").await.expect("kept");
    let status = status_of(&r);
    assert_eq!(status.phase, Some(RestorePhase::Completed), "{status:?}");
    assert!(status.after_restore_done.ends_with(&["streams", "autoScaling", "resourcePolicy"].map(String::from)));

    let new = world.dynamo.table(DEFAULT_REGION, "Orders-restored").expect("restored");
    assert_eq!(new.stream_view_type.as_deref(), Some("NEW_AND_OLD_IMAGES"));
    let new_arn = table_arn(DEFAULT_REGION, "Orders-restored");
    assert_eq!(world.dynamo.policy(&new_arn), Some(policy_naming(&new_arn)), "the policy names the new table");

    let targets = world.auto_scaling.targets(DEFAULT_REGION, "table/Orders-restored");
    let ids: Vec<_> = targets.iter().map(|t| (t.resource_id.as_str(), t.dimension.as_str())).collect();
    assert_eq!(
        ids,
        [
            ("table/Orders-restored", "dynamodb:table:ReadCapacityUnits"),
            ("table/Orders-restored", "dynamodb:table:WriteCapacityUnits"),
            ("table/Orders-restored/index/byCustomer", "dynamodb:index:ReadCapacityUnits"),
        ],
        "byDate was not kept"
    );
    assert!(targets.iter().all(|t| (t.min_capacity, t.max_capacity) == (5, 50)));
    let policies = world.auto_scaling.policies(DEFAULT_REGION, "table/Orders-restored");
    assert_eq!(policies.len(), 3);
    assert!(policies.iter().all(|p| p.target_tracking.as_ref().is_some_and(|t| t.target_value == 70.0)));
    assert!(policies.iter().any(|p| p.name == "DynamoDBReadCapacityUtilization:table/Orders-restored"));

    assert_eq!(
        status.not_carried_over,
        ["CloudWatchAlarms", "IAMPolicies", "KinesisStreamingDestination", "ContributorInsights", "ScheduledScaling"]
    );
}

#[tokio::test]
async fn what_the_user_declines_is_neither_copied_nor_listed() {
    let world = world_with_whole_orders();
    world.apply(&restore(json!({"afterRestore": {"streams": "None", "resourcePolicy": "None", "autoScaling": "None"}})));
    let status = status_of(&world.settle_restore("r").await.expect("kept"));
    assert_eq!(status.phase, Some(RestorePhase::Completed), "{status:?}");
    let new = world.dynamo.table(DEFAULT_REGION, "Orders-restored").expect("restored");
    assert_eq!(new.stream_view_type, None);
    assert_eq!(world.dynamo.policy(&table_arn(DEFAULT_REGION, "Orders-restored")), None);
    assert!(world.auto_scaling.targets(DEFAULT_REGION, "table/Orders-restored").is_empty());
    for op in ["UpdateTable", "GetResourcePolicy", "PutResourcePolicy"] {
        assert_eq!(world.dynamo.count(op), 0, "{op}");
    }
    assert_eq!(world.auto_scaling.count("DescribeScalableTargets"), 0);
    assert_eq!(status.not_carried_over, ["CloudWatchAlarms", "IAMPolicies", "KinesisStreamingDestination", "ContributorInsights"]);
}

#[tokio::test]
async fn an_on_demand_table_gets_no_auto_scaling() {
    let world = world_with_whole_orders();
    world.apply(&restore(json!({"overrides": {"billingMode": "PAY_PER_REQUEST"}})));
    let status = status_of(&world.settle_restore("r").await.expect("kept"));
    assert_eq!(status.phase, Some(RestorePhase::Completed), "{status:?}");
    assert!(status.after_restore_done.iter().any(|s| s == "autoScaling"), "recorded done");
    assert_eq!(world.auto_scaling.count("DescribeScalableTargets") + world.auto_scaling.count("RegisterScalableTarget"), 0);
    assert!(world.dynamo.table(DEFAULT_REGION, "Orders-restored").is_some_and(|t| t.stream_view_type.is_some()), "the rest is copied");
}

#[tokio::test]
async fn a_restart_between_steps_repeats_none() {
    let world = world_with_whole_orders();
    // The first process gets as far as the stream, then Application Auto Scaling throttles it.
    world.auto_scaling.inject("DescribeScalableTargets", Fault::Throttle);
    world.apply(&restore(json!({})));
    for _ in 0..10 {
        world.reconcile_restore("r").await.expect("reconciled");
        if status_of(&world.get("r")).after_restore_done.iter().any(|s| s == "streams") {
            break;
        }
    }
    assert!(status_of(&world.get("r")).after_restore_done.iter().any(|s| s == "streams"), "the stream's step is recorded");
    assert!(world.reconcile_restore("r").await.is_err(), "throttled before the auto scaling step is done");
    let again = world.restart();
    let status = status_of(&again.settle_restore("r").await.expect("kept"));
    assert_eq!(status.phase, Some(RestorePhase::Completed), "{status:?}");
    assert_eq!(world.dynamo.count("UpdateTable"), 1, "the stream was enabled once");
    assert_eq!(world.dynamo.count("PutResourcePolicy"), 1);
    assert_eq!(world.auto_scaling.count("RegisterScalableTarget"), 4);
    assert_eq!(world.auto_scaling.count("PutScalingPolicy"), 4);
}

/// The process dies right after each call of a restore with all three copies took effect; a
/// new one completes it with everything carried over, none of it twice where twice would fail.
#[tokio::test]
async fn a_crash_after_any_call_still_carries_everything_over() {
    let clean = world_with_whole_orders();
    clean.apply(&restore(json!({})));
    let before = clean.tripwire.calls();
    clean.settle_restore("r").await;
    let calls = clean.tripwire.calls() - before;
    for n in 1..=calls {
        let world = world_with_whole_orders();
        world.apply(&restore(json!({})));
        if world.crash_at(n, world.settle_restore("r")).await.is_some() {
            continue;
        }
        let status = status_of(&world.restart().settle_restore("r").await.expect("kept"));
        let what = format!("crash after call {n} of {calls}");
        assert_eq!(status.phase, Some(RestorePhase::Completed), "{what}: {status:?}");
        assert!(world.dynamo.table(DEFAULT_REGION, "Orders-restored").is_some_and(|t| t.stream_view_type.is_some()), "{what}");
        assert!(world.dynamo.policy(&table_arn(DEFAULT_REGION, "Orders-restored")).is_some(), "{what}");
        assert_eq!(world.auto_scaling.policies(DEFAULT_REGION, "table/Orders-restored").len(), 4, "{what}");
        assert!(!status.not_carried_over.is_empty(), "{what}");
    }
}

#[tokio::test]
async fn access_denied_on_auto_scaling_names_the_actions_needed() {
    let world = world_with_whole_orders();
    world.auto_scaling.inject("RegisterScalableTarget", Fault::Refuse("AccessDeniedException"));
    world.apply(&restore(json!({})));
    let r = world.settle_restore("r").await.expect("kept");
    let stalled = r.status.as_ref().and_then(|s| conditions::stalled(&s.conditions)).expect("stalled");
    assert_eq!(stalled.reason, "AfterRestoreFailed");
    assert!(stalled.message.contains("step autoScaling"), "{}", stalled.message);
    assert!(stalled.message.contains("application-autoscaling:RegisterScalableTarget"), "{}", stalled.message);
}
