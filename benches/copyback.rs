//! Copy-back at the default budgets: MISSING items (default 10,000) written back into a live
//! table of ITEMS items (default 50,000) from a restore of its backup. The release binary
//! against the real apiserver and moto, its DynamoDB calls through the counting proxy.
//!
//!     cargo bench --bench copyback        # ITEMS=n and MISSING=n for other sizes
//!
//! The table holds user profiles of a few hundred bytes (a key, strings, a number, a boolean, a
//! map), loaded with BatchWriteItem straight into moto. A DynamoBackup of it is taken; then every
//! (ITEMS/MISSING)-th item is deleted, spread through the table, and a DynamoRestore of the
//! backup with `copyBack: {}` (Missing, no dry run, 200 read and 100 write capacity units a
//! second) writes them back. It prints:
//!
//! - the wall time of the copy (status `startedAt` to `completedAt`, and the first to the last
//!   call of the copy as the proxy saw them), and from the restore's creation to Completed;
//! - the floor the budgets set, `max(read units / 200, write units / 100)` seconds from the
//!   capacity the answers reported, and the ratio of the wall time to it;
//! - the capacity consumed, as status and the proxy report it, next to what DynamoDB's
//!   documented rules charge for these item sizes. moto reports fixed figures that do not depend
//!   on size (printed with the run), so in this run the budgets pace by moto's figures;
//! - the DynamoDB calls by operation, and items per second.

#[path = "../tests/e2e/support/mod.rs"]
#[allow(dead_code)]
mod support;

use std::{
    collections::{BTreeMap, HashMap},
    time::{Duration, Instant},
};

use aws_sdk_dynamodb::{
    Client,
    error::DisplayErrorContext,
    types::{
        AttributeDefinition, AttributeValue, BillingMode, DeleteRequest, KeySchemaElement, KeyType, PutRequest, ScalarAttributeType,
        Select, WriteRequest,
    },
};
use dynamo_backup_operator::{
    api::{CopyBackPhase, CopyBackStatus, DynamoBackup, DynamoBackupSpec, DynamoRestore},
    plan::copyback::{CHUNK, SCAN_PAGE},
};
use futures::{StreamExt, TryStreamExt, stream};
use kube::{Api, api::PostParams, runtime::wait::await_condition};
use serde_json::json;

type Item = HashMap<String, AttributeValue>;

/// BatchWriteItem's most requests per call.
const BATCH_WRITE: usize = 25;
/// BatchWriteItem calls in flight while loading and deleting.
const IN_FLIGHT: usize = 4;
/// How long the copy may take before the bench gives up.
const COPY_TIMEOUT: Duration = Duration::from_secs(20 * 60);

fn main() {
    let items: usize = std::env::var("ITEMS").ok().and_then(|n| n.parse().ok()).unwrap_or(50_000).max(1);
    let missing: usize = std::env::var("MISSING").ok().and_then(|n| n.parse().ok()).unwrap_or(10_000).clamp(1, items);
    support::run_benchmark(|env| async move { run(&env, items, missing).await });
}

fn aws<E: std::error::Error + 'static>(what: &str) -> impl FnOnce(aws_sdk_dynamodb::error::SdkError<E>) -> String + '_ {
    move |e| format!("{what}: {}", DisplayErrorContext(e))
}

fn user(i: usize) -> String {
    format!("user-{i:06}")
}

const FIRST: [&str; 12] = ["Ada", "Grace", "Linus", "Margaret", "Ken", "Barbara", "Edsger", "Frances", "Dennis", "Radia", "Alan", "Hedy"];
const LAST: [&str; 10] = ["Lovelace", "Hopper", "Torvalds", "Hamilton", "Thompson", "Liskov", "Dijkstra", "Allen", "Ritchie", "Perlman"];
const COUNTRIES: [&str; 8] = ["DE", "FR", "GB", "US", "JP", "BR", "IN", "NL"];
const PLANS: [&str; 3] = ["free", "pro", "team"];
const WORDS: [&str; 16] = [
    "backend",
    "engineer",
    "who",
    "likes",
    "distributed",
    "systems",
    "coffee",
    "and",
    "long",
    "walks",
    "through",
    "old",
    "log",
    "files",
    "on",
    "weekends",
];

/// A user profile of a few hundred bytes, the same for the same `i`.
fn profile(i: usize) -> Item {
    let mut rng = fastrand::Rng::with_seed(i as u64);
    let (first, last) = (FIRST[rng.usize(..FIRST.len())], LAST[rng.usize(..LAST.len())]);
    let bio_words = rng.usize(12..40);
    let bio: Vec<&str> = (0..bio_words).map(|_| WORDS[rng.usize(..WORDS.len())]).collect();
    let s = |v: String| AttributeValue::S(v);
    Item::from([
        ("userId".to_owned(), s(user(i))),
        ("email".to_owned(), s(format!("{}.{}{i}@example.com", first.to_lowercase(), last.to_lowercase()))),
        ("displayName".to_owned(), s(format!("{first} {last}"))),
        ("country".to_owned(), s(COUNTRIES[rng.usize(..COUNTRIES.len())].to_owned())),
        ("plan".to_owned(), s(PLANS[rng.usize(..PLANS.len())].to_owned())),
        (
            "createdAt".to_owned(),
            s(format!(
                "20{:02}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
                rng.u8(15..25),
                rng.u8(1..13),
                rng.u8(1..29),
                rng.u8(..24),
                rng.u8(..60),
                rng.u8(..60)
            )),
        ),
        ("loginCount".to_owned(), AttributeValue::N(rng.u32(..100_000).to_string())),
        ("marketingOptIn".to_owned(), AttributeValue::Bool(rng.bool())),
        (
            "preferences".to_owned(),
            AttributeValue::M(HashMap::from([
                ("theme".to_owned(), s(if rng.bool() { "dark" } else { "light" }.to_owned())),
                ("language".to_owned(), s(["en-GB", "de-DE", "fr-FR", "ja-JP"][rng.usize(..4)].to_owned())),
                ("weeklyDigest".to_owned(), AttributeValue::Bool(rng.bool())),
            ])),
        ),
        ("bio".to_owned(), s(bio.join(" "))),
    ])
}

/// An attribute value's size by DynamoDB's documented rules: strings and binaries by their
/// bytes; a number 1 byte per two significant digits plus 1; a boolean or null 1; a list or
/// map 3 bytes plus its elements plus 1 byte each.
fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => number_size(n),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::M(m) => 3 + m.iter().map(|(k, v)| k.len() + value_size(v) + 1).sum::<usize>(),
        AttributeValue::L(l) => 3 + l.iter().map(|v| value_size(v) + 1).sum::<usize>(),
        AttributeValue::Ss(s) => s.iter().map(String::len).sum(),
        AttributeValue::Ns(n) => n.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(b) => b.iter().map(|b| b.as_ref().len()).sum(),
        _ => 0,
    }
}

fn number_size(n: &str) -> usize {
    let digits: String = n.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
    significant.div_ceil(2) + 1
}

fn item_size(item: &Item) -> usize {
    item.iter().map(|(name, value)| name.len() + value_size(value)).sum()
}

async fn create_profiles_table(db: &Client, table: &str) -> Result<(), String> {
    let key = KeySchemaElement::builder().attribute_name("userId").key_type(KeyType::Hash).build().map_err(|e| e.to_string())?;
    let attribute = AttributeDefinition::builder()
        .attribute_name("userId")
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(|e| e.to_string())?;
    db.create_table()
        .table_name(table)
        .key_schema(key)
        .attribute_definitions(attribute)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .map(|_| ())
        .map_err(aws(&format!("CreateTable {table}")))
}

/// One BatchWriteItem of up to 25 requests, again for what it leaves unprocessed.
async fn batch_write(db: &Client, table: &str, mut requests: Vec<WriteRequest>) -> Result<(), String> {
    for attempt in 0u32.. {
        if requests.is_empty() {
            return Ok(());
        }
        if attempt > 0 {
            if attempt > 20 {
                return Err(format!("BatchWriteItem {table}: {} requests still unprocessed after {attempt} calls", requests.len()));
            }
            tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
        }
        let out = db.batch_write_item().request_items(table, requests).send().await.map_err(aws(&format!("BatchWriteItem {table}")))?;
        requests = out.unprocessed_items().and_then(|u| u.get(table)).cloned().unwrap_or_default();
    }
    Ok(())
}

/// Every request, 25 a call, a few calls in flight.
async fn batch_write_all(db: &Client, table: &str, requests: Vec<WriteRequest>) -> Result<usize, String> {
    let calls: Vec<Vec<WriteRequest>> = requests.chunks(BATCH_WRITE).map(<[WriteRequest]>::to_vec).collect();
    let n = calls.len();
    stream::iter(calls.into_iter().map(|call| batch_write(db, table, call))).buffer_unordered(IN_FLIGHT).try_collect::<Vec<()>>().await?;
    Ok(n)
}

/// The table's item count: a paginated Scan with Select COUNT, straight to moto.
async fn count(db: &Client, table: &str) -> Result<i64, String> {
    let mut total = 0i64;
    let mut start = None;
    loop {
        let out = db
            .scan()
            .table_name(table)
            .select(Select::Count)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(aws(&format!("Scan {table}")))?;
        total += i64::from(out.count());
        match out.last_evaluated_key() {
            Some(key) if !key.is_empty() => start = Some(key.clone()),
            _ => return Ok(total),
        }
    }
}

fn moto_version(env: &support::Env) -> String {
    std::process::Command::new(&env.bins.moto_python)
        .args(["-c", "import moto; print(moto.__version__)"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "(version unknown)".into())
}

/// The machine's load average over the last minute (the bench shares its cores with whatever runs).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").ok().and_then(|l| l.split_whitespace().next().map(str::to_owned)).unwrap_or_else(|| "?".into())
}

fn copy_status(r: &DynamoRestore) -> Option<&CopyBackStatus> {
    r.status.as_ref().and_then(|s| s.copy_back.as_ref())
}

fn finished(r: Option<&DynamoRestore>) -> bool {
    r.and_then(copy_status).is_some_and(|s| !s.dry_run && matches!(s.phase, Some(CopyBackPhase::Completed | CopyBackPhase::Failed)))
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Thousands separated by commas, for the larger figures.
fn num(value: f64) -> String {
    let rounded = format!("{value:.1}");
    let (whole, fraction) = rounded.split_once('.').unwrap_or((&rounded, "0"));
    let (sign, digits) = whole.strip_prefix('-').map_or(("", whole), |d| ("-", d));
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    if fraction == "0" { format!("{sign}{grouped}") } else { format!("{sign}{grouped}.{fraction}") }
}

async fn run(env: &std::sync::Arc<support::Env>, total: usize, missing: usize) -> Result<(), String> {
    let ctx = env.context("bench-copyback");
    ctx.create_namespace().await?;
    let db = ctx.dynamo();
    let table = ctx.table("UserProfiles");
    create_profiles_table(&db, &table).await?;

    // The table, loaded straight into moto (not through the proxy).
    let sizes: Vec<usize> = (0..total).map(|i| item_size(&profile(i))).collect();
    let started = Instant::now();
    let puts = (0..total)
        .map(|i| PutRequest::builder().set_item(Some(profile(i))).build().map(|p| WriteRequest::builder().put_request(p).build()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let load_calls = batch_write_all(&db, &table, puts).await?;
    let loaded_in = started.elapsed();

    let proxy = support::proxy::FaultProxy::start(&env.moto.url).await?;
    let _operator = ctx.start_operator_via(&proxy, &[])?;

    let backups: Api<DynamoBackup> = ctx.api();
    let started = Instant::now();
    backups
        .create(&PostParams::default(), &DynamoBackup::new("before-incident", DynamoBackupSpec::for_table(table.clone())))
        .await
        .map_err(|e| format!("creating the DynamoBackup: {e}"))?;
    support::tables::wait_condition(&backups, "before-incident", "Ready", Duration::from_secs(300), |b: &DynamoBackup| {
        b.status.as_ref().map(|s| s.conditions.clone()).unwrap_or_default()
    })
    .await?;
    let backup_in = started.elapsed();

    // The incident: every (total/missing)-th item deleted, spread through the table.
    let lost: Vec<usize> = (0..missing).map(|k| k * total / missing).collect();
    let started = Instant::now();
    let deletes = lost
        .iter()
        .map(|i| {
            DeleteRequest::builder()
                .key("userId", AttributeValue::S(user(*i)))
                .build()
                .map(|d| WriteRequest::builder().delete_request(d).build())
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    batch_write_all(&db, &table, deletes).await?;
    let deleted_in = started.elapsed();
    let after_incident = count(&db, &table).await?;
    support::ensure(after_incident == (total - missing) as i64, || {
        format!("the live table holds {after_incident} items after the deletes, not {}", total - missing)
    })?;

    // The repair: a restore of the backup, copying back what the live table lacks.
    let counts_before = proxy.counts();
    let consumed_before: BTreeMap<&str, f64> = ["Scan", "BatchGetItem", "PutItem"].into_iter().map(|op| (op, proxy.consumed(op))).collect();
    let restored = ctx.table("UserProfiles-restored");
    let repair: DynamoRestore = serde_json::from_value(json!({
        "apiVersion": "dynamobackup.io/v1alpha1",
        "kind": "DynamoRestore",
        "metadata": {"name": "repair"},
        "spec": {"source": {"backupRef": {"name": "before-incident"}}, "targetTableName": restored, "copyBack": {}},
    }))
    .map_err(|e| e.to_string())?;
    let restores: Api<DynamoRestore> = ctx.api();
    let load_before = load_average();
    let created = Instant::now();
    let created_at = jiff::Timestamp::now();
    let repair = restores.create(&PostParams::default(), &repair).await.map_err(|e| format!("creating the DynamoRestore: {e}"))?;
    let spec = repair.spec.copy_back.clone().ok_or("the DynamoRestore came back without spec.copyBack")?;
    let (read_budget, write_budget) = (f64::from(spec.max_read_capacity_per_second), f64::from(spec.max_write_capacity_per_second));
    let done = tokio::time::timeout(COPY_TIMEOUT, await_condition(restores.clone(), "repair", finished))
        .await
        .map_err(|_| format!("copy-back not finished within {COPY_TIMEOUT:?}"))?
        .map_err(|e| e.to_string())?
        .ok_or("the DynamoRestore was deleted")?;
    let bench_wall = created.elapsed();
    let load_after = load_average();
    // Let the last status write and any follow-up reconcile land before counting.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let status = copy_status(&done).cloned().ok_or("no status.copyBack")?;
    if status.phase != Some(CopyBackPhase::Completed) {
        return Err(format!("copy-back {:?}: {}", status.phase, status.message.unwrap_or_default()));
    }
    let live_now = count(&db, &table).await?;
    support::ensure(live_now == total as i64, || format!("the live table holds {live_now} items after the copy-back, not {total}"))?;
    support::ensure(status.written == missing as i64 && status.missing == missing as i64 && status.scanned == total as i64, || {
        format!("expected {total} compared, {missing} missing and written: {status:?}")
    })?;

    // What the proxy saw.
    let counts_after = proxy.counts();
    let mut calls: Vec<(String, usize)> =
        counts_after.iter().map(|(op, n)| (op.clone(), n - counts_before.get(op).copied().unwrap_or(0))).filter(|(_, n)| *n > 0).collect();
    calls.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let call = |op: &str| calls.iter().find(|(o, _)| o == op).map_or(0, |(_, n)| *n);
    let consumed = |op: &str| proxy.consumed(op) - consumed_before.get(op).copied().unwrap_or(0.0);
    let (scan_units, get_units, put_units) = (consumed("Scan"), consumed("BatchGetItem"), consumed("PutItem"));
    // The copy's first and last calls: Scans of the restored table, BatchGetItem, PutItem.
    let mut moments: Vec<jiff::Timestamp> = proxy
        .requests_at("Scan")
        .into_iter()
        .filter(|(body, _)| body["TableName"].as_str() == Some(restored.as_str()))
        .chain(proxy.requests_at("BatchGetItem"))
        .chain(proxy.requests_at("PutItem"))
        .map(|(_, at)| at)
        .filter(|at| *at >= created_at)
        .collect();
    moments.sort();
    let calls_wall = match (moments.first(), moments.last()) {
        (Some(first), Some(last)) => last.duration_since(*first).as_secs_f64(),
        _ => 0.0,
    };
    let (copy_started, copy_completed) = (
        status.started_at.as_ref().map(|t| t.0).ok_or("no startedAt")?,
        status.completed_at.as_ref().map(|t| t.0).ok_or("no completedAt")?,
    );
    let status_wall = copy_completed.duration_since(copy_started).as_secs_f64();

    // The floors.
    let floor = |read: f64, write: f64| (read / read_budget).max(write / write_budget);
    let status_floor = floor(status.consumed_read_capacity, status.consumed_write_capacity);
    let proxy_floor = floor(scan_units + get_units, put_units);

    // DynamoDB's documented charges for these items: eventually consistent Scan pages of
    // SCAN_PAGE items (half a unit per 4 KB of a page's items, in all), eventually consistent
    // BatchGetItem (half a unit per key, each item rounded up to 4 KB; a key not found is
    // charged as one 4 KB read), PutItem (a unit per item rounded up to 1 KB).
    let page = usize::try_from(SCAN_PAGE).unwrap_or(1000);
    let pages = total.div_ceil(page);
    let doc_scan: f64 = sizes.chunks(page).map(|p| p.iter().sum::<usize>().div_ceil(4096) as f64 * 0.5).sum();
    let doc_get: f64 = sizes.iter().map(|s| s.div_ceil(4096).max(1) as f64 * 0.5).sum();
    let doc_put: f64 = lost.iter().map(|i| sizes[*i].div_ceil(1024).max(1) as f64).sum();
    let doc_floor = floor(doc_scan + doc_get, doc_put);
    // moto's own: a unit per Scan call and per PutItem written, a unit per key per BatchGetItem.
    let (moto_scan, moto_get, moto_put) = (call("Scan") as f64, total as f64, missing as f64);

    let bytes: usize = sizes.iter().sum();
    let average = bytes as f64 / total as f64;
    let (smallest, largest) = (sizes.iter().min().copied().unwrap_or(0), sizes.iter().max().copied().unwrap_or(0));
    let every = total as f64 / missing as f64;

    println!(
        "Copy-back of {} missing items out of {} at the default budgets ({read_budget} RCU/s, {write_budget} WCU/s): release build, real kube-apiserver, moto {} behind the counting proxy",
        num(missing as f64),
        num(total as f64),
        moto_version(env)
    );
    println!(
        "  items: user profiles of 10 attributes (a string key, strings, a number, a boolean, a map), {average:.0} bytes on average ({smallest} to {largest}), {:.1} MiB in all",
        bytes as f64 / 1_048_576.0
    );
    println!(
        "  setup: loaded in {:.1} s ({load_calls} BatchWriteItem of up to {BATCH_WRITE}, {IN_FLIGHT} in flight, straight to moto); DynamoBackup Ready in {:.1} s; {} deleted (every {every:.0}th) in {:.1} s",
        secs(loaded_in),
        secs(backup_in),
        num(missing as f64),
        secs(deleted_in)
    );
    println!(
        "  machine: {} cores, load average {load_before} when the restore was created, {load_after} when the copy completed",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    println!("  result: {}", status.message.as_deref().unwrap_or("(no message)"));
    println!("          the live table holds {} items again (Scan, Select COUNT, every page)", num(live_now as f64));
    println!();
    println!("Wall time");
    println!("  the copy, status.copyBack startedAt -> completedAt (whole seconds)    {status_wall:>8.0} s");
    println!("  the copy, its first call -> its last call (as the proxy saw them)     {calls_wall:>8.1} s");
    println!("  DynamoRestore created -> copy-back Completed (includes the restore)   {:>8.1} s", secs(bench_wall));
    println!();
    println!(
        "The floor the budgets set: max(read units / {read_budget}, write units / {write_budget}), from the units the answers reported"
    );
    println!(
        "  status:  {} RCU / {read_budget} = {:.1} s, {} WCU / {write_budget} = {:.1} s  ->  floor {status_floor:.1} s",
        num(status.consumed_read_capacity),
        status.consumed_read_capacity / read_budget,
        num(status.consumed_write_capacity),
        status.consumed_write_capacity / write_budget
    );
    println!(
        "  proxy:   {} RCU / {read_budget} = {:.1} s, {} WCU / {write_budget} = {:.1} s  ->  floor {proxy_floor:.1} s",
        num(scan_units + get_units),
        (scan_units + get_units) / read_budget,
        num(put_units),
        put_units / write_budget
    );
    println!(
        "  wall / floor: {:.3} (status times), {:.3} (the proxy's first to last call)",
        status_wall / status_floor.max(f64::MIN_POSITIVE),
        calls_wall / proxy_floor.max(f64::MIN_POSITIVE)
    );
    println!();
    println!("Capacity consumed, against the item sizes");
    println!("  {:<38}{:>14}{:>14}{:>22}", "", "reported", "moto's rule", "DynamoDB's rule");
    println!(
        "  {:<38}{:>14}{:>14}{:>22}",
        format!("Scan of the restored table, {} calls", call("Scan")),
        num(scan_units),
        num(moto_scan),
        format!("{} RCU", num(doc_scan))
    );
    println!(
        "  {:<38}{:>14}{:>14}{:>22}",
        format!("BatchGetItem of the live table, {} keys", num(total as f64)),
        num(get_units),
        num(moto_get),
        format!("{} RCU", num(doc_get))
    );
    println!(
        "  {:<38}{:>14}{:>14}{:>22}",
        "reads in all (status)",
        num(status.consumed_read_capacity),
        num(moto_scan + moto_get),
        format!("{} RCU", num(doc_scan + doc_get))
    );
    println!(
        "  {:<38}{:>14}{:>14}{:>22}",
        format!("PutItem into the live table, {} items", num(missing as f64)),
        num(put_units),
        num(moto_put),
        format!("{} WCU", num(doc_put))
    );
    println!(
        "  {:<38}{:>14}{:>14}{:>22}",
        "writes in all (status)",
        num(status.consumed_write_capacity),
        num(moto_put),
        format!("{} WCU", num(doc_put))
    );
    println!(
        "  DynamoDB's rules, for items of {average:.0} bytes: an eventually consistent Scan is charged 0.5 RCU per 4 KB of a page's items"
    );
    println!(
        "  together ({page} items a page: about {:.0} RCU a page); an eventually consistent BatchGetItem 0.5 RCU per key, each",
        (page as f64 * average / 4096.0).ceil() * 0.5
    );
    println!("  item rounded up to 4 KB (a key not found is charged too); a PutItem 1 WCU per item rounded up to 1 KB.");
    println!("  moto does not price by size: its Scan and PutItem answers carry a fixed 1.0 unit each (a PutItem refused by its");
    println!("  condition reports none), and its BatchGetItem 1 unit per key asked for, found or not. The budgets pace by what");
    println!("  the answers report, so in this run they paced by moto's figures: reads at 1 unit per key looked up, not 0.5.");
    println!(
        "  With DynamoDB's figures the same copy would have a floor of {doc_floor:.1} s (reads {:.1} s, writes {:.1} s).",
        (doc_scan + doc_get) / read_budget,
        doc_put / write_budget
    );
    println!();
    println!(
        "DynamoDB calls from the DynamoRestore's creation to Completed (the proxy's count): {}",
        calls.iter().map(|(_, n)| n).sum::<usize>()
    );
    for (op, count) in &calls {
        println!("  {op:<32}{count:>8}");
    }
    println!(
        "  per chunk of {CHUNK} keys: {:.2} BatchGetItem; per page of {page} items: {:.2} Scan",
        call("BatchGetItem") as f64 / total.div_ceil(CHUNK) as f64,
        call("Scan") as f64 / pages as f64
    );
    println!(
        "  items per second over the copy's {status_wall:.0} s: {:.0} compared, {:.1} written",
        status.scanned as f64 / status_wall.max(1.0),
        status.written as f64 / status_wall.max(1.0)
    );
    println!();
    println!("Where the time went: moto's answer times, as the proxy measured them (forwarded to answered)");
    for op in ["Scan", "BatchGetItem", "PutItem"] {
        let mut times = proxy.answer_times(op);
        times.sort();
        let in_all: f64 = times.iter().map(Duration::as_secs_f64).sum();
        let median = times.get(times.len() / 2).copied().unwrap_or_default();
        println!(
            "  {op:<14}{:>7} calls   median {:>6.1} ms   mean {:>6.1} ms   {in_all:>6.1} s in all",
            times.len(),
            median.as_secs_f64() * 1000.0,
            in_all * 1000.0 / times.len().max(1) as f64
        );
    }
    let chunks = total.div_ceil(CHUNK);
    println!(
        "  a chunk of {CHUNK} keys took {:.3} s on average over the copy; its read budget is {:.3} s ({} units at {read_budget}/s)",
        calls_wall / chunks as f64,
        (get_units / chunks as f64) / read_budget,
        num(get_units / chunks as f64)
    );
    Ok(())
}
