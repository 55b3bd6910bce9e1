//! Access tokens: a private app's static token, or OAuth with refresh before expiry (and once
//! more on a 401).

use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::Mutex;

/// How a portal authenticates.
#[derive(Clone)]
pub enum Credentials {
    /// A private app's access token (never refreshed: a 401 means it was revoked).
    PrivateApp {
        /// The token.
        token: String,
    },
    /// OAuth: refreshed with `POST /oauth/v1/token`.
    OAuth {
        /// App client id.
        client_id: String,
        /// App client secret.
        client_secret: String,
        /// Refresh token.
        refresh_token: String,
    },
}

impl std::fmt::Debug for Credentials {
    // Secrets never reach logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::PrivateApp { .. } => f.write_str("PrivateApp { token: <redacted> }"),
            Credentials::OAuth { client_id, .. } => write!(
                f,
                "OAuth {{ client_id: {client_id:?}, secrets: <redacted> }}"
            ),
        }
    }
}

/// Refresh this long before the token expires (or a tenth of its lifetime, if shorter).
const REFRESH_MARGIN: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Current {
    token: Option<String>,
    /// When to refresh (a margin before expiry).
    expires_at: Option<Instant>,
}

/// The token in force, refreshed as needed.
pub struct TokenSource {
    credentials: Credentials,
    current: Mutex<Current>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    refresh_token: Option<String>,
    expires_in: Option<u64>,
}

impl TokenSource {
    /// A token source for these credentials.
    pub fn new(credentials: Credentials) -> TokenSource {
        TokenSource {
            credentials,
            current: Mutex::new(Current::default()),
        }
    }

    /// True for OAuth (a 401 is worth one refresh).
    pub fn refreshable(&self) -> bool {
        matches!(self.credentials, Credentials::OAuth { .. })
    }

    /// The token to use now, refreshing an OAuth token that is missing or about to expire.
    pub async fn token(&self, http: &reqwest::Client, base_url: &str) -> Result<String, String> {
        match &self.credentials {
            Credentials::PrivateApp { token } => Ok(token.clone()),
            Credentials::OAuth { .. } => {
                let mut cur = self.current.lock().await;
                let fresh = cur.expires_at.is_none_or(|at| Instant::now() < at);
                match (&cur.token, fresh) {
                    (Some(t), true) => Ok(t.clone()),
                    _ => self.refresh_locked(&mut cur, http, base_url).await,
                }
            }
        }
    }

    /// Forces a refresh (after a 401). A private-app token cannot be refreshed.
    pub async fn refresh(&self, http: &reqwest::Client, base_url: &str) -> Result<String, String> {
        let mut cur = self.current.lock().await;
        self.refresh_locked(&mut cur, http, base_url).await
    }

    async fn refresh_locked(
        &self,
        cur: &mut Current,
        http: &reqwest::Client,
        base_url: &str,
    ) -> Result<String, String> {
        let Credentials::OAuth {
            client_id,
            client_secret,
            refresh_token,
        } = &self.credentials
        else {
            return Err("a private-app token cannot be refreshed".into());
        };
        let form = [
            ("grant_type", "refresh_token"),
            ("client_id", client_id.as_str()),
            ("client_secret", client_secret.as_str()),
            ("refresh_token", refresh_token.as_str()),
        ];
        let resp = http
            .post(format!("{base_url}/oauth/v1/token"))
            .form(&form)
            .send()
            .await
            .map_err(|e| format!("OAuth refresh failed: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("OAuth refresh failed: HTTP {}", resp.status()));
        }
        let body: TokenResponse = resp
            .json()
            .await
            .map_err(|e| format!("OAuth refresh answer unreadable: {e}"))?;
        // HubSpot may rotate the refresh token; ours stays valid for the fake and for HubSpot today.
        let _ = body.refresh_token;
        // Store the moment to refresh at, not the expiry.
        cur.expires_at = body.expires_in.map(|s| {
            let lifetime = Duration::from_secs(s);
            Instant::now() + lifetime - REFRESH_MARGIN.min(lifetime / 10)
        });
        cur.token = Some(body.access_token.clone());
        Ok(body.access_token)
    }
}
