//! `refresh`: a client rotates its own refresh token, each answer's token being the next
//! request's, as a real client keeps its session alive.

use super::{Emails, back_off, new_account};
use crate::client::Api;
use crate::recorder::Recorder;

/// One session's refresh-token chain.
pub struct RefreshChain {
    refresh_token: String,
    emails: Emails,
}

impl RefreshChain {
    /// A chain that continues from `refresh_token`.
    pub fn new(refresh_token: String, emails: Emails) -> Self {
        Self {
            refresh_token,
            emails,
        }
    }

    /// Rotates the token once. If the server refuses (a 401 counts as an error), the chain is
    /// dead: a new account starts a new one, unmeasured.
    pub async fn step(&mut self, api: &Api, recorder: &mut Recorder) {
        match recorder.record(api.refresh(&self.refresh_token).await) {
            Ok(tokens) => self.refresh_token = tokens.refresh_token,
            Err(_) => match new_account(api, &self.emails.fresh()).await {
                Ok(tokens) => self.refresh_token = tokens.refresh_token,
                Err(_) => back_off().await,
            },
        }
    }
}
