//! The vocabulary of the operator, with no I/O: the three custom resources of
//! `dynamobackup.io/v1alpha1` (their Rust types, schema, CEL rules and printer columns), and in
//! `facts` what the operator reads from AWS, as plain data.

// kube's `printcolumn(name = …, type_ = …)` repeats keys inside one attribute by design; clippy
// reads each repetition as a duplicated attribute.
#![allow(clippy::duplicated_attributes)]

mod backup;
mod common;
mod copyback;
pub mod facts;
mod policy;
mod restore;

pub use backup::*;
pub use common::*;
pub use copyback::*;
pub use policy::*;
pub use restore::*;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// The API group all three kinds live in.
pub const GROUP: &str = "dynamobackup.io";

/// The operator's finalizer: on objects whose deletion must clean up DynamoDB state.
pub const FINALIZER: &str = "dynamobackup.io/cleanup";

/// Every CRD the operator owns, in a stable order (the order of files in `crds/`).
pub fn all_crds() -> Vec<(&'static str, CustomResourceDefinition)> {
    vec![
        ("dynamobackup", without_null_enum_values(DynamoBackup::crd())),
        ("dynamobackuppolicy", without_null_enum_values(DynamoBackupPolicy::crd())),
        ("dynamorestore", without_null_enum_values(DynamoRestore::crd())),
    ]
}

/// schemars lists `null` among the values of an optional enum; `nullable: true` already says
/// that, and apiservers before 1.22 mishandle a CRD whose enum holds `null`.
fn without_null_enum_values(crd: CustomResourceDefinition) -> CustomResourceDefinition {
    fn strip(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::Array(values)) = map.get_mut("enum") {
                    values.retain(|v| !v.is_null());
                }
                map.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let Ok(mut value) = serde_json::to_value(&crd) else { return crd };
    strip(&mut value);
    serde_json::from_value(value).unwrap_or(crd)
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

    /// `kubectl explain` must have something to say about every field a user can meet.
    #[test]
    fn every_schema_property_has_a_description() {
        fn walk(path: &str, schema: &serde_json::Value, missing: &mut Vec<String>) {
            let Some(map) = schema.as_object() else { return };
            if let Some(serde_json::Value::Object(properties)) = map.get("properties") {
                for (name, property) in properties {
                    let here = format!("{path}.{name}");
                    let described = property.get("description").and_then(|d| d.as_str()).is_some_and(|d| !d.trim().is_empty());
                    if !described {
                        missing.push(here.clone());
                    }
                    walk(&here, property, missing);
                }
            }
            if let Some(items) = map.get("items") {
                walk(&format!("{path}[]"), items, missing);
            }
            if let Some(serde_json::Value::Object(_)) = map.get("additionalProperties") {
                walk(&format!("{path}{{}}"), &map["additionalProperties"], missing);
            }
        }
        let mut missing = Vec::new();
        for (file, crd) in all_crds() {
            for version in &crd.spec.versions {
                let schema = version.schema.as_ref().and_then(|s| s.open_api_v3_schema.as_ref());
                let value = serde_json::to_value(schema).expect("a schema always serializes");
                walk(file, &value, &mut missing);
            }
        }
        assert!(
            missing.is_empty(),
            "schema properties without a description (add a doc comment to the Rust field):\n{}",
            missing.join("\n")
        );
    }

    /// The chart ships the same CRDs as `crds/`, byte for byte: one source of truth.
    #[test]
    fn chart_crds_are_copies_of_the_crds_folder() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let names = |dir: &std::path::Path| -> Vec<String> {
            let mut names: Vec<String> = std::fs::read_dir(dir)
                .map(|entries| entries.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
                .unwrap_or_default();
            names.sort();
            names
        };
        let chart = root.join("charts/dynamo-backup-operator/crds");
        let expected = names(&root.join("crds"));
        assert!(!expected.is_empty(), "crds/ is empty");
        assert_eq!(names(&chart), expected, "the chart's crds/ must hold exactly the files of crds/; run `make crds`");
        for name in expected {
            let source = std::fs::read(root.join("crds").join(&name)).unwrap_or_default();
            let copy = std::fs::read(chart.join(&name)).unwrap_or_default();
            assert!(source == copy, "{} differs from crds/{name}; run `make crds`", chart.join(&name).display());
        }
    }
}
