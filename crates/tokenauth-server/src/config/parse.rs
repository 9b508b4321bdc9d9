//! Reading raw settings into typed values, one group of related settings per function, each
//! taking its settings out of the merged layer and checking them and the rules between them.
//! [`super::Config::from_layer`] assembles the groups.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokenauth_core::AuthSettings;
use tokenauth_jwt::Algorithm;
use tokenauth_store::sqlite::{Synchronous, UnknownSynchronous};

use super::database::parse_database_url;
use super::{
    ConfigError, CookieMode, DatabaseUrl, Layer, LogFormat, RawValue, SignupResponse, invalid,
    parse_duration, parse_issuer, require_at_least, require_at_most, validate_origin,
};

/// The single value of `name`, trimmed; `None` when not given. A list is an error.
pub(super) fn text(raw: &mut Layer, name: &'static str) -> Result<Option<String>, ConfigError> {
    match raw.remove(name) {
        None => Ok(None),
        Some(RawValue::Text(text)) => Ok(Some(text.trim().to_owned())),
        Some(RawValue::List(_)) => Err(invalid(name, "expected a single value, not a list")),
    }
}

/// The duration `name`, or `default`.
pub(super) fn duration(
    raw: &mut Layer,
    name: &'static str,
    default: Duration,
) -> Result<Duration, ConfigError> {
    text(raw, name)?.map_or(Ok(default), |t| {
        parse_duration(&t).map_err(|e| invalid(name, e))
    })
}

/// The whole number `name`, or `default`.
pub(super) fn count(
    raw: &mut Layer,
    name: &'static str,
    default: usize,
) -> Result<usize, ConfigError> {
    text(raw, name)?.map_or(Ok(default), |t| {
        t.parse::<usize>()
            .map_err(|_| invalid(name, format!("{t:?} is not a whole number")))
    })
}

/// `name` as one of `choices` (its spelling and value), or `default`; the error says it
/// should be `expected`.
fn choice<T: Copy>(
    raw: &mut Layer,
    name: &'static str,
    choices: &[(&str, T)],
    default: T,
    expected: &str,
) -> Result<T, ConfigError> {
    let Some(given) = text(raw, name)? else {
        return Ok(default);
    };
    choices
        .iter()
        .find(|(spelling, _)| *spelling == given)
        .map(|(_, value)| *value)
        .ok_or_else(|| invalid(name, format!("{given:?} is not {expected}")))
}

/// Where the server listens, stores and says it is.
pub(super) struct Place {
    pub(super) listen: SocketAddr,
    pub(super) data_dir: PathBuf,
    pub(super) database: DatabaseUrl,
    pub(super) issuer: String,
    pub(super) audience: String,
}

/// `listen`, `data_dir`, `database_url`, `issuer`, `audience`.
pub(super) fn place(raw: &mut Layer) -> Result<Place, ConfigError> {
    let listen_text = text(raw, "listen")?.unwrap_or_else(|| "127.0.0.1:8080".into());
    let listen: SocketAddr = listen_text.parse().map_err(|_| {
        invalid(
            "listen",
            format!("{listen_text:?} is not an address like 127.0.0.1:8080"),
        )
    })?;
    let data_dir =
        PathBuf::from(text(raw, "data_dir")?.unwrap_or_else(|| "./tokenauth-data".into()));
    if data_dir.as_os_str().is_empty() {
        return Err(invalid("data_dir", "must not be empty"));
    }
    let database = match text(raw, "database_url")? {
        None => DatabaseUrl::Sqlite(data_dir.join("tokenauth.db")),
        Some(url) => parse_database_url(&url)?,
    };
    let issuer = match text(raw, "issuer")? {
        None => format!("http://{listen}"),
        Some(issuer) => parse_issuer(&issuer)?,
    };
    let audience = text(raw, "audience")?.unwrap_or_else(|| issuer.clone());
    if audience.is_empty() {
        return Err(invalid("audience", "must not be empty"));
    }
    Ok(Place {
        listen,
        data_dir,
        database,
        issuer,
        audience,
    })
}

/// How long tokens, sessions, keys and records live.
pub(super) struct Lifetimes {
    pub(super) access_token_ttl: Duration,
    pub(super) refresh_token_ttl: Duration,
    pub(super) session_max_lifetime: Duration,
    pub(super) session_idle_timeout: Duration,
    pub(super) refresh_reuse_grace: Duration,
    pub(super) key_rotation_interval: Duration,
    pub(super) clock_leeway: Duration,
    pub(super) jwks_max_age: Duration,
    pub(super) audit_retention: Duration,
    pub(super) ended_session_retention: Duration,
}

/// The token, session, key and retention lifetimes, each within its bounds.
pub(super) fn lifetimes(raw: &mut Layer) -> Result<Lifetimes, ConfigError> {
    let defaults = AuthSettings::default();
    let access_token_ttl = duration(raw, "access_token_ttl", defaults.access_token_ttl)?;
    require_at_least("access_token_ttl", access_token_ttl, Duration::from_secs(1))?;
    let refresh_token_ttl = duration(raw, "refresh_token_ttl", defaults.refresh_token_ttl)?;
    require_at_least(
        "refresh_token_ttl",
        refresh_token_ttl,
        Duration::from_secs(1),
    )?;
    let refresh_reuse_grace = duration(raw, "refresh_reuse_grace", defaults.refresh_reuse_grace)?;
    require_at_most(
        "refresh_reuse_grace",
        refresh_reuse_grace,
        Duration::from_secs(300),
    )?;
    let key_rotation_interval =
        duration(raw, "key_rotation_interval", defaults.key_rotation_interval)?;
    require_at_least(
        "key_rotation_interval",
        key_rotation_interval,
        Duration::from_secs(1),
    )?;
    let clock_leeway = duration(raw, "clock_leeway", defaults.clock_leeway)?;
    require_at_most("clock_leeway", clock_leeway, Duration::from_secs(300))?;
    let jwks_max_age = duration(raw, "jwks_max_age", defaults.jwks_max_age)?;
    require_at_most("jwks_max_age", jwks_max_age, Duration::from_secs(86_400))?;
    let audit_retention = duration(raw, "audit_retention", defaults.audit_retention)?;
    require_at_least(
        "audit_retention",
        audit_retention,
        Duration::from_secs(3600),
    )?;
    let ended_session_retention = duration(
        raw,
        "ended_session_retention",
        defaults.ended_session_retention,
    )?;
    require_at_least(
        "ended_session_retention",
        ended_session_retention,
        Duration::from_secs(60),
    )?;
    let (session_idle_timeout, session_max_lifetime) =
        session_lifetimes(raw, access_token_ttl, refresh_token_ttl)?;
    Ok(Lifetimes {
        access_token_ttl,
        refresh_token_ttl,
        session_max_lifetime,
        session_idle_timeout,
        refresh_reuse_grace,
        key_rotation_interval,
        clock_leeway,
        jwks_max_age,
        audit_retention,
        ended_session_retention,
    })
}

/// `session_idle_timeout` and `session_max_lifetime`, held to the token lifetimes: no access
/// token outlives its session, and no refresh token outlives the idle timeout.
fn session_lifetimes(
    raw: &mut Layer,
    access_token_ttl: Duration,
    refresh_token_ttl: Duration,
) -> Result<(Duration, Duration), ConfigError> {
    if refresh_token_ttl < access_token_ttl {
        return Err(invalid(
            "refresh_token_ttl",
            "must not be shorter than access_token_ttl",
        ));
    }
    let session_idle_timeout = duration(raw, "session_idle_timeout", refresh_token_ttl)?;
    if session_idle_timeout > refresh_token_ttl {
        return Err(invalid(
            "session_idle_timeout",
            "must not be longer than refresh_token_ttl (a refresh token ends first)",
        ));
    }
    if session_idle_timeout < access_token_ttl {
        return Err(invalid(
            "session_idle_timeout",
            "must not be shorter than access_token_ttl",
        ));
    }
    let default_max = AuthSettings::default().session_max_lifetime;
    let session_max_lifetime = duration(raw, "session_max_lifetime", default_max)?;
    if session_max_lifetime < access_token_ttl {
        return Err(invalid(
            "session_max_lifetime",
            "must not be shorter than access_token_ttl (the first access token would outlive \
             its session)",
        ));
    }
    Ok((session_idle_timeout, session_max_lifetime))
}

/// The database pool, its deadline and durability, and the request and connection bounds.
pub(super) struct Capacity {
    pub(super) database_max_connections: usize,
    pub(super) database_timeout: Duration,
    pub(super) sqlite_synchronous: Synchronous,
    pub(super) request_timeout: Duration,
    pub(super) max_connections: usize,
    pub(super) revocation_poll_interval: Duration,
    pub(super) password_hash_concurrency: usize,
    pub(super) password_hash_queue: usize,
}

/// The database, request, connection and hashing bounds.
pub(super) fn capacity(raw: &mut Layer) -> Result<Capacity, ConfigError> {
    let database_timeout = duration(raw, "database_timeout", Duration::from_secs(5))?;
    require_at_least(
        "database_timeout",
        database_timeout,
        Duration::from_millis(100),
    )?;
    let sqlite_synchronous = match text(raw, "sqlite_synchronous")? {
        None => Synchronous::default(),
        Some(mode) => mode
            .parse()
            .map_err(|e: UnknownSynchronous| invalid("sqlite_synchronous", e.to_string()))?,
    };
    let database_max_connections = at_least_one(raw, "database_max_connections", 16)?;
    let request_timeout = duration(raw, "request_timeout", Duration::from_secs(30))?;
    require_at_least(
        "request_timeout",
        request_timeout,
        Duration::from_millis(100),
    )?;
    let max_connections = at_least_one(raw, "max_connections", 10_000)?;
    let revocation_poll_interval =
        duration(raw, "revocation_poll_interval", Duration::from_millis(250))?;
    require_at_least(
        "revocation_poll_interval",
        revocation_poll_interval,
        Duration::from_millis(10),
    )?;
    require_at_most(
        "revocation_poll_interval",
        revocation_poll_interval,
        Duration::from_secs(60),
    )?;
    // One core is left to everything else: with every core hashing, a flood of logins
    // halved refresh and verify throughput on 2 cores; with one free, they kept 80-93 %
    // (BENCHMARKS.md, "Login flood").
    let cores = std::thread::available_parallelism()
        .map_or(2, usize::from)
        .saturating_sub(1)
        .max(1);
    let password_hash_concurrency = at_least_one(raw, "password_hash_concurrency", cores)?;
    let password_hash_queue = count(raw, "password_hash_queue", 64)?;
    Ok(Capacity {
        database_max_connections,
        database_timeout,
        sqlite_synchronous,
        request_timeout,
        max_connections,
        revocation_poll_interval,
        password_hash_concurrency,
        password_hash_queue,
    })
}

/// The whole number `name`, at least 1, or `default`.
fn at_least_one(raw: &mut Layer, name: &'static str, default: usize) -> Result<usize, ConfigError> {
    let value = count(raw, name, default)?;
    if value == 0 {
        return Err(invalid(name, "must be at least 1"));
    }
    Ok(value)
}

/// What the server offers and how it answers.
pub(super) struct Behaviour {
    pub(super) signing_alg: Algorithm,
    pub(super) cors_allowed_origins: Vec<String>,
    pub(super) cookie_mode: CookieMode,
    pub(super) signup_response: SignupResponse,
    pub(super) metrics: bool,
    pub(super) log_format: LogFormat,
}

/// The signing algorithm, browser origins, cookie mode, sign-up answer, metrics and logs.
pub(super) fn behaviour(raw: &mut Layer) -> Result<Behaviour, ConfigError> {
    let signing_alg = match text(raw, "signing_alg")? {
        None => AuthSettings::default().signing_alg,
        Some(alg) => alg.parse().map_err(|_| {
            invalid(
                "signing_alg",
                format!("{alg:?} is not one of ES256, EdDSA, RS256, HS256"),
            )
        })?,
    };
    let cors_allowed_origins = raw
        .remove("cors_allowed_origins")
        .map(RawValue::into_list)
        .unwrap_or_default();
    for origin in &cors_allowed_origins {
        validate_origin(origin)?;
    }
    let cookie_mode = choice(
        raw,
        "cookie_mode",
        &[("on", CookieMode::On), ("off", CookieMode::Off)],
        CookieMode::On,
        "on or off",
    )?;
    let signup_response = choice(
        raw,
        "signup_response",
        &[
            ("distinct", SignupResponse::Distinct),
            ("uniform", SignupResponse::Uniform),
        ],
        SignupResponse::Distinct,
        "distinct or uniform",
    )?;
    let metrics = choice(
        raw,
        "metrics",
        &[
            ("on", true),
            ("true", true),
            ("off", false),
            ("false", false),
        ],
        true,
        "on or off",
    )?;
    let log_format = choice(
        raw,
        "log_format",
        &[("text", LogFormat::Text), ("json", LogFormat::Json)],
        LogFormat::Text,
        "text or json",
    )?;
    Ok(Behaviour {
        signing_alg,
        cors_allowed_origins,
        cookie_mode,
        signup_response,
        metrics,
        log_format,
    })
}
