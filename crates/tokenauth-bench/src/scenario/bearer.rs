//! `verify` and `me`: requests authenticated with a Bearer access token, the path every API
//! call behind tokenauth takes.

use super::{Emails, back_off, new_account};
use crate::client::{Api, Tokens};
use crate::recorder::Recorder;

/// Which authenticated endpoint a client calls.
#[derive(Debug, Clone, Copy)]
pub enum Path {
    /// `GET /v1/verify` (forward auth: no database read).
    Verify,
    /// `GET /v1/me` (reads the user).
    Me,
}

/// A client holding valid access tokens of one session, used in turn.
pub struct BearerClient {
    path: Path,
    access: Vec<String>,
    next: usize,
    latest: Tokens,
    emails: Emails,
}

impl BearerClient {
    /// A client calling `path` with each of `access` in turn (at least one); `latest` holds
    /// the session's live refresh token.
    pub fn new(path: Path, access: Vec<String>, latest: Tokens, emails: Emails) -> Self {
        Self {
            path,
            access,
            next: 0,
            latest,
            emails,
        }
    }

    /// One authenticated request. After a refusal (say, the access token expired during a long
    /// run) the client renews that token, unmeasured.
    pub async fn step(&mut self, api: &Api, recorder: &mut Recorder) {
        let slot = self.next % self.access.len().max(1);
        self.next = self.next.wrapping_add(1);
        let Some(access) = self.access.get(slot) else {
            return;
        };
        let exchange = match self.path {
            Path::Verify => api.verify(access).await,
            Path::Me => api.me(access).await,
        };
        if recorder.record(exchange).is_ok() {
            return;
        }
        let renewed = match api.refresh(&self.latest.refresh_token).await.outcome {
            Ok(tokens) => Ok(tokens),
            Err(_) => new_account(api, &self.emails.fresh()).await,
        };
        match renewed {
            Ok(tokens) => {
                self.access[slot] = tokens.access_token.clone();
                self.latest = tokens;
            }
            Err(_) => back_off().await,
        }
    }
}
