//! The command line: which scenario, for how long, with how many clients, against what.

use std::time::Duration;

use clap::{Parser, ValueEnum};
use tokenauth_server::config::parse_duration;

/// The environment variable that names a PostgreSQL server when `--database-url` is not given
/// (the same one the test suites read).
pub const DATABASE_URL_ENV: &str = "TOKENAUTH_TEST_DATABASE_URL";

/// Load harness for tokenauth. Starts the server in-process (or targets a running one with
/// `--target`), runs one scenario with N concurrent keep-alive clients for a fixed duration after
/// a warm-up, and reports throughput and latency percentiles: the median of `--runs` runs.
///
/// Exits 0 when every request succeeded, 1 when some failed (the report says which), 2 for bad
/// usage.
#[derive(Debug, Clone, Parser)]
#[command(name = "tokenauth-bench", version)]
pub struct Options {
    /// What the clients do.
    #[arg(value_enum)]
    pub scenario: Scenario,

    /// How long each run measures.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,

    /// Load before each run's measurement starts, not counted.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub warmup: Duration,

    /// Concurrent clients, each with its own keep-alive connection.
    #[arg(long, default_value_t = 16)]
    pub clients: usize,

    /// Storage of the in-process server.
    #[arg(long, value_enum, default_value_t = Backend::Sqlite)]
    pub backend: Backend,

    /// PostgreSQL server for `--backend postgres` (default: $TOKENAUTH_TEST_DATABASE_URL); the
    /// run works in a fresh schema it creates and drops.
    #[arg(long)]
    pub database_url: Option<String>,

    /// Users with one session each, inserted straight into the database before the run.
    #[arg(long, default_value_t = 0)]
    pub preload: u64,

    /// Signing algorithm of the in-process server: ES256, EdDSA, RS256 or HS256.
    #[arg(long, default_value = "ES256")]
    pub alg: String,

    /// For `verify` and `me`: distinct access tokens each client cycles through (got by
    /// refreshing its session at setup). 1 (the default) reuses one token, as a real client
    /// does; more than the server's verified-token cache holds (8192 in all) measures the
    /// uncached check.
    #[arg(long, default_value_t = 1)]
    pub tokens_per_client: usize,

    /// Lifetime of the access tokens the in-process server issues (default: the server's, 15m).
    #[arg(long, value_parser = parse_duration)]
    pub access_token_ttl: Option<Duration>,

    /// Argon2 hashes the in-process server runs at once. Default: one per core for `login` and
    /// `signup`, which are measured against the all-cores ceiling; the server's own default
    /// (cores − 1, leaving a core to everything else) for the other scenarios.
    #[arg(long)]
    pub password_hash_concurrency: Option<usize>,

    /// Base URL of a running server to load instead of starting one (no preload then). Every
    /// client comes from this machine's address: start that server with
    /// `--rate-limit-login off --rate-limit-signup off` for the login, signup and mixed scenarios
    /// and `--rate-limit-refresh 1000000/s` for refresh.
    #[arg(long)]
    pub target: Option<String>,

    /// Measured runs; the report gives the median of each figure.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,

    /// Print one JSON object instead of the human report.
    #[arg(long)]
    pub json: bool,

    /// Threads of the load generator's runtime (the in-process server gets one per core).
    #[arg(long, default_value_t = 1)]
    pub client_threads: usize,

    /// For `login-flood-disconnect`: logins in each burst, all sent at once, each on its own
    /// connection.
    #[arg(long, default_value_t = 200)]
    pub flood: usize,

    /// For `login-flood-disconnect`: time from one burst's start to the next one's.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub flood_every: Duration,

    /// For `login-flood-disconnect`: how long after sending its login each flood client hangs
    /// up (long before any hash ends).
    #[arg(long, default_value = "5ms", value_parser = parse_duration)]
    pub hang_up_after: Duration,

    /// SQLite `synchronous` mode of the in-process server: `full` (the server's default) or
    /// `normal`.
    #[arg(long)]
    pub sqlite_synchronous: Option<String>,
}

/// A load shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// Each client rotates its own refresh token, over and over.
    Refresh,
    /// `GET /v1/verify` with a valid Bearer token.
    Verify,
    /// `GET /v1/me` with a valid Bearer token.
    Me,
    /// `POST /v1/login` of the client's own user (bound by Argon2).
    Login,
    /// `POST /v1/signup` of a new user each time (bound by Argon2).
    Signup,
    /// 1 login : 20 refresh : 1000 verify, the shape of real traffic.
    Mixed,
    /// `GET /v1/verify` as in `verify`, while bursts of `--flood` logins arrive whose clients
    /// hang up `--hang-up-after` sending; reports the process's peak RSS and threads and the
    /// hasher's gauges too.
    #[serde(rename = "login-flood-disconnect")]
    LoginFloodDisconnect,
}

impl Scenario {
    /// The scenario's name on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            Scenario::Refresh => "refresh",
            Scenario::Verify => "verify",
            Scenario::Me => "me",
            Scenario::Login => "login",
            Scenario::Signup => "signup",
            Scenario::Mixed => "mixed",
            Scenario::LoginFloodDisconnect => "login-flood-disconnect",
        }
    }

    /// Whether each request costs one Argon2 hash, so the hash rate bounds throughput.
    pub const fn argon2_bound(self) -> bool {
        matches!(self, Scenario::Login | Scenario::Signup)
    }
}

/// Storage of the in-process server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// A SQLite file in a temporary directory.
    Sqlite,
    /// A fresh schema on a PostgreSQL server.
    Postgres,
}

impl Backend {
    /// The backend's name on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A combination of options that cannot run; the binary exits with 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

impl Options {
    /// Parses options from `args` (the first item is the program name), as the binary does.
    ///
    /// # Errors
    /// clap's error for unknown or malformed arguments.
    pub fn parse_from_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        Self::try_parse_from(args)
    }

    /// Checks that the options fit together.
    ///
    /// # Errors
    /// A [`UsageError`] naming the first problem.
    pub fn validate(&self) -> Result<(), UsageError> {
        let fail = |message: &str| Err(UsageError(message.to_owned()));
        if self.clients == 0 {
            return fail("--clients must be at least 1");
        }
        if self.runs == 0 {
            return fail("--runs must be at least 1");
        }
        if self.tokens_per_client == 0 {
            return fail("--tokens-per-client must be at least 1");
        }
        if self.client_threads == 0 {
            return fail("--client-threads must be at least 1");
        }
        if self.password_hash_concurrency == Some(0) {
            return fail("--password-hash-concurrency must be at least 1");
        }
        if self.duration.is_zero() {
            return fail("--duration must be longer than 0");
        }
        if self.flood == 0 {
            return fail("--flood must be at least 1");
        }
        if self.flood_every.is_zero() {
            return fail("--flood-every must be longer than 0");
        }
        if self.target.is_some() {
            if self.preload > 0 {
                return fail("--preload needs the in-process server; drop --target");
            }
            if self.access_token_ttl.is_some() {
                return fail("--access-token-ttl configures the in-process server; drop --target");
            }
            if self.sqlite_synchronous.is_some() {
                return fail(
                    "--sqlite-synchronous configures the in-process server; drop --target",
                );
            }
            if self.password_hash_concurrency.is_some() {
                return fail(
                    "--password-hash-concurrency configures the in-process server; drop --target",
                );
            }
            if self.database_url.is_some() || self.backend != Backend::Sqlite {
                return fail("--target loads a running server; its storage is its own business");
            }
        }
        if self.database_url.is_some() && self.backend != Backend::Postgres {
            return fail("--database-url needs --backend postgres");
        }
        if self.sqlite_synchronous.is_some() && self.backend != Backend::Sqlite {
            return fail("--sqlite-synchronous needs --backend sqlite");
        }
        Ok(())
    }

    /// Argon2 hashes the in-process server runs at once: `--password-hash-concurrency`, else
    /// one per core for the Argon2-bound scenarios, else `None` (the server's default).
    pub fn hash_threads(&self) -> Option<usize> {
        self.password_hash_concurrency.or_else(|| {
            self.scenario
                .argon2_bound()
                .then(|| std::thread::available_parallelism().map_or(1, usize::from))
        })
    }

    /// The flood of `login-flood-disconnect`; `None` for the other scenarios.
    pub fn flood_plan(&self) -> Option<crate::flood::FloodPlan> {
        (self.scenario == Scenario::LoginFloodDisconnect).then_some(crate::flood::FloodPlan {
            logins: self.flood,
            every: self.flood_every,
            hang_up_after: self.hang_up_after,
        })
    }

    /// The PostgreSQL server to use: `--database-url`, else `$TOKENAUTH_TEST_DATABASE_URL`.
    ///
    /// # Errors
    /// A [`UsageError`] when neither is set.
    pub fn postgres_url(&self) -> Result<String, UsageError> {
        self.database_url
            .clone()
            .or_else(|| std::env::var(DATABASE_URL_ENV).ok())
            .ok_or_else(|| {
                UsageError(format!(
                    "--backend postgres needs --database-url or {DATABASE_URL_ENV}"
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Options {
        let mut all = vec!["tokenauth-bench"];
        all.extend_from_slice(args);
        Options::parse_from_args(all).expect("valid arguments")
    }

    #[test]
    fn defaults_match_the_documented_ones() {
        let options = parse(&["refresh"]);
        assert_eq!(options.duration, Duration::from_secs(10));
        assert_eq!(options.warmup, Duration::from_secs(2));
        assert_eq!(options.clients, 16);
        assert_eq!(options.runs, 3);
        assert_eq!(options.backend, Backend::Sqlite);
        assert!(options.validate().is_ok());
        let flood = parse(&["login-flood-disconnect"]);
        assert_eq!(flood.flood, 200);
        assert_eq!(flood.flood_every, Duration::from_secs(1));
        assert_eq!(flood.hang_up_after, Duration::from_millis(5));
        assert!(flood.validate().is_ok());
    }

    #[test]
    fn argon2_bound_scenarios_hash_on_every_core_unless_told() {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        assert_eq!(parse(&["login"]).hash_threads(), Some(cores));
        assert_eq!(parse(&["signup"]).hash_threads(), Some(cores));
        assert_eq!(parse(&["refresh"]).hash_threads(), None);
        assert_eq!(parse(&["mixed"]).hash_threads(), None);
        assert_eq!(
            parse(&["login", "--password-hash-concurrency", "1"]).hash_threads(),
            Some(1)
        );
    }

    #[test]
    fn conflicting_options_are_usage_errors() {
        for args in [
            &["refresh", "--clients", "0"][..],
            &[
                "refresh",
                "--target",
                "http://127.0.0.1:1",
                "--preload",
                "10",
            ],
            &["refresh", "--database-url", "postgres://x@127.0.0.1/test"],
            &["refresh", "--duration", "0s"],
            &["login", "--password-hash-concurrency", "0"],
            &["login-flood-disconnect", "--flood", "0"],
            &["login-flood-disconnect", "--flood-every", "0s"],
            &[
                "refresh",
                "--backend",
                "postgres",
                "--sqlite-synchronous",
                "normal",
            ],
            &[
                "login",
                "--target",
                "http://127.0.0.1:1",
                "--password-hash-concurrency",
                "2",
            ],
        ] {
            assert!(parse(args).validate().is_err(), "{args:?} accepted");
        }
    }
}
