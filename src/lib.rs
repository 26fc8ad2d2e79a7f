//! dynamo-backup-operator: keeps Amazon DynamoDB tables recoverable from Kubernetes.
//!
//! Each reconcile is one pipeline: observe (the object, DynamoDB) -> decide (pure functions in
//! `plan`) -> act (the few calls decided, through `dynamo`) -> report (status by server-side
//! apply, events, metrics).

pub mod api;
pub mod autoscaling;
pub mod aws;
pub mod awsbackup;
pub mod caches;
pub mod cli;
pub mod cluster;
pub mod context;
pub mod controllers;
pub mod dynamo;
pub mod events;
#[cfg(test)]
pub mod faults;
pub mod http;
pub mod kubectl;
pub mod leader;
pub mod metrics;
pub mod plan;
pub mod run;
pub mod telemetry;
