//! What a restored table gets of its source beyond what DynamoDB carries over, decided from
//! facts: its stream, its resource-based policy with the table ARN rewritten, its Application
//! Auto Scaling targets and target-tracking policies, and the list of what the user must redo by
//! hand (`status.notCarriedOver`).

use crate::api::{
    AfterRestore, CarryOver, TimeToLiveMode,
    facts::{ScalableTarget, ScalingPolicy, Table},
};

/// The view type to turn the new table's stream on with: the source's, when the source has a
/// stream and the new table has none yet (a stream already there, after a crash or set by
/// someone, is left as it is: DynamoDB refuses a second one).
pub fn stream_to_enable(source: &Table, target: &Table) -> Option<String> {
    match (&source.stream_view_type, &target.stream_view_type) {
        (Some(view), None) => Some(view.clone()),
        _ => None,
    }
}

/// Characters a table name may hold: an ARN followed by one of them names another table.
fn in_table_name(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

/// The policy with every occurrence of the table ARN `from` rewritten to `to`. An occurrence
/// counts where the ARN ends (end of text, a quote, `/` as in `/index/*` or `/stream/*`, `*`),
/// not where a longer table name goes on (`table/Orders` in `table/OrdersArchive`).
pub fn rewrite_table_arn(policy: &str, from: &str, to: &str) -> String {
    if from.is_empty() {
        return policy.to_owned();
    }
    let mut out = String::with_capacity(policy.len());
    let mut rest = policy;
    while let Some(at) = rest.find(from) {
        let after = &rest[at + from.len()..];
        out.push_str(&rest[..at]);
        if after.chars().next().is_some_and(in_table_name) {
            out.push_str(from);
        } else {
            out.push_str(to);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// Application Auto Scaling's resource id of a table.
pub fn table_resource_id(table: &str) -> String {
    format!("table/{table}")
}

/// The resource ids to read from the source: the table's and those of the indexes the new
/// table kept (an index left out has nothing to scale).
pub fn source_resource_ids(source_table: &str, kept_indexes: &[String]) -> Vec<String> {
    let table = table_resource_id(source_table);
    std::iter::once(table.clone()).chain(kept_indexes.iter().map(|index| format!("{table}/index/{index}"))).collect()
}

/// The new table's resource id for a source resource id: `table/SRC` -> `table/NEW`,
/// `table/SRC/index/I` -> `table/NEW/index/I` when the new table kept `I`; None otherwise.
pub fn translate_resource_id(id: &str, source_table: &str, target_table: &str, kept_indexes: &[String]) -> Option<String> {
    let rest = id.strip_prefix("table/")?.strip_prefix(source_table)?;
    if rest.is_empty() {
        return Some(table_resource_id(target_table));
    }
    let index = rest.strip_prefix("/index/")?;
    kept_indexes.iter().any(|k| k == index).then(|| format!("table/{target_table}/index/{index}"))
}

/// What the new table gets of Application Auto Scaling, and what is left out.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScalingCopy {
    pub targets: Vec<ScalableTarget>,
    pub policies: Vec<ScalingPolicy>,
    /// Policies of the source left out (step scaling, or target tracking on a customized
    /// metric), by name: for the user to redo by hand.
    pub left_out: Vec<String>,
}

/// Role ARNs of service-linked roles: Application Auto Scaling uses its own for DynamoDB when
/// none is named, and naming it would need iam:PassRole for nothing.
fn is_service_linked(role: &str) -> bool {
    role.contains(":role/aws-service-role/")
}

/// The source's targets and policies, translated to the new table: each target of the table or
/// of a kept index, with the same capacities and suspended state; each target-tracking policy
/// on a predefined metric of such a target, with the same target value, metric, cooldowns and
/// scale-in setting. A policy named after the source's resource id (as the console names them)
/// is named after the new one.
pub fn scaling_copy(
    source_table: &str,
    target_table: &str,
    kept_indexes: &[String],
    targets: &[ScalableTarget],
    policies: &[ScalingPolicy],
) -> ScalingCopy {
    let translate = |id: &str| translate_resource_id(id, source_table, target_table, kept_indexes);
    let mut copy = ScalingCopy::default();
    for t in targets {
        let Some(resource_id) = translate(&t.resource_id) else { continue };
        let role_arn = t.role_arn.clone().filter(|role| !is_service_linked(role));
        copy.targets.push(ScalableTarget { resource_id, role_arn, ..t.clone() });
    }
    for p in policies {
        let copied = copy.targets.iter().any(|t| Some(&t.resource_id) == translate(&p.resource_id).as_ref() && t.dimension == p.dimension);
        if !copied {
            continue;
        }
        let trackable =
            p.policy_type == "TargetTrackingScaling" && p.target_tracking.as_ref().is_some_and(|t| t.predefined_metric.is_some());
        let Some(resource_id) = translate(&p.resource_id).filter(|_| trackable) else {
            copy.left_out.push(p.name.clone());
            continue;
        };
        let name = rewrite_table_arn(&p.name, &table_resource_id(source_table), &table_resource_id(target_table));
        copy.policies.push(ScalingPolicy { name, resource_id, ..p.clone() });
    }
    copy
}

/// Whether a table is billed by provisioned capacity (DynamoDB leaves the billing mode out
/// for tables that have never been anything else).
pub fn is_provisioned(table: &Table) -> bool {
    table.billing_mode.as_deref() != Some("PAY_PER_REQUEST")
}

/// Entries of `status.notCarriedOver`.
pub const CLOUDWATCH_ALARMS: &str = "CloudWatchAlarms";
pub const IAM_POLICIES: &str = "IAMPolicies";
pub const KINESIS_STREAMING_DESTINATION: &str = "KinesisStreamingDestination";
pub const CONTRIBUTOR_INSIGHTS: &str = "ContributorInsights";
pub const SCHEDULED_SCALING: &str = "ScheduledScaling";
pub const OTHER_SCALING_POLICIES: &str = "OtherScalingPolicies";

/// What the user must redo by hand, named in the object. Always: CloudWatch alarms on the old
/// table, identity-based IAM policies naming it, a Kinesis streaming destination and Contributor
/// Insights (neither is read, so each is listed for the user to check). With `autoScaling: Copy`,
/// scheduled scaling actions (not copied). When the source no longer exists, what was asked to
/// be copied from it (Tags, TimeToLive, Streams, ResourcePolicy, AutoScaling): there was nothing
/// to read. What the user chose `None` for is theirs, never listed.
pub fn not_carried_over(spec: &AfterRestore, source_exists: bool) -> Vec<String> {
    let mut list = vec![CLOUDWATCH_ALARMS, IAM_POLICIES, KINESIS_STREAMING_DESTINATION, CONTRIBUTOR_INSIGHTS];
    if spec.auto_scaling == CarryOver::Copy {
        list.push(SCHEDULED_SCALING);
    }
    if !source_exists {
        let asked = [
            ("Tags", spec.copy_tags),
            ("TimeToLive", spec.time_to_live == TimeToLiveMode::Copy),
            ("Streams", spec.streams == CarryOver::Copy),
            ("ResourcePolicy", spec.resource_policy == CarryOver::Copy),
            ("AutoScaling", spec.auto_scaling == CarryOver::Copy),
        ];
        list.extend(asked.into_iter().filter(|(_, copy)| *copy).map(|(name, _)| name));
    }
    list.into_iter().map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::facts::TargetTracking;

    const OLD: &str = "arn:aws:dynamodb:eu-west-1:123456789012:table/Orders";
    const NEW: &str = "arn:aws:dynamodb:eu-west-1:123456789012:table/Orders-restored";

    #[test]
    fn the_policy_names_the_new_table_and_its_indexes_and_streams() {
        let policy = format!(
            r#"{{"Statement":[{{"Resource":["{OLD}","{OLD}/index/*","{OLD}/stream/*"]}},{{"Resource":"{OLD}Archive"}},{{"Resource":"{OLD}"}}]}}"#
        );
        let rewritten = rewrite_table_arn(&policy, OLD, NEW);
        assert_eq!(
            rewritten,
            format!(
                r#"{{"Statement":[{{"Resource":["{NEW}","{NEW}/index/*","{NEW}/stream/*"]}},{{"Resource":"{OLD}Archive"}},{{"Resource":"{NEW}"}}]}}"#
            )
        );
        assert_eq!(rewrite_table_arn(&format!("{OLD}-x {OLD}.y {OLD}_z"), OLD, NEW), format!("{OLD}-x {OLD}.y {OLD}_z"));
        assert_eq!(rewrite_table_arn(&format!("{OLD}*"), OLD, NEW), format!("{NEW}*"));
        assert_eq!(rewrite_table_arn("no arn here", OLD, NEW), "no arn here");
        assert_eq!(rewrite_table_arn("x", "", NEW), "x");
    }

    #[test]
    fn a_stream_is_enabled_only_when_the_source_has_one_and_the_new_table_not() {
        let with = |view: Option<&str>| Table { stream_view_type: view.map(str::to_owned), ..Default::default() };
        assert_eq!(stream_to_enable(&with(Some("NEW_AND_OLD_IMAGES")), &with(None)).as_deref(), Some("NEW_AND_OLD_IMAGES"));
        assert_eq!(stream_to_enable(&with(None), &with(None)), None);
        assert_eq!(stream_to_enable(&with(Some("KEYS_ONLY")), &with(Some("KEYS_ONLY"))), None, "after a crash: done already");
    }

    #[test]
    fn resource_ids_follow_the_new_table_and_only_its_kept_indexes() {
        let kept = vec!["byCustomer".to_owned()];
        assert_eq!(source_resource_ids("Orders", &kept), ["table/Orders", "table/Orders/index/byCustomer"]);
        let tr = |id| translate_resource_id(id, "Orders", "Orders-restored", &kept);
        assert_eq!(tr("table/Orders").as_deref(), Some("table/Orders-restored"));
        assert_eq!(tr("table/Orders/index/byCustomer").as_deref(), Some("table/Orders-restored/index/byCustomer"));
        assert_eq!(tr("table/Orders/index/byDate"), None, "an index the new table left out");
        assert_eq!(tr("table/OrdersArchive"), None);
        assert_eq!(tr("table/Other"), None);
    }

    fn target(id: &str, dimension: &str) -> ScalableTarget {
        ScalableTarget {
            resource_id: id.into(),
            dimension: dimension.into(),
            min_capacity: 5,
            max_capacity: 100,
            role_arn: Some(
                "arn:aws:iam::123456789012:role/aws-service-role/dynamodb.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_DynamoDBTable".into(),
            ),
            suspended: None,
        }
    }

    fn tracking(name: &str, id: &str, dimension: &str, metric: Option<&str>) -> ScalingPolicy {
        ScalingPolicy {
            name: name.into(),
            resource_id: id.into(),
            dimension: dimension.into(),
            policy_type: "TargetTrackingScaling".into(),
            target_tracking: Some(TargetTracking {
                target_value: 70.0,
                predefined_metric: metric.map(str::to_owned),
                resource_label: None,
                scale_in_cooldown: Some(60),
                scale_out_cooldown: Some(30),
                disable_scale_in: Some(false),
            }),
        }
    }

    #[test]
    fn targets_and_policies_are_translated_and_the_rest_left_out() {
        let kept = vec!["byCustomer".to_owned()];
        let targets = [
            target("table/Orders", "dynamodb:table:ReadCapacityUnits"),
            target("table/Orders/index/byCustomer", "dynamodb:index:WriteCapacityUnits"),
            target("table/Orders/index/byDate", "dynamodb:index:ReadCapacityUnits"),
        ];
        let policies = [
            tracking(
                "DynamoDBReadCapacityUtilization:table/Orders",
                "table/Orders",
                "dynamodb:table:ReadCapacityUnits",
                Some("DynamoDBReadCapacityUtilization"),
            ),
            tracking(
                "writes",
                "table/Orders/index/byCustomer",
                "dynamodb:index:WriteCapacityUnits",
                Some("DynamoDBWriteCapacityUtilization"),
            ),
            tracking(
                "dropped-index",
                "table/Orders/index/byDate",
                "dynamodb:index:ReadCapacityUnits",
                Some("DynamoDBReadCapacityUtilization"),
            ),
            tracking("custom", "table/Orders", "dynamodb:table:ReadCapacityUnits", None),
            ScalingPolicy {
                policy_type: "StepScaling".into(),
                target_tracking: None,
                ..tracking("steps", "table/Orders", "dynamodb:table:ReadCapacityUnits", None)
            },
        ];
        let copy = scaling_copy("Orders", "Orders-restored", &kept, &targets, &policies);
        let ids: Vec<_> = copy.targets.iter().map(|t| (t.resource_id.as_str(), t.dimension.as_str())).collect();
        assert_eq!(
            ids,
            [
                ("table/Orders-restored", "dynamodb:table:ReadCapacityUnits"),
                ("table/Orders-restored/index/byCustomer", "dynamodb:index:WriteCapacityUnits")
            ]
        );
        assert!(
            copy.targets.iter().all(|t| t.role_arn.is_none() && t.min_capacity == 5 && t.max_capacity == 100),
            "the service-linked role is implied"
        );
        let names: Vec<_> = copy.policies.iter().map(|p| (p.name.as_str(), p.resource_id.as_str())).collect();
        assert_eq!(
            names,
            [
                ("DynamoDBReadCapacityUtilization:table/Orders-restored", "table/Orders-restored"),
                ("writes", "table/Orders-restored/index/byCustomer")
            ]
        );
        assert_eq!(copy.policies[0].target_tracking, policies[0].target_tracking, "same target value, metric, cooldowns");
        assert_eq!(copy.left_out, ["custom", "steps"]);
        let own_role = ScalableTarget { role_arn: Some("arn:aws:iam::123456789012:role/scaler".into()), ..targets[0].clone() };
        let copy = scaling_copy("Orders", "Orders-restored", &kept, &[own_role], &[]);
        assert_eq!(copy.targets[0].role_arn.as_deref(), Some("arn:aws:iam::123456789012:role/scaler"));
    }

    #[test]
    fn on_demand_tables_have_nothing_to_scale() {
        let billed = |mode: Option<&str>| Table { billing_mode: mode.map(str::to_owned), ..Default::default() };
        assert!(is_provisioned(&billed(Some("PROVISIONED"))));
        assert!(is_provisioned(&billed(None)), "DynamoDB leaves it out for tables always provisioned");
        assert!(!is_provisioned(&billed(Some("PAY_PER_REQUEST"))));
    }

    #[test]
    fn what_is_not_carried_over_leaves_out_what_the_user_declined() {
        let copy = AfterRestore::default();
        assert_eq!(
            not_carried_over(&copy, true),
            ["CloudWatchAlarms", "IAMPolicies", "KinesisStreamingDestination", "ContributorInsights", "ScheduledScaling"]
        );
        let gone = not_carried_over(&copy, false);
        assert!(gone.ends_with(&["Tags", "TimeToLive", "Streams", "ResourcePolicy", "AutoScaling"].map(String::from)), "{gone:?}");
        let declined = AfterRestore {
            copy_tags: false,
            time_to_live: TimeToLiveMode::None,
            streams: CarryOver::None,
            resource_policy: CarryOver::None,
            auto_scaling: CarryOver::None,
            ..Default::default()
        };
        assert_eq!(
            not_carried_over(&declined, false),
            ["CloudWatchAlarms", "IAMPolicies", "KinesisStreamingDestination", "ContributorInsights"]
        );
    }
}
