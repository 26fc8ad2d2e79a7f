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
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

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

struct Bucket {
    limiter: DefaultDirectRateLimiter,
    /// `Now` calls waiting for a slot of this bucket.
    waiting: AtomicUsize,
    /// How long a background call sleeps before it looks again: one slot.
    slot: Duration,
}

/// The pace of every limited operation; cheap to clone (one shared state).
#[derive(Clone)]
pub struct Pacer {
    rates: Arc<HashMap<String, NonZeroU32>>,
    buckets: Arc<Mutex<Buckets>>,
}

/// One bucket per (region, operation).
type Buckets = HashMap<(Option<String>, String), Arc<Bucket>>;

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
        Self { rates: Arc::new(rates), buckets: Arc::default() }
    }

    /// The pace of `operation`, if it has one.
    pub fn rate(&self, operation: &str) -> Option<NonZeroU32> {
        self.rates.get(operation).copied()
    }

    fn bucket(&self, region: Option<&str>, operation: &str) -> Option<Arc<Bucket>> {
        let rate = self.rate(operation)?;
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = buckets.entry((region.map(str::to_owned), operation.to_owned())).or_insert_with(|| {
            // Evenly spaced, no burst: no one-second window ever holds more than the rate.
            let slot = Duration::from_secs(1) / rate.get();
            let quota = Quota::with_period(slot).unwrap_or_else(|| Quota::per_second(rate)).allow_burst(NonZeroU32::MIN);
            Arc::new(Bucket { limiter: RateLimiter::direct(quota), waiting: AtomicUsize::new(0), slot })
        });
        Some(bucket.clone())
    }

    /// Waits until one more call of `operation` in `region` fits the pace.
    pub async fn wait(&self, region: Option<&str>, operation: &str, lane: Lane) {
        let Some(bucket) = self.bucket(region, operation) else { return };
        match lane {
            Lane::Now => {
                bucket.waiting.fetch_add(1, Ordering::SeqCst);
                let _done = Waiting(&bucket.waiting);
                bucket.limiter.until_ready().await;
            }
            Lane::Background => loop {
                if bucket.waiting.load(Ordering::SeqCst) == 0 && bucket.limiter.check().is_ok() {
                    return;
                }
                tokio::time::sleep(bucket.slot).await;
            },
        }
    }
}

/// Counts a `Now` caller out when it stops waiting, also when its future is dropped.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
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
    use std::time::Instant;

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

    // governor keeps real time, so these run in real time, on fast paces.
    #[tokio::test]
    async fn calls_are_spaced_evenly_without_a_burst() {
        let pacer = Pacer::new(&[parse_rate_limit("ListBackups=50").unwrap()]);
        let started = Instant::now();
        for _ in 0..6 {
            pacer.wait(None, "ListBackups", Lane::Now).await;
        }
        // 50 per second, the first at once: the sixth waits five slots of 20 ms.
        assert!(started.elapsed() >= Duration::from_millis(95), "{:?}", started.elapsed());
        // Regions are counted apart, and unpaced operations never wait.
        let before = Instant::now();
        pacer.wait(Some("eu-central-1"), "ListBackups", Lane::Now).await;
        pacer.wait(None, "DescribeTable", Lane::Now).await;
        assert!(before.elapsed() < Duration::from_millis(15));
    }

    #[tokio::test]
    async fn background_calls_yield_to_waiting_calls() {
        let pacer = Pacer::new(&[parse_rate_limit("DescribeContinuousBackups=40").unwrap()]);
        let order = Arc::new(Mutex::new(Vec::new()));
        // Use up the first slot, so every later call has to wait.
        pacer.wait(None, "DescribeContinuousBackups", Lane::Now).await;
        let background = {
            let (pacer, order) = (pacer.clone(), order.clone());
            tokio::spawn(async move {
                pacer.wait(None, "DescribeContinuousBackups", Lane::Background).await;
                order.lock().unwrap().push("background");
            })
        };
        tokio::task::yield_now().await;
        let urgent: Vec<_> = (0..3)
            .map(|_| {
                let (pacer, order) = (pacer.clone(), order.clone());
                tokio::spawn(async move {
                    pacer.wait(None, "DescribeContinuousBackups", Lane::Now).await;
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
}
