//! `UserStore`: sign-up with its first session, look-ups, password hashes, roles.

use std::sync::Arc;

use tokenauth_core::UserId;
use tokenauth_core::session::RotationOutcome;
use tokenauth_core::store::{Store, StoreError};
use tokenauth_core::user::User;

use super::{
    T0, TOKEN_TTL, active, at, email, new_session, new_user, only_session, rotate, sign_up, token,
};

fn assert_same_user(found: &User, expected: &User) {
    assert_eq!(found.id, expected.id);
    assert_eq!(found.email, expected.email);
    assert_eq!(found.password_hash, expected.password_hash);
    assert_eq!(found.roles, expected.roles);
    assert_eq!(found.created_at, expected.created_at);
    assert_eq!(found.disabled_at, expected.disabled_at);
}

/// A user inserted with their first session is found by email and by id, and the session is
/// listed and its token rotates.
pub async fn user_with_session_round_trip(store: Arc<dyn Store>) {
    let alice = sign_up(&store, "Alice@Example.com", &["admin", "ops"]).await;

    let by_email = store
        .find_user_by_email(&email("alice@example.com"))
        .await
        .expect("find by email")
        .expect("alice by email");
    assert_same_user(&by_email, &alice.user);
    let by_id = store
        .find_user(alice.user.id)
        .await
        .expect("find by id")
        .expect("alice by id");
    assert_same_user(&by_id, &alice.user);

    assert!(
        store
            .find_user_by_email(&email("bob@example.com"))
            .await
            .expect("find")
            .is_none()
    );
    assert!(
        store
            .find_user(UserId::generate())
            .await
            .expect("find")
            .is_none()
    );

    let session = only_session(&store, alice.user.id, at(1)).await;
    assert_eq!(session.id, alice.session.id);
    assert_eq!(session.user_id, alice.user.id);
    assert_eq!(session.created_at, T0);
    assert_eq!(session.last_used_at, T0);
    assert_eq!(session.expires_at, T0.plus(TOKEN_TTL));
    assert_eq!(session.generation, 0);
    assert_eq!(session.user_agent, alice.session.user_agent);
    assert_eq!(session.ip, alice.session.ip);

    match rotate(&store, &alice.token, at(1)).await {
        RotationOutcome::Rotated(owner) => {
            assert_eq!(owner.session_id, alice.session.id);
            assert_eq!(owner.user_id, alice.user.id);
            assert_eq!(owner.roles, ["admin", "ops"]);
        }
        other => panic!("the first token must rotate: {other:?}"),
    }
}

/// A user without roles, user agent or address round-trips too.
pub async fn minimal_user_round_trip(store: Arc<dyn Store>) {
    let user = new_user("minimal@example.com", &[]);
    let mut session = new_session(user.id, &token(), T0);
    session.user_agent = None;
    session.ip = None;
    store
        .insert_user_with_session(&user, &session)
        .await
        .expect("sign-up");
    let found = store.find_user(user.id).await.expect("find").expect("user");
    assert_same_user(&found, &user);
    let listed = only_session(&store, user.id, at(1)).await;
    assert_eq!((listed.user_agent, listed.ip), (None, None));
}

/// A second sign-up with a taken email fails with `Conflict` and writes nothing: neither the
/// user nor the session of the failed sign-up exists afterwards.
pub async fn duplicate_email_conflicts_and_writes_nothing(store: Arc<dyn Store>) {
    let alice = sign_up(&store, "alice@example.com", &[]).await;

    // Another spelling of the same address normalises to the same email.
    let impostor = new_user("  ALICE@example.COM ", &["admin"]);
    let impostor_token = token();
    let impostor_session = new_session(impostor.id, &impostor_token, at(5));
    let result = store
        .insert_user_with_session(&impostor, &impostor_session)
        .await;
    assert!(
        matches!(result, Err(StoreError::Conflict(_))),
        "expected Conflict, got {result:?}"
    );

    assert!(store.find_user(impostor.id).await.expect("find").is_none());
    let owner = store
        .find_user_by_email(&email("alice@example.com"))
        .await
        .expect("find")
        .expect("alice");
    assert_same_user(&owner, &alice.user);
    assert!(active(&store, impostor.id, at(6)).await.is_empty());
    assert_eq!(
        rotate(&store, &impostor_token, at(6)).await,
        RotationOutcome::Unknown,
        "the failed sign-up's session must not exist"
    );

    // Alice is untouched and can still sign in to her session.
    let session = only_session(&store, alice.user.id, at(6)).await;
    assert_eq!(session.id, alice.session.id);
    assert!(matches!(
        rotate(&store, &alice.token, at(6)).await,
        RotationOutcome::Rotated(_)
    ));
}

/// `set_password_hash` replaces the hash of that user only.
pub async fn set_password_hash_replaces_only_that_users_hash(store: Arc<dyn Store>) {
    let alice = sign_up(&store, "alice@example.com", &["admin"]).await;
    let bob = sign_up(&store, "bob@example.com", &[]).await;

    let stronger = "$argon2id$v=19$m=65536,t=3,p=4$bmV3c2FsdA$bmV3aGFzaA";
    store
        .set_password_hash(alice.user.id, stronger, at(10))
        .await
        .expect("set password hash");

    let found = store
        .find_user(alice.user.id)
        .await
        .expect("find")
        .expect("alice");
    assert_eq!(found.password_hash, stronger);
    assert_same_user(
        &found,
        &User {
            password_hash: stronger.to_owned(),
            ..alice.user.clone()
        },
    );
    let by_email = store
        .find_user_by_email(&alice.user.email)
        .await
        .expect("find")
        .expect("alice");
    assert_eq!(by_email.password_hash, stronger);

    let other = store
        .find_user(bob.user.id)
        .await
        .expect("find")
        .expect("bob");
    assert_same_user(&other, &bob.user);

    // An unknown user is no error, and creates nobody.
    let ghost = UserId::generate();
    store
        .set_password_hash(ghost, stronger, at(11))
        .await
        .expect("set hash of unknown user");
    assert!(store.find_user(ghost).await.expect("find").is_none());
}

/// `add_role` adds a role once (idempotent), keeps order, and answers false for an unknown
/// email without creating anyone. Roles are seen by both look-ups and by rotation.
pub async fn add_role_is_idempotent(store: Arc<dyn Store>) {
    let alice = sign_up(&store, "alice@example.com", &["user"]).await;
    let bob = sign_up(&store, "bob@example.com", &[]).await;

    assert!(
        store
            .add_role(&email("alice@example.com"), "admin", at(1))
            .await
            .expect("add role")
    );
    assert!(
        store
            .add_role(&email("alice@example.com"), "admin", at(2))
            .await
            .expect("add role again"),
        "adding a role the user has is a no-op that still finds the user"
    );
    assert!(
        store
            .add_role(&email("alice@example.com"), "ops", at(3))
            .await
            .expect("add another role")
    );

    let roles = |user: Option<User>| user.expect("user exists").roles;
    assert_eq!(
        roles(store.find_user(alice.user.id).await.expect("find")),
        ["user", "admin", "ops"]
    );
    assert_eq!(
        roles(
            store
                .find_user_by_email(&alice.user.email)
                .await
                .expect("find")
        ),
        ["user", "admin", "ops"]
    );
    assert!(
        roles(store.find_user(bob.user.id).await.expect("find")).is_empty(),
        "another user's roles are untouched"
    );

    let nobody = email("nobody@example.com");
    assert!(
        !store
            .add_role(&nobody, "admin", at(4))
            .await
            .expect("add role to unknown")
    );
    assert!(
        store
            .find_user_by_email(&nobody)
            .await
            .expect("find")
            .is_none()
    );

    match rotate(&store, &alice.token, at(5)).await {
        RotationOutcome::Rotated(owner) => assert_eq!(owner.roles, ["user", "admin", "ops"]),
        other => panic!("expected Rotated, got {other:?}"),
    }
}
