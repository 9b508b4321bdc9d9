//! The sources of settings, each read into one shape so precedence is a simple lookup:
//! flag > environment (`TOKENAUTH_<NAME>`) > TOML file > default.

use std::collections::BTreeMap;
use std::path::Path;

use super::ConfigError;

/// Every setting's name, as spelled in TOML (and, upper-cased, after `TOKENAUTH_` in the
/// environment).
pub const SETTINGS: &[&str] = &[
    "listen",
    "database_url",
    "data_dir",
    "issuer",
    "audience",
    "access_token_ttl",
    "refresh_token_ttl",
    "session_max_lifetime",
    "session_idle_timeout",
    "refresh_reuse_grace",
    "signing_alg",
    "key_rotation_interval",
    "clock_leeway",
    "cors_allowed_origins",
    "cookie_mode",
    "jwks_max_age",
    "password_hash_concurrency",
    "password_hash_queue",
    "request_timeout",
    "log_format",
    "metrics",
    "database_max_connections",
    "database_timeout",
    "sqlite_synchronous",
    "revocation_poll_interval",
    "max_connections",
    "max_connections_per_ip",
    "header_read_timeout",
    "idle_timeout",
    "shutdown_timeout",
    "signup_response",
    "login_max_failures",
    "login_lockout_max",
    "rate_limit_login",
    "rate_limit_signup",
    "rate_limit_refresh",
    "trusted_proxies",
    "audit_retention",
    "ended_session_retention",
];

/// A raw value before it is parsed for its setting.
#[derive(Debug, Clone, PartialEq)]
pub enum RawValue {
    /// Text (flags and the environment give only this).
    Text(String),
    /// A TOML array of strings.
    List(Vec<String>),
}

impl RawValue {
    /// The value as a list: a TOML array as is, text split on commas.
    pub fn into_list(self) -> Vec<String> {
        match self {
            RawValue::List(items) => items,
            RawValue::Text(text) => text
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }
}

/// One source's settings, by name.
pub type Layer = BTreeMap<&'static str, RawValue>;

/// Reads the settings from the environment.
pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Layer {
    SETTINGS
        .iter()
        .filter_map(|name| {
            lookup(&format!("TOKENAUTH_{}", name.to_ascii_uppercase()))
                .map(|value| (*name, RawValue::Text(value)))
        })
        .collect()
}

/// Reads the settings from a TOML file. Unknown keys are errors: a misspelt setting must not be
/// silently ignored.
pub fn from_toml_file(path: &Path) -> Result<Layer, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        setting: "config",
        reason: format!("cannot read {}: {e}", path.display()),
    })?;
    from_toml(&text).map_err(|mut error| {
        if error.setting == "config" {
            error.reason = format!("{}: {}", path.display(), error.reason);
        }
        error
    })
}

/// Reads the settings from TOML text.
pub fn from_toml(text: &str) -> Result<Layer, ConfigError> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError {
        setting: "config",
        reason: format!("invalid TOML: {}", e.message()),
    })?;
    let mut layer = Layer::new();
    for (key, value) in table {
        let Some(name) = SETTINGS.iter().copied().find(|name| *name == key) else {
            return Err(ConfigError {
                setting: "config",
                reason: format!("unknown setting {key:?}"),
            });
        };
        let raw = match value {
            toml::Value::String(text) => RawValue::Text(text),
            toml::Value::Integer(number) => RawValue::Text(number.to_string()),
            toml::Value::Boolean(flag) => RawValue::Text(flag.to_string()),
            toml::Value::Array(items) => RawValue::List(
                items
                    .into_iter()
                    .map(|item| match item {
                        toml::Value::String(text) => Ok(text),
                        other => Err(ConfigError {
                            setting: name,
                            reason: format!(
                                "list items must be strings, found {}",
                                other.type_str()
                            ),
                        }),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            other => {
                return Err(ConfigError {
                    setting: name,
                    reason: format!("expected a string, found {}", other.type_str()),
                });
            }
        };
        layer.insert(name, raw);
    }
    Ok(layer)
}

/// Merges layers, later ones taking precedence.
pub fn merge(layers: impl IntoIterator<Item = Layer>) -> Layer {
    let mut merged = Layer::new();
    for layer in layers {
        merged.extend(layer);
    }
    merged
}
