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

#[cfg(test)]
mod tests {
    use super::*;

    /// `crds/` is what users apply and what the chart ships; it must be what the types say.
    #[test]
    fn crds_folder_matches_the_rust_types() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
        for (file, crd) in all_crds() {
            let path = dir.join(format!("{file}.yaml"));
            let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
            let generated = crd_yaml(&crd).expect("a CRD always serializes");
            assert!(
                on_disk == generated,
                "{} differs from the Rust types; regenerate with `cargo run -- crd --output-dir crds`",
                path.display()
            );
        }
    }
}
