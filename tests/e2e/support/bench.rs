//! What the benchmarks under `benches/` share: readiness checks, bulk setup and percentiles.
//! The end-to-end tests do not use it.
#![allow(dead_code)]

use std::time::Duration;

use dynamo_backup_operator::api::{DynamoBackup, DynamoBackupPolicy, DynamoBackupSpec};
use futures::{StreamExt, TryStreamExt};
use kube::{Api, api::PostParams};

use super::{Operator, process::eventually};

pub fn backup_ready(backup: &DynamoBackup) -> bool {
    backup.status.as_ref().is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

pub fn policy_ready(policy: &DynamoBackupPolicy) -> bool {
    policy.status.as_ref().is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Waits for the operator's `/readyz`.
pub async fn operator_ready(operator: &Operator) -> Result<(), String> {
    let url = format!("{}/readyz", operator.metrics_url);
    eventually("the operator ready", Duration::from_secs(60), || {
        let url = url.clone();
        async move { reqwest::get(&url).await.ok().filter(|r| r.status().is_success()) }
    })
    .await
    .map(|_| ())
}

/// Creates `names` (one item each) through `dynamo`, 16 at a time.
pub async fn create_tables(dynamo: &aws_sdk_dynamodb::Client, names: &[String]) -> Result<(), String> {
    futures::stream::iter(names.iter().cloned().map(|table| {
        let dynamo = dynamo.clone();
        async move { super::tables::create_table(&dynamo, &table, &[("o-1", "keyboard")]).await }
    }))
    .buffer_unordered(16)
    .try_collect::<Vec<()>>()
    .await
    .map(|_| ())
}

/// Creates DynamoBackups `{prefix}-{i}` for i in `range`, of table `table(i)`, 32 requests at a
/// time, as fast as the apiserver takes them.
pub async fn create_backups(
    api: &Api<DynamoBackup>,
    prefix: &str,
    range: std::ops::Range<usize>,
    table: impl Fn(usize) -> String,
) -> Result<(), String> {
    futures::stream::iter(range.map(|i| {
        let api = api.clone();
        let object = DynamoBackup::new(&format!("{prefix}-{i}"), DynamoBackupSpec::for_table(table(i)));
        async move { api.create(&PostParams::default(), &object).await.map(|_| ()).map_err(|e| e.to_string()) }
    }))
    .buffer_unordered(32)
    .try_collect::<Vec<()>>()
    .await
    .map(|_| ())
}

/// Waits until `api` holds `count` policies, all Ready; the time since `started`.
pub async fn policies_ready(api: &Api<DynamoBackupPolicy>, count: usize, started: std::time::Instant) -> Result<Duration, String> {
    eventually("every policy Ready", Duration::from_secs(900), || {
        let api = api.clone();
        async move {
            let list = api.list(&kube::api::ListParams::default()).await.ok()?;
            (list.items.len() == count && list.items.iter().all(policy_ready)).then(|| started.elapsed())
        }
    })
    .await
}

/// The operator's memory, as the benchmarks print it.
pub fn operator_memory(operator: &Operator) -> Result<String, String> {
    let (rss, peak) = super::process::memory_kib(operator.process.pid())?;
    Ok(format!("{:.1} MiB resident, peak {:.1} MiB", rss as f64 / 1024.0, peak as f64 / 1024.0))
}

/// The `p`-th percentile (nearest rank) of `sorted`.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The next whole minute at least `ahead` from now (a cron slot to aim a schedule at).
pub fn minute_after(ahead: Duration) -> Result<jiff::Timestamp, String> {
    let ahead = jiff::SignedDuration::try_from(ahead).map_err(|e| e.to_string())?;
    let at = jiff::Timestamp::now() + ahead + jiff::SignedDuration::from_secs(59);
    at.round(jiff::TimestampRound::new().smallest(jiff::Unit::Minute).mode(jiff::RoundMode::Trunc)).map_err(|e| e.to_string())
}

/// Sleeps until `at` (at once if it is past).
pub async fn sleep_until(at: jiff::Timestamp) {
    let left = Duration::try_from(at.duration_since(jiff::Timestamp::now())).unwrap_or_default();
    tokio::time::sleep(left).await;
}

/// The operator's series whose line starts with `prefix` (without the `dynamo_backup_operator_`
/// every series has), summed.
pub async fn operator_metric(operator: &Operator, prefix: &str) -> Result<f64, String> {
    let url = format!("{}/metrics", operator.metrics_url);
    let text = reqwest::get(&url).await.map_err(|e| e.to_string())?.text().await.map_err(|e| e.to_string())?;
    let prefix = format!("dynamo_backup_operator_{prefix}");
    Ok(text.lines().filter(|l| l.starts_with(&prefix)).filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok()).sum())
}

/// The apiserver's own metrics whose line starts with `prefix`: (name, labels without the
/// braces, value) each.
pub async fn apiserver_series(client: &kube::Client, prefix: &str) -> Result<Vec<(String, String, f64)>, String> {
    let request = http::Request::get("/metrics").body(Vec::new()).map_err(|e| e.to_string())?;
    let text = client.request_text(request).await.map_err(|e| format!("the apiserver's /metrics: {e}"))?;
    Ok(text
        .lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (name, labels) = series.split_once('{').map(|(n, l)| (n, l.trim_end_matches('}'))).unwrap_or((series, ""));
            Some((name.to_owned(), labels.to_owned(), value.parse::<f64>().ok()?))
        })
        .collect())
}

/// The value of label `key` in `labels` (`a="x",b="y"`); "" when absent.
pub fn label<'a>(labels: &'a str, key: &str) -> &'a str {
    labels.split(',').find_map(|kv| kv.strip_prefix(key)?.strip_prefix("=\"")).map(|v| v.trim_end_matches('"')).unwrap_or("")
}

/// The apiserver's requests so far by "VERB resource[/subresource]" (`apiserver_request_total`,
/// a code other than 2xx in parentheses), for the operator's kinds and events.
pub async fn apiserver_requests(client: &kube::Client) -> Result<std::collections::BTreeMap<String, f64>, String> {
    let mut requests = std::collections::BTreeMap::new();
    for (_, labels, value) in apiserver_series(client, "apiserver_request_total{").await? {
        let (verb, resource, subresource, code) =
            (label(&labels, "verb"), label(&labels, "resource"), label(&labels, "subresource"), label(&labels, "code"));
        if !(resource.starts_with("dynamo") || resource == "events") {
            continue;
        }
        let mut key = match subresource {
            "" => format!("{verb} {resource}"),
            sub => format!("{verb} {resource}/{sub}"),
        };
        if !code.starts_with('2') {
            key.push_str(&format!(" ({code})"));
        }
        *requests.entry(key).or_insert(0.0) += value;
    }
    Ok(requests)
}

/// `after` minus `before`, per key, what changed only.
pub fn requests_between(
    before: &std::collections::BTreeMap<String, f64>,
    after: &std::collections::BTreeMap<String, f64>,
) -> Vec<(String, f64)> {
    after
        .iter()
        .filter_map(|(key, n)| {
            let grown = n - before.get(key).copied().unwrap_or(0.0);
            (grown > 0.0).then(|| (key.clone(), grown))
        })
        .collect()
}

/// Applies the chart's FlowSchema and PriorityLevelConfiguration (rendered for the identity the
/// tests' operators run as).
pub fn apply_chart_flow_control(env: &super::Env) -> Result<String, String> {
    use super::chart::{RELEASE, RELEASE_NAMESPACE, documents, kind, kubectl_apply, render, to_yaml};
    let rendered = render(&env.bins, &env.dir, RELEASE, RELEASE_NAMESPACE, None)?;
    let docs = documents(&rendered)?;
    let wanted: Vec<&serde_json::Value> = docs.iter().filter(|d| matches!(kind(d), "FlowSchema" | "PriorityLevelConfiguration")).collect();
    if wanted.len() != 2 {
        return Err(format!("the chart rendered {} flow-control objects, not 2", wanted.len()));
    }
    kubectl_apply(&env.bins, &env.plane.kubeconfig, &to_yaml(&wanted)?)
}
