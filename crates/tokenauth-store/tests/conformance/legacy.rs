//! Sessions from before token format v2, as a database from before holds them (a current and a
//! previous hash, a history row per token, imported through [`Transfer`]): their tokens keep
//! working until the session's next rotation, which answers a v2 token and clears the current
//! hash, and the generation rule decides for them as for v2 tokens (invariants 1 to 4 of
//! `shared/refresh-rotation.md`). No one is logged out by the upgrade.

use std::sync::Arc;
use std::time::Duration;

use tokenauth_core::refresh_token::{PresentedRefreshToken, RefreshToken};
use tokenauth_core::session::{RotationOutcome, SessionOwner};
use tokenauth_core::store::{Batch, Cursor, RefreshTokenRow, SessionRow, Store, Table, Transfer};
use tokenauth_core::{SessionId, Timestamp, UserId};

use super::{
    ACCESS_TTL, GRACE, MAX_LIFETIME, T0, TOKEN_TTL, answered, at, legacy_hash, legacy_token,
    new_user, only_session, presented, request_with, revoked_since, rotate, rotate_ok, secret,
};

/// When the old code last rotated the imported sessions.
const OLD_ROTATION: u64 = 50;

/// A session of the old format, at generation [`LIVE`], with its legacy tokens.
struct LegacySession {
    user: UserId,
    id: SessionId,
    /// The plaintext of every legacy token the session issued, by generation; the last is live.
    tokens: Vec<String>,
}

/// The imported sessions' live generation.
const LIVE: usize = 2;

impl LegacySession {
    /// The request presenting legacy token `generation` at `now`.
    fn request(
        &self,
        generation: usize,
        now: Timestamp,
    ) -> tokenauth_core::session::RotationRequest {
        request_with(self.presented(generation), now, now.minus(GRACE))
    }

    fn presented(&self, generation: usize) -> PresentedRefreshToken {
        PresentedRefreshToken::Legacy(legacy_hash(&self.tokens[generation]))
    }

    async fn rotate(
        &self,
        store: &Arc<dyn Store>,
        generation: usize,
        now: Timestamp,
    ) -> RotationOutcome {
        store
            .rotate_refresh_token(&self.request(generation, now))
            .await
            .expect("rotate")
    }

    /// The session's stored row, every column.
    async fn row(&self, import: &Arc<dyn Transfer>) -> SessionRow {
        let Batch::Sessions(rows) = import
            .export_batch(&Cursor::start(Table::Sessions), 1000)
            .await
            .expect("export")
        else {
            panic!("a batch of sessions");
        };
        rows.into_iter()
            .find(|row| row.id == self.id)
            .expect("the session is stored")
    }
}

/// Stores a user with a session as the old code left it: rotated twice (last at
/// [`OLD_ROTATION`]), its live token's hash current, the one before previous, and a history row
/// for each of its three tokens.
async fn legacy_session(
    store: &Arc<dyn Store>,
    import: &Arc<dyn Transfer>,
    address: &str,
) -> LegacySession {
    let user = new_user(address, &["user"]);
    store.insert_user(&user).await.expect("insert user");
    let id = SessionId::generate();
    let tokens: Vec<String> = (0..=LIVE).map(|_| legacy_token()).collect();
    let hash = |generation: usize| legacy_hash(&tokens[generation]);
    let session = SessionRow {
        id,
        user_id: user.id,
        current_hash: Some(hash(LIVE)),
        previous_hash: Some(hash(LIVE - 1)),
        generation: LIVE as i64,
        rotated_at: Some(at(OLD_ROTATION)),
        created_at: T0,
        last_used_at: at(OLD_ROTATION),
        expires_at: at(OLD_ROTATION).plus(TOKEN_TTL),
        absolute_expires_at: T0.plus(MAX_LIFETIME),
        access_expires_at: at(OLD_ROTATION).plus(ACCESS_TTL),
        revoked_at: None,
        revoke_reason: None,
        user_agent: Some("legacy/1.0".to_owned()),
        ip: None,
    };
    let history = (0..=LIVE)
        .map(|generation| RefreshTokenRow {
            hash: hash(generation),
            session_id: id,
            generation: generation as i64,
        })
        .collect();
    for batch in [
        Batch::Sessions(vec![session]),
        Batch::RefreshTokens(history),
    ] {
        import.import_batch(&batch).await.expect("import");
    }
    LegacySession {
        user: user.id,
        id,
        tokens,
    }
}

/// Asserts `outcome` is `Rotated` to `generation` and returns the v2 token it answers.
fn rotated_to(outcome: RotationOutcome, generation: u64) -> (RefreshToken, SessionOwner) {
    match outcome {
        RotationOutcome::Rotated(owner) => {
            assert_eq!(owner.generation, generation);
            (answered(&owner), owner)
        }
        other => panic!("expected Rotated, got {other:?}"),
    }
}

/// The live legacy token rotates (one generation on, the session's hash moved to previous,
/// none current) and its successor is a v2 token of the session, which rotates in turn and
/// leaves no hash at all.
pub async fn a_legacy_token_rotates_into_v2_and_keeps_working(
    store: Arc<dyn Store>,
    import: Arc<dyn Transfer>,
) {
    let alice = legacy_session(&store, &import, "alice@example.com").await;
    let (v2, owner) = rotated_to(alice.rotate(&store, LIVE, at(100)).await, 3);
    assert_eq!((owner.session_id, owner.user_id), (alice.id, alice.user));
    assert_eq!(owner.roles, ["user"]);
    assert_eq!(
        presented(&v2),
        PresentedRefreshToken::Session {
            session_id: alice.id,
            generation: 3
        }
    );
    let row = alice.row(&import).await;
    assert_eq!(row.current_hash, None);
    assert_eq!(row.previous_hash, Some(legacy_hash(&alice.tokens[LIVE])));
    assert_eq!((row.generation, row.rotated_at), (3, Some(at(100))));

    let (next, _) = rotate_ok(&store, &v2, at(200)).await;
    let row = alice.row(&import).await;
    assert_eq!((row.current_hash, row.previous_hash), (None, None));
    assert_eq!(row.generation, 4);
    rotate_ok(&store, &next, at(300)).await;
    let session = only_session(&store, alice.user, at(301)).await;
    assert_eq!((session.id, session.generation), (alice.id, 5));
    assert!(revoked_since(&store, T0).await.is_empty());
}

/// After the conversion, the legacy token just rotated away, presented again within the grace
/// window, replays: the same v2 successor, nothing changed.
pub async fn a_legacy_previous_token_within_grace_replays(
    store: Arc<dyn Store>,
    import: Arc<dyn Transfer>,
) {
    let alice = legacy_session(&store, &import, "alice@example.com").await;
    let (v2, owner) = rotated_to(alice.rotate(&store, LIVE, at(100)).await, 3);
    let before = only_session(&store, alice.user, at(101)).await;
    for retry_at in [at(100), at(101), at(100).plus(GRACE)] {
        let RotationOutcome::Replayed(replayed) = alice.rotate(&store, LIVE, retry_at).await else {
            panic!("expected Replayed at {retry_at:?}");
        };
        assert_eq!(replayed.generation, owner.generation);
        assert_eq!(answered(&replayed).expose(), v2.expose());
    }
    assert_eq!(only_session(&store, alice.user, at(131)).await, before);
    assert!(revoked_since(&store, T0).await.is_empty());
    rotate_ok(&store, &v2, at(140)).await;
}

/// The legacy token just rotated away, presented after the grace window, is theft: the family
/// is revoked, its v2 successor included.
pub async fn a_legacy_previous_token_after_grace_is_theft(
    store: Arc<dyn Store>,
    import: Arc<dyn Transfer>,
) {
    let alice = legacy_session(&store, &import, "alice@example.com").await;
    let (v2, _) = rotated_to(alice.rotate(&store, LIVE, at(100)).await, 3);
    let late = at(100).plus(GRACE).plus(Duration::from_millis(1));
    assert_eq!(
        alice.rotate(&store, LIVE, late).await,
        RotationOutcome::Reused {
            session_id: alice.id,
            user_id: alice.user,
        }
    );
    assert_eq!(revoked_since(&store, T0).await, [(alice.id, late)]);
    assert_eq!(rotate(&store, &v2, late).await, RotationOutcome::Revoked);
}

/// A legacy token older than the one converted (the old previous, now known only from the
/// history) is theft even within the grace window.
pub async fn an_older_legacy_token_after_the_conversion_is_theft(
    store: Arc<dyn Store>,
    import: Arc<dyn Transfer>,
) {
    let alice = legacy_session(&store, &import, "alice@example.com").await;
    let (v2, _) = rotated_to(alice.rotate(&store, LIVE, at(100)).await, 3);
    for older in [LIVE - 1, 0] {
        let bob = legacy_session(&store, &import, &format!("bob{older}@example.com")).await;
        rotated_to(bob.rotate(&store, LIVE, at(100)).await, 3);
        assert_eq!(
            bob.rotate(&store, older, at(101)).await,
            RotationOutcome::Reused {
                session_id: bob.id,
                user_id: bob.user,
            },
            "generation {older}"
        );
    }
    assert_eq!(
        alice.rotate(&store, LIVE - 1, at(101)).await,
        RotationOutcome::Reused {
            session_id: alice.id,
            user_id: alice.user,
        }
    );
    assert_eq!(rotate(&store, &v2, at(102)).await, RotationOutcome::Revoked);
}

/// Once the session has rotated again as v2, the legacy token it was converted from (no longer
/// in `previous_hash`, known from the history) is two generations back: theft, even within the
/// grace window of the last rotation.
pub async fn the_previous_legacy_token_is_theft_once_the_session_moved_on(
    store: Arc<dyn Store>,
    import: Arc<dyn Transfer>,
) {
    let alice = legacy_session(&store, &import, "alice@example.com").await;
    let (v2, _) = rotated_to(alice.rotate(&store, LIVE, at(100)).await, 3);
    rotate_ok(&store, &v2, at(110)).await;
    assert_eq!(
        alice.rotate(&store, LIVE, at(111)).await,
        RotationOutcome::Reused {
            session_id: alice.id,
            user_id: alice.user,
        }
    );
}

/// A retry of the previous legacy token within the grace of a rotation the old code made (its
/// successor still legacy, current) replays with the v2 token of the live generation: the old
/// successor and that token name the same generation, so whichever rotates first, the other is
/// then the previous token (a replay of the same v2 successor within grace), as with two tabs.
pub async fn a_rotation_by_the_old_code_is_replayed_as_v2(
    store: Arc<dyn Store>,
    import: Arc<dyn Transfer>,
) {
    let alice = legacy_session(&store, &import, "alice@example.com").await;
    let just_after = at(OLD_ROTATION + 1);
    let RotationOutcome::Replayed(owner) = alice.rotate(&store, LIVE - 1, just_after).await else {
        panic!("expected Replayed");
    };
    assert_eq!(owner.generation, LIVE as u64);
    let v2 = answered(&owner);
    let (next, _) = rotated_to(
        store
            .rotate_refresh_token(&request_with(presented(&v2), just_after, at(0)))
            .await
            .expect("rotate"),
        3,
    );
    let RotationOutcome::Replayed(again) = alice.rotate(&store, LIVE, just_after).await else {
        panic!("the old successor, now previous, replays");
    };
    assert_eq!(answered(&again).expose(), next.expose());
    assert!(revoked_since(&store, T0).await.is_empty());
    // Without any retry, past the old rotation's grace, the old previous token is theft.
    let bob = legacy_session(&store, &import, "bob@example.com").await;
    let late = at(OLD_ROTATION).plus(GRACE).plus(Duration::from_millis(1));
    assert!(matches!(
        bob.rotate(&store, LIVE - 1, late).await,
        RotationOutcome::Reused { .. }
    ));
}

/// The lookup of introspection and revocation knows legacy tokens by hash (the live one current,
/// older ones not) and, after the conversion, the v2 successor by generation; a random legacy
/// token and a generation ahead are unknown.
pub async fn a_legacy_token_is_found_without_being_used(
    store: Arc<dyn Store>,
    import: Arc<dyn Transfer>,
) {
    let alice = legacy_session(&store, &import, "alice@example.com").await;
    let find = |token: PresentedRefreshToken| {
        let store = &store;
        async move { store.find_refresh_token(&token).await.expect("find") }
    };
    let current = |token| async move { find(token).await.map(|status| status.current) };
    assert_eq!(current(alice.presented(LIVE)).await, Some(true));
    assert_eq!(current(alice.presented(0)).await, Some(false));
    let unknown = PresentedRefreshToken::Legacy(legacy_hash(&legacy_token()));
    assert_eq!(current(unknown).await, None);

    let (v2, _) = rotated_to(alice.rotate(&store, LIVE, at(100)).await, 3);
    let status = find(alice.presented(LIVE)).await.expect("still known");
    assert!(!status.current && !status.is_active(at(101)));
    assert_eq!(status.session_id, alice.id);
    assert_eq!(current(presented(&v2)).await, Some(true));
    assert_eq!(
        current(presented(&secret().token(alice.id, 2))).await,
        Some(false)
    );
    assert_eq!(current(presented(&secret().token(alice.id, 4))).await, None);
}

/// A legacy session's history rows are deleted with the session when it is purged.
pub async fn legacy_history_goes_with_its_purged_session(
    store: Arc<dyn Store>,
    import: Arc<dyn Transfer>,
) {
    let alice = legacy_session(&store, &import, "alice@example.com").await;
    let bob = legacy_session(&store, &import, "bob@example.com").await;
    assert_eq!(
        import
            .count_rows(Table::RefreshTokens)
            .await
            .expect("count"),
        2 * (LIVE as u64 + 1)
    );
    assert!(
        store
            .revoke_session(
                alice.user,
                alice.id,
                tokenauth_core::session::RevokeReason::Logout,
                at(100)
            )
            .await
            .expect("revoke")
    );
    assert_eq!(
        store
            .purge_ended_sessions(at(101), 10)
            .await
            .expect("purge"),
        1
    );
    assert_eq!(
        import
            .count_rows(Table::RefreshTokens)
            .await
            .expect("count"),
        LIVE as u64 + 1,
        "alice's history went with her session, bob's stayed"
    );
    assert_eq!(
        alice.rotate(&store, LIVE, at(102)).await,
        RotationOutcome::Unknown
    );
    rotated_to(bob.rotate(&store, LIVE, at(102)).await, 3);
}

/// After a migration from before token format v2: in session `known` (generation 3, rotated
/// at `at(100)`), the previous legacy token `previous` replays within grace, the live one
/// `live` rotates into the v2 token of generation 4, which rotates in turn, and `previous` is
/// then theft.
pub async fn old_tokens_keep_working(
    store: &dyn tokenauth_core::store::SessionStore,
    known: SessionId,
    live: &str,
    previous: &str,
) {
    let now = at(101);
    let rotate = |token: &str| {
        let request = request_with(
            secret().verify(token).expect("a token"),
            now,
            now.minus(GRACE),
        );
        async move { store.rotate_refresh_token(&request).await.expect("rotate") }
    };
    let RotationOutcome::Replayed(replayed) = rotate(previous).await else {
        panic!("the previous legacy token replays within grace");
    };
    assert_eq!((replayed.session_id, replayed.generation), (known, 3));
    let (v2, owner) = rotated_to(rotate(live).await, 4);
    assert_eq!(owner.session_id, known);
    rotated_to(rotate(v2.expose()).await, 5);
    assert!(matches!(
        rotate(previous).await,
        RotationOutcome::Reused { session_id, .. } if session_id == known
    ));
}
