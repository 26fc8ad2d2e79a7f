//! What DynamoDB holds of the backups the operator follows, learnt a ListBackups page at a time.
//!
//! DescribeBackup is limited to 10 calls a second per account, so confirming 1,000 backups one
//! by one would take 100 s; one ListBackups page reports on many backups at once. Each scope
//! (region and role) gets one follower task: while some followed backups are CREATING it lists
//! the backups made since the oldest of them, and once per resync interval (at a random offset,
//! so scopes spread out) it lists all of them, in the background lane, to notice a backup deleted
//! outside the operator. What it learns waits for the object's next reconcile, which it wakes.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::{Arc, Mutex},
    time::Duration,
};

use jiff::{SignedDuration, Timestamp};
use tokio::sync::Notify;

use super::{
    DynamoPort, Lane,
    model::{Backup, BackupState, Scope},
};
use crate::plan::backup::creating_poll;

/// What a listing said of a followed backup.
#[derive(Clone, Debug, PartialEq)]
pub enum Seen {
    /// The backup left CREATING (AVAILABLE, or DELETED by DynamoDB).
    Backup(Box<Backup>),
    /// A listing that should have held it did not: describe it to be sure.
    Missing,
}

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

struct Inner<T> {
    dynamo: Arc<dyn DynamoPort>,
    wake: Wake<T>,
    resync: Duration,
    scopes: Mutex<HashMap<Scope, ScopeState<T>>>,
}

struct ScopeState<T> {
    /// CREATING backups: ARN -> (who follows it, when it was requested).
    creating: HashMap<String, (T, Timestamp)>,
    /// Backups known to be AVAILABLE: ARN -> who follows it.
    available: HashMap<String, T>,
    /// What listings learnt, until the follower's reconcile takes it.
    seen: HashMap<String, Seen>,
    notify: Arc<Notify>,
}

impl<T: Clone + Eq + Hash + Send + Sync + 'static> Inventory<T> {
    pub fn new(dynamo: Arc<dyn DynamoPort>, resync: Duration, wake: impl Fn(&T) + Send + Sync + 'static) -> Self {
        Self { inner: Arc::new(Inner { dynamo, wake: Box::new(wake), resync, scopes: Mutex::default() }) }
    }

    fn with_scope<R>(&self, scope: &Scope, f: impl FnOnce(&mut ScopeState<T>) -> R) -> R {
        let mut scopes = self.inner.scopes.lock().unwrap_or_else(|p| p.into_inner());
        let state = scopes.entry(scope.clone()).or_insert_with(|| {
            let notify = Arc::new(Notify::new());
            tokio::spawn(follow(Arc::downgrade(&self.inner), scope.clone(), notify.clone()));
            ScopeState { creating: HashMap::new(), available: HashMap::new(), seen: HashMap::new(), notify }
        });
        f(state)
    }

    /// `who` waits for the CREATING backup `arn` to become available.
    pub fn follow_creating(&self, scope: &Scope, arn: &str, who: T, requested_at: Timestamp) {
        self.with_scope(scope, |s| {
            s.available.remove(arn);
            if s.creating.insert(arn.to_owned(), (who, requested_at)).is_none() {
                s.notify.notify_one();
            }
        });
    }

    /// `who` holds the AVAILABLE backup `arn`: it hears when the backup disappears.
    pub fn follow_available(&self, scope: &Scope, arn: &str, who: T) {
        self.with_scope(scope, |s| {
            s.creating.remove(arn);
            s.available.insert(arn.to_owned(), who);
        });
    }

    /// What the listings learnt of `arn` since the last call, if anything.
    pub fn take(&self, scope: &Scope, arn: &str) -> Option<Seen> {
        self.with_scope(scope, |s| s.seen.remove(arn))
    }

    /// Nobody follows `arn` any more.
    pub fn forget(&self, scope: &Scope, arn: &str) {
        self.with_scope(scope, |s| {
            s.creating.remove(arn);
            s.available.remove(arn);
            s.seen.remove(arn);
        });
    }
}

/// The follower task of one scope; it ends with the inventory.
async fn follow<T: Clone + Eq + Hash + Send + Sync + 'static>(inner: std::sync::Weak<Inner<T>>, scope: Scope, notify: Arc<Notify>) {
    let resync = match inner.upgrade() {
        Some(inner) => inner.resync,
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
async fn poll_creating<T: Clone + Eq + Hash>(inner: &Inner<T>, scope: &Scope) -> Result<(), super::DynamoError> {
    let since = {
        let scopes = inner.scopes.lock().unwrap_or_else(|p| p.into_inner());
        scopes.get(scope).and_then(|state| state.creating.values().map(|(_, at)| *at).min())
    };
    let Some(since) = since else { return Ok(()) };
    let listed = inner.dynamo.list_backups(scope, Some(since - CLOCK_MARGIN), Lane::Now).await?;
    settle(inner, scope, &listed, false);
    Ok(())
}

/// One listing of every backup of the scope: a followed AVAILABLE backup it lacks is missing,
/// and CREATING ones are settled on the way.
async fn resync_scope<T: Clone + Eq + Hash>(inner: &Inner<T>, scope: &Scope) -> Result<(), super::DynamoError> {
    let followed = {
        let scopes = inner.scopes.lock().unwrap_or_else(|p| p.into_inner());
        scopes.get(scope).is_some_and(|state| !state.available.is_empty() || !state.creating.is_empty())
    };
    if !followed {
        return Ok(());
    }
    let listed = inner.dynamo.list_backups(scope, None, Lane::Background).await?;
    let woken = settle(inner, scope, &listed, true);
    tracing::debug!(region = ?scope.region, backups = listed.len(), woken, "backups resynced");
    Ok(())
}

/// Records what `listed` says of the followed backups and wakes whoever it concerns: CREATING
/// ones that finished (or, listed long enough ago, vanished), and with `complete` (a listing of
/// every backup) AVAILABLE ones that are gone. Returns how many were woken.
fn settle<T: Clone + Eq + Hash>(inner: &Inner<T>, scope: &Scope, listed: &[Backup], complete: bool) -> usize {
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
        if complete {
            let available: Vec<String> = state.available.keys().cloned().collect();
            for arn in available {
                let seen = match listed.get(arn.as_str()) {
                    Some(backup) if backup.state == BackupState::Available => continue,
                    Some(backup) => Seen::Backup(Box::new((*backup).clone())),
                    None => Seen::Missing,
                };
                if let Some(who) = state.available.remove(&arn) {
                    state.seen.insert(arn, seen);
                    woken.push(who);
                }
            }
        }
    }
    woken.iter().for_each(|who| (inner.wake)(who));
    woken.len()
}
