//! Every setting of the server, defined once: its name (the TOML key; upper-cased after
//! `TOKENAUTH_` in the environment; with dashes as the `--flag`), its default as the docs state
//! it, its help line, and how `config check` shows its effective value (secrets masked). The
//! flags, the environment's and the file's accepted names, the `--help` text, the `config
//! check` report, and the test that holds README.md's table and docs/configuration.md to this
//! list all come from [`SETTINGS`]. Parsing and the checks
//! between settings are in [`super::Config::from_layer`].

use super::Config;
use super::duration::format_duration;
use crate::http::rate_limit::Rate;

/// One setting.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// The name: the TOML key, `TOKENAUTH_<NAME>` in the environment, `--name-with-dashes`.
    pub name: &'static str,
    /// The default as README.md's table states it (Markdown; code in backticks).
    pub default: &'static str,
    /// One line of help for `--help`.
    pub help: &'static str,
    /// The effective value as `config check` shows it; a value that may hold a secret (the
    /// database URL's password) is masked by its own `Display`.
    pub report: fn(&Config) -> String,
}

impl Setting {
    /// The environment variable: `TOKENAUTH_` and the name upper-cased.
    pub fn env_name(&self) -> String {
        format!("TOKENAUTH_{}", self.name.to_ascii_uppercase())
    }

    /// The flag's long name, without the leading dashes: the name with `-` for `_`.
    pub fn flag_name(&self) -> String {
        self.name.replace('_', "-")
    }

    /// The `--help` line: the help and the default, without Markdown.
    pub fn help_line(&self) -> String {
        format!("{} [default: {}]", self.help, self.default.replace('`', ""))
    }
}

/// The setting called `name`, if there is one.
pub fn setting(name: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|setting| setting.name == name)
}

/// A rate limit as shown: `N/s`, or `off`.
fn rate(rate: Option<Rate>) -> String {
    rate.map_or_else(|| "off".to_owned(), |rate| rate.to_string())
}

/// Every setting, in the order of README.md's table and of `config check`.
pub const SETTINGS: &[Setting] = &[
    Setting {
        name: "listen",
        default: "`127.0.0.1:8080`",
        help: "Address to listen on",
        report: |c| c.listen.to_string(),
    },
    Setting {
        name: "data_dir",
        default: "`./tokenauth-data`",
        help: "Directory for the database and master key",
        report: |c| c.data_dir.display().to_string(),
    },
    Setting {
        name: "database_url",
        default: "`sqlite://<data_dir>/tokenauth.db`",
        help: "The database: sqlite://PATH or postgres://user:pass@host/db",
        report: |c| c.database.to_string(),
    },
    Setting {
        name: "database_max_connections",
        default: "`16`",
        help: "PostgreSQL connections per instance",
        report: |c| c.database_max_connections.to_string(),
    },
    Setting {
        name: "database_timeout",
        default: "`5s`",
        help: "Longest any database call may take, then 503",
        report: |c| format_duration(c.database_timeout),
    },
    Setting {
        name: "sqlite_synchronous",
        default: "`full`",
        help: "SQLite commit durability: full (survives power loss) or normal (survives a process crash)",
        report: |c| c.sqlite_synchronous.as_str().to_owned(),
    },
    Setting {
        name: "issuer",
        default: "`http://<listen>`",
        help: "Token issuer URL",
        report: |c| c.issuer.clone(),
    },
    Setting {
        name: "audience",
        default: "the issuer",
        help: "Audience of access tokens",
        report: |c| c.audience.clone(),
    },
    Setting {
        name: "access_token_ttl",
        default: "`15m`",
        help: "Access token lifetime",
        report: |c| format_duration(c.access_token_ttl),
    },
    Setting {
        name: "refresh_token_ttl",
        default: "`30d`",
        help: "Refresh token lifetime",
        report: |c| format_duration(c.refresh_token_ttl),
    },
    Setting {
        name: "session_max_lifetime",
        default: "`90d`",
        help: "Absolute end of a session after its creation",
        report: |c| format_duration(c.session_max_lifetime),
    },
    Setting {
        name: "session_idle_timeout",
        default: "`refresh_token_ttl`",
        help: "A session unused this long ends",
        report: |c| format_duration(c.session_idle_timeout),
    },
    Setting {
        name: "refresh_reuse_grace",
        default: "`10s`",
        help: "Grace window for a retried refresh",
        report: |c| format_duration(c.refresh_reuse_grace),
    },
    Setting {
        name: "signing_alg",
        default: "`ES256`",
        help: "ES256, EdDSA, RS256 or HS256",
        report: |c| c.signing_alg.as_str().to_owned(),
    },
    Setting {
        name: "key_rotation_interval",
        default: "`7d`",
        help: "Signing key rotation interval",
        report: |c| format_duration(c.key_rotation_interval),
    },
    Setting {
        name: "clock_leeway",
        default: "`10s`",
        help: "Tolerated clock skew for exp/nbf",
        report: |c| format_duration(c.clock_leeway),
    },
    Setting {
        name: "jwks_max_age",
        default: "`5m`",
        help: "Cache lifetime of the JWKS document",
        report: |c| format_duration(c.jwks_max_age),
    },
    Setting {
        name: "cors_allowed_origins",
        default: "none",
        help: "Comma-separated browser origins allowed to call the API",
        report: |c| c.cors_allowed_origins.join(","),
    },
    Setting {
        name: "cookie_mode",
        default: "`on`",
        help: "Browser cookie mode: on or off",
        report: |c| c.cookie_mode.as_str().to_owned(),
    },
    Setting {
        name: "password_hash_concurrency",
        default: "CPU cores − 1 (at least 1)",
        help: "Password hashes run at once",
        report: |c| c.password_hash_concurrency.to_string(),
    },
    Setting {
        name: "password_hash_queue",
        default: "`64`",
        help: "Password hashes that may wait before 503",
        report: |c| c.password_hash_queue.to_string(),
    },
    Setting {
        name: "signup_response",
        default: "`distinct`",
        help: "distinct (409 for a taken email) or uniform (202 either way)",
        report: |c| c.signup_response.as_str().to_owned(),
    },
    Setting {
        name: "max_connections",
        default: "`10000`",
        help: "Client connections open at once",
        report: |c| c.max_connections.to_string(),
    },
    Setting {
        name: "max_connections_per_ip",
        default: "`256`",
        help: "Client connections one address may hold open; 0 = no limit; trusted proxies exempt",
        report: |c| c.connections.max_connections_per_ip.to_string(),
    },
    Setting {
        name: "header_read_timeout",
        default: "`10s`",
        help: "Longest a client may take to send a request head",
        report: |c| format_duration(c.connections.header_read_timeout),
    },
    Setting {
        name: "idle_timeout",
        default: "`75s`",
        help: "Longest a keep-alive connection may sit idle between requests",
        report: |c| format_duration(c.connections.idle_timeout),
    },
    Setting {
        name: "shutdown_timeout",
        default: "`10s`",
        help: "Longest a stop waits for open connections before closing them",
        report: |c| format_duration(c.connections.shutdown_timeout),
    },
    Setting {
        name: "request_timeout",
        default: "`30s`",
        help: "Longest a request may take",
        report: |c| format_duration(c.request_timeout),
    },
    Setting {
        name: "revocation_poll_interval",
        default: "`250ms`",
        help: "How often to read revocations made elsewhere",
        report: |c| format_duration(c.revocation_poll_interval),
    },
    Setting {
        name: "log_format",
        default: "`text`",
        help: "text or json",
        report: |c| c.log_format.as_str().to_owned(),
    },
    Setting {
        name: "metrics",
        default: "`on`",
        help: "Prometheus metrics at GET /metrics: on or off",
        report: |c| if c.metrics { "on" } else { "off" }.to_owned(),
    },
    Setting {
        name: "login_max_failures",
        default: "`5`",
        help: "Failed logins that lock an email out; 0 = off",
        report: |c| c.throttling.login_max_failures.to_string(),
    },
    Setting {
        name: "login_lockout_max",
        default: "`15m`",
        help: "Longest login lock-out (the first is 30s, doubling)",
        report: |c| format_duration(c.throttling.login_lockout_max),
    },
    Setting {
        name: "rate_limit_login",
        default: "`10/s`",
        help: "Password checks (login, password change, account deletion) per client IP, e.g. 10/s, 30/m, or off",
        report: |c| rate(c.throttling.rate_limit_login),
    },
    Setting {
        name: "rate_limit_signup",
        default: "`60/m`",
        help: "Sign-ups per client IP, e.g. 60/m, or off",
        report: |c| rate(c.throttling.rate_limit_signup),
    },
    Setting {
        name: "rate_limit_refresh",
        default: "`10000/s`",
        help: "Refreshes per client IP, e.g. 10000/s, or off",
        report: |c| rate(c.throttling.rate_limit_refresh),
    },
    Setting {
        name: "trusted_proxies",
        default: "none",
        help: "Comma-separated proxy IPs/CIDRs whose X-Forwarded-For is believed",
        report: |c| format!("{:?}", c.throttling.trusted_proxies),
    },
    Setting {
        name: "audit_retention",
        default: "`90d`",
        help: "How long audit events are kept",
        report: |c| format_duration(c.audit_retention),
    },
    Setting {
        name: "ended_session_retention",
        default: "`7d`",
        help: "How long expired or revoked sessions are kept",
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
        let expected: Vec<(&str, &str)> = SETTINGS.iter().map(|s| (s.name, s.default)).collect();
        assert_eq!(rows, expected, "README.md's settings table");
        let text = CONFIGURATION
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        for setting in SETTINGS {
            let variable = format!("`{}`", setting.env_name());
            let flag = format!("`--{}`", setting.flag_name());
            let default = format!("default {}", setting.default);
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
        let error = check_environment(["TOKENAUTH_ACCES_TOKEN_TTL".to_owned()]).unwrap_err();
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
            check_environment([fine.to_owned()]).expect(fine);
        }
        // Lower case is not how a setting's variable is spelt.
        assert!(check_environment(["TOKENAUTH_access_token_ttl".to_owned()]).is_err());
    }
}
