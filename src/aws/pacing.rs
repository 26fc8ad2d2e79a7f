//! Client-side pacing, so the operator stays inside DynamoDB's per-account request limits instead
//! of learning them from ThrottlingException.
//!
//! Only operations whose API reference documents a rate are paced, each at its own rate and per
//! region (DynamoDB counts per account and region); the others (DescribeTable,
//! UpdateContinuousBackups, RestoreTableToPointInTime, ...) are not capped. Calls come in two
//! lanes: a `Now` call (a backup or restore someone waits for) takes the next slot; a
//! `Background` call (refreshing what the operator already knows) takes a slot only while no `Now`
//! call of that operation is waiting, so refreshes never delay a scheduled backup.

use std::{
    collections::HashMap,
    num::NonZeroU32,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{sync::oneshot, time::Instant};

use super::{Accounts, held, turns::Turns};

/// Each operation's documented maximum, per second, per account and region (from the
/// DynamoDB API reference of each operation).
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

/// AWS Backup's operations, paced by default at conservative rates: AWS Backup lists its API
/// rates per account in Service Quotas (they differ by account and region), so these stay low
/// and `--aws-rate-limits` sets the account's own.
pub const AWS_BACKUP_LIMITS: [(&str, u32); 7] = [
    ("StartBackupJob", 5),
    ("StartCopyJob", 5),
    ("StartRestoreJob", 5),
    ("DeleteRecoveryPoint", 5),
    ("DescribeBackupJob", 10),
    ("DescribeCopyJob", 10),
    ("DescribeRestoreJob", 10),
];

/// Application Auto Scaling's operations a restore makes (its after-restore step
/// `autoScaling`). Its quotas page lists counts (targets, policies, scheduled actions) but no
/// API rates, and the API throttles per account and region across every service it scales, so
/// the pace stays at a few calls a second; `--aws-rate-limits` sets the account's own.
pub const AUTO_SCALING_LIMITS: [(&str, u32); 4] =
    [("DescribeScalableTargets", 4), ("DescribeScalingPolicies", 4), ("RegisterScalableTarget", 2), ("PutScalingPolicy", 2)];

/// Who waits for a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// A backup, restore or deletion in progress: the next free slot.
    Now,
    /// A refresh of what is already known: only slots no `Now` call wants.
    Background,
}

/// One operation's pace in one account and region.
struct Bucket {
    /// The time between two calls: evenly spaced, no burst, so no one-second window ever holds
    /// more than the rate.
    slot: Duration,
    state: Mutex<BucketState>,
}

struct BucketState {
    /// When the next call may go.
    next: Instant,
    /// Calls waiting for their turn, woken in turn order (`Turns`).
    turns: Turns<oneshot::Sender<()>>,
    /// A task hands out the turns while calls wait.
    dispatching: bool,
}

/// The pace of every limited operation; cheap to clone (one shared state).
#[derive(Clone)]
pub struct Pacer {
    rates: Arc<HashMap<String, NonZeroU32>>,
    buckets: Arc<Mutex<Buckets>>,
    /// The account of each call: its tenant role's, or the operator's own (STS GetCallerIdentity
    /// at start).
    accounts: Accounts,
}

/// One bucket per (account, region, operation): DynamoDB and AWS Backup count their limits per
/// account and region.
type Buckets = HashMap<(Option<String>, Option<String>, String), Arc<Bucket>>;

impl Pacer {
    /// The documented limits, with `overrides` (operation, per second) taking their place or
    /// pacing an operation DynamoDB does not limit.
    pub fn new(overrides: &[(String, NonZeroU32)]) -> Self {
        let mut rates: HashMap<String, NonZeroU32> = DOCUMENTED_LIMITS
            .iter()
            .chain(&AWS_BACKUP_LIMITS)
            .chain(&AUTO_SCALING_LIMITS)
            .filter_map(|(op, rate)| Some(((*op).to_owned(), NonZeroU32::new(*rate)?)))
            .collect();
        rates.extend(overrides.iter().cloned());
        Self { rates: Arc::new(rates), buckets: Arc::default(), accounts: Accounts::default() }
    }

    /// The pace of `operation`, if it has one.
    pub fn rate(&self, operation: &str) -> Option<NonZeroU32> {
        self.rates.get(operation).copied()
    }

    /// The account of the operator's own credentials, once STS has said it.
    pub fn set_own_account(&self, account: &str) {
        self.accounts.set_own(account);
    }

    /// The accounts the pacer counts calls in, to share with what labels them.
    pub fn accounts(&self) -> Accounts {
        self.accounts.clone()
    }

    /// The account a call is counted in: its role's (the ARN names it), else the operator's own.
    pub fn account_of(&self, role_arn: Option<&str>) -> Option<String> {
        self.accounts.of(role_arn)
    }

    fn bucket(&self, account: Option<&str>, region: Option<&str>, operation: &str) -> Option<Arc<Bucket>> {
        let rate = self.rate(operation)?;
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let key = (account.map(str::to_owned), region.map(str::to_owned), operation.to_owned());
        let bucket = buckets.entry(key).or_insert_with(|| {
            let state = BucketState { next: Instant::now(), turns: Turns::default(), dispatching: false };
            Arc::new(Bucket { slot: Duration::from_secs(1) / rate.get(), state: Mutex::new(state) })
        });
        Some(bucket.clone())
    }

    /// Waits until one more call of `operation` fits the pace of its account (`role_arn`'s, or
    /// the operator's own) and `region`. While it waits, the reconcile gives its slot back
    /// (`held`), and its turn comes round-robin across the namespaces waiting.
    pub async fn wait(&self, role_arn: Option<&str>, region: Option<&str>, operation: &str, lane: Lane) {
        let account = self.account_of(role_arn);
        let Some(bucket) = self.bucket(account.as_deref(), region, operation) else { return };
        let turn = {
            let mut state = bucket.state.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            if state.turns.is_empty() && state.next <= now {
                state.next = now + bucket.slot;
                return;
            }
            let (tx, rx) = oneshot::channel();
            state.turns.push(lane, &held::tenant(), tx);
            if !state.dispatching {
                state.dispatching = true;
                tokio::spawn(dispatch(bucket.clone()));
            }
            rx
        };
        let given_back = held::give_back();
        // The dispatcher never drops a waiter without a turn; a closed channel means the
        // process is stopping: go on, as the caller would after its turn.
        let _ = turn.await;
        held::take_again(given_back).await;
    }
}

/// Hands out one bucket's turns, one a slot, while calls wait; a waiter that gave up (its
/// reconcile dropped) passes its turn to the next at once.
async fn dispatch(bucket: Arc<Bucket>) {
    loop {
        let next = bucket.state.lock().unwrap_or_else(|p| p.into_inner()).next;
        tokio::time::sleep_until(next).await;
        let mut state = bucket.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            match state.turns.pop() {
                None => {
                    state.dispatching = false;
                    return;
                }
                Some((_, waiter)) => {
                    if waiter.send(()).is_ok() {
                        state.next = Instant::now().max(state.next) + bucket.slot;
                        break;
                    }
                }
            }
        }
    }
}

/// Reads `Operation=rate` pairs, as `--aws-rate-limits` takes them.
pub fn parse_rate_limit(text: &str) -> Result<(String, NonZeroU32), String> {
    let (op, rate) = text.split_once('=').ok_or_else(|| format!("{text:?}: expected Operation=perSecond, e.g. ListBackups=5"))?;
    let op = op.trim();
    if op.is_empty() || !op.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(format!("{op:?} is not a DynamoDB operation name (e.g. CreateBackup)"));
    }
    let rate: NonZeroU32 = rate.trim().parse().map_err(|_| format!("{text:?}: the rate must be a whole number above 0"))?;
    Ok((op.to_owned(), rate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_operations_are_paced_and_the_others_are_not() {
        let pacer = Pacer::new(&[]);
        assert_eq!(pacer.rate("CreateBackup").map(NonZeroU32::get), Some(50));
        assert_eq!(pacer.rate("ListBackups").map(NonZeroU32::get), Some(5));
        assert_eq!(pacer.rate("DescribeContinuousBackups").map(NonZeroU32::get), Some(10));
        assert_eq!(pacer.rate("DescribeTable"), None);
        assert_eq!(pacer.rate("RegisterScalableTarget").map(NonZeroU32::get), Some(2));
        assert_eq!(pacer.rate("RestoreTableToPointInTime"), None);
        let raised = Pacer::new(&[parse_rate_limit("ListBackups=200").unwrap(), parse_rate_limit("DescribeTable = 7").unwrap()]);
        assert_eq!(raised.rate("ListBackups").map(NonZeroU32::get), Some(200));
        assert_eq!(raised.rate("DescribeTable").map(NonZeroU32::get), Some(7));
    }

    #[test]
    fn bad_rate_limits_are_refused_with_a_reason() {
        assert!(parse_rate_limit("ListBackups").unwrap_err().contains("Operation=perSecond"));
        assert!(parse_rate_limit("ListBackups=0").unwrap_err().contains("above 0"));
        assert!(parse_rate_limit("List Backups=3").unwrap_err().contains("operation name"));
    }

    const TENANT_A: &str = "arn:aws:iam::111111111111:role/backups";
    const TENANT_B: &str = "arn:aws:iam::222222222222:role/backups";

    // Paced on tokio's clock: paused, the slots pass at once and exactly.
    #[tokio::test(start_paused = true)]
    async fn calls_are_spaced_evenly_without_a_burst() {
        let pacer = Pacer::new(&[parse_rate_limit("ListBackups=50").unwrap()]);
        let started = Instant::now();
        for _ in 0..6 {
            pacer.wait(None, None, "ListBackups", Lane::Now).await;
        }
        // 50 per second, the first at once: the sixth waits five slots of 20 ms.
        assert_eq!(started.elapsed(), Duration::from_millis(100));
        // Regions and accounts are counted apart, and unpaced operations never wait.
        let before = Instant::now();
        pacer.wait(None, Some("eu-central-1"), "ListBackups", Lane::Now).await;
        pacer.wait(Some(TENANT_A), None, "ListBackups", Lane::Now).await;
        pacer.wait(None, None, "DescribeTable", Lane::Now).await;
        assert_eq!(before.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn each_account_has_its_own_pace() {
        let pacer = Pacer::new(&[]);
        pacer.set_own_account("123456789012");
        assert_eq!(pacer.account_of(None).as_deref(), Some("123456789012"));
        assert_eq!(pacer.account_of(Some(TENANT_B)).as_deref(), Some("222222222222"));
        // 50 CreateBackups in each of three accounts take one second, not three.
        let started = Instant::now();
        let calls = [None, Some(TENANT_A), Some(TENANT_B)].into_iter().flat_map(|role| (0..50).map(move |_| role)).map(|role| {
            let pacer = pacer.clone();
            async move { pacer.wait(role, None, "CreateBackup", Lane::Now).await }
        });
        futures::future::join_all(calls).await;
        assert!(started.elapsed() <= Duration::from_secs(1), "{:?}", started.elapsed());
        // A role of the operator's own account shares its pace.
        pacer.wait(Some("arn:aws:iam::123456789012:role/shop"), None, "CreateBackup", Lane::Now).await;
        assert!(started.elapsed() > Duration::from_millis(980), "{:?}", started.elapsed());
    }

    /// One namespace's burst of 200 calls, then another namespace's 3: the 3 are served within
    /// a few turns, not after the burst.
    #[tokio::test(start_paused = true)]
    async fn namespaces_take_turns_in_a_bucket() {
        let pacer = Pacer::new(&[parse_rate_limit("DeleteBackup=10").unwrap()]);
        let order = Arc::new(Mutex::new(Vec::new()));
        let call = |tenant: &'static str| {
            let (pacer, order) = (pacer.clone(), order.clone());
            tokio::spawn(held::holding(tenant, None, async move {
                pacer.wait(None, None, "DeleteBackup", Lane::Now).await;
                order.lock().unwrap().push(tenant);
            }))
        };
        let burst: Vec<_> = (0..200).map(|_| call("a")).collect();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let late: Vec<_> = (0..3).map(|_| call("b")).collect();
        for task in late {
            task.await.unwrap();
        }
        let served = order.lock().unwrap().clone();
        let last_b = served.iter().rposition(|t| *t == "b").unwrap();
        assert!(last_b < 12, "b's third call was served {}th: {served:?}", last_b + 1);
        for task in burst {
            task.await.unwrap();
        }
        assert_eq!(order.lock().unwrap().len(), 203);
    }

    #[tokio::test(start_paused = true)]
    async fn background_calls_yield_to_waiting_calls() {
        let pacer = Pacer::new(&[parse_rate_limit("DescribeContinuousBackups=40").unwrap()]);
        let order = Arc::new(Mutex::new(Vec::new()));
        // Use up the first slot, so every later call has to wait.
        pacer.wait(None, None, "DescribeContinuousBackups", Lane::Now).await;
        let background = {
            let (pacer, order) = (pacer.clone(), order.clone());
            tokio::spawn(async move {
                pacer.wait(None, None, "DescribeContinuousBackups", Lane::Background).await;
                order.lock().unwrap().push("background");
            })
        };
        tokio::task::yield_now().await;
        let urgent: Vec<_> = (0..3)
            .map(|_| {
                let (pacer, order) = (pacer.clone(), order.clone());
                tokio::spawn(async move {
                    pacer.wait(None, None, "DescribeContinuousBackups", Lane::Now).await;
                    order.lock().unwrap().push("now");
                })
            })
            .collect();
        for task in urgent {
            task.await.unwrap();
        }
        background.await.unwrap();
        assert_eq!(*order.lock().unwrap(), vec!["now", "now", "now", "background"]);
    }

    /// A call that waits for its pace gives its reconcile's slot back: with one slot, a
    /// reconcile that needs no paced call runs while another waits for DeleteBackup's pace.
    #[tokio::test(start_paused = true)]
    async fn a_waiting_call_does_not_hold_its_slot() {
        let pacer = Pacer::new(&[parse_rate_limit("DeleteBackup=1").unwrap()]);
        let slots = held::Slots::new(1);
        pacer.wait(None, None, "DeleteBackup", Lane::Now).await;
        let waiting = {
            let (pacer, slots) = (pacer.clone(), slots.clone());
            tokio::spawn(held::holding("a", Some(slots), async move { pacer.wait(None, None, "DeleteBackup", Lane::Now).await }))
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        let started = Instant::now();
        held::holding("b", Some(slots.clone()), async {}).await;
        assert!(started.elapsed() < Duration::from_millis(100), "the other reconcile waited {:?}", started.elapsed());
        waiting.await.unwrap();
        assert_eq!(slots.available(), 1);
    }
}
