//! `ClientStore`, and the refresh-token lookup (without use) that introspection and revocation
//! use.

use std::sync::Arc;

use tokenauth_core::client::{ApiClient, ClientPermission, ClientPermissions, ClientSecretHash};
use tokenauth_core::session::RevokeReason;
use tokenauth_core::store::{Store, StoreError};

use super::{T0, TOKEN_TTL, at, presented, rotate_ok, sign_up, token};

fn client(id: &str, name: &str, secret: &str, created_secs: u64) -> ApiClient {
    ApiClient {
        client_id: id.to_owned(),
        name: name.to_owned(),
        secret_hash: ClientSecretHash::of(secret),
        created_at: at(created_secs),
        disabled_at: None,
        permissions: ClientPermissions::NONE,
    }
}

/// Every column round-trips; an unknown id is `None`; the list is in registration order.
pub async fn clients_round_trip(store: Arc<dyn Store>) {
    let billing = client("tac_billing", "billing", "s3cret-one", 10);
    let disabled = ApiClient {
        disabled_at: Some(at(20)),
        ..client("tac_audit", "audit – ünïcode", "s3cret-two", 5)
    };
    store.insert_client(&billing).await.expect("insert");
    store.insert_client(&disabled).await.expect("insert");

    let found = store.find_client("tac_billing").await.expect("find");
    assert_eq!(found.as_ref(), Some(&billing));
    assert!(found.is_some_and(|c| c.accepts("s3cret-one")));
    assert_eq!(
        store.find_client("tac_audit").await.expect("find").as_ref(),
        Some(&disabled)
    );
    assert_eq!(store.find_client("tac_nobody").await.expect("find"), None);
    assert_eq!(store.find_client("TAC_BILLING").await.expect("find"), None);
    assert_eq!(
        store.list_clients().await.expect("list"),
        vec![disabled, billing]
    );
}

/// Every set of permissions round-trips, none included.
pub async fn client_permissions_round_trip(store: Arc<dyn Store>) {
    let sets: [ClientPermissions; 4] = [
        ClientPermissions::NONE,
        [ClientPermission::Introspect].into_iter().collect(),
        [ClientPermission::RevokeAny, ClientPermission::Revocations]
            .into_iter()
            .collect(),
        ClientPermissions::all(),
    ];
    for (i, permissions) in sets.into_iter().enumerate() {
        let id = format!("tac_{i}");
        let registered = ApiClient {
            permissions,
            ..client(&id, "resource server", "secret", 1)
        };
        store.insert_client(&registered).await.expect("insert");
        let found = store.find_client(&id).await.expect("find");
        assert_eq!(found.map(|c| c.permissions), Some(permissions));
    }
    let listed: Vec<_> = store
        .list_clients()
        .await
        .expect("list")
        .into_iter()
        .map(|c| c.permissions)
        .collect();
    assert_eq!(listed, sets);
}

/// A second client with a taken id is a `Conflict` and changes nothing.
pub async fn duplicate_client_id_conflicts(store: Arc<dyn Store>) {
    let first = client("tac_same", "first", "one", 0);
    store.insert_client(&first).await.expect("insert");
    let error = store
        .insert_client(&client("tac_same", "second", "two", 1))
        .await
        .expect_err("duplicate id");
    assert!(matches!(error, StoreError::Conflict(_)), "{error:?}");
    assert_eq!(store.list_clients().await.expect("list"), vec![first]);
}

/// The lookup reports the session, whether the token is the live one, the expiry, the
/// revocation and the user's roles, and changes nothing: the token still rotates afterwards.
pub async fn find_refresh_token_reports_without_consuming(store: Arc<dyn Store>) {
    let alice = sign_up(&store, "alice@example.com", &["admin"]).await;
    assert_eq!(
        store
            .find_refresh_token(&presented(&token()))
            .await
            .expect("find"),
        None
    );
    let status = store
        .find_refresh_token(&presented(&alice.token))
        .await
        .expect("find")
        .expect("known token");
    assert_eq!(status.session_id, alice.session.id);
    assert_eq!(status.user_id, alice.user.id);
    assert!(status.current);
    assert_eq!(status.expires_at, T0.plus(TOKEN_TTL));
    assert_eq!(status.revoked_at, None);
    assert_eq!(status.roles, vec!["admin".to_owned()]);
    assert!(status.is_active(at(1)));
    assert!(!status.is_active(T0.plus(TOKEN_TTL)));

    // Looking did not consume: the token still rotates, and is then no longer the live one.
    let (next, _) = rotate_ok(&store, &alice.token, at(60)).await;
    let old = store
        .find_refresh_token(&presented(&alice.token))
        .await
        .expect("find")
        .expect("history keeps the old token");
    assert!(!old.current);
    assert!(!old.is_active(at(61)));
    let live = store
        .find_refresh_token(&presented(&next))
        .await
        .expect("find")
        .expect("successor");
    assert!(live.current && live.is_active(at(61)));
    assert_eq!(live.expires_at, at(60).plus(TOKEN_TTL));

    assert!(
        store
            .revoke_session(
                alice.user.id,
                alice.session.id,
                RevokeReason::RevokedByClient,
                at(70)
            )
            .await
            .expect("revoke")
    );
    let revoked = store
        .find_refresh_token(&presented(&next))
        .await
        .expect("find")
        .expect("still known");
    assert_eq!(revoked.revoked_at, Some(at(70)));
    assert!(!revoked.is_active(at(71)));
}
