//! The after-restore steps not done yet (`plan::restore::after::pending`), each recorded in
//! status as soon as it is done, so a restart never repeats one; and, once, the list of what the
//! user must redo by hand (`status.notCarriedOver`, decided by `plan::restore::carry`).

use std::time::Duration;

use kube::runtime::controller::Action;

use crate::{
    api::{
        DynamoRestore,
        facts::{Scope, Table, Tags},
    },
    aws::{AwsError, AwsResult, ErrorClass, Lane},
    controllers::{common::StatusWriter, error::Error},
    plan::{
        arns,
        conditions::Standing,
        restore::{
            after::{self, AfterStep},
            carry,
        },
        tables::TableRef,
    },
};

type Writer<'a> = StatusWriter<'a, DynamoRestore>;

/// How soon a reconcile looks again at a table a step made UPDATING.
const AFTER_UPDATE: Duration = Duration::from_secs(2);

/// The source table as one DescribeTable saw it, and where it is.
struct Source {
    at: TableRef,
    scope: Scope,
    table: Table,
}

/// What a step did beyond being done.
#[derive(Default)]
struct Took {
    /// The new table is UPDATING now: the next steps wait until it is ACTIVE again.
    updating: bool,
    /// What the step left for the user to redo by hand.
    left_out: Option<&'static str>,
}

/// Runs the pending steps. Err: come back with this action (a step stalled, or the table is
/// being updated).
pub async fn run(w: &mut Writer<'_>, scope: &Scope, table: &Table) -> Result<Result<(), Action>, Error> {
    let pending = after::pending(&w.obj.spec.after_restore, &w.status.after_restore_done);
    let listed = !w.status.not_carried_over.is_empty();
    let source = source_if_there(w, scope, after::needs_source(&pending) || !listed).await?;
    if !listed {
        // Written with the next status write: a step's, or the completion's.
        w.status.not_carried_over = carry::not_carried_over(&w.obj.spec.after_restore, source.is_some());
    }
    for (name, step) in pending {
        match take(w, scope, table, source.as_ref(), step).await {
            Ok(took) => {
                w.status.after_restore_done.push(name.to_owned());
                if let Some(left_out) = took.left_out.filter(|l| !w.status.not_carried_over.iter().any(|n| n == l)) {
                    w.status.not_carried_over.push(left_out.to_owned());
                }
                let message = format!("after restore: {} done", w.status.after_restore_done.join(", "));
                w.write(&Standing::Reconciling { reason: "Finalizing".into(), message }).await?;
                if took.updating {
                    return Ok(Err(Action::requeue(AFTER_UPDATE)));
                }
            }
            Err(err) if err.class == ErrorClass::Terminal => {
                let message = failed_message(name, &err);
                return Ok(Err(w.stalled("AfterRestoreFailed", message).await?));
            }
            Err(err) => return Err(err.into()),
        }
    }
    Ok(Ok(()))
}

fn failed_message(step: &str, err: &AwsError) -> String {
    let mut message = format!("the table is restored, but after-restore step {step} failed: {err}");
    if err.code.as_deref().is_some_and(|code| code.starts_with("AccessDenied")) {
        message.push_str(&format!("; the operator needs {}", after::required_actions(step)));
    }
    message
}

/// The source table (and where it is), when a step needs it and it still exists: one look.
async fn source_if_there(w: &Writer<'_>, scope: &Scope, needed: bool) -> Result<Option<Source>, Error> {
    let Some(at) = w.status.source_table_arn.as_deref().and_then(|arn| TableRef::parse(arn).ok()).filter(|_| needed) else {
        return Ok(None);
    };
    // A restore from a copy in another account: the source table is not this account's to read
    // (a table of the same name here would be another table).
    if arns::other_account(w.status.source_table_arn.as_deref(), scope.role_arn.as_deref()) {
        return Ok(None);
    }
    let source_scope = w.scope(at.region.clone().or(scope.region.clone()));
    let found = w.ctx.dynamo.describe_table(&source_scope, &at.name).await?;
    Ok(found.map(|table| Source { at, scope: source_scope, table }))
}

async fn take(w: &Writer<'_>, scope: &Scope, table: &Table, source: Option<&Source>, step: AfterStep) -> AwsResult<Took> {
    let dynamo = &w.ctx.dynamo;
    match step {
        AfterStep::Tags { copy, extra } => {
            let mut tags = Tags::new();
            if copy && let (Some(source), Some(arn)) = (source, w.status.source_table_arn.as_deref()) {
                tags = dynamo.list_tags(&source.scope, arn, Lane::Now).await?;
            }
            tags.extend(extra);
            dynamo.tag(scope, table.arn.as_deref().unwrap_or_default(), &tags).await?;
        }
        AfterStep::Pitr { days } => {
            dynamo.enable_pitr(scope, &table.name, days).await?;
        }
        AfterStep::DeletionProtection => dynamo.set_deletion_protection(scope, &table.name, true).await?,
        AfterStep::CopyTtl => {
            let Some(source) = source else { return Ok(Took::default()) };
            if let Some(attribute) = dynamo.time_to_live(&source.scope, &source.at.name).await?
                && dynamo.time_to_live(scope, &table.name).await?.as_deref() != Some(attribute.as_str())
            {
                dynamo.enable_time_to_live(scope, &table.name, &attribute).await?;
            }
        }
        AfterStep::CopyStream => {
            if let Some(view) = source.and_then(|source| carry::stream_to_enable(&source.table, table)) {
                dynamo.enable_stream(scope, &table.name, &view).await?;
                return Ok(Took { updating: true, ..Took::default() });
            }
        }
        AfterStep::CopyAutoScaling => return copy_auto_scaling(w, scope, table, source).await,
        AfterStep::CopyResourcePolicy => {
            let Some(source) = source else { return Ok(Took::default()) };
            let (Some(from), Some(to)) = (source.table.arn.as_deref().or(w.status.source_table_arn.as_deref()), table.arn.as_deref())
            else {
                return Ok(Took::default());
            };
            if let Some(policy) = dynamo.resource_policy(&source.scope, from).await? {
                dynamo.put_resource_policy(scope, to, &carry::rewrite_table_arn(&policy, from, to)).await?;
            }
        }
        AfterStep::Nothing => {}
    }
    Ok(Took::default())
}

/// The source's scalable targets and target-tracking policies, for the table and the indexes
/// the new table kept, registered again for the new table. An on-demand table has nothing to
/// scale.
async fn copy_auto_scaling(w: &Writer<'_>, scope: &Scope, table: &Table, source: Option<&Source>) -> AwsResult<Took> {
    let Some(source) = source.filter(|_| carry::is_provisioned(table)) else { return Ok(Took::default()) };
    let scaling = &w.ctx.auto_scaling;
    let kept: Vec<String> = table.global_indexes.iter().map(|i| i.name.clone()).collect();
    let targets = scaling.scalable_targets(&source.scope, &carry::source_resource_ids(&source.at.name, &kept)).await?;
    let mut resource_ids: Vec<&str> = targets.iter().map(|t| t.resource_id.as_str()).collect();
    resource_ids.sort_unstable();
    resource_ids.dedup();
    let mut policies = Vec::new();
    for id in resource_ids {
        policies.extend(scaling.scaling_policies(&source.scope, id).await?);
    }
    let copy = carry::scaling_copy(&source.at.name, &table.name, &kept, &targets, &policies);
    for target in &copy.targets {
        scaling.register_scalable_target(scope, target).await?;
    }
    for policy in &copy.policies {
        scaling.put_scaling_policy(scope, policy).await?;
    }
    if !copy.left_out.is_empty() {
        tracing::info!(table = %table.name, left_out = ?copy.left_out, "scaling policies not copied: only target tracking on a predefined metric is");
    }
    Ok(Took { left_out: (!copy.left_out.is_empty()).then_some(carry::OTHER_SCALING_POLICIES), ..Took::default() })
}
