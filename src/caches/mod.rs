//! What the controllers read instead of asking the apiserver again: the objects policies make
//! (`children`: DynamoBackups and DynamoRestores by the policy that made them) and the workloads
//! policies follow for pre-rollout snapshots (`workloads`).

mod children;
mod listed;
#[cfg(test)]
pub mod memory;
mod slim;
mod workloads;

pub use children::{Child, ChildCache, Digests, Followed};
pub use listed::{Listed, listed_within};
pub use slim::slim;
pub use workloads::{WorkloadCache, WorkloadChange, WorkloadSeen, Workloads};
