//! An in-memory Application Auto Scaling for the state-machine tests, beside the in-memory
//! DynamoDB: scalable targets and target-tracking policies by region, registered and put as
//! upserts, as the service does. Faults come on demand per operation, as there.

use std::{
    collections::{BTreeMap, VecDeque},
    sync::{Mutex, MutexGuard},
};

use async_trait::async_trait;

use super::port::AutoScalingPort;
use crate::{
    api::facts::{ScalableTarget, ScalingPolicy, Scope},
    aws::{AwsError, AwsResult, Service},
    dynamo::memory::{DEFAULT_REGION, Fault},
    faults::{Tripwire, hang_if},
};

#[derive(Default)]
struct State {
    /// (region, resource id, dimension) -> target.
    targets: BTreeMap<(String, String, String), ScalableTarget>,
    /// (region, resource id, dimension, name) -> policy.
    policies: BTreeMap<(String, String, String, String), ScalingPolicy>,
    faults: BTreeMap<&'static str, VecDeque<Fault>>,
    calls: Vec<&'static str>,
}

#[derive(Default)]
pub struct MemoryAutoScaling {
    state: Mutex<State>,
    tripwire: Tripwire,
}

fn region_of(scope: &Scope) -> String {
    scope.region.clone().unwrap_or_else(|| DEFAULT_REGION.to_owned())
}

impl MemoryAutoScaling {
    /// One whose calls count towards `tripwire`'s crash.
    pub fn wired(tripwire: Tripwire) -> Self {
        Self { state: Mutex::default(), tripwire }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A target registered behind the operator's back (in `region`).
    pub fn add_target(&self, region: &str, target: ScalableTarget) {
        self.lock().targets.insert((region.to_owned(), target.resource_id.clone(), target.dimension.clone()), target);
    }

    /// A policy put behind the operator's back (in `region`).
    pub fn add_policy(&self, region: &str, policy: ScalingPolicy) {
        let key = (region.to_owned(), policy.resource_id.clone(), policy.dimension.clone(), policy.name.clone());
        self.lock().policies.insert(key, policy);
    }

    /// The targets of `region` whose resource id starts with `prefix`.
    pub fn targets(&self, region: &str, prefix: &str) -> Vec<ScalableTarget> {
        self.lock().targets.iter().filter(|((r, id, _), _)| r == region && id.starts_with(prefix)).map(|(_, t)| t.clone()).collect()
    }

    /// The policies of `region` whose resource id starts with `prefix`.
    pub fn policies(&self, region: &str, prefix: &str) -> Vec<ScalingPolicy> {
        self.lock().policies.iter().filter(|((r, id, _, _), _)| r == region && id.starts_with(prefix)).map(|(_, p)| p.clone()).collect()
    }

    pub fn inject(&self, operation: &'static str, fault: Fault) {
        self.lock().faults.entry(operation).or_default().push_back(fault);
    }

    pub fn count(&self, operation: &str) -> usize {
        self.lock().calls.iter().filter(|op| **op == operation).count()
    }

    async fn call<T>(&self, operation: &'static str, effect: impl FnOnce(&mut State) -> AwsResult<T>) -> AwsResult<T> {
        let lost = {
            let mut state = self.lock();
            state.calls.push(operation);
            let refuse = |code: &str, message: String| {
                Err(AwsError::new(Service::ApplicationAutoScaling, operation, Some(code.to_owned()), message, Some(400)))
            };
            match state.faults.get_mut(operation).and_then(VecDeque::pop_front) {
                None => false,
                Some(Fault::Throttle) => return refuse("ThrottlingException", "Rate exceeded".into()),
                Some(Fault::Refuse(code)) => return refuse(code, format!("{operation} refused ({code})")),
                Some(Fault::Lost) => true,
            }
        };
        let result = effect(&mut self.lock());
        let tripped = self.tripwire.count();
        hang_if(lost || tripped).await;
        result
    }
}

#[async_trait]
impl AutoScalingPort for MemoryAutoScaling {
    async fn scalable_targets(&self, scope: &Scope, resource_ids: &[String]) -> AwsResult<Vec<ScalableTarget>> {
        let region = region_of(scope);
        self.call("DescribeScalableTargets", |s| {
            Ok(s.targets.iter().filter(|((r, id, _), _)| *r == region && resource_ids.contains(id)).map(|(_, t)| t.clone()).collect())
        })
        .await
    }

    async fn scaling_policies(&self, scope: &Scope, resource_id: &str) -> AwsResult<Vec<ScalingPolicy>> {
        let region = region_of(scope);
        self.call("DescribeScalingPolicies", |s| {
            Ok(s.policies.iter().filter(|((r, id, _, _), _)| *r == region && id == resource_id).map(|(_, p)| p.clone()).collect())
        })
        .await
    }

    async fn register_scalable_target(&self, scope: &Scope, target: &ScalableTarget) -> AwsResult<()> {
        let region = region_of(scope);
        self.call("RegisterScalableTarget", |s| {
            s.targets.insert((region, target.resource_id.clone(), target.dimension.clone()), target.clone());
            Ok(())
        })
        .await
    }

    async fn put_scaling_policy(&self, scope: &Scope, policy: &ScalingPolicy) -> AwsResult<()> {
        let region = region_of(scope);
        self.call("PutScalingPolicy", |s| {
            if !s.targets.contains_key(&(region.clone(), policy.resource_id.clone(), policy.dimension.clone())) {
                let message = format!("No scalable target registered for {} {}", policy.resource_id, policy.dimension);
                return Err(AwsError::new(
                    Service::ApplicationAutoScaling,
                    "PutScalingPolicy",
                    Some("ObjectNotFoundException".into()),
                    message,
                    Some(400),
                ));
            }
            let key = (region, policy.resource_id.clone(), policy.dimension.clone(), policy.name.clone());
            s.policies.insert(key, policy.clone());
            Ok(())
        })
        .await
    }
}
