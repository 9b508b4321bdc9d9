//! Revoked sessions: the subscription to the auth server's revocation feed
//! that fills the [`RevokedSessions`] set a [`crate::Verifier`] checks every
//! token's `sid` against.
//!
//! The set itself is the auth server's own type (`tokenauth-jwt`), with its
//! policy (entries only extended, a snapshot replaces the whole set, a
//! poisoned lock refuses every token), and the check against it is the
//! server's own [`tokenauth_jwt::check_access_token`]. The check is local (a
//! hash lookup under a read lock, skipped entirely while the set is empty);
//! the feed runs in the background, so no request ever waits on the network
//! for it.

pub(crate) mod feed;

use tokenauth_jwt::RevokedSessions;

/// Publishes how many sessions `set` holds, as the
/// `tokenauth_verifier_revoked_sessions` gauge; called after the feed
/// changed it.
pub(crate) fn report_size(set: &RevokedSessions) {
    metrics::gauge!("tokenauth_verifier_revoked_sessions").set(set.len() as f64);
}
