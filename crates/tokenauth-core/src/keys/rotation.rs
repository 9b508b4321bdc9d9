//! The key rotation schedule, applied by [`KeyManager::maintain`] on every instance. Each step is
//! a conditional write (the store allows one `next` and one `active` key), so when several
//! instances maintain at once exactly one of them wins each step and the others reload.
//!
//! Life of a key: generated as `next` and published at once; becomes `active` at `activate_at`,
//! at least [`AuthSettings::key_publish_lead`] later, so every JWKS cache has seen it before it
//! signs; `retired` when its successor activates, still published for
//! [`AuthSettings::key_retire_hold`] (the longest a token it signed can live); then deleted. An
//! operator may withdraw a `next` or `retired` key earlier ([`KeyManager::withdraw`]); every instance follows such changes made elsewhere within
//! [`KEY_CHANGE_CHECK_PERIOD`].
//!
//! An instance never makes a key of another algorithm than its own `signing_alg` the signing
//! one: a pending `next` key of another algorithm is replaced by one of its own (it has never
//! signed, so nothing depends on it), and a key of another algorithm made active elsewhere is
//! not put in force (the previous signer keeps signing until the instance's own key takes
//! over). [`KeyManager::start`] stores the instance's [`KeyPolicy`] with the keys, so that the
//! CLI's key commands follow it.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use aws_lc_rs::rand;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tokenauth_jwt::{Algorithm, SigningKey, TokenCache};

use crate::audit::{AuditEvent, AuditKind, Auditor};
use crate::clock::{Clock, Timestamp};
use crate::keys::keyring::{Keyring, KeyringError};
use crate::keys::policy::KeyPolicy;
use crate::keys::record::{KeyState, SigningKeyRecord};
use crate::keys::withdrawal::{KeyWithdrawalError, withdraw_key};
use crate::master_key::MasterKey;
use crate::settings::AuthSettings;
use crate::store::{KeyStore, StoreError};

/// Why key maintenance failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyRotationError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Stored keys cannot be used.
    #[error(transparent)]
    Keyring(#[from] KeyringError),
    /// A key could not be generated or sealed.
    #[error("key generation failed: {0}")]
    Generate(String),
}

/// How a forced rotation treats caches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationMode {
    /// Publish a new key now and let it sign after the publish lead (the safe default).
    Scheduled,
    /// Make a new key sign at once (e.g. the active key leaked). Verifiers whose JWKS cache is
    /// older than the new key refetch on the unknown kid.
    Immediate,
}

/// Owns the live [`Keyring`] and keeps the stored keys on schedule.
pub struct KeyManager {
    store: Arc<dyn KeyStore>,
    /// Where `key_rotated` events go.
    audit: Auditor,
    master: Arc<MasterKey>,
    settings: AuthSettings,
    clock: Arc<dyn Clock>,
    keyring: ArcSwap<Keyring>,
    /// Access tokens this instance has checked in full and found good, so that a client
    /// presenting its token again costs no signature check. Cleared whenever a key is withdrawn
    /// from the keyring, so a cached token is never accepted after its key is gone.
    verified_tokens: TokenCache,
    /// Serialises maintenance passes, so a pass that read the keys earlier can never replace
    /// the keyring built by a pass that read them later.
    maintaining: tokio::sync::Mutex<()>,
    /// When a token with an unknown kid last made us reload (rate limit).
    last_unknown_kid_reload: std::sync::Mutex<Option<std::time::Instant>>,
}

/// Tokens the verified-token cache holds: a client reusing its access token for many requests
/// is checked once. About 1 KiB each (the token and its claims): ~8 MiB when full.
const VERIFIED_TOKEN_CACHE: usize = 8192;

/// Least time between two reloads caused by tokens with unknown kids: another instance's new key
/// is picked up at once, while a flood of forged kids costs one key read per interval.
const UNKNOWN_KID_RELOAD_INTERVAL: Duration = Duration::from_secs(1);

impl KeyManager {
    /// Brings the stored keys on schedule (creating the first key on a fresh database) and loads
    /// them. Every key this manager makes the signing one (a scheduled step or a forced
    /// rotation, not the first key of a fresh database) is recorded as `key_rotated` through
    /// `audit`.
    ///
    /// # Errors
    /// Store failures, undecryptable keys (a wrong master key), or key generation failures.
    pub async fn start(
        store: Arc<dyn KeyStore>,
        audit: Auditor,
        master: Arc<MasterKey>,
        settings: AuthSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, KeyRotationError> {
        let now = clock.now();
        store
            .store_key_policy(&KeyPolicy::of(&settings), now)
            .await?;
        let records = apply_schedule(store.as_ref(), &audit, &master, &settings, now).await?;
        let keyring = Keyring::from_records(&records, &master, now)?;
        Ok(Self {
            store,
            audit,
            master,
            settings,
            clock,
            keyring: ArcSwap::from_pointee(keyring),
            verified_tokens: TokenCache::new(VERIFIED_TOKEN_CACHE),
            maintaining: tokio::sync::Mutex::new(()),
            last_unknown_kid_reload: std::sync::Mutex::new(None),
        })
    }

    /// The current keyring (cheap: an atomic pointer load).
    pub fn keyring(&self) -> Arc<Keyring> {
        self.keyring.load_full()
    }

    /// Access tokens verified in full with the keys in force (see [`TokenCache`]); emptied
    /// whenever a key is withdrawn.
    pub fn verified_tokens(&self) -> &TokenCache {
        &self.verified_tokens
    }

    /// Puts `keyring` in force; forgets every verified token if a key that could verify is
    /// gone from it. A keyring whose signer is a new key of another algorithm than this
    /// instance's (made active elsewhere) is not put in force: see [`signer_is_acceptable`].
    fn install(&self, keyring: Keyring) {
        let current = self.keyring.load();
        if !signer_is_acceptable(&current, &keyring, self.settings.signing_alg) {
            tracing::error!(
                kid = keyring.signer().kid(),
                alg = %keyring.signer().alg(),
                own = %self.settings.signing_alg,
                "a key of another algorithm was made active elsewhere; it is not used here"
            );
            return;
        }
        drop(current);
        let new = Arc::new(keyring);
        let old = self.keyring.swap(Arc::clone(&new));
        let withdrawn = old
            .verifiers()
            .kids()
            .any(|kid| new.verifiers().get(kid).is_none());
        if withdrawn {
            self.verified_tokens.clear();
        }
    }

    /// Applies the schedule once and reloads the keyring if the stored keys changed. Returns
    /// whether the keyring changed.
    ///
    /// # Errors
    /// As [`KeyManager::start`]; the previous keyring stays in use on error.
    pub async fn maintain(&self) -> Result<bool, KeyRotationError> {
        let _one_at_a_time = self.maintaining.lock().await;
        let now = self.clock.now();
        let records = apply_schedule(
            self.store.as_ref(),
            &self.audit,
            &self.master,
            &self.settings,
            now,
        )
        .await?;
        if self.keyring.load().matches(&records, now) {
            return Ok(false);
        }
        let keyring = Keyring::from_records(&records, &self.master, now)?;
        self.install(keyring);
        Ok(true)
    }

    /// Reloads the keys because a token named a kid we do not know: another instance may have
    /// activated a key we have not loaded yet. Rate-limited; returns whether a reload happened.
    pub async fn reload_for_unknown_kid(&self) -> bool {
        {
            let Ok(mut last) = self.last_unknown_kid_reload.lock() else {
                return false;
            };
            let now = std::time::Instant::now();
            if last.is_some_and(|at| now.duration_since(at) < UNKNOWN_KID_RELOAD_INTERVAL) {
                return false;
            }
            *last = Some(now);
        }
        match self.maintain().await {
            Ok(_) => true,
            Err(error) => {
                tracing::warn!(%error, "reloading keys for an unknown kid failed");
                false
            }
        }
    }

    /// How often [`KeyManager::maintain`] should run so that no step is late by more than a
    /// fraction of the publish lead.
    pub fn maintenance_period(&self) -> Duration {
        let base = self
            .settings
            .key_publish_lead()
            .min(self.settings.key_rotation_interval)
            .min(self.settings.key_retire_hold())
            / 4;
        base.clamp(Duration::from_millis(50), Duration::from_secs(30))
    }

    /// Withdraws the `next` or `retired` key `kid` (see [`withdraw_key`]) and reloads, so this
    /// instance refuses its tokens at once; other instances drop it at their next
    /// [`KeyManager::follow_key_changes`]. Returns the state the key was in.
    ///
    /// # Errors
    /// As [`withdraw_key`]. A failed reload afterwards is only logged: the key is withdrawn,
    /// and the next check drops it.
    pub async fn withdraw(&self, kid: &str) -> Result<KeyState, KeyWithdrawalError> {
        let state = withdraw_key(self.store.as_ref(), &self.audit, kid, self.clock.now()).await?;
        if let Err(error) = self.follow_key_changes().await {
            tracing::warn!(%error, "reloading keys after a withdrawal failed");
        }
        Ok(state)
    }

    /// Rebuilds the keyring, without applying the schedule, when the stored keys changed
    /// elsewhere (the CLI, another instance) in a way this instance must follow at once: a key
    /// it holds was deleted (withdrawn, or expired on another instance's schedule), another key
    /// became active (`keys rotate --now`, another instance's promotion), or a new key was
    /// stored. One read of the few stored keys, cheap enough to run every
    /// [`KEY_CHANGE_CHECK_PERIOD`]. Returns whether the keyring changed.
    ///
    /// # Errors
    /// As [`KeyManager::maintain`]; the previous keyring stays in use on error.
    pub async fn follow_key_changes(&self) -> Result<bool, KeyRotationError> {
        let _one_at_a_time = self.maintaining.lock().await;
        let records = self.store.list_signing_keys().await?;
        if !self.keyring.load().is_behind(&records) {
            return Ok(false);
        }
        let keyring = Keyring::from_records(&records, &self.master, self.clock.now())?;
        self.install(keyring);
        Ok(true)
    }
}

/// How often each running instance runs [`KeyManager::follow_key_changes`]: the longest it goes
/// on accepting tokens of a key withdrawn elsewhere, or signing with a key another has
/// replaced, plus the time of one read of the stored keys.
pub const KEY_CHANGE_CHECK_PERIOD: Duration = Duration::from_secs(1);

/// Forces a rotation: adds a `next` key (unless one exists) that activates after the publish
/// lead, or at once with [`RotationMode::Immediate`] (then recorded as `key_rotated` through
/// `audit`). Returns the new or pending key's kid.
///
/// # Errors
/// Store or key generation failures.
pub async fn force_rotation(
    store: &dyn KeyStore,
    audit: &Auditor,
    master: &MasterKey,
    settings: &AuthSettings,
    now: Timestamp,
    mode: RotationMode,
) -> Result<String, KeyRotationError> {
    let records = store.list_signing_keys().await?;
    let activate_at = match mode {
        RotationMode::Scheduled => now.plus(settings.key_publish_lead()),
        RotationMode::Immediate => now,
    };
    let pending = records.iter().find(|r| r.state == KeyState::Next);
    if let Some(foreign) = pending.filter(|next| next.alg != settings.signing_alg) {
        withdraw_foreign_next(store, audit, foreign, now).await?;
    }
    let next = match pending.filter(|next| next.alg == settings.signing_alg) {
        Some(next) => next.kid.clone(),
        None => {
            let record = generate_record(
                master,
                settings.signing_alg,
                KeyState::Next,
                now,
                activate_at,
            )?;
            store.insert_signing_key(&record).await?;
            record.kid
        }
    };
    if mode == RotationMode::Immediate {
        promote(store, audit, &next, settings, now).await?;
    }
    Ok(next)
}

impl KeyManager {
    /// Forces a rotation on this instance and reloads; see [`force_rotation`].
    ///
    /// # Errors
    /// As [`force_rotation`].
    pub async fn rotate(&self, mode: RotationMode) -> Result<String, KeyRotationError> {
        let kid = force_rotation(
            self.store.as_ref(),
            &self.audit,
            &self.master,
            &self.settings,
            self.clock.now(),
            mode,
        )
        .await?;
        self.maintain().await?;
        Ok(kid)
    }
}

/// One pass of the schedule; returns the keys as they stand afterwards.
async fn apply_schedule(
    store: &dyn KeyStore,
    audit: &Auditor,
    master: &MasterKey,
    settings: &AuthSettings,
    now: Timestamp,
) -> Result<Vec<SigningKeyRecord>, KeyRotationError> {
    let mut records = store.list_signing_keys().await?;
    let mut changed = false;
    let active = records
        .iter()
        .find(|r| r.state == KeyState::Active)
        .cloned();
    let next = records.iter().find(|r| r.state == KeyState::Next).cloned();
    match (active, next) {
        (None, None) => {
            // A fresh database: nothing has been published, so the first key signs at once.
            let record = generate_record(master, settings.signing_alg, KeyState::Active, now, now)?;
            changed |= insert_unless_raced(store, &record).await?;
        }
        (_, Some(next)) if next.alg != settings.signing_alg => {
            // Never activate a key of another algorithm: replace it with one of ours (the next
            // pass, or another instance, generates it).
            withdraw_foreign_next(store, audit, &next, now).await?;
            changed = true;
        }
        (None, Some(next)) => {
            // Only after an interrupted first start; promote without waiting.
            changed |= promote(store, audit, &next.kid, settings, now).await?;
        }
        (Some(active), None) => {
            let activated = active.activated_at.unwrap_or(active.created_at);
            let due = activated.plus(settings.key_rotation_interval);
            let lead = settings.key_publish_lead();
            let alg_changed = active.alg != settings.signing_alg;
            if alg_changed || now >= due.minus(lead) {
                let activate_at = if alg_changed {
                    now.plus(lead)
                } else {
                    due.max(now.plus(lead))
                };
                let record = generate_record(
                    master,
                    settings.signing_alg,
                    KeyState::Next,
                    now,
                    activate_at,
                )?;
                changed |= insert_unless_raced(store, &record).await?;
            }
        }
        (Some(_), Some(next)) => {
            if now >= next.activate_at {
                changed |= promote(store, audit, &next.kid, settings, now).await?;
            }
        }
    }
    if store.delete_expired_signing_keys(now).await? > 0 {
        changed = true;
    }
    if changed {
        records = store.list_signing_keys().await?;
    }
    Ok(records)
}

/// Withdraws the pending `next` key `foreign`, whose algorithm is not this instance's: it has
/// never signed, and this instance will not let it.
async fn withdraw_foreign_next(
    store: &dyn KeyStore,
    audit: &Auditor,
    foreign: &SigningKeyRecord,
    now: Timestamp,
) -> Result<(), KeyRotationError> {
    tracing::warn!(
        kid = foreign.kid,
        alg = %foreign.alg,
        "replacing a pending key of another algorithm than this instance's"
    );
    match withdraw_key(store, audit, &foreign.kid, now).await {
        // Already gone, or promoted by another instance meanwhile: nothing to replace.
        Ok(_) | Err(KeyWithdrawalError::Unknown(_) | KeyWithdrawalError::Active(_)) => Ok(()),
        Err(KeyWithdrawalError::Store(error)) => Err(error.into()),
    }
}

/// Whether an instance signing with `own` algorithm may replace keyring `current` by `new`:
/// yes unless `new` signs with another key than `current` and of another algorithm than `own`
/// (a key made active elsewhere, by a process with other settings). An unchanged signer of
/// another algorithm (an instance started with a new `signing_alg` keeps its old key until its
/// own takes over) is acceptable.
fn signer_is_acceptable(current: &Keyring, new: &Keyring, own: Algorithm) -> bool {
    new.signer().kid() == current.signer().kid() || new.signer().alg() == own
}

/// Makes the `next` key `kid` the signing one; the instance whose promotion wins records
/// `key_rotated` (so each rotation is recorded once however many instances maintain keys).
async fn promote(
    store: &dyn KeyStore,
    audit: &Auditor,
    kid: &str,
    settings: &AuthSettings,
    now: Timestamp,
) -> Result<bool, KeyRotationError> {
    let promoted = store
        .promote_signing_key(kid, now, now.plus(settings.key_retire_hold()))
        .await?;
    if promoted {
        tracing::info!(kid, "a new signing key is active");
        audit
            .record(AuditEvent::new(AuditKind::KeyRotated, now).detail(kid))
            .await;
    }
    Ok(promoted)
}

/// Inserts a key; another instance having inserted one first is not an error.
async fn insert_unless_raced(
    store: &dyn KeyStore,
    record: &SigningKeyRecord,
) -> Result<bool, KeyRotationError> {
    match store.insert_signing_key(record).await {
        Ok(()) => Ok(true),
        Err(StoreError::Conflict(_)) => Ok(true),
        Err(other) => Err(other.into()),
    }
}

/// Generates a key and seals its private material under the master key.
fn generate_record(
    master: &MasterKey,
    alg: Algorithm,
    state: KeyState,
    now: Timestamp,
    activate_at: Timestamp,
) -> Result<SigningKeyRecord, KeyRotationError> {
    let kid = new_kid()?;
    let (key, material) = SigningKey::generate(alg, kid.clone())
        .map_err(|e| KeyRotationError::Generate(e.to_string()))?;
    let sealed_material = master
        .seal(&kid, &material)
        .map_err(|e| KeyRotationError::Generate(e.to_string()))?;
    let public_jwk = key
        .public_jwk()
        .map(|jwk| serde_json::to_string(&jwk))
        .transpose()
        .map_err(|e| KeyRotationError::Generate(e.to_string()))?;
    Ok(SigningKeyRecord {
        kid,
        alg,
        state,
        sealed_material,
        public_jwk,
        created_at: now,
        activate_at,
        activated_at: (state == KeyState::Active).then_some(now),
        retired_at: None,
        publish_until: None,
    })
}

/// A random key id: 96 bits, base64url.
fn new_kid() -> Result<String, KeyRotationError> {
    let mut bytes = [0u8; 12];
    rand::fill(&mut bytes)
        .map_err(|_| KeyRotationError::Generate("random source failed".into()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}
