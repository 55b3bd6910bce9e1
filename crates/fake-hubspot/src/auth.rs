//! Bearer-token authentication, OAuth refresh and scopes.
//!
//! HubSpot answers a missing or unknown token with 401 `INVALID_AUTHENTICATION`, an expired
//! OAuth access token with 401 `EXPIRED_AUTHENTICATION`, and a token without the endpoint's
//! scope with 403 `MISSING_SCOPES`. Clients treat these differently (refresh and retry once,
//! stop the portal, dead-letter), so the fake keeps them distinct.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::errors::{ApiError, category};
use crate::store::canonical_type;

/// An access token the fake accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessToken {
    /// The bearer token.
    pub token: String,
    /// When it stops working; `None` never expires (a private-app token).
    pub expires_at: Option<Instant>,
}

impl AccessToken {
    /// A token that never expires.
    pub fn new(token: impl Into<String>) -> Self {
        Self {
            token: token.into(),
            expires_at: None,
        }
    }

    /// The same token, expiring at `at` (an instant in the past makes it expired already).
    pub fn expiring_at(mut self, at: Instant) -> Self {
        self.expires_at = Some(at);
        self
    }

    /// The same token, expiring `after` from now.
    pub fn expiring_in(self, after: Duration) -> Self {
        self.expiring_at(Instant::now() + after)
    }
}

/// The OAuth app whose refresh token `POST /oauth/v1/token` accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthApp {
    /// `client_id` form field.
    pub client_id: String,
    /// `client_secret` form field.
    pub client_secret: String,
    /// `refresh_token` form field; it stays valid after use, as HubSpot's does.
    pub refresh_token: String,
    /// Lifetime of issued access tokens (`expires_in`); HubSpot's is 30 minutes.
    pub access_token_lifetime: Duration,
}

impl Default for OAuthApp {
    fn default() -> Self {
        Self {
            client_id: "fake-client-id".into(),
            client_secret: "fake-client-secret".into(),
            refresh_token: "fake-refresh-token".into(),
            access_token_lifetime: Duration::from_secs(1800),
        }
    }
}

const OBJECT_SCOPES: [&str; 4] = ["contacts", "companies", "deals", "custom"];

/// Every scope an endpoint of the fake can require; the default grant.
pub fn all_scopes() -> BTreeSet<String> {
    let mut scopes = BTreeSet::new();
    for kind in OBJECT_SCOPES {
        for access in ["read", "write"] {
            scopes.insert(format!("crm.objects.{kind}.{access}"));
            scopes.insert(format!("crm.schemas.{kind}.{access}"));
        }
    }
    scopes.insert("tickets".into());
    scopes.insert("crm.objects.owners.read".into());
    scopes.insert("crm.lists.read".into());
    scopes.insert("crm.lists.write".into());
    scopes.insert("content".into());
    scopes.insert("forms".into());
    scopes.insert("analytics.behavioral_events.send".into());
    scopes.insert("behavioral_events.event_definitions.read_write".into());
    scopes
}

fn object_scope(ty: &str, family: &str, write: bool) -> String {
    let ty = canonical_type(ty);
    let kind = match ty.as_str() {
        "tickets" => return "tickets".into(),
        "contacts" | "companies" | "deals" => ty.as_str(),
        _ => "custom",
    };
    let access = if write { "write" } else { "read" };
    format!("crm.{family}.{kind}.{access}")
}

/// The scope an API request needs, from its method and path; `None` for endpoints any valid
/// token may call (account info, token info).
pub(crate) fn required_scope(method: &Method, path: &str) -> Option<String> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let reads = *method == Method::GET
        || segments.last() == Some(&"search")
        || path.ends_with("/batch/read");
    match segments.as_slice() {
        ["crm", "v3", "objects", ty, ..] => Some(object_scope(ty, "objects", !reads)),
        ["crm", "v3", "properties", ty, ..] => Some(object_scope(ty, "schemas", !reads)),
        ["crm", "v3", "schemas", ..] => Some("crm.schemas.custom.read".into()),
        ["email", "public", ..] => Some("content".into()),
        ["marketing", "v3", "forms", ..] | ["form-integrations", ..] => Some("forms".into()),
        ["contacts", "v1", ..] => Some(object_scope("contacts", "objects", !reads)),
        ["crm", "v3", "lists", ..] => Some(format!(
            "crm.lists.{}",
            if reads { "read" } else { "write" }
        )),
        ["crm", "v3", "owners", ..] => Some("crm.objects.owners.read".into()),
        ["crm", "v3", "pipelines", ty, ..] => Some(object_scope(ty, "objects", !reads)),
        ["crm", "v4", "objects", ty, ..] | ["crm", "v4", "associations", ty, ..] => {
            Some(object_scope(ty, "objects", !reads))
        }
        ["events", "v3", "send", ..] => Some("analytics.behavioral_events.send".into()),
        ["events", "v3", "event-definitions", ..] => {
            Some("behavioral_events.event_definitions.read_write".into())
        }
        _ => None,
    }
}

/// Checks the `Authorization` header against the accepted tokens; returns the token.
pub(crate) fn authenticate<'a>(
    header: Option<&str>,
    tokens: impl IntoIterator<Item = &'a AccessToken>,
    now: Instant,
) -> Result<String, ApiError> {
    let invalid = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            category::INVALID_AUTHENTICATION,
            "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
        )
    };
    let presented = header
        .and_then(|h| h.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|t| !t.is_empty())
        .ok_or_else(invalid)?;
    // The last matching entry wins, so a re-added token replaces an older one.
    let known = tokens
        .into_iter()
        .filter(|t| t.token == presented)
        .last()
        .ok_or_else(invalid)?;
    match known.expires_at {
        Some(at) if at <= now => {
            let ago = now.duration_since(at).as_secs();
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                category::EXPIRED_AUTHENTICATION,
                format!("The OAuth token used to make this call expired {ago} second(s) ago."),
            ))
        }
        _ => Ok(known.token.clone()),
    }
}

/// 403 for a token lacking `scope`.
pub(crate) fn missing_scope(scope: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        category::MISSING_SCOPES,
        "This app hasn't been granted all required scopes to make this call. Read more about required scopes here: https://developers.hubspot.com/scopes.",
    )
    .with(
        "errors",
        json!([{
            "message": "One or more of the following scopes are required.",
            "context": { "requiredGranularScopes": [scope] }
        }]),
    )
}

/// 403 for a portal whose plan lacks custom behavioral events (Marketing Hub Enterprise).
pub(crate) fn custom_events_unavailable() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        category::FORBIDDEN,
        "This portal does not have access to custom behavioral events: they require Marketing Hub Enterprise.",
    )
}

/// Checks a `POST /oauth/v1/token` form against the app. HubSpot's OAuth errors use `status`
/// for the reason (`BAD_REFRESH_TOKEN`, …) rather than the CRM's `category`.
pub(crate) fn check_refresh(
    app: Option<&OAuthApp>,
    form: &HashMap<String, String>,
) -> Result<(), ApiError> {
    let fail = |status: &str, message: &str| {
        let mut err = ApiError::validation(message);
        err.body.remove("category");
        err.with("status", json!(status))
    };
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or("");
    let Some(app) = app else {
        return Err(fail("BAD_CLIENT_ID", "missing or invalid client_id"));
    };
    if field("grant_type") != "refresh_token" {
        return Err(fail("BAD_GRANT_TYPE", "grant_type must be refresh_token"));
    }
    if field("client_id") != app.client_id {
        return Err(fail("BAD_CLIENT_ID", "missing or invalid client_id"));
    }
    if field("client_secret") != app.client_secret {
        return Err(fail(
            "BAD_CLIENT_SECRET",
            "missing or invalid client_secret",
        ));
    }
    if field("refresh_token") != app.refresh_token {
        return Err(fail(
            "BAD_REFRESH_TOKEN",
            "missing or unknown refresh token",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_follow_the_path() {
        let post = Method::POST;
        let scope = |m: &Method, p: &str| required_scope(m, p).unwrap_or_default();
        assert_eq!(
            scope(&post, "/crm/v3/objects/contacts/batch/upsert"),
            "crm.objects.contacts.write"
        );
        assert_eq!(
            scope(&post, "/crm/v3/objects/0-2/search"),
            "crm.objects.companies.read"
        );
        assert_eq!(
            scope(&post, "/crm/v3/objects/p_cars/batch/read"),
            "crm.objects.custom.read"
        );
        assert_eq!(
            scope(&Method::GET, "/crm/v3/properties/deals"),
            "crm.schemas.deals.read"
        );
        assert_eq!(
            scope(&post, "/events/v3/send/batch"),
            "analytics.behavioral_events.send"
        );
        assert_eq!(
            scope(&post, "/crm/v4/associations/contacts/companies/batch/read"),
            "crm.objects.contacts.read"
        );
        let get = Method::GET;
        assert_eq!(scope(&post, "/crm/v3/lists/search"), "crm.lists.read");
        assert_eq!(
            scope(&Method::PUT, "/crm/v3/lists/3/memberships/add"),
            "crm.lists.write"
        );
        assert_eq!(scope(&get, "/crm/v3/owners"), "crm.objects.owners.read");
        assert_eq!(scope(&get, "/crm/v3/schemas"), "crm.schemas.custom.read");
        assert_eq!(scope(&get, "/email/public/v1/events"), "content");
        assert_eq!(scope(&get, "/marketing/v3/forms"), "forms");
        assert_eq!(
            scope(&get, "/contacts/v1/contact/vids/batch"),
            "crm.objects.contacts.read"
        );
        assert_eq!(
            scope(&post, "/crm/v3/objects/contacts/merge"),
            "crm.objects.contacts.write"
        );
        for granted in [
            "crm.lists.read",
            "content",
            "forms",
            "crm.objects.owners.read",
        ] {
            assert!(all_scopes().contains(granted), "{granted}");
        }
        assert!(all_scopes().contains("crm.objects.contacts.write"));
    }
}
