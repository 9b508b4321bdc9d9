//! `--preload N`: N users with one live session each, written straight into the database through
//! the bulk [`Transfer::import_batch`] API, 1,000 rows a transaction, so that a run meets a
//! table of N existing sessions. Their refresh tokens are random hashes nobody knows, except a
//! few spread over the table, whose tokens are handed to the load clients.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokenauth_core::refresh_token::{RefreshToken, RefreshTokenHash};
use tokenauth_core::store::{Batch, RefreshTokenRow, SessionRow, Transfer, UserRow};
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

/// Inserts `count` users, their sessions and the sessions' first refresh-token history rows.
/// `handed_out` of the sessions (spread evenly over the table) get a known token.
///
/// # Errors
/// If the store refuses a batch; rows of the batches before it stay.
pub async fn preload(
    store: &dyn Transfer,
    count: u64,
    handed_out: usize,
) -> anyhow::Result<Preloaded> {
    let started = Instant::now();
    let handed_out = u64::try_from(handed_out).unwrap_or(u64::MAX).min(count);
    let mut known = KnownSessions::new(count, handed_out);
    let now = SystemClock.now();
    let mut ticker = Ticker::new(count);
    let mut done = 0;
    while done < count {
        let size = BATCH_ROWS.min(count - done);
        let rows = Rows::generate(done, size, now, &mut known)?;
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
struct KnownSessions {
    count: u64,
    handed_out: u64,
    tokens: Vec<String>,
}

impl KnownSessions {
    fn new(count: u64, handed_out: u64) -> Self {
        Self {
            count,
            handed_out,
            tokens: Vec::new(),
        }
    }

    /// The hash of session `index`: of a new token kept for a client if the index is one of
    /// the spaced ones, else of nothing anyone knows.
    fn hash_for(&mut self, index: u64, random: [u8; 32]) -> anyhow::Result<RefreshTokenHash> {
        let next = u64::try_from(self.tokens.len()).unwrap_or(u64::MAX);
        if next < self.handed_out && index == next * self.count / self.handed_out {
            let token = RefreshToken::generate().context("generating a refresh token")?;
            self.tokens.push(token.expose().to_owned());
            return Ok(token.hash());
        }
        Ok(RefreshTokenHash::from_bytes(random))
    }
}

/// One batch's worth of rows of every table.
struct Rows {
    users: Vec<UserRow>,
    sessions: Vec<SessionRow>,
    tokens: Vec<RefreshTokenRow>,
}

impl Rows {
    fn generate(
        first: u64,
        size: u64,
        now: Timestamp,
        known: &mut KnownSessions,
    ) -> anyhow::Result<Self> {
        let capacity = usize::try_from(size).unwrap_or(0);
        let mut random = vec![0u8; capacity * 32];
        aws_lc_rs::rand::fill(&mut random)
            .map_err(|_| anyhow::anyhow!("the random source failed"))?;
        let mut rows = Self {
            users: Vec::with_capacity(capacity),
            sessions: Vec::with_capacity(capacity),
            tokens: Vec::with_capacity(capacity),
        };
        for (index, random) in (first..first + size).zip(random.chunks_exact(32)) {
            let mut bytes = [0u8; 32];
            bytes.copy_from_slice(random);
            let hash = known.hash_for(index, bytes)?;
            let user_id = UserId::generate();
            let session_id = SessionId::generate();
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
                current_hash: hash,
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
            rows.tokens.push(RefreshTokenRow {
                hash,
                session_id,
                generation: 0,
            });
        }
        Ok(rows)
    }

    /// The batches, in an order that keeps every reference valid.
    fn into_batches(self) -> [Batch; 3] {
        [
            Batch::Users(self.users),
            Batch::Sessions(self.sessions),
            Batch::RefreshTokens(self.tokens),
        ]
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

    #[test]
    fn known_sessions_are_spread_over_the_table() {
        let mut known = KnownSessions::new(1_000, 4);
        let mut picked = Vec::new();
        for index in 0..1_000 {
            let before = known.tokens.len();
            known.hash_for(index, [0; 32]).expect("rng");
            if known.tokens.len() > before {
                picked.push(index);
            }
        }
        assert_eq!(picked, [0, 250, 500, 750]);
    }

    #[test]
    fn rows_reference_each_other() {
        let mut known = KnownSessions::new(10, 1);
        let rows = Rows::generate(0, 10, Timestamp::from_millis(0), &mut known).expect("rows");
        assert_eq!(rows.users.len(), 10);
        for ((user, session), token) in rows.users.iter().zip(&rows.sessions).zip(&rows.tokens) {
            assert_eq!(session.user_id, user.id);
            assert_eq!(token.session_id, session.id);
            assert_eq!(token.hash, session.current_hash);
        }
        assert_eq!(known.tokens.len(), 1, "one known token for the one client");
    }
}
