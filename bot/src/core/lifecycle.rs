//! The deploy state machine (docs/lifecycle.md). Pure: no I/O, no clock. Every change of state in
//! the rest of the program goes through [`DeployState::can_become`], so an impossible
//! transition (say `failed` → `running`) is refused in one place.

use std::fmt;
use std::str::FromStr;

/// Where a deploy is in its life. The string forms are stored in the log and shown to users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeployState {
    AwaitingApproval,
    Approved,
    Queued,
    Running,
    Verifying,
    Succeeded,
    Denied,
    Expired,
    Blocked,
    Failed,
    RolledBack,
    Cancelled,
    Interrupted,
}

use DeployState::*;

impl DeployState {
    pub const ALL: [DeployState; 13] = [
        AwaitingApproval,
        Approved,
        Queued,
        Running,
        Verifying,
        Succeeded,
        Denied,
        Expired,
        Blocked,
        Failed,
        RolledBack,
        Cancelled,
        Interrupted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AwaitingApproval => "awaiting_approval",
            Approved => "approved",
            Queued => "queued",
            Running => "running",
            Verifying => "verifying",
            Succeeded => "succeeded",
            Denied => "denied",
            Expired => "expired",
            Blocked => "blocked",
            Failed => "failed",
            RolledBack => "rolled_back",
            Cancelled => "cancelled",
            Interrupted => "interrupted",
        }
    }

    /// A final state: nothing ever happens to the deploy again.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Succeeded | Denied | Expired | Blocked | Failed | RolledBack | Cancelled | Interrupted
        )
    }

    /// Hosts are being changed (or checked): the target is busy and the deploy holds it.
    pub fn is_in_flight(self) -> bool {
        matches!(self, Running | Verifying)
    }

    /// Waiting for something (a person or its turn) before it can run.
    pub fn is_pending(self) -> bool {
        matches!(self, AwaitingApproval | Approved | Queued)
    }

    /// The transitions of docs/lifecycle.md. `blocked` is only ever a first state (refused at
    /// request time), so nothing leads to it; `interrupted` is reached from in-flight states
    /// when the bot restarts.
    pub fn can_become(self, next: DeployState) -> bool {
        matches!(
            (self, next),
            (AwaitingApproval, Approved | Denied | Expired | Cancelled)
                | (Approved, Queued | Cancelled)
                | (Queued, Running | Cancelled)
                | (
                    Running | Verifying,
                    Running | Verifying | Succeeded | Failed | RolledBack | Cancelled | Interrupted
                )
        ) && self != next
    }
}

impl fmt::Display for DeployState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a deploy state")]
pub struct UnknownState(pub String);

impl FromStr for DeployState {
    type Err = UnknownState;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DeployState::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownState(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_states_go_nowhere() {
        for from in DeployState::ALL.into_iter().filter(|s| s.is_final()) {
            for to in DeployState::ALL {
                assert!(!from.can_become(to), "{from} -> {to} should be impossible");
            }
        }
    }

    #[test]
    fn nothing_becomes_blocked_and_everything_round_trips() {
        for s in DeployState::ALL {
            assert!(!s.can_become(Blocked));
            assert_eq!(s.as_str().parse::<DeployState>(), Ok(s));
        }
    }

    #[test]
    fn a_pending_deploy_cannot_skip_its_queue() {
        assert!(!AwaitingApproval.can_become(Running));
        assert!(!Approved.can_become(Running));
        assert!(Queued.can_become(Running));
    }
}
