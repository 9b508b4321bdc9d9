//! Sessions: one per login, each one refresh-token family.

mod rotation;

use std::fmt;
use std::str::FromStr;

use crate::clock::Timestamp;
use crate::ids::{SessionId, UserId};
use crate::refresh_token::PresentedRefreshToken;

pub use rotation::{FamilyState, RotationDecision, RotationRefusal, RotationSwap, decide_rotation};

/// A session to be created, at generation 0: its first refresh token is the token of
/// (`id`, 0), which nothing stored needs to know.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// Identifier; the `sid` claim.
    pub id: SessionId,
    /// Owner.
    pub user_id: UserId,
    /// Creation time.
    pub created_at: Timestamp,
    /// When the first refresh token expires (never after `absolute_expires_at`).
    pub expires_at: Timestamp,
    /// The session's absolute end: no refresh token of it lives past this, however often it is
    /// used (`created_at` + `session_max_lifetime`).
    pub absolute_expires_at: Timestamp,
    /// `exp` of the access token minted with the session: the latest expiry of any access token
    /// of it so far, kept so a revocation is remembered until then.
    pub access_expires_at: Timestamp,
    /// The client's `User-Agent`, cut to a sane length, for the session list.
    pub user_agent: Option<String>,
    /// The client's address, for the session list.
    pub ip: Option<String>,
}

/// A session as listed to its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Identifier.
    pub id: SessionId,
    /// Owner.
    pub user_id: UserId,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last login or refresh.
    pub last_used_at: Timestamp,
    /// When the current refresh token expires: the idle timeout after its last use, never
    /// after `absolute_expires_at`.
    pub expires_at: Timestamp,
    /// The session's absolute end, fixed at creation; no rotation extends it.
    pub absolute_expires_at: Timestamp,
    /// Number of rotations so far.
    pub generation: i64,
    /// `User-Agent` seen at creation.
    pub user_agent: Option<String>,
    /// Client address seen at creation.
    pub ip: Option<String>,
    /// When it was revoked (`None` while it has not been).
    pub revoked_at: Option<Timestamp>,
    /// Why it was revoked.
    pub revoke_reason: Option<RevokeReason>,
}

impl Session {
    /// Whether it can still be refreshed at `now`: neither revoked nor expired.
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

/// Why a session was revoked; stored with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RevokeReason {
    /// The user logged out of this session.
    Logout,
    /// The user revoked this session from their session list.
    RevokedByUser,
    /// The user logged out everywhere.
    RevokeAll,
    /// A rotated refresh token of the family was reused: presumed theft.
    RefreshTokenReused,
    /// A registered API client revoked one of the session's tokens (RFC 7009).
    RevokedByClient,
    /// The user changed their password; every session but the one that changed it ends.
    PasswordChanged,
    /// An operator disabled the user's account.
    Disabled,
    /// An operator revoked the session (`tokenauth session revoke|revoke-all`) or reset the
    /// user's password.
    RevokedByOperator,
    /// The user's account was deleted (by the user or an operator).
    UserDeleted,
}

impl RevokeReason {
    /// Every reason.
    pub const ALL: [RevokeReason; 9] = [
        RevokeReason::Logout,
        RevokeReason::RevokedByUser,
        RevokeReason::RevokeAll,
        RevokeReason::RefreshTokenReused,
        RevokeReason::RevokedByClient,
        RevokeReason::PasswordChanged,
        RevokeReason::Disabled,
        RevokeReason::RevokedByOperator,
        RevokeReason::UserDeleted,
    ];

    /// The stored spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            RevokeReason::Logout => "logout",
            RevokeReason::RevokedByUser => "revoked_by_user",
            RevokeReason::RevokeAll => "revoke_all",
            RevokeReason::RefreshTokenReused => "refresh_token_reused",
            RevokeReason::RevokedByClient => "revoked_by_client",
            RevokeReason::PasswordChanged => "password_changed",
            RevokeReason::Disabled => "disabled",
            RevokeReason::RevokedByOperator => "revoked_by_operator",
            RevokeReason::UserDeleted => "user_deleted",
        }
    }
}

impl fmt::Display for RevokeReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RevokeReason {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "logout" => RevokeReason::Logout,
            "revoked_by_user" => RevokeReason::RevokedByUser,
            "revoke_all" => RevokeReason::RevokeAll,
            "refresh_token_reused" => RevokeReason::RefreshTokenReused,
            "revoked_by_client" => RevokeReason::RevokedByClient,
            "password_changed" => RevokeReason::PasswordChanged,
            "disabled" => RevokeReason::Disabled,
            "revoked_by_operator" => RevokeReason::RevokedByOperator,
            "user_deleted" => RevokeReason::UserDeleted,
            other => return Err(format!("unknown revoke reason {other:?}")),
        })
    }
}

/// What the store knows of a refresh token, looked up (by its session, or a legacy token by its
/// hash) without using it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenStatus {
    /// The session (family) that issued it.
    pub session_id: SessionId,
    /// The session's user.
    pub user_id: UserId,
    /// Whether it is the session's live token (not one already rotated away).
    pub current: bool,
    /// When the session's live refresh token expires.
    pub expires_at: Timestamp,
    /// When the session was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
    /// The user's roles now.
    pub roles: Vec<String>,
}

impl RefreshTokenStatus {
    /// Whether the token can still be exchanged at `now`: live, session neither revoked nor
    /// expired.
    pub fn is_active(&self, now: Timestamp) -> bool {
        self.current && self.revoked_at.is_none() && now < self.expires_at
    }
}

/// One refresh-token rotation, to be carried out atomically by the store ([`decide_rotation`]
/// decides what it does).
#[derive(Debug, Clone)]
pub struct RotationRequest {
    /// The token the client presented, its tag already verified: what the store finds its
    /// family by. Its successor is the token of the session's next generation, which the
    /// service derives from the outcome; the store is told nothing of it.
    pub presented: PresentedRefreshToken,
    /// The time of the request.
    pub now: Timestamp,
    /// A rotation at or after this time makes the previous token a benign retry; before it,
    /// reuse of the previous token is theft (`now - refresh_reuse_grace`).
    pub grace_cutoff: Timestamp,
    /// Expiry of the successor by the idle timeout (`now + session_idle_timeout`); the
    /// rotation caps it at the session's absolute end, and the swap stores it so.
    pub successor_expires_at: Timestamp,
    /// `exp` of the access token minted with the successor; the swap stores it with the
    /// session, in the same statement, as the latest expiry of its access tokens (unless a
    /// later one is stored already).
    pub access_expires_at: Timestamp,
}

/// The owner of a session, as needed to mint its access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionOwner {
    /// The session.
    pub session_id: SessionId,
    /// Its user.
    pub user_id: UserId,
    /// The user's roles now.
    pub roles: Vec<String>,
    /// The generation of the session's live refresh token once the outcome holds (the
    /// successor's after a rotation, the unchanged live one after a replay): the answer's
    /// refresh token is the token of (`session_id`, `generation`).
    pub generation: u64,
    /// When the session's live refresh token expires (never after its absolute end).
    pub expires_at: Timestamp,
    /// The latest `exp` an access token of the session may carry: the one minted with the live
    /// refresh token. A replay mints no later one, so its answer expires with the first.
    pub access_expires_at: Timestamp,
}

/// A revoked session whose access tokens may still be alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevokedSession {
    /// The session (`sid` of its access tokens).
    pub session: SessionId,
    /// When it was revoked.
    pub revoked_at: Timestamp,
    /// The latest `exp` any of its access tokens carries, as stored when they were minted (not
    /// computed from today's `access_token_ttl`); a reader may forget the session once this,
    /// plus its own clock leeway, has passed.
    pub alive_until: Timestamp,
}

/// What a rotation did. The store reads the family, [`decide_rotation`] decides, and the store
/// applies the decision, all in one transaction; see `shared/refresh-rotation.md` for the
/// invariants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotationOutcome {
    /// The presented token was the live one; its successor is now live and it is not.
    Rotated(SessionOwner),
    /// The presented token is the immediately previous one, rotated within the grace window:
    /// answer with its successor, the live token (the one the first request got). Nothing was
    /// changed.
    Replayed(SessionOwner),
    /// An older token of the family, or the previous one after the grace window: the family
    /// has now been revoked.
    Reused {
        /// The session that was revoked.
        session_id: SessionId,
        /// Its user.
        user_id: UserId,
    },
    /// The token belongs to a session that has expired: its idle timeout or its absolute end
    /// has passed.
    Expired,
    /// The token belongs to a session that was revoked earlier, or whose user is disabled.
    Revoked,
    /// No session has ever had this token.
    Unknown,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_revoke_reason_round_trips_through_its_stored_spelling() {
        for reason in RevokeReason::ALL {
            assert_eq!(reason.as_str().parse::<RevokeReason>(), Ok(reason));
        }
        assert!("password-changed".parse::<RevokeReason>().is_err());
    }
}
