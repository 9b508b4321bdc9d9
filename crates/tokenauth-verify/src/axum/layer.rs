//! [`VerifyLayer`]: rejects requests without a valid bearer token and hands
//! the verified [`Claims`] to everything inside it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use ::axum::http::Request;
use ::axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use super::bearer::bearer_token;
use super::claims::Claims;
use super::rejection::AuthRejection;
use super::role::check_role;
use crate::verifier::Verifier;

/// A tower layer: every request must carry exactly one `Authorization:
/// Bearer` header with a token that [`Verifier::verify`] accepts (and, with
/// [`VerifyLayer::require_role`], that has the role). Otherwise the inner
/// service is not called and the answer is the [`AuthRejection`] response
/// (401, or 403 for the role). Accepted requests get [`Claims`] in their
/// extensions.
#[derive(Clone, Debug)]
pub struct VerifyLayer {
    verifier: Verifier,
    role: Option<Arc<str>>,
}

impl VerifyLayer {
    /// Requires a valid token checked by `verifier`.
    #[must_use]
    pub fn new(verifier: Verifier) -> VerifyLayer {
        VerifyLayer {
            verifier,
            role: None,
        }
    }

    /// Also requires `role` in the token's `roles` claim (403 otherwise).
    #[must_use]
    pub fn require_role(mut self, role: impl Into<Arc<str>>) -> VerifyLayer {
        self.role = Some(role.into());
        self
    }
}

impl<S> Layer<S> for VerifyLayer {
    type Service = VerifyService<S>;

    fn layer(&self, inner: S) -> VerifyService<S> {
        VerifyService {
            inner,
            verifier: self.verifier.clone(),
            role: self.role.clone(),
        }
    }
}

/// The service made by [`VerifyLayer`].
#[derive(Clone, Debug)]
pub struct VerifyService<S> {
    inner: S,
    verifier: Verifier,
    role: Option<Arc<str>>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> Service<Request<B>> for VerifyService<S>
where
    S: Service<Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // The clone is not ready; keep the ready service for this call.
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        let verifier = self.verifier.clone();
        let role = self.role.clone();
        Box::pin(async move {
            let verified = match bearer_token(request.headers()) {
                Ok(token) => verifier
                    .verify(token)
                    .await
                    .map(Claims)
                    .map_err(AuthRejection::InvalidToken),
                Err(rejection) => Err(rejection),
            };
            let allowed = verified.and_then(|claims| {
                check_role(&claims, role.as_deref())?;
                Ok(claims)
            });
            match allowed {
                Ok(claims) => {
                    request.extensions_mut().insert(claims);
                    inner.call(request).await
                }
                Err(rejection) => Ok(rejection.into_response()),
            }
        })
    }
}
