//! The steps after a restored table is ACTIVE, in order, each recorded in status once done: what
//! a restore does not carry over by itself (tags, PITR, deletion protection, TTL, the stream,
//! auto scaling, the resource-based policy). What each copies is decided in `carry`.

use std::collections::BTreeMap;

use crate::api::{AfterRestore, CarryOver, TimeToLiveMode};

/// Steps done after the table is ACTIVE, in order; each is recorded once done.
pub const STEP_TAGS: &str = "tags";
pub const STEP_PITR: &str = "pointInTimeRecovery";
pub const STEP_DELETION_PROTECTION: &str = "deletionProtection";
pub const STEP_TTL: &str = "timeToLive";
pub const STEP_STREAMS: &str = "streams";
pub const STEP_AUTO_SCALING: &str = "autoScaling";
pub const STEP_RESOURCE_POLICY: &str = "resourcePolicy";

/// Every step, in the order they run. The resource-based policy comes last: a copied policy
/// that denies some action (UpdateTable, say) to all but a few principals then cannot stop the
/// operator's own earlier steps on the new table.
pub const STEPS: [&str; 7] =
    [STEP_TAGS, STEP_PITR, STEP_DELETION_PROTECTION, STEP_TTL, STEP_STREAMS, STEP_AUTO_SCALING, STEP_RESOURCE_POLICY];

/// One step as the spec asks for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AfterStep {
    /// Tag the new table: the source's tags (when `copy` and the source still exists), then these.
    Tags {
        copy: bool,
        extra: BTreeMap<String, String>,
    },
    /// Turn PITR on with this recovery period.
    Pitr {
        days: i32,
    },
    DeletionProtection,
    /// The source's TTL attribute, when the source still exists and has one.
    CopyTtl,
    /// The source's stream view type, when the source still exists and has a stream.
    CopyStream,
    /// The source's scalable targets and target-tracking policies, for the table and its kept
    /// indexes, when the source still exists and the new table is PROVISIONED.
    CopyAutoScaling,
    /// The source's resource-based policy, its table ARN rewritten, when the source still
    /// exists and has one.
    CopyResourcePolicy,
    /// Not asked for: recorded as done with no call.
    Nothing,
}

/// The steps not done yet, in order, by name.
pub fn pending(spec: &AfterRestore, done: &[String]) -> Vec<(&'static str, AfterStep)> {
    STEPS
        .into_iter()
        .filter(|step| !done.iter().any(|d| d == step))
        .map(|step| {
            let what = match step {
                STEP_TAGS => AfterStep::Tags { copy: spec.copy_tags, extra: spec.tags.clone() },
                STEP_PITR => match &spec.point_in_time_recovery {
                    Some(pitr) if pitr.enabled => AfterStep::Pitr { days: pitr.recovery_period_in_days },
                    _ => AfterStep::Nothing,
                },
                STEP_DELETION_PROTECTION if spec.deletion_protection == Some(true) => AfterStep::DeletionProtection,
                STEP_TTL if spec.time_to_live == TimeToLiveMode::Copy => AfterStep::CopyTtl,
                STEP_STREAMS if spec.streams == CarryOver::Copy => AfterStep::CopyStream,
                STEP_AUTO_SCALING if spec.auto_scaling == CarryOver::Copy => AfterStep::CopyAutoScaling,
                STEP_RESOURCE_POLICY if spec.resource_policy == CarryOver::Copy => AfterStep::CopyResourcePolicy,
                _ => AfterStep::Nothing,
            };
            (step, what)
        })
        .collect()
}

/// Whether a pending step reads the source table (so one look tells whether it still exists).
pub fn needs_source(pending: &[(&str, AfterStep)]) -> bool {
    pending.iter().any(|(_, s)| {
        matches!(
            s,
            AfterStep::Tags { copy: true, .. }
                | AfterStep::CopyTtl
                | AfterStep::CopyStream
                | AfterStep::CopyAutoScaling
                | AfterStep::CopyResourcePolicy
        )
    })
}

/// The IAM actions a step needs, for the message of an AccessDenied.
pub fn required_actions(step: &str) -> &'static str {
    match step {
        STEP_TAGS => "dynamodb:ListTagsOfResource on the source table and dynamodb:TagResource on the new one",
        STEP_PITR => "dynamodb:UpdateContinuousBackups on the new table",
        STEP_DELETION_PROTECTION | STEP_STREAMS => "dynamodb:UpdateTable on the new table",
        STEP_TTL => "dynamodb:DescribeTimeToLive on the source table and dynamodb:UpdateTimeToLive on the new one",
        STEP_AUTO_SCALING => {
            "application-autoscaling:DescribeScalableTargets, application-autoscaling:DescribeScalingPolicies, \
             application-autoscaling:RegisterScalableTarget and application-autoscaling:PutScalingPolicy, with \
             dynamodb:DescribeTable and dynamodb:UpdateTable on the new table and cloudwatch:DescribeAlarms, \
             cloudwatch:PutMetricAlarm and cloudwatch:DeleteAlarms (Application Auto Scaling checks the caller \
             has them), and iam:CreateServiceLinkedRole for dynamodb.application-autoscaling.amazonaws.com if \
             the account has no AWSServiceRoleForApplicationAutoScaling_DynamoDBTable yet"
        }
        STEP_RESOURCE_POLICY => "dynamodb:GetResourcePolicy on the source table and dynamodb:PutResourcePolicy on the new one",
        _ => "the action named in the error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::PointInTimeRecoverySpec;

    #[test]
    fn only_the_steps_not_done_come_and_in_order() {
        let spec = AfterRestore {
            copy_tags: true,
            point_in_time_recovery: Some(PointInTimeRecoverySpec { enabled: true, recovery_period_in_days: 7 }),
            deletion_protection: Some(true),
            ..Default::default()
        };
        let all = pending(&spec, &[]);
        let names: Vec<&str> = all.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, STEPS);
        assert_eq!(all[1].1, AfterStep::Pitr { days: 7 });
        assert!(needs_source(&all));
        let rest = pending(&spec, &[STEP_TAGS.to_owned(), STEP_PITR.to_owned()]);
        assert_eq!(rest.iter().map(|(n, _)| *n).collect::<Vec<_>>(), STEPS[2..]);
        assert_eq!(
            rest[1..].iter().map(|(_, s)| s.clone()).collect::<Vec<_>>(),
            [AfterStep::CopyTtl, AfterStep::CopyStream, AfterStep::CopyAutoScaling, AfterStep::CopyResourcePolicy]
        );
        let plain = AfterRestore {
            copy_tags: false,
            time_to_live: TimeToLiveMode::None,
            streams: CarryOver::None,
            resource_policy: CarryOver::None,
            auto_scaling: CarryOver::None,
            ..Default::default()
        };
        let plain = pending(&plain, &[]);
        assert!(plain.iter().skip(1).all(|(_, s)| *s == AfterStep::Nothing));
        assert!(!needs_source(&plain));
    }
}
