//! What `tokenauth config check` shows: the effective value of every setting (secrets masked)
//! and warnings about choices that work but weaken security.

use std::net::IpAddr;
use std::time::Duration;

use tokenauth_jwt::Algorithm;
use tokenauth_store::sqlite::Synchronous;

use super::duration::format_duration;
use super::{Config, DatabaseUrl, SETTINGS};

/// Longest access-token lifetime that draws no warning: a stolen access token works this long.
const LONG_ACCESS_TTL: Duration = Duration::from_secs(3600);

impl Config {
    /// Every setting with its effective value, in the order of the README's table. The
    /// database URL's password is masked; the master key is never part of the configuration.
    pub fn effective(&self) -> Vec<(&'static str, String)> {
        SETTINGS
            .iter()
            .map(|setting| (setting.name, (setting.report)(self)))
            .collect()
    }

    /// Choices that are valid but weaken security, each as one sentence naming the setting.
    /// (`cors_allowed_origins = *` never gets here: it is refused as invalid.)
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.signing_alg == Algorithm::HS256 {
            warnings.push(
                "signing_alg = HS256: every service that verifies tokens holds the signing secret \
                 and could mint tokens (tokenauth generates 256-bit HS256 keys, so the secret is \
                 never short); prefer ES256 or EdDSA when more than one service verifies"
                    .to_owned(),
            );
        }
        if self.access_token_ttl > LONG_ACCESS_TTL {
            warnings.push(format!(
                "access_token_ttl = {}: over 1 h; a stolen access token works that long for \
                 verifiers that do not follow the revocation feed",
                format_duration(self.access_token_ttl)
            ));
        }
        if self.issuer.starts_with("http://") && !is_local(&self.issuer) {
            warnings.push(format!(
                "issuer = {}: plain http on a non-local host; tokens and cookies travel \
                 unencrypted, and browsers drop the Secure cookies of cookie mode — serve it \
                 over https",
                self.issuer
            ));
        }
        if self.sqlite_synchronous == Synchronous::Normal
            && matches!(self.database, DatabaseUrl::Sqlite(_))
        {
            warnings.push(
                "sqlite_synchronous = normal: an OS crash or power loss may undo the last \
                 acknowledged writes, a logout or a theft revocation among them; use full"
                    .to_owned(),
            );
        }
        let throttling = &self.throttling;
        if throttling.login_max_failures == 0 {
            warnings
                .push("login_max_failures = 0: failed logins never lock an email out".to_owned());
        }
        if throttling.rate_limit_login.is_none() {
            warnings.push(
                "rate_limit_login = off: one address may guess passwords as fast as \
                           the hashing pool answers"
                    .to_owned(),
            );
        }
        warnings
    }
}

/// Whether an `http://` URL names this machine (development).
fn is_local(url: &str) -> bool {
    let rest = url.trim_start_matches("http://");
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority
            .rsplit_once(':')
            .map_or(authority, |(host, _)| host),
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::{Layer, RawValue};

    fn config(settings: &[(&'static str, &str)]) -> Config {
        let mut layer = Layer::new();
        for (name, value) in settings {
            layer.insert(name, RawValue::Text((*value).to_owned()));
        }
        Config::from_layer(layer).unwrap()
    }

    #[test]
    fn defaults_draw_no_warning_and_every_setting_is_shown() {
        let defaults = config(&[]);
        assert!(defaults.warnings().is_empty(), "{:?}", defaults.warnings());
        let names: Vec<_> = defaults.effective().into_iter().map(|(n, _)| n).collect();
        for setting in SETTINGS {
            let name = setting.name;
            assert!(names.contains(&name), "config check does not show {name}");
        }
    }

    #[test]
    fn weak_choices_are_named() {
        let weak = config(&[
            ("signing_alg", "HS256"),
            ("access_token_ttl", "2h"),
            ("refresh_token_ttl", "1d"),
            ("issuer", "http://auth.example.com"),
            ("login_max_failures", "0"),
            ("rate_limit_login", "off"),
            ("sqlite_synchronous", "normal"),
        ]);
        let warnings = weak.warnings().join("\n");
        for setting in [
            "signing_alg",
            "access_token_ttl",
            "issuer",
            "login_max_failures",
            "rate_limit_login",
            "sqlite_synchronous",
        ] {
            assert!(warnings.contains(setting), "{warnings}");
        }
        assert!(
            config(&[("issuer", "http://[::1]:8080")])
                .warnings()
                .is_empty()
        );
        assert!(
            config(&[("issuer", "http://localhost:8080")])
                .warnings()
                .is_empty()
        );
    }

    #[test]
    fn database_passwords_are_masked() {
        let shown = config(&[("database_url", "postgres://app:s3cret@db.example/auth")]);
        let (_, url) = shown
            .effective()
            .into_iter()
            .find(|(name, _)| *name == "database_url")
            .unwrap();
        assert!(!url.contains("s3cret"), "{url}");
    }
}
