//! What an operator's user watches: the Prometheus series of issue 5 and JSON logs that carry
//! the object and a trace id on every line of a reconcile.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use dynamo_backup_operator::api::{DynamoBackupPolicy, DynamoRestore, PointInTimeRecoverySpec};
use kube::{Api, ResourceExt, api::PostParams};
use libtest_mimic::Trial;

use crate::{
    backup::WAIT,
    operator::get,
    policy::{self, keep_last, labelled_backup},
    restore::{self, from_backup, restore},
    support::{
        Env, TestCtx, ensure,
        process::eventually,
        tables::{create_table, wait_condition},
    },
};

pub fn trials(env: &Arc<Env>) -> Vec<Trial> {
    vec![env.trial("observability_metrics_and_json_logs_of_a_policy_and_a_restore", metrics_and_logs)]
}

/// The value of the one series whose name and labels start with `prefix`.
fn series(text: &str, prefix: &str) -> Option<f64> {
    text.lines().find(|l| l.starts_with(prefix)).and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse().ok())
}

async fn metrics_and_logs(ctx: TestCtx) -> Result<(), String> {
    let (orders, copy) = (ctx.table("Orders"), ctx.table("OrdersCopy"));
    create_table(&ctx.dynamo(), &orders, &[("o-1", "keyboard")]).await?;
    let op = ctx.start_operator(&["--log-format", "json"])?;

    // Two backups as if the policy had made them; the policy keeps the last one.
    labelled_backup(&ctx, "first", &orders, "nightly").await?;
    labelled_backup(&ctx, "second", &orders, "nightly").await?;
    let policies: Api<DynamoBackupPolicy> = ctx.api();
    let mut p = policy::policy("nightly", &[&orders]);
    p.spec.point_in_time_recovery = PointInTimeRecoverySpec { enabled: true, recovery_period_in_days: 7 };
    p.spec.retention = Some(keep_last(1));
    policies.create(&PostParams::default(), &p).await.map_err(|e| e.to_string())?;
    wait_condition(&policies, "nightly", "Ready", WAIT, policy::conditions).await?;

    let restores: Api<DynamoRestore> = ctx.api();
    restores.create(&PostParams::default(), &restore("back", from_backup("second"), &copy)).await.map_err(|e| e.to_string())?;
    let restored = wait_condition(&restores, "back", "Ready", WAIT, restore::conditions).await?;

    let ns = ctx.namespace.clone();
    let url = format!("{}/metrics", op.metrics_url);
    let wanted = [
        format!("dynamo_backup_operator_retention_deletions_total{{namespace=\"{ns}\",policy=\"nightly\"}}"),
        format!(
            "dynamo_backup_operator_last_successful_backup_timestamp_seconds{{namespace=\"{ns}\",policy=\"nightly\",table=\"{orders}\"}}"
        ),
        "dynamo_backup_operator_seconds_since_latest_restorable_time{".to_owned(),
        "dynamo_backup_operator_restore_duration_seconds_count{source=\"backup\"}".to_owned(),
        format!("dynamo_backup_operator_policy_ready{{namespace=\"{ns}\",policy=\"nightly\"}} 1"),
        "dynamo_backup_operator_objects{kind=\"DynamoRestore\",state=\"Ready\"}".to_owned(),
    ];
    let text = eventually("the policy and restore series", Duration::from_secs(30), || {
        let (url, wanted) = (url.clone(), wanted.clone());
        async move {
            let (_, text) = get(&url).await?;
            wanted.iter().all(|w| text.contains(w.as_str())).then_some(text)
        }
    })
    .await?;
    for line in text.lines().filter(|l| !l.starts_with('#') && (l.contains(&ns) || l.contains("restor") || l.contains("aws_requests"))) {
        println!("{line}");
    }
    ensure(series(&text, &wanted[0]) == Some(1.0), || format!("retention deleted one backup:\n{text}"))?;
    let newest = series(&text, &wanted[1]).ok_or("no last successful backup time")?;
    let now = jiff::Timestamp::now().as_second() as f64;
    ensure((now - 300.0..=now + 1.0).contains(&newest), || format!("last successful backup at {newest}, now {now}"))?;
    let lag_prefix = format!(
        "dynamo_backup_operator_seconds_since_latest_restorable_time{{account=\"123456789012\",region=\"us-east-1\",table=\"{orders}\"}}"
    );
    let lag = series(&text, &lag_prefix).ok_or_else(|| format!("no {lag_prefix} in:\n{text}"))?;
    ensure((0.0..3600.0).contains(&lag), || format!("seconds since the latest restorable time: {lag}"))?;
    ensure(series(&text, &wanted[3]) == Some(1.0), || "one restore measured".into())?;
    ensure(
        series(&text, "dynamo_backup_operator_aws_requests_total{operation=\"CreateBackup\",outcome=\"ok\"}").unwrap_or(0.0) >= 2.0,
        || "CreateBackup requests counted".into(),
    )?;
    // Bounded labels: no object's UID reaches a series.
    let uid = restored.uid().ok_or("the restore has no uid")?;
    ensure(!text.contains(&uid), || format!("a UID in the metrics:\n{text}"))?;

    // Every line logged inside a reconcile names the object and carries a 32-digit trace id.
    let log = op.process.log_text();
    let mut traces: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut reasons: BTreeMap<String, String> = BTreeMap::new();
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let value: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("not JSON ({e}): {line}"))?;
        let Some(span) = value["spans"].as_array().and_then(|spans| spans.iter().find(|s| s["name"] == "reconcile")) else {
            continue;
        };
        let object = span["object"].as_str().ok_or_else(|| format!("a reconcile line without the object: {line}"))?;
        let trace = span["trace_id"].as_str().ok_or_else(|| format!("a reconcile line without a trace id: {line}"))?;
        ensure(trace.len() == 32 && trace.chars().all(|c| c.is_ascii_hexdigit()), || format!("trace id {trace:?}: {line}"))?;
        ensure(span["kind"].is_string(), || format!("no kind: {line}"))?;
        traces.entry(object.to_owned()).or_default().push(trace.to_owned());
        if let Some(reason) = value["reason"].as_str() {
            reasons.insert(reason.to_owned(), object.to_owned());
        }
    }
    println!("reconcile lines per object: {:?}", traces.iter().map(|(o, t)| (o, t.len())).collect::<Vec<_>>());
    println!("event lines: {reasons:?}");
    if let Some(line) = log.lines().find(|l| l.contains("\"RetentionDeleted\"")) {
        println!("a retention line: {line}");
    }
    ensure(reasons.get("RetentionDeleted") == Some(&format!("{ns}/nightly")), || {
        format!("retention not logged in its reconcile: {reasons:?}")
    })?;
    ensure(reasons.get("RestoreCompleted") == Some(&format!("{ns}/back")), || {
        format!("the restore not logged in its reconcile: {reasons:?}")
    })?;
    let backup_traces = traces.get(&format!("{ns}/second")).ok_or("no reconcile line of the backup")?;
    let first = backup_traces.first().ok_or("no trace")?;
    let restore_traces = traces.get(&format!("{ns}/back")).ok_or("no reconcile line of the restore")?;
    ensure(restore_traces.iter().all(|t| t != first), || "two objects' reconciles shared a trace id".into())
}
