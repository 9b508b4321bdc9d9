//! The domain's metrics, emitted through the `metrics` facade where each outcome is decided, so
//! the server and the CLI count alike. Without an installed recorder (the CLI, tests, metrics
//! off) every call is a no-op. Every label value is one of a fixed set of `&'static str`, so
//! recording allocates nothing and label cardinality is bounded.

use metrics::{counter, describe_counter, describe_gauge, gauge};

use crate::error::AuthError;
use crate::session::{RevokeReason, RotationOutcome};

/// Logins, by `result`: `ok`, `failed` (unknown email or wrong password), `locked_out`,
/// `disabled`, `overloaded` (hash queue full), `error`.
pub const LOGINS: &str = "tokenauth_logins_total";
/// Sign-ups, by `result`: `ok`, `email_taken`, `invalid` (email or password refused),
/// `overloaded`, `error`.
pub const SIGNUPS: &str = "tokenauth_signups_total";
/// Refresh-token rotations, by `outcome`: `rotated`, `replayed` (a retry within the grace
/// window), `reused` (theft presumed; the session is revoked), `expired`, `revoked`, `unknown`
/// (never issued, or malformed), `error`.
pub const REFRESHES: &str = "tokenauth_refreshes_total";
/// Refresh-token reuse detections (each revoked a session).
pub const REUSE_DETECTIONS: &str = "tokenauth_refresh_reuse_detected_total";
/// Sessions revoked, by `reason` (the stored [`RevokeReason`] spelling).
pub const SESSION_REVOCATIONS: &str = "tokenauth_session_revocations_total";
/// Password hashes (and verifications) waiting for a hashing slot.
pub const HASH_QUEUE_DEPTH: &str = "tokenauth_password_hash_queue_depth";
/// Password hashes (and verifications) running now.
pub const HASHES_IN_FLIGHT: &str = "tokenauth_password_hashes_in_flight";
/// Password hashes refused because the queue was full (answered 503).
pub const HASHES_REJECTED: &str = "tokenauth_password_hash_rejected_total";

/// Every `result` of [`LOGINS`].
const LOGIN_RESULTS: [&str; 6] = [
    "ok",
    "failed",
    "locked_out",
    "disabled",
    "overloaded",
    "error",
];
/// Every `result` of [`SIGNUPS`].
const SIGNUP_RESULTS: [&str; 5] = ["ok", "email_taken", "invalid", "overloaded", "error"];
/// Every `outcome` of [`REFRESHES`].
const REFRESH_OUTCOMES: [&str; 7] = [
    "rotated", "replayed", "reused", "expired", "revoked", "unknown", "error",
];

/// Registers the help text of every metric above with the installed recorder, and shows every
/// series at 0 before it first moves (so that a rate over it starts at once).
pub fn describe() {
    for result in LOGIN_RESULTS {
        counter!(LOGINS, "result" => result).increment(0);
    }
    for result in SIGNUP_RESULTS {
        counter!(SIGNUPS, "result" => result).increment(0);
    }
    for outcome in REFRESH_OUTCOMES {
        counter!(REFRESHES, "outcome" => outcome).increment(0);
    }
    for reason in RevokeReason::ALL {
        counter!(SESSION_REVOCATIONS, "reason" => reason.as_str()).increment(0);
    }
    counter!(REUSE_DETECTIONS).increment(0);
    counter!(HASHES_REJECTED).increment(0);
    gauge!(HASH_QUEUE_DEPTH).increment(0.0);
    gauge!(HASHES_IN_FLIGHT).increment(0.0);
    describe_counter!(LOGINS, "Logins by result");
    describe_counter!(SIGNUPS, "Sign-ups by result");
    describe_counter!(REFRESHES, "Refresh-token rotations by outcome");
    describe_counter!(
        REUSE_DETECTIONS,
        "Rotated refresh tokens presented again after the grace window (session revoked)"
    );
    describe_counter!(SESSION_REVOCATIONS, "Sessions revoked by reason");
    describe_gauge!(
        HASH_QUEUE_DEPTH,
        "Password hashes waiting for a hashing slot"
    );
    describe_gauge!(HASHES_IN_FLIGHT, "Password hashes running now");
    describe_counter!(
        HASHES_REJECTED,
        "Password hashes refused because the queue was full"
    );
}

/// Counts a login that ended with `result`.
pub fn login<T>(result: &Result<T, AuthError>) {
    let counter = match result {
        Ok(_) => counter!(LOGINS, "result" => "ok"),
        Err(AuthError::InvalidCredentials) => counter!(LOGINS, "result" => "failed"),
        Err(AuthError::RateLimited { .. }) => counter!(LOGINS, "result" => "locked_out"),
        Err(AuthError::AccountDisabled) => counter!(LOGINS, "result" => "disabled"),
        Err(AuthError::Overloaded) => counter!(LOGINS, "result" => "overloaded"),
        Err(_) => counter!(LOGINS, "result" => "error"),
    };
    counter.increment(1);
}

/// Counts a sign-up that ended with `result`.
pub fn signup<T>(result: &Result<T, AuthError>) {
    let counter = match result {
        Ok(_) => counter!(SIGNUPS, "result" => "ok"),
        Err(AuthError::EmailTaken) => counter!(SIGNUPS, "result" => "email_taken"),
        Err(AuthError::InvalidInput { .. }) => counter!(SIGNUPS, "result" => "invalid"),
        Err(AuthError::Overloaded) => counter!(SIGNUPS, "result" => "overloaded"),
        Err(_) => counter!(SIGNUPS, "result" => "error"),
    };
    counter.increment(1);
}

/// Counts the outcome the store decided for a refresh (a reuse is also counted in
/// [`REUSE_DETECTIONS`]).
pub(crate) fn refresh(outcome: &RotationOutcome) {
    let counter = match outcome {
        RotationOutcome::Rotated(_) => counter!(REFRESHES, "outcome" => "rotated"),
        RotationOutcome::Replayed(_) => counter!(REFRESHES, "outcome" => "replayed"),
        RotationOutcome::Reused { .. } => {
            counter!(REUSE_DETECTIONS).increment(1);
            counter!(REFRESHES, "outcome" => "reused")
        }
        RotationOutcome::Expired => counter!(REFRESHES, "outcome" => "expired"),
        RotationOutcome::Revoked => counter!(REFRESHES, "outcome" => "revoked"),
        RotationOutcome::Unknown => counter!(REFRESHES, "outcome" => "unknown"),
    };
    counter.increment(1);
}

/// Counts a refresh that ended before the store decided anything: a malformed token counts as
/// `unknown`, anything else as `error`.
pub(crate) fn refresh_failed(error: &AuthError) {
    match error {
        AuthError::InvalidToken => counter!(REFRESHES, "outcome" => "unknown"),
        _ => counter!(REFRESHES, "outcome" => "error"),
    }
    .increment(1);
}

/// Counts `count` sessions revoked for `reason` (labelled with its stored spelling, so every
/// reason, present and future, is counted; revocations are rare enough that the label vector
/// this allocates does not matter).
pub fn sessions_revoked(reason: RevokeReason, count: usize) {
    if count == 0 {
        return;
    }
    counter!(SESSION_REVOCATIONS, "reason" => reason.as_str())
        .increment(u64::try_from(count).unwrap_or(u64::MAX));
}

/// Moves the hash queue gauge by `delta` (one hash joining or leaving the queue).
pub(crate) fn hash_queue(delta: f64) {
    gauge!(HASH_QUEUE_DEPTH).increment(delta);
}

/// Moves the in-flight hashes gauge by `delta`.
pub(crate) fn hashes_in_flight(delta: f64) {
    gauge!(HASHES_IN_FLIGHT).increment(delta);
}

/// Counts a hash refused because the queue was full.
pub(crate) fn hash_rejected() {
    counter!(HASHES_REJECTED).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_label_is_the_one_recorded() {
        let source = include_str!("telemetry.rs");
        for (label, values) in [
            ("result", &LOGIN_RESULTS[..]),
            ("result", &SIGNUP_RESULTS[..]),
            ("outcome", &REFRESH_OUTCOMES[..]),
        ] {
            for value in values {
                let recorded = format!("\"{label}\" => \"{value}\")");
                assert!(source.contains(&recorded), "{value} is never recorded");
            }
        }
    }
}
