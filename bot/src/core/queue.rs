//! One deploy per app and env at a time, the rest in FIFO order behind it (docs/lifecycle.md).
//! Pure bookkeeping: the engine asks and acts; nothing here runs or waits.

use crate::core::command::DeployId;
use std::collections::{BTreeMap, VecDeque};

/// An app and env, the unit of "one at a time".
pub type Target = (String, String);

/// Where a deploy stands after [`Queues::enqueue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// The target was free: start it now.
    StartNow,
    /// Waiting; `position` 1 is next, behind `behind` (the running deploy).
    Waiting { position: usize, behind: DeployId },
}

#[derive(Debug, Default)]
pub struct Queues {
    targets: BTreeMap<Target, TargetQueue>,
}

#[derive(Debug, Default)]
struct TargetQueue {
    running: Option<DeployId>,
    waiting: VecDeque<DeployId>,
}

impl Queues {
    /// Adds a deploy to its target's queue.
    pub fn enqueue(&mut self, target: Target, id: DeployId) -> Slot {
        let q = self.targets.entry(target).or_default();
        match q.running {
            None => {
                q.running = Some(id);
                Slot::StartNow
            }
            Some(behind) => {
                q.waiting.push_back(id);
                Slot::Waiting {
                    position: q.waiting.len(),
                    behind,
                }
            }
        }
    }

    /// The running deploy of a target finished: returns the next one to start, now marked as
    /// running, if any.
    pub fn finish(&mut self, target: &Target, id: DeployId) -> Option<DeployId> {
        let q = self.targets.get_mut(target)?;
        if q.running != Some(id) {
            return None;
        }
        q.running = q.waiting.pop_front();
        let next = q.running;
        if next.is_none() {
            self.targets.remove(target);
        }
        next
    }

    /// Takes a waiting deploy out of its queue (it was cancelled); `false` if it was not waiting.
    pub fn remove_waiting(&mut self, id: DeployId) -> bool {
        for q in self.targets.values_mut() {
            if let Some(pos) = q.waiting.iter().position(|&w| w == id) {
                q.waiting.remove(pos);
                return true;
            }
        }
        false
    }

    /// The deploy holding a target, if any.
    pub fn running(&self, target: &Target) -> Option<DeployId> {
        self.targets.get(target).and_then(|q| q.running)
    }

    /// Every target held, with the deploy holding it.
    pub fn running_all(&self) -> Vec<(Target, DeployId)> {
        self.targets
            .iter()
            .filter_map(|(t, q)| q.running.map(|id| (t.clone(), id)))
            .collect()
    }

    /// How many deploys wait behind the running one.
    pub fn waiting_len(&self, target: &Target) -> usize {
        self.targets.get(target).map_or(0, |q| q.waiting.len())
    }

    /// Nothing runs and nothing waits anywhere.
    pub fn is_idle(&self) -> bool {
        self.targets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(app: &str, env: &str) -> Target {
        (app.into(), env.into())
    }

    #[test]
    fn second_request_waits_and_starts_when_the_first_ends() {
        let mut q = Queues::default();
        assert_eq!(q.enqueue(t("api", "prod"), 1), Slot::StartNow);
        assert_eq!(
            q.enqueue(t("api", "prod"), 2),
            Slot::Waiting {
                position: 1,
                behind: 1
            }
        );
        assert_eq!(
            q.enqueue(t("api", "prod"), 3),
            Slot::Waiting {
                position: 2,
                behind: 1
            }
        );
        // Another target is independent.
        assert_eq!(q.enqueue(t("api", "staging"), 4), Slot::StartNow);
        assert_eq!(q.finish(&t("api", "prod"), 1), Some(2));
        assert_eq!(q.running(&t("api", "prod")), Some(2));
        assert!(q.remove_waiting(3));
        assert_eq!(q.finish(&t("api", "prod"), 2), None);
        assert_eq!(q.finish(&t("api", "staging"), 4), None);
        assert!(q.is_idle());
    }

    #[test]
    fn finishing_a_deploy_that_does_not_hold_the_target_changes_nothing() {
        let mut q = Queues::default();
        q.enqueue(t("web", "prod"), 7);
        q.enqueue(t("web", "prod"), 8);
        assert_eq!(q.finish(&t("web", "prod"), 8), None);
        assert_eq!(q.running(&t("web", "prod")), Some(7));
        assert_eq!(q.waiting_len(&t("web", "prod")), 1);
    }
}
