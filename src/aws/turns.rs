//! Whose turn it is in one pacing bucket: waiting calls are served round-robin across the
//! namespaces that wait (a namespace's burst delays another's calls by at most a few turns, not
//! by the burst's length), `Now` calls before `Background` ones. Pure bookkeeping: the pacer
//! decides when a turn comes, this decides who takes it.

use std::collections::{HashMap, VecDeque};

use super::pacing::Lane;

/// Waiters of one lane, round-robin by namespace (tenant).
#[derive(Debug)]
struct RoundRobin<T> {
    /// Namespaces with waiters, in the order their turns come.
    order: VecDeque<String>,
    waiting: HashMap<String, VecDeque<T>>,
}

impl<T> Default for RoundRobin<T> {
    fn default() -> Self {
        Self { order: VecDeque::new(), waiting: HashMap::new() }
    }
}

impl<T> RoundRobin<T> {
    fn push(&mut self, tenant: &str, waiter: T) {
        let queue = self.waiting.entry(tenant.to_owned()).or_default();
        if queue.is_empty() {
            self.order.push_back(tenant.to_owned());
        }
        queue.push_back(waiter);
    }

    fn pop(&mut self) -> Option<(String, T)> {
        let tenant = self.order.pop_front()?;
        let queue = self.waiting.get_mut(&tenant)?;
        let waiter = queue.pop_front()?;
        if queue.is_empty() {
            self.waiting.remove(&tenant);
        } else {
            self.order.push_back(tenant.clone());
        }
        Some((tenant, waiter))
    }
}

/// The calls waiting in one bucket.
#[derive(Debug)]
pub struct Turns<T> {
    now: RoundRobin<T>,
    background: RoundRobin<T>,
}

impl<T> Default for Turns<T> {
    fn default() -> Self {
        Self { now: RoundRobin::default(), background: RoundRobin::default() }
    }
}

impl<T> Turns<T> {
    pub fn push(&mut self, lane: Lane, tenant: &str, waiter: T) {
        match lane {
            Lane::Now => self.now.push(tenant, waiter),
            Lane::Background => self.background.push(tenant, waiter),
        }
    }

    /// Who takes the next turn: the next namespace's oldest `Now` call, else the next
    /// namespace's oldest `Background` call.
    pub fn pop(&mut self) -> Option<(String, T)> {
        self.now.pop().or_else(|| self.background.pop())
    }

    pub fn is_empty(&self) -> bool {
        self.now.order.is_empty() && self.background.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn namespaces_take_turns_and_now_goes_first() {
        let mut turns = Turns::default();
        for i in 0..5 {
            turns.push(Lane::Now, "a", format!("a{i}"));
        }
        turns.push(Lane::Background, "c", "c0".to_owned());
        turns.push(Lane::Now, "b", "b0".to_owned());
        turns.push(Lane::Now, "b", "b1".to_owned());
        let served: Vec<String> = std::iter::from_fn(|| turns.pop().map(|(_, w)| w)).collect();
        assert_eq!(served, ["a0", "b0", "a1", "b1", "a2", "a3", "a4", "c0"]);
        assert!(turns.is_empty());
    }

    proptest! {
        /// However long one namespace's burst, a call of another namespace is served within as
        /// many turns as there are namespaces waiting ahead of it, plus its own place in its
        /// namespace's queue.
        #[test]
        fn a_burst_delays_another_namespace_by_a_few_turns_only(
            burst in 1usize..500,
            others in proptest::collection::vec(1usize..4, 1..6),
        ) {
            let mut turns = Turns::default();
            for i in 0..burst {
                turns.push(Lane::Now, "burst", ("burst".to_owned(), i));
            }
            for (n, count) in others.iter().enumerate() {
                for i in 0..*count {
                    turns.push(Lane::Now, &format!("t{n}"), (format!("t{n}"), i));
                }
            }
            let namespaces = others.len() + 1;
            let mut served = 0usize;
            while let Some((tenant, (_, i))) = turns.pop() {
                served += 1;
                if tenant != "burst" {
                    // Its i-th call comes at most (i + 1) rounds of every namespace in.
                    prop_assert!(served <= (i + 1) * namespaces, "{tenant}'s call {i} served {served}th");
                }
            }
            prop_assert_eq!(served, burst + others.iter().sum::<usize>());
        }
    }
}
