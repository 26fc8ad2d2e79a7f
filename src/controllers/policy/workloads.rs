//! The policy's triggers beyond its own watch: a wake-up from the caches (a child changed, a
//! table was read) and a spec change of a workload it follows for pre-rollout snapshots. The
//! workload watches exist only in namespaces with a `preRollout` policy, started and stopped as
//! such policies come and go.

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use kube::{
    ResourceExt,
    api::ObjectMeta,
    runtime::{
        Controller,
        reflector::{ObjectRef, Store},
    },
};

use crate::{
    api::{DynamoBackupPolicy, WorkloadKind},
    context::Context,
    plan::rollout::selects,
};

/// Further triggers of a policy: a wake-up from the caches (a child changed, a table was read)
/// and a spec change of a workload it follows. The workload watches exist only in namespaces
/// that have a policy with `preRollout`, started and stopped as such policies come and go.
pub fn extend(controller: Controller<DynamoBackupPolicy>, namespace: Option<&str>, ctx: &Arc<Context>) -> Controller<DynamoBackupPolicy> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(follow_workload_namespaces(ctx.clone(), controller.store(), tx));
    let woken = ctx.wake_policies.subscribe(namespace.map(str::to_owned));
    let workloads = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|policy| (policy, rx)) });
    let woken = futures::stream::unfold(woken, |mut rx| async move { rx.recv().await.map(|policy| (policy, rx)) });
    controller.reconcile_on(futures::stream::select(workloads, woken))
}

/// How often the set of namespaces with preRollout policies is looked at (in memory).
pub const WORKLOAD_NAMESPACES_EVERY: Duration = Duration::from_secs(2);

async fn follow_workload_namespaces(
    ctx: Arc<Context>,
    policies: Store<DynamoBackupPolicy>,
    tx: tokio::sync::mpsc::UnboundedSender<ObjectRef<DynamoBackupPolicy>>,
) {
    while !tx.is_closed() {
        let wanted: BTreeSet<String> =
            policies.state().iter().filter(|p| p.spec.pre_rollout.is_some()).filter_map(|p| p.namespace()).collect();
        ctx.workloads.retain(&wanted);
        for namespace in &wanted {
            let (policies, tx) = (policies.clone(), tx.clone());
            ctx.workloads.watch(
                namespace,
                Box::new(move |(kind, workload)| {
                    for policy in following(&policies, kind, &workload) {
                        let _ = tx.send(policy);
                    }
                }),
            );
        }
        tokio::time::sleep(WORKLOAD_NAMESPACES_EVERY).await;
    }
    ctx.workloads.retain(&BTreeSet::new());
}

/// The policies of the workload's namespace that follow it.
fn following(policies: &Store<DynamoBackupPolicy>, kind: WorkloadKind, workload: &ObjectMeta) -> Vec<ObjectRef<DynamoBackupPolicy>> {
    let labels = workload.labels.clone().unwrap_or_default();
    let name = workload.name.clone().unwrap_or_default();
    policies
        .state()
        .iter()
        .filter(|p| p.metadata.namespace == workload.namespace)
        .filter(|p| p.spec.pre_rollout.as_ref().is_some_and(|pre| pre.workloads.iter().any(|sel| selects(sel, kind, &name, &labels))))
        .map(|p| ObjectRef::from_obj(p.as_ref()))
        .collect()
}
