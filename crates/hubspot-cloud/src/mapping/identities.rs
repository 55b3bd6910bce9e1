//! What earlier identifies taught about a user: `userId` → email, so a later group call can
//! associate the user's contact even when its own traits carry no email.

use std::collections::HashMap;

use hubspot_core::mapping::find_email;
use hubspot_core::{Event, EventType};

/// How many users one portal remembers by default.
pub const DEFAULT_CAPACITY: usize = 100_000;

/// A bounded `userId` → email memory (a long-running relay sees unboundedly many users; an
/// evicted user's group falls back to its own traits' email).
#[derive(Debug)]
pub struct Identities {
    emails: HashMap<String, String>,
    capacity: usize,
}

impl Default for Identities {
    fn default() -> Self {
        Identities::with_capacity(DEFAULT_CAPACITY)
    }
}

impl Identities {
    /// A memory of at most `capacity` users.
    pub fn with_capacity(capacity: usize) -> Identities {
        Identities {
            emails: HashMap::new(),
            capacity: capacity.max(1),
        }
    }

    /// Learns from an identify with a `userId` and an email.
    pub fn learn(&mut self, event: &Event) {
        if event.kind != EventType::Identify {
            return;
        }
        let (Some(user_id), Some((email, _))) = (
            event.user_id.as_deref(),
            find_email(&event.traits, event.user_id.as_deref()),
        ) else {
            return;
        };
        if self.emails.len() >= self.capacity && !self.emails.contains_key(user_id) {
            if let Some(evict) = self.emails.keys().next().cloned() {
                self.emails.remove(&evict);
            }
        }
        self.emails.insert(user_id.to_owned(), email);
    }

    /// The email last identified for `user_id`.
    pub fn email(&self, user_id: &str) -> Option<&str> {
        self.emails.get(user_id).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn identify(user: &str, email: &str) -> Event {
        serde_json::from_value(
            json!({"type": "identify", "userId": user, "traits": {"email": email}}),
        )
        .unwrap()
    }

    #[test]
    fn remembers_the_latest_email_and_stays_bounded() {
        let mut ids = Identities::with_capacity(2);
        ids.learn(&identify("u1", "a@x.io"));
        ids.learn(&identify("u1", "b@x.io"));
        assert_eq!(ids.email("u1"), Some("b@x.io"));
        ids.learn(&identify("u2", "c@x.io"));
        ids.learn(&identify("u3", "d@x.io"));
        assert_eq!(ids.emails.len(), 2);
        assert_eq!(ids.email("u3"), Some("d@x.io"));
    }
}
