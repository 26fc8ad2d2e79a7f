//! The tables of each region that policies select from (`spec.tableSelector`), and that the
//! unprotected-tables metric counts: ListTables, and ListTagsOfResource for each table when a
//! selector asks for tags, read once per discovery interval per region (and role) however many
//! policies follow it, on the pacer's background lane. The followers are woken when a listing
//! lands; a region named for the first time is listed at once.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    hash::Hash,
    sync::{Arc, Mutex, Weak},
    time::Duration,
};

use jiff::Timestamp;
use tokio::sync::Notify;

use super::port::DynamoPort;
use crate::api::facts::Scope;
use crate::aws::{AwsError, Lane};

/// What one listing of a region found.
#[derive(Clone, Debug, Default)]
pub struct Listing {
    /// Table name -> its tags (empty when tags were not read).
    pub tables: BTreeMap<String, BTreeMap<String, String>>,
    /// Whether the tags were read.
    pub tags_read: bool,
    pub read_at: Timestamp,
    /// The last listing failed with this (the tables before it, if any, are kept).
    pub error: Option<AwsError>,
}

/// What is told of each listing that lands.
type Landed = dyn Fn(&Scope, &Listing) + Send + Sync;

pub struct TableDiscovery<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for TableDiscovery<T> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone() }
    }
}

struct Inner<T> {
    dynamo: Arc<dyn DynamoPort>,
    wake: Box<dyn Fn(&T) + Send + Sync>,
    /// Told the scope and its listing when one lands (the unprotected-tables metric).
    landed: Box<Landed>,
    interval: Duration,
    state: Mutex<HashMap<Scope, Entry<T>>>,
    notify: Arc<Notify>,
}

struct Entry<T> {
    /// Who follows the scope, and whether it needs tags.
    followers: HashMap<T, bool>,
    /// Listed even without followers (the operator's own regions, for the metric).
    always: bool,
    listing: Option<Arc<Listing>>,
    /// The first part of a table ARN in this scope (`arn:aws:dynamodb:REGION:ACCOUNT:table/`),
    /// learned once from DescribeTable.
    arn_prefix: Option<String>,
    due: Timestamp,
    reading: bool,
}

impl<T> Entry<T> {
    fn new() -> Self {
        Self { followers: HashMap::new(), always: false, listing: None, arn_prefix: None, due: Timestamp::UNIX_EPOCH, reading: false }
    }

    fn wants_tags(&self) -> bool {
        self.followers.values().any(|tags| *tags)
    }
}

impl<T: Clone + Eq + Hash + Send + Sync + 'static> TableDiscovery<T> {
    /// Starts the lister task; it ends when the last clone is dropped.
    pub fn new(
        dynamo: Arc<dyn DynamoPort>,
        interval: Duration,
        wake: impl Fn(&T) + Send + Sync + 'static,
        landed: impl Fn(&Scope, &Listing) + Send + Sync + 'static,
    ) -> Self {
        let inner = Arc::new(Inner {
            dynamo,
            wake: Box::new(wake),
            landed: Box::new(landed),
            interval,
            state: Mutex::new(HashMap::new()),
            notify: Arc::new(Notify::new()),
        });
        tokio::spawn(list_scopes(Arc::downgrade(&inner), inner.notify.clone()));
        Self { inner }
    }

    /// `who` selects from `scope` (with tags or not) from now on, or from nothing (None).
    /// Returns the scope's last listing; None: the first one is under way, and `who` is woken
    /// when it lands. A listing without tags does not serve a follower that needs them.
    pub fn follow(&self, who: &T, scope: Option<(&Scope, bool)>) -> Option<Arc<Listing>> {
        let mut state = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        for (key, entry) in state.iter_mut() {
            if scope.is_none_or(|(s, _)| s != key) {
                entry.followers.remove(who);
            }
        }
        state.retain(|_, e| e.always || !e.followers.is_empty());
        let (scope, tags) = scope?;
        let entry = state.entry(scope.clone()).or_insert_with(Entry::new);
        let needed_tags_before = entry.wants_tags();
        entry.followers.insert(who.clone(), tags);
        let listing = entry.listing.clone().filter(|l| l.tags_read || !tags);
        if listing.is_none() || (tags && !needed_tags_before) {
            // The first listing, or one with tags now that someone needs them: at once.
            entry.due = Timestamp::UNIX_EPOCH;
            self.inner.notify.notify_one();
        }
        listing
    }

    /// `scope` is listed every interval even when no selector follows it. Its first listing
    /// waits a minute (at most an interval), so that the policies of a starting operator have
    /// named their tables before the metric counts what none covers.
    pub fn watch(&self, scope: &Scope) {
        let mut state = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        let entry = state.entry(scope.clone()).or_insert_with(|| {
            let mut entry = Entry::new();
            let settle = self.inner.interval.min(Duration::from_secs(60));
            entry.due = Timestamp::now() + jiff::SignedDuration::try_from(settle).unwrap_or_default();
            entry
        });
        if !entry.always {
            entry.always = true;
            self.inner.notify.notify_one();
        }
    }

    /// Scopes followed or watched.
    pub fn scopes(&self) -> usize {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// The lister task: one scope at a time, whichever is due first.
async fn list_scopes<T: Clone + Eq + Hash + Send + Sync + 'static>(inner: Weak<Inner<T>>, notify: Arc<Notify>) {
    loop {
        let Some(cache) = inner.upgrade() else { return };
        let notified = notify.notified();
        let now = Timestamp::now();
        let next = {
            let mut state = cache.state.lock().unwrap_or_else(|p| p.into_inner());
            let due = state.iter().filter(|(_, e)| !e.reading).min_by_key(|(_, e)| e.due).map(|(s, e)| (s.clone(), e.due));
            match due {
                Some((scope, at)) if at <= now => {
                    let entry = state.get_mut(&scope);
                    let (tags, prefix) = entry
                        .map(|e| {
                            e.reading = true;
                            (e.wants_tags(), e.arn_prefix.clone())
                        })
                        .unwrap_or((false, None));
                    Ok((scope, tags, prefix))
                }
                Some((_, at)) => Err(Duration::try_from(at.duration_since(now)).unwrap_or_default().min(cache.interval)),
                None => Err(cache.interval),
            }
        };
        match next {
            Ok((scope, tags, prefix)) => list_one(&cache, scope, tags, prefix).await,
            Err(wait) => {
                drop(cache);
                tokio::select! {
                    _ = notified => {}
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
}

async fn list_one<T: Clone + Eq + Hash>(cache: &Inner<T>, scope: Scope, tags: bool, prefix: Option<String>) {
    let result = read_listing(cache.dynamo.as_ref(), &scope, tags, prefix).await;
    let now = Timestamp::now();
    let (listing, followers) = {
        let mut state = cache.state.lock().unwrap_or_else(|p| p.into_inner());
        let Some(entry) = state.get_mut(&scope) else { return };
        entry.reading = false;
        entry.due = now + jiff::SignedDuration::try_from(cache.interval).unwrap_or(jiff::SignedDuration::MAX);
        let listing = match result {
            Ok((tables, prefix)) => {
                entry.arn_prefix = prefix.or(entry.arn_prefix.take());
                Listing { tables, tags_read: tags, read_at: now, error: None }
            }
            Err(err) => {
                let before = entry.listing.as_deref().cloned().unwrap_or_default();
                // A failed listing is tried again within a minute, not an interval later.
                entry.due =
                    now + jiff::SignedDuration::from_secs(60).min(jiff::SignedDuration::try_from(cache.interval).unwrap_or_default());
                Listing { error: Some(err), read_at: now, ..before }
            }
        };
        let listing = Arc::new(listing);
        entry.listing = Some(listing.clone());
        (listing, entry.followers.keys().cloned().collect::<HashSet<T>>())
    };
    (cache.landed)(&scope, &listing);
    followers.iter().for_each(|who| (cache.wake)(who));
}

/// Every table of the scope, with its tags when asked (one ListTagsOfResource per table).
async fn read_listing(
    dynamo: &dyn DynamoPort,
    scope: &Scope,
    tags: bool,
    prefix: Option<String>,
) -> Result<(BTreeMap<String, BTreeMap<String, String>>, Option<String>), AwsError> {
    let names = dynamo.list_tables(scope, Lane::Background).await?;
    let mut tables: BTreeMap<String, BTreeMap<String, String>> = names.into_iter().map(|n| (n, BTreeMap::new())).collect();
    if !tags || tables.is_empty() {
        return Ok((tables, prefix));
    }
    let prefix = match prefix {
        Some(prefix) => prefix,
        None => {
            let mut found = None;
            for name in tables.keys() {
                if let Some(arn) = dynamo.describe_table(scope, name).await?.and_then(|t| t.arn) {
                    found = arn.strip_suffix(name.as_str()).map(str::to_owned);
                    break;
                }
            }
            match found {
                Some(prefix) => prefix,
                None => return Ok((tables, None)),
            }
        }
    };
    let names: Vec<String> = tables.keys().cloned().collect();
    for name in names {
        match dynamo.list_tags(scope, &format!("{prefix}{name}"), Lane::Background).await {
            Ok(found) => {
                tables.insert(name, found.into_iter().collect());
            }
            // Deleted since the listing: not a table any more.
            Err(err) if err.is_code("ResourceNotFoundException") => {
                tables.remove(&name);
            }
            Err(err) => return Err(err),
        }
    }
    Ok((tables, Some(prefix)))
}
