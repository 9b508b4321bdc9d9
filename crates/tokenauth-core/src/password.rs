//! Password hashing: Argon2id in PHC string form, run off the async runtime with a bound on
//! concurrent hashes and on the queue in front of them, so a burst of logins cannot exhaust
//! memory (each hash holds ~19 MiB) or starve other requests.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier as _, Version,
};
use tokio::sync::Semaphore;

use crate::error::AuthError;
use crate::telemetry;
use crate::user::Password;

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashCost {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Iterations.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl HashCost {
    /// OWASP's recommendation: m=19456 KiB, t=2, p=1.
    pub const OWASP: HashCost = HashCost {
        memory_kib: 19_456,
        iterations: 2,
        parallelism: 1,
    };

    fn weaker_than(&self, other: &HashCost) -> bool {
        self.memory_kib < other.memory_kib
            || self.iterations < other.iterations
            || self.parallelism < other.parallelism
    }
}

/// The result of checking a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verification {
    /// The password matched.
    pub matched: bool,
    /// It matched a hash made with weaker parameters than the configured ones: store a new hash.
    pub needs_rehash: bool,
}

/// Hashes and verifies passwords with bounded concurrency.
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

struct Inner {
    cost: HashCost,
    params: Params,
    permits: Semaphore,
    concurrency: usize,
    max_waiting: usize,
    waiting: AtomicUsize,
    dummy_hash: String,
}

impl PasswordHasher {
    /// A hasher running at most `concurrency` hashes at once with at most `max_waiting` more
    /// queued. Hashes nothing up front (the start stays fast): the dummy hash that unknown users
    /// are checked against is written out at the configured cost (see [`dummy_phc`]).
    ///
    /// # Errors
    /// [`AuthError::Internal`] if the parameters are out of Argon2's range.
    pub fn new(cost: HashCost, concurrency: usize, max_waiting: usize) -> Result<Self, AuthError> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|e| AuthError::Internal(format!("argon2 parameters: {e}")))?;
        let dummy_hash = dummy_phc(&params);
        Ok(Self {
            inner: Arc::new(Inner {
                cost,
                params,
                permits: Semaphore::new(concurrency.max(1)),
                concurrency: concurrency.max(1),
                max_waiting,
                waiting: AtomicUsize::new(0),
                dummy_hash,
            }),
        })
    }

    /// Hashes a new password.
    ///
    /// # Errors
    /// [`AuthError::Overloaded`] when the queue is full.
    pub async fn hash(&self, password: Password) -> Result<String, AuthError> {
        let inner = Arc::clone(&self.inner);
        self.run(move || hash_blocking(&inner.params, password.as_bytes()))
            .await
    }

    /// Checks `password` against `stored` (a PHC string), or against a dummy hash when there is no
    /// such user, so that both cases take the same time.
    ///
    /// # Errors
    /// [`AuthError::Overloaded`] when the queue is full.
    pub async fn verify(
        &self,
        password: Password,
        stored: Option<String>,
    ) -> Result<Verification, AuthError> {
        let inner = Arc::clone(&self.inner);
        self.run(move || {
            let known = stored.is_some();
            let phc = stored.as_deref().unwrap_or(&inner.dummy_hash);
            let Ok(parsed) = PasswordHash::new(phc) else {
                // An unparseable stored hash can never match; still spend the time.
                let _ = verify_blocking(&inner.dummy_hash, password.as_bytes());
                return Ok(Verification {
                    matched: false,
                    needs_rehash: false,
                });
            };
            // The dummy hash is verified in full too, so unknown users cost the same time.
            let verified = Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok();
            let matched = known && verified;
            let needs_rehash =
                matched && stored_cost(&parsed).is_none_or(|c| c.weaker_than(&inner.cost));
            Ok(Verification {
                matched,
                needs_rehash,
            })
        })
        .await
    }

    /// Hashes queued or running right now (a request that was turned away counts for an instant).
    pub fn queue_depth(&self) -> usize {
        self.inner.waiting.load(Ordering::Relaxed)
    }

    async fn run<T, F>(&self, work: F) -> Result<T, AuthError>
    where
        F: FnOnce() -> Result<T, AuthError> + Send + 'static,
        T: Send + 'static,
    {
        let inner = &self.inner;
        let queued = inner.waiting.fetch_add(1, Ordering::AcqRel);
        let _slot = WaitingSlot(&inner.waiting);
        if queued >= inner.concurrency + inner.max_waiting {
            telemetry::hash_rejected();
            return Err(AuthError::Overloaded);
        }
        let waiting = GaugeSlot::enter(telemetry::hash_queue);
        let _permit = inner
            .permits
            .acquire()
            .await
            .map_err(|_| AuthError::Internal("hasher closed".into()))?;
        drop(waiting);
        let _running = GaugeSlot::enter(telemetry::hashes_in_flight);
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| AuthError::Internal(format!("hash task: {e}")))?
    }
}

/// Decrements the waiting count however the wait ends (done, error, or the request dropped).
struct WaitingSlot<'a>(&'a AtomicUsize);

impl Drop for WaitingSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Holds one unit of a gauge (the hash queue, the hashes running) from `enter` until dropped,
/// however the wait or the work ends.
struct GaugeSlot(fn(f64));

impl GaugeSlot {
    fn enter(gauge: fn(f64)) -> Self {
        gauge(1.0);
        Self(gauge)
    }
}

impl Drop for GaugeSlot {
    fn drop(&mut self) {
        (self.0)(-1.0);
    }
}

/// The hash unknown users are checked against: a PHC string at `params` (so checking a
/// password against it costs exactly one hash at the configured cost, as for a known user)
/// whose 32-byte digest is all zeros. No password is known to produce it: finding one is a
/// preimage attack on Argon2id. Written out rather than computed, so that no hash runs at start.
fn dummy_phc(params: &Params) -> String {
    /// "tokenauth-dummy", base64 without padding, as PHC strings write salts.
    const SALT: &str = "dG9rZW5hdXRoLWR1bW15";
    /// 32 zero bytes, base64 without padding.
    const DIGEST: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    format!(
        "$argon2id$v=19$m={},t={},p={}${SALT}${DIGEST}",
        params.m_cost(),
        params.t_cost(),
        params.p_cost()
    )
}

fn hash_blocking(params: &Params, password: &[u8]) -> Result<String, AuthError> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password(password)
        .map(|hash| hash.to_string())
        .map_err(|e| AuthError::Internal(format!("argon2: {e}")))
}

fn verify_blocking(phc: &str, password: &[u8]) -> bool {
    PasswordHash::new(phc)
        .is_ok_and(|parsed| Argon2::default().verify_password(password, &parsed).is_ok())
}

fn stored_cost(hash: &PasswordHash) -> Option<HashCost> {
    if hash.algorithm.as_str() != "argon2id" {
        return None;
    }
    let params = Params::try_from(hash).ok()?;
    Some(HashCost {
        memory_kib: params.m_cost(),
        iterations: params.t_cost(),
        parallelism: params.p_cost(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: HashCost = HashCost {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    fn password(s: &str) -> Password {
        Password::new(s.to_owned()).expect("valid")
    }

    #[tokio::test]
    async fn hash_is_argon2id_phc_with_the_configured_cost_and_verifies() {
        let hasher = PasswordHasher::new(HashCost::OWASP, 2, 8).expect("hasher");
        let phc = hasher.hash(password("correct horse")).await.expect("hash");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        let ok = hasher
            .verify(password("correct horse"), Some(phc.clone()))
            .await
            .expect("verify");
        assert_eq!(
            ok,
            Verification {
                matched: true,
                needs_rehash: false
            }
        );
        let bad = hasher
            .verify(password("wrong horse"), Some(phc))
            .await
            .expect("verify");
        assert!(!bad.matched);
    }

    #[tokio::test]
    async fn unknown_user_never_matches_even_the_dummy_password() {
        let hasher = PasswordHasher::new(CHEAP, 1, 8).expect("hasher");
        let result = hasher
            .verify(password("tokenauth dummy password for unknown users"), None)
            .await
            .expect("verify");
        assert!(!result.matched);
    }

    #[test]
    fn the_dummy_hash_parses_at_the_configured_cost() {
        // Checking a password against it must cost what checking against a real hash costs.
        for cost in [HashCost::OWASP, CHEAP] {
            let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
                .expect("params");
            let phc = dummy_phc(&params);
            let parsed = PasswordHash::new(&phc).expect("a PHC string");
            assert_eq!(stored_cost(&parsed), Some(cost), "{phc}");
            assert_eq!(parsed.hash.map(|h| h.len()), Some(32));
            assert!(!verify_blocking(
                &phc,
                b"tokenauth dummy password for unknown users"
            ));
        }
    }

    #[tokio::test]
    async fn weaker_stored_hash_asks_for_a_rehash() {
        let weak = PasswordHasher::new(CHEAP, 1, 8).expect("hasher");
        let phc = weak.hash(password("correct horse")).await.expect("hash");
        let strong = PasswordHasher::new(
            HashCost {
                memory_kib: 128,
                ..CHEAP
            },
            1,
            8,
        )
        .expect("hasher");
        let result = strong
            .verify(password("correct horse"), Some(phc))
            .await
            .expect("verify");
        assert_eq!(
            result,
            Verification {
                matched: true,
                needs_rehash: true
            }
        );
    }

    #[tokio::test]
    async fn garbage_stored_hash_does_not_match() {
        let hasher = PasswordHasher::new(CHEAP, 1, 8).expect("hasher");
        let result = hasher
            .verify(
                password("whatever the stored hash"),
                Some("not a phc".into()),
            )
            .await
            .expect("verify");
        assert!(!result.matched);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_answers_overloaded_instead_of_growing() {
        let hasher = PasswordHasher::new(HashCost::OWASP, 1, 2).expect("hasher");
        let tasks: Vec<_> = (0..12)
            .map(|_| {
                let hasher = hasher.clone();
                tokio::spawn(async move { hasher.hash(password("correct horse")).await })
            })
            .collect();
        let mut overloaded = 0;
        for task in tasks {
            if matches!(task.await.expect("join"), Err(AuthError::Overloaded)) {
                overloaded += 1;
            }
        }
        assert!(overloaded > 0, "some requests must be shed");
        assert!(overloaded < 12, "some requests must be served");
        assert_eq!(hasher.queue_depth(), 0);
    }
}
