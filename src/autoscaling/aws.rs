//! The Application Auto Scaling port on the AWS SDK (aws-sdk-applicationautoscaling): requests
//! built from the port's plain data, answers read back into it; every call goes through the
//! seam's paced, counted `Caller`.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_applicationautoscaling::{
    Client,
    config::http::HttpResponse,
    error::{ProvideErrorMetadata, SdkError},
    types::{
        self as t, MetricType, PolicyType, PredefinedMetricSpecification, ScalableDimension, ServiceNamespace, SuspendedState,
        TargetTrackingScalingPolicyConfiguration,
    },
};

use super::port::AutoScalingPort;
use crate::api::facts::{ScalableTarget, ScalingPolicy, Scope, TargetTracking};
use crate::aws::{AwsError, AwsResult, CallObserver, Caller, ErrorClass, Lane, Pacer, RegionalClients, Service};

/// Resource ids asked about in one DescribeScalableTargets call.
const IDS_PER_CALL: usize = 50;

pub struct AwsAutoScaling {
    clients: RegionalClients<Client>,
    caller: Caller,
}

impl AwsAutoScaling {
    pub fn new(clients: RegionalClients<Client>, pacer: Pacer, observer: Arc<dyn CallObserver>) -> Self {
        let caller = Caller::new(Service::ApplicationAutoScaling, pacer, observer, clients.default_region());
        Self { clients, caller }
    }

    /// Every call is in the `Now` lane: a restore someone waits for. Two codes mean something
    /// else here than in DynamoDB: LimitExceededException is a quota of targets or policies
    /// (it does not drain by itself), ConcurrentUpdateException a target being changed (it does).
    async fn call<T, E, Fut>(&self, scope: &Scope, operation: &'static str, request: Fut) -> AwsResult<T>
    where
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        self.caller.call(scope, operation, Lane::Now, request).await.map_err(|mut err| {
            if err.is_code("LimitExceededException") {
                err.class = ErrorClass::Terminal;
            } else if err.is_code("ConcurrentUpdateException") {
                err.class = ErrorClass::Transient;
            }
            err
        })
    }
}

fn build_error(operation: &'static str, err: aws_sdk_applicationautoscaling::error::BuildError) -> AwsError {
    AwsError::terminal(Service::ApplicationAutoScaling, operation, "InvalidRequest", err.to_string())
}

fn target_from(t: &t::ScalableTarget) -> ScalableTarget {
    ScalableTarget {
        resource_id: t.resource_id().to_owned(),
        dimension: t.scalable_dimension().as_str().to_owned(),
        min_capacity: t.min_capacity(),
        max_capacity: t.max_capacity(),
        role_arn: Some(t.role_arn().to_owned()).filter(|r| !r.is_empty()),
        suspended: t
            .suspended_state()
            .map(|s| (s.dynamic_scaling_in_suspended(), s.dynamic_scaling_out_suspended(), s.scheduled_scaling_suspended())),
    }
}

fn policy_from(p: &t::ScalingPolicy) -> ScalingPolicy {
    ScalingPolicy {
        name: p.policy_name().to_owned(),
        resource_id: p.resource_id().to_owned(),
        dimension: p.scalable_dimension().as_str().to_owned(),
        policy_type: p.policy_type().as_str().to_owned(),
        target_tracking: p.target_tracking_scaling_policy_configuration().map(|c| TargetTracking {
            target_value: c.target_value(),
            predefined_metric: c.predefined_metric_specification().map(|m| m.predefined_metric_type().as_str().to_owned()),
            resource_label: c.predefined_metric_specification().and_then(|m| m.resource_label()).map(str::to_owned),
            scale_in_cooldown: c.scale_in_cooldown(),
            scale_out_cooldown: c.scale_out_cooldown(),
            disable_scale_in: c.disable_scale_in(),
        }),
    }
}

#[async_trait]
impl AutoScalingPort for AwsAutoScaling {
    async fn scalable_targets(&self, scope: &Scope, resource_ids: &[String]) -> AwsResult<Vec<ScalableTarget>> {
        let client = self.clients.for_scope(scope).await;
        let mut targets = Vec::new();
        for ids in resource_ids.chunks(IDS_PER_CALL) {
            let mut token: Option<String> = None;
            loop {
                let req = client
                    .describe_scalable_targets()
                    .service_namespace(ServiceNamespace::Dynamodb)
                    .set_resource_ids(Some(ids.to_vec()))
                    .set_next_token(token.clone())
                    .send();
                let out = self.call(scope, "DescribeScalableTargets", req).await?;
                // Filter here too: not every implementation honours the request's filters.
                targets.extend(out.scalable_targets().iter().filter(|t| ids.iter().any(|id| id == t.resource_id())).map(target_from));
                match out.next_token() {
                    Some(next) if !next.is_empty() && Some(next) != token.as_deref() => token = Some(next.to_owned()),
                    _ => break,
                }
            }
        }
        Ok(targets)
    }

    async fn scaling_policies(&self, scope: &Scope, resource_id: &str) -> AwsResult<Vec<ScalingPolicy>> {
        let client = self.clients.for_scope(scope).await;
        let mut policies = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let req = client
                .describe_scaling_policies()
                .service_namespace(ServiceNamespace::Dynamodb)
                .resource_id(resource_id)
                .set_next_token(token.clone())
                .send();
            let out = self.call(scope, "DescribeScalingPolicies", req).await?;
            policies.extend(out.scaling_policies().iter().filter(|p| p.resource_id() == resource_id).map(policy_from));
            match out.next_token() {
                Some(next) if !next.is_empty() && Some(next) != token.as_deref() => token = Some(next.to_owned()),
                _ => return Ok(policies),
            }
        }
    }

    async fn register_scalable_target(&self, scope: &Scope, target: &ScalableTarget) -> AwsResult<()> {
        let mut req = self
            .clients
            .for_scope(scope)
            .await
            .register_scalable_target()
            .service_namespace(ServiceNamespace::Dynamodb)
            .resource_id(&target.resource_id)
            .scalable_dimension(ScalableDimension::from(target.dimension.as_str()))
            .min_capacity(target.min_capacity)
            .max_capacity(target.max_capacity)
            .set_role_arn(target.role_arn.clone());
        if let Some((scale_in, scale_out, scheduled)) = target.suspended {
            req = req.suspended_state(
                SuspendedState::builder()
                    .set_dynamic_scaling_in_suspended(scale_in)
                    .set_dynamic_scaling_out_suspended(scale_out)
                    .set_scheduled_scaling_suspended(scheduled)
                    .build(),
            );
        }
        self.call(scope, "RegisterScalableTarget", req.send()).await.map(|_| ())
    }

    async fn put_scaling_policy(&self, scope: &Scope, policy: &ScalingPolicy) -> AwsResult<()> {
        const OP: &str = "PutScalingPolicy";
        let Some(tracking) = &policy.target_tracking else {
            return Err(AwsError::terminal(
                Service::ApplicationAutoScaling,
                OP,
                "InvalidRequest",
                "only target-tracking policies are put".into(),
            ));
        };
        let mut config = TargetTrackingScalingPolicyConfiguration::builder()
            .target_value(tracking.target_value)
            .set_scale_in_cooldown(tracking.scale_in_cooldown)
            .set_scale_out_cooldown(tracking.scale_out_cooldown)
            .set_disable_scale_in(tracking.disable_scale_in);
        if let Some(metric) = &tracking.predefined_metric {
            let spec = PredefinedMetricSpecification::builder()
                .predefined_metric_type(MetricType::from(metric.as_str()))
                .set_resource_label(tracking.resource_label.clone())
                .build()
                .map_err(|e| build_error(OP, e))?;
            config = config.predefined_metric_specification(spec);
        }
        let req = self
            .clients
            .for_scope(scope)
            .await
            .put_scaling_policy()
            .policy_name(&policy.name)
            .service_namespace(ServiceNamespace::Dynamodb)
            .resource_id(&policy.resource_id)
            .scalable_dimension(ScalableDimension::from(policy.dimension.as_str()))
            .policy_type(PolicyType::TargetTrackingScaling)
            .target_tracking_scaling_policy_configuration(config.build().map_err(|e| build_error(OP, e))?)
            .send();
        self.call(scope, OP, req).await.map(|_| ())
    }
}
