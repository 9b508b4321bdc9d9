//! The one path every credential check goes through, whatever asks for it (a login, the
//! current-password check of `POST /v1/password` and of `DELETE /v1/me`, and later factors):
//!
//! 1. **reserve**: the attempt is counted in the store under the account's [`ThrottleKey`]
//!    *before* anything is hashed, in one atomic statement (increment, then decide). While the
//!    key is locked out the attempt is refused there, and the check never runs: right and
//!    wrong credentials get the same [`AuthError::RateLimited`], and no hash is computed;
//! 2. **check**: the caller's check (a password verification) runs;
//! 3. **settle**: a success forgets the count, unless a concurrent attempt locked the key
//!    meanwhile (then the success is refused like any attempt during a lock-out); a failure
//!    keeps the count the reservation already made, with the lock-out it earned;
//! 4. **audit**: every failure is recorded (`login_failed` for a login,
//!    `password_check_failed` with what asked for it otherwise), and a lock-out once, as
//!    `locked_out`, by the failure that earned it.
//!
//! Because every attempt is counted before it is checked, concurrent guesses, on one instance
//! or many, can never be checked more often than `max_failures` in a row; the count is shared
//! by every purpose, so guesses spread over login and the re-checks add up.
//!
//! A check that could not run to its end (the hasher's queue full, a store failure) stays
//! counted: failing closed, so that no guess escapes the count by overloading the server.

use std::future::Future;

use crate::audit::{AuditEvent, AuditKind};
use crate::error::AuthError;
use crate::ids::UserId;
use crate::service::{AuthService, ClientInfo};
use crate::throttle::{AttemptReservation, ThrottleKey};
use crate::user::{Password, User};

/// What a credential check is for: names its audit event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CheckPurpose {
    /// `POST /v1/login`: failures are `login_failed`.
    Login,
    /// The current password of `POST /v1/password`: `password_check_failed`,
    /// `password_change`.
    PasswordChange,
    /// The password of `DELETE /v1/me`: `password_check_failed`, `account_deletion`.
    AccountDeletion,
}

impl CheckPurpose {
    /// The audit event of a failed check for this purpose, about `user` when known.
    fn failure_event(self, service: &AuthService, user: Option<UserId>) -> AuditEvent {
        let now = service.clock.now();
        let event = match self {
            CheckPurpose::Login => AuditEvent::new(AuditKind::LoginFailed, now),
            CheckPurpose::PasswordChange => {
                AuditEvent::new(AuditKind::PasswordCheckFailed, now).detail("password_change")
            }
            CheckPurpose::AccountDeletion => {
                AuditEvent::new(AuditKind::PasswordCheckFailed, now).detail("account_deletion")
            }
        };
        match user {
            Some(user) => event.user(user),
            None => event,
        }
    }
}

/// What a check found.
pub(crate) enum Checked<T> {
    /// The credential is right; `T` is what the check learned (the user, for a login).
    Matched(T),
    /// The credential is wrong (or, for a login, the email unknown); with the user it was
    /// presented for, when there is one.
    Mismatched(Option<UserId>),
}

impl AuthService {
    /// Re-checks the password of a signed-in `account` (the current password of a change, the
    /// password that confirms an erasure) on the throttled path, under the account's own key,
    /// so these guesses and failed logins add up to one count.
    ///
    /// # Errors
    /// As [`AuthService::check_credential`].
    pub(crate) async fn recheck_password(
        &self,
        account: &User,
        password: Password,
        purpose: CheckPurpose,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let check = async {
            let verification = self
                .hasher
                .verify(password, Some(account.password_hash.clone()))
                .await?;
            Ok(if verification.matched {
                Checked::Matched(())
            } else {
                Checked::Mismatched(Some(account.id))
            })
        };
        let key = ThrottleKey::for_email(&account.email);
        self.check_credential(key, purpose, client, check).await
    }

    /// Runs `check` on the one throttled, audited path of this module: reserved under `key`
    /// first (`check` is not even started while `key` is locked out), then settled and
    /// audited. With the lock-out switched off (`max_failures` 0) only the audit remains.
    ///
    /// # Errors
    /// [`AuthError::RateLimited`] during a lock-out (also for a right credential, when a
    /// concurrent attempt locked the key while it was checked); [`AuthError::InvalidCredentials`]
    /// for a wrong one; whatever `check` fails with; store failures.
    pub(crate) async fn check_credential<T>(
        &self,
        key: ThrottleKey,
        purpose: CheckPurpose,
        client: &ClientInfo,
        check: impl Future<Output = Result<Checked<T>, AuthError>>,
    ) -> Result<T, AuthError> {
        let policy = self.settings.login_lockout;
        let reservation = if policy.enabled() {
            let now = self.clock.now();
            match self.store.reserve_attempt(&key, now, &policy).await? {
                AttemptReservation::Refused { locked_until } => {
                    return Err(AuthError::RateLimited {
                        retry_after: locked_until.since(now),
                    });
                }
                AttemptReservation::Allowed {
                    attempt,
                    locks_until,
                } => Some((attempt, locks_until)),
            }
        } else {
            None
        };
        match check.await? {
            Checked::Matched(found) => {
                if let Some((attempt, _)) = reservation {
                    let now = self.clock.now();
                    if let Some(until) = self.store.forget_attempts(&key, attempt, now).await? {
                        return Err(AuthError::RateLimited {
                            retry_after: until.since(now),
                        });
                    }
                }
                Ok(found)
            }
            Checked::Mismatched(user) => {
                // Recorded for unknown emails too (without a user), so both cost the same.
                self.audit
                    .record(purpose.failure_event(self, user).client(client))
                    .await;
                if let Some((attempt, Some(_))) = reservation {
                    tracing::warn!(failures = attempt, "failed credential checks locked a key");
                    let event = AuditEvent::new(AuditKind::LockedOut, self.clock.now())
                        .client(client)
                        .detail(attempt.to_string());
                    let event = match user {
                        Some(user) => event.user(user),
                        None => event,
                    };
                    self.audit.record(event).await;
                }
                Err(AuthError::InvalidCredentials)
            }
        }
    }
}
