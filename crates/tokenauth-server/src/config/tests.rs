use super::*;

fn flags(pairs: &[(&'static str, &str)]) -> Layer {
    pairs
        .iter()
        .map(|(k, v)| (*k, RawValue::Text((*v).to_owned())))
        .collect()
}

#[test]
fn defaults_follow_the_contract() {
    let config = Config::defaults();
    assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(config.issuer, "http://127.0.0.1:8080");
    assert_eq!(config.audience, config.issuer);
    assert_eq!(
        config.database,
        DatabaseUrl::Sqlite(PathBuf::from("./tokenauth-data/tokenauth.db"))
    );
    assert_eq!(config.access_token_ttl, Duration::from_secs(900));
    assert_eq!(config.refresh_token_ttl, Duration::from_secs(30 * 86_400));
    assert_eq!(config.refresh_reuse_grace, Duration::from_secs(10));
    assert_eq!(config.signing_alg, Algorithm::ES256);
    assert_eq!(
        config.key_rotation_interval,
        Duration::from_secs(7 * 86_400)
    );
    assert_eq!(config.clock_leeway, Duration::from_secs(10));
    assert!(config.metrics);
}

#[test]
fn metrics_can_be_switched_off() {
    for (value, on) in [
        ("on", true),
        ("off", false),
        ("true", true),
        ("false", false),
    ] {
        let config = Config::from_layer(flags(&[("metrics", value)])).expect(value);
        assert_eq!(config.metrics, on, "{value}");
    }
}

#[test]
fn issuer_follows_listen_when_unset() {
    let config = Config::from_layer(flags(&[("listen", "127.0.0.1:9999")])).expect("valid");
    assert_eq!(config.issuer, "http://127.0.0.1:9999");
}

#[test]
fn precedence_is_flag_then_env_then_file_then_default() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("tokenauth.toml");
    std::fs::write(
        &file,
        "access_token_ttl = \"1m\"\nrefresh_reuse_grace = \"3s\"\nclock_leeway = \"4s\"\n\
         cors_allowed_origins = [\"https://a.example\", \"https://b.example\"]\n",
    )
    .expect("write");
    let env = |name: &str| match name {
        "TOKENAUTH_ACCESS_TOKEN_TTL" => Some("2m".to_owned()),
        "TOKENAUTH_REFRESH_REUSE_GRACE" => Some("5s".to_owned()),
        _ => None,
    };
    let config =
        Config::resolve(flags(&[("access_token_ttl", "3m")]), Some(&file), env).expect("valid");
    assert_eq!(
        config.access_token_ttl,
        Duration::from_secs(180),
        "flag wins"
    );
    assert_eq!(
        config.refresh_reuse_grace,
        Duration::from_secs(5),
        "env beats file"
    );
    assert_eq!(
        config.clock_leeway,
        Duration::from_secs(4),
        "file beats default"
    );
    assert_eq!(
        config.cors_allowed_origins,
        ["https://a.example", "https://b.example"]
    );
}

#[test]
fn lists_are_comma_separated_in_flags_and_env() {
    let config = Config::from_layer(flags(&[(
        "cors_allowed_origins",
        "https://a.example, http://localhost:3000",
    )]))
    .expect("valid");
    assert_eq!(
        config.cors_allowed_origins,
        ["https://a.example", "http://localhost:3000"]
    );
}

#[test]
fn bad_settings_name_the_setting() {
    let cases: &[(&'static str, &str)] = &[
        ("listen", "nowhere"),
        ("access_token_ttl", "15"),
        ("access_token_ttl", "0s"),
        ("refresh_token_ttl", "forever"),
        ("signing_alg", "none"),
        ("signing_alg", "es256"),
        ("issuer", "ftp://x"),
        ("database_url", "mysql://x"),
        ("cors_allowed_origins", "*"),
        ("cookie_mode", "sometimes"),
        ("clock_leeway", "1h"),
        ("password_hash_concurrency", "0"),
        ("log_format", "xml"),
        ("metrics", "maybe"),
        ("login_max_failures", "-1"),
        ("login_max_failures", "1001"),
        ("login_lockout_max", "0s"),
        ("login_lockout_max", "2d"),
        ("rate_limit_login", "10"),
        ("rate_limit_signup", "0/s"),
        ("rate_limit_refresh", "fast"),
        ("trusted_proxies", "proxy.internal"),
        ("trusted_proxies", "10.0.0.0/33"),
    ];
    for (setting, value) in cases {
        let error = Config::from_layer(flags(&[(setting, value)])).expect_err(value);
        assert_eq!(error.setting, *setting, "{value}");
        assert!(
            error
                .to_string()
                .starts_with(&format!("invalid configuration: {setting}: "))
        );
    }
}

#[test]
fn unknown_toml_keys_and_wrong_types_are_errors() {
    assert_eq!(
        from_toml(SETTINGS, "acess_token_ttl = \"1m\"")
            .expect_err("typo")
            .setting,
        "config"
    );
    assert_eq!(
        from_toml(SETTINGS, "listen = [1]")
            .expect_err("type")
            .setting,
        "listen"
    );
    assert_eq!(
        from_toml(SETTINGS, "listen = {a = 1}")
            .expect_err("type")
            .setting,
        "listen"
    );
    assert_eq!(
        from_toml(SETTINGS, "not toml").expect_err("syntax").setting,
        "config"
    );
}

#[test]
fn refresh_must_outlive_access() {
    let error = Config::from_layer(flags(&[
        ("access_token_ttl", "2h"),
        ("refresh_token_ttl", "1h"),
    ]))
    .expect_err("invalid");
    assert_eq!(error.setting, "refresh_token_ttl");
}

#[test]
fn session_lifetimes_default_and_are_checked_against_the_token_lifetimes() {
    let defaults = Config::from_layer(Layer::new()).expect("valid");
    assert_eq!(
        defaults.session_max_lifetime,
        Duration::from_secs(90 * 86_400)
    );
    assert_eq!(defaults.session_idle_timeout, defaults.refresh_token_ttl);
    let follows = Config::from_layer(flags(&[("refresh_token_ttl", "2d")])).expect("valid");
    assert_eq!(
        follows.session_idle_timeout,
        Duration::from_secs(2 * 86_400)
    );
    let set = Config::from_layer(flags(&[
        ("session_idle_timeout", "1h"),
        ("session_max_lifetime", "30m"),
    ]))
    .expect("a max lifetime shorter than the idle timeout is allowed");
    assert_eq!(
        set.auth_settings().idle_timeout(),
        Duration::from_secs(3600)
    );
    assert_eq!(set.session_max_lifetime, Duration::from_secs(1800));
    for (settings, setting) in [
        (
            &[("session_idle_timeout", "31d")][..],
            "session_idle_timeout",
        ),
        (
            &[("session_idle_timeout", "1m")][..],
            "session_idle_timeout",
        ),
        (
            &[("session_max_lifetime", "10m")][..],
            "session_max_lifetime",
        ),
        (
            &[("session_max_lifetime", "0s")][..],
            "session_max_lifetime",
        ),
        (
            &[("session_max_lifetime", "never")][..],
            "session_max_lifetime",
        ),
    ] {
        let error = Config::from_layer(flags(settings)).expect_err("invalid");
        assert_eq!(error.setting, setting, "{settings:?}");
    }
}

#[test]
fn pool_settings_are_settings_like_any_other() {
    let config = Config::from_layer(flags(&[
        ("database_max_connections", "4"),
        ("database_timeout", "2s"),
    ]))
    .expect("valid");
    assert_eq!(config.database_max_connections, 4);
    assert_eq!(config.database_timeout, Duration::from_secs(2));
    let env = |name: &str| (name == "TOKENAUTH_DATABASE_MAX_CONNECTIONS").then(|| "8".to_owned());
    let config = Config::resolve(Layer::new(), None, env).expect("valid");
    assert_eq!(config.database_max_connections, 8);
}

#[test]
fn sqlite_synchronous_defaults_to_full_and_takes_normal() {
    use tokenauth_store::sqlite::Synchronous;

    assert_eq!(Config::defaults().sqlite_synchronous, Synchronous::Full);
    for (text, mode) in [
        ("full", Synchronous::Full),
        ("normal", Synchronous::Normal),
        ("NORMAL", Synchronous::Normal),
    ] {
        let config = Config::from_layer(flags(&[("sqlite_synchronous", text)])).expect("valid");
        assert_eq!(config.sqlite_synchronous, mode, "{text}");
    }
    let env = |name: &str| (name == "TOKENAUTH_SQLITE_SYNCHRONOUS").then(|| "normal".to_owned());
    let config = Config::resolve(Layer::new(), None, env).expect("valid");
    assert_eq!(config.sqlite_synchronous, Synchronous::Normal);
    for bad in ["off", "extra", "2", ""] {
        let error = Config::from_layer(flags(&[("sqlite_synchronous", bad)])).expect_err("invalid");
        assert_eq!(error.setting, "sqlite_synchronous", "{bad:?}");
    }
}

#[test]
fn throttling_defaults_and_settings() {
    let defaults = Config::defaults().throttling;
    assert_eq!(defaults.login_max_failures, 5);
    assert_eq!(defaults.login_lockout_max, Duration::from_secs(900));
    let shown = |rate: Option<crate::http::rate_limit::Rate>| rate.map(|r| r.to_string());
    assert_eq!(shown(defaults.rate_limit_login).as_deref(), Some("10/s"));
    assert_eq!(shown(defaults.rate_limit_signup).as_deref(), Some("60/m"));
    assert_eq!(
        shown(defaults.rate_limit_refresh).as_deref(),
        Some("10000/s")
    );
    assert!(defaults.trusted_proxies.is_empty());
    assert_eq!(
        Config::defaults().auth_settings().login_lockout,
        tokenauth_core::throttle::LockoutPolicy::default()
    );

    let config = Config::from_layer(flags(&[
        ("login_max_failures", "0"),
        ("login_lockout_max", "1h"),
        ("rate_limit_login", "off"),
        ("rate_limit_signup", "30/h"),
        ("trusted_proxies", "127.0.0.1, 10.0.0.0/8"),
    ]))
    .expect("valid");
    let throttling = &config.throttling;
    assert_eq!(throttling.login_max_failures, 0);
    assert!(!config.auth_settings().login_lockout.enabled());
    assert_eq!(
        config.auth_settings().login_lockout.max_lockout,
        Duration::from_secs(3600)
    );
    assert_eq!(throttling.rate_limit_login, None);
    assert_eq!(shown(throttling.rate_limit_signup).as_deref(), Some("30/h"));
    assert!(
        throttling
            .trusted_proxies
            .contains("10.9.8.7".parse().expect("ip"))
    );
    let toml =
        from_toml(SETTINGS, "trusted_proxies = [\"::1\", \"192.168.0.0/16\"]").expect("toml");
    let config = Config::from_layer(toml).expect("valid");
    assert!(
        config
            .throttling
            .trusted_proxies
            .contains("192.168.4.4".parse().expect("ip"))
    );
}

#[test]
fn retention_settings_have_defaults_and_lower_bounds() {
    let config = Config::defaults();
    assert_eq!(config.audit_retention, Duration::from_secs(90 * 86_400));
    assert_eq!(
        config.ended_session_retention,
        Duration::from_secs(7 * 86_400)
    );
    let set = Config::from_layer(flags(&[
        ("audit_retention", "365d"),
        ("ended_session_retention", "1h"),
    ]))
    .expect("valid");
    assert_eq!(set.audit_retention, Duration::from_secs(365 * 86_400));
    assert_eq!(
        set.auth_settings().ended_session_retention,
        Duration::from_secs(3600)
    );
    for (name, value) in [
        ("audit_retention", "30m"),
        ("ended_session_retention", "10s"),
    ] {
        let error = Config::from_layer(flags(&[(name, value)])).expect_err(value);
        assert_eq!(error.setting, name);
    }
}

#[test]
fn connection_defaults_and_settings() {
    let defaults = Config::defaults().connections;
    assert_eq!(defaults.header_read_timeout, Duration::from_secs(10));
    assert_eq!(defaults.idle_timeout, Duration::from_secs(75));
    assert_eq!(defaults.max_connections_per_ip, 256);
    assert_eq!(defaults.shutdown_timeout, Duration::from_secs(10));
    let config = Config::from_layer(flags(&[
        ("header_read_timeout", "1s"),
        ("idle_timeout", "2s"),
        ("max_connections_per_ip", "0"),
        ("shutdown_timeout", "0s"),
    ]))
    .expect("valid");
    assert_eq!(
        config.connections.header_read_timeout,
        Duration::from_secs(1)
    );
    assert_eq!(config.connections.idle_timeout, Duration::from_secs(2));
    assert_eq!(config.connections.max_connections_per_ip, 0);
    assert_eq!(config.connections.shutdown_timeout, Duration::ZERO);
    for (name, value) in [
        ("header_read_timeout", "10ms"),
        ("idle_timeout", "0s"),
        ("max_connections_per_ip", "-1"),
        ("shutdown_timeout", "soon"),
    ] {
        let error = Config::from_layer(flags(&[(name, value)])).expect_err(value);
        assert_eq!(error.setting, name);
    }
}
