//! Every branch of [`decide_rotation`], with its boundaries.
//!
//! The family in these tests was rotated twice: the token of generation `OLDER` (0) was
//! replaced by `PREVIOUS` (1), which was replaced by the live `CURRENT` (2) at `ROTATED_AT`;
//! `AHEAD` (3) is the generation the live token's successor would have, which no token of this
//! family has yet.

use std::time::Duration;

use uuid::Uuid;

use super::*;
use crate::refresh_token::{PresentedRefreshToken, RefreshTokenHash};

const T0: Timestamp = Timestamp::from_millis(1_750_000_000_000);
const GRACE: Duration = Duration::from_secs(10);
const IDLE: Duration = Duration::from_secs(400);
const MAX_LIFETIME: Duration = Duration::from_secs(1000);
const ACCESS_TTL: Duration = Duration::from_secs(60);
const MS: Duration = Duration::from_millis(1);

const OLDER: u64 = 0;
const PREVIOUS: u64 = 1;
const CURRENT: u64 = 2;
const AHEAD: u64 = 3;

fn rotated_at() -> Timestamp {
    T0.plus(Duration::from_secs(100))
}

fn session_id() -> SessionId {
    SessionId::from_uuid(Uuid::from_u128(1))
}

/// The family, as the store finds it for a token of generation `presented`.
fn family_presenting(presented: u64) -> FamilyState {
    FamilyState {
        session_id: session_id(),
        user_id: UserId::from_uuid(Uuid::from_u128(2)),
        generation: CURRENT,
        presented_generation: presented,
        rotated_at: Some(rotated_at()),
        expires_at: rotated_at().plus(IDLE),
        absolute_expires_at: T0.plus(MAX_LIFETIME),
        access_expires_at: rotated_at().plus(ACCESS_TTL),
        revoked_at: None,
        user_disabled: false,
        roles: vec!["admin".to_owned()],
    }
}

/// The family as found for its live token.
fn family() -> FamilyState {
    family_presenting(CURRENT)
}

/// A request as the service makes it at `now`. The decision reads the presented token's
/// generation from the family; the request's token is only what the store looked it up by.
fn request(now: Timestamp) -> RotationRequest {
    RotationRequest {
        presented: PresentedRefreshToken::Session {
            session_id: session_id(),
            generation: CURRENT,
        },
        now,
        grace_cutoff: now.minus(GRACE),
        successor_expires_at: now.plus(IDLE),
        access_expires_at: now.plus(ACCESS_TTL),
    }
}

/// The decision for `family` with its token of generation `presented` at `now`.
fn decide_for(family: &FamilyState, presented: u64, now: Timestamp) -> RotationDecision {
    let family = FamilyState {
        presented_generation: presented,
        ..family.clone()
    };
    decide_rotation(Some(&family), &request(now))
}

/// The live token, the previous one and the one before it, of `family` at `now`.
fn every_issued(family: &FamilyState, now: Timestamp) -> [(u64, RotationDecision); 3] {
    [CURRENT, PREVIOUS, OLDER].map(|presented| (presented, decide_for(family, presented, now)))
}

fn refused(refusal: RotationRefusal) -> RotationDecision {
    RotationDecision::Refuse(refusal)
}

fn revoke_family() -> RotationDecision {
    let family = family();
    RotationDecision::RevokeFamily {
        session_id: family.session_id,
        user_id: family.user_id,
    }
}

#[test]
fn a_token_no_session_issued_is_refused_as_unknown() {
    let now = rotated_at().plus(Duration::from_secs(1));
    let legacy = RotationRequest {
        presented: PresentedRefreshToken::Legacy(RefreshTokenHash::from_bytes([5; 32])),
        ..request(now)
    };
    for request in [request(now), legacy] {
        let decision = decide_rotation(None, &request);
        assert_eq!(decision, refused(RotationRefusal::UnknownToken));
    }
    assert_eq!(
        RotationRefusal::UnknownToken.outcome(),
        RotationOutcome::Unknown
    );
}

#[test]
fn a_generation_above_the_live_one_is_refused_as_unknown_and_revokes_nothing() {
    // Only a token with a valid tag gets this far (a database restored from an older backup).
    let now = rotated_at().plus(Duration::from_secs(1));
    for presented in [AHEAD, AHEAD + 1, u64::MAX] {
        assert_eq!(
            decide_for(&family(), presented, now),
            refused(RotationRefusal::UnknownToken),
            "generation {presented}"
        );
    }
}

#[test]
fn a_generation_above_the_live_one_is_unknown_whatever_the_session_state() {
    let mut family = family();
    family.revoked_at = Some(rotated_at());
    family.user_disabled = true;
    let now = family.absolute_expires_at.plus(MS);
    assert_eq!(
        decide_for(&family, AHEAD, now),
        refused(RotationRefusal::UnknownToken)
    );
}

#[test]
fn the_live_token_rotates_with_every_value_the_swap_writes() {
    let family = family();
    let now = rotated_at().plus(Duration::from_secs(30));
    let expected = RotationSwap {
        generation: CURRENT,
        successor_generation: AHEAD,
        expires_at: now.plus(IDLE),
        access_expires_at: now.plus(ACCESS_TTL),
        owner: SessionOwner {
            session_id: family.session_id,
            user_id: family.user_id,
            roles: vec!["admin".to_owned()],
            generation: AHEAD,
            expires_at: now.plus(IDLE),
            access_expires_at: now.plus(ACCESS_TTL),
        },
    };
    assert_eq!(
        decide_for(&family, CURRENT, now),
        RotationDecision::Rotate(expected)
    );
}

#[test]
fn the_live_token_rotates_within_the_grace_window_too() {
    // A second refresh right after the first is an ordinary rotation of the new live token.
    let decision = decide_for(&family(), CURRENT, rotated_at());
    assert!(
        matches!(decision, RotationDecision::Rotate(_)),
        "{decision:?}"
    );
}

#[test]
fn the_successor_expiry_is_capped_at_the_absolute_end() {
    let mut family = family();
    let end = family.absolute_expires_at;
    // Refreshed often enough to reach its end.
    family.expires_at = end;
    // The idle timeout would reach exactly the end, then past it.
    for now in [end.minus(IDLE), end.minus(IDLE).plus(MS), end.minus(MS)] {
        let RotationDecision::Rotate(swap) = decide_for(&family, CURRENT, now) else {
            panic!("expected a rotation at {now:?}");
        };
        let expected = now.plus(IDLE).min(end);
        assert_eq!(swap.expires_at, expected, "at {now:?}");
        assert_eq!(swap.owner.expires_at, expected, "at {now:?}");
        assert!(swap.expires_at <= end);
    }
}

#[test]
fn the_stored_access_expiry_is_raised_never_lowered() {
    let mut family = family();
    let now = rotated_at().plus(Duration::from_secs(1));
    // Tokens minted under a longer access-token lifetime are still alive.
    family.access_expires_at = now.plus(Duration::from_secs(3600));
    let RotationDecision::Rotate(swap) = decide_for(&family, CURRENT, now) else {
        panic!("expected a rotation");
    };
    assert_eq!(swap.access_expires_at, family.access_expires_at);
    assert_eq!(
        swap.owner.access_expires_at,
        now.plus(ACCESS_TTL),
        "the answer carries the expiry of the token it mints"
    );
}

#[test]
fn the_first_rotation_of_a_session_starts_at_generation_one() {
    let mut family = family();
    family.generation = 0;
    family.rotated_at = None;
    let RotationDecision::Rotate(swap) = decide_for(&family, 0, T0) else {
        panic!("expected a rotation");
    };
    assert_eq!((swap.generation, swap.successor_generation), (0, 1));
    assert_eq!(
        swap.owner.generation, 1,
        "the answer is the token of generation 1"
    );
    // Generation 1 is not issued before that rotation.
    assert_eq!(
        decide_for(&family, 1, T0),
        refused(RotationRefusal::UnknownToken)
    );
}

#[test]
fn at_its_idle_expiry_a_session_is_refused_as_expired() {
    let family = family();
    let expiry = family.expires_at;
    assert!(matches!(
        decide_for(&family, CURRENT, expiry.minus(MS)),
        RotationDecision::Rotate(_)
    ));
    // All before the absolute end.
    for now in [
        expiry,
        expiry.plus(MS),
        expiry.plus(Duration::from_secs(60)),
    ] {
        assert_eq!(
            decide_for(&family, CURRENT, now),
            refused(RotationRefusal::IdleTimeout),
            "at {now:?}"
        );
    }
    assert_eq!(
        RotationRefusal::IdleTimeout.outcome(),
        RotationOutcome::Expired
    );
}

#[test]
fn at_its_absolute_end_a_session_is_refused_however_late_its_idle_expiry() {
    let mut family = family();
    let end = family.absolute_expires_at;
    // An idle expiry past the absolute end (as set by hand) does not keep the session alive.
    family.expires_at = end.plus(Duration::from_secs(3600));
    let RotationDecision::Rotate(swap) = decide_for(&family, CURRENT, end.minus(MS)) else {
        panic!("expected a rotation just before the end");
    };
    assert_eq!(swap.expires_at, end);
    for now in [end, end.plus(MS)] {
        assert_eq!(
            decide_for(&family, CURRENT, now),
            refused(RotationRefusal::AbsoluteEnd),
            "at {now:?}"
        );
    }
    assert_eq!(
        RotationRefusal::AbsoluteEnd.outcome(),
        RotationOutcome::Expired
    );
}

#[test]
fn past_both_ends_the_absolute_end_is_reported() {
    let family = family();
    let now = family.absolute_expires_at.max(family.expires_at);
    assert_eq!(
        decide_for(&family, CURRENT, now),
        refused(RotationRefusal::AbsoluteEnd)
    );
}

#[test]
fn an_expired_family_neither_replays_nor_revokes() {
    let mut family = family();
    // Expired one second after its rotation: still inside the grace window.
    family.expires_at = rotated_at().plus(Duration::from_secs(1));
    for (presented, decision) in every_issued(&family, family.expires_at) {
        assert_eq!(
            decision,
            refused(RotationRefusal::IdleTimeout),
            "generation {presented}"
        );
    }
}

#[test]
fn every_token_of_a_revoked_session_is_refused() {
    let mut family = family();
    family.revoked_at = Some(rotated_at().plus(MS));
    let now = rotated_at().plus(Duration::from_secs(1));
    for (presented, decision) in every_issued(&family, now) {
        assert_eq!(
            decision,
            refused(RotationRefusal::SessionRevoked),
            "no rotation, no replay, and no second revocation: generation {presented}"
        );
    }
    assert_eq!(
        RotationRefusal::SessionRevoked.outcome(),
        RotationOutcome::Revoked
    );
}

#[test]
fn a_revoked_session_is_reported_revoked_even_when_expired_or_its_user_disabled() {
    let mut family = family();
    family.revoked_at = Some(rotated_at().plus(MS));
    family.user_disabled = true;
    let now = family.absolute_expires_at.plus(MS);
    assert_eq!(
        decide_for(&family, CURRENT, now),
        refused(RotationRefusal::SessionRevoked)
    );
}

#[test]
fn a_session_of_a_disabled_user_never_rotates_replays_or_counts_as_theft() {
    let mut family = family();
    family.user_disabled = true;
    let now = rotated_at().plus(Duration::from_secs(1));
    for (presented, decision) in every_issued(&family, now) {
        assert_eq!(
            decision,
            refused(RotationRefusal::UserDisabled),
            "generation {presented}"
        );
    }
    assert_eq!(
        RotationRefusal::UserDisabled.outcome(),
        RotationOutcome::Revoked
    );
}

#[test]
fn an_expired_session_of_a_disabled_user_is_reported_expired() {
    let mut family = family();
    family.user_disabled = true;
    let now = family.expires_at;
    assert_eq!(
        decide_for(&family, CURRENT, now),
        refused(RotationRefusal::IdleTimeout)
    );
}

#[test]
fn the_previous_token_within_grace_replays_the_live_successor() {
    let family = family();
    let expected = RotationDecision::Replay(SessionOwner {
        session_id: family.session_id,
        user_id: family.user_id,
        roles: vec!["admin".to_owned()],
        generation: CURRENT,
        expires_at: family.expires_at,
        access_expires_at: family.access_expires_at,
    });
    for now in [rotated_at(), rotated_at().plus(Duration::from_secs(1))] {
        assert_eq!(decide_for(&family, PREVIOUS, now), expected, "at {now:?}");
    }
}

#[test]
fn the_grace_window_includes_its_end_and_nothing_after() {
    let family = family();
    // A rotation exactly `GRACE` ago puts the cutoff on it: still a benign retry.
    let end = rotated_at().plus(GRACE);
    assert!(matches!(
        decide_for(&family, PREVIOUS, end),
        RotationDecision::Replay(_)
    ));
    assert_eq!(decide_for(&family, PREVIOUS, end.plus(MS)), revoke_family());
}

#[test]
fn the_previous_token_after_grace_is_theft() {
    let family = family();
    let now = rotated_at().plus(Duration::from_secs(300));
    assert_eq!(decide_for(&family, PREVIOUS, now), revoke_family());
}

#[test]
fn a_replay_answers_exactly_the_successor_the_rotation_answered() {
    // The rotation of generation 2 answers the token of generation 3; once it has been
    // applied, a retry of generation 2 answers generation 3 again: the same token, as both are
    // derived from (session, generation) alone.
    let now = rotated_at().plus(Duration::from_secs(60));
    let RotationDecision::Rotate(swap) = decide_for(&family(), CURRENT, now) else {
        panic!("expected a rotation");
    };
    let rotated = FamilyState {
        generation: swap.successor_generation,
        rotated_at: Some(now),
        expires_at: swap.expires_at,
        access_expires_at: swap.access_expires_at,
        ..family()
    };
    let RotationDecision::Replay(replayed) = decide_for(&rotated, CURRENT, now.plus(MS)) else {
        panic!("expected a replay");
    };
    assert_eq!(replayed.generation, swap.owner.generation);
    assert_eq!(replayed.session_id, swap.owner.session_id);
}

#[test]
fn the_first_token_is_the_previous_one_after_the_first_rotation() {
    let mut family = family();
    family.generation = 1;
    for (now, expected) in [
        (rotated_at().plus(GRACE), true),
        (rotated_at().plus(GRACE).plus(MS), false),
    ] {
        let decision = decide_for(&family, 0, now);
        assert_eq!(
            matches!(decision, RotationDecision::Replay(_)),
            expected,
            "{decision:?}"
        );
        if !expected {
            assert_eq!(decision, revoke_family());
        }
    }
}

#[test]
fn an_older_token_is_theft_even_within_grace() {
    let family = family();
    for now in [rotated_at(), rotated_at().plus(Duration::from_secs(300))] {
        assert_eq!(
            decide_for(&family, OLDER, now),
            revoke_family(),
            "at {now:?}"
        );
    }
}

#[test]
fn a_previous_token_without_a_rotation_time_is_never_a_benign_retry() {
    let mut family = family();
    family.rotated_at = None;
    let now = rotated_at().plus(Duration::from_secs(1));
    assert_eq!(decide_for(&family, PREVIOUS, now), revoke_family());
}

/// Which token of the family a request presents, in the decision table below.
#[derive(Debug, Clone, Copy)]
enum Presented {
    Live,
    PreviousWithinGrace,
    PreviousAfterGrace,
    Older,
    /// A generation the family has not reached (a valid tag the database never issued).
    Ahead,
}

/// Every combination of session state and presented token: only a live token of a live family
/// rotates, only the previous one within grace replays, only a live family is revoked, a
/// generation ahead is unknown whatever the state, and nothing at all happens to a dead family
/// or a disabled user's.
#[test]
fn decision_table() {
    let kinds = [
        Presented::Live,
        Presented::PreviousWithinGrace,
        Presented::PreviousAfterGrace,
        Presented::Older,
        Presented::Ahead,
    ];
    for bits in 0..16u8 {
        let (revoked, past_end, idle, disabled) =
            (bits & 1 != 0, bits & 2 != 0, bits & 4 != 0, bits & 8 != 0);
        for kind in kinds {
            let now = match kind {
                Presented::PreviousAfterGrace => rotated_at().plus(GRACE).plus(MS),
                _ => rotated_at().plus(Duration::from_secs(1)),
            };
            let mut family = family();
            family.revoked_at = revoked.then_some(rotated_at());
            if past_end {
                family.absolute_expires_at = now;
            }
            if idle {
                family.expires_at = now;
            }
            family.user_disabled = disabled;
            let presented = match kind {
                Presented::Live => CURRENT,
                Presented::PreviousWithinGrace | Presented::PreviousAfterGrace => PREVIOUS,
                Presented::Older => OLDER,
                Presented::Ahead => AHEAD,
            };
            let decision = decide_for(&family, presented, now);
            let expected = if matches!(kind, Presented::Ahead) {
                refused(RotationRefusal::UnknownToken)
            } else if revoked {
                refused(RotationRefusal::SessionRevoked)
            } else if past_end {
                refused(RotationRefusal::AbsoluteEnd)
            } else if idle {
                refused(RotationRefusal::IdleTimeout)
            } else if disabled {
                refused(RotationRefusal::UserDisabled)
            } else {
                match (kind, &decision) {
                    (Presented::Live, RotationDecision::Rotate(_))
                    | (Presented::PreviousWithinGrace, RotationDecision::Replay(_)) => {
                        decision.clone()
                    }
                    (Presented::PreviousAfterGrace | Presented::Older, _) => revoke_family(),
                    _ => panic!("{kind:?} of a live family decided {decision:?}"),
                }
            };
            assert_eq!(decision, expected, "{kind:?}, state bits {bits:04b}");
        }
    }
}
