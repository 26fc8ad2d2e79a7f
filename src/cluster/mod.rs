//! The apiserver writes the controllers make, behind one trait: status by server-side apply,
//! finalizers, creating and deleting the objects a policy makes, the odd fresh read, and events.
//! `Kube` makes them against the apiserver; the state-machine tests use an in-memory cluster.
//! Objects travel as JSON with their `ApiResource`, so one trait serves every kind.

mod kube_api;
#[cfg(test)]
pub mod memory;
mod port;

pub use kube_api::Kube;
pub use port::{Cluster, FIELD_MANAGER, Target, create, get};
