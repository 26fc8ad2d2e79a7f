//! Many operators starting at once under one identity: the case in which operators were seen
//! to log "operator started" and then do nothing for a minute or two. Each operator watches a
//! namespace of its own, in which one DynamoBackup waits; all run as the chart's ServiceAccount,
//! so the apiserver's priority and fairness (APF) puts all their requests in one flow. The run
//! prints the time from start to that backup's Ready per operator, and what APF did meanwhile,
//! read from the apiserver's own metrics: requests dispatched, queued, how long they waited, and
//! any it rejected, by FlowSchema and priority level.
//!
//!     cargo bench --bench startup                # OPERATORS=n changes the 40
//!
//! It runs twice: first with the apiserver's default flow control (the ServiceAccount falls under
//! the `service-accounts` FlowSchema, priority level `workload-low`), then with the chart's
//! FlowSchema and PriorityLevelConfiguration applied.

#[path = "../tests/e2e/support/mod.rs"]
#[allow(dead_code)]
mod support;

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use dynamo_backup_operator::api::DynamoBackup;
use futures::StreamExt;
use kube::{
    Api,
    runtime::{WatchStreamExt, watcher},
};
use support::bench::{backup_ready, create_backups, create_tables, label, percentile};

fn main() {
    let operators: usize = std::env::var("OPERATORS").ok().and_then(|n| n.parse().ok()).unwrap_or(40);
    support::run_benchmark(|env| async move {
        start_many(&env, operators, "default flow control").await?;
        let applied = support::bench::apply_chart_flow_control(&env)?;
        println!("-- the chart's flow control applied: {}", applied.trim().replace('\n', "; "));
        start_many(&env, operators, "the chart's FlowSchema and priority level").await
    });
}

/// One sample of the apiserver's APF metrics: value by metric name and labels.
type Sample = HashMap<(String, String), f64>;

async fn apf_metrics(client: &kube::Client) -> Result<Sample, String> {
    let series = support::bench::apiserver_series(client, "apiserver_flowcontrol_").await?;
    Ok(series.into_iter().map(|(name, labels, value)| ((name, labels), value)).collect())
}

/// `flow_schema="x",priority_level="y"` -> "x/y" (the labels this report groups by).
fn flow(labels: &str, extra: &[&str]) -> String {
    let mut parts = vec![label(labels, "flow_schema"), label(labels, "priority_level")];
    parts.extend(extra.iter().map(|k| label(labels, k)).filter(|v| !v.is_empty()));
    parts.join("/")
}

/// Sums the series of `name` by flow, after minus before.
fn delta(before: &Sample, after: &Sample, name: &str, extra: &[&str]) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for ((n, labels), value) in after {
        if n == name {
            let was = before.get(&(n.clone(), labels.clone())).copied().unwrap_or(0.0);
            if value - was > 0.0 {
                *out.entry(flow(labels, extra)).or_insert(0.0) += value - was;
            }
        }
    }
    out
}

async fn start_many(env: &Arc<support::Env>, count: usize, label: &str) -> Result<(), String> {
    let ctx = env.context("bench-startup");
    let client = ctx.client();
    let table = ctx.table("Orders");
    create_tables(&ctx.dynamo(), std::slice::from_ref(&table)).await?;
    let namespaces: Vec<String> = (0..count).map(|i| format!("{}-{i}", ctx.namespace)).collect();
    for namespace in &namespaces {
        support::create_namespace(client.clone(), namespace).await?;
        create_backups(&Api::namespaced(client.clone(), namespace), "first", 0..1, |_| table.clone()).await?;
    }

    // Ready times, from one watch over all namespaces.
    let ready: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let watch = {
        let (ready, prefix) = (ready.clone(), format!("{}-", ctx.namespace));
        let api: Api<DynamoBackup> = Api::all(client.clone());
        tokio::spawn(async move {
            let mut stream = watcher(api, watcher::Config::default()).applied_objects().boxed();
            while let Some(Ok(backup)) = stream.next().await {
                let namespace = backup.metadata.namespace.clone().unwrap_or_default();
                if namespace.starts_with(&prefix)
                    && backup_ready(&backup)
                    && let Ok(mut ready) = ready.lock()
                {
                    ready.entry(namespace).or_insert_with(Instant::now);
                }
            }
        })
    };
    // The most requests APF held in its queues at once, sampled every 250 ms.
    let queued: Arc<Mutex<BTreeMap<String, f64>>> = Arc::default();
    let sampler = {
        let (client, queued) = (client.clone(), queued.clone());
        tokio::spawn(async move {
            loop {
                if let Ok(sample) = apf_metrics(&client).await
                    && let Ok(mut queued) = queued.lock()
                {
                    for ((name, labels), value) in &sample {
                        if name == "apiserver_flowcontrol_current_inqueue_requests" && *value > 0.0 {
                            let most = queued.entry(flow(labels, &[])).or_insert(0.0);
                            *most = most.max(*value);
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };

    let before = apf_metrics(&client).await?;
    let started = Instant::now();
    let mut operators = Vec::new();
    for (i, namespace) in namespaces.iter().enumerate() {
        let log = format!("operator-startup-{}-{i}.log", ctx.namespace);
        operators.push(support::Operator::start(env, &env.operator_kubeconfig, &env.moto.url, namespace, &[], &log)?);
    }
    let all = support::process::eventually("every operator's backup Ready", Duration::from_secs(600), || {
        let ready = ready.clone();
        async move { ready.lock().ok().filter(|r| r.len() == count).map(|r| r.clone()) }
    })
    .await;
    let after = apf_metrics(&client).await?;
    sampler.abort();
    watch.abort();
    let all = all?;
    let mut times: Vec<f64> = all.values().map(|at| at.duration_since(started).as_secs_f64()).collect();
    times.sort_by(f64::total_cmp);

    println!("== {count} operators started at once under one ServiceAccount, {label} ==");
    println!(
        "  start -> first backup Ready   p50 {:.1} s   p99 {:.1} s   max {:.1} s",
        percentile(&times, 50.0),
        percentile(&times, 99.0),
        percentile(&times, 100.0)
    );
    let dispatched = delta(&before, &after, "apiserver_flowcontrol_dispatched_requests_total", &[]);
    println!("  dispatched by FlowSchema/priority level   {dispatched:?}");
    let waited = delta(&before, &after, "apiserver_flowcontrol_request_wait_duration_seconds_sum", &["execute"]);
    let waits = delta(&before, &after, "apiserver_flowcontrol_request_wait_duration_seconds_count", &["execute"]);
    let mean: BTreeMap<&String, String> =
        waited.iter().map(|(k, s)| (k, format!("{:.1} ms", 1000.0 * s / waits.get(k).copied().unwrap_or(1.0)))).collect();
    println!("  mean wait in APF                          {mean:?}");
    println!("  most in APF's queues at once              {:?}", queued.lock().map(|q| q.clone()).unwrap_or_default());
    let rejected = delta(&before, &after, "apiserver_flowcontrol_rejected_requests_total", &["reason"]);
    println!("  rejected (429)                            {rejected:?}");
    drop(operators);
    Ok(())
}
