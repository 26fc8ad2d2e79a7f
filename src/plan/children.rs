//! The objects a policy makes: one DynamoBackup of one of its tables, built the same way for a
//! schedule slot, a pre-rollout snapshot and the plugin's `backup --policy`.

use std::collections::BTreeMap;

use kube::{ResourceExt, api::ObjectMeta};

use crate::{
    api::{DeletionPolicy, DynamoBackup, DynamoBackupPolicy, DynamoBackupSpec, FINALIZER, labels},
    plan::{
        names::{label_value, table_label_value},
        tables::TableRef,
    },
};

/// A DynamoBackup of `table` made by `policy` for `trigger` (`schedule`, `pre-rollout`,
/// `manual`), kept as the policy's template says.
pub fn policy_backup(policy: &DynamoBackupPolicy, name: &str, table: &str, region: Option<String>, trigger: &str) -> DynamoBackup {
    let labels = BTreeMap::from([
        (labels::POLICY.to_owned(), label_value(&policy.name_any())),
        (labels::TABLE.to_owned(), table_label_value(TableRef::parse(table).map(|t| t.name).as_deref().unwrap_or(table))),
        (labels::TRIGGER.to_owned(), trigger.to_owned()),
    ]);
    // Deliberately no GitOps tracking labels and no owner reference: an Argo CD or Flux prune,
    // or the garbage collector, must never take backups away with the policy.
    // A backup to be deleted with its object carries the finalizer from the start: the
    // DynamoBackup controller finds it there instead of writing it, one apiserver write less on
    // the way of every scheduled backup to its CreateBackup.
    let finalizers = (policy.spec.backup_deletion_policy == DeletionPolicy::Delete).then(|| vec![FINALIZER.to_owned()]);
    DynamoBackup {
        metadata: ObjectMeta { name: Some(name.to_owned()), labels: Some(labels), finalizers, ..Default::default() },
        spec: DynamoBackupSpec {
            table_name: table.to_owned(),
            region,
            backup_name: None,
            deletion_policy: policy.spec.backup_deletion_policy,
            // The policy's template: every snapshot it makes is kept the same way.
            method: policy.spec.backup.as_ref().map(|b| b.method).unwrap_or_default(),
            aws_backup: policy.spec.backup.as_ref().and_then(|b| b.aws_backup.clone()),
        },
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(deletion: DeletionPolicy) -> DynamoBackupPolicy {
        let mut p: DynamoBackupPolicy = serde_json::from_value(serde_json::json!({
            "apiVersion": "dynamobackup.io/v1alpha1",
            "kind": "DynamoBackupPolicy",
            "metadata": {"name": "nightly", "namespace": "shop"},
            "spec": {"tables": ["Orders"]},
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        p.spec.backup_deletion_policy = deletion;
        p
    }

    #[test]
    fn a_backup_deleted_with_its_object_carries_the_finalizer_from_the_start() {
        let made = policy_backup(&policy(DeletionPolicy::Delete), "nightly-orders-1", "Orders", None, "schedule");
        assert_eq!(made.metadata.finalizers, Some(vec![FINALIZER.to_owned()]));
        let kept = policy_backup(&policy(DeletionPolicy::Retain), "nightly-orders-1", "Orders", None, "schedule");
        assert_eq!(kept.metadata.finalizers, None);
    }
}
