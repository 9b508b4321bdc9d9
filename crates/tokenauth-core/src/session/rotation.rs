//! The refresh-token rotation decision, in one place for every backend
//! (`shared/refresh-rotation.md`).
//!
//! A store reads the [`FamilyState`] of the presented token in one go, asks
//! [`decide_rotation`] what to do, and applies the [`RotationDecision`] in the same transaction:
//! a [`RotationDecision::Rotate`] with its compare-and-swap on the live generation (which keeps
//! the concurrency safety: if it loses, the store reads again and decides again), a
//! [`RotationDecision::RevokeFamily`] with its revocation and feed event, the others with no
//! write at all. The decision itself is pure: no I/O, and no clock (the time is the request's
//! `now`).
//!
//! Generations decide: a token is the live one when its generation is the session's, the one
//! just rotated away when it is one less, and older otherwise. A token's successor is the token
//! of the next generation, which [`RotationSecret::token`](crate::refresh_token::RotationSecret::token)
//! derives from the session and the generation alone.

use crate::clock::Timestamp;
use crate::ids::{SessionId, UserId};

use super::{RotationOutcome, RotationRequest, SessionOwner};

/// What a store knows, at one moment, of the session (refresh-token family) that issued the
/// presented token: the session's row and its user's, read together, and the generation the
/// store found the presented token to be (from the token itself for a v2 token; for a legacy
/// token from the stored hash it matched: the live one, the previous one, or a history entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FamilyState {
    /// The session that issued the presented token.
    pub session_id: SessionId,
    /// The session's user.
    pub user_id: UserId,
    /// The live token's generation (number of rotations so far).
    pub generation: u64,
    /// The presented token's generation. Above `generation` only for a v2 token with a valid
    /// tag that this database never issued (one restored from an older backup, say).
    pub presented_generation: u64,
    /// When the live token replaced the previous one (`None` before the first rotation).
    pub rotated_at: Option<Timestamp>,
    /// When the live token expires: the idle timeout after the last use, never after
    /// `absolute_expires_at` unless set so by hand.
    pub expires_at: Timestamp,
    /// The session's absolute end, fixed at its creation.
    pub absolute_expires_at: Timestamp,
    /// The latest `exp` of any access token minted for the session so far.
    pub access_expires_at: Timestamp,
    /// When the session was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
    /// Whether the user is disabled now.
    pub user_disabled: bool,
    /// The user's roles now.
    pub roles: Vec<String>,
}

/// What the store must do with a rotation request, as [`decide_rotation`] decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotationDecision {
    /// The presented token is the live one of a live session: move the session to the next
    /// generation in one compare-and-swap on the live generation that also rechecks that the
    /// session is neither revoked nor expired and its user not disabled (and forgets any
    /// legacy hash: the successor is a v2 token). Answer [`RotationOutcome::Rotated`] with
    /// `swap.owner` once it holds.
    Rotate(RotationSwap),
    /// A benign retry of the immediately previous token within the grace window: change
    /// nothing and answer [`RotationOutcome::Replayed`] with this owner (the live token's
    /// generation and expiries).
    Replay(SessionOwner),
    /// A rotated token of a live family came back, other than as a benign retry: presumed
    /// theft. Revoke the session (reason `RefreshTokenReused`, with its feed event) and answer
    /// [`RotationOutcome::Reused`].
    RevokeFamily {
        /// The session to revoke.
        session_id: SessionId,
        /// Its user.
        user_id: UserId,
    },
    /// Neither rotate nor replay, and no theft: change nothing and answer
    /// [`RotationRefusal::outcome`].
    Refuse(RotationRefusal),
}

/// The swap a [`RotationDecision::Rotate`] asks of the store, with every value it writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationSwap {
    /// The live generation the compare-and-swap expects to find (the presented token's).
    pub generation: u64,
    /// The successor's generation (the live one plus one), which the swap stores.
    pub successor_generation: u64,
    /// The successor's expiry: the request's `successor_expires_at`, capped at the session's
    /// absolute end.
    pub expires_at: Timestamp,
    /// The session's latest access-token expiry after the swap: the later of the stored one
    /// and the request's `access_expires_at` (never lowered).
    pub access_expires_at: Timestamp,
    /// The answer once the swap has committed: the successor's generation and expiry, and as
    /// access-token expiry the one of the token minted with it (the request's).
    pub owner: SessionOwner,
}

/// Why a rotation is refused without any change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RotationRefusal {
    /// No session ever issued the token (or it was purged).
    UnknownToken,
    /// The session was revoked earlier; none of its tokens ever works again.
    SessionRevoked,
    /// The session's absolute end has come (at or before `now`).
    AbsoluteEnd,
    /// The live token's expiry (the idle timeout) has come (at or before `now`).
    IdleTimeout,
    /// The user is disabled: the session must not rotate or replay, and it is no theft.
    UserDisabled,
}

impl RotationRefusal {
    /// The store's answer for this refusal: [`RotationOutcome::Unknown`] for an unknown token,
    /// [`RotationOutcome::Expired`] for either end of the session, and
    /// [`RotationOutcome::Revoked`] for a revoked session or a disabled user.
    pub const fn outcome(self) -> RotationOutcome {
        match self {
            RotationRefusal::UnknownToken => RotationOutcome::Unknown,
            RotationRefusal::AbsoluteEnd | RotationRefusal::IdleTimeout => RotationOutcome::Expired,
            RotationRefusal::SessionRevoked | RotationRefusal::UserDisabled => {
                RotationOutcome::Revoked
            }
        }
    }
}

/// Decides what a rotation of `request.presented` does at `request.now`, given the state of the
/// family that issued it (`None`: no session ever did). In this order:
///
/// 1. unknown token: refused ([`RotationRefusal::UnknownToken`]); so is a token of a
///    generation above the live one, which the database never issued (only a valid tag gets
///    that far: a database restored from an older backup, say). Nothing is revoked for it;
/// 2. a revoked session: refused, whichever of its tokens it is (a revoked family never comes
///    back, and is not revoked twice);
/// 3. a session at or past its absolute end, then at or past its idle expiry: refused, for
///    any of its tokens (nothing is revoked for an old token of an expired family);
/// 4. a disabled user: refused, for any token of the session;
/// 5. the live token (its generation is the live one): [`RotationDecision::Rotate`], the
///    successor expiring at the request's `successor_expires_at` capped at the absolute end;
/// 6. the immediately previous token (generation live − 1), rotated at or after
///    `request.grace_cutoff` (exactly at the cutoff is still within grace):
///    [`RotationDecision::Replay`];
/// 7. any other token of the family (older, or the previous one after the grace window):
///    [`RotationDecision::RevokeFamily`].
pub fn decide_rotation(
    family: Option<&FamilyState>,
    request: &RotationRequest,
) -> RotationDecision {
    let Some(family) = family.filter(|family| family.presented_generation <= family.generation)
    else {
        return RotationDecision::Refuse(RotationRefusal::UnknownToken);
    };
    if let Some(refusal) = refusal(family, request.now) {
        return RotationDecision::Refuse(refusal);
    }
    if family.presented_generation == family.generation {
        return RotationDecision::Rotate(swap(family, request));
    }
    if is_benign_retry(family, request) {
        // The answer is the token of the live generation. Successors are derived from
        // (session, generation) alone, so the live token is exactly the presented one's
        // successor by construction: the check the hash-based design needed here (that the
        // live token is the one the first request got) holds without being made.
        return RotationDecision::Replay(SessionOwner {
            session_id: family.session_id,
            user_id: family.user_id,
            roles: family.roles.clone(),
            generation: family.generation,
            expires_at: family.expires_at,
            access_expires_at: family.access_expires_at,
        });
    }
    RotationDecision::RevokeFamily {
        session_id: family.session_id,
        user_id: family.user_id,
    }
}

/// Why no token of the family may be used at `now`, if one may.
fn refusal(family: &FamilyState, now: Timestamp) -> Option<RotationRefusal> {
    if family.revoked_at.is_some() {
        Some(RotationRefusal::SessionRevoked)
    } else if family.absolute_expires_at <= now {
        Some(RotationRefusal::AbsoluteEnd)
    } else if family.expires_at <= now {
        Some(RotationRefusal::IdleTimeout)
    } else if family.user_disabled {
        Some(RotationRefusal::UserDisabled)
    } else {
        None
    }
}

/// The swap of the live generation for the next.
fn swap(family: &FamilyState, request: &RotationRequest) -> RotationSwap {
    let expires_at = request.successor_expires_at.min(family.absolute_expires_at);
    let successor_generation = family.generation.saturating_add(1);
    RotationSwap {
        generation: family.generation,
        successor_generation,
        expires_at,
        access_expires_at: family.access_expires_at.max(request.access_expires_at),
        owner: SessionOwner {
            session_id: family.session_id,
            user_id: family.user_id,
            roles: family.roles.clone(),
            generation: successor_generation,
            expires_at,
            access_expires_at: request.access_expires_at,
        },
    }
}

/// Whether the presented token is the previous one (one generation back), rotated away within
/// the grace window.
fn is_benign_retry(family: &FamilyState, request: &RotationRequest) -> bool {
    family.generation.checked_sub(1) == Some(family.presented_generation)
        && family
            .rotated_at
            .is_some_and(|at| at >= request.grace_cutoff)
}

#[cfg(test)]
mod tests;
