//! The after-restore steps not done yet (`plan::restore::after::pending`), each recorded in
//! status as soon as it is done, so a restart never repeats one.

use kube::runtime::controller::Action;

use crate::{
    api::{
        DynamoRestore,
        facts::{Scope, Table, Tags},
    },
    aws::{AwsResult, ErrorClass, Lane},
    controllers::{common::StatusWriter, error::Error},
    plan::{
        conditions::Standing,
        restore::after::{self, AfterStep},
        tables::TableRef,
    },
};

type Writer<'a> = StatusWriter<'a, DynamoRestore>;

/// Runs the pending steps. Err: come back with this action (a step stalled).
pub async fn run(w: &mut Writer<'_>, scope: &Scope, table: &Table) -> Result<Result<(), Action>, Error> {
    let pending = after::pending(&w.obj.spec.after_restore, &w.status.after_restore_done);
    let source = source_if_there(w, scope, after::needs_source(&pending)).await?;
    for (name, step) in pending {
        match take(w, scope, table, source.as_ref(), step).await {
            Ok(()) => {
                w.status.after_restore_done.push(name.to_owned());
                let message = format!("after restore: {} done", w.status.after_restore_done.join(", "));
                w.write(&Standing::Reconciling { reason: "Finalizing".into(), message }).await?;
            }
            Err(err) if err.class == ErrorClass::Terminal => {
                let message = format!("the table is restored, but after-restore step {name} failed: {err}");
                return Ok(Err(w.stalled("AfterRestoreFailed", message).await?));
            }
            Err(err) => return Err(err.into()),
        }
    }
    Ok(Ok(()))
}

/// The source table (and where it is), when a step needs it and it still exists: one look.
async fn source_if_there(w: &Writer<'_>, scope: &Scope, needed: bool) -> Result<Option<(TableRef, Scope)>, Error> {
    let Some(source) = w.status.source_table_arn.as_deref().and_then(|arn| TableRef::parse(arn).ok()).filter(|_| needed) else {
        return Ok(None);
    };
    let source_scope = w.scope(source.region.clone().or(scope.region.clone()));
    let exists = w.ctx.dynamo.describe_table(&source_scope, &source.name).await?.is_some();
    Ok(exists.then_some((source, source_scope)))
}

async fn take(w: &Writer<'_>, scope: &Scope, table: &Table, source: Option<&(TableRef, Scope)>, step: AfterStep) -> AwsResult<()> {
    let dynamo = &w.ctx.dynamo;
    match step {
        AfterStep::Tags { copy, extra } => {
            let mut tags = Tags::new();
            if copy && let (Some((_, source_scope)), Some(arn)) = (source, w.status.source_table_arn.as_deref()) {
                tags = dynamo.list_tags(source_scope, arn, Lane::Now).await?;
            }
            tags.extend(extra);
            dynamo.tag(scope, table.arn.as_deref().unwrap_or_default(), &tags).await
        }
        AfterStep::Pitr { days } => dynamo.enable_pitr(scope, &table.name, days).await.map(|_| ()),
        AfterStep::DeletionProtection => dynamo.set_deletion_protection(scope, &table.name, true).await,
        AfterStep::CopyTtl => {
            let Some((source, source_scope)) = source else { return Ok(()) };
            match dynamo.time_to_live(source_scope, &source.name).await? {
                Some(attribute) if dynamo.time_to_live(scope, &table.name).await?.as_deref() != Some(attribute.as_str()) => {
                    dynamo.enable_time_to_live(scope, &table.name, &attribute).await
                }
                _ => Ok(()),
            }
        }
        AfterStep::Nothing => Ok(()),
    }
}
