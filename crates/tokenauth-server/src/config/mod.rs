//! The server's configuration: one typed struct, resolved from flags, the environment, an
//! optional TOML file and the contract's defaults, in that order of precedence.

mod connections;
mod database;
mod definitions;
mod duration;
mod layers;
mod report;
mod setting;
mod throttling;
mod values;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokenauth_core::AuthSettings;
use tokenauth_jwt::Algorithm;
use tokenauth_store::sqlite::Synchronous;

use crate::http::client_ip::TrustedProxies;
pub use connections::ConnectionLimits;
pub use database::{DatabaseUrl, SecretUrl};
pub use definitions::{SETTINGS, setting};
pub use duration::{format_duration, parse_duration};
pub use layers::{Layer, RawValue, check_environment, from_env, from_toml, from_toml_file, merge};
pub use setting::{Default as SettingDefault, Setting, apply_layer};
pub use throttling::Throttling;

/// A setting that cannot be used, and why. Printed as one line; the process exits with 2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {setting}: {reason}")]
pub struct ConfigError {
    /// The setting's name (`config` for the file itself).
    pub setting: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable text.
    Text,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    /// The setting's spelling: `text` or `json`.
    pub const fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

/// Every setting of the server, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The database.
    pub database: DatabaseUrl,
    /// Directory of the embedded database and the master key file.
    pub data_dir: PathBuf,
    /// Issuer (`iss`), without a trailing slash.
    pub issuer: String,
    /// Audience (`aud`) of access tokens.
    pub audience: String,
    /// Access token lifetime.
    pub access_token_ttl: Duration,
    /// Refresh token lifetime (sliding: each rotation starts a new one).
    pub refresh_token_ttl: Duration,
    /// Absolute end of a session after its creation; no rotation extends it.
    pub session_max_lifetime: Duration,
    /// A session unused this long ends (each refresh token lives this long); at most
    /// `refresh_token_ttl`, which is its default.
    pub session_idle_timeout: Duration,
    /// Window in which a rotated refresh token is still a benign retry.
    pub refresh_reuse_grace: Duration,
    /// Algorithm of new signing keys.
    pub signing_alg: Algorithm,
    /// How long a key signs before the next takes over.
    pub key_rotation_interval: Duration,
    /// Tolerated clock difference for `exp`/`nbf`.
    pub clock_leeway: Duration,
    /// Origins allowed to call the API from a browser.
    pub cors_allowed_origins: Vec<String>,
    /// Whether browsers may ask for tokens in HttpOnly cookies (`X-Token-Transport: cookie`).
    pub cookie_mode: CookieMode,
    /// `Cache-Control: max-age` of the JWKS document.
    pub jwks_max_age: Duration,
    /// Password hashes run at once.
    pub password_hash_concurrency: usize,
    /// Password hashes allowed to wait; beyond that, 503.
    pub password_hash_queue: usize,
    /// Longest a request may take before it is answered 503.
    pub request_timeout: Duration,
    /// Log format.
    pub log_format: LogFormat,
    /// Most PostgreSQL connections one instance opens.
    pub database_max_connections: usize,
    /// Longest any database call may take before it fails (and the request answers 503).
    pub database_timeout: Duration,
    /// How durable an acknowledged SQLite commit is (`full`: across power loss).
    pub sqlite_synchronous: Synchronous,
    /// Whether sign-up tells a taken email apart from a new one.
    pub signup_response: SignupResponse,
    /// Most client connections open at once; more wait in the kernel's accept queue.
    pub max_connections: usize,
    /// Connection timeouts, the per-address connection cap and the stop's drain bound.
    pub connections: ConnectionLimits,
    /// How often this instance reads the revocation feed for revocations made elsewhere (other
    /// instances, the CLI); its own are applied at once.
    pub revocation_poll_interval: Duration,
    /// The login lock-out, the per-IP rate limits and the proxies trusted to name clients.
    pub throttling: Throttling,
    /// How long audit events are kept.
    pub audit_retention: Duration,
    /// How long ended sessions are kept (with their refresh-token history).
    pub ended_session_retention: Duration,
    /// Whether `GET /metrics` serves Prometheus metrics (and requests are counted for it).
    pub metrics: bool,
    /// The settings given by the file, the environment or a flag (the others are defaults):
    /// commands that must follow the server's own settings refuse only given ones that differ.
    pub given: BTreeSet<&'static str>,
}

/// How sign-up answers (account enumeration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignupResponse {
    /// 201 with tokens for a new account, 409 `email_taken` for a registered email: friendly,
    /// but it tells anyone whether an email has an account.
    Distinct,
    /// 202 with the same body whether the email was new (the account is created) or taken
    /// (nothing happens), after the same work; the client then logs in.
    Uniform,
}

impl SignupResponse {
    /// The setting's spelling: `distinct` or `uniform`.
    pub const fn as_str(self) -> &'static str {
        match self {
            SignupResponse::Distinct => "distinct",
            SignupResponse::Uniform => "uniform",
        }
    }
}

/// Cookie transport of tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieMode {
    /// A request may ask for cookies with `X-Token-Transport: cookie`; protected endpoints
    /// accept the access cookie (with CSRF protection on state-changing requests).
    On,
    /// Tokens travel only in JSON bodies and the `Authorization` header; cookies are ignored.
    Off,
}

impl CookieMode {
    /// The setting's spelling: `on` or `off`.
    pub const fn as_str(self) -> &'static str {
        match self {
            CookieMode::On => "on",
            CookieMode::Off => "off",
        }
    }
}

impl Config {
    /// Resolves the configuration from `flags` (highest precedence), the environment as seen
    /// through `env`, and the TOML file named by the `--config` flag or `TOKENAUTH_CONFIG`.
    ///
    /// # Errors
    /// The first setting that cannot be used.
    pub fn resolve(
        flags: Layer,
        config_file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let env_file = env("TOKENAUTH_CONFIG").map(PathBuf::from);
        let file = match config_file.map(Path::to_path_buf).or(env_file) {
            Some(path) => from_toml_file(SETTINGS, &path)?,
            None => Layer::new(),
        };
        Self::from_layer(merge([file, from_env(SETTINGS, env), flags]))
    }

    /// Parses and validates merged settings: each setting read by its definition in
    /// [`SETTINGS`] (given, or its default), then the defaults derived from other settings,
    /// then the rules between settings.
    ///
    /// # Errors
    /// The first setting that cannot be used; an unknown name.
    pub fn from_layer(raw: Layer) -> Result<Self, ConfigError> {
        let mut config = Self::unset();
        config.given = setting::apply_layer(SETTINGS, &mut config, raw)?;
        config.derive_defaults();
        config.check_rules()?;
        Ok(config)
    }

    /// Placeholders, each replaced by its setting's default or value in
    /// [`Config::from_layer`] before anything reads it.
    fn unset() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database: DatabaseUrl::Sqlite(PathBuf::new()),
            data_dir: PathBuf::new(),
            issuer: String::new(),
            audience: String::new(),
            access_token_ttl: Duration::ZERO,
            refresh_token_ttl: Duration::ZERO,
            session_max_lifetime: Duration::ZERO,
            session_idle_timeout: Duration::ZERO,
            refresh_reuse_grace: Duration::ZERO,
            signing_alg: Algorithm::ES256,
            key_rotation_interval: Duration::ZERO,
            clock_leeway: Duration::ZERO,
            cors_allowed_origins: Vec::new(),
            cookie_mode: CookieMode::On,
            jwks_max_age: Duration::ZERO,
            password_hash_concurrency: 1,
            password_hash_queue: 0,
            request_timeout: Duration::ZERO,
            log_format: LogFormat::Text,
            database_max_connections: 1,
            database_timeout: Duration::ZERO,
            sqlite_synchronous: Synchronous::Full,
            signup_response: SignupResponse::Distinct,
            max_connections: 1,
            connections: ConnectionLimits {
                header_read_timeout: Duration::ZERO,
                idle_timeout: Duration::ZERO,
                max_connections_per_ip: 0,
                shutdown_timeout: Duration::ZERO,
            },
            revocation_poll_interval: Duration::ZERO,
            throttling: Throttling {
                login_max_failures: 0,
                login_lockout_max: Duration::ZERO,
                rate_limit_login: None,
                rate_limit_signup: None,
                rate_limit_refresh: None,
                trusted_proxies: TrustedProxies::default(),
            },
            audit_retention: Duration::ZERO,
            ended_session_retention: Duration::ZERO,
            metrics: false,
            given: BTreeSet::new(),
        }
    }

    /// The defaults of [`setting::Default::Derived`] settings that were not given.
    fn derive_defaults(&mut self) {
        let given = |name| self.given.contains(name);
        let (database, issuer, audience, idle, hashing) = (
            given("database_url"),
            given("issuer"),
            given("audience"),
            given("session_idle_timeout"),
            given("password_hash_concurrency"),
        );
        if !database {
            self.database = DatabaseUrl::Sqlite(self.data_dir.join("tokenauth.db"));
        }
        if !issuer {
            self.issuer = format!("http://{}", self.listen);
        }
        if !audience {
            self.audience.clone_from(&self.issuer);
        }
        if !idle {
            self.session_idle_timeout = self.refresh_token_ttl;
        }
        if !hashing {
            // One core is left to everything else: with every core hashing, a flood of logins
            // halved refresh and verify throughput on 2 cores; with one free, they kept 80-93 %
            // (BENCHMARKS.md, "Login flood").
            self.password_hash_concurrency = std::thread::available_parallelism()
                .map_or(2, usize::from)
                .saturating_sub(1)
                .max(1);
        }
    }

    /// The rules between settings: no access token outlives its session or the refresh token
    /// that follows it, and no refresh token outlives the idle timeout. Run by
    /// [`Config::from_layer`]; run it again after changing a typed configuration.
    ///
    /// # Errors
    /// The first rule broken, naming the setting to change.
    pub fn check_rules(&self) -> Result<(), ConfigError> {
        if self.refresh_token_ttl < self.access_token_ttl {
            return Err(invalid(
                "refresh_token_ttl",
                "must not be shorter than access_token_ttl",
            ));
        }
        if self.session_idle_timeout > self.refresh_token_ttl {
            return Err(invalid(
                "session_idle_timeout",
                "must not be longer than refresh_token_ttl (a refresh token ends first)",
            ));
        }
        if self.session_idle_timeout < self.access_token_ttl {
            return Err(invalid(
                "session_idle_timeout",
                "must not be shorter than access_token_ttl",
            ));
        }
        if self.session_max_lifetime < self.access_token_ttl {
            return Err(invalid(
                "session_max_lifetime",
                "must not be shorter than access_token_ttl (the first access token would outlive \
                 its session)",
            ));
        }
        Ok(())
    }

    /// The defaults of the contract, with no file, environment or flags.
    pub fn defaults() -> Self {
        match Self::from_layer(Layer::new()) {
            Ok(config) => config,
            // The defaults are constants that pass validation; a unit test proves it.
            Err(error) => unreachable!("default configuration is invalid: {error}"),
        }
    }

    /// The settings the domain services need.
    pub fn auth_settings(&self) -> AuthSettings {
        AuthSettings {
            issuer: self.issuer.clone(),
            audience: self.audience.clone(),
            access_token_ttl: self.access_token_ttl,
            refresh_token_ttl: self.refresh_token_ttl,
            session_max_lifetime: self.session_max_lifetime,
            session_idle_timeout: Some(self.session_idle_timeout),
            refresh_reuse_grace: self.refresh_reuse_grace,
            clock_leeway: self.clock_leeway,
            signing_alg: self.signing_alg,
            key_rotation_interval: self.key_rotation_interval,
            jwks_max_age: self.jwks_max_age,
            login_lockout: self.throttling.lockout_policy(),
            audit_retention: self.audit_retention,
            ended_session_retention: self.ended_session_retention,
        }
    }
}

fn invalid(setting: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        setting,
        reason: reason.into(),
    }
}

fn parse_issuer(issuer: &str) -> Result<String, ConfigError> {
    let rest = issuer
        .strip_prefix("https://")
        .or_else(|| issuer.strip_prefix("http://"))
        .ok_or_else(|| {
            invalid(
                "issuer",
                format!("{issuer:?} must be an http:// or https:// URL"),
            )
        })?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() || rest.contains(['?', '#', ' ']) {
        return Err(invalid(
            "issuer",
            format!("{issuer:?} must be a URL with a host and no query or fragment"),
        ));
    }
    Ok(issuer.trim_end_matches('/').to_owned())
}

fn validate_origin(origin: &str) -> Result<(), ConfigError> {
    if origin == "*" {
        return Err(invalid(
            "cors_allowed_origins",
            "\"*\" is not allowed; list exact origins",
        ));
    }
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or_else(|| {
            invalid(
                "cors_allowed_origins",
                format!("{origin:?} is not an origin like https://app.example.com"),
            )
        })?;
    if rest.is_empty() || rest.contains(['/', '?', '#', ' ']) {
        return Err(invalid(
            "cors_allowed_origins",
            format!("{origin:?} is not an origin like https://app.example.com"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
