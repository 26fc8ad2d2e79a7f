//! What a reconcile holds while it runs: its namespace (whose turn its calls take in a pacing
//! bucket) and one of its controller's `--concurrency` slots. A call that must wait for its
//! operation's pace gives the slot back while it waits and takes one again when its turn comes,
//! so a reconcile waiting for DeleteBackup's pace never keeps another from its CreateBackup.
//!
//! A call whose turn came goes ahead of reconciles that have not started: they line up for the
//! slots one at a time (`Slots::entry`), so a returning call waits behind at most one of them,
//! however many thousands are due. Otherwise each turn of a burst would wait behind the whole
//! burst's reconciles for a slot, and its call would go out late, bunched with others.

use std::{
    future::Future,
    sync::{Arc, Mutex},
};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

tokio::task_local! {
    static HELD: Held;
}

/// A controller's `--concurrency` slots.
pub struct Slots {
    permits: Arc<Semaphore>,
    /// Reconciles about to start pass here one at a time.
    entry: tokio::sync::Mutex<()>,
}

impl Slots {
    pub fn new(count: usize) -> Arc<Self> {
        Arc::new(Self { permits: Arc::new(Semaphore::new(count)), entry: tokio::sync::Mutex::new(()) })
    }

    /// Slots free now.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }
}

struct Held {
    tenant: String,
    slots: Option<Arc<Slots>>,
    permit: Mutex<Option<OwnedSemaphorePermit>>,
}

/// Runs `work` for a reconcile of `tenant`'s object, in one of `slots` (None: unbounded).
pub async fn holding<F: Future>(tenant: &str, slots: Option<Arc<Slots>>, work: F) -> F::Output {
    let permit = match &slots {
        Some(slots) => {
            let _entry = slots.entry.lock().await;
            slots.permits.clone().acquire_owned().await.ok()
        }
        None => None,
    };
    let held = Held { tenant: tenant.to_owned(), slots, permit: Mutex::new(permit) };
    HELD.scope(held, work).await
}

/// The namespace of the reconcile this call is made for ("" outside one: the caches' own reads).
pub(super) fn tenant() -> String {
    HELD.try_with(|h| h.tenant.clone()).unwrap_or_default()
}

/// Gives the reconcile's slot back, if it holds one: the slots to take one from again.
pub(super) fn give_back() -> Option<Arc<Slots>> {
    HELD.try_with(|h| {
        let permit = h.permit.lock().unwrap_or_else(|p| p.into_inner()).take();
        permit.and(h.slots.clone())
    })
    .ok()
    .flatten()
}

/// Takes a slot again after `give_back` gave one, ahead of reconciles that have not started.
pub(super) async fn take_again(slots: Option<Arc<Slots>>) {
    let Some(slots) = slots else { return };
    let permit = slots.permits.clone().acquire_owned().await.ok();
    let _ = HELD.try_with(|h| *h.permit.lock().unwrap_or_else(|p| p.into_inner()) = permit);
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_waiting_call_gives_its_slot_back_and_takes_one_again() {
        let slots = Slots::new(1);
        let (s, t) = (slots.clone(), slots.clone());
        holding("shop", Some(slots.clone()), async move {
            assert_eq!(tenant(), "shop");
            assert_eq!(s.available(), 0, "the reconcile holds the one slot");
            let back = give_back();
            assert_eq!(t.available(), 1, "given back while it waits");
            // Another reconcile can run meanwhile.
            holding("other", Some(t.clone()), async { assert_eq!(tenant(), "other") }).await;
            take_again(back).await;
            assert_eq!(t.available(), 0, "held again after its turn");
        })
        .await;
        assert_eq!(slots.available(), 1, "released with the reconcile");
        assert_eq!(tenant(), "", "no reconcile outside");
    }

    /// With the one slot busy and 50 reconciles waiting to start, a call whose turn came gets the
    /// slot after at most one of them.
    #[tokio::test(start_paused = true)]
    async fn a_call_whose_turn_came_goes_ahead_of_reconciles_not_started() {
        let slots = Slots::new(1);
        let order = Arc::new(Mutex::new(Vec::new()));
        let busy = slots.permits.clone().acquire_owned().await.unwrap();
        let mut waiting = Vec::new();
        for i in 0..50 {
            let (slots, order) = (slots.clone(), order.clone());
            waiting.push(tokio::spawn(holding("burst", Some(slots), async move { order.lock().unwrap().push(format!("new {i}")) })));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        let returning = {
            let (slots, order) = (slots.clone(), order.clone());
            tokio::spawn(async move {
                take_again(Some(slots)).await;
                order.lock().unwrap().push("returning".to_owned());
            })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        drop(busy);
        returning.await.unwrap();
        for task in waiting {
            task.await.unwrap();
        }
        let order = order.lock().unwrap();
        let at = order.iter().position(|o| o == "returning").unwrap();
        assert!(at <= 1, "the returning call came {at}th: {order:?}");
        assert_eq!(order.len(), 51);
    }
}
