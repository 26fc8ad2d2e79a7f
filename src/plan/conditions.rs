//! kstatus conditions: `Ready`, `Reconciling`, `Stalled`, with `lastTransitionTime` moving only
//! when a condition's status changes.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::api::condition::{READY, RECONCILING, STALLED};

/// Where an object stands, in kstatus terms. Each maps to one set of three conditions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Standing {
    /// The object's purpose is achieved.
    Ready { reason: String, message: String },
    /// Work is in flight; it will move on by itself.
    Reconciling { reason: String, message: String },
    /// Nothing changes without a new spec or outside help.
    Stalled { reason: String, message: String },
}

impl Standing {
    pub fn reason(&self) -> &str {
        match self {
            Standing::Ready { reason, .. } | Standing::Reconciling { reason, .. } | Standing::Stalled { reason, .. } => reason,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Standing::Ready { message, .. } | Standing::Reconciling { message, .. } | Standing::Stalled { message, .. } => message,
        }
    }
}

/// The condition of `type_` when its status is True.
pub fn holds<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_ && c.status == "True")
}

/// The `Stalled` condition when it is True: the object waits for a new spec or outside help.
pub fn stalled(conditions: &[Condition]) -> Option<&Condition> {
    holds(conditions, STALLED)
}

/// The three conditions for `standing`, merged into `current` so that an unchanged status
/// keeps its `lastTransitionTime`. Conditions of other types are kept as they are.
pub fn apply_standing(current: &[Condition], standing: &Standing, generation: Option<i64>, now: &Time) -> Vec<Condition> {
    let (ready, reconciling, stalled) = match standing {
        Standing::Ready { .. } => (true, false, false),
        Standing::Reconciling { .. } => (false, true, false),
        Standing::Stalled { .. } => (false, false, true),
    };
    let mut out: Vec<Condition> = current.iter().filter(|c| ![READY, RECONCILING, STALLED].contains(&c.type_.as_str())).cloned().collect();
    for (type_, on) in [(READY, ready), (RECONCILING, reconciling), (STALLED, stalled)] {
        // Ready=False carries the reason of what it waits for; the other two say why they are
        // on. Never an empty message: some apiservers read it as null, which the schema refuses.
        let (reason, message) = if on || type_ == READY {
            (standing.reason().to_owned(), standing.message().to_owned())
        } else if type_ == RECONCILING {
            ("NotReconciling".to_owned(), "no work in flight".to_owned())
        } else {
            ("NotStalled".to_owned(), "nothing blocks progress".to_owned())
        };
        out.push(merge(current, type_, on, reason, message, generation, now));
    }
    out
}

/// `current` with the condition `type_` (one beside the kstatus three, such as `Verified`) set;
/// its `lastTransitionTime` moves only when its status changes.
pub fn set_condition(
    current: &[Condition],
    type_: &str,
    on: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: &Time,
) -> Vec<Condition> {
    let mut out: Vec<Condition> = current.iter().filter(|c| c.type_ != type_).cloned().collect();
    out.push(merge(current, type_, on, reason.to_owned(), message.to_owned(), generation, now));
    out
}

fn merge(current: &[Condition], type_: &str, on: bool, reason: String, message: String, generation: Option<i64>, now: &Time) -> Condition {
    let status = if on { "True" } else { "False" }.to_owned();
    let last_transition_time = current
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| now.clone());
    Condition { type_: type_.to_owned(), status, reason, message, observed_generation: generation, last_transition_time }
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;

    use super::*;

    fn at(secs: i64) -> Time {
        Time(Timestamp::from_second(secs).expect("in range"))
    }

    fn reconciling() -> Standing {
        Standing::Reconciling { reason: "Creating".into(), message: "backup is being created".into() }
    }

    #[test]
    fn one_of_three_is_true() {
        let conds = apply_standing(&[], &reconciling(), Some(1), &at(10));
        let on: Vec<_> = conds.iter().filter(|c| c.status == "True").map(|c| c.type_.as_str()).collect();
        assert_eq!(on, vec![RECONCILING]);
        let ready = conds.iter().find(|c| c.type_ == READY).expect("Ready is always present");
        assert_eq!(ready.reason, "Creating", "Ready=False says what it waits for");
        assert!(conds.iter().all(|c| c.observed_generation == Some(1)));
        assert!(conds.iter().all(|c| !c.message.is_empty()), "no empty messages");
    }

    #[test]
    fn transition_time_moves_only_when_status_changes() {
        let first = apply_standing(&[], &reconciling(), Some(1), &at(10));
        let again = apply_standing(&first, &reconciling(), Some(2), &at(20));
        assert!(again.iter().all(|c| c.last_transition_time == at(10)));

        let ready = Standing::Ready { reason: "Available".into(), message: "ok".into() };
        let done = apply_standing(&again, &ready, Some(2), &at(30));
        let time_of = |t: &str| done.iter().find(|c| c.type_ == t).map(|c| c.last_transition_time.clone());
        assert_eq!(time_of(READY), Some(at(30)));
        assert_eq!(time_of(RECONCILING), Some(at(30)));
        assert_eq!(time_of(STALLED), Some(at(10)), "Stalled stayed False");
    }

    #[test]
    fn other_condition_types_are_kept() {
        let other = Condition {
            type_: "PointInTimeRecovery".into(),
            status: "True".into(),
            reason: "Enabled".into(),
            message: String::new(),
            observed_generation: None,
            last_transition_time: at(1),
        };
        let conds = apply_standing(std::slice::from_ref(&other), &reconciling(), None, &at(2));
        assert!(conds.contains(&other));
        assert_eq!(conds.len(), 4);
    }
}
