//! The DynamoBackups and DynamoRestores of every watched namespace (from the one watch their
//! controller runs), indexed by the policy that made them, so a policy's reconcile finds its
//! children (snapshots, drills) without a LIST, and a child's change wakes its policy instead of
//! the policy polling.

use std::{
    collections::{BTreeSet, HashMap},
    hash::{Hash, Hasher},
    sync::{Arc, RwLock},
};

use kube::{
    Resource, ResourceExt,
    runtime::{reflector::Store, watcher},
};

use crate::api::{BackupPhase, DynamoBackup, DynamoRestore, RestorePhase, VerificationResult, labels};

/// A kind a policy makes (its DynamoBackups, its drills' DynamoRestores): what in an object
/// wakes the policy that made it when it changes.
pub trait Child: Resource<DynamicType = ()> + Clone + Send + Sync + 'static {
    /// The part of the object (beyond its generation and deletion) its policy cares about.
    type Facts: Clone + std::fmt::Debug + PartialEq + Hash + Send + Sync;
    fn facts(&self) -> Self::Facts;
}

impl Child for DynamoBackup {
    /// Phase, snapshot time, pinned.
    type Facts = (Option<BackupPhase>, Option<jiff::Timestamp>, bool);
    fn facts(&self) -> Self::Facts {
        let status = self.status.as_ref();
        (
            status.and_then(|s| s.phase),
            status.and_then(|s| s.created_at.as_ref()).map(|t| t.0),
            self.labels().get(labels::PINNED).is_some_and(|v| v == "true"),
        )
    }
}

impl Child for DynamoRestore {
    /// Phase and the verdict of its checks.
    type Facts = (Option<RestorePhase>, Option<VerificationResult>);
    fn facts(&self) -> Self::Facts {
        let status = self.status.as_ref();
        (status.and_then(|s| s.phase), status.and_then(|s| s.verification.as_ref()).and_then(|v| v.result))
    }
}

/// The objects of one kind the operator watches, and the policies that made them.
pub struct ChildCache<K: Child> {
    stores: RwLock<Vec<Store<K>>>,
    /// (namespace, policy label value) -> names of the objects carrying that label.
    by_policy: RwLock<HashMap<(String, String), BTreeSet<String>>>,
    /// (namespace, policy label value) -> the policy's name, for labels that are not names.
    policies: RwLock<HashMap<(String, String), String>>,
}

impl<K: Child> Default for ChildCache<K> {
    fn default() -> Self {
        Self { stores: RwLock::default(), by_policy: RwLock::default(), policies: RwLock::default() }
    }
}

/// What one watch event means beyond the cache: a reconcile of the object itself, and a
/// wake-up of the policy that made it.
#[derive(Debug)]
pub struct Followed<K> {
    /// The object's spec (or deletion) changed: its own reconcile.
    pub reconcile: Option<Arc<K>>,
    /// (namespace, policy name) whose child appeared, changed what matters or went away.
    pub wake_policy: Option<(String, String)>,
}

/// What a policy cares about in a child (and the child's controller in its spec): a change of
/// these wakes it. The facts are kept as their hash: thousands of children are followed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Digest {
    generation: Option<i64>,
    deleting: bool,
    facts: u64,
}

/// The last digest of each followed object, by a hash of its uid (about 40 bytes an object, not
/// a uid string and the facts).
pub type Digests = HashMap<u64, Digest>;

fn hash_of(value: &impl Hash) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

fn digest<K: Child>(obj: &K) -> Digest {
    Digest { generation: obj.meta().generation, deleting: obj.meta().deletion_timestamp.is_some(), facts: hash_of(&obj.facts()) }
}

impl<K: Child> ChildCache<K> {
    /// A store of one watched namespace (or of all).
    pub fn add_store(&self, store: Store<K>) {
        self.stores.write().unwrap_or_else(|p| p.into_inner()).push(store);
    }

    /// Waits until every store has had its first list; false when that takes longer than
    /// `within` (the caller retries instead of reading an empty cache).
    pub async fn wait_ready(&self, within: std::time::Duration) -> bool {
        let stores: Vec<Store<K>> = self.stores.read().unwrap_or_else(|p| p.into_inner()).clone();
        let all = async {
            for store in stores {
                if super::listed_within(&store, within).await != super::Listed::Yes {
                    return false;
                }
            }
            true
        };
        tokio::time::timeout(within, all).await.unwrap_or(false)
    }

    /// The policy `name` of `namespace` carries `label` on its children (its label value).
    pub fn name_policy(&self, namespace: &str, label: &str, name: &str) {
        if label != name {
            let mut policies = self.policies.write().unwrap_or_else(|p| p.into_inner());
            policies.insert((namespace.to_owned(), label.to_owned()), name.to_owned());
        }
    }

    /// The objects of `namespace` labelled as made by the policy with label value `label`.
    pub fn children(&self, namespace: &str, label: &str) -> Vec<Arc<K>> {
        let names: Vec<String> = {
            let index = self.by_policy.read().unwrap_or_else(|p| p.into_inner());
            index.get(&(namespace.to_owned(), label.to_owned())).map(|n| n.iter().cloned().collect()).unwrap_or_default()
        };
        let stores = self.stores.read().unwrap_or_else(|p| p.into_inner());
        names
            .iter()
            .filter_map(|name| {
                let key = kube::runtime::reflector::ObjectRef::new(name).within(namespace);
                stores.iter().find_map(|store| store.get(&key))
            })
            .collect()
    }

    /// The name of the policy that made object `name` of `namespace`, if one did.
    pub fn policy_of_child(&self, namespace: &str, name: &str) -> Option<String> {
        let key = kube::runtime::reflector::ObjectRef::new(name).within(namespace);
        let stores = self.stores.read().unwrap_or_else(|p| p.into_inner());
        let obj = stores.iter().find_map(|store| store.get(&key))?;
        let label = obj.labels().get(labels::POLICY)?.clone();
        drop(stores);
        Some(self.policy_of(namespace, &label))
    }

    /// Every cached object.
    pub fn all(&self) -> Vec<Arc<K>> {
        let stores = self.stores.read().unwrap_or_else(|p| p.into_inner());
        stores.iter().flat_map(|s| s.state()).collect()
    }

    /// Every cached object of `namespace`.
    pub fn in_namespace(&self, namespace: &str) -> Vec<Arc<K>> {
        self.all().into_iter().filter(|o| o.meta().namespace.as_deref() == Some(namespace)).collect()
    }

    fn policy_of(&self, namespace: &str, label: &str) -> String {
        let policies = self.policies.read().unwrap_or_else(|p| p.into_inner());
        policies.get(&(namespace.to_owned(), label.to_owned())).cloned().unwrap_or_else(|| label.to_owned())
    }

    /// Files one watch event (after the store took it); `seen` keeps the last digest per uid.
    pub fn follow(&self, event: &watcher::Event<K>, seen: &mut Digests) -> Vec<Followed<K>> {
        match event {
            watcher::Event::Apply(obj) | watcher::Event::InitApply(obj) => vec![self.applied(obj, seen)],
            watcher::Event::Delete(obj) => {
                seen.remove(&hash_of(&obj.uid()));
                vec![Followed { reconcile: None, wake_policy: self.unindex(obj) }]
            }
            watcher::Event::Init | watcher::Event::InitDone => Vec::new(),
        }
    }

    fn applied(&self, obj: &K, seen: &mut Digests) -> Followed<K> {
        let now = digest(obj);
        let before = seen.insert(hash_of(&obj.uid()), now);
        let namespace = obj.namespace().unwrap_or_default();
        let label = obj.labels().get(labels::POLICY).cloned();
        if let Some(label) = &label {
            let mut index = self.by_policy.write().unwrap_or_else(|p| p.into_inner());
            index.entry((namespace.clone(), label.clone())).or_default().insert(obj.name_any());
        }
        let spec_changed = before.as_ref().is_none_or(|b| b.generation != now.generation || b.deleting != now.deleting);
        Followed {
            reconcile: spec_changed.then(|| Arc::new(obj.clone())),
            wake_policy: label
                .filter(|_| before.as_ref() != Some(&now))
                .map(|label| (namespace.clone(), self.policy_of(&namespace, &label))),
        }
    }

    fn unindex(&self, obj: &K) -> Option<(String, String)> {
        let namespace = obj.namespace().unwrap_or_default();
        let label = obj.labels().get(labels::POLICY)?.clone();
        let mut index = self.by_policy.write().unwrap_or_else(|p| p.into_inner());
        let key = (namespace.clone(), label.clone());
        if let Some(names) = index.get_mut(&key) {
            names.remove(&obj.name_any());
            if names.is_empty() {
                index.remove(&key);
            }
        }
        drop(index);
        Some((namespace.clone(), self.policy_of(&namespace, &label)))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use jiff::Timestamp;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    use super::*;
    use crate::api::{DynamoBackupSpec, DynamoBackupStatus};
    use crate::caches::slim;

    fn child(name: &str, policy: Option<&str>, generation: i64, phase: Option<BackupPhase>) -> DynamoBackup {
        let mut b = DynamoBackup::new(name, DynamoBackupSpec::for_table("Orders"));
        b.metadata.namespace = Some("shop".into());
        b.metadata.uid = Some(format!("uid-{name}"));
        b.metadata.generation = Some(generation);
        b.metadata.labels = policy.map(|p| BTreeMap::from([(labels::POLICY.to_owned(), p.to_owned())]));
        b.status = Some(DynamoBackupStatus { phase, created_at: Some(Time(Timestamp::UNIX_EPOCH)), ..Default::default() });
        b
    }

    #[test]
    fn a_child_wakes_its_policy_on_what_matters_and_reconciles_on_spec_changes_only() {
        let cache = ChildCache::<DynamoBackup>::default();
        let mut seen = HashMap::new();
        let new = cache.follow(&watcher::Event::Apply(child("b1", Some("nightly"), 1, None)), &mut seen);
        assert!(new[0].reconcile.is_some(), "a new backup is reconciled");
        assert_eq!(new[0].wake_policy, Some(("shop".into(), "nightly".into())));

        // Its own status write: the policy hears of the phase, the backup is not reconciled again.
        let available = cache.follow(&watcher::Event::Apply(child("b1", Some("nightly"), 1, Some(BackupPhase::Available))), &mut seen);
        assert!(available[0].reconcile.is_none());
        assert!(available[0].wake_policy.is_some());

        // The same again (a resync): nobody.
        let same = cache.follow(&watcher::Event::Apply(child("b1", Some("nightly"), 1, Some(BackupPhase::Available))), &mut seen);
        assert!(same[0].reconcile.is_none() && same[0].wake_policy.is_none());

        // A spec change: the backup is reconciled.
        let edited = cache.follow(&watcher::Event::Apply(child("b1", Some("nightly"), 2, Some(BackupPhase::Available))), &mut seen);
        assert!(edited[0].reconcile.is_some());

        // A backup of no policy wakes none.
        let mine = cache.follow(&watcher::Event::Apply(child("manual", None, 1, None)), &mut seen);
        assert!(mine[0].wake_policy.is_none());

        // Gone: the policy hears of it.
        let gone = cache.follow(&watcher::Event::Delete(child("b1", Some("nightly"), 2, Some(BackupPhase::Available))), &mut seen);
        assert_eq!(gone[0].wake_policy, Some(("shop".into(), "nightly".into())));
    }

    #[test]
    fn a_hashed_label_wakes_the_policy_by_its_name() {
        let cache = ChildCache::<DynamoBackup>::default();
        cache.name_policy("shop", "long-policy-name-cut-1234abcd", "long-policy-name-that-did-not-fit");
        let mut seen = HashMap::new();
        let followed = cache.follow(&watcher::Event::Apply(child("b1", Some("long-policy-name-cut-1234abcd"), 1, None)), &mut seen);
        assert_eq!(followed[0].wake_policy, Some(("shop".into(), "long-policy-name-that-did-not-fit".into())));
    }

    #[test]
    fn slim_keeps_what_controllers_read_and_drops_the_rest() {
        let mut b = child("b1", Some("nightly"), 1, Some(BackupPhase::Available));
        b.metadata.managed_fields = Some(vec![Default::default()]);
        b.metadata.annotations = Some(BTreeMap::from([
            ("kubectl.kubernetes.io/last-applied-configuration".to_owned(), "{...}".to_owned()),
            (labels::SCHEDULED_TIME.to_owned(), "2026-12-02T06:00:00Z".to_owned()),
        ]));
        b.metadata.owner_references = Some(vec![Default::default()]);
        b.metadata.finalizers = Some(vec!["dynamobackup.io/cleanup".to_owned()]);
        let before = b.clone();
        slim(&mut b);
        assert!(b.metadata.managed_fields.is_none() && b.metadata.annotations.is_none() && b.metadata.owner_references.is_none());
        assert_eq!(
            (&b.metadata.labels, &b.metadata.finalizers, &b.metadata.generation),
            (&before.metadata.labels, &before.metadata.finalizers, &before.metadata.generation)
        );
        assert_eq!((&b.spec, &b.status), (&before.spec, &before.status));
    }
}
