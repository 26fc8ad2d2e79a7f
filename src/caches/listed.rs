//! Whether a watch cache has had its first list, for any number of waiters at once.
//!
//! kube's `Store::wait_until_ready` keeps one waker: of several tasks awaiting it at once, only
//! the last to poll is woken when the list lands, and the others sleep on until something else
//! polls them (a time-out). At start-up every policy reconcile waits for the same stores, so
//! most of them sat out their whole time-out holding a reconcile slot. Here each waiter looks
//! at the store's readiness itself, every 50 ms, and depends on no waker.

use std::time::Duration;

use futures::FutureExt;
use kube::runtime::reflector::Store;

/// How often a waiter looks again.
const LOOK_EVERY: Duration = Duration::from_millis(50);

/// What became of a wait for a store's first list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listed {
    Yes,
    /// Not within the time given.
    NotYet,
    /// The store's watch is gone: it never will.
    Never,
}

/// Waits at most `within` for `store`'s first list.
pub async fn listed_within<K>(store: &Store<K>, within: Duration) -> Listed
where
    K: kube::Resource + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        // One poll, with a waker nobody relies on.
        match store.wait_until_ready().now_or_never() {
            Some(Ok(())) => return Listed::Yes,
            Some(Err(_)) => return Listed::Never,
            None => {}
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Listed::NotYet;
        }
        tokio::time::sleep(LOOK_EVERY.min(deadline - now)).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::runtime::{reflector, watcher};

    use super::*;

    /// Ten waiters at once are all told within moments of the list, not only the last one.
    #[tokio::test(start_paused = true)]
    async fn every_waiter_is_told_when_the_list_lands() {
        let (store, mut writer) = reflector::store::<ConfigMap>();
        let told = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut waiters = Vec::new();
        for _ in 0..10 {
            let (store, told) = (store.clone(), told.clone());
            waiters.push(tokio::spawn(async move {
                if listed_within(&store, Duration::from_secs(10)).await == Listed::Yes {
                    told.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            }));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let listed_at = tokio::time::Instant::now();
        writer.apply_watcher_event(&watcher::Event::Init);
        writer.apply_watcher_event(&watcher::Event::InitDone);
        for waiter in waiters {
            waiter.await.unwrap();
        }
        assert_eq!(told.load(std::sync::atomic::Ordering::SeqCst), 10);
        assert!(listed_at.elapsed() < Duration::from_millis(100), "told after {:?}", listed_at.elapsed());
    }

    #[tokio::test(start_paused = true)]
    async fn a_store_that_never_lists_is_not_yet_after_the_time_given() {
        let (store, _writer) = reflector::store::<ConfigMap>();
        assert_eq!(listed_within(&store, Duration::from_secs(3)).await, Listed::NotYet);
    }
}
