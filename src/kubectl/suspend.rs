//! `suspend` and `resume`: stop a policy's scheduled snapshots, or take them again
//! (`spec.schedule.suspend`).

use kube::{
    Api,
    api::{Patch, PatchParams},
};

use super::{
    client::{Ctx, where_},
    failure::{Failure, api_failed, refused},
};
use crate::api::DynamoBackupPolicy;

/// `suspend` (`suspended`) or `resume`: sets `spec.schedule.suspend`; refused for a policy
/// without a schedule.
pub(super) async fn suspend(ctx: &Ctx, policy: &str, suspended: bool) -> Result<(), Failure> {
    let api: Api<DynamoBackupPolicy> = ctx.api();
    let current = match api.get_opt(policy).await {
        Ok(Some(p)) => p,
        Ok(None) => return Err(refused(format!("DynamoBackupPolicy {policy} not found in {}", where_(ctx)))),
        Err(e) => return Err(api_failed(&format!("reading DynamoBackupPolicy {policy}"), e)),
    };
    if current.spec.schedule.is_none() {
        return Err(refused(format!("policy {policy} has no schedule to {}", if suspended { "suspend" } else { "resume" })));
    }
    let patch = serde_json::json!({"spec": {"schedule": {"suspend": suspended}}});
    api.patch(policy, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| api_failed(&format!("patching DynamoBackupPolicy {policy}"), e))?;
    eprintln!(
        "dynamobackuppolicy/{policy} {}",
        if suspended { "suspended: no scheduled snapshots (PITR and pre-rollout snapshots go on)" } else { "resumed" }
    );
    Ok(())
}
