//! Explanations already given, so a person who reacts ten times gets one answer, not ten.
//!
//! Invariant: **bounded.** At most [`CAPACITY`] explanations are remembered; the oldest are
//! forgotten first (someone who keeps reacting on a request from long ago may be told again).

use crate::core::command::DeployId;
use std::collections::{HashSet, VecDeque};

/// How many explanations are remembered.
pub const CAPACITY: usize = 10_000;

type Key = (DeployId, String, String);

#[derive(Debug, Default)]
pub struct Told {
    seen: HashSet<Key>,
    order: VecDeque<Key>,
}

impl Told {
    /// Remembers that `what` was explained to `user` about deploy `id`; `false` when it was
    /// already.
    pub fn first(&mut self, id: DeployId, user: &str, what: &str) -> bool {
        let key = (id, user.to_owned(), what.to_owned());
        if self.seen.contains(&key) {
            return false;
        }
        if self.order.len() >= CAPACITY
            && let Some(oldest) = self.order.pop_front()
        {
            self.seen.remove(&oldest);
        }
        self.seen.insert(key.clone());
        self.order.push_back(key);
        true
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.order.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_explanation_once_and_never_more_than_the_capacity() {
        let mut told = Told::default();
        assert!(told.first(1, "bob", "ineligible"));
        assert!(!told.first(1, "bob", "ineligible"));
        assert!(told.first(1, "bob", "wrong message"));
        assert!(told.first(2, "bob", "ineligible"));
        for n in 0..(CAPACITY as i64 * 2) {
            told.first(100 + n, "someone", "ineligible");
        }
        assert_eq!(told.len(), CAPACITY);
        // The oldest were forgotten first.
        assert!(told.first(1, "bob", "ineligible"));
    }
}
