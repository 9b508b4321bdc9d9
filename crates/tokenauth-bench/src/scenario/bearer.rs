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

/// A client holding a valid access token.
pub struct BearerClient {
    path: Path,
    tokens: Tokens,
    emails: Emails,
}

impl BearerClient {
    /// A client calling `path` with `tokens`.
    pub fn new(path: Path, tokens: Tokens, emails: Emails) -> Self {
        Self {
            path,
            tokens,
            emails,
        }
    }

    /// One authenticated request. After a refusal (say, the access token expired during a long
    /// run) the client renews its tokens, unmeasured.
    pub async fn step(&mut self, api: &Api, recorder: &mut Recorder) {
        let access = &self.tokens.access_token;
        let exchange = match self.path {
            Path::Verify => api.verify(access).await,
            Path::Me => api.me(access).await,
        };
        if recorder.record(exchange).is_ok() {
            return;
        }
        let renewed = match api.refresh(&self.tokens.refresh_token).await.outcome {
            Ok(tokens) => Ok(tokens),
            Err(_) => new_account(api, &self.emails.fresh()).await,
        };
        match renewed {
            Ok(tokens) => self.tokens = tokens,
            Err(_) => back_off().await,
        }
    }
}
