//! Reading the bearer token from the request headers (RFC 6750 §2.1 only).

use ::axum::http::{HeaderMap, header};

use super::rejection::AuthRejection;

/// The token of the single `Authorization: Bearer <token>` header.
///
/// # Errors
/// [`AuthRejection::MissingToken`] if there is no such header, more than
/// one, another scheme, non-ASCII bytes or an empty token.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Result<&str, AuthRejection> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next().ok_or(AuthRejection::MissingToken(
        "an Authorization: Bearer access token is required",
    ))?;
    if values.next().is_some() {
        return Err(AuthRejection::MissingToken(
            "exactly one Authorization header is allowed",
        ));
    }
    let value = value
        .to_str()
        .map_err(|_| AuthRejection::MissingToken("the Authorization header is not ASCII"))?;
    let (scheme, token) = value.split_once(' ').ok_or(AuthRejection::MissingToken(
        "the Authorization header must be \"Bearer <token>\"",
    ))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthRejection::MissingToken(
            "the Authorization scheme must be Bearer",
        ));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(AuthRejection::MissingToken("the bearer token is empty"));
    }
    Ok(token)
}

/// `true` if the request carries any `Authorization` header.
pub(crate) fn has_authorization(headers: &HeaderMap) -> bool {
    headers.contains_key(header::AUTHORIZATION)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::axum::http::HeaderValue;

    fn parse(values: &[&'static str]) -> Result<String, AuthRejection> {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(header::AUTHORIZATION, HeaderValue::from_static(v));
        }
        bearer_token(&headers).map(str::to_owned)
    }

    #[test]
    fn exactly_one_bearer_header() {
        assert_eq!(parse(&["Bearer a.b.c"]).unwrap(), "a.b.c");
        assert_eq!(parse(&["bearer  a.b.c "]).unwrap(), "a.b.c");
        for bad in [
            &[][..],
            &["Bearer a", "Bearer b"],
            &["Basic dTpw"],
            &["Bearer"],
            &["Bearer   "],
            &["Bearera.b.c"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
