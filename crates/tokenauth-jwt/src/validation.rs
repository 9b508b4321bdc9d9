//! [`Validation`] and [`verify_access_token`]: the full access-token check.

use serde::Deserialize;

use crate::claims::{AccessTokenClaims, Audience};
use crate::error::VerifyError;
use crate::keyset::KeySet;
use crate::verifying::verify_signature;

/// The JOSE `typ` of RFC 9068 access tokens.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
/// Default cap on the encoded token length, in bytes.
pub const DEFAULT_MAX_TOKEN_LEN: usize = 8192;

/// What the verifier demands of a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validation {
    /// Required `iss`, compared exactly.
    pub issuer: String,
    /// Audience that `aud` must contain, compared exactly.
    pub audience: String,
    /// Clock-skew allowance in seconds for `exp` and `nbf` (negative = 0).
    pub leeway_secs: i64,
    /// Required header `typ` (case-insensitive, `application/` prefix allowed).
    pub typ: &'static str,
    /// Tokens longer than this are rejected before any parsing.
    pub max_token_len: usize,
}

impl Validation {
    /// Demands `issuer` and `audience`, with zero leeway, `typ` `at+jwt`
    /// and an 8192-byte size cap.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Validation {
            issuer: issuer.into(),
            audience: audience.into(),
            leeway_secs: 0,
            typ: ACCESS_TOKEN_TYP,
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
        }
    }
}

/// Wire form: every claim optional so absence maps to `MissingClaim`.
/// Derived `Deserialize` still rejects a repeated known claim.
#[derive(Deserialize)]
struct RawClaims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Audience>,
    exp: Option<i64>,
    iat: Option<i64>,
    nbf: Option<i64>,
    jti: Option<String>,
    sid: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
}

/// Full check of an RFC 9068 access token at time `now_secs`.
///
/// In order: [`verify_signature`] (size cap, three strict base64url
/// segments, header object, `crit` rejected, `alg` must equal the `kid`'s
/// key algorithm, `typ`, signature), then the claims JSON object (repeated
/// claims rejected), then `exp` (`now >= exp + leeway` is
/// [`VerifyError::Expired`]), `nbf` (`now + leeway < nbf` is
/// [`VerifyError::NotYetValid`]), `iss` equality, `aud` membership and
/// non-empty `sub`, `sid`, `jti`.
///
/// # Errors
/// The first failing check, as a [`VerifyError`].
pub fn verify_access_token(
    keys: &KeySet,
    token: &str,
    validation: &Validation,
    now_secs: i64,
) -> Result<AccessTokenClaims, VerifyError> {
    let payload = verify_signature(keys, token, validation.typ, validation.max_token_len)?;
    let claims = parse_claims(&payload)?;
    check_claims(&claims, validation, now_secs)?;
    Ok(claims)
}

fn parse_claims(payload: &[u8]) -> Result<AccessTokenClaims, VerifyError> {
    if payload.trim_ascii_start().first() != Some(&b'{') {
        return Err(VerifyError::Malformed("claims are not a JSON object"));
    }
    let raw: RawClaims = serde_json::from_slice(payload)
        .map_err(|_| VerifyError::Malformed("claims are not valid JSON of the expected shape"))?;
    Ok(AccessTokenClaims {
        iss: raw.iss.ok_or(VerifyError::MissingClaim("iss"))?,
        sub: raw.sub.ok_or(VerifyError::MissingClaim("sub"))?,
        aud: raw.aud.ok_or(VerifyError::MissingClaim("aud"))?,
        exp: raw.exp.ok_or(VerifyError::MissingClaim("exp"))?,
        iat: raw.iat.ok_or(VerifyError::MissingClaim("iat"))?,
        nbf: raw.nbf.ok_or(VerifyError::MissingClaim("nbf"))?,
        jti: raw.jti.ok_or(VerifyError::MissingClaim("jti"))?,
        sid: raw.sid.ok_or(VerifyError::MissingClaim("sid"))?,
        roles: raw.roles,
    })
}

fn check_claims(
    claims: &AccessTokenClaims,
    validation: &Validation,
    now: i64,
) -> Result<(), VerifyError> {
    let leeway = validation.leeway_secs.max(0);
    if now >= claims.exp.saturating_add(leeway) {
        return Err(VerifyError::Expired);
    }
    if now.saturating_add(leeway) < claims.nbf {
        return Err(VerifyError::NotYetValid);
    }
    if claims.iss != validation.issuer {
        return Err(VerifyError::WrongIssuer);
    }
    if !claims.aud.contains(&validation.audience) {
        return Err(VerifyError::WrongAudience);
    }
    let required = [&claims.sub, &claims.sid, &claims.jti];
    match ["sub", "sid", "jti"]
        .into_iter()
        .zip(required)
        .find(|(_, v)| v.is_empty())
    {
        Some((name, _)) => Err(VerifyError::MissingClaim(name)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_time_edges() {
        let json = r#"{"iss":"i","sub":"s","aud":["x","a"],"exp":100,"iat":1,"nbf":50,"jti":"j","sid":"x"}"#;
        let c = parse_claims(json.as_bytes()).unwrap();
        let missing = parse_claims(br#" {"iss":"i"}"#).unwrap_err();
        assert_eq!(missing, VerifyError::MissingClaim("sub"));
        let mut v = Validation::new("i", "a");
        v.leeway_secs = i64::MAX; // saturates instead of overflowing
        assert_eq!(check_claims(&c, &v, 1_000), Ok(()));
        v.leeway_secs = -100; // treated as zero
        assert_eq!(check_claims(&c, &v, 99), Ok(()));
        let early = check_claims(&c, &v, i64::MIN);
        assert_eq!(early, Err(VerifyError::NotYetValid));
    }
}
