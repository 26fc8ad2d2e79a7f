//! What a reconcile holds while it runs: its namespace (whose turn its calls take in a pacing
//! bucket) and one of its controller's `--concurrency` slots. A call that must wait for its
//! operation's pace gives the slot back while it waits and takes one again when its turn comes,
//! so a reconcile waiting for DeleteBackup's pace never keeps another from its CreateBackup.

use std::{
    future::Future,
    sync::{Arc, Mutex},
};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

tokio::task_local! {
    static HELD: Held;
}

struct Held {
    tenant: String,
    slots: Option<Arc<Semaphore>>,
    permit: Mutex<Option<OwnedSemaphorePermit>>,
}

/// Runs `work` for a reconcile of `tenant`'s object, in one of `slots` (None: unbounded).
pub async fn holding<F: Future>(tenant: &str, slots: Option<Arc<Semaphore>>, work: F) -> F::Output {
    let permit = match &slots {
        Some(slots) => slots.clone().acquire_owned().await.ok(),
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
pub(super) fn give_back() -> Option<Arc<Semaphore>> {
    HELD.try_with(|h| {
        let permit = h.permit.lock().unwrap_or_else(|p| p.into_inner()).take();
        permit.and(h.slots.clone())
    })
    .ok()
    .flatten()
}

/// Takes a slot again after `give_back` gave one.
pub(super) async fn take_again(slots: Option<Arc<Semaphore>>) {
    let Some(slots) = slots else { return };
    let permit = slots.acquire_owned().await.ok();
    let _ = HELD.try_with(|h| *h.permit.lock().unwrap_or_else(|p| p.into_inner()) = permit);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_waiting_call_gives_its_slot_back_and_takes_one_again() {
        let slots = Arc::new(Semaphore::new(1));
        let (s, t) = (slots.clone(), slots.clone());
        holding("shop", Some(slots.clone()), async move {
            assert_eq!(tenant(), "shop");
            assert_eq!(s.available_permits(), 0, "the reconcile holds the one slot");
            let back = give_back();
            assert_eq!(t.available_permits(), 1, "given back while it waits");
            // Another reconcile can run meanwhile.
            holding("other", Some(t.clone()), async { assert_eq!(tenant(), "other") }).await;
            take_again(back).await;
            assert_eq!(t.available_permits(), 0, "held again after its turn");
        })
        .await;
        assert_eq!(slots.available_permits(), 1, "released with the reconcile");
        assert_eq!(tenant(), "", "no reconcile outside");
    }
}
