//! The three custom resources of `dynamobackup.io/v1alpha1`: their Rust types, schema, CEL
//! rules and printer columns. Nothing here does I/O.

mod backup;
mod common;
mod policy;
mod restore;

pub use backup::*;
pub use common::*;
pub use policy::*;
pub use restore::*;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// The API group all three kinds live in.
pub const GROUP: &str = "dynamobackup.io";

/// Every CRD the operator owns, in a stable order (the order of files in `crds/`).
pub fn all_crds() -> Vec<(&'static str, CustomResourceDefinition)> {
    vec![
        ("dynamobackup", DynamoBackup::crd()),
        ("dynamobackuppolicy", DynamoBackupPolicy::crd()),
        ("dynamorestore", DynamoRestore::crd()),
    ]
}

/// One CRD as the YAML document `crds/<kind>.yaml` holds.
pub fn crd_yaml(crd: &CustomResourceDefinition) -> Result<String, serde_yaml_ng::Error> {
    serde_yaml_ng::to_string(crd)
}
