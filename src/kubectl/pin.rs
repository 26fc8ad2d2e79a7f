//! `pin` and `unpin`: exempt a DynamoBackup from retention, or make it subject to it again (the
//! label `labels::PINNED`).

use kube::{
    Api,
    api::{Patch, PatchParams},
};

use super::{
    client::{Ctx, where_},
    failure::{Failure, api_failed, refused},
};
use crate::api::{DynamoBackup, labels};

/// `pin` (`pinned`) or `unpin`: sets or removes the label on the DynamoBackup.
pub(super) async fn pin(ctx: &Ctx, backup: &str, pinned: bool) -> Result<(), Failure> {
    let api: Api<DynamoBackup> = ctx.api();
    let value = if pinned { serde_json::json!("true") } else { serde_json::Value::Null };
    let patch = serde_json::json!({"metadata": {"labels": {labels::PINNED: value}}});
    match api.patch(backup, &PatchParams::default(), &Patch::Merge(&patch)).await {
        Ok(_) => {
            eprintln!("dynamobackup/{backup} {}", if pinned { "pinned: retention keeps it" } else { "unpinned: retention may delete it" });
            Ok(())
        }
        Err(kube::Error::Api(status)) if status.code == 404 => Err(refused(format!("DynamoBackup {backup} not found in {}", where_(ctx)))),
        Err(e) => Err(api_failed(&format!("patching DynamoBackup {backup}"), e)),
    }
}
