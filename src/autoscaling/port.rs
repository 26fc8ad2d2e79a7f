//! The Application Auto Scaling port: the calls the controllers make for DynamoDB tables and
//! indexes (service namespace `dynamodb`), and nothing else, in plain data. `AwsAutoScaling`
//! implements it with the SDK; the state-machine tests implement it in memory.

use async_trait::async_trait;

use crate::{
    api::facts::{ScalableTarget, ScalingPolicy, Scope},
    aws::AwsResult,
};

#[async_trait]
pub trait AutoScalingPort: Send + Sync {
    /// The scalable targets of these resource ids (`table/NAME`, `table/NAME/index/INDEX`), all
    /// pages.
    async fn scalable_targets(&self, scope: &Scope, resource_ids: &[String]) -> AwsResult<Vec<ScalableTarget>>;

    /// The scaling policies of exactly this resource id, all pages.
    async fn scaling_policies(&self, scope: &Scope, resource_id: &str) -> AwsResult<Vec<ScalingPolicy>>;

    /// Registers a scalable target, or updates the one there (RegisterScalableTarget is an
    /// upsert: calling it again after a crash is harmless).
    async fn register_scalable_target(&self, scope: &Scope, target: &ScalableTarget) -> AwsResult<()>;

    /// Puts a target-tracking policy, or replaces the one of that name (an upsert too).
    async fn put_scaling_policy(&self, scope: &Scope, policy: &ScalingPolicy) -> AwsResult<()>;
}
