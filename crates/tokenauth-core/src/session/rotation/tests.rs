//! Every branch of [`decide_rotation`], with its boundaries.
//!
//! The family in these tests was rotated twice: `OLDER` (generation 0) was replaced by
//! `PREVIOUS`, which was replaced by `CURRENT` at `ROTATED_AT`; `NEXT` is the successor the
//! live token would get.

use std::time::Duration;

use uuid::Uuid;

use super::*;

const T0: Timestamp = Timestamp::from_millis(1_750_000_000_000);
const GRACE: Duration = Duration::from_secs(10);
const IDLE: Duration = Duration::from_secs(400);
const MAX_LIFETIME: Duration = Duration::from_secs(1000);
const ACCESS_TTL: Duration = Duration::from_secs(60);
const MS: Duration = Duration::from_millis(1);

const OLDER: RefreshTokenHash = RefreshTokenHash::from_bytes([1; 32]);
const PREVIOUS: RefreshTokenHash = RefreshTokenHash::from_bytes([2; 32]);
const CURRENT: RefreshTokenHash = RefreshTokenHash::from_bytes([3; 32]);
const NEXT: RefreshTokenHash = RefreshTokenHash::from_bytes([4; 32]);
const FORGED: RefreshTokenHash = RefreshTokenHash::from_bytes([5; 32]);

fn rotated_at() -> Timestamp {
    T0.plus(Duration::from_secs(100))
}

fn family() -> FamilyState {
    FamilyState {
        session_id: SessionId::from_uuid(Uuid::from_u128(1)),
        user_id: UserId::from_uuid(Uuid::from_u128(2)),
        current_hash: CURRENT,
        previous_hash: Some(PREVIOUS),
        rotated_at: Some(rotated_at()),
        generation: 2,
        expires_at: rotated_at().plus(IDLE),
        absolute_expires_at: T0.plus(MAX_LIFETIME),
        access_expires_at: rotated_at().plus(ACCESS_TTL),
        revoked_at: None,
        user_disabled: false,
        roles: vec!["admin".to_owned()],
    }
}

/// A request as the service makes it at `now`.
fn request(
    presented: RefreshTokenHash,
    successor: RefreshTokenHash,
    now: Timestamp,
) -> RotationRequest {
    RotationRequest {
        presented,
        successor,
        now,
        grace_cutoff: now.minus(GRACE),
        successor_expires_at: now.plus(IDLE),
        access_expires_at: now.plus(ACCESS_TTL),
    }
}

/// The live token, presented at `now`.
fn live(now: Timestamp) -> RotationRequest {
    request(CURRENT, NEXT, now)
}

/// The previous token, presented again at `now` (its successor is the live token).
fn previous(now: Timestamp) -> RotationRequest {
    request(PREVIOUS, CURRENT, now)
}

/// The token before the previous one, presented at `now`.
fn older(now: Timestamp) -> RotationRequest {
    request(OLDER, PREVIOUS, now)
}

fn decide(family: &FamilyState, request: &RotationRequest) -> RotationDecision {
    decide_rotation(Some(family), request)
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
    for request in [live(now), previous(now), request(FORGED, CURRENT, now)] {
        let decision = decide_rotation(None, &request);
        assert_eq!(decision, refused(RotationRefusal::UnknownToken));
    }
    assert_eq!(
        RotationRefusal::UnknownToken.outcome(),
        RotationOutcome::Unknown
    );
}

#[test]
fn the_live_token_rotates_with_every_value_the_swap_writes() {
    let family = family();
    let now = rotated_at().plus(Duration::from_secs(30));
    let request = live(now);
    let expected = RotationSwap {
        successor_generation: 3,
        expires_at: now.plus(IDLE),
        access_expires_at: now.plus(ACCESS_TTL),
        owner: SessionOwner {
            session_id: family.session_id,
            user_id: family.user_id,
            roles: vec!["admin".to_owned()],
            expires_at: now.plus(IDLE),
            access_expires_at: now.plus(ACCESS_TTL),
        },
    };
    assert_eq!(
        decide(&family, &request),
        RotationDecision::Rotate(expected)
    );
}

#[test]
fn the_live_token_rotates_within_the_grace_window_too() {
    // A second refresh right after the first is an ordinary rotation of the new live token.
    let decision = decide(&family(), &live(rotated_at()));
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
        let RotationDecision::Rotate(swap) = decide(&family, &live(now)) else {
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
    let RotationDecision::Rotate(swap) = decide(&family, &live(now)) else {
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
    family.current_hash = OLDER;
    family.previous_hash = None;
    family.rotated_at = None;
    family.generation = 0;
    let RotationDecision::Rotate(swap) = decide(&family, &request(OLDER, PREVIOUS, T0)) else {
        panic!("expected a rotation");
    };
    assert_eq!(swap.successor_generation, 1);
}

#[test]
fn at_its_idle_expiry_a_session_is_refused_as_expired() {
    let family = family();
    let expiry = family.expires_at;
    assert!(matches!(
        decide(&family, &live(expiry.minus(MS))),
        RotationDecision::Rotate(_)
    ));
    // All before the absolute end.
    for now in [
        expiry,
        expiry.plus(MS),
        expiry.plus(Duration::from_secs(60)),
    ] {
        assert_eq!(
            decide(&family, &live(now)),
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
    let RotationDecision::Rotate(swap) = decide(&family, &live(end.minus(MS))) else {
        panic!("expected a rotation just before the end");
    };
    assert_eq!(swap.expires_at, end);
    for now in [end, end.plus(MS)] {
        assert_eq!(
            decide(&family, &live(now)),
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
        decide(&family, &live(now)),
        refused(RotationRefusal::AbsoluteEnd)
    );
}

#[test]
fn an_expired_family_neither_replays_nor_revokes() {
    let mut family = family();
    // Expired one second after its rotation: still inside the grace window.
    family.expires_at = rotated_at().plus(Duration::from_secs(1));
    let now = family.expires_at;
    for request in [live(now), previous(now), older(now)] {
        assert_eq!(
            decide(&family, &request),
            refused(RotationRefusal::IdleTimeout),
            "{request:?}"
        );
    }
}

#[test]
fn every_token_of_a_revoked_session_is_refused() {
    let mut family = family();
    family.revoked_at = Some(rotated_at().plus(MS));
    let now = rotated_at().plus(Duration::from_secs(1));
    for request in [live(now), previous(now), older(now)] {
        assert_eq!(
            decide(&family, &request),
            refused(RotationRefusal::SessionRevoked),
            "no rotation, no replay, and no second revocation: {request:?}"
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
        decide(&family, &live(now)),
        refused(RotationRefusal::SessionRevoked)
    );
}

#[test]
fn a_session_of_a_disabled_user_never_rotates_replays_or_counts_as_theft() {
    let mut family = family();
    family.user_disabled = true;
    let now = rotated_at().plus(Duration::from_secs(1));
    for request in [live(now), previous(now), older(now)] {
        assert_eq!(
            decide(&family, &request),
            refused(RotationRefusal::UserDisabled),
            "{request:?}"
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
        decide(&family, &live(now)),
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
        expires_at: family.expires_at,
        access_expires_at: family.access_expires_at,
    });
    for now in [rotated_at(), rotated_at().plus(Duration::from_secs(1))] {
        assert_eq!(decide(&family, &previous(now)), expected, "at {now:?}");
    }
}

#[test]
fn the_grace_window_includes_its_end_and_nothing_after() {
    let family = family();
    // A rotation exactly `GRACE` ago puts the cutoff on it: still a benign retry.
    let end = rotated_at().plus(GRACE);
    assert!(matches!(
        decide(&family, &previous(end)),
        RotationDecision::Replay(_)
    ));
    assert_eq!(decide(&family, &previous(end.plus(MS))), revoke_family());
}

#[test]
fn the_previous_token_after_grace_is_theft() {
    let family = family();
    let now = rotated_at().plus(Duration::from_secs(300));
    assert_eq!(decide(&family, &previous(now)), revoke_family());
}

#[test]
fn a_replay_needs_the_live_token_to_be_exactly_the_requested_successor() {
    let family = family();
    let now = rotated_at().plus(Duration::from_secs(1));
    assert_eq!(
        decide(&family, &request(PREVIOUS, FORGED, now)),
        revoke_family()
    );
}

#[test]
fn an_older_token_is_theft_even_within_grace() {
    let family = family();
    for now in [rotated_at(), rotated_at().plus(Duration::from_secs(300))] {
        assert_eq!(decide(&family, &older(now)), revoke_family(), "at {now:?}");
    }
}

#[test]
fn a_previous_token_without_a_rotation_time_is_never_a_benign_retry() {
    let mut family = family();
    family.rotated_at = None;
    let now = rotated_at().plus(Duration::from_secs(1));
    assert_eq!(decide(&family, &previous(now)), revoke_family());
}

/// Which token of the family a request presents, in the decision table below.
#[derive(Debug, Clone, Copy)]
enum Presented {
    Live,
    PreviousWithinGrace,
    PreviousAfterGrace,
    Older,
}

/// Every combination of session state and presented token: only a live token of a live family
/// rotates, only the previous one within grace replays, only a live family is revoked, and
/// nothing at all happens to a dead family or a disabled user's.
#[test]
fn decision_table() {
    let kinds = [
        Presented::Live,
        Presented::PreviousWithinGrace,
        Presented::PreviousAfterGrace,
        Presented::Older,
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
            let request = match kind {
                Presented::Live => live(now),
                Presented::PreviousWithinGrace | Presented::PreviousAfterGrace => previous(now),
                Presented::Older => older(now),
            };
            let decision = decide(&family, &request);
            let expected = if revoked {
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
