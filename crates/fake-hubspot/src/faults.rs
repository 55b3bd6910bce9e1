//! Fault injection: the next N requests (optionally only under a path prefix) fail in a chosen
//! way, so client retry, timeout and idempotency paths can be tested against a real socket.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

/// How an affected request fails.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer with this status (500 with a JSON body; other codes with an HTML body, as a
    /// gateway would) without processing the request.
    Status(u16),
    /// Wait this many milliseconds, then process normally. A client that times out first drops
    /// the connection and the request is never processed.
    DelayMs(u64),
    /// Close the connection without processing or answering.
    DropConnection,
    /// Process the request (state changes happen), then close the connection without answering:
    /// a retry after this must not record anything twice.
    DropAfterProcessing,
    /// Answer 200 `{"status":"COMPLETE","results":[],"errors":[]}` without processing: the
    /// silent failure a client must not count as delivered.
    EmptyBatchResult,
}

/// One fault rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultRule {
    /// Only requests whose path starts with this are affected (`None`: every API request).
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// How many more requests are affected.
    pub count: u32,
    /// What happens to them.
    pub kind: FaultKind,
}

impl FaultRule {
    /// The next `count` requests fail with `kind`.
    pub fn next(count: u32, kind: FaultKind) -> Self {
        Self {
            path_prefix: None,
            count,
            kind,
        }
    }

    /// Restricts the rule to paths starting with `prefix`.
    pub fn on_path(mut self, prefix: impl Into<String>) -> Self {
        self.path_prefix = Some(prefix.into());
        self
    }
}

/// The active fault rules, consulted in order; the first matching rule with a count left
/// applies to a request and uses up one of its count.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Faults {
    /// The rules.
    pub rules: Vec<FaultRule>,
}

impl Faults {
    /// No faults.
    pub fn none() -> Self {
        Self::default()
    }

    /// A single rule.
    pub fn one(rule: FaultRule) -> Self {
        Self { rules: vec![rule] }
    }

    /// Adds a rule after the existing ones.
    pub fn then(mut self, rule: FaultRule) -> Self {
        self.rules.push(rule);
        self
    }

    /// The fault for a request to `path`, if any, consuming one use of its rule.
    pub(crate) fn take(&mut self, path: &str) -> Option<FaultKind> {
        let rule = self.rules.iter_mut().find(|r| {
            r.count > 0 && r.path_prefix.as_deref().is_none_or(|p| path.starts_with(p))
        })?;
        rule.count -= 1;
        let kind = rule.kind.clone();
        self.rules.retain(|r| r.count > 0);
        Some(kind)
    }
}

/// Lets a handler close its own connection: the per-connection serving task waits on it and
/// drops the connection (and so the socket) when notified.
#[derive(Clone, Debug, Default)]
pub(crate) struct ConnectionKiller(pub(crate) Arc<Notify>);

impl ConnectionKiller {
    /// Closes the connection this request arrived on.
    pub(crate) fn kill(&self) {
        self.0.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_apply_in_order_and_run_out() {
        let mut faults = Faults::one(FaultRule::next(1, FaultKind::Status(503)).on_path("/crm"))
            .then(FaultRule::next(1, FaultKind::DropConnection));
        assert_eq!(
            faults.take("/events/v3/send/batch"),
            Some(FaultKind::DropConnection)
        );
        assert_eq!(
            faults.take("/crm/v3/objects/contacts"),
            Some(FaultKind::Status(503))
        );
        assert_eq!(faults.take("/crm/v3/objects/contacts"), None);
    }
}
