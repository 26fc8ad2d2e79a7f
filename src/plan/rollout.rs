//! Pre-rollout snapshots: which workloads a policy follows, and which of their pod-template
//! changes call for a snapshot. A workload seen for the first time is recorded, not
//! snapshotted: there was no rollout. A change of replicas leaves the template, and its hash,
//! as they were.

use std::collections::BTreeMap;

use kube::core::{Selector, SelectorExt};
use sha2::{Digest, Sha256};

use crate::api::{RolloutStatus, WorkloadKind, WorkloadSelector};

/// A short, stable hash of a pod template (its JSON form: k8s-openapi writes fields in a fixed
/// order and maps sorted).
pub fn template_hash(template: &serde_json::Value) -> String {
    let digest = Sha256::digest(template.to_string().as_bytes());
    digest.iter().take(5).map(|b| format!("{b:02x}")).collect()
}

/// Does `selector` choose the workload of this kind, name and labels?
pub fn selects(selector: &WorkloadSelector, kind: WorkloadKind, name: &str, labels: &BTreeMap<String, String>) -> bool {
    if selector.kind != kind {
        return false;
    }
    match (&selector.name, &selector.selector) {
        (Some(wanted), _) => wanted == name,
        (None, Some(label_selector)) => Selector::try_from(label_selector.clone()).is_ok_and(|s| s.matches(labels)),
        (None, None) => false,
    }
}

/// A workload as the policy saw it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub kind: WorkloadKind,
    pub name: String,
    pub hash: String,
}

/// The rollouts to record, and the workloads whose template changed since last seen.
pub fn changes(previous: &[RolloutStatus], seen: &[Seen]) -> (Vec<RolloutStatus>, Vec<Seen>) {
    let mut record = Vec::with_capacity(seen.len());
    let mut snapshot = Vec::new();
    for now in seen {
        let before = previous.iter().find(|r| r.kind == now.kind && r.name == now.name);
        match before {
            Some(r) if r.template_hash == now.hash => record.push(r.clone()),
            Some(_) => {
                snapshot.push(now.clone());
                record.push(RolloutStatus { kind: now.kind, name: now.name.clone(), template_hash: now.hash.clone(), backup: None });
            }
            None => record.push(RolloutStatus { kind: now.kind, name: now.name.clone(), template_hash: now.hash.clone(), backup: None }),
        }
    }
    (record, snapshot)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
    use serde_json::json;

    use super::*;

    fn seen(name: &str, hash: &str) -> Seen {
        Seen { kind: WorkloadKind::Deployment, name: name.into(), hash: hash.into() }
    }

    #[test]
    fn the_hash_follows_the_template() {
        let a = json!({"spec": {"containers": [{"name": "api", "image": "orders:41"}]}});
        let b = json!({"spec": {"containers": [{"name": "api", "image": "orders:42"}]}});
        assert_eq!(template_hash(&a), template_hash(&a.clone()));
        assert_ne!(template_hash(&a), template_hash(&b));
        assert_eq!(template_hash(&a).len(), 10);
    }

    #[test]
    fn selection_by_name_or_labels_and_kind() {
        let by_name = WorkloadSelector { kind: WorkloadKind::Deployment, name: Some("orders-api".into()), selector: None };
        let labels = BTreeMap::from([("app".to_owned(), "orders-worker".to_owned())]);
        assert!(selects(&by_name, WorkloadKind::Deployment, "orders-api", &BTreeMap::new()));
        assert!(!selects(&by_name, WorkloadKind::StatefulSet, "orders-api", &BTreeMap::new()));
        let by_labels = WorkloadSelector {
            kind: WorkloadKind::StatefulSet,
            name: None,
            selector: Some(LabelSelector { match_labels: Some(labels.clone()), match_expressions: None }),
        };
        assert!(selects(&by_labels, WorkloadKind::StatefulSet, "anything", &labels));
        assert!(!selects(&by_labels, WorkloadKind::StatefulSet, "anything", &BTreeMap::new()));
    }

    #[test]
    fn only_a_changed_template_calls_for_a_snapshot() {
        let (first, none) = changes(&[], &[seen("api", "aaaa")]);
        assert!(none.is_empty(), "first sight is not a rollout");
        let (same, none) = changes(&first, &[seen("api", "aaaa")]);
        assert!(none.is_empty());
        assert_eq!(same, first);
        let (after, snap) = changes(&same, &[seen("api", "bbbb")]);
        assert_eq!(snap, vec![seen("api", "bbbb")]);
        assert_eq!(after[0].template_hash, "bbbb");
        let (gone, _) = changes(&after, &[]);
        assert!(gone.is_empty(), "a workload no longer selected is forgotten");
    }
}
