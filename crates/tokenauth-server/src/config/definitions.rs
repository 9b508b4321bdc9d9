//! Every setting of the server, defined once: its name (the TOML key; upper-cased after
//! `TOKENAUTH_` in the environment; with dashes as the `--flag`), its default, its help line,
//! how a value is read into [`Config`] (with the setting's own bounds), and how `config check`
//! shows the effective value. The flags, the environment's and the file's accepted names, the
//! `--help` text, the parsing, the `config check` report, and the test that holds README.md's
//! table and docs/configuration.md to this list all come from [`SETTINGS`]. Defaults derived
//! from other settings and the rules between settings are in [`Config::from_layer`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::database::parse_database_url;
use super::duration::format_duration;
use super::setting::{Default, Setting, find};
use super::values::{
    at_least_one, choice, count, duration_at_least, duration_at_most, duration_within, switch, text,
};
use super::{
    Config, CookieMode, LogFormat, RawValue, SignupResponse, parse_issuer, validate_origin,
};
use crate::http::client_ip::TrustedProxies;
use crate::http::rate_limit::{Rate, parse_rate_setting};

const MILLIS_100: Duration = Duration::from_millis(100);
const SECOND: Duration = Duration::from_secs(1);
const FIVE_MINUTES: Duration = Duration::from_secs(300);
const DAY: Duration = Duration::from_secs(86_400);
/// The most failed logins `login_max_failures` may allow before a lock-out.
const MAX_LOGIN_FAILURES: u32 = 1000;

/// The setting called `name`, if there is one.
pub fn setting(name: &str) -> Option<&'static Setting<Config>> {
    find(SETTINGS, name)
}

/// A rate limit as shown: `N/s`, or `off`.
fn rate(rate: Option<Rate>) -> String {
    rate.map_or_else(|| "off".to_owned(), |rate| rate.to_string())
}

/// A rate limit (`10/s`, `30/m`) or `off`.
fn rate_limit(value: RawValue) -> Result<Option<Rate>, String> {
    parse_rate_setting(&text(value)?)
}

/// Every setting, in the order of README.md's table and of `config check`.
pub const SETTINGS: &[Setting<Config>] = &[
    Setting {
        name: "listen",
        default: Default::Value("127.0.0.1:8080"),
        help: "Address to listen on",
        apply: |c, v| {
            let listen = text(v)?;
            listen
                .parse::<SocketAddr>()
                .map(|addr| c.listen = addr)
                .map_err(|_| format!("{listen:?} is not an address like 127.0.0.1:8080"))
        },
        report: |c| c.listen.to_string(),
    },
    Setting {
        name: "data_dir",
        default: Default::Value("./tokenauth-data"),
        help: "Directory for the database and master key",
        apply: |c, v| match text(v)? {
            dir if dir.is_empty() => Err("must not be empty".to_owned()),
            dir => {
                c.data_dir = PathBuf::from(dir);
                Ok(())
            }
        },
        report: |c| c.data_dir.display().to_string(),
    },
    Setting {
        name: "database_url",
        default: Default::Derived("`sqlite://<data_dir>/tokenauth.db`"),
        help: "The database: sqlite://PATH or postgres://user:pass@host/db",
        apply: |c, v| {
            let url = parse_database_url(&text(v)?).map_err(|e| e.reason)?;
            c.database = url;
            Ok(())
        },
        report: |c| c.database.to_string(),
    },
    Setting {
        name: "database_max_connections",
        default: Default::Value("16"),
        help: "PostgreSQL connections per instance",
        apply: |c, v| at_least_one(v).map(|n| c.database_max_connections = n),
        report: |c| c.database_max_connections.to_string(),
    },
    Setting {
        name: "database_timeout",
        default: Default::Value("5s"),
        help: "Longest any database call may take, then 503",
        apply: |c, v| duration_at_least(v, MILLIS_100).map(|d| c.database_timeout = d),
        report: |c| format_duration(c.database_timeout),
    },
    Setting {
        name: "sqlite_synchronous",
        default: Default::Value("full"),
        help: "SQLite commit durability: full (survives power loss) or normal (survives a process crash)",
        apply: |c, v| {
            let mode = text(v)?
                .parse()
                .map_err(|e: tokenauth_store::sqlite::UnknownSynchronous| e.to_string())?;
            c.sqlite_synchronous = mode;
            Ok(())
        },
        report: |c| c.sqlite_synchronous.as_str().to_owned(),
    },
    Setting {
        name: "issuer",
        default: Default::Derived("`http://<listen>`"),
        help: "Token issuer URL",
        apply: |c, v| {
            c.issuer = parse_issuer(&text(v)?).map_err(|e| e.reason)?;
            Ok(())
        },
        report: |c| c.issuer.clone(),
    },
    Setting {
        name: "audience",
        default: Default::Derived("the issuer"),
        help: "Audience of access tokens",
        apply: |c, v| match text(v)? {
            audience if audience.is_empty() => Err("must not be empty".to_owned()),
            audience => {
                c.audience = audience;
                Ok(())
            }
        },
        report: |c| c.audience.clone(),
    },
    Setting {
        name: "access_token_ttl",
        default: Default::Value("15m"),
        help: "Access token lifetime",
        apply: |c, v| duration_at_least(v, SECOND).map(|d| c.access_token_ttl = d),
        report: |c| format_duration(c.access_token_ttl),
    },
    Setting {
        name: "refresh_token_ttl",
        default: Default::Value("30d"),
        help: "Refresh token lifetime",
        apply: |c, v| duration_at_least(v, SECOND).map(|d| c.refresh_token_ttl = d),
        report: |c| format_duration(c.refresh_token_ttl),
    },
    Setting {
        name: "session_max_lifetime",
        default: Default::Value("90d"),
        help: "Absolute end of a session after its creation",
        apply: |c, v| duration_at_least(v, Duration::ZERO).map(|d| c.session_max_lifetime = d),
        report: |c| format_duration(c.session_max_lifetime),
    },
    Setting {
        name: "session_idle_timeout",
        default: Default::Derived("`refresh_token_ttl`"),
        help: "A session unused this long ends",
        apply: |c, v| duration_at_least(v, Duration::ZERO).map(|d| c.session_idle_timeout = d),
        report: |c| format_duration(c.session_idle_timeout),
    },
    Setting {
        name: "refresh_reuse_grace",
        default: Default::Value("10s"),
        help: "Grace window for a retried refresh",
        apply: |c, v| duration_at_most(v, FIVE_MINUTES).map(|d| c.refresh_reuse_grace = d),
        report: |c| format_duration(c.refresh_reuse_grace),
    },
    Setting {
        name: "signing_alg",
        default: Default::Value("ES256"),
        help: "ES256, EdDSA, RS256 or HS256",
        apply: |c, v| {
            let alg = text(v)?;
            alg.parse()
                .map(|alg| c.signing_alg = alg)
                .map_err(|_| format!("{alg:?} is not one of ES256, EdDSA, RS256, HS256"))
        },
        report: |c| c.signing_alg.as_str().to_owned(),
    },
    Setting {
        name: "key_rotation_interval",
        default: Default::Value("7d"),
        help: "Signing key rotation interval",
        apply: |c, v| duration_at_least(v, SECOND).map(|d| c.key_rotation_interval = d),
        report: |c| format_duration(c.key_rotation_interval),
    },
    Setting {
        name: "clock_leeway",
        default: Default::Value("10s"),
        help: "Tolerated clock skew for exp/nbf",
        apply: |c, v| duration_at_most(v, FIVE_MINUTES).map(|d| c.clock_leeway = d),
        report: |c| format_duration(c.clock_leeway),
    },
    Setting {
        name: "jwks_max_age",
        default: Default::Value("5m"),
        help: "Cache lifetime of the JWKS document",
        apply: |c, v| duration_at_most(v, DAY).map(|d| c.jwks_max_age = d),
        report: |c| format_duration(c.jwks_max_age),
    },
    Setting {
        name: "cors_allowed_origins",
        default: Default::Shown {
            value: "",
            doc: "none",
        },
        help: "Comma-separated browser origins allowed to call the API",
        apply: |c, v| {
            let origins = v.into_list();
            for origin in &origins {
                validate_origin(origin).map_err(|e| e.reason)?;
            }
            c.cors_allowed_origins = origins;
            Ok(())
        },
        report: |c| c.cors_allowed_origins.join(","),
    },
    Setting {
        name: "cookie_mode",
        default: Default::Value("on"),
        help: "Browser cookie mode: on or off",
        apply: |c, v| {
            let modes = [("on", CookieMode::On), ("off", CookieMode::Off)];
            choice(v, &modes, "on or off").map(|mode| c.cookie_mode = mode)
        },
        report: |c| c.cookie_mode.as_str().to_owned(),
    },
    Setting {
        name: "password_hash_concurrency",
        default: Default::Derived("CPU cores − 1 (at least 1)"),
        help: "Password hashes run at once",
        apply: |c, v| at_least_one(v).map(|n| c.password_hash_concurrency = n),
        report: |c| c.password_hash_concurrency.to_string(),
    },
    Setting {
        name: "password_hash_queue",
        default: Default::Value("64"),
        help: "Password hashes that may wait before 503",
        apply: |c, v| count(v).map(|n| c.password_hash_queue = n),
        report: |c| c.password_hash_queue.to_string(),
    },
    Setting {
        name: "signup_response",
        default: Default::Value("distinct"),
        help: "distinct (409 for a taken email) or uniform (202 either way)",
        apply: |c, v| {
            let answers = [
                ("distinct", SignupResponse::Distinct),
                ("uniform", SignupResponse::Uniform),
            ];
            choice(v, &answers, "distinct or uniform").map(|answer| c.signup_response = answer)
        },
        report: |c| c.signup_response.as_str().to_owned(),
    },
    Setting {
        name: "max_connections",
        default: Default::Value("10000"),
        help: "Client connections open at once",
        apply: |c, v| at_least_one(v).map(|n| c.max_connections = n),
        report: |c| c.max_connections.to_string(),
    },
    Setting {
        name: "max_connections_per_ip",
        default: Default::Value("256"),
        help: "Client connections one address may hold open; 0 = no limit; trusted proxies exempt",
        apply: |c, v| {
            let limit = text(v)?;
            limit
                .parse::<usize>()
                .map(|n| c.connections.max_connections_per_ip = n)
                .map_err(|_| format!("{limit:?} is not a whole number (0 for no limit)"))
        },
        report: |c| c.connections.max_connections_per_ip.to_string(),
    },
    Setting {
        name: "header_read_timeout",
        default: Default::Value("10s"),
        help: "Longest a client may take to send a request head",
        apply: |c, v| {
            duration_at_least(v, MILLIS_100).map(|d| c.connections.header_read_timeout = d)
        },
        report: |c| format_duration(c.connections.header_read_timeout),
    },
    Setting {
        name: "idle_timeout",
        default: Default::Value("75s"),
        help: "Longest a keep-alive connection may sit idle between requests",
        apply: |c, v| duration_at_least(v, MILLIS_100).map(|d| c.connections.idle_timeout = d),
        report: |c| format_duration(c.connections.idle_timeout),
    },
    Setting {
        name: "shutdown_timeout",
        default: Default::Value("10s"),
        help: "Longest a stop waits for open connections before closing them",
        apply: |c, v| {
            duration_at_least(v, Duration::ZERO).map(|d| c.connections.shutdown_timeout = d)
        },
        report: |c| format_duration(c.connections.shutdown_timeout),
    },
    Setting {
        name: "request_timeout",
        default: Default::Value("30s"),
        help: "Longest a request may take",
        apply: |c, v| duration_at_least(v, MILLIS_100).map(|d| c.request_timeout = d),
        report: |c| format_duration(c.request_timeout),
    },
    Setting {
        name: "revocation_poll_interval",
        default: Default::Value("250ms"),
        help: "How often to read revocations made elsewhere",
        apply: |c, v| {
            duration_within(v, Duration::from_millis(10), Duration::from_secs(60))
                .map(|d| c.revocation_poll_interval = d)
        },
        report: |c| format_duration(c.revocation_poll_interval),
    },
    Setting {
        name: "log_format",
        default: Default::Value("text"),
        help: "text or json",
        apply: |c, v| {
            let formats = [("text", LogFormat::Text), ("json", LogFormat::Json)];
            choice(v, &formats, "text or json").map(|format| c.log_format = format)
        },
        report: |c| c.log_format.as_str().to_owned(),
    },
    Setting {
        name: "metrics",
        default: Default::Value("on"),
        help: "Prometheus metrics at GET /metrics: on or off",
        apply: |c, v| switch(v).map(|on| c.metrics = on),
        report: |c| if c.metrics { "on" } else { "off" }.to_owned(),
    },
    Setting {
        name: "login_max_failures",
        default: Default::Value("5"),
        help: "Failed logins that lock an email out; 0 = off",
        apply: |c, v| {
            let failures = text(v)?;
            failures
                .parse::<u32>()
                .ok()
                .filter(|n| *n <= MAX_LOGIN_FAILURES)
                .map(|n| c.throttling.login_max_failures = n)
                .ok_or_else(|| {
                    format!(
                        "{failures:?} is not a whole number from 0 (off) to {MAX_LOGIN_FAILURES}"
                    )
                })
        },
        report: |c| c.throttling.login_max_failures.to_string(),
    },
    Setting {
        name: "login_lockout_max",
        default: Default::Value("15m"),
        help: "Longest login lock-out (the first is 30s, doubling)",
        apply: |c, v| duration_within(v, SECOND, DAY).map(|d| c.throttling.login_lockout_max = d),
        report: |c| format_duration(c.throttling.login_lockout_max),
    },
    // The default rates: far above what one person, or an office behind one address, sends;
    // below what one address would need to monopolise the password hasher (login, sign-up).
    // Refresh costs no hash and its tokens cannot be guessed: its limit only stops one address
    // from flooding the database, and stays above the load benchmark's rate from one address.
    Setting {
        name: "rate_limit_login",
        default: Default::Value("10/s"),
        help: "Password checks (login, password change, account deletion) per client IP, e.g. 10/s, 30/m, or off",
        apply: |c, v| rate_limit(v).map(|rate| c.throttling.rate_limit_login = rate),
        report: |c| rate(c.throttling.rate_limit_login),
    },
    Setting {
        name: "rate_limit_signup",
        default: Default::Value("60/m"),
        help: "Sign-ups per client IP, e.g. 60/m, or off",
        apply: |c, v| rate_limit(v).map(|rate| c.throttling.rate_limit_signup = rate),
        report: |c| rate(c.throttling.rate_limit_signup),
    },
    Setting {
        name: "rate_limit_refresh",
        default: Default::Value("10000/s"),
        help: "Refreshes per client IP, e.g. 10000/s, or off",
        apply: |c, v| rate_limit(v).map(|rate| c.throttling.rate_limit_refresh = rate),
        report: |c| rate(c.throttling.rate_limit_refresh),
    },
    Setting {
        name: "trusted_proxies",
        default: Default::Shown {
            value: "",
            doc: "none",
        },
        help: "Comma-separated proxy IPs/CIDRs whose X-Forwarded-For is believed",
        apply: |c, v| {
            TrustedProxies::parse(&v.into_list())
                .map(|proxies| c.throttling.trusted_proxies = proxies)
        },
        report: |c| format!("{:?}", c.throttling.trusted_proxies),
    },
    Setting {
        name: "audit_retention",
        default: Default::Value("90d"),
        help: "How long audit events are kept",
        apply: |c, v| {
            duration_at_least(v, Duration::from_secs(3600)).map(|d| c.audit_retention = d)
        },
        report: |c| format_duration(c.audit_retention),
    },
    Setting {
        name: "ended_session_retention",
        default: Default::Value("7d"),
        help: "How long expired or revoked sessions are kept",
        apply: |c, v| {
            duration_at_least(v, Duration::from_secs(60)).map(|d| c.ended_session_retention = d)
        },
        report: |c| format_duration(c.ended_session_retention),
    },
];

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::config::{Layer, RawValue, check_environment};

    const README: &str = include_str!("../../../../README.md");
    const CONFIGURATION: &str = include_str!("../../../../docs/configuration.md");

    #[test]
    fn names_are_unique_and_spelt_for_toml() {
        for (index, setting) in SETTINGS.iter().enumerate() {
            assert!(
                setting
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{}",
                setting.name
            );
            assert!(
                SETTINGS[..index].iter().all(|s| s.name != setting.name),
                "{} twice",
                setting.name
            );
        }
    }

    /// README.md's table lists every setting, in this order, with this default, and nothing
    /// else; docs/configuration.md has a section naming each one's variable, flag and default.
    #[test]
    fn the_docs_list_every_setting_with_its_default() {
        let rows: Vec<(&str, &str)> = README
            .lines()
            .filter_map(|line| {
                let rest = line.strip_prefix("| `")?;
                let (name, rest) = rest.split_once("` | ")?;
                let (default, _) = rest.split_once(" | ")?;
                setting(name).map(|_| (name, default))
            })
            .collect();
        let defaults: Vec<String> = SETTINGS.iter().map(Setting::doc_default).collect();
        let expected: Vec<(&str, &str)> = SETTINGS
            .iter()
            .zip(&defaults)
            .map(|(s, default)| (s.name, default.as_str()))
            .collect();
        assert_eq!(rows, expected, "README.md's settings table");
        let text = CONFIGURATION
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        for setting in SETTINGS {
            let variable = format!("`{}`", setting.env_name());
            let flag = format!("`--{}`", setting.flag_name());
            let default = format!("default {}", setting.doc_default());
            let section = text
                .split("#### ")
                .find(|section| section.contains(&variable))
                .unwrap_or_else(|| panic!("docs/configuration.md: no section with {variable}"));
            assert!(section.contains(&flag), "{}: {flag}", setting.name);
            assert!(
                section.contains(&default),
                "docs/configuration.md, {}: no {default:?}",
                setting.name
            );
        }
    }

    #[test]
    fn every_setting_has_a_flag_with_its_default_in_the_help() {
        use clap::CommandFactory as _;
        let help = crate::cli::Cli::command().render_long_help().to_string();
        for setting in SETTINGS {
            assert!(
                help.contains(&format!("--{}", setting.flag_name())),
                "--help lacks {}",
                setting.name
            );
        }
        assert!(help.contains("[default: 15m]"), "{help}");
    }

    #[test]
    fn an_unknown_setting_is_refused_in_any_layer() {
        let mut layer = Layer::new();
        layer.insert("acces_token_ttl", RawValue::Text("1m".into()));
        let error = crate::config::Config::from_layer(layer).unwrap_err();
        assert_eq!(error.setting, "acces_token_ttl");
        let error =
            check_environment(SETTINGS, ["TOKENAUTH_ACCES_TOKEN_TTL".to_owned()]).unwrap_err();
        assert_eq!(error.setting, "environment");
        assert!(
            error.reason.contains("TOKENAUTH_ACCES_TOKEN_TTL"),
            "{error}"
        );
        for fine in [
            "TOKENAUTH_ACCESS_TOKEN_TTL",
            "TOKENAUTH_MASTER_KEY",
            "TOKENAUTH_CONFIG",
            "TOKENAUTH_TEST_DATABASE_URL",
            "PATH",
        ] {
            check_environment(SETTINGS, [fine.to_owned()]).expect(fine);
        }
        // Lower case is not how a setting's variable is spelt.
        assert!(check_environment(SETTINGS, ["TOKENAUTH_access_token_ttl".to_owned()]).is_err());
    }
}
