//! Who is who in Slack: display names from `users.info` (cached), and the members of the user
//! groups the configuration names (`usergroups.users.list`, refreshed). People are shown as
//! `<@U…>` mentions by [`crate::chat::mentions`].
//!
//! Invariants:
//! - **A display name only names.** It fills [`Account::display`] and never decides who
//!   someone is (that is the account's id, `core::people`).
//! - **Bounded and never in the way.** At most [`CAPACITY`] names are remembered, each for
//!   [`NAME_TTL`]; a lookup waits at most [`LOOKUP_TIMEOUT`], and one that fails shows the id
//!   (remembered for [`RETRY_AFTER`], so a Slack outage costs one wait a minute per user).

use super::{Connector, answered};
use crate::chat::{Account, ChatError};
use slack_morphism::prelude::*;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// How many display names are remembered.
pub const CAPACITY: usize = 10_000;
/// How long a display name is trusted before it is looked up again (people rename themselves).
pub const NAME_TTL: Duration = Duration::from_secs(3600);
/// How long a failed lookup shows the id before Slack is asked again.
pub const RETRY_AFTER: Duration = Duration::from_secs(60);
/// The longest wait for `users.info` while an event waits to be handed to the engine.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the user groups the configuration names are listed again.
pub const GROUPS_REFRESH: Duration = Duration::from_secs(300);

/// Display names by Slack user id, looked up with the bot token.
pub struct Directory {
    client: Arc<SlackClient<Connector>>,
    token: SlackApiToken,
    names: Mutex<HashMap<String, Entry>>,
}

struct Entry {
    display: String,
    until: Instant,
}

impl Directory {
    pub fn new(client: Arc<SlackClient<Connector>>, token: SlackApiToken) -> Directory {
        Directory {
            client,
            token,
            names: Mutex::default(),
        }
    }

    /// `account` with the name Slack shows for it (its id when Slack can't say).
    pub async fn named(&self, mut account: Account) -> Account {
        account.display = self.display(&account.id).await;
        account
    }

    /// The name Slack shows for `user`: the display name, else the real name, else the
    /// handle, else the id.
    pub async fn display(&self, user: &str) -> String {
        let now = Instant::now();
        if let Some(e) = self.lock().get(user).filter(|e| e.until > now) {
            return e.display.clone();
        }
        let request = SlackApiUsersInfoRequest::new(SlackUserId::new(user.to_owned()));
        let session = self.client.open_session(&self.token);
        let looked_up = tokio::time::timeout(
            LOOKUP_TIMEOUT,
            answered("users.info", session.users_info(&request)),
        )
        .await;
        let (display, ttl) = match looked_up {
            Ok(Ok(answer)) => (
                shown_name(&answer.user).unwrap_or(user).to_owned(),
                NAME_TTL,
            ),
            Ok(Err(err)) => {
                tracing::warn!(
                    "Slack: users.info for {user}: {err:#} (shown by id; is the users:read scope granted?)"
                );
                (user.to_owned(), RETRY_AFTER)
            }
            Err(_) => {
                tracing::warn!(
                    "Slack: users.info for {user} took over {LOOKUP_TIMEOUT:?}; shown by id"
                );
                (user.to_owned(), RETRY_AFTER)
            }
        };
        let mut names = self.lock();
        if names.len() >= CAPACITY && !names.contains_key(user) {
            // Expired entries first; when none has, any one (the map has no order).
            names.retain(|_, e| e.until > now);
            if names.len() >= CAPACITY
                && let Some(any) = names.keys().next().cloned()
            {
                names.remove(&any);
            }
        }
        names.insert(
            user.to_owned(),
            Entry {
                display: display.clone(),
                until: now + ttl,
            },
        );
        display
    }

    /// The members of the user group `group` (`S0…`), by user id.
    pub async fn members(&self, group: &str) -> Result<Vec<String>, ChatError> {
        let request =
            SlackApiUserGroupsUsersListRequest::new(SlackUserGroupId::new(group.to_owned()));
        let session = self.client.open_session(&self.token);
        let answer = answered(
            "usergroups.users.list",
            session.usergroups_users_list(&request),
        )
        .await?;
        Ok(answer.users.iter().map(ToString::to_string).collect())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.names.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The name Slack shows for a user, if it has one.
fn shown_name(user: &SlackUser) -> Option<&str> {
    let profile = user.profile.as_ref();
    [
        profile.and_then(|p| p.display_name.as_deref()),
        profile.and_then(|p| p.real_name.as_deref()),
        user.real_name.as_deref(),
        user.name.as_deref(),
    ]
    .into_iter()
    .flatten()
    .map(str::trim)
    .find(|n| !n.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slack_user_is_shown_by_the_first_name_it_has() {
        let user: SlackUser = serde_json::from_value(serde_json::json!({
            "id": "U0ERIN", "name": "erin", "real_name": "Erin Smith",
            "profile": {"display_name": "", "real_name": "Erin Smith"},
        }))
        .unwrap();
        assert_eq!(shown_name(&user), Some("Erin Smith"));
        let bare: SlackUser = serde_json::from_value(serde_json::json!({"id": "U0X"})).unwrap();
        assert_eq!(shown_name(&bare), None);
    }
}
