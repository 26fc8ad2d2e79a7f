//! Leader election over a coordination.k8s.io Lease: who may take it, when.

use std::time::Duration;

use jiff::Timestamp;

/// The parts of a Lease that decide who leads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaseState {
    pub holder: Option<String>,
    pub renewed: Option<Timestamp>,
    pub duration: Option<Duration>,
}

/// May `me` hold the lease now? Yes when nobody holds it, when we already do, or when the
/// holder has not renewed it within its duration (it crashed or was cut off).
pub fn may_hold(lease: &LeaseState, me: &str, now: Timestamp) -> bool {
    match lease.holder.as_deref() {
        None | Some("") => true,
        Some(holder) if holder == me => true,
        Some(_) => match (lease.renewed, lease.duration) {
            (Some(renewed), Some(duration)) => {
                let expires = renewed.checked_add(jiff::SignedDuration::try_from(duration).unwrap_or(jiff::SignedDuration::MAX));
                expires.is_ok_and(|expires| expires < now)
            }
            // A lease without a renew time or duration cannot expire by itself: treat it as stale.
            _ => true,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).expect("in range")
    }

    fn held_by(holder: &str, renewed: i64) -> LeaseState {
        LeaseState { holder: Some(holder.into()), renewed: Some(at(renewed)), duration: Some(Duration::from_secs(15)) }
    }

    #[test]
    fn a_free_lease_is_taken() {
        assert!(may_hold(&LeaseState::default(), "a", at(0)));
        assert!(may_hold(&LeaseState { holder: Some(String::new()), ..Default::default() }, "a", at(0)));
    }

    #[test]
    fn a_live_lease_of_another_is_left_alone() {
        assert!(!may_hold(&held_by("b", 100), "a", at(110)));
        assert!(!may_hold(&held_by("b", 100), "a", at(115)), "expiry is strict");
        assert!(may_hold(&held_by("b", 100), "a", at(116)));
    }

    #[test]
    fn our_own_lease_is_ours() {
        assert!(may_hold(&held_by("a", 0), "a", at(1_000)));
    }
}
