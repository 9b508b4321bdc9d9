//! Sign-up, login and refresh: the three ways to obtain tokens.

use crate::audit::{AuditEvent, AuditKind};
use crate::client_info::{ClientInfo, cut_user_agent};
use crate::clock::Timestamp;
use crate::error::AuthError;
use crate::ids::{SessionId, UserId};
use crate::refresh_token::RefreshToken;
use crate::service::credential_check::{CheckPurpose, Checked};
use crate::service::revocation::Revocation;
use crate::service::{AuthService, IssuedTokens};
use crate::session::{NewSession, RevokeReason, RotationOutcome, RotationRequest};
use crate::store::StoreError;
use crate::telemetry;
use crate::throttle::ThrottleKey;
use crate::user::{Email, Password, User};

impl AuthService {
    /// Creates a user and their first session, and records a `signup` audit event.
    ///
    /// # Errors
    /// [`AuthError::InvalidInput`] for a bad email or a password outside the policy (see
    /// [`Password::new`]), [`AuthError::EmailTaken`], [`AuthError::Overloaded`] when the
    /// hasher's queue is full.
    pub async fn signup(
        &self,
        email: &str,
        password: String,
        client: ClientInfo,
    ) -> Result<(User, IssuedTokens), AuthError> {
        let result = self.signup_counted(email, password, client).await;
        telemetry::signup(&result);
        result
    }

    async fn signup_counted(
        &self,
        email: &str,
        password: String,
        client: ClientInfo,
    ) -> Result<(User, IssuedTokens), AuthError> {
        let email = Email::parse(email)?;
        let password = Password::new(password)?;
        let password_hash = self.hasher.hash(password).await?;
        let now = self.clock.now();
        let user = User {
            id: UserId::generate(),
            email,
            password_hash,
            roles: Vec::new(),
            created_at: now,
            disabled_at: None,
        };
        let (session, refresh_token) = self.new_session(user.id, &client, now);
        match self.store.insert_user_with_session(&user, &session).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => return Err(AuthError::EmailTaken),
            Err(other) => return Err(other.into()),
        }
        self.audit
            .record(
                AuditEvent::new(AuditKind::Signup, now)
                    .user(user.id)
                    .session(session.id)
                    .client(&client),
            )
            .await;
        let tokens = self.issue(
            user.id,
            session.id,
            Vec::new(),
            refresh_token,
            session.expires_at,
            now,
        )?;
        Ok((user, tokens))
    }

    /// Checks credentials and opens a session. Unknown email and wrong password fail alike and
    /// take the same time (a dummy hash is verified for unknown users). A hash made with weaker
    /// parameters than the configured ones is replaced. Passwords are not held to the policy
    /// of [`Password::new`] here, so accounts made before a rule existed can still log in.
    /// Records `login_succeeded` or `login_failed` (with the user when the email has an
    /// account).
    ///
    /// The check goes through the throttled path of [`crate::service::credential_check`]:
    /// attempts are counted per presented email, known or not (see [`crate::throttle`]),
    /// before any hashing; while the email is locked out every attempt is refused unhashed, a
    /// correct password included, and a success forgets the count.
    ///
    /// # Errors
    /// [`AuthError::InvalidCredentials`] (also for a malformed email, which can have no account),
    /// [`AuthError::AccountDisabled`] when the password is right but the account is disabled,
    /// [`AuthError::RateLimited`] during a lock-out, [`AuthError::Overloaded`].
    pub async fn login(
        &self,
        email: &str,
        password: String,
        client: ClientInfo,
    ) -> Result<(User, IssuedTokens), AuthError> {
        let result = self.login_counted(email, password, client).await;
        telemetry::login(&result);
        result
    }

    /// A login as its steps, each a method of its own so that a later one can join between
    /// them (a second factor goes after [`AuthService::admit_to_login`] and before
    /// [`AuthService::open_login_session`]): the password, through the one throttled, audited
    /// credential check; the account's state; then the session and its tokens.
    async fn login_counted(
        &self,
        email: &str,
        password: String,
        client: ClientInfo,
    ) -> Result<(User, IssuedTokens), AuthError> {
        let user = self.check_login_password(email, password, &client).await?;
        self.admit_to_login(&user, &client).await?;
        let tokens = self.open_login_session(&user, &client).await?;
        Ok((user, tokens))
    }

    /// Step 1: the user whose email and password these are, checked through
    /// [`AuthService::check_credential`] (reserved before the hash, audited, locked out alike
    /// for right and wrong passwords).
    async fn check_login_password(
        &self,
        email: &str,
        password: String,
        client: &ClientInfo,
    ) -> Result<User, AuthError> {
        let key = ThrottleKey::for_presented(email);
        let check = async {
            Ok(match self.check_credentials(email, password).await? {
                Ok(user) => Checked::Matched(user),
                Err(known) => Checked::Mismatched(known),
            })
        };
        self.check_credential(key, CheckPurpose::Login, client, check)
            .await
    }

    /// Step 2: refuses (and audits) a disabled account, after its password was proven.
    async fn admit_to_login(&self, user: &User, client: &ClientInfo) -> Result<(), AuthError> {
        if user.disabled_at.is_none() {
            return Ok(());
        }
        self.audit
            .record(
                self.login_failed(Some(user.id), client)
                    .detail("account_disabled"),
            )
            .await;
        Err(AuthError::AccountDisabled)
    }

    /// Last step: opens the session, records `login_succeeded` and issues its tokens.
    async fn open_login_session(
        &self,
        user: &User,
        client: &ClientInfo,
    ) -> Result<IssuedTokens, AuthError> {
        let now = self.clock.now();
        let (session, refresh_token) = self.new_session(user.id, client, now);
        match self.store.insert_session(&session).await {
            Ok(()) => {}
            // The account was deleted while its password was being checked.
            Err(StoreError::Conflict(_)) => return Err(AuthError::InvalidCredentials),
            Err(error) => return Err(error.into()),
        }
        self.refuse_if_disabled_meanwhile(user, session.id, now)
            .await?;
        self.audit
            .record(
                AuditEvent::new(AuditKind::LoginSucceeded, now)
                    .user(user.id)
                    .session(session.id)
                    .client(client),
            )
            .await;
        self.issue(
            user.id,
            session.id,
            user.roles.clone(),
            refresh_token,
            session.expires_at,
            now,
        )
    }

    /// Closes the race between a login and [`Accounts::disable`](crate::service::Accounts::disable): a disable that
    /// committed after the login read the user but before its session existed revoked every
    /// session but that one. Reading the user again after the insert settles it: either the
    /// disable's revocation saw the new session, or this read sees the disable and revokes it.
    async fn refuse_if_disabled_meanwhile(
        &self,
        user: &User,
        session: SessionId,
        now: Timestamp,
    ) -> Result<(), AuthError> {
        let disabled = self
            .store
            .find_user(user.id)
            .await?
            .is_none_or(|current| current.disabled_at.is_some());
        if !disabled {
            return Ok(());
        }
        if self
            .store
            .revoke_session(user.id, session, RevokeReason::Disabled, now)
            .await?
        {
            self.after_revocation(Revocation {
                user: user.id,
                sessions: &[session],
                reason: RevokeReason::Disabled,
                client: None,
                at: now,
            })
            .await;
        }
        Err(AuthError::AccountDisabled)
    }

    /// The `login_failed` audit event, with the user when the email has an account.
    fn login_failed(&self, user: Option<UserId>, client: &ClientInfo) -> AuditEvent {
        let event = AuditEvent::new(AuditKind::LoginFailed, self.clock.now()).client(client);
        match user {
            Some(user) => event.user(user),
            None => event,
        }
    }

    /// The user whose password this is (disabled or not; a weak hash is upgraded), or
    /// `Err` with the id of the email's user, if it has one, when the password is wrong or the
    /// email unknown.
    async fn check_credentials(
        &self,
        email: &str,
        password: String,
    ) -> Result<Result<User, Option<UserId>>, AuthError> {
        let password = match Password::presented(password) {
            Ok(password) => password,
            Err(AuthError::InvalidCredentials) => return Ok(Err(None)),
            Err(other) => return Err(other),
        };
        // An address that cannot exist is just an unknown user: same answer, same work.
        let user = match Email::parse(email) {
            Ok(email) => self.store.find_user_by_email(&email).await?,
            Err(_) => None,
        };
        let stored_hash = user.as_ref().map(|u| u.password_hash.clone());
        // Kept for a possible rehash; the verification consumes the original.
        let spare = user.as_ref().map(|_| password.duplicate());
        let verification = self.hasher.verify(password, stored_hash).await?;
        let user = match user {
            Some(user) if verification.matched => user,
            other => return Ok(Err(other.map(|u| u.id))),
        };
        if verification.needs_rehash
            && let Some(password) = spare
        {
            self.upgrade_hash(user.id, password).await;
        }
        Ok(Ok(user))
    }

    /// Rotates a refresh token: the presented token stops working and its successor is returned
    /// with a new access token. A retry of the immediately previous token within the grace window
    /// gets the same successor; any other reuse revokes the session (recorded as
    /// `refresh_reuse_detected` with `client`). Sessions of a disabled user never refresh.
    ///
    /// # Errors
    /// [`AuthError::InvalidToken`] (malformed or unknown), [`AuthError::TokenExpired`],
    /// [`AuthError::SessionRevoked`] (also when the user is disabled),
    /// [`AuthError::RefreshTokenReused`].
    pub async fn refresh(
        &self,
        presented: &str,
        client: ClientInfo,
    ) -> Result<IssuedTokens, AuthError> {
        // The tag is checked before any database access: a forged or altered token is refused
        // as unknown, and can revoke nothing.
        let presented = self
            .rotation_secret
            .verify(presented)
            .inspect_err(telemetry::refresh_failed)?;
        let now = self.clock.now();
        let request = RotationRequest {
            presented,
            now,
            grace_cutoff: now.minus(self.settings.refresh_reuse_grace),
            successor_expires_at: now.plus(self.settings.idle_timeout()),
            access_expires_at: now.plus(self.settings.access_token_ttl),
        };
        let outcome = self
            .store
            .rotate_refresh_token(&request)
            .await
            .map_err(AuthError::from)
            .inspect_err(telemetry::refresh_failed)?;
        telemetry::refresh(&outcome);
        match outcome {
            // The answer's refresh token is the live generation's: after a rotation the new
            // one, after a replay the same one the first request got. A replay's access token
            // expires with the first answer's, as stored: no access token outlives the
            // session's recorded `access_expires_at`.
            RotationOutcome::Rotated(owner) | RotationOutcome::Replayed(owner) => {
                let refresh_token = self
                    .rotation_secret
                    .token(owner.session_id, owner.generation);
                self.issue_until(
                    owner.user_id,
                    owner.session_id,
                    owner.roles,
                    refresh_token,
                    owner.expires_at,
                    owner.access_expires_at,
                    now,
                )
            }
            RotationOutcome::Reused {
                session_id,
                user_id,
            } => {
                self.after_revocation(Revocation {
                    user: user_id,
                    sessions: &[session_id],
                    reason: RevokeReason::RefreshTokenReused,
                    client: Some(&client),
                    at: now,
                })
                .await;
                Err(AuthError::RefreshTokenReused)
            }
            RotationOutcome::Expired => Err(AuthError::TokenExpired),
            RotationOutcome::Revoked => Err(AuthError::SessionRevoked),
            RotationOutcome::Unknown => Err(AuthError::InvalidToken),
        }
    }

    /// A new session of `user_id` and its first refresh token (generation 0).
    fn new_session(
        &self,
        user_id: UserId,
        client: &ClientInfo,
        now: Timestamp,
    ) -> (NewSession, RefreshToken) {
        let id = SessionId::generate();
        let refresh_token = self.rotation_secret.token(id, 0);
        let absolute_expires_at = now.plus(self.settings.session_max_lifetime);
        let session = NewSession {
            id,
            user_id,
            created_at: now,
            expires_at: now
                .plus(self.settings.idle_timeout())
                .min(absolute_expires_at),
            absolute_expires_at,
            // What `issue` gives the first access token.
            access_expires_at: now.plus(self.settings.access_token_ttl),
            user_agent: client.user_agent.clone().map(cut_user_agent),
            ip: client.ip.clone(),
        };
        (session, refresh_token)
    }

    /// Replaces a weak stored hash; a failure is logged, not fatal to the login.
    async fn upgrade_hash(&self, user: UserId, password: Password) {
        let result = match self.hasher.hash(password).await {
            Ok(hash) => self
                .store
                .set_password_hash(user, &hash, self.clock.now())
                .await
                .map_err(AuthError::from),
            Err(error) => Err(error),
        };
        if let Err(error) = result {
            tracing::warn!(user = %user, %error, "could not upgrade password hash");
        }
    }
}
