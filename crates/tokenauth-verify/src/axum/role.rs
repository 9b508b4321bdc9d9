//! [`require_role`]: a layer that lets through only tokens with a role.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use ::axum::http::Request;
use ::axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use super::claims::Claims;
use super::rejection::AuthRejection;

/// A layer that answers 403 `insufficient_role` unless the request's
/// verified [`Claims`] list `role`, and 401 if the request has no verified
/// claims at all.
///
/// It reads the claims a [`super::VerifyLayer`] put into the extensions, so
/// it must run inside one: `.route_layer(require_role("admin"))` on routes
/// under `.layer(VerifyLayer::new(verifier))`. Without a `VerifyLayer` every
/// request is refused (fail closed); [`super::VerifyLayer::require_role`]
/// does both in one layer.
#[must_use]
pub fn require_role(role: impl Into<Arc<str>>) -> RequireRoleLayer {
    RequireRoleLayer { role: role.into() }
}

/// The layer made by [`require_role`].
#[derive(Clone, Debug)]
pub struct RequireRoleLayer {
    role: Arc<str>,
}

impl<S> Layer<S> for RequireRoleLayer {
    type Service = RequireRoleService<S>;

    fn layer(&self, inner: S) -> RequireRoleService<S> {
        RequireRoleService {
            inner,
            role: Arc::clone(&self.role),
        }
    }
}

/// The service made by [`RequireRoleLayer`].
#[derive(Clone, Debug)]
pub struct RequireRoleService<S> {
    inner: S,
    role: Arc<str>,
}

/// `Ok` if no role is required or `claims` has it.
pub(crate) fn check_role(claims: &Claims, role: Option<&str>) -> Result<(), AuthRejection> {
    match role {
        Some(role) if !claims.has_role(role) => Err(AuthRejection::InsufficientRole),
        _ => Ok(()),
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> Service<Request<B>> for RequireRoleService<S>
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

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let verdict = match request.extensions().get::<Claims>() {
            Some(claims) => check_role(claims, Some(&self.role)),
            None => {
                tracing::debug!(
                    "require_role found no verified claims: is it inside a VerifyLayer?"
                );
                Err(AuthRejection::MissingToken(
                    "an Authorization: Bearer access token is required",
                ))
            }
        };
        match verdict {
            Ok(()) => {
                let ready = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, ready);
                Box::pin(async move { inner.call(request).await })
            }
            Err(rejection) => Box::pin(async move { Ok(rejection.into_response()) }),
        }
    }
}
