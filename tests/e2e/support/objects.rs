//! The operator's objects as the apiserver hands them out: raw JSON, as Argo CD and Flux read
//! them, saved in the run's folder so a failing check can be run again on the same object.

use std::path::PathBuf;

use dynamo_backup_operator::api::{DynamoBackup, DynamoBackupPolicy, DynamoRestore};
use kube::Resource;
use serde_json::Value;

use super::TestCtx;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Backup,
    Restore,
    Policy,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Backup, Kind::Restore, Kind::Policy];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Backup => "DynamoBackup",
            Kind::Restore => "DynamoRestore",
            Kind::Policy => "DynamoBackupPolicy",
        }
    }

    fn collection(self, namespace: &str) -> String {
        match self {
            Kind::Backup => DynamoBackup::url_path(&(), Some(namespace)),
            Kind::Restore => DynamoRestore::url_path(&(), Some(namespace)),
            Kind::Policy => DynamoBackupPolicy::url_path(&(), Some(namespace)),
        }
    }
}

/// The object exactly as the apiserver serves it.
pub async fn fetch(ctx: &TestCtx, kind: Kind, name: &str) -> Result<Value, String> {
    let url = format!("{}/{name}", kind.collection(&ctx.namespace));
    let request = http::Request::get(&url).body(Vec::new()).map_err(|e| e.to_string())?;
    ctx.client().request::<Value>(request).await.map_err(|e| format!("GET {url}: {e}"))
}

/// Writes `obj` to `<run folder>/objects/<namespace>-<kind>-<name>-<label>.json`.
pub fn save(ctx: &TestCtx, kind: Kind, obj: &Value, label: &str) -> Result<PathBuf, String> {
    let dir = ctx.env.dir.join("objects");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let name = obj["metadata"]["name"].as_str().unwrap_or("unnamed");
    let file = dir.join(format!("{}-{}-{name}-{label}.json", ctx.namespace, kind.name().to_lowercase()));
    let text = serde_json::to_string_pretty(obj).map_err(|e| e.to_string())?;
    std::fs::write(&file, text).map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(file)
}

/// The condition of `type_` in the object's status.
pub fn condition<'a>(obj: &'a Value, type_: &str) -> Option<&'a Value> {
    obj["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == type_)
}

pub fn is_true(obj: &Value, type_: &str) -> bool {
    condition(obj, type_).is_some_and(|c| c["status"] == "True")
}

pub fn reason<'a>(obj: &'a Value, type_: &str) -> &'a str {
    condition(obj, type_).and_then(|c| c["reason"].as_str()).unwrap_or_default()
}

pub fn generation(obj: &Value) -> Option<i64> {
    obj["metadata"]["generation"].as_i64()
}

pub fn observed_generation(obj: &Value) -> Option<i64> {
    obj["status"]["observedGeneration"].as_i64()
}
