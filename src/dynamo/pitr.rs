//! What the operator knows of each protected table: whether it exists, its ARN and its
//! point-in-time recovery, read at most once per table per refresh interval however many
//! policies name it, and shared by all of them.
//!
//! A table read for the first time goes to the front of the queue (a new policy waits for it);
//! refreshes follow, each table at its own moment: the first refresh of a table comes at a random
//! point of the interval, later ones one interval apart, so a fleet's refreshes spread evenly
//! instead of arriving together. Refreshes use the pacer's background lane: they never delay a
//! backup or a restore. The followers of a table (its policies) are woken when a read lands.

use std::{
    cmp::Reverse,
    collections::{BinaryHeap, HashMap, HashSet, VecDeque},
    hash::Hash,
    sync::{Arc, Mutex, Weak},
    time::Duration,
};

use jiff::{SignedDuration, Timestamp};
use tokio::sync::Notify;

use super::port::DynamoPort;
use crate::api::facts::{Pitr, Scope};
use crate::aws::{AwsError, Lane};

/// A table as last read.
#[derive(Clone, Debug)]
pub struct TableFacts {
    /// None: the table does not exist.
    pub arn: Option<String>,
    pub pitr: Option<Pitr>,
    /// TableSizeBytes, from the last DescribeTable (every `DESCRIBE_EVERY` reads).
    pub size_bytes: Option<i64>,
    /// The last read failed with this (the facts before it, if any, are kept).
    pub error: Option<AwsError>,
    pub read_at: Timestamp,
}

impl TableFacts {
    pub fn exists(&self) -> bool {
        self.arn.is_some()
    }
}

/// Every this many reads of a table, DescribeTable again (its ARN, and its size, which AWS
/// refreshes about every six hours): with the default 40-minute interval, every 4 hours.
const DESCRIBE_EVERY: u32 = 6;

/// How many tables are read at once.
const READS_AT_ONCE: usize = 8;
/// After a failed read, the next try comes this much later (doubling, at most an interval).
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(15);

type Key = (Scope, String);

pub struct PitrCache<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for PitrCache<T> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone() }
    }
}

struct Inner<T> {
    dynamo: Arc<dyn DynamoPort>,
    wake: Box<dyn Fn(&T) + Send + Sync>,
    interval: Duration,
    state: Mutex<State<T>>,
    notify: Arc<Notify>,
    /// Notified whenever a read lands.
    landed: Notify,
}

struct State<T> {
    tables: HashMap<Key, Entry<T>>,
    /// Who follows which tables.
    following: HashMap<T, HashSet<Key>>,
    /// First reads, in the order asked.
    first: VecDeque<Key>,
    /// Refreshes by due time.
    due: BinaryHeap<Reverse<(Timestamp, Key)>>,
    reading: HashSet<Key>,
}

struct Entry<T> {
    facts: Option<TableFacts>,
    followers: HashSet<T>,
    failures: u32,
    /// Reads that succeeded.
    reads: u32,
}

impl<T: Clone + Eq + Hash + Send + Sync + 'static> PitrCache<T> {
    /// Starts the reader task; it ends when the last clone of the cache is dropped.
    pub fn new(dynamo: Arc<dyn DynamoPort>, interval: Duration, wake: impl Fn(&T) + Send + Sync + 'static) -> Self {
        let inner = Arc::new(Inner {
            dynamo,
            wake: Box::new(wake),
            interval,
            state: Mutex::new(State {
                tables: HashMap::new(),
                following: HashMap::new(),
                first: VecDeque::new(),
                due: BinaryHeap::new(),
                reading: HashSet::new(),
            }),
            notify: Arc::new(Notify::new()),
            landed: Notify::new(),
        });
        tokio::spawn(read_tables(Arc::downgrade(&inner), inner.notify.clone()));
        Self { inner }
    }

    /// `who` follows exactly `tables` from now on; returns what is known of each (None: the
    /// first read is queued, and `who` is woken when it lands).
    pub fn follow(&self, who: &T, tables: &[(Scope, String)]) -> Vec<Option<TableFacts>> {
        let mut state = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        let wanted: HashSet<Key> = tables.iter().cloned().collect();
        let before = state.following.insert(who.clone(), wanted.clone()).unwrap_or_default();
        for gone in before.difference(&wanted) {
            unfollow(&mut state, who, gone);
        }
        if wanted.is_empty() {
            state.following.remove(who);
        }
        let mut queued = false;
        let facts = tables
            .iter()
            .map(|key| {
                let State { tables, first, .. } = &mut *state;
                let entry = tables.entry(key.clone()).or_insert_with(|| {
                    first.push_back(key.clone());
                    queued = true;
                    Entry { facts: None, followers: HashSet::new(), failures: 0, reads: 0 }
                });
                entry.followers.insert(who.clone());
                entry.facts.clone()
            })
            .collect();
        drop(state);
        if queued {
            self.inner.notify.notify_one();
        }
        facts
    }

    /// Waits until the next read lands, at most `within`.
    pub async fn read_landed(&self, within: Duration) {
        let _ = tokio::time::timeout(within, self.inner.landed.notified()).await;
    }

    /// `who` follows nothing any more (its policy is gone).
    pub fn forget(&self, who: &T) {
        self.follow(who, &[]);
    }

    /// What a call the caller made itself (say, turning PITR on) says of a table.
    pub fn record(&self, scope: &Scope, table: &str, pitr: Pitr) {
        let mut state = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(facts) = state.tables.get_mut(&(scope.clone(), table.to_owned())).and_then(|e| e.facts.as_mut()) {
            facts.pitr = Some(pitr);
            facts.read_at = Timestamp::now();
        }
    }

    /// The tables some policy follows in `region` (None: the default), and whether each has
    /// PITR on as last read (None: not read yet).
    pub fn followed_in(&self, region: Option<&str>) -> HashMap<String, Option<bool>> {
        let state = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: HashMap<String, Option<bool>> = HashMap::new();
        for ((scope, table), entry) in &state.tables {
            if scope.region.as_deref() == region {
                // Read under several roles: on when any read says so; unknown until one has.
                let on = entry.facts.as_ref().and_then(|f| f.pitr.as_ref()).map(|p| p.enabled);
                let seen = out.entry(table.clone()).or_insert(None);
                *seen = match (*seen, on) {
                    (Some(a), Some(b)) => Some(a || b),
                    (a, b) => a.or(b),
                };
            }
        }
        out
    }

    /// Tables known, and first reads still waiting.
    pub fn sizes(&self) -> (usize, usize) {
        let state = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        (state.tables.len(), state.first.len())
    }
}

fn unfollow<T: Eq + Hash>(state: &mut State<T>, who: &T, key: &Key) {
    if let Some(entry) = state.tables.get_mut(key) {
        entry.followers.remove(who);
        if entry.followers.is_empty() {
            // Nobody names the table any more: no more reads (a queued one finds no entry).
            state.tables.remove(key);
        }
    }
}

/// The reader task: first reads before refreshes, a few at a time.
async fn read_tables<T: Clone + Eq + Hash + Send + Sync + 'static>(inner: Weak<Inner<T>>, notify: Arc<Notify>) {
    let mut reads = tokio::task::JoinSet::new();
    loop {
        let Some(cache) = inner.upgrade() else { return };
        // Start what is due while there is room.
        let mut wait = cache.interval;
        while reads.len() < READS_AT_ONCE {
            match next_read(&cache, &mut wait) {
                Some((key, first)) => {
                    let cache = cache.clone();
                    reads.spawn(async move { read_one(&cache, key, first).await });
                }
                None => break,
            }
        }
        drop(cache);
        let notified = notify.notified();
        tokio::select! {
            Some(_) = reads.join_next(), if !reads.is_empty() => {}
            _ = notified => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// The next table to read, and whether it is a first read; else how long until one is due.
fn next_read<T: Eq + Hash>(cache: &Inner<T>, wait: &mut Duration) -> Option<(Key, bool)> {
    let mut state = cache.state.lock().unwrap_or_else(|p| p.into_inner());
    while let Some(key) = state.first.pop_front() {
        if state.tables.contains_key(&key) && !state.reading.contains(&key) {
            state.reading.insert(key.clone());
            return Some((key, true));
        }
    }
    let now = Timestamp::now();
    while let Some(Reverse((at, key))) = state.due.peek().cloned() {
        if at > now {
            *wait = Duration::try_from(at.duration_since(now)).unwrap_or_default().min(*wait);
            return None;
        }
        state.due.pop();
        if state.tables.contains_key(&key) && !state.reading.contains(&key) {
            state.reading.insert(key.clone());
            return Some((key, false));
        }
    }
    None
}

async fn read_one<T: Clone + Eq + Hash>(cache: &Inner<T>, key: Key, first: bool) {
    let (scope, table) = (&key.0, key.1.as_str());
    let lane = if first { Lane::Now } else { Lane::Background };
    let (known_arn, reads) = {
        let state = cache.state.lock().unwrap_or_else(|p| p.into_inner());
        let entry = state.tables.get(&key);
        (entry.and_then(|e| e.facts.as_ref()).and_then(|f| f.arn.clone()), entry.map(|e| e.reads).unwrap_or(0))
    };
    let known_arn = known_arn.filter(|_| reads % DESCRIBE_EVERY != 0);
    let result = read_facts(cache.dynamo.as_ref(), scope, table, known_arn, lane).await;
    let now = Timestamp::now();
    let followers: Vec<T> = {
        let mut state = cache.state.lock().unwrap_or_else(|p| p.into_inner());
        state.reading.remove(&key);
        let interval = cache.interval;
        let Some(entry) = state.tables.get_mut(&key) else { return };
        let next = match result {
            Ok((arn, pitr, size)) => {
                entry.failures = 0;
                entry.reads = entry.reads.wrapping_add(1);
                let size_bytes = if arn.is_some() { size.or(entry.facts.as_ref().and_then(|f| f.size_bytes)) } else { None };
                entry.facts = Some(TableFacts { arn, pitr, size_bytes, error: None, read_at: now });
                // Spread: a table's first refresh at a random point of the interval.
                if first { now + random_part(interval) } else { now + signed(interval) }
            }
            Err(err) => {
                entry.failures += 1;
                let previous = entry.facts.take();
                entry.facts = Some(TableFacts {
                    arn: previous.as_ref().and_then(|f| f.arn.clone()),
                    size_bytes: previous.as_ref().and_then(|f| f.size_bytes),
                    pitr: previous.and_then(|f| f.pitr),
                    error: Some(err),
                    read_at: now,
                });
                let backoff = RETRY_AFTER_FAILURE.saturating_mul(1 << entry.failures.min(8)).min(interval);
                now + signed(backoff)
            }
        };
        let followers = entry.followers.iter().cloned().collect();
        state.due.push(Reverse((next, key.clone())));
        followers
    };
    cache.landed.notify_waiters();
    followers.iter().for_each(|who| (cache.wake)(who));
}

/// The table's ARN (None: no such table), its PITR, and its size when it was described.
/// DescribeTable when the ARN is not given (the first read, then every `DESCRIBE_EVERY`);
/// otherwise one DescribeContinuousBackups a read, which also says when the table is gone.
async fn read_facts(
    dynamo: &dyn DynamoPort,
    scope: &Scope,
    table: &str,
    known_arn: Option<String>,
    lane: Lane,
) -> Result<(Option<String>, Option<Pitr>, Option<i64>), AwsError> {
    let (arn, size) = match known_arn {
        Some(arn) => (arn, None),
        None => match dynamo.describe_table(scope, table).await? {
            Some(described) => (described.arn.unwrap_or_else(|| table.to_owned()), described.size_bytes),
            None => return Ok((None, None, None)),
        },
    };
    match dynamo.describe_pitr(scope, table, lane).await {
        Ok(pitr) => Ok((Some(arn), Some(pitr), size)),
        Err(err) if err.is_code("TableNotFoundException") || err.is_code("ResourceNotFoundException") => Ok((None, None, None)),
        Err(err) => Err(err),
    }
}

fn signed(d: Duration) -> SignedDuration {
    SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX)
}

fn random_part(interval: Duration) -> SignedDuration {
    let millis = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX).max(1);
    SignedDuration::from_millis(i64::try_from(fastrand::u64(0..millis)).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::dynamo::memory::{MemoryDynamo, until};

    fn key(table: &str) -> (Scope, String) {
        (Scope::default(), table.to_owned())
    }

    #[tokio::test]
    async fn a_table_named_by_two_policies_is_read_once_and_both_are_woken() {
        let fake = MemoryDynamo::with_tables(&[("Orders", true), ("Items", false)]);
        let woken = Arc::new(Mutex::new(Vec::new()));
        let cache = {
            let woken = woken.clone();
            PitrCache::new(fake.clone(), Duration::from_secs(3600), move |who: &&str| woken.lock().unwrap().push(*who))
        };
        // Nothing known yet: the first reads are queued.
        assert!(cache.follow(&"a", &[key("Orders"), key("Items")]).iter().all(Option::is_none));
        assert!(cache.follow(&"b", &[key("Orders")]).iter().all(Option::is_none));
        until(|| woken.lock().unwrap().len() >= 3).await;
        let facts = cache.follow(&"b", &[key("Orders")]);
        let orders = facts[0].as_ref().expect("read");
        assert!(orders.exists() && orders.pitr.as_ref().is_some_and(|p| p.enabled));
        // One DescribeTable and one DescribeContinuousBackups per table, whoever asked.
        assert_eq!(fake.count("DescribeTable"), 2);
        assert_eq!(fake.count("DescribeContinuousBackups"), 2);
        // First reads are made for someone waiting: the pacer's Now lane.
        assert!(fake.calls().iter().all(|(_, lane)| *lane == Lane::Now));
        let mut who = woken.lock().unwrap().clone();
        who.sort();
        assert_eq!(who, vec!["a", "a", "b"]);
    }

    #[tokio::test]
    async fn a_missing_table_is_known_as_missing_and_a_table_nobody_names_is_dropped() {
        let fake = MemoryDynamo::with_tables(&[]);
        let cache = PitrCache::new(fake.clone(), Duration::from_secs(3600), |_: &&str| {});
        cache.follow(&"a", &[key("Ghost")]);
        until(|| cache.follow(&"a", &[key("Ghost")])[0].is_some()).await;
        let ghost = cache.follow(&"a", &[key("Ghost")]).remove(0).expect("read");
        assert!(!ghost.exists() && ghost.error.is_none());
        assert_eq!(cache.sizes(), (1, 0));
        cache.forget(&"a");
        assert_eq!(cache.sizes(), (0, 0));
    }

    #[tokio::test]
    async fn refreshes_come_once_per_interval_in_the_background_lane() {
        let fake = MemoryDynamo::with_tables(&[("Orders", true)]);
        let cache = PitrCache::new(fake.clone(), Duration::from_millis(200), |_: &&str| {});
        cache.follow(&"a", &[key("Orders")]);
        // The first read, then (the first refresh at a random point of the interval, the next
        // one interval later) about one refresh per 200 ms.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let reads = fake.count("DescribeContinuousBackups");
        assert!((4..=7).contains(&reads), "{reads} reads in 1.1 s with a 200 ms interval");
        // The ARN is known after the first read: DescribeTable again only every DESCRIBE_EVERY
        // reads (the table's size).
        assert_eq!(fake.count("DescribeTable"), 1 + (reads - 1) / DESCRIBE_EVERY as usize);
        let background = fake.calls().iter().filter(|(_, lane)| *lane == Lane::Background).count();
        assert_eq!(background, reads - 1);
    }
}
