//! The commands that only read: `status` (per table, what protects it and what needs a
//! person), `list` (the DynamoBackups) and `describe` (an object's status and events).

use jiff::Timestamp;
use k8s_openapi::api::events::v1::Event;
use kube::{Api, Resource, api::ListParams};
use serde::{Serialize, de::DeserializeOwned};

use super::{
    client::{Ctx, list_all, where_},
    failure::{Failure, api_failed, refused},
    output::{layout, print_structured},
    render::{EventLine, backup_lines, describe_text, list_table, status_lines, status_table},
};
use crate::api::{DynamoBackup, DynamoBackupPolicy, DynamoRestore};

/// `status [TARGET]`: a line per table the policies cover or the DynamoBackups name.
pub(super) async fn status(ctx: &Ctx, target: Option<&str>, unprotected: bool) -> Result<(), Failure> {
    let policies = list_all(&ctx.list_api::<DynamoBackupPolicy>(), "DynamoBackupPolicies").await?;
    let backups = list_all(&ctx.list_api::<DynamoBackup>(), "DynamoBackups").await?;
    let mut lines = status_lines(&policies, &backups, target);
    if unprotected {
        lines.retain(|l| l.policies.is_empty() || l.pitr.as_deref().is_some_and(|p| p != "ENABLED"));
    }
    if let Some(target) = target
        && lines.is_empty()
    {
        return Err(refused(format!("no policy or DynamoBackup names {target:?} in {}", where_(ctx))));
    }
    match ctx.global.output {
        format if format.is_human() => print!("{}", status_table(&lines, Timestamp::now(), ctx.global.all_namespaces, layout(format))),
        format => print_structured(format, &lines)?,
    }
    Ok(())
}

/// `list [TABLE]`: the DynamoBackups, newest first.
pub(super) async fn list(ctx: &Ctx, table: Option<&str>) -> Result<(), Failure> {
    let backups = list_all(&ctx.list_api::<DynamoBackup>(), "DynamoBackups").await?;
    let lines = backup_lines(&backups, table);
    match ctx.global.output {
        format if format.is_human() => print!("{}", list_table(&lines, Timestamp::now(), ctx.global.all_namespaces, layout(format))),
        format => print_structured(format, &lines)?,
    }
    Ok(())
}

/// `describe KIND/NAME`: the object as JSON or YAML with `-o`, else its status and events for a
/// person.
pub(super) async fn describe(ctx: &Ctx, object: &str) -> Result<(), Failure> {
    let Some((kind, name)) = object.split_once('/') else {
        return Err(Failure { code: 2, message: format!("{object:?}: name it as KIND/NAME, e.g. backup/orders-before-v42") });
    };
    let (kind, value) = match kind.to_ascii_lowercase().as_str() {
        "backup" | "backups" | "ddbbackup" | "dynamobackup" | "dynamobackups" => {
            ("DynamoBackup", get_value::<DynamoBackup>(ctx, name).await?)
        }
        "restore" | "restores" | "ddbrestore" | "dynamorestore" | "dynamorestores" => {
            ("DynamoRestore", get_value::<DynamoRestore>(ctx, name).await?)
        }
        "policy" | "policies" | "ddbpolicy" | "dynamobackuppolicy" | "dynamobackuppolicies" => {
            ("DynamoBackupPolicy", get_value::<DynamoBackupPolicy>(ctx, name).await?)
        }
        other => return Err(Failure { code: 2, message: format!("unknown kind {other:?}: use backup, restore or policy") }),
    };
    if !ctx.global.output.is_human() {
        return print_structured(ctx.global.output, &value);
    }
    let lines = events_of(ctx, kind, name).await;
    print!("{}", describe_text(kind, &value, &lines, Timestamp::now(), layout(ctx.global.output)));
    Ok(())
}

/// The events of the object, oldest first; none where they cannot be read (describe shows the
/// object all the same).
async fn events_of(ctx: &Ctx, kind: &str, name: &str) -> Vec<EventLine> {
    let events: Api<Event> = ctx.api();
    let mut lines: Vec<EventLine> = events
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e.regarding.as_ref().is_some_and(|r| r.name.as_deref() == Some(name) && r.kind.as_deref() == Some(kind)))
        .map(|e| EventLine {
            at: e.event_time.as_ref().map(|t| t.0).or(e.deprecated_last_timestamp.as_ref().map(|t| t.0)),
            warning: e.type_.as_deref() == Some("Warning"),
            reason: e.reason.clone().unwrap_or_default(),
            message: e.note.clone().unwrap_or_default(),
        })
        .collect();
    lines.sort_by_key(|e| e.at);
    lines
}

/// The object `name` of kind `K` as JSON, without its managed fields; refused when not found.
async fn get_value<K>(ctx: &Ctx, name: &str) -> Result<serde_json::Value, Failure>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Serialize,
{
    let api: Api<K> = ctx.api();
    match api.get_opt(name).await {
        Ok(Some(obj)) => {
            let mut value = serde_json::to_value(&obj).map_err(|e| Failure { code: 1, message: e.to_string() })?;
            if let Some(meta) = value["metadata"].as_object_mut() {
                meta.remove("managedFields");
            }
            Ok(value)
        }
        Ok(None) => Err(refused(format!("{} {name} not found in {}", K::kind(&()), where_(ctx)))),
        Err(e) => Err(api_failed(&format!("reading {} {name}", K::kind(&())), e)),
    }
}
