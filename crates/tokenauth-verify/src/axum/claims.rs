//! [`Claims`]: the verified access-token claims as an axum extractor.

use std::ops::Deref;

use ::axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use ::axum::http::request::Parts;
use tokenauth_jwt::AccessTokenClaims;

use super::bearer::{bearer_token, has_authorization};
use super::rejection::AuthRejection;
use crate::verifier::Verifier;

/// The claims of a verified access token.
///
/// As an extractor: the claims a [`super::VerifyLayer`] already put into the
/// request extensions, or else the token of the single `Authorization:
/// Bearer` header checked with [`Verifier::verify`] (the `Verifier` comes
/// from the state via `FromRef`). Rejects with [`AuthRejection`] (401).
/// `Option<Claims>` is `None` when no `Authorization` header is present and
/// still rejects a bad token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims(pub AccessTokenClaims);

impl Claims {
    /// `true` if the `roles` claim contains exactly `role`.
    #[must_use]
    pub fn has_role(&self, role: &str) -> bool {
        self.0.roles.iter().any(|r| r == role)
    }

    /// The claims.
    #[must_use]
    pub fn into_inner(self) -> AccessTokenClaims {
        self.0
    }
}

impl Deref for Claims {
    type Target = AccessTokenClaims;

    fn deref(&self) -> &AccessTokenClaims {
        &self.0
    }
}

impl<S> FromRequestParts<S> for Claims
where
    Verifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(claims) = parts.extensions.get::<Claims>() {
            return Ok(claims.clone());
        }
        let token = bearer_token(&parts.headers)?;
        let verifier = Verifier::from_ref(state);
        let claims = verifier
            .verify(token)
            .await
            .map_err(AuthRejection::InvalidToken)?;
        Ok(Claims(claims))
    }
}

impl<S> OptionalFromRequestParts<S> for Claims
where
    Verifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        if parts.extensions.get::<Claims>().is_none() && !has_authorization(&parts.headers) {
            return Ok(None);
        }
        <Claims as FromRequestParts<S>>::from_request_parts(parts, state)
            .await
            .map(Some)
    }
}
