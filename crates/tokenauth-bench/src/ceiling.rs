//! The Argon2 ceiling: the most logins (or signups) a second this machine can do, one hash each,
//! all cores hashing: cores / the time of one hash at the server's cost, measured in the same
//! run as the load.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokenauth_core::password::{HashCost, PasswordHasher};
use tokenauth_core::user::Password;

/// Hashes timed; the fastest is taken.
const SAMPLES: usize = 5;

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
        })
    }

    /// `rate` as a fraction of the ceiling.
    pub fn share(&self, rate: f64) -> f64 {
        rate / self.per_second
    }
}
