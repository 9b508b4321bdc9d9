//! Compact JWS verification: size, structure, header, algorithm binding,
//! type and signature. Claims are handled in [`crate::claims`].
//!
//! The algorithm always comes from the trusted key; the header's `alg` must
//! merely agree with it. Keys are found only by `kid` in the caller's
//! [`KeySet`]; `jku`, `x5u`, `jwk` and `x5c` headers are never consulted.

use std::borrow::Cow;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny};

use crate::algorithm::Algorithm;
use crate::b64;
use crate::error::VerifyError;
use crate::keyset::KeySet;

/// Largest signature we accept: an 8192-bit RSA signature (1024 bytes)
/// is 1366 base64url characters.
const MAX_SIGNATURE_B64: usize = 1366;
/// Headers up to this decoded size are handled without heap allocation.
const HEADER_STACK: usize = 512;

/// The protected header members we read. Everything else (`jku`, `x5u`,
/// `jwk`, `x5c`, ...) is ignored. Duplicate known members are rejected by
/// the derived `Deserialize`.
#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow, default)]
    alg: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    kid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    typ: Option<Cow<'a, str>>,
    #[serde(default)]
    crit: Present,
}

/// `true` if the member was present at all, whatever its value (even null).
#[derive(Default)]
struct Present(bool);

impl<'de> Deserialize<'de> for Present {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        IgnoredAny::deserialize(d).map(|_| Present(true))
    }
}

/// Verifies size, structure, header, algorithm binding, `typ` and signature
/// of a compact JWS and returns the decoded payload bytes.
///
/// `expected_typ` is compared case-insensitively, with an optional
/// `application/` prefix accepted; a missing `typ` is rejected. The payload
/// is decoded only after the signature has verified, and is not parsed.
///
/// # Errors
/// The first failing check, as a [`VerifyError`].
pub fn verify_signature(
    keys: &KeySet,
    token: &str,
    expected_typ: &str,
    max_len: usize,
) -> Result<Vec<u8>, VerifyError> {
    let payload = verify_segments(keys, token, expected_typ, max_len)?;
    b64::decode(payload).ok_or(VerifyError::Malformed("payload is not base64url"))
}

/// Everything but payload decoding; returns the encoded payload segment.
fn verify_segments<'t>(
    keys: &KeySet,
    token: &'t str,
    expected_typ: &str,
    max_len: usize,
) -> Result<&'t str, VerifyError> {
    if token.len() > max_len {
        return Err(VerifyError::TooLarge);
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(VerifyError::Malformed("expected three segments"));
    };
    if header_b64.is_empty() || payload_b64.is_empty() || signature_b64.is_empty() {
        return Err(VerifyError::Malformed("empty segment"));
    }

    let mut stack = [0u8; HEADER_STACK];
    let heap;
    let header_bytes = if header_b64.len() / 4 * 3 + 3 <= HEADER_STACK {
        b64::decode_into(header_b64, &mut stack)
    } else {
        heap = b64::decode(header_b64);
        heap.as_deref()
    }
    .ok_or(VerifyError::Malformed("header is not base64url"))?;
    if header_bytes.trim_ascii_start().first() != Some(&b'{') {
        return Err(VerifyError::Malformed("header is not a JSON object"));
    }
    let header: Header<'_> = serde_json::from_slice(header_bytes)
        .map_err(|_| VerifyError::Malformed("header is not valid JSON"))?;

    if header.crit.0 {
        return Err(VerifyError::Malformed("crit header not understood"));
    }
    let alg = header
        .alg
        .ok_or(VerifyError::Malformed("header has no alg"))?;
    let alg: Algorithm = alg.parse().map_err(|_| VerifyError::UnsupportedAlgorithm)?;
    let kid = header.kid.as_deref();
    let key = kid
        .and_then(|kid| keys.get(kid))
        .ok_or(VerifyError::UnknownKey)?;
    if key.alg() != alg {
        return Err(VerifyError::AlgorithmMismatch);
    }
    if !typ_matches(header.typ.as_deref(), expected_typ) {
        return Err(VerifyError::WrongType);
    }

    if signature_b64.len() > MAX_SIGNATURE_B64 {
        return Err(VerifyError::BadSignature);
    }
    let mut sig_buf = [0u8; MAX_SIGNATURE_B64 / 4 * 3 + 3];
    let signature = b64::decode_into(signature_b64, &mut sig_buf)
        .ok_or(VerifyError::Malformed("signature is not base64url"))?;
    // Exactly two dots were found above, so this is `header.payload`.
    let (signing_input, _) = token.rsplit_once('.').unwrap_or_default();
    if !key.verify_raw(signing_input.as_bytes(), signature) {
        return Err(VerifyError::BadSignature);
    }
    Ok(payload_b64)
}

/// `typ` equals `expected` ignoring ASCII case, optionally prefixed by
/// `application/` (RFC 7515 §4.1.9).
fn typ_matches(typ: Option<&str>, expected: &str) -> bool {
    let Some(typ) = typ else { return false };
    const PREFIX: &str = "application/";
    let bare = match (typ.get(..PREFIX.len()), typ.get(PREFIX.len()..)) {
        (Some(prefix), Some(rest)) if prefix.eq_ignore_ascii_case(PREFIX) => rest,
        _ => typ,
    };
    bare.eq_ignore_ascii_case(expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typ_comparison() {
        assert!(typ_matches(Some("at+jwt"), "at+jwt"));
        assert!(typ_matches(Some("AT+JWT"), "at+jwt"));
        assert!(typ_matches(Some("Application/AT+jwt"), "at+jwt"));
        assert!(!typ_matches(Some("JWT"), "at+jwt"));
        assert!(!typ_matches(Some("application/jwt"), "at+jwt"));
        assert!(!typ_matches(Some("application/"), "at+jwt"));
        assert!(!typ_matches(Some("é"), "at+jwt"));
        assert!(!typ_matches(None, "at+jwt"));
    }
}
