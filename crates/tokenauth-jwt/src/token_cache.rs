//! [`TokenCache`]: a bounded memo of tokens that already passed the full
//! check, so a token presented again skips signature and JSON work. Used by
//! the verifier crate and by the auth server's own token check.
//!
//! Entries are keyed by the whole token: the map hashes every byte of it
//! (foldhash, randomly seeded per cache) and a hit requires the stored token
//! to be byte-for-byte equal, so two different tokens can never share an
//! entry (no truncated or 64-bit hash is ever trusted alone). Only tokens
//! that passed the full check are stored, so an attacker cannot choose the
//! keys. Memory is about `capacity` × token length (≈ 700 bytes for an
//! ES256 token from the auth server). Each entry expires at the token's
//! `exp` + leeway: a hit is only served while the full check would still
//! pass its `exp` test (`nbf` only moves further into the past). Eviction is
//! first-in first-out, which for tokens of one lifetime is also
//! soonest-to-expire first. Sharded mutexes keep hits fast under
//! concurrency.
//!
//! Trade-off: a cached token is accepted without re-checking its key, so if
//! a key is withdrawn, its tokens would stay accepted until they expire or
//! are evicted. The owner must therefore [`TokenCache::clear`] the cache
//! whenever a new key set lacks a `kid` the previous one had. Revocation is
//! not the cache's business either: owners check a cached token's session
//! as they check a fresh one's.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::AccessTokenClaims;
use foldhash::fast::RandomState;

/// Caches at or above this capacity are split into [`SHARDS`] shards.
const SHARDING_THRESHOLD: usize = 1024;
const SHARDS: usize = 16;

/// Verified tokens, bounded, expiring with the tokens.
pub struct TokenCache {
    shards: Box<[Mutex<Shard>]>,
    shard_capacity: usize,
    /// Bumped by every [`TokenCache::clear`]; an insert computed under an
    /// older epoch is dropped, so a check that raced with a key withdrawal
    /// cannot re-add a token of the withdrawn key.
    epoch: AtomicU64,
}

struct Shard {
    entries: HashMap<Arc<str>, Entry, RandomState>,
    /// Insertion order, for FIFO eviction; same keys as `entries`.
    order: VecDeque<Arc<str>>,
}

struct Entry {
    claims: Arc<AccessTokenClaims>,
    /// First second at which the full check answers `Expired`.
    expires_at: i64,
}

impl TokenCache {
    /// A cache of at most `capacity` tokens (`capacity` ≥ 1).
    pub fn new(capacity: usize) -> TokenCache {
        let capacity = capacity.max(1);
        let shards = if capacity >= SHARDING_THRESHOLD {
            SHARDS
        } else {
            1
        };
        let shard_capacity = capacity.div_ceil(shards);
        let shards = (0..shards)
            .map(|_| {
                Mutex::new(Shard {
                    entries: HashMap::default(),
                    order: VecDeque::new(),
                })
            })
            .collect();
        TokenCache {
            shards,
            shard_capacity,
            epoch: AtomicU64::new(0),
        }
    }

    /// The claims of a cached token that has not expired at `now`.
    pub fn get(&self, token: &str, now: i64) -> Option<Arc<AccessTokenClaims>> {
        let shard = self.shard(token);
        let entry = shard.entries.get(token)?;
        (now < entry.expires_at).then(|| Arc::clone(&entry.claims))
    }

    /// The current epoch: read it before loading the keys a token is
    /// checked with, and pass it to [`TokenCache::insert`].
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Remembers a token that just passed the full check; `expires_at` is
    /// its `exp` + leeway. Evicts the oldest entry when the shard is full.
    /// Does nothing if the cache was cleared since `epoch` was read.
    pub fn insert(&self, token: &str, claims: Arc<AccessTokenClaims>, expires_at: i64, epoch: u64) {
        let mut shard = self.shard(token);
        // Checked under the shard lock: `clear` bumps the epoch before it
        // takes the locks, so either we see the new epoch or it sees our
        // entry and removes it.
        if self.epoch() != epoch || shard.entries.contains_key(token) {
            return; // cleared meanwhile, or raced with an insert of the same token
        }
        let key: Arc<str> = Arc::from(token);
        shard
            .entries
            .insert(Arc::clone(&key), Entry { claims, expires_at });
        shard.order.push_back(key);
        while shard.entries.len() > self.shard_capacity {
            let Some(oldest) = shard.order.pop_front() else {
                break;
            };
            shard.entries.remove(&oldest);
        }
    }

    /// Forgets every token, including any insert racing with this call.
    pub fn clear(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        for shard in &self.shards {
            let mut shard = lock(shard);
            shard.entries.clear();
            shard.order.clear();
        }
    }

    /// Number of cached tokens (expired ones included until evicted).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).entries.len()).sum()
    }

    /// Whether no token is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn shard(&self, token: &str) -> MutexGuard<'_, Shard> {
        lock(&self.shards[shard_index(token, self.shards.len())])
    }
}

/// A shard from the token's last eight bytes (signature material in a real
/// token), multiplied so every bit counts. A chosen token only chooses which
/// shard a lookup probes; the map itself hashes the whole token.
fn shard_index(token: &str, shards: usize) -> usize {
    let bytes = token.as_bytes();
    let tail = &bytes[bytes.len().saturating_sub(8)..];
    let mut word = [0u8; 8];
    word[..tail.len()].copy_from_slice(tail);
    let mixed = u64::from_le_bytes(word).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    // Map the top 32 bits (which every input bit reaches) onto 0..shards.
    let shards = shards as u64;
    usize::try_from(((mixed >> 32) * shards) >> 32).unwrap_or(0)
}

/// A cache of tokens stays consistent even if a holder panicked: every
/// mutation leaves both structures valid.
fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Audience;

    fn claims(jti: &str) -> Arc<AccessTokenClaims> {
        Arc::new(AccessTokenClaims {
            iss: "i".into(),
            sub: "s".into(),
            aud: Audience::One("a".into()),
            exp: 100,
            iat: 0,
            nbf: 0,
            jti: jti.into(),
            sid: "x".into(),
            roles: vec![],
        })
    }

    #[test]
    fn hit_until_expiry() {
        let cache = TokenCache::new(8);
        let key = "a.b.c";
        assert!(cache.get(key, 0).is_none());
        cache.insert(key, claims("1"), 110, cache.epoch());
        assert_eq!(cache.get(key, 109).unwrap().jti, "1");
        assert!(cache.get(key, 110).is_none());
        assert!(cache.get("a.b.d", 0).is_none());
        assert!(cache.get("a.b.", 0).is_none());
        assert_eq!(cache.len(), 1);
        let stale = cache.epoch();
        cache.clear();
        assert!(cache.get(key, 0).is_none());
        cache.insert(key, claims("1"), 110, stale);
        assert_eq!(cache.len(), 0, "insert from before the clear is dropped");
    }

    #[test]
    fn bounded_fifo_and_duplicate_inserts() {
        let cache = TokenCache::new(2);
        for key in ["0", "0", "1", "2"] {
            cache.insert(key, claims(key), 100, 0);
        }
        assert_eq!(cache.len(), 2);
        assert!(cache.get("0", 0).is_none(), "oldest evicted");
        assert!(cache.get("1", 0).is_some() && cache.get("2", 0).is_some());
    }

    #[test]
    fn sharded_cache_stays_within_capacity() {
        let cache = TokenCache::new(2048);
        for i in 0..5000 {
            cache.insert(&format!("token-{i}"), claims("x"), 100, 0);
        }
        assert!(cache.len() <= 2048, "{}", cache.len());
        assert!(cache.len() > 1500, "{}", cache.len());
    }
}
