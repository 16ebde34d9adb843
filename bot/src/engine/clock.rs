//! The bot's clock: real time, optionally started at another instant (`--now`), so a
//! newcomer can try "Friday 18:00 in Brussels" without waiting for it.

use chrono::{DateTime, Utc};
use std::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct Clock {
    base: DateTime<Utc>,
    started: Instant,
}

impl Clock {
    /// The real time.
    pub fn real() -> Self {
        Self::starting_at(Utc::now())
    }

    /// Starts at `at` and runs on in real time.
    pub fn starting_at(at: DateTime<Utc>) -> Self {
        Self {
            base: at,
            started: Instant::now(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        let elapsed = chrono::Duration::from_std(self.started.elapsed()).unwrap_or_default();
        self.base + elapsed
    }
}
