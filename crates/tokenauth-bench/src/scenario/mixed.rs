//! `mixed`: 1 login : 20 refresh : 1000 verify, the shape of real traffic (many API calls per
//! token, a rotation every few minutes, a password now and then).

use super::{PASSWORD, back_off};
use crate::client::{Api, Tokens};
use crate::recorder::Recorder;

/// Requests in one cycle of the mix: 1 login, 20 refreshes, 1000 verifications.
const CYCLE: u64 = 1 + 20 + 1000;
/// Distance between two refreshes within a cycle, so that they spread over it.
const REFRESH_EVERY: u64 = 51;
/// Refreshes per cycle.
const REFRESHES: u64 = 20;

/// What the mix asks for at one position of the cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Request {
    Login,
    Refresh,
    Verify,
}

/// Position 0 is the login; positions 1, 52, …, 970 the twenty refreshes; the rest verify.
fn request_at(position: u64) -> Request {
    let position = position % CYCLE;
    if position == 0 {
        Request::Login
    } else if (position - 1).is_multiple_of(REFRESH_EVERY)
        && (position - 1) / REFRESH_EVERY < REFRESHES
    {
        Request::Refresh
    } else {
        Request::Verify
    }
}

/// A client working through the mix with its own account.
pub struct MixedClient {
    email: String,
    tokens: Tokens,
    position: u64,
}

impl MixedClient {
    /// Client `index` of `clients` starts at its own offset in the cycle, so the clients' logins
    /// and refreshes do not all fall at the same moment.
    pub fn new(email: String, tokens: Tokens, index: usize, clients: usize) -> Self {
        let offset =
            u64::try_from(index).unwrap_or(0) * CYCLE / u64::try_from(clients.max(1)).unwrap_or(1);
        Self {
            email,
            tokens,
            position: offset,
        }
    }

    /// The mix's next request. A failure is repaired by logging in again, unmeasured.
    pub async fn step(&mut self, api: &Api, recorder: &mut Recorder) {
        let request = request_at(self.position);
        self.position += 1;
        let renewed = match request {
            Request::Login => recorder.record_as("login", api.login(&self.email, PASSWORD).await),
            Request::Refresh => {
                recorder.record_as("refresh", api.refresh(&self.tokens.refresh_token).await)
            }
            Request::Verify => {
                match recorder.record_as("verify", api.verify(&self.tokens.access_token).await) {
                    Ok(()) => return,
                    Err(failure) => Err(failure),
                }
            }
        };
        let renewed = match renewed {
            Ok(tokens) => Ok(tokens),
            Err(_) => api.login(&self.email, PASSWORD).await.outcome,
        };
        match renewed {
            Ok(tokens) => self.tokens = tokens,
            Err(_) => back_off().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_cycle_has_the_documented_mix() {
        let mut counts = [0u64; 3];
        for position in 0..CYCLE {
            let slot = match request_at(position) {
                Request::Login => 0,
                Request::Refresh => 1,
                Request::Verify => 2,
            };
            counts[slot] += 1;
        }
        assert_eq!(counts, [1, 20, 1000]);
    }
}
