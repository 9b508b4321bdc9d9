//! The server's configuration: one typed struct, resolved from flags, the environment, an
//! optional TOML file and the contract's defaults, in that order of precedence.

mod connections;
mod database;
mod definitions;
mod duration;
mod layers;
mod parse;
mod report;
mod throttling;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokenauth_core::AuthSettings;
use tokenauth_jwt::Algorithm;
use tokenauth_store::sqlite::Synchronous;

pub use connections::ConnectionLimits;
pub use database::{DatabaseUrl, SecretUrl};
pub use definitions::{SETTINGS, Setting, setting};
pub use duration::{format_duration, parse_duration};
pub use layers::{Layer, RawValue, check_environment, from_env, from_toml, from_toml_file, merge};
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
    pub given: std::collections::BTreeSet<&'static str>,
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
            Some(path) => from_toml_file(&path)?,
            None => Layer::new(),
        };
        Self::from_layer(merge([file, from_env(env), flags]))
    }

    /// Parses and validates merged settings, filling in defaults.
    ///
    /// # Errors
    /// The first setting that cannot be used.
    pub fn from_layer(mut raw: Layer) -> Result<Self, ConfigError> {
        if let Some(unknown) = raw.keys().find(|name| setting(name).is_none()) {
            return Err(invalid(unknown, "no such setting"));
        }
        let given = raw.keys().copied().collect();
        let throttling = Throttling::take(&mut raw)?;
        let connections = ConnectionLimits::take(&mut raw)?;
        let place = parse::place(&mut raw)?;
        let lifetimes = parse::lifetimes(&mut raw)?;
        let capacity = parse::capacity(&mut raw)?;
        let behaviour = parse::behaviour(&mut raw)?;
        Ok(Self {
            listen: place.listen,
            database: place.database,
            data_dir: place.data_dir,
            issuer: place.issuer,
            audience: place.audience,
            access_token_ttl: lifetimes.access_token_ttl,
            refresh_token_ttl: lifetimes.refresh_token_ttl,
            session_max_lifetime: lifetimes.session_max_lifetime,
            session_idle_timeout: lifetimes.session_idle_timeout,
            refresh_reuse_grace: lifetimes.refresh_reuse_grace,
            signing_alg: behaviour.signing_alg,
            key_rotation_interval: lifetimes.key_rotation_interval,
            clock_leeway: lifetimes.clock_leeway,
            cors_allowed_origins: behaviour.cors_allowed_origins,
            cookie_mode: behaviour.cookie_mode,
            jwks_max_age: lifetimes.jwks_max_age,
            password_hash_concurrency: capacity.password_hash_concurrency,
            password_hash_queue: capacity.password_hash_queue,
            request_timeout: capacity.request_timeout,
            log_format: behaviour.log_format,
            database_max_connections: capacity.database_max_connections,
            database_timeout: capacity.database_timeout,
            sqlite_synchronous: capacity.sqlite_synchronous,
            revocation_poll_interval: capacity.revocation_poll_interval,
            max_connections: capacity.max_connections,
            connections,
            signup_response: behaviour.signup_response,
            audit_retention: lifetimes.audit_retention,
            ended_session_retention: lifetimes.ended_session_retention,
            throttling,
            metrics: behaviour.metrics,
            given,
        })
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

fn require_at_least(
    setting: &'static str,
    value: Duration,
    min: Duration,
) -> Result<(), ConfigError> {
    if value < min {
        return Err(invalid(
            setting,
            format!("must be at least {}", format_duration(min)),
        ));
    }
    Ok(())
}

fn require_at_most(
    setting: &'static str,
    value: Duration,
    max: Duration,
) -> Result<(), ConfigError> {
    if value > max {
        return Err(invalid(
            setting,
            format!("must be at most {}", format_duration(max)),
        ));
    }
    Ok(())
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
