//! The scenarios: what one load client does on each step. A client is set up once (its
//! account, its tokens: not measured) and then stepped until the run ends; its state, such as
//! the refresh token it rotates, carries over from one run to the next.

mod bearer;
mod mixed;
mod password;
mod refresh;

use std::time::Duration;

use anyhow::Context as _;

use crate::client::{Api, Tokens};
use crate::options::Scenario;
use crate::recorder::Recorder;

use bearer::BearerClient;
use mixed::MixedClient;
use password::{LoginClient, SignupClient};
use refresh::RefreshChain;

/// The password of every account the harness creates over HTTP.
pub const PASSWORD: &str = "correct horse battery staple";

/// How a client starts.
pub struct Setup {
    /// The scenario it runs.
    pub scenario: Scenario,
    /// Its number, `0..clients`.
    pub index: usize,
    /// How many clients run together.
    pub clients: usize,
    /// Distinguishes this process's accounts from those of earlier runs on the same server.
    pub nonce: u64,
    /// A preloaded session's refresh token to start from, instead of a new account.
    pub preloaded: Option<String>,
    /// For `verify` and `me`: how many distinct access tokens to cycle through.
    pub tokens: usize,
}

/// One load client: its own connection and what its scenario needs to remember.
pub struct Client {
    api: Api,
    state: State,
}

enum State {
    Refresh(RefreshChain),
    Bearer(BearerClient),
    Login(LoginClient),
    Signup(SignupClient),
    Mixed(MixedClient),
}

impl Client {
    /// Sets a client up for its scenario: signs up (or takes over a preloaded session) as the
    /// scenario needs. Nothing here is measured.
    ///
    /// # Errors
    /// When the server refuses the setup requests.
    pub async fn connect(api: Api, setup: Setup) -> anyhow::Result<Self> {
        let mut emails = Emails::new(setup.nonce, setup.index);
        let state = match setup.scenario {
            Scenario::Refresh => {
                let refresh_token = match setup.preloaded {
                    Some(token) => token,
                    None => new_account(&api, &emails.fresh()).await?.refresh_token,
                };
                State::Refresh(RefreshChain::new(refresh_token, emails))
            }
            // The flood runs beside the clients (`crate::flood`); they measure verification.
            Scenario::Verify | Scenario::Me | Scenario::LoginFloodDisconnect => {
                let tokens = match setup.preloaded {
                    Some(token) => take_over(&api, &token).await?,
                    None => new_account(&api, &emails.fresh()).await?,
                };
                let path = if setup.scenario == Scenario::Me {
                    bearer::Path::Me
                } else {
                    bearer::Path::Verify
                };
                let mut access = vec![tokens.access_token.clone()];
                let mut latest = tokens;
                while access.len() < setup.tokens {
                    latest = take_over(&api, &latest.refresh_token).await?;
                    access.push(latest.access_token.clone());
                }
                State::Bearer(BearerClient::new(path, access, latest, emails))
            }
            Scenario::Login => {
                let email = emails.fresh();
                new_account(&api, &email).await?;
                State::Login(LoginClient::new(email))
            }
            Scenario::Signup => State::Signup(SignupClient::new(emails)),
            Scenario::Mixed => {
                let email = emails.fresh();
                let tokens = new_account(&api, &email).await?;
                State::Mixed(MixedClient::new(email, tokens, setup.index, setup.clients))
            }
        };
        Ok(Self { api, state })
    }

    /// Sends the scenario's next request, recording it. A failure is recorded and then repaired
    /// (e.g. a broken refresh chain restarts from a new account) without recording the repair.
    pub async fn step(&mut self, recorder: &mut Recorder) {
        let api = &self.api;
        match &mut self.state {
            State::Refresh(chain) => chain.step(api, recorder).await,
            State::Bearer(client) => client.step(api, recorder).await,
            State::Login(client) => client.step(api, recorder).await,
            State::Signup(client) => client.step(api, recorder).await,
            State::Mixed(client) => client.step(api, recorder).await,
        }
    }
}

/// Unique email addresses for one client.
pub struct Emails {
    nonce: u64,
    index: usize,
    next: u64,
}

impl Emails {
    fn new(nonce: u64, index: usize) -> Self {
        Self {
            nonce,
            index,
            next: 0,
        }
    }

    /// A new address no other client or earlier process has used.
    pub fn fresh(&mut self) -> String {
        self.next += 1;
        format!(
            "bench-{:016x}-{}-{}@example.com",
            self.nonce, self.index, self.next
        )
    }
}

/// Signs up `email` with [`PASSWORD`], unmeasured.
///
/// # Errors
/// When the server does not answer 2xx with tokens.
pub async fn new_account(api: &Api, email: &str) -> anyhow::Result<Tokens> {
    api.signup(email, PASSWORD)
        .await
        .outcome
        .map_err(|failure| anyhow::anyhow!("signup answered {}", failure.label()))
        .with_context(|| format!("setting up account {email}"))
}

/// Rotates a preloaded session's refresh token once, unmeasured, to get an access token too.
///
/// # Errors
/// When the server does not accept the token.
async fn take_over(api: &Api, refresh_token: &str) -> anyhow::Result<Tokens> {
    api.refresh(refresh_token)
        .await
        .outcome
        .map_err(|failure| anyhow::anyhow!("refresh answered {}", failure.label()))
        .context("taking over a preloaded session")
}

/// After a failed repair, how long a client waits before its next step, so that a dead server
/// does not turn the harness into a busy loop.
const REPAIR_BACKOFF: Duration = Duration::from_millis(20);

/// Waits [`REPAIR_BACKOFF`].
async fn back_off() {
    tokio::time::sleep(REPAIR_BACKOFF).await;
}
