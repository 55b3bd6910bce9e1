//! Which messages must reach HubSpot in order: the queue leases jobs of one ordering key one at
//! a time, in enqueue order.

use hubspot_core::mapping::find_email;
use hubspot_core::{Event, EventType};

use super::audience::is_membership;

/// The ordering key for a message: its contact's email when it has one (so a contact's
/// identifies and events stay in order), else its group, else, for an audience membership, its
/// `userId` (memberships by a unique property such as `user_id` must stay in order too: the
/// latest wins), else the message itself.
pub fn ordering_key(event: &Event) -> String {
    let email = find_email(&event.traits, event.user_id.as_deref())
        .or_else(|| find_email(&event.properties, None))
        .or_else(|| find_email(&event.context_traits, None));
    if let (None, Some(user)) = (&email, &event.user_id) {
        if is_membership(event) {
            return format!("user:{user}");
        }
    }
    match (email, &event.group_id, &event.message_id) {
        (Some((e, _)), _, _) if event.kind != EventType::Group => {
            format!("contact:{}", e.to_lowercase())
        }
        (_, Some(g), _) if event.kind == EventType::Group => format!("group:{g}"),
        (_, _, Some(m)) => format!("message:{m}"),
        _ => format!(
            "anonymous:{}",
            event
                .user_id
                .clone()
                .or_else(|| event.anonymous_id.clone())
                .unwrap_or_default()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(v: serde_json::Value) -> String {
        ordering_key(&serde_json::from_value(v).unwrap())
    }

    #[test]
    fn keys_by_contact_then_group_then_message() {
        let rows = [
            (
                json!({"type": "identify", "traits": {"email": "A@x.io"}}),
                "contact:a@x.io",
            ),
            (
                json!({"type": "track", "event": "e", "properties": {"email": "a@x.io"}}),
                "contact:a@x.io",
            ),
            (
                json!({"type": "track", "event": "e", "context": {"traits": {"email": "a@x.io"}}}),
                "contact:a@x.io",
            ),
            (
                json!({"type": "group", "groupId": "g1", "traits": {"email": "a@x.io"}}),
                "group:g1",
            ),
            (
                json!({"type": "track", "event": "e", "messageId": "m1"}),
                "message:m1",
            ),
            (json!({"type": "page", "anonymousId": "an"}), "anonymous:an"),
            (
                json!({"type": "track", "event": "Audience Exited", "userId": "u7",
                    "messageId": "m2", "properties": {"audience_key": "vip"}}),
                "user:u7",
            ),
        ];
        for (event, want) in rows {
            assert_eq!(key(event.clone()), want, "{event}");
        }
    }
}
