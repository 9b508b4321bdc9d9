//! `login` and `signup`: the two requests that cost an Argon2 hash each.

use super::{Emails, PASSWORD, back_off};
use crate::client::Api;
use crate::recorder::Recorder;

/// A client logging its own account in, over and over.
pub struct LoginClient {
    email: String,
}

impl LoginClient {
    /// A client for the existing account `email` (password [`PASSWORD`]).
    pub fn new(email: String) -> Self {
        Self { email }
    }

    /// One login. Each success opens a session, as a real login does.
    pub async fn step(&mut self, api: &Api, recorder: &mut Recorder) {
        if recorder
            .record(api.login(&self.email, PASSWORD).await)
            .is_err()
        {
            back_off().await;
        }
    }
}

/// A client signing up a new account on every step.
pub struct SignupClient {
    emails: Emails,
}

impl SignupClient {
    /// A client drawing its addresses from `emails`.
    pub fn new(emails: Emails) -> Self {
        Self { emails }
    }

    /// One signup of a fresh address.
    pub async fn step(&mut self, api: &Api, recorder: &mut Recorder) {
        let email = self.emails.fresh();
        if recorder.record(api.signup(&email, PASSWORD).await).is_err() {
            back_off().await;
        }
    }
}
