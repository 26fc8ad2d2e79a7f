//! What every watch cache drops from an object before keeping it.

use kube::Resource;

/// Drops what no controller reads from a watched object before it is cached: managed fields,
/// annotations (kubectl's last-applied copy, GitOps tracking, a slot's time) and owner
/// references are most of a small object's size, and a cache holds thousands. Nothing writes
/// an object back from the cache (status goes by server-side apply, finalizers by a JSON patch
/// of their own), so what is dropped here is never dropped on the apiserver.
pub fn slim<K: Resource>(obj: &mut K) {
    let meta = obj.meta_mut();
    meta.managed_fields = None;
    meta.annotations = None;
    meta.owner_references = None;
}
