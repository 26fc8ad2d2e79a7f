//! What DynamoDB holds of the backups the operator follows, learnt a ListBackups page at a time.
//!
//! DescribeBackup is limited to 10 calls a second per account, so confirming 1,000 backups one
//! by one would take 100 s; one ListBackups page reports on many backups at once. Each scope
//! (region and role) gets one follower task: while some followed backups are CREATING it lists
//! the backups made since the oldest of them, and once per resync interval (at a random offset,
//! so scopes spread out) it lists all of them, in the background lane, to notice a backup deleted
//! outside the operator. What it learns waits for the object's next reconcile, which it wakes.
//!
//! The inventory keeps only the CREATING backups. Which backups should be AVAILABLE it asks, at
//! each resync, of whoever holds them (the DynamoBackup cache, whose statuses say so): a copy of
//! every AVAILABLE backup's ARN would cost some 370 bytes a backup, for thousands of them.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use jiff::{SignedDuration, Timestamp};
use tokio::sync::Notify;

use super::port::DynamoPort;
use crate::api::facts::{Backup, BackupState, Scope, Seen};
use crate::aws::Lane;

/// A backup made this long ago that no listing shows is missing (listings may lag a new backup).
const LISTING_LAG: Duration = Duration::from_secs(300);
/// How far before a request time a listing starts: clocks differ.
const CLOCK_MARGIN: SignedDuration = SignedDuration::from_mins(5);

/// Follows backups per scope; `T` names who wants to know (an object reference).
pub struct Inventory<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for Inventory<T> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone() }
    }
}

type Wake<T> = Box<dyn Fn(&T) + Send + Sync>;
/// The backups of a scope that should be AVAILABLE: (ARN, who holds it).
type Held<T> = Box<dyn Fn(&Scope) -> Vec<(String, T)> + Send + Sync>;

struct Inner<T> {
    dynamo: Arc<dyn DynamoPort>,
    wake: Wake<T>,
    held: OnceLock<Held<T>>,
    resync: Duration,
    /// How long to wait before listing again while backups are creating, by the youngest's age.
    poll: fn(Duration) -> Duration,
    scopes: Mutex<HashMap<Scope, ScopeState<T>>>,
}

struct ScopeState<T> {
    /// CREATING backups: ARN -> (who follows it, when it was requested).
    creating: HashMap<String, (T, Timestamp)>,
    /// What listings learnt, until the follower's reconcile takes it.
    seen: HashMap<String, Seen>,
    notify: Arc<Notify>,
}

impl<T: Clone + Eq + Hash + Send + Sync + 'static> Inventory<T> {
    /// `resync`: how often every backup of a scope is listed; `poll`: how soon, by the youngest
    /// CREATING backup's age, the creating ones are listed again.
    pub fn new(
        dynamo: Arc<dyn DynamoPort>,
        resync: Duration,
        poll: fn(Duration) -> Duration,
        wake: impl Fn(&T) + Send + Sync + 'static,
    ) -> Self {
        Self { inner: Arc::new(Inner { dynamo, wake: Box::new(wake), held: OnceLock::new(), resync, poll, scopes: Mutex::default() }) }
    }

    /// Who answers, at each resync, which backups of a scope should be AVAILABLE (set once; a
    /// resync before that checks only the CREATING ones).
    pub fn held_by(&self, held: impl Fn(&Scope) -> Vec<(String, T)> + Send + Sync + 'static) {
        let _ = self.inner.held.set(Box::new(held));
    }

    fn with_scope<R>(&self, scope: &Scope, f: impl FnOnce(&mut ScopeState<T>) -> R) -> R {
        let mut scopes = self.inner.scopes.lock().unwrap_or_else(|p| p.into_inner());
        let state = scopes.entry(scope.clone()).or_insert_with(|| {
            let notify = Arc::new(Notify::new());
            tokio::spawn(follow(Arc::downgrade(&self.inner), scope.clone(), notify.clone()));
            ScopeState { creating: HashMap::new(), seen: HashMap::new(), notify }
        });
        f(state)
    }

    /// `who` waits for the CREATING backup `arn` to become available.
    pub fn follow_creating(&self, scope: &Scope, arn: &str, who: T, requested_at: Timestamp) {
        self.with_scope(scope, |s| {
            if s.creating.insert(arn.to_owned(), (who, requested_at)).is_none() {
                s.notify.notify_one();
            }
        });
    }

    /// The backup `arn` is AVAILABLE: its scope's resyncs will look for it (among those `held_by`
    /// answers) and wake its holder when it disappears.
    pub fn follow_available(&self, scope: &Scope, arn: &str) {
        self.with_scope(scope, |s| {
            s.creating.remove(arn);
        });
    }

    /// What the listings learnt of `arn` since the last call, if anything.
    pub fn take(&self, scope: &Scope, arn: &str) -> Option<Seen> {
        self.with_scope(scope, |s| s.seen.remove(arn))
    }

    /// Lists the scope now, as its follower does when a poll (`resync`: false) or a resync is
    /// due: the state-machine tests step the inventory instead of waiting for it.
    #[cfg(test)]
    pub async fn list_now(&self, scope: &Scope, resync: bool) -> Result<(), crate::aws::AwsError> {
        if resync { resync_scope(&self.inner, scope).await } else { poll_creating(&self.inner, scope).await }
    }

    /// Nobody follows `arn` any more.
    pub fn forget(&self, scope: &Scope, arn: &str) {
        self.with_scope(scope, |s| {
            s.creating.remove(arn);
            s.seen.remove(arn);
        });
    }
}

/// The follower task of one scope; it ends with the inventory.
async fn follow<T: Clone + Eq + Hash + Send + Sync + 'static>(inner: std::sync::Weak<Inner<T>>, scope: Scope, notify: Arc<Notify>) {
    let (resync, creating_poll) = match inner.upgrade() {
        Some(inner) => (inner.resync, inner.poll),
        None => return,
    };
    let mut next_resync = Timestamp::now() + jitter(resync);
    let mut last_poll = Timestamp::now();
    let mut failures = 0u32;
    loop {
        let Some(inventory) = inner.upgrade() else { return };
        let now = Timestamp::now();
        let youngest = {
            let scopes = inventory.scopes.lock().unwrap_or_else(|p| p.into_inner());
            scopes.get(&scope).and_then(|s| s.creating.values().map(|(_, at)| *at).max())
        };
        // While backups are creating: a quarter of the youngest one's age, 5 s to 60 s, later
        // after failures; otherwise only the resync.
        let mut due = next_resync;
        if let Some(youngest) = youngest {
            let age = Duration::try_from(now.duration_since(youngest)).unwrap_or_default();
            let poll = creating_poll(age).saturating_mul(1 << failures.min(4)).min(Duration::from_secs(300));
            due = due.min((last_poll + poll).max(youngest + SignedDuration::from_secs(1)));
        }
        if due > now {
            let wait = Duration::try_from(due.duration_since(now)).unwrap_or_default();
            drop(inventory);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = notify.notified() => {}
            }
            continue;
        }
        let resyncing = youngest.is_none() || now >= next_resync;
        let result = if resyncing { resync_scope(&inventory, &scope).await } else { poll_creating(&inventory, &scope).await };
        match result {
            Ok(()) => failures = 0,
            Err(err) => {
                failures += 1;
                tracing::warn!(region = ?scope.region, error = %err, "listing backups failed; will try again");
            }
        }
        last_poll = Timestamp::now();
        if resyncing && failures == 0 {
            next_resync = last_poll + resync;
        }
    }
}

fn jitter(interval: Duration) -> SignedDuration {
    let millis = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX).max(1);
    SignedDuration::from_millis(i64::try_from(fastrand::u64(0..millis)).unwrap_or(0))
}

/// One listing of the backups made since the oldest CREATING one.
async fn poll_creating<T: Clone + Eq + Hash>(inner: &Inner<T>, scope: &Scope) -> Result<(), crate::aws::AwsError> {
    let since = {
        let scopes = inner.scopes.lock().unwrap_or_else(|p| p.into_inner());
        scopes.get(scope).and_then(|state| state.creating.values().map(|(_, at)| *at).min())
    };
    let Some(since) = since else { return Ok(()) };
    let listed = inner.dynamo.list_backups(scope, Some(since - CLOCK_MARGIN), Lane::Now).await?;
    settle(inner, scope, &listed, None);
    Ok(())
}

/// One listing of every backup of the scope: a followed AVAILABLE backup it lacks is missing,
/// and CREATING ones are settled on the way.
async fn resync_scope<T: Clone + Eq + Hash>(inner: &Inner<T>, scope: &Scope) -> Result<(), crate::aws::AwsError> {
    let creating = {
        let scopes = inner.scopes.lock().unwrap_or_else(|p| p.into_inner());
        scopes.get(scope).is_some_and(|state| !state.creating.is_empty())
    };
    let held = inner.held.get().map(|held| held(scope)).unwrap_or_default();
    if !creating && held.is_empty() {
        return Ok(());
    }
    let listed = inner.dynamo.list_backups(scope, None, Lane::Background).await?;
    let woken = settle(inner, scope, &listed, Some(held));
    tracing::debug!(region = ?scope.region, backups = listed.len(), woken, "backups resynced");
    Ok(())
}

/// Records what `listed` says of the followed backups and wakes whoever it concerns: CREATING
/// ones that finished (or, listed long enough ago, vanished), and when `listed` holds every
/// backup of the scope, the `held` AVAILABLE ones it shows otherwise or lacks. Returns how many
/// were woken.
fn settle<T: Clone + Eq + Hash>(inner: &Inner<T>, scope: &Scope, listed: &[Backup], held: Option<Vec<(String, T)>>) -> usize {
    let listed: HashMap<&str, &Backup> = listed.iter().map(|b| (b.arn.as_str(), b)).collect();
    let now = Timestamp::now();
    let mut woken = Vec::new();
    {
        let mut scopes = inner.scopes.lock().unwrap_or_else(|p| p.into_inner());
        let Some(state) = scopes.get_mut(scope) else { return 0 };
        let creating: Vec<(String, Timestamp)> = state.creating.iter().map(|(arn, (_, at))| (arn.clone(), *at)).collect();
        for (arn, requested) in creating {
            let seen = match listed.get(arn.as_str()) {
                Some(backup) if backup.state == BackupState::Creating => continue,
                Some(backup) => Seen::Backup(Box::new((*backup).clone())),
                None if Duration::try_from(now.duration_since(requested)).unwrap_or_default() < LISTING_LAG => continue,
                None => Seen::Missing,
            };
            if let Some((who, _)) = state.creating.remove(&arn) {
                state.seen.insert(arn, seen);
                woken.push(who);
            }
        }
        for (arn, who) in held.into_iter().flatten() {
            let seen = match listed.get(arn.as_str()) {
                Some(backup) if backup.state == BackupState::Available => continue,
                Some(backup) => Seen::Backup(Box::new((*backup).clone())),
                None => Seen::Missing,
            };
            state.seen.insert(arn, seen);
            woken.push(who);
        }
    }
    woken.iter().for_each(|who| (inner.wake)(who));
    woken.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamo::memory::{DEFAULT_REGION, MemoryDynamo, until};
    use crate::plan::backup::creating_poll;

    fn backup(arn: &str, state: BackupState) -> Backup {
        Backup { arn: arn.into(), name: arn.into(), state, size_bytes: None, created_at: None, source: None }
    }

    fn woken_log() -> (Arc<Mutex<Vec<&'static str>>>, impl Fn(&&'static str) + Send + Sync + 'static) {
        let woken = Arc::new(Mutex::new(Vec::new()));
        let log = woken.clone();
        (woken, move |who: &&'static str| log.lock().unwrap().push(*who))
    }

    #[tokio::test]
    async fn a_resync_wakes_the_holder_of_an_available_backup_the_listing_lacks_and_no_one_else() {
        let fake = MemoryDynamo::new();
        fake.add_backup(DEFAULT_REGION, backup("arn-a", BackupState::Available));
        fake.add_backup(DEFAULT_REGION, backup("arn-c", BackupState::Deleted));
        let (woken, wake) = woken_log();
        let inventory = Inventory::new(fake.clone(), Duration::from_millis(50), creating_poll, wake);
        let scope = Scope::default();
        // The holders say which backups should be AVAILABLE; the inventory keeps no copy.
        inventory.held_by(|_: &Scope| vec![("arn-a".into(), "a"), ("arn-b".into(), "b"), ("arn-c".into(), "c")]);
        inventory.follow_available(&scope, "arn-a");
        until(|| woken.lock().unwrap().len() >= 2).await;
        let mut who = woken.lock().unwrap().clone();
        who.sort();
        who.dedup();
        assert_eq!(who, ["b", "c"]);
        assert_eq!(inventory.take(&scope, "arn-b"), Some(Seen::Missing));
        assert!(matches!(inventory.take(&scope, "arn-c"), Some(Seen::Backup(b)) if b.state == BackupState::Deleted));
        assert_eq!(inventory.take(&scope, "arn-a"), None);
        // Resyncs list in the background lane: a refresh nobody waits for.
        assert!(fake.calls().iter().all(|(op, lane)| *op == "ListBackups" && *lane == Lane::Background));
    }

    #[tokio::test]
    async fn a_scope_with_nothing_held_or_creating_is_not_listed() {
        let fake = MemoryDynamo::new();
        let (_, wake) = woken_log();
        let inventory = Inventory::new(fake.clone(), Duration::from_millis(20), creating_poll, wake);
        inventory.held_by(|_: &Scope| Vec::new());
        inventory.follow_available(&Scope::default(), "arn-a");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(fake.count("ListBackups"), 0);
    }
}
