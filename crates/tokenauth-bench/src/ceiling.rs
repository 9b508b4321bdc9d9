//! The Argon2 ceiling: the most logins (or signups) a second this machine can do, one hash each,
//! all cores hashing: cores / the time of one hash at the server's cost, measured in the same
//! run as the load. Beside it, what the hasher alone does with every core hashing at once: two
//! 19 MiB hashes share the memory bandwidth and caches, so each is slower than one alone, and
//! that rate, not the first, is what a server can approach.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokenauth_core::password::{HashCost, PasswordHasher};
use tokenauth_core::user::Password;

/// Hashes timed; the fastest is taken.
const SAMPLES: usize = 5;

/// Hashes per core for the all-cores-at-once rate.
const PARALLEL_ROUNDS: usize = 4;

/// The hash rate the machine allows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Ceiling {
    /// Cores available to the process.
    pub cores: usize,
    /// Time of one Argon2id hash at OWASP cost (m=19456 KiB, t=2, p=1), in milliseconds: the
    /// fastest of the samples, so that the ceiling is the highest the machine showed.
    pub hash_ms: f64,
    /// Every sample, in milliseconds, in the order taken.
    pub samples_ms: Vec<f64>,
    /// `cores / hash time`: hashes a second with every core busy.
    pub per_second: f64,
    /// Hashes a second the server's hasher did with `cores` hashes running at once, nothing
    /// else running (`cores × 4` hashes, timed together).
    pub parallel_per_second: f64,
}

impl Ceiling {
    /// Times hashes at OWASP cost through the server's own hasher, one at a time, after the
    /// hasher's own warm-up hash.
    ///
    /// # Errors
    /// If the hasher cannot be built or fails.
    pub async fn measure() -> anyhow::Result<Self> {
        let hasher = PasswordHasher::new(HashCost::OWASP, 1, SAMPLES)
            .context("building the password hasher")?;
        let mut samples = Vec::with_capacity(SAMPLES);
        for _ in 0..SAMPLES {
            let password = Password::new("correct horse battery staple".to_owned())
                .context("the sample password")?;
            let started = Instant::now();
            hasher
                .hash(password)
                .await
                .context("hashing the sample password")?;
            samples.push(started.elapsed());
        }
        let hash = samples.iter().min().copied().unwrap_or(Duration::MAX);
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Ok(Self {
            cores,
            hash_ms: hash.as_secs_f64() * 1e3,
            samples_ms: samples.iter().map(|s| s.as_secs_f64() * 1e3).collect(),
            per_second: cores as f64 / hash.as_secs_f64(),
            parallel_per_second: parallel_rate(cores).await?,
        })
    }

    /// `rate` as a fraction of the ceiling.
    pub fn share(&self, rate: f64) -> f64 {
        rate / self.per_second
    }

    /// `rate` as a fraction of what the hasher did alone on every core.
    pub fn share_of_parallel(&self, rate: f64) -> f64 {
        rate / self.parallel_per_second
    }
}

/// Hashes a second with `cores` hashes at once through one hasher of that concurrency.
async fn parallel_rate(cores: usize) -> anyhow::Result<f64> {
    let total = cores * PARALLEL_ROUNDS;
    let hasher = std::sync::Arc::new(
        PasswordHasher::new(HashCost::OWASP, cores, total)
            .context("building the password hasher")?,
    );
    let started = Instant::now();
    let mut hashes = Vec::with_capacity(total);
    for _ in 0..total {
        let hasher = std::sync::Arc::clone(&hasher);
        hashes.push(tokio::spawn(async move {
            let password = Password::new("correct horse battery staple".to_owned())
                .context("the sample password")?;
            hasher
                .hash(password)
                .await
                .context("hashing the sample password")
        }));
    }
    for hash in hashes {
        hash.await.context("a hashing task")??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}
