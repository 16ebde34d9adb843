//! Which hosts go together: the batches of a rollout strategy. Pure.

use crate::core::recipe::Strategy;
use std::ops::Range;

/// Splits `n` hosts into the batches `strategy` rolls out, in order. Never returns an empty
/// batch; `n == 0` gives no batches.
pub fn batches(n: usize, strategy: &Strategy) -> Vec<Range<usize>> {
    let chunks = |from: usize, size: usize| -> Vec<Range<usize>> {
        let size = size.max(1);
        (from..n)
            .step_by(size)
            .map(|s| s..(s + size).min(n))
            .collect()
    };
    match *strategy {
        Strategy::Parallel => chunks(0, n),
        Strategy::Rolling { batch } => chunks(0, batch as usize),
        Strategy::Canary { canary, batch } => {
            let first = (canary as usize).clamp(1, n.max(1)).min(n);
            let mut out: Vec<Range<usize>> = std::iter::once(0..first)
                .filter(|r| !r.is_empty())
                .collect();
            out.extend(chunks(first, batch as usize));
            out
        }
    }
}

/// `rolling, 1 host at a time` and the like, for plans and `check`.
pub fn describe(strategy: &Strategy) -> String {
    match *strategy {
        Strategy::Parallel => "parallel".into(),
        Strategy::Rolling { batch } => format!("rolling, {batch} at a time"),
        Strategy::Canary { canary, batch } => {
            format!("canary ({canary} first), then {batch} at a time")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategies_split_hosts_in_order() {
        assert_eq!(batches(3, &Strategy::Parallel), vec![0..3]);
        assert_eq!(
            batches(5, &Strategy::Rolling { batch: 2 }),
            vec![0..2, 2..4, 4..5]
        );
        assert_eq!(
            batches(
                5,
                &Strategy::Canary {
                    canary: 1,
                    batch: 3
                }
            ),
            vec![0..1, 1..4, 4..5]
        );
        assert_eq!(
            batches(
                1,
                &Strategy::Canary {
                    canary: 2,
                    batch: 1
                }
            ),
            vec![0..1]
        );
        assert!(batches(0, &Strategy::Rolling { batch: 1 }).is_empty());
    }
}
