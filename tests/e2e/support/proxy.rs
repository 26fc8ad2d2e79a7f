//! A fault-injecting proxy between the operator and moto, for what moto never shows: AWS
//! errors, backups and tables that stay CREATING for a while, and a reply held back so a test
//! can kill the operator right after a call reached DynamoDB. It also counts calls by operation
//! (STS's too, when the operator's STS endpoint is the proxy) and records who signed each.
//! Everything it fakes is chosen by the test that starts it; by default it only forwards.
//!
//! With `enforce_documented_limits` it also answers as DynamoDB does past its per-account
//! request limits: a call of a limited operation beyond its rate gets `ThrottlingException`
//! (HTTP 400) instead of reaching moto, which limits nothing. The rates are those of each
//! operation's API reference; each is a token bucket that holds one second of calls, one bucket
//! per account, region and operation, as DynamoDB counts them. The account of a call is that of
//! the credentials that signed it: the proxy learns each assumed role's access key and account
//! from the STS AssumeRole answers it forwards; any other key is moto's default account.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Instant,
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri},
    response::Response,
};
use tokio::sync::Notify;

#[derive(Clone, Debug)]
pub enum Rule {
    /// Answer `operation` with this AWS error, `times` times (without forwarding).
    Fail { operation: &'static str, code: &'static str, status: u16, times: u32 },
    /// Answer `operation` with this AWS error when `signer` (an access key id) signed it, `times`
    /// times: one account's calls refused while another's go through.
    #[allow(dead_code)]
    FailSignedBy { operation: &'static str, signer: String, code: &'static str, times: u32 },
    /// Forward `operation`, then never answer: the caller hangs until it is killed.
    Hold { operation: &'static str },
    /// Let `skip` calls of `operation` through, then hold the next as `Hold` does.
    HoldAfter { operation: &'static str, skip: u32 },
    /// Let `skip` calls of any operation through, then hold the next (forwarded, never
    /// answered): the operator can be killed right after its (skip+1)-th call took effect.
    HoldCall { skip: u32 },
    /// Answer this percentage of all calls with ThrottlingException, chosen at random (not
    /// forwarded). Used by `benches/chaos.rs`.
    #[allow(dead_code)]
    Throttle { percent: u32 },
    /// Add `add` to the `Count` of every Scan answer (a count that does not match the data).
    ScanCount { add: i64 },
    /// Report AVAILABLE backups as CREATING in the next `times` answers that describe backups
    /// (CreateBackup, DescribeBackup, ListBackups).
    BackupCreating { times: u32 },
    /// Report table `table` as CREATING in the next `times` answers (DescribeTable, Restore*)
    /// that describe it as ACTIVE.
    TableCreating { table: String, times: u32 },
}

/// DynamoDB's documented per-account limits, per second, from each operation's API reference.
pub const DOCUMENTED_LIMITS: [(&str, u32); 9] = [
    ("CreateBackup", 50),
    ("ListBackups", 5),
    ("DescribeBackup", 10),
    ("DeleteBackup", 10),
    ("DescribeContinuousBackups", 10),
    ("RestoreTableFromBackup", 10),
    ("ListTagsOfResource", 10),
    ("TagResource", 5),
    ("UntagResource", 5),
];

/// A token bucket: `rate` tokens a second, at most `rate` held.
struct Bucket {
    rate: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate).min(self.rate);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[derive(Default)]
struct Shared {
    upstream: String,
    client: reqwest::Client,
    /// The enforced rates, by operation (empty: nothing enforced).
    rates: Mutex<HashMap<String, f64>>,
    /// The buckets of those rates, by (account, region, operation).
    buckets: Mutex<HashMap<(String, String, String), Bucket>>,
    /// The account of each access key learnt from an AssumeRole answer.
    accounts: Mutex<HashMap<String, String>>,
    /// Calls throttled by the enforced rates, by (account, operation).
    throttled: Mutex<HashMap<(String, String), usize>>,
    calls: Mutex<Vec<String>>,
    /// (operation, the access key id that signed it).
    signers: Mutex<Vec<(String, String)>>,
    bodies: Mutex<Vec<(String, String, jiff::Timestamp)>>,
    rules: Mutex<Vec<Rule>>,
    held: Notify,
    /// The capacity units DynamoDB's answers reported (`ConsumedCapacity`), by operation.
    consumed: Mutex<HashMap<String, f64>>,
    /// How long upstream took to answer each forwarded call (to the end of its body), in order.
    answered: Mutex<Vec<(String, std::time::Duration)>>,
    /// Requests held so far.
    holding: std::sync::atomic::AtomicUsize,
    /// STS GetCallerIdentity calls (the operator's own identity, asked at start).
    identity_checks: std::sync::atomic::AtomicUsize,
}

pub struct FaultProxy {
    pub url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    pub async fn start(upstream: &str) -> Result<Self, String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
        let url = format!("http://{}", listener.local_addr().map_err(|e| e.to_string())?);
        let shared = Arc::new(Shared { upstream: upstream.to_owned(), ..Default::default() });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { url, shared, task })
    }

    pub fn add(&self, rule: Rule) {
        self.shared.rules.lock().map(|mut r| r.push(rule)).unwrap_or_default();
    }

    /// From now on, calls beyond DynamoDB's documented per-second limits are throttled.
    /// Each account and region has its own buckets.
    pub fn enforce_documented_limits(&self) {
        let mut rates = self.shared.rates.lock().unwrap_or_else(|p| p.into_inner());
        for (operation, rate) in DOCUMENTED_LIMITS {
            rates.insert(operation.to_owned(), f64::from(rate));
        }
    }

    /// Calls answered with ThrottlingException (by the enforced limits or a `Throttle` rule), by
    /// operation.
    pub fn throttled(&self) -> HashMap<String, usize> {
        let mut by_operation = HashMap::new();
        for ((_, operation), n) in self.throttled_by_account() {
            *by_operation.entry(operation).or_insert(0) += n;
        }
        by_operation
    }

    /// The same, by (account, operation).
    pub fn throttled_by_account(&self) -> HashMap<(String, String), usize> {
        self.shared.throttled.lock().map(|t| t.clone()).unwrap_or_default()
    }

    /// The account whose credentials signed each request of `operation`, with the moment it
    /// arrived, in order.
    #[allow(dead_code)]
    pub fn accounts_at(&self, operation: &str) -> Vec<(String, jiff::Timestamp)> {
        let signers = self.shared.signers.lock().map(|s| s.clone()).unwrap_or_default();
        let bodies = self.shared.bodies.lock().map(|b| b.clone()).unwrap_or_default();
        // Both lists get one entry per request, in the same order.
        signers
            .into_iter()
            .zip(bodies)
            .filter(|((op, _), _)| op == operation)
            .map(|((_, key), (_, _, at))| (self.shared.account_of(&key), at))
            .collect()
    }

    pub fn clear(&self) {
        self.shared.rules.lock().map(|mut r| r.clear()).unwrap_or_default();
    }

    /// Operations seen so far, in order.
    pub fn calls(&self) -> Vec<String> {
        self.shared.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// The JSON bodies of the requests of `operation`, in order.
    pub fn requests(&self, operation: &str) -> Vec<serde_json::Value> {
        self.requests_at(operation).into_iter().map(|(body, _)| body).collect()
    }

    /// The raw bodies of the requests of `operation` (for STS's form-encoded ones).
    pub fn requests_raw(&self, operation: &str) -> Vec<String> {
        let bodies = self.shared.bodies.lock().map(|b| b.clone()).unwrap_or_default();
        bodies.into_iter().filter(|(op, _, _)| op == operation).map(|(_, body, _)| body).collect()
    }

    /// The same, with the moment each request arrived.
    pub fn requests_at(&self, operation: &str) -> Vec<(serde_json::Value, jiff::Timestamp)> {
        let bodies = self.shared.bodies.lock().map(|b| b.clone()).unwrap_or_default();
        bodies
            .into_iter()
            .filter(|(op, _, _)| op == operation)
            .filter_map(|(_, body, at)| Some((serde_json::from_str(&body).ok()?, at)))
            .collect()
    }

    /// The access key ids that signed the requests of `operation`, in order.
    pub fn signers(&self, operation: &str) -> Vec<String> {
        let signers = self.shared.signers.lock().map(|s| s.clone()).unwrap_or_default();
        signers.into_iter().filter(|(op, _)| op == operation).map(|(_, key)| key).collect()
    }

    /// Calls by operation that arrived in `[from, to)`.
    #[allow(dead_code)]
    pub fn counts_between(&self, from: jiff::Timestamp, to: jiff::Timestamp) -> HashMap<String, usize> {
        let bodies = self.shared.bodies.lock().map(|b| b.clone()).unwrap_or_default();
        let mut counts = HashMap::new();
        for (op, _, at) in bodies {
            if at >= from && at < to {
                *counts.entry(op).or_insert(0) += 1;
            }
        }
        counts
    }

    pub fn count(&self, operation: &str) -> usize {
        self.calls().iter().filter(|c| *c == operation).count()
    }

    pub fn counts(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for call in self.calls() {
            *counts.entry(call).or_insert(0) += 1;
        }
        counts
    }

    /// The capacity units the answers to `operation` reported consuming, summed.
    #[allow(dead_code)]
    pub fn consumed(&self, operation: &str) -> f64 {
        self.shared.consumed.lock().map(|c| c.get(operation).copied().unwrap_or(0.0)).unwrap_or(0.0)
    }

    /// How many times the operator asked STS who it is (GetCallerIdentity).
    #[allow(dead_code)]
    pub fn identity_checks(&self) -> usize {
        self.shared.identity_checks.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// How long upstream took to answer each forwarded call of `operation`, in order.
    #[allow(dead_code)]
    pub fn answer_times(&self, operation: &str) -> Vec<std::time::Duration> {
        let answered = self.shared.answered.lock().map(|a| a.clone()).unwrap_or_default();
        answered.into_iter().filter(|(op, _)| op == operation).map(|(_, took)| took).collect()
    }

    /// How many requests are held (forwarded, never answered).
    #[allow(dead_code)]
    pub fn holding(&self) -> usize {
        self.shared.holding.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Resolves once a `Hold` rule has forwarded its request.
    pub async fn held(&self) {
        self.shared.held.notified().await;
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn aws_error(status: u16, code: &str) -> Response {
    let body = format!(r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{code}","message":"injected by the test proxy: {code}"}}"#);
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST))
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amzn-errortype", code)
        .body(Body::from(body))
        .unwrap_or_default()
}

/// The capacity units of an answer's `ConsumedCapacity`: one object for the calls on one table
/// (Scan, PutItem, ...), a list of one per table for the batch and transaction calls
/// (BatchGetItem, BatchWriteItem, Transact*), summed.
fn capacity_units(consumed: &serde_json::Value) -> Option<f64> {
    match consumed {
        serde_json::Value::Array(tables) => Some(tables.iter().filter_map(|t| t["CapacityUnits"].as_f64()).sum()),
        one => one["CapacityUnits"].as_f64(),
    }
}

/// The AWS Backup operations the operator calls, by method and path.
fn aws_backup_operation(method: &Method, path: &str) -> Option<&'static str> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    Some(match (method.as_str(), parts.as_slice()) {
        ("PUT", ["backup-jobs"]) => "StartBackupJob",
        ("GET", ["backup-jobs", _]) => "DescribeBackupJob",
        ("PUT", ["copy-jobs"]) => "StartCopyJob",
        ("GET", ["copy-jobs", _]) => "DescribeCopyJob",
        ("PUT", ["restore-jobs"]) => "StartRestoreJob",
        ("GET", ["restore-jobs", _]) => "DescribeRestoreJob",
        ("DELETE", ["backup-vaults", _, "recovery-points", ..]) => "DeleteRecoveryPoint",
        _ => return None,
    })
}

async fn handle(State(shared): State<Arc<Shared>>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let request_body = String::from_utf8_lossy(&body).into_owned();
    // DynamoDB names the operation in a header (JSON protocol); STS in the form body (query);
    // AWS Backup (REST) by method and path.
    let operation = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.rsplit('.').next())
        .or_else(|| request_body.split('&').find_map(|pair| pair.strip_prefix("Action=")))
        .or_else(|| aws_backup_operation(&method, uri.path()))
        .unwrap_or("")
        .to_owned();
    // The operator asks STS who it is once at start, in the background: the process's call, not
    // an object's. It is counted apart and passes untouched, so that counts and the N-th call a
    // test holds are the objects' calls only.
    if operation == "GetCallerIdentity" {
        shared.identity_checks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        return forward(&shared, method, &uri, &headers, body).await;
    }
    if let Ok(mut calls) = shared.calls.lock() {
        calls.push(operation.clone());
    }
    // The credential scope: access key id / date / region / service / aws4_request.
    let scope: Vec<&str> = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|auth| auth.split("Credential=").nth(1))
        .and_then(|credential| credential.split(',').next())
        .map(|credential| credential.split('/').collect())
        .unwrap_or_default();
    let signer = scope.first().copied().unwrap_or("").to_owned();
    let region = scope.get(2).copied().unwrap_or("").to_owned();
    let account = shared.account_of(&signer);
    // One lock for both lists, so that they stay in step (`accounts_at` pairs them).
    if let (Ok(mut signers), Ok(mut bodies)) = (shared.signers.lock(), shared.bodies.lock()) {
        signers.push((operation.clone(), signer.clone()));
        bodies.push((operation.clone(), request_body.clone(), jiff::Timestamp::now()));
    }

    let rate = shared.rates.lock().ok().and_then(|rates| rates.get(&operation).copied());
    let over_limit = rate.is_some_and(|rate| {
        let key = (account.clone(), region.clone(), operation.clone());
        shared
            .buckets
            .lock()
            .map(|mut buckets| !buckets.entry(key).or_insert_with(|| Bucket { rate, tokens: rate, at: Instant::now() }).take())
            .unwrap_or(false)
    });
    if over_limit {
        shared.count_throttled(&account, &operation);
        return aws_error(400, "ThrottlingException");
    }

    let mut hold = false;
    let mut rewrite_backup = false;
    let mut rewrite_table: Option<String> = None;
    let mut scan_count_add: Option<i64> = None;
    if let Ok(mut rules) = shared.rules.lock() {
        for rule in rules.iter_mut() {
            match rule {
                Rule::Fail { operation: op, code, status, times } if *op == operation && *times > 0 => {
                    *times -= 1;
                    return aws_error(*status, code);
                }
                Rule::FailSignedBy { operation: op, signer: by, code, times } if *op == operation && *by == signer && *times > 0 => {
                    *times -= 1;
                    return aws_error(400, code);
                }
                Rule::Hold { operation: op } if *op == operation => hold = true,
                Rule::HoldAfter { operation: op, skip } if *op == operation => {
                    if *skip == 0 {
                        hold = true;
                    } else {
                        *skip -= 1;
                    }
                }
                Rule::Throttle { percent } if fastrand::u32(0..100) < *percent => {
                    shared.count_throttled(&account, &operation);
                    return aws_error(400, "ThrottlingException");
                }
                Rule::HoldCall { skip } => {
                    if *skip == 0 {
                        hold = true;
                    }
                    *skip = skip.wrapping_sub(1);
                }
                Rule::ScanCount { add } if operation == "Scan" => scan_count_add = Some(*add),
                Rule::BackupCreating { times }
                    if matches!(operation.as_str(), "CreateBackup" | "DescribeBackup" | "ListBackups") && *times > 0 =>
                {
                    *times -= 1;
                    rewrite_backup = true;
                }
                Rule::TableCreating { table, times }
                    if *times > 0
                        && (operation == "DescribeTable" || operation.starts_with("RestoreTable"))
                        && request_body.contains(&format!("\"{table}\"")) =>
                {
                    rewrite_table = Some(table.clone());
                }
                _ => {}
            }
        }
    }

    let mut forward =
        shared.client.request(method, format!("{}{}", shared.upstream, uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")));
    for (name, value) in headers.iter().filter(|(n, _)| *n != "host" && *n != "content-length") {
        forward = forward.header(name, value);
    }
    let forwarded = Instant::now();
    let answer = match forward.body(body).send().await {
        Ok(answer) => answer,
        Err(err) => return aws_error(502, &format!("ProxyUpstreamError: {err}")),
    };
    let status = answer.status().as_u16();
    let content_type =
        answer.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("application/x-amz-json-1.0").to_owned();
    // REST services (AWS Backup) name their errors in this header.
    let error_type = answer.headers().get("x-amzn-errortype").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let mut text = answer.text().await.unwrap_or_default();
    if operation == "AssumeRole" {
        shared.learn_account(&text);
    }
    if let Ok(mut answered) = shared.answered.lock() {
        answered.push((operation.clone(), forwarded.elapsed()));
    }
    if hold {
        shared.holding.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        shared.held.notify_waiters();
        std::future::pending::<()>().await;
    }
    if text.contains("ConsumedCapacity")
        && let Ok(answer) = serde_json::from_str::<serde_json::Value>(&text)
        && let Some(units) = capacity_units(&answer["ConsumedCapacity"])
        && let Ok(mut consumed) = shared.consumed.lock()
    {
        *consumed.entry(operation.clone()).or_insert(0.0) += units;
    }
    if let Some(add) = scan_count_add
        && let Ok(mut answer) = serde_json::from_str::<serde_json::Value>(&text)
        && let Some(count) = answer.get("Count").and_then(serde_json::Value::as_i64)
    {
        answer["Count"] = serde_json::json!(count + add);
        text = answer.to_string();
    }
    if rewrite_backup {
        text = text.replace("\"AVAILABLE\"", "\"CREATING\"");
    }
    if let Some(table) = rewrite_table {
        let rewritten = text
            .replace("\"TableStatus\": \"ACTIVE\"", "\"TableStatus\": \"CREATING\"")
            .replace("\"TableStatus\":\"ACTIVE\"", "\"TableStatus\":\"CREATING\"");
        if rewritten != text {
            text = rewritten;
            // Only an answer that was changed uses up one of the rule's times.
            if let Ok(mut rules) = shared.rules.lock() {
                for rule in rules.iter_mut() {
                    if let Rule::TableCreating { table: t, times } = rule
                        && *t == table
                    {
                        *times = times.saturating_sub(1);
                    }
                }
            }
        }
    }
    let mut response =
        Response::builder().status(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY)).header("content-type", content_type);
    if let Some(error_type) = error_type {
        response = response.header("x-amzn-errortype", error_type);
    }
    response.body(Body::from(text)).unwrap_or_default()
}

impl Shared {
    /// The account of the credentials with access key `key`.
    fn account_of(&self, key: &str) -> String {
        self.accounts.lock().ok().and_then(|a| a.get(key).cloned()).unwrap_or_else(|| super::moto::OWN_ACCOUNT.to_owned())
    }

    /// Learns the access key and account of the credentials an AssumeRole answer hands out (the
    /// account is the one in the assumed role's ARN, `arn:aws:sts::ACCOUNT:assumed-role/...`).
    fn learn_account(&self, answer: &str) {
        let between = |open: &str, close: &str| answer.split(open).nth(1).and_then(|rest| rest.split(close).next()).map(str::trim);
        let key = between("<AccessKeyId>", "</AccessKeyId>");
        let account = between("<Arn>", "</Arn>").and_then(|arn| arn.split(':').nth(4)).filter(|a| !a.is_empty());
        if let (Some(key), Some(account), Ok(mut accounts)) = (key, account, self.accounts.lock()) {
            accounts.insert(key.to_owned(), account.to_owned());
        }
    }

    fn count_throttled(&self, account: &str, operation: &str) {
        if let Ok(mut throttled) = self.throttled.lock() {
            *throttled.entry((account.to_owned(), operation.to_owned())).or_insert(0) += 1;
        }
    }
}

/// Forwards a request to moto and its answer back, untouched.
async fn forward(shared: &Shared, method: Method, uri: &Uri, headers: &HeaderMap, body: Bytes) -> Response {
    let mut request =
        shared.client.request(method, format!("{}{}", shared.upstream, uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")));
    for (name, value) in headers.iter().filter(|(n, _)| *n != "host" && *n != "content-length") {
        request = request.header(name, value);
    }
    let answer = match request.body(body).send().await {
        Ok(answer) => answer,
        Err(err) => return aws_error(502, &format!("ProxyUpstreamError: {err}")),
    };
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let content_type = answer.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("text/xml").to_owned();
    let text = answer.text().await.unwrap_or_default();
    Response::builder().status(status).header("content-type", content_type).body(Body::from(text)).unwrap_or_default()
}
