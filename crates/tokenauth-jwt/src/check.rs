//! [`check_access_token`]: the one access-token check. The auth server's
//! `AuthService::authenticate` and the verifier crate's `Verifier::verify_local` both call it,
//! so a presented token meets the same rules, in the same order, on either side; each caller
//! only adds what is its own (the server's reload on an unknown `kid`, the verifier's refusal
//! while its keys are stale) and maps [`VerifyError`] to its own error type.

use std::ops::Deref;
use std::sync::Arc;

use crate::claims::AccessTokenClaims;
use crate::clock::Timestamp;
use crate::error::VerifyError;
use crate::keyset::KeySet;
use crate::revoked::RevokedSessions;
use crate::token_cache::TokenCache;
use crate::validation::{Validation, verify_access_token};

/// Checks a presented access token at `now` and returns its claims.
///
/// In order:
/// 1. the size cap ([`Validation::max_token_len`]): a longer token is [`VerifyError::TooLarge`]
///    before any lookup or parsing;
/// 2. with a `cache`, a token that passed before and has not reached `exp` + leeway is answered
///    from it, without loading keys or checking a signature;
/// 3. otherwise the full [`verify_access_token`] with the keys `keys` loads, and, with a
///    `cache`, the token is remembered until `exp` + leeway. The cache epoch is read *before*
///    `keys` is called, so a check racing with a key withdrawal (which clears the cache) cannot
///    re-add a token of the withdrawn key;
/// 4. with a `revoked` set, a token whose `sid` is in it is [`VerifyError::SessionRevoked`],
///    whether it came from the cache or not.
///
/// `keys` is called at most once, and only on a cache miss. A cache hit costs one cache lookup,
/// one revocation lookup and the clone of the claims; nothing else is allocated.
///
/// # Errors
/// The first failing check, as a [`VerifyError`].
pub fn check_access_token<K>(
    keys: impl FnOnce() -> K,
    cache: Option<&TokenCache>,
    revoked: Option<&RevokedSessions>,
    validation: &Validation,
    token: &str,
    now: Timestamp,
) -> Result<AccessTokenClaims, VerifyError>
where
    K: Deref,
    K::Target: AsRef<KeySet>,
{
    if token.len() > validation.max_token_len {
        return Err(VerifyError::TooLarge);
    }
    let now_secs = now.as_secs();
    let verify = |keys: K| verify_access_token((*keys).as_ref(), token, validation, now_secs);
    let claims = match cache {
        Some(cache) => match cache.get(token, now_secs) {
            Some(hit) => {
                refuse_revoked(revoked, &hit.sid, now)?;
                return Ok(AccessTokenClaims::clone(&hit));
            }
            None => {
                // Read before the keys are: a key withdrawn meanwhile voids the insert below.
                let epoch = cache.epoch();
                let claims = verify(keys())?;
                let expires_at = claims.exp.saturating_add(validation.leeway_secs);
                cache.insert(token, Arc::new(claims.clone()), expires_at, epoch);
                claims
            }
        },
        None => verify(keys())?,
    };
    refuse_revoked(revoked, &claims.sid, now)?;
    Ok(claims)
}

/// [`VerifyError::SessionRevoked`] if `sid` is in `revoked` at `now`.
fn refuse_revoked(
    revoked: Option<&RevokedSessions>,
    sid: &str,
    now: Timestamp,
) -> Result<(), VerifyError> {
    match revoked {
        Some(revoked) if revoked.contains(sid, now) => Err(VerifyError::SessionRevoked),
        _ => Ok(()),
    }
}

#[cfg(test)]
#[path = "check_tests.rs"]
mod tests;
