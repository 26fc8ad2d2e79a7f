//! A restored table that comes back whole, against the real apiserver, moto and the real
//! binary: the source's stream, resource-based policy (its ARN rewritten) and Application Auto
//! Scaling targets and target-tracking policies (table and kept index) carried over by default,
//! none of them when declined, and `status.notCarriedOver` naming what is left for the user.

use std::sync::Arc;

use aws_sdk_applicationautoscaling::types::{
    MetricType, PolicyType, PredefinedMetricSpecification, ScalableDimension, ServiceNamespace, TargetTrackingScalingPolicyConfiguration,
};
use aws_sdk_dynamodb::{
    error::DisplayErrorContext,
    types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
        ProvisionedThroughput, ScalarAttributeType, StreamSpecification, StreamViewType,
    },
};
use dynamo_backup_operator::api::{CarryOver, DeletionPolicy, DynamoBackup, DynamoRestore, DynamoRestoreStatus};
use kube::{Api, api::PostParams};
use libtest_mimic::Trial;

use crate::{
    backup::{self, WAIT},
    restore::{conditions, from_backup, restore},
    support::{Env, TestCtx, ensure, tables::wait_condition},
};

pub fn trials(env: &Arc<Env>) -> Vec<Trial> {
    vec![env.trial("restore_carries_over_the_stream_policy_and_auto_scaling_unless_declined", whole_table)]
}

const INDEX: &str = "byCustomer";
const READ: &str = "dynamodb:table:ReadCapacityUnits";
const WRITE: &str = "dynamodb:table:WriteCapacityUnits";
const INDEX_READ: &str = "dynamodb:index:ReadCapacityUnits";

fn policy_naming(arn: &str) -> String {
    serde_json::json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "App",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
        "Action": ["dynamodb:GetItem", "dynamodb:Query"],
        "Resource": [arn, format!("{arn}/index/*")]
    }]})
    .to_string()
}

/// Orders: PROVISIONED with a provisioned GSI, a NEW_AND_OLD_IMAGES stream; returns its ARN.
async fn create_source(ctx: &TestCtx, table: &str) -> Result<String, String> {
    let err = |e: aws_sdk_dynamodb::error::BuildError| e.to_string();
    let key = |name: &str| KeySchemaElement::builder().attribute_name(name).key_type(KeyType::Hash).build().map_err(err);
    let attr = |name: &str| AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build().map_err(err);
    let capacity = || ProvisionedThroughput::builder().read_capacity_units(5).write_capacity_units(5).build().map_err(err);
    let index = GlobalSecondaryIndex::builder()
        .index_name(INDEX)
        .key_schema(key("customer")?)
        .projection(Projection::builder().projection_type(ProjectionType::All).build())
        .provisioned_throughput(capacity()?)
        .build()
        .map_err(err)?;
    let stream =
        StreamSpecification::builder().stream_enabled(true).stream_view_type(StreamViewType::NewAndOldImages).build().map_err(err)?;
    let out = ctx
        .dynamo()
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::Provisioned)
        .provisioned_throughput(capacity()?)
        .key_schema(key("orderId")?)
        .attribute_definitions(attr("orderId")?)
        .attribute_definitions(attr("customer")?)
        .global_secondary_indexes(index)
        .stream_specification(stream)
        .send()
        .await
        .map_err(|e| format!("CreateTable: {}", DisplayErrorContext(e)))?;
    out.table_description().and_then(|d| d.table_arn()).map(str::to_owned).ok_or_else(|| "CreateTable: no ARN".into())
}

/// Read and write auto scaling on the table, read auto scaling on its index: a target and a
/// target-tracking policy each.
async fn scale_source(ctx: &TestCtx, table: &str) -> Result<(), String> {
    let scaling = ctx.env.moto.autoscaling_client();
    let index_id = format!("table/{table}/index/{INDEX}");
    for (id, dimension, metric) in [
        (format!("table/{table}"), READ, MetricType::DynamoDbReadCapacityUtilization),
        (format!("table/{table}"), WRITE, MetricType::DynamoDbWriteCapacityUtilization),
        (index_id, INDEX_READ, MetricType::DynamoDbReadCapacityUtilization),
    ] {
        scaling
            .register_scalable_target()
            .service_namespace(ServiceNamespace::Dynamodb)
            .resource_id(&id)
            .scalable_dimension(ScalableDimension::from(dimension))
            .min_capacity(5)
            .max_capacity(40)
            .send()
            .await
            .map_err(|e| format!("RegisterScalableTarget {id}: {}", DisplayErrorContext(e)))?;
        let config = TargetTrackingScalingPolicyConfiguration::builder()
            .target_value(70.0)
            .predefined_metric_specification(
                PredefinedMetricSpecification::builder().predefined_metric_type(metric).build().map_err(|e| e.to_string())?,
            )
            .scale_in_cooldown(60)
            .scale_out_cooldown(30)
            .build()
            .map_err(|e| e.to_string())?;
        scaling
            .put_scaling_policy()
            .policy_name(format!("{dimension}:{id}"))
            .service_namespace(ServiceNamespace::Dynamodb)
            .resource_id(&id)
            .scalable_dimension(ScalableDimension::from(dimension))
            .policy_type(PolicyType::TargetTrackingScaling)
            .target_tracking_scaling_policy_configuration(config)
            .send()
            .await
            .map_err(|e| format!("PutScalingPolicy {id}: {}", DisplayErrorContext(e)))?;
    }
    Ok(())
}

/// The new table's stream view type, resource policy, and (resource id, dimension, target value)
/// of its scaling policies, as the services report them.
async fn carried(
    ctx: &TestCtx,
    table: &str,
) -> Result<(Option<String>, Option<String>, Vec<(String, String, i32, i32)>, Vec<(String, f64)>), String> {
    let db = ctx.dynamo();
    let described = db.describe_table().table_name(table).send().await.map_err(|e| format!("DescribeTable: {}", DisplayErrorContext(e)))?;
    let description = described.table().ok_or("no table")?;
    let stream =
        description.stream_specification().filter(|s| s.stream_enabled()).and_then(|s| s.stream_view_type()).map(|v| v.as_str().to_owned());
    let arn = description.table_arn().ok_or("no ARN")?;
    let policy = match db.get_resource_policy().resource_arn(arn).send().await {
        Ok(out) => out.policy().map(str::to_owned),
        Err(e) if aws_sdk_dynamodb::error::ProvideErrorMetadata::code(&e) == Some("PolicyNotFoundException") => None,
        Err(e) => return Err(format!("GetResourcePolicy: {}", DisplayErrorContext(e))),
    };
    let scaling = ctx.env.moto.autoscaling_client();
    let ids = [format!("table/{table}"), format!("table/{table}/index/{INDEX}")];
    let targets = scaling
        .describe_scalable_targets()
        .service_namespace(ServiceNamespace::Dynamodb)
        .set_resource_ids(Some(ids.to_vec()))
        .send()
        .await
        .map_err(|e| format!("DescribeScalableTargets: {}", DisplayErrorContext(e)))?;
    let mut targets: Vec<_> = targets
        .scalable_targets()
        .iter()
        .map(|t| (t.resource_id().to_owned(), t.scalable_dimension().as_str().to_owned(), t.min_capacity(), t.max_capacity()))
        .collect();
    targets.sort();
    let mut policies = Vec::new();
    for id in &ids {
        let out = scaling
            .describe_scaling_policies()
            .service_namespace(ServiceNamespace::Dynamodb)
            .resource_id(id)
            .send()
            .await
            .map_err(|e| format!("DescribeScalingPolicies: {}", DisplayErrorContext(e)))?;
        // moto matches resource ids by substring: keep this id's own.
        policies.extend(out.scaling_policies().iter().filter(|p| p.resource_id() == id).map(|p| {
            let value = p.target_tracking_scaling_policy_configuration().map_or(0.0, |c| c.target_value());
            (format!("{} {}", p.resource_id(), p.scalable_dimension().as_str()), value)
        }));
    }
    policies.sort_by(|a, b| a.0.cmp(&b.0));
    Ok((stream, policy, targets, policies))
}

fn status(r: &DynamoRestore) -> DynamoRestoreStatus {
    r.status.clone().unwrap_or_default()
}

const ALWAYS: [&str; 4] = ["CloudWatchAlarms", "IAMPolicies", "KinesisStreamingDestination", "ContributorInsights"];

async fn whole_table(ctx: TestCtx) -> Result<(), String> {
    let orders = ctx.table("Orders");
    let orders_arn = create_source(&ctx, &orders).await?;
    ctx.dynamo()
        .put_resource_policy()
        .resource_arn(&orders_arn)
        .policy(policy_naming(&orders_arn))
        .send()
        .await
        .map_err(|e| format!("PutResourcePolicy: {}", DisplayErrorContext(e)))?;
    scale_source(&ctx, &orders).await?;
    let _op = ctx.start_operator(&[])?;

    let backups: Api<DynamoBackup> = ctx.api();
    backups.create(&PostParams::default(), &backup::backup("snap", &orders, DeletionPolicy::Retain)).await.map_err(|e| e.to_string())?;
    wait_condition(&backups, "snap", "Ready", WAIT, backup::conditions).await?;

    let restores: Api<DynamoRestore> = ctx.api();
    let whole = ctx.table("Orders-whole");
    restores.create(&PostParams::default(), &restore("whole", from_backup("snap"), &whole)).await.map_err(|e| e.to_string())?;
    let bare = ctx.table("Orders-bare");
    let mut declined = restore("bare", from_backup("snap"), &bare);
    declined.spec.after_restore.streams = CarryOver::None;
    declined.spec.after_restore.resource_policy = CarryOver::None;
    declined.spec.after_restore.auto_scaling = CarryOver::None;
    restores.create(&PostParams::default(), &declined).await.map_err(|e| e.to_string())?;

    // Defaults: all three carried over.
    let done = status(&wait_condition(&restores, "whole", "Ready", WAIT, conditions).await?);
    println!("whole: afterRestoreDone {:?}, notCarriedOver {:?}", done.after_restore_done, done.not_carried_over);
    let (stream, policy, targets, policies) = carried(&ctx, &whole).await?;
    ensure(stream.as_deref() == Some("NEW_AND_OLD_IMAGES"), || format!("stream of {whole}: {stream:?}"))?;
    let whole_arn = done.target_table_arn.clone().ok_or("no targetTableArn")?;
    ensure(policy.as_deref() == Some(policy_naming(&whole_arn).as_str()), || format!("policy of {whole}: {policy:?}"))?;
    let index_id = format!("table/{whole}/index/{INDEX}");
    let table_id = format!("table/{whole}");
    let mut expected_targets = vec![
        (table_id.clone(), READ.to_owned(), 5, 40),
        (table_id.clone(), WRITE.to_owned(), 5, 40),
        (index_id.clone(), INDEX_READ.to_owned(), 5, 40),
    ];
    expected_targets.sort();
    ensure(targets == expected_targets, || format!("scalable targets of {whole}: {targets:?}"))?;
    let mut expected_policies =
        vec![(format!("{table_id} {READ}"), 70.0), (format!("{table_id} {WRITE}"), 70.0), (format!("{index_id} {INDEX_READ}"), 70.0)];
    expected_policies.sort_by(|a, b| a.0.cmp(&b.0));
    ensure(policies == expected_policies, || format!("scaling policies of {whole}: {policies:?}"))?;
    ensure(done.after_restore_done.ends_with(&["streams", "autoScaling", "resourcePolicy"].map(String::from)), || {
        format!("afterRestoreDone {:?}", done.after_restore_done)
    })?;
    ensure(ALWAYS.iter().all(|e| done.not_carried_over.iter().any(|n| n == e)), || format!("notCarriedOver {:?}", done.not_carried_over))?;
    ensure(done.not_carried_over.iter().any(|n| n == "ScheduledScaling"), || format!("notCarriedOver {:?}", done.not_carried_over))?;

    // Declined: none of them, and none listed.
    let done = status(&wait_condition(&restores, "bare", "Ready", WAIT, conditions).await?);
    let (stream, policy, targets, policies) = carried(&ctx, &bare).await?;
    ensure(stream.is_none() && policy.is_none(), || format!("{bare}: stream {stream:?}, policy {policy:?}"))?;
    ensure(targets.is_empty() && policies.is_empty(), || format!("{bare}: targets {targets:?}, policies {policies:?}"))?;
    ensure(done.not_carried_over == ALWAYS.map(String::from), || format!("notCarriedOver {:?}", done.not_carried_over))?;

    // The source keeps what it had.
    let (stream, policy, targets, _) = carried(&ctx, &orders).await?;
    ensure(stream.is_some() && policy.is_some_and(|p| p == policy_naming(&orders_arn)) && targets.len() == 3, || {
        format!("the source changed: stream {stream:?}, targets {targets:?}")
    })
}
