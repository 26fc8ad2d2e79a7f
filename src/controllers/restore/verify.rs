//! `spec.verify`, once the table is ACTIVE: the count (a paced Scan with Select COUNT, its place
//! saved after every page so a restart resumes it, in slices of `COUNT_SLICE` per reconcile),
//! then the keys; the verdict (`plan::verify::verdict`) in `status.verification`, the `Verified`
//! condition, an event and metrics.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::controller::Action;

use crate::{
    api::{
        DynamoRestore, VerificationResult, VerificationStatus, VerifySpec,
        facts::{ItemKey, Scope, Table},
    },
    controllers::{
        Error,
        common::{StatusWriter, publish},
    },
    metrics::VerifyLabels,
    plan::{conditions::Standing, conditions::set_condition, tables::TableRef, verify},
};

type Writer<'a> = StatusWriter<'a, DynamoRestore>;

/// Runs the checks not done yet. Err: come back with this action (the count yields, or the
/// spec's keys are invalid).
pub async fn run(w: &mut Writer<'_>, scope: &Scope, table: &Table, now: Timestamp) -> Result<Result<(), Action>, Error> {
    let Some(spec) = w.obj.spec.verify.clone() else { return Ok(Ok(())) };
    if w.status.verification.as_ref().is_some_and(|v| v.result.is_some()) {
        return Ok(Ok(()));
    }
    let keys = match spec.keys.iter().map(verify::parse_key).collect::<Result<Vec<_>, _>>() {
        Ok(keys) => keys,
        Err(err) => return Ok(Err(w.stalled("InvalidSpec", format!("spec.verify.keys: {err}")).await?)),
    };
    let mut v = w.status.verification.clone().unwrap_or_default();
    if v.started_at.is_none() {
        v.started_at = Some(Time(now));
        v.expected_item_count = expected_item_count(w, scope).await?;
        if spec.item_count.is_some() {
            v.item_count = Some(0);
            v.resume_key = Some(verify::FROM_THE_START.into());
        }
        w.status.verification = Some(v.clone());
        w.save().await?;
    }
    if let Err(action) = count(w, scope, table, &spec, &mut v).await? {
        return Ok(Err(action));
    }
    let mut missing = Vec::new();
    for key in &keys {
        if !w.ctx.dynamo.item_exists(scope, &table.name, key).await? {
            missing.push(verify::key_text(key));
        }
    }
    // When the checks ended is measured: the clock read again, after the count and the keys.
    conclude(w, &spec, v, &keys, missing, w.ctx.clock.now()).await?;
    Ok(Ok(()))
}

/// Counts pages from the saved place, pacing by the capacity they consumed, until the table is
/// done or the slice is over (Err: come back).
async fn count(
    w: &mut Writer<'_>,
    scope: &Scope,
    table: &Table,
    spec: &VerifySpec,
    v: &mut VerificationStatus,
) -> Result<Result<(), Action>, Error> {
    let max_rcu = spec.max_read_capacity_per_second.unwrap_or(verify::DEFAULT_MAX_READ_CAPACITY);
    let slice_ends = tokio::time::Instant::now() + verify::COUNT_SLICE;
    while let Some(resume) = v.resume_key.clone() {
        // A place that no longer parses starts the count again rather than guessing.
        let start: Option<ItemKey> = match resume.as_str() {
            verify::FROM_THE_START => None,
            text => verify::key_from_text(text).ok().or_else(|| {
                v.item_count = Some(0);
                None
            }),
        };
        let page = w.ctx.dynamo.count_page(scope, &table.name, start.as_ref(), verify::PAGE_ITEMS).await?;
        v.item_count = Some(v.item_count.unwrap_or(0) + page.count);
        v.resume_key = page.next.as_ref().map(verify::key_text);
        w.status.verification = Some(v.clone());
        w.save().await?;
        tokio::time::sleep(verify::pause_after(page.consumed, max_rcu)).await;
        if v.resume_key.is_some() && tokio::time::Instant::now() >= slice_ends {
            let message = format!("verifying table {}: {} items counted so far", table.name, v.item_count.unwrap_or(0));
            w.write(&Standing::Reconciling { reason: "Verifying".into(), message }).await?;
            return Ok(Err(Action::requeue(Duration::from_secs(1))));
        }
    }
    Ok(Ok(()))
}

/// Records the verdict: status, the `Verified` condition, metrics and an event.
async fn conclude(
    w: &mut Writer<'_>,
    spec: &VerifySpec,
    mut v: VerificationStatus,
    keys: &[ItemKey],
    missing: Vec<String>,
    now: Timestamp,
) -> Result<(), Error> {
    let tolerance = spec.item_count.as_ref().map(|c| c.tolerance_percent);
    let verdict = verify::verdict(tolerance, v.item_count, v.expected_item_count, keys.len(), &missing);
    let took = v.started_at.as_ref().map(|s| now.duration_since(s.0).unsigned_abs()).unwrap_or_default();
    v.result = Some(if verdict.passed { VerificationResult::Passed } else { VerificationResult::Failed });
    v.missing_keys = missing;
    v.checked_at = Some(Time(now));
    v.duration = Some(humantime::format_duration(Duration::from_secs(took.as_secs())).to_string());
    v.message = Some(verdict.message.clone());
    let result = if verdict.passed { "Passed" } else { "Failed" };
    w.ctx.metrics.verifications.get_or_create(&VerifyLabels { result }).inc();
    w.ctx.metrics.verification_duration.observe(took.as_secs_f64());
    let generation = w.obj.metadata.generation;
    w.status.conditions =
        set_condition(&w.status.conditions, "Verified", verdict.passed, verdict.reason, &verdict.message, generation, &Time(now));
    w.status.verification = Some(v);
    w.save().await?;
    let reason = if verdict.passed { "Verified" } else { verdict.reason };
    publish(&w.ctx.recorder, w.obj, !verdict.passed, reason, "Verify", verdict.message).await;
    Ok(())
}

/// The count DynamoDB recorded for what is restored: a backup's source table count (DescribeBackup),
/// or the source table's count for a point in time (DescribeTable; refreshed about every six hours).
async fn expected_item_count(w: &Writer<'_>, scope: &Scope) -> Result<Option<i64>, Error> {
    if let Some(arn) = w.status.source_backup_arn.clone() {
        return Ok(w.ctx.dynamo.describe_backup(scope, &arn).await?.and_then(|b| b.source).and_then(|s| s.item_count));
    }
    if w.status.recovery_point_arn.is_none()
        && let Some(source) = w.status.source_table_arn.as_deref().and_then(|arn| TableRef::parse(arn).ok())
    {
        let source_scope = w.scope(source.region.clone().or(scope.region.clone()));
        return Ok(w.ctx.dynamo.describe_table(&source_scope, &source.name).await?.and_then(|t| t.item_count));
    }
    Ok(None)
}
