//! The sources of settings, each read into one shape so precedence is a simple lookup:
//! flag > environment (`TOKENAUTH_<NAME>`) > TOML file > default.

use std::collections::BTreeMap;
use std::path::Path;

use super::ConfigError;
use super::setting::{Setting, find};

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

/// Reads `settings` from the environment.
pub fn from_env<C>(
    settings: &'static [Setting<C>],
    lookup: impl Fn(&str) -> Option<String>,
) -> Layer {
    settings
        .iter()
        .filter_map(|setting| {
            lookup(&setting.env_name()).map(|value| (setting.name, RawValue::Text(value)))
        })
        .collect()
}

/// Reads `settings` from a TOML file. Unknown keys are errors: a misspelt setting must not be
/// silently ignored.
pub fn from_toml_file<C>(
    settings: &'static [Setting<C>],
    path: &Path,
) -> Result<Layer, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        setting: "config",
        reason: format!("cannot read {}: {e}", path.display()),
    })?;
    from_toml(settings, &text).map_err(|mut error| {
        if error.setting == "config" {
            error.reason = format!("{}: {}", path.display(), error.reason);
        }
        error
    })
}

/// Reads `settings` from TOML text; unknown keys are errors.
pub fn from_toml<C>(settings: &'static [Setting<C>], text: &str) -> Result<Layer, ConfigError> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError {
        setting: "config",
        reason: format!("invalid TOML: {}", e.message()),
    })?;
    let mut layer = Layer::new();
    for (key, value) in table {
        let Some(name) = find(settings, &key).map(|setting| setting.name) else {
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

/// Variables named `TOKENAUTH_…` that are not settings but are read by tokenauth or its
/// tooling: the file and the master key, the deployment scripts' binary path
/// (docs/deployment.md), and the test suite's own (`TOKENAUTH_TEST_…`, the browser test's
/// screenshot path).
const OTHER_VARIABLES: [&str; 4] = [
    "TOKENAUTH_CONFIG",
    "TOKENAUTH_MASTER_KEY",
    "TOKENAUTH_BIN",
    "TOKENAUTH_UI_SCREENSHOT",
];

/// Refuses a `TOKENAUTH_…` variable among `variables` that names none of `settings` (a misspelt
/// `TOKENAUTH_ACCES_TOKEN_TTL` must not be silently ignored), except the [`OTHER_VARIABLES`]
/// and the test suite's `TOKENAUTH_TEST_…`.
///
/// # Errors
/// The first unknown variable, as a [`ConfigError`] of the setting `environment`.
pub fn check_environment<C>(
    settings: &'static [Setting<C>],
    variables: impl IntoIterator<Item = String>,
) -> Result<(), ConfigError> {
    for variable in variables {
        let Some(name) = variable.strip_prefix("TOKENAUTH_") else {
            continue;
        };
        let known = find(settings, &name.to_ascii_lowercase())
            .is_some_and(|setting| setting.env_name() == variable)
            || OTHER_VARIABLES.contains(&variable.as_str())
            || name.starts_with("TEST_");
        if !known {
            return Err(ConfigError {
                setting: "environment",
                reason: format!("{variable} names no setting (see tokenauth --help)"),
            });
        }
    }
    Ok(())
}
