//! The Argo CD health checks the chart ships (`charts/.../docs/argocd/*.lua`), run by a real
//! Lua interpreter on objects the way Argo CD runs them: the object as the global `obj`, the
//! script's returned table read as `{status, message}`.

use std::path::PathBuf;

use mlua::{Lua, LuaOptions, LuaSerdeExt, StdLib, Table, serde::SerializeOptions};
use serde_json::Value;

use super::objects::Kind;

/// The statuses Argo CD accepts from a health script; anything else becomes Unknown there.
pub const STATUSES: [&str; 6] = ["Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Health {
    pub status: String,
    pub message: String,
}

impl std::fmt::Display for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.status, self.message)
    }
}

/// The shipped script for `kind`.
pub fn script_path(kind: Kind) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("charts/dynamo-backup-operator/docs/argocd")
        .join(format!("{}.lua", kind.name().to_lowercase()))
}

/// Runs the shipped script for `kind` on `obj`.
pub fn health(kind: Kind, obj: &Value) -> Result<Health, String> {
    let path = script_path(kind);
    let script = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    run(&path.display().to_string(), &script, obj)
}

/// Runs `script` on `obj`. Argo CD gives a custom health check only the base, table and package
/// libraries (and a trimmed os): no string and no math, so a script that reaches for them fails
/// here as it would there.
pub fn run(name: &str, script: &str, obj: &Value) -> Result<Health, String> {
    let failed = |e: mlua::Error| format!("{name}: {e}");
    let lua = Lua::new_with(StdLib::TABLE | StdLib::PACKAGE, LuaOptions::default()).map_err(failed)?;
    // JSON null is Lua nil, as in Argo CD, not mlua's null sentinel.
    let options = SerializeOptions::new().serialize_none_to_null(false).serialize_unit_to_null(false).set_array_metatable(false);
    let value = lua.to_value_with(obj, options).map_err(failed)?;
    lua.globals().set("obj", value).map_err(failed)?;
    let hs: Table = lua.load(script).set_name(format!("@{name}")).eval().map_err(failed)?;
    let status: String = hs.get("status").map_err(failed)?;
    let message: Option<String> = hs.get("message").map_err(failed)?;
    if !STATUSES.contains(&status.as_str()) {
        return Err(format!("{name}: {status:?} is not a health status Argo CD knows"));
    }
    Ok(Health { status, message: message.unwrap_or_default() })
}
