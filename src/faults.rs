//! What the in-memory parts of the tests (cluster, DynamoDB, AWS Backup) share to stage a crash:
//! a countdown over every call they answer, after which the call takes effect and never answers,
//! as when the operator is killed the moment a request went out.

use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

#[derive(Clone, Default)]
pub struct Tripwire {
    state: Arc<Mutex<TripState>>,
    tripped: Arc<Notify>,
}

#[derive(Default)]
struct TripState {
    /// Calls seen so far.
    calls: usize,
    /// The call (1-based) that takes effect and never answers.
    at: Option<usize>,
}

impl Tripwire {
    /// Counts calls from zero again; the `n`-th from now takes effect and never answers.
    pub fn arm(&self, n: usize) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        *state = TripState { calls: 0, at: Some(n) };
    }

    /// Calls counted since the last `arm` (or since the start).
    pub fn calls(&self) -> usize {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).calls
    }

    /// Counts one call that takes effect; true when it must never answer.
    pub fn count(&self) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.calls += 1;
        let hit = state.at == Some(state.calls);
        if hit {
            state.at = None;
            self.tripped.notify_one();
        }
        hit
    }

    /// Resolves once the armed call has been made.
    pub async fn tripped(&self) {
        self.tripped.notified().await;
    }
}

/// The wait of a call that never answers (the caller is dropped, as a killed process is).
pub async fn hang_if(hang: bool) {
    if hang {
        std::future::pending::<()>().await;
    }
}
