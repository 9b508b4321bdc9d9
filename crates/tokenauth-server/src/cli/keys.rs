//! `tokenauth keys …`: listing, rotating and withdrawing signing keys from the command line.
//!
//! The key policy (signing algorithm, publish lead, retire hold, JWKS max-age) is the serving
//! instances', stored with the keys by `tokenauth serve`; these commands follow it, never their
//! own settings, and refuse (exit 2) when a setting given to them contradicts it. `keys list`
//! only reads.

use std::sync::Arc;

use tokenauth_core::audit::Auditor;
use tokenauth_core::keys::{
    KEY_CHANGE_CHECK_PERIOD, KeyPolicy, KeyState, KeyWithdrawalError, RotationMode, force_rotation,
    withdraw_key,
};
use tokenauth_core::store::{KeyStore, Store};
use tokenauth_core::{Clock, SystemClock, Timestamp};

use crate::bootstrap::{MASTER_KEY_ENV, MASTER_KEY_FILE, load_master_key, open_database};
use crate::cli::args::KeysCommand;
use crate::config::{Config, ConfigError, format_duration};

/// Runs one `keys` command against the configured (existing) database.
///
/// # Errors
/// A [`ConfigError`] (exit 2) for a missing database, a missing master key, no stored key
/// policy, or given settings that contradict it; store and key failures otherwise.
pub async fn run(config: &Config, command: KeysCommand) -> anyhow::Result<()> {
    let store = open_database(config).await?;
    match command {
        KeysCommand::List { json } => print_keys(store.as_ref(), json).await,
        KeysCommand::Rotate { now, json } => rotate(config, store, now, json).await,
        KeysCommand::Withdraw { kid, json } => withdraw(config, store, &kid, json).await,
    }
}

/// The policy stored by the serving instances, checked against the settings given to this
/// command: each given setting that would change it is named (exit 2).
///
/// # Errors
/// A [`ConfigError`] if no policy is stored or a given setting contradicts it.
async fn server_key_policy(store: &dyn KeyStore, config: &Config) -> anyhow::Result<KeyPolicy> {
    let Some(stored) = store.key_policy().await? else {
        return Err(ConfigError {
            setting: "database_url",
            reason: format!(
                "{} holds no key policy yet; start `tokenauth serve` on it once, so that key \
                 commands follow the server's signing_alg and jwks_max_age",
                config.database
            ),
        }
        .into());
    };
    let mine = KeyPolicy::of(&config.auth_settings());
    let contradicting: Vec<_> = stored
        .differences(&mine)
        .into_iter()
        .filter(|difference| {
            difference
                .setting
                .split(" + ")
                .any(|name| config.given.contains(name))
        })
        .collect();
    match contradicting.first() {
        None => Ok(stored),
        Some(first) => Err(ConfigError {
            setting: first.setting,
            reason: format!(
                "contradicts the server's key policy: {}; drop the setting or give the server's \
                 value",
                contradicting
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        }
        .into()),
    }
}

/// `tokenauth keys rotate [--now]`, by the server's policy.
async fn rotate(
    config: &Config,
    store: Arc<dyn Store>,
    now: bool,
    json: bool,
) -> anyhow::Result<()> {
    let policy = server_key_policy(store.as_ref(), config).await?;
    let master = load_existing_master_key(config)?;
    let settings = policy.applied_to(&config.auth_settings());
    let mode = if now {
        RotationMode::Immediate
    } else {
        RotationMode::Scheduled
    };
    let audit = Auditor::new(store.clone());
    let at = SystemClock.now();
    let kid = force_rotation(store.as_ref(), &audit, &master, &settings, at, mode).await?;
    let activate_at = store
        .list_signing_keys()
        .await?
        .into_iter()
        .find(|key| key.kid == kid)
        .map(|key| key.activated_at.unwrap_or(key.activate_at));
    if json {
        println!(
            "{}",
            serde_json::json!({
                "kid": kid,
                "immediate": now,
                "alg": policy.signing_alg.to_string(),
                "signs_from": rfc3339(activate_at),
                "publish_lead_secs": policy.publish_lead.as_secs(),
            })
        );
    } else if now {
        println!("key {kid} ({}) is now signing", policy.signing_alg);
    } else {
        println!(
            "key {kid} ({}) is published and starts signing at {} (the server's publish lead, {})",
            policy.signing_alg,
            rfc3339(activate_at).unwrap_or_default(),
            format_duration(policy.publish_lead)
        );
    }
    Ok(())
}

/// The master key from `TOKENAUTH_MASTER_KEY` or the data directory's existing key file; never
/// generates one (a new key could not open the stored keys).
fn load_existing_master_key(
    config: &Config,
) -> Result<tokenauth_core::master_key::MasterKey, ConfigError> {
    let from_env = std::env::var(MASTER_KEY_ENV).ok();
    let file = config.data_dir.join(MASTER_KEY_FILE);
    if from_env.is_none() && !file.is_file() {
        return Err(ConfigError {
            setting: "master_key",
            reason: format!(
                "{} does not exist and {MASTER_KEY_ENV} is not set; give the server's master key",
                file.display()
            ),
        });
    }
    load_master_key(&config.data_dir, from_env)
}

/// `tokenauth keys withdraw KID`: the active key is refused with the way out; for the others,
/// says how soon running servers and verifiers let go of the key.
async fn withdraw(
    config: &Config,
    store: Arc<dyn Store>,
    kid: &str,
    json: bool,
) -> anyhow::Result<()> {
    let policy = server_key_policy(store.as_ref(), config).await?;
    let audit = Auditor::new(store.clone());
    let state = match withdraw_key(store.as_ref(), &audit, kid, SystemClock.now()).await {
        Ok(state) => state,
        Err(KeyWithdrawalError::Active(_)) => anyhow::bail!(
            "key {kid} is the active signing key and cannot be withdrawn; run \
             `tokenauth keys rotate --now` first (a new key signs at once and {kid} is retired), \
             then `tokenauth keys withdraw {kid}`"
        ),
        Err(KeyWithdrawalError::Unknown(_)) => {
            anyhow::bail!("no signing key {kid} (see `tokenauth keys list`)")
        }
        Err(error) => return Err(error.into()),
    };
    let servers = KEY_CHANGE_CHECK_PERIOD;
    let jwks_max_age = policy.jwks_max_age;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "kid": kid,
                "withdrawn": true,
                "previous_state": state.as_str(),
                "servers_refuse_within_secs": servers.as_secs_f64(),
                "jwks_max_age_secs": jwks_max_age.as_secs(),
            })
        );
    } else {
        println!(
            "key {kid} ({state}) is withdrawn: it is no longer published, running servers refuse \
             its tokens within {}, verifiers that follow the revocation feed drop it at once, and \
             the others at their next JWKS refresh (jwks_max_age {})",
            format_duration(servers),
            format_duration(jwks_max_age)
        );
    }
    Ok(())
}

/// A stored time as RFC 3339.
fn rfc3339(t: Option<Timestamp>) -> Option<String> {
    t.and_then(|t| jiff::Timestamp::from_millisecond(t.as_millis()).ok())
        .map(|t| t.to_string())
}

/// `tokenauth keys list`: reads the stored keys, changes nothing.
async fn print_keys(store: &dyn KeyStore, json: bool) -> anyhow::Result<()> {
    let keys = store.list_signing_keys().await?;
    if json {
        let rows: Vec<_> = keys
            .iter()
            .map(|k| {
                serde_json::json!({
                    "kid": k.kid, "alg": k.alg.to_string(), "state": k.state.as_str(),
                    "created_at": rfc3339(Some(k.created_at)), "activate_at": rfc3339(Some(k.activate_at)),
                    "activated_at": rfc3339(k.activated_at), "retired_at": rfc3339(k.retired_at),
                    "publish_until": rfc3339(k.publish_until),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!(
            "{:<18} {:<6} {:<8} {:<30} UNTIL",
            "KID", "ALG", "STATE", "CREATED"
        );
        for k in &keys {
            let until = match k.state {
                KeyState::Next => rfc3339(Some(k.activate_at)).map(|t| format!("signs from {t}")),
                KeyState::Active => Some("signing".to_owned()),
                KeyState::Retired => {
                    rfc3339(k.publish_until).map(|t| format!("published until {t}"))
                }
            };
            println!(
                "{:<18} {:<6} {:<8} {:<30} {}",
                k.kid,
                k.alg.to_string(),
                k.state.as_str(),
                rfc3339(Some(k.created_at)).unwrap_or_default(),
                until.unwrap_or_default()
            );
        }
    }
    Ok(())
}
