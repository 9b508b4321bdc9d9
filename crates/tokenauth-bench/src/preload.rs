//! `--preload N`: N users with one live session each, written straight into the database through
//! the bulk [`Transfer::import_batch`] API, 1,000 rows a transaction, so that a run meets a
//! table of N existing sessions. They are sessions as the server makes them today: generation 0,
//! no token hash, no history row. A few spread over the table have their first refresh token
//! (made with the server's rotation secret) handed to the load clients; nobody holds the others'.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokenauth_core::refresh_token::RotationSecret;
use tokenauth_core::store::{Batch, SessionRow, Transfer, UserRow};
use tokenauth_core::{Clock as _, SessionId, SystemClock, Timestamp, UserId};

use crate::progress::note;

/// Rows per imported batch (one transaction each).
pub const BATCH_ROWS: u64 = 1_000;

/// A well-formed Argon2id PHC string at a trivial cost. Preloaded users never log in; the
/// harness only needs rows that look like real ones.
const PRELOAD_PASSWORD_HASH: &str =
    "$argon2id$v=19$m=8,t=1,p=1$cHJlbG9hZHNhbHQ$7Y8yN7b3Jm1Gk8oWcV4z0Q";

/// How long a preloaded session lives: the server's default refresh-token lifetime.
const SESSION_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);

/// What a preload leaves for the clients.
pub struct Preloaded {
    /// Plaintext refresh tokens of sessions spread over the table, one per client.
    pub refresh_tokens: Vec<String>,
    /// How long the preload took.
    pub elapsed: Duration,
}

impl Preloaded {
    /// Nothing preloaded.
    pub fn none() -> Self {
        Self {
            refresh_tokens: Vec::new(),
            elapsed: Duration::ZERO,
        }
    }
}

/// Inserts `count` users and their sessions. `handed_out` of the sessions (spread evenly over
/// the table) have their first token, made with `secret` (the server's), handed out.
///
/// # Errors
/// If the store refuses a batch; rows of the batches before it stay.
pub async fn preload(
    store: &dyn Transfer,
    secret: &RotationSecret,
    count: u64,
    handed_out: usize,
) -> anyhow::Result<Preloaded> {
    let started = Instant::now();
    let handed_out = u64::try_from(handed_out).unwrap_or(u64::MAX).min(count);
    let mut known = KnownSessions::new(secret, count, handed_out);
    let now = SystemClock.now();
    let mut ticker = Ticker::new(count);
    let mut done = 0;
    while done < count {
        let size = BATCH_ROWS.min(count - done);
        let rows = Rows::generate(done, size, now, &mut known);
        for batch in rows.into_batches() {
            store.import_batch(&batch).await.with_context(|| {
                format!("importing {} preloaded {}", batch.len(), batch.table())
            })?;
        }
        done += size;
        ticker.tick(done, started);
    }
    ticker.finish(done, started);
    Ok(Preloaded {
        refresh_tokens: known.tokens,
        elapsed: started.elapsed(),
    })
}

/// Which sessions get a known token: `handed_out` of `count`, evenly spaced.
struct KnownSessions<'a> {
    secret: &'a RotationSecret,
    count: u64,
    handed_out: u64,
    tokens: Vec<String>,
}

impl<'a> KnownSessions<'a> {
    fn new(secret: &'a RotationSecret, count: u64, handed_out: u64) -> Self {
        Self {
            secret,
            count,
            handed_out,
            tokens: Vec::new(),
        }
    }

    /// Keeps the first token of `session`, number `index`, for a client if the index is one of
    /// the spaced ones.
    fn note(&mut self, index: u64, session: SessionId) {
        let next = u64::try_from(self.tokens.len()).unwrap_or(u64::MAX);
        if next < self.handed_out && index == next * self.count / self.handed_out {
            let token = self.secret.token(session, 0);
            self.tokens.push(token.expose().to_owned());
        }
    }
}

/// One batch's worth of rows of every table.
struct Rows {
    users: Vec<UserRow>,
    sessions: Vec<SessionRow>,
}

impl Rows {
    fn generate(first: u64, size: u64, now: Timestamp, known: &mut KnownSessions<'_>) -> Self {
        let capacity = usize::try_from(size).unwrap_or(0);
        let mut rows = Self {
            users: Vec::with_capacity(capacity),
            sessions: Vec::with_capacity(capacity),
        };
        for index in first..first + size {
            let user_id = UserId::generate();
            let session_id = SessionId::generate();
            known.note(index, session_id);
            rows.users.push(UserRow {
                id: user_id,
                // Zero-padded, so addresses arrive in index order.
                email: format!("preload-{index:010}@example.com"),
                password_hash: PRELOAD_PASSWORD_HASH.to_owned(),
                roles: Vec::new(),
                created_at: now,
                updated_at: now,
                disabled_at: None,
            });
            rows.sessions.push(SessionRow {
                id: session_id,
                user_id,
                current_hash: None,
                previous_hash: None,
                generation: 0,
                rotated_at: None,
                created_at: now,
                last_used_at: now,
                expires_at: now.plus(SESSION_LIFETIME),
                absolute_expires_at: now.plus(SESSION_LIFETIME),
                access_expires_at: now,
                revoked_at: None,
                revoke_reason: None,
                user_agent: None,
                ip: None,
            });
        }
        rows
    }

    /// The batches, in an order that keeps every reference valid.
    fn into_batches(self) -> [Batch; 2] {
        [Batch::Users(self.users), Batch::Sessions(self.sessions)]
    }
}

/// Preload progress on stderr, at most once a second.
struct Ticker {
    total: u64,
    last: Instant,
}

impl Ticker {
    fn new(total: u64) -> Self {
        note(&format!("preload: inserting {total} users and sessions"));
        Self {
            total,
            last: Instant::now(),
        }
    }

    fn tick(&mut self, done: u64, started: Instant) {
        if self.last.elapsed() >= Duration::from_secs(1) {
            self.last = Instant::now();
            self.say(done, started);
        }
    }

    fn finish(&self, done: u64, started: Instant) {
        self.say(done, started);
    }

    fn say(&self, done: u64, started: Instant) {
        let seconds = started.elapsed().as_secs_f64();
        let rate = done as f64 / seconds.max(1e-9);
        note(&format!(
            "preload: {done}/{} sessions, {rate:.0}/s, {seconds:.1} s",
            self.total
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use tokenauth_core::refresh_token::PresentedRefreshToken;

    #[test]
    fn known_sessions_are_spread_over_the_table() {
        let secret = RotationSecret::new(&[3; 32]);
        let mut known = KnownSessions::new(&secret, 1_000, 4);
        let mut picked = Vec::new();
        for index in 0..1_000 {
            let before = known.tokens.len();
            known.note(index, SessionId::generate());
            if known.tokens.len() > before {
                picked.push(index);
            }
        }
        assert_eq!(picked, [0, 250, 500, 750]);
    }

    #[test]
    fn rows_reference_each_other_and_known_tokens_name_their_session() {
        let secret = RotationSecret::new(&[3; 32]);
        let mut known = KnownSessions::new(&secret, 10, 1);
        let rows = Rows::generate(0, 10, Timestamp::from_millis(0), &mut known);
        assert_eq!(rows.users.len(), 10);
        for (user, session) in rows.users.iter().zip(&rows.sessions) {
            assert_eq!(session.user_id, user.id);
            assert_eq!((session.current_hash, session.generation), (None, 0));
        }
        assert_eq!(known.tokens.len(), 1, "one known token for the one client");
        assert_eq!(
            secret.verify(&known.tokens[0]).ok(),
            Some(PresentedRefreshToken::Session {
                session_id: rows.sessions[0].id,
                generation: 0,
            })
        );
    }
}
