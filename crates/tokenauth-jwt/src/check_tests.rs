//! Every branch of [`check_access_token`].

use std::cell::Cell;
use std::sync::OnceLock;

use super::*;
use crate::{ACCESS_TOKEN_TYP, Algorithm, Audience, SigningKey};

const NOW: i64 = 1_750_000_000;
const SID: &str = "0190a7e2-5c1e-7b3a-9f00-000000000001";

fn signer() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| {
        SigningKey::generate(Algorithm::ES256, "k1".into())
            .unwrap()
            .0
    })
}

fn keys() -> KeySet {
    KeySet::new([signer().verifying_key()])
}

fn token(exp: i64) -> String {
    let claims = AccessTokenClaims {
        iss: "iss".into(),
        sub: "user".into(),
        aud: Audience::One("aud".into()),
        exp,
        iat: NOW,
        nbf: NOW,
        jti: "jti".into(),
        sid: SID.into(),
        roles: vec![],
    };
    signer().sign(ACCESS_TOKEN_TYP, &claims).unwrap()
}

fn validation() -> Validation {
    let mut validation = Validation::new("iss", "aud");
    validation.leeway_secs = 5;
    validation
}

fn at(secs: i64) -> Timestamp {
    Timestamp::from_secs(secs)
}

/// Runs the check with `loader` counting how often the keys were loaded.
fn check(
    cache: Option<&TokenCache>,
    revoked: Option<&RevokedSessions>,
    token: &str,
    now: Timestamp,
    loads: &Cell<u32>,
) -> Result<AccessTokenClaims, VerifyError> {
    let keys = keys();
    let loader = || {
        loads.set(loads.get() + 1);
        &keys
    };
    check_access_token(loader, cache, revoked, &validation(), token, now)
}

#[test]
fn a_valid_token_passes_with_or_without_cache_or_revoked_set() {
    let token = token(NOW + 60);
    let loads = Cell::new(0);
    let claims = check(None, None, &token, at(NOW), &loads).unwrap();
    assert_eq!(claims.sid, SID);
    let revoked = RevokedSessions::new();
    revoked.insert("another-session", at(NOW + 600));
    assert!(check(None, Some(&revoked), &token, at(NOW), &loads).is_ok());
    assert_eq!(loads.get(), 2);
}

#[test]
fn a_cache_hit_skips_the_keys_until_exp_plus_leeway() {
    let cache = TokenCache::new(8);
    let token = token(NOW + 60);
    let loads = Cell::new(0);
    let first = check(Some(&cache), None, &token, at(NOW), &loads).unwrap();
    assert_eq!(
        (loads.get(), cache.len()),
        (1, 1),
        "miss: verified and cached"
    );
    let again = check(Some(&cache), None, &token, at(NOW + 64), &loads).unwrap();
    assert_eq!(again, first);
    assert_eq!(loads.get(), 1, "hit: no key load");
    let late = check(Some(&cache), None, &token, at(NOW + 65), &loads);
    assert_eq!(
        late,
        Err(VerifyError::Expired),
        "past exp + leeway: full check"
    );
    assert_eq!(loads.get(), 2);
}

#[test]
fn a_cached_token_of_a_revoked_session_is_refused() {
    let cache = TokenCache::new(8);
    let revoked = RevokedSessions::new();
    let token = token(NOW + 60);
    let loads = Cell::new(0);
    assert!(check(Some(&cache), Some(&revoked), &token, at(NOW), &loads).is_ok());
    revoked.insert(SID, at(NOW + 100));
    let refused = check(Some(&cache), Some(&revoked), &token, at(NOW + 1), &loads);
    assert_eq!(refused, Err(VerifyError::SessionRevoked));
    assert_eq!(
        loads.get(),
        1,
        "refused from the cache, not by a fresh check"
    );
    let uncached = check(None, Some(&revoked), &token, at(NOW + 1), &loads);
    assert_eq!(uncached, Err(VerifyError::SessionRevoked));
}

#[test]
fn an_expired_token_is_refused_and_not_cached() {
    let cache = TokenCache::new(8);
    let token = token(NOW - 10);
    let loads = Cell::new(0);
    let expired = check(Some(&cache), None, &token, at(NOW), &loads);
    assert_eq!(expired, Err(VerifyError::Expired));
    assert!(cache.is_empty());
}

#[test]
fn a_token_of_an_unknown_key_is_refused() {
    let (other, _) = SigningKey::generate(Algorithm::ES256, "k2".into()).unwrap();
    let claims = check(None, None, &token(NOW + 60), at(NOW), &Cell::new(0)).unwrap();
    let foreign = other.sign(ACCESS_TOKEN_TYP, &claims).unwrap();
    let cache = TokenCache::new(8);
    let unknown = check(Some(&cache), None, &foreign, at(NOW), &Cell::new(0));
    assert_eq!(unknown, Err(VerifyError::UnknownKey));
    assert!(cache.is_empty());
}

#[test]
fn a_too_large_token_is_refused_before_any_lookup() {
    let cache = TokenCache::new(8);
    let mut validation = validation();
    let token = token(NOW + 60);
    check_access_token(keys_ref, Some(&cache), None, &validation, &token, at(NOW)).unwrap();
    validation.max_token_len = token.len() - 1;
    let loads = Cell::new(0);
    let loader = || {
        loads.set(1);
        keys_ref()
    };
    let large = check_access_token(loader, Some(&cache), None, &validation, &token, at(NOW));
    assert_eq!(
        large,
        Err(VerifyError::TooLarge),
        "even though it is cached"
    );
    assert_eq!(loads.get(), 0);
}

#[test]
fn a_check_racing_with_a_cache_clear_does_not_cache() {
    let cache = TokenCache::new(8);
    let keys = keys();
    let loader = || {
        cache.clear(); // a key withdrawal between the epoch read and the key load
        &keys
    };
    let token = token(NOW + 60);
    check_access_token(loader, Some(&cache), None, &validation(), &token, at(NOW)).unwrap();
    assert!(cache.is_empty());
}

fn keys_ref() -> &'static KeySet {
    static KEYS: OnceLock<KeySet> = OnceLock::new();
    KEYS.get_or_init(keys)
}
