//! Tokens nobody was issued: altered, spliced, made under another secret, or of a generation
//! the session has not reached. Each is refused, and none changes anything: a forged token must
//! never revoke someone's session. A token whose tag does not verify is refused before any
//! store call (as the service does); one with a valid tag but a generation above the live one
//! reaches the store, which answers `Unknown`.

use std::sync::Arc;

use tokenauth_core::refresh_token::{RotationSecret, TOKEN_CHARS};
use tokenauth_core::session::{RotationOutcome, Session};
use tokenauth_core::store::Store;
use tokenauth_core::{AuthError, UserId};

use super::{
    GRACE, T0, at, only_session, presented, request_with, revoked_since, rotate, rotate_ok, secret,
    sign_up,
};

/// Characters of a v2 token that encode its session id and generation (24 bytes); the rest is
/// the tag.
const NAME_CHARS: usize = 32;
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// What a server would answer for `text` at `now`: `None` when it is refused before any store
/// call, else the store's outcome.
async fn refresh(
    store: &Arc<dyn Store>,
    text: &str,
    now: tokenauth_core::Timestamp,
) -> Option<RotationOutcome> {
    match secret().verify(text) {
        Ok(token) => {
            let request = request_with(token, now, now.minus(GRACE));
            Some(store.rotate_refresh_token(&request).await.expect("rotate"))
        }
        Err(AuthError::InvalidToken) => None,
        Err(other) => panic!("unexpected refusal {other:?}"),
    }
}

/// `text` with the character at `index` replaced by another of the alphabet.
fn altered(text: &str, index: usize, shift: usize) -> String {
    let bytes = text.as_bytes();
    let position = ALPHABET
        .iter()
        .position(|&c| c == bytes[index])
        .expect("base64url");
    let mut out = bytes.to_vec();
    out[index] = ALPHABET[(position + shift) % ALPHABET.len()];
    String::from_utf8(out).expect("ascii")
}

/// The session, the feed and the revocations are as they were: `before` is the session.
async fn nothing_changed(store: &Arc<dyn Store>, user: UserId, before: &Session) {
    assert_eq!(&only_session(store, user, at(500)).await, before);
    assert!(revoked_since(store, T0).await.is_empty());
    assert!(
        store
            .revocations_after(0, 10)
            .await
            .expect("feed")
            .is_empty()
    );
}

/// Every one-character change of a live or previous token (its session id, its generation, its
/// tag) is refused without reaching the store; the family neither rotates, replays, nor is
/// revoked, and its real tokens still work.
pub async fn an_altered_tag_is_refused_and_changes_nothing(store: Arc<dyn Store>) {
    let alice = sign_up(&store, "alice@example.com", &[]).await;
    let (live, _) = rotate_ok(&store, &alice.token, at(100)).await;
    let before = only_session(&store, alice.user.id, at(101)).await;
    for token in [&live, &alice.token] {
        assert_eq!(token.expose().len(), TOKEN_CHARS);
        for index in 0..TOKEN_CHARS {
            for shift in [1, 32] {
                let forged = altered(token.expose(), index, shift);
                assert_eq!(
                    refresh(&store, &forged, at(101)).await,
                    None,
                    "character {index} shifted by {shift}"
                );
            }
        }
    }
    nothing_changed(&store, alice.user.id, &before).await;
    assert!(matches!(
        rotate(&store, &alice.token, at(102)).await,
        RotationOutcome::Replayed(_)
    ));
    rotate_ok(&store, &live, at(103)).await;
}

/// Another session's id and generation in front of a real tag is refused: a tag is bound to
/// the session and generation it was made for.
pub async fn another_session_under_the_same_tag_is_refused(store: Arc<dyn Store>) {
    let alice = sign_up(&store, "alice@example.com", &[]).await;
    let bob = sign_up(&store, "bob@example.com", &[]).await;
    let alice_before = only_session(&store, alice.user.id, at(1)).await;
    let bob_before = only_session(&store, bob.user.id, at(1)).await;
    let (a, b) = (alice.token.expose(), bob.token.expose());
    let later = secret().token(alice.session.id, 1);
    for forged in [
        format!("{}{}", &b[..NAME_CHARS], &a[NAME_CHARS..]),
        format!("{}{}", &a[..NAME_CHARS], &b[NAME_CHARS..]),
        format!("{}{}", &later.expose()[..NAME_CHARS], &a[NAME_CHARS..]),
    ] {
        assert_eq!(refresh(&store, &forged, at(2)).await, None, "{forged}");
    }
    nothing_changed(&store, alice.user.id, &alice_before).await;
    nothing_changed(&store, bob.user.id, &bob_before).await;
    rotate_ok(&store, &alice.token, at(3)).await;
    rotate_ok(&store, &bob.token, at(3)).await;
}

/// A token with a valid tag whose generation the session has not reached (as after a restore
/// from an older backup) is `Unknown` to rotation and lookup alike, and revokes nothing; the
/// live token still rotates, and the next generation is then the live one.
pub async fn a_generation_above_the_live_one_is_unknown_and_revokes_nothing(store: Arc<dyn Store>) {
    let alice = sign_up(&store, "alice@example.com", &[]).await;
    let (live, _) = rotate_ok(&store, &alice.token, at(100)).await;
    let before = only_session(&store, alice.user.id, at(101)).await;
    for generation in [2, 3, 1 << 40, i64::MAX as u64, u64::MAX] {
        let ahead = secret().token(alice.session.id, generation);
        assert_eq!(
            refresh(&store, ahead.expose(), at(101)).await,
            Some(RotationOutcome::Unknown),
            "generation {generation}"
        );
        assert_eq!(
            store
                .find_refresh_token(&presented(&ahead))
                .await
                .expect("find"),
            None,
            "generation {generation}"
        );
    }
    nothing_changed(&store, alice.user.id, &before).await;
    let (next, owner) = rotate_ok(&store, &live, at(102)).await;
    assert_eq!(owner.generation, 2);
    assert_eq!(next.expose(), secret().token(alice.session.id, 2).expose());
}

/// A token made under another rotation secret (another deployment's, or a guess) for a real
/// session is refused, for every generation, without reaching the store.
pub async fn a_token_under_another_secret_is_refused_and_revokes_nothing(store: Arc<dyn Store>) {
    let alice = sign_up(&store, "alice@example.com", &[]).await;
    let (live, _) = rotate_ok(&store, &alice.token, at(100)).await;
    let before = only_session(&store, alice.user.id, at(101)).await;
    let other = RotationSecret::new(&[8; 32]);
    for generation in 0..4 {
        let foreign = other.token(alice.session.id, generation);
        assert_eq!(refresh(&store, foreign.expose(), at(101)).await, None);
    }
    nothing_changed(&store, alice.user.id, &before).await;
    rotate_ok(&store, &live, at(102)).await;
}

/// The previous generation, forged under another secret and presented within the grace window,
/// is no benign retry and no theft: refused, nothing replayed, nothing revoked. (Before token
/// format v2 a request named its successor, and one naming another successor counted as reuse;
/// now a request names none, and a token without a valid tag is only ever unknown.)
pub async fn a_forged_previous_token_within_grace_neither_replays_nor_revokes(
    store: Arc<dyn Store>,
) {
    let alice = sign_up(&store, "alice@example.com", &[]).await;
    let (next, rotated) = rotate_ok(&store, &alice.token, at(100)).await;
    let before = only_session(&store, alice.user.id, at(101)).await;
    let forged = RotationSecret::new(&[8; 32]).token(alice.session.id, 0);
    assert_eq!(refresh(&store, forged.expose(), at(101)).await, None);
    nothing_changed(&store, alice.user.id, &before).await;
    // The real previous token still replays, the live one still rotates.
    assert_eq!(
        rotate(&store, &alice.token, at(102)).await,
        RotationOutcome::Replayed(rotated)
    );
    rotate_ok(&store, &next, at(103)).await;
}
