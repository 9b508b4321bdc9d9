//! Password hashing: Argon2id in PHC string form, run off the async runtime on a pool of its
//! own threads with a bound on concurrent hashes and on the queue in front of them, so a burst
//! of logins cannot exhaust memory (each hash holds ~19 MiB) or starve other requests, even
//! when the clients hang up before the answer (see [`pool`]).

mod pool;

use std::sync::Arc;

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier as _, Version,
};

use crate::error::AuthError;
use crate::user::Password;

use pool::HashPool;

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

/// Hashes and verifies passwords with bounded concurrency. Clones share one pool of hashing
/// threads; it stops once the last clone is dropped.
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

struct Inner {
    costs: Arc<Costs>,
    pool: HashPool,
}

/// What a hash needs, shared with the hashing threads.
struct Costs {
    cost: HashCost,
    params: Params,
    dummy_hash: String,
}

impl PasswordHasher {
    /// A hasher running at most `concurrency` (at least one) hashes at once, on as many
    /// threads of its own, with at most `max_waiting` more queued. A hash holds its place from
    /// the moment it starts until it ends, even when the request that asked for it is dropped.
    /// Hashes nothing up front (the start stays fast): the dummy hash that unknown users are
    /// checked against is written out at the configured cost (see [`dummy_phc`]).
    ///
    /// # Errors
    /// [`AuthError::Internal`] if the parameters are out of Argon2's range or the hashing
    /// threads cannot be started.
    pub fn new(cost: HashCost, concurrency: usize, max_waiting: usize) -> Result<Self, AuthError> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|e| AuthError::Internal(format!("argon2 parameters: {e}")))?;
        let dummy_hash = dummy_phc(&params);
        Ok(Self {
            inner: Arc::new(Inner {
                costs: Arc::new(Costs {
                    cost,
                    params,
                    dummy_hash,
                }),
                pool: HashPool::start(concurrency, max_waiting)?,
            }),
        })
    }

    /// Hashes a new password.
    ///
    /// # Errors
    /// [`AuthError::Overloaded`] when the queue is full.
    pub async fn hash(&self, password: Password) -> Result<String, AuthError> {
        let costs = Arc::clone(&self.inner.costs);
        self.inner
            .pool
            .run(move || hash_blocking(&costs.params, password.as_bytes()))
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
        let inner = Arc::clone(&self.inner.costs);
        self.inner
            .pool
            .run(move || {
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

    /// Hashes queued or running right now. A hash whose request was dropped still counts
    /// until it ends; one that was turned away never counts.
    pub fn queue_depth(&self) -> usize {
        let load = self.inner.pool.load();
        load.waiting + load.running
    }

    /// Hashes running right now (at most the concurrency), whether or not their requests are
    /// still there.
    pub fn hashes_running(&self) -> usize {
        self.inner.pool.load().running
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
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc;

    use tokio::task::JoinHandle;

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

    /// A cost slow enough (hundreds of milliseconds even in an optimised build) that a test
    /// acts long before one hash ends.
    const SLOW: HashCost = HashCost {
        memory_kib: 64 * 1024,
        iterations: 8,
        parallelism: 1,
    };

    /// Waits (up to 30 s) until `done` says so.
    async fn wait_until(what: &str, done: impl Fn() -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !done() {
            assert!(std::time::Instant::now() < deadline, "never {what}");
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }

    /// Waits (up to 30 s) until `hasher` holds `depth` hashes.
    async fn wait_for_depth(hasher: &PasswordHasher, depth: usize) {
        wait_until(&format!("depth {depth}"), || hasher.queue_depth() == depth).await;
    }

    /// Waits (up to 30 s) until `pool` holds `waiting` waiting and `running` running hashes.
    async fn wait_for_load(pool: &HashPool, waiting: usize, running: usize) {
        let load = pool::Load { waiting, running };
        wait_until(&format!("{load:?}"), || pool.load() == load).await;
    }

    /// A piece of pool work started in its own task, as a request's would be.
    type Started = JoinHandle<Result<(), AuthError>>;

    /// Starts work on `pool` that runs until the returned sender sends (or is dropped).
    fn spawn_gated(pool: &Arc<HashPool>) -> (Started, mpsc::Sender<()>) {
        let (release, gate) = mpsc::channel::<()>();
        let pool = Arc::clone(pool);
        let task = tokio::spawn(async move {
            pool.run(move || {
                let _ = gate.recv();
                Ok(())
            })
            .await
        });
        (task, release)
    }

    /// Starts work on `pool` that, if it ever runs, sets the returned flag.
    fn spawn_flagging(pool: &Arc<HashPool>) -> (Started, Arc<AtomicBool>) {
        let ran = Arc::new(AtomicBool::new(false));
        let (pool, flag) = (Arc::clone(pool), Arc::clone(&ran));
        let task = tokio::spawn(async move {
            pool.run(move || {
                flag.store(true, Ordering::SeqCst);
                Ok(())
            })
            .await
        });
        (task, ran)
    }

    /// The defect of issue 15: a client hanging up dropped the request, which gave its place
    /// back while the hash it had started ran on, so that a flood of such clients ran any number
    /// of hashes at once. Now the place is held until the hash ends.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_hash_whose_request_was_dropped_keeps_its_place_until_it_ends() {
        let hasher = PasswordHasher::new(SLOW, 1, 0).expect("hasher");
        let dropped = {
            let hasher = hasher.clone();
            tokio::spawn(async move { hasher.hash(password("correct horse")).await })
        };
        wait_until("running", || hasher.hashes_running() == 1).await;
        dropped.abort();
        assert!(dropped.await.expect_err("aborted").is_cancelled());
        // The hash runs on: it still counts, and a new one finds no room.
        assert_eq!(
            hasher.hashes_running(),
            1,
            "the running hash is not counted"
        );
        assert_eq!(hasher.queue_depth(), 1, "the running hash is not counted");
        assert!(matches!(
            hasher.hash(password("correct horse")).await,
            Err(AuthError::Overloaded)
        ));
        // Once it ends, its place is free again.
        wait_for_depth(&hasher, 0).await;
        hasher
            .verify(password("correct horse"), None)
            .await
            .expect("room again");
    }

    /// The pool's accounting with hashes that end only when the test says so: a dropped request
    /// whose hash has started holds its place; one still waiting leaves the queue and its work
    /// never runs; the bound counts what really waits and runs.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dropped_requests_hold_their_place_only_once_their_hash_started() {
        use pool::Load;

        let pool = Arc::new(HashPool::start(1, 1).expect("pool"));
        let (started, release) = spawn_gated(&pool);
        wait_for_load(&pool, 0, 1).await;
        let (queued, ran) = spawn_flagging(&pool);
        wait_for_load(&pool, 1, 1).await;
        // Full: one running, one waiting.
        assert!(matches!(
            pool.run(|| Ok(())).await,
            Err(AuthError::Overloaded)
        ));

        // Both clients hang up.
        started.abort();
        queued.abort();
        assert!(started.await.expect_err("aborted").is_cancelled());
        assert!(queued.await.expect_err("aborted").is_cancelled());
        assert_eq!(
            pool.load(),
            Load {
                waiting: 0,
                running: 1
            },
            "the started hash still runs; the waiting one left the queue"
        );

        // The freed queue place takes one more; the running hash still blocks a second.
        let next = {
            let pool = Arc::clone(&pool);
            tokio::spawn(async move { pool.run(|| Ok(7)).await })
        };
        wait_for_load(&pool, 1, 1).await;
        assert!(matches!(
            pool.run(|| Ok(0)).await,
            Err(AuthError::Overloaded)
        ));

        // The started hash ends: the next one runs, and the pool is empty again.
        release.send(()).expect("the first hash waits");
        assert_eq!(next.await.expect("join").expect("ran"), 7);
        wait_for_load(&pool, 0, 0).await;
        assert!(!ran.load(Ordering::SeqCst), "withdrawn work ran");
    }

    #[tokio::test]
    async fn a_panicking_hash_answers_an_error_and_frees_its_worker() {
        let pool = HashPool::start(1, 0).expect("pool");
        let panicked: Result<(), AuthError> = pool.run(|| panic!("argon2 exploded")).await;
        assert!(
            matches!(panicked, Err(AuthError::Internal(_))),
            "{panicked:?}"
        );
        assert_eq!(pool.run(|| Ok(1)).await.expect("the worker lives"), 1);
    }
}
