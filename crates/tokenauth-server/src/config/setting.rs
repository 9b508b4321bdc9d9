//! What one setting is, and how a list of them reads configuration layers into a typed value:
//! the machinery behind [`super::SETTINGS`], generic over the configuration it fills so that a
//! test can show that a setting defined once gets its flag, variable, TOML key, default, parse
//! and report from that one definition.

use std::collections::BTreeSet;

use super::{ConfigError, Layer, RawValue, invalid};

/// A setting's default: read as if it were given, or derived from other settings.
#[derive(Debug, Clone, Copy)]
pub enum Default {
    /// This text, read by the setting's `apply` before any layer; the docs show it as code.
    Value(&'static str),
    /// This text read as above, shown in the docs as `doc` (`none` for an empty list).
    Shown {
        /// The text read.
        value: &'static str,
        /// What the docs show (Markdown).
        doc: &'static str,
    },
    /// Computed from other settings when not given; `doc` says how (Markdown).
    Derived(&'static str),
}

/// One setting of a configuration `C`.
#[derive(Debug)]
pub struct Setting<C: 'static> {
    /// The name: the TOML key, `TOKENAUTH_<NAME>` in the environment, `--name-with-dashes`.
    pub name: &'static str,
    /// The default.
    pub default: Default,
    /// One line of help for `--help`.
    pub help: &'static str,
    /// Reads a value into the configuration, checking the setting's own bounds; the error is
    /// the reason (the name is added by the caller).
    pub apply: fn(&mut C, RawValue) -> Result<(), String>,
    /// The effective value as `config check` shows it; a value that may hold a secret (the
    /// database URL's password) is masked by its own `Display`.
    pub report: fn(&C) -> String,
}

impl<C> Setting<C> {
    /// The environment variable: `TOKENAUTH_` and the name upper-cased.
    pub fn env_name(&self) -> String {
        format!("TOKENAUTH_{}", self.name.to_ascii_uppercase())
    }

    /// The flag's long name, without the leading dashes: the name with `-` for `_`.
    pub fn flag_name(&self) -> String {
        self.name.replace('_', "-")
    }

    /// The default as the docs state it (Markdown; code in backticks).
    pub fn doc_default(&self) -> String {
        match self.default {
            Default::Value(value) => format!("`{value}`"),
            Default::Shown { doc, .. } | Default::Derived(doc) => doc.to_owned(),
        }
    }

    /// The `--help` line: the help and the default, without Markdown.
    pub fn help_line(&self) -> String {
        format!(
            "{} [default: {}]",
            self.help,
            self.doc_default().replace('`', "")
        )
    }
}

/// The setting of `settings` called `name`, if there is one.
pub fn find<C>(settings: &'static [Setting<C>], name: &str) -> Option<&'static Setting<C>> {
    settings.iter().find(|setting| setting.name == name)
}

/// Reads `layer` into `target`, setting by setting in the order of `settings`: its given value,
/// or else its default when that is a value (a derived default is left to the caller). Returns
/// the names that were given.
///
/// # Errors
/// A name in `layer` that is no setting, or the first value (default or given) its setting
/// refuses, naming the setting.
pub fn apply_layer<C>(
    settings: &'static [Setting<C>],
    target: &mut C,
    mut layer: Layer,
) -> Result<BTreeSet<&'static str>, ConfigError> {
    if let Some(unknown) = layer.keys().find(|name| find(settings, name).is_none()) {
        return Err(invalid(unknown, "no such setting"));
    }
    let given = layer.keys().copied().collect();
    for setting in settings {
        let default = match setting.default {
            Default::Value(value) | Default::Shown { value, .. } => Some(value),
            Default::Derived(_) => None,
        };
        let value = match layer.remove(setting.name) {
            Some(value) => value,
            None => match default {
                Some(text) => RawValue::Text(text.to_owned()),
                None => continue,
            },
        };
        (setting.apply)(target, value).map_err(|reason| invalid(setting.name, reason))?;
    }
    Ok(given)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    //! A setting added in one place — one [`Setting`] — and everything it gets from that.

    use super::*;
    use crate::config::values::count;
    use crate::config::{check_environment, from_env, from_toml, merge};

    #[derive(Default)]
    struct Widgets {
        limit: usize,
    }

    /// The whole definition of the new setting.
    const WIDGET_SETTINGS: &[Setting<Widgets>] = &[Setting {
        name: "widget_limit",
        default: Default::Value("3"),
        help: "Widgets made at once",
        apply: |c, v| count(v).map(|n| c.limit = n),
        report: |c| c.limit.to_string(),
    }];

    fn read(layer: Layer) -> Result<Widgets, ConfigError> {
        let mut widgets = Widgets::default();
        apply_layer(WIDGET_SETTINGS, &mut widgets, layer).map(|_| widgets)
    }

    #[test]
    fn a_new_setting_gets_its_names_help_and_docs_from_its_definition() {
        let setting = &WIDGET_SETTINGS[0];
        assert_eq!(setting.env_name(), "TOKENAUTH_WIDGET_LIMIT");
        assert_eq!(setting.flag_name(), "widget-limit");
        assert_eq!(setting.help_line(), "Widgets made at once [default: 3]");
        assert_eq!(setting.doc_default(), "`3`");
    }

    #[test]
    fn a_new_setting_is_read_from_every_layer_with_its_default_and_precedence() {
        assert_eq!(read(Layer::new()).unwrap().limit, 3, "the default");
        let env = from_env(WIDGET_SETTINGS, |name| {
            (name == "TOKENAUTH_WIDGET_LIMIT").then(|| "5".to_owned())
        });
        let file = from_toml(WIDGET_SETTINGS, "widget_limit = 4").unwrap();
        assert_eq!(read(file.clone()).unwrap().limit, 4, "the file");
        let widgets = read(merge([file, env])).unwrap();
        assert_eq!(widgets.limit, 5, "the environment beats the file");
        assert_eq!((WIDGET_SETTINGS[0].report)(&widgets), "5");
    }

    #[test]
    fn a_new_setting_refuses_bad_values_and_unknown_names_in_every_layer() {
        let bad = Layer::from([("widget_limit", RawValue::Text("many".into()))]);
        let error = read(bad).err().expect("a word is no count");
        assert_eq!(error.setting, "widget_limit");
        assert_eq!(error.reason, "\"many\" is not a whole number");
        let error = from_toml(WIDGET_SETTINGS, "widget_limt = 4").unwrap_err();
        assert!(error.reason.contains("widget_limt"), "{error}");
        let error = read(Layer::from([("widget_limt", RawValue::Text("4".into()))]));
        assert_eq!(error.err().expect("unknown").setting, "widget_limt");
        let variables = ["TOKENAUTH_WIDGET_LIMT".to_owned()];
        assert!(check_environment(WIDGET_SETTINGS, variables).is_err());
        let variables = ["TOKENAUTH_WIDGET_LIMIT".to_owned()];
        assert!(check_environment(WIDGET_SETTINGS, variables).is_ok());
    }
}
