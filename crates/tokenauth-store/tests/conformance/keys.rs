//! `KeyStore`: the signing-key life cycle `next` → `active` → `retired` → deleted, and early
//! withdrawal.

use std::sync::Arc;
use std::time::Duration;

use tokenauth_core::Timestamp;
use tokenauth_core::keys::{KeyPolicy, KeyState, KeyWithdrawal, SigningKeyRecord};
use tokenauth_core::store::{FeedSubject, Store, StoreError};

use super::{T0, at};

/// A key record; `alg` is a JOSE name (`ES256`, `EdDSA`, `RS256`, `HS256`).
pub fn key(kid: &str, alg: &str, state: KeyState, created: Timestamp) -> SigningKeyRecord {
    let symmetric = alg == "HS256";
    SigningKeyRecord {
        kid: kid.to_owned(),
        alg: alg.parse().expect("JOSE algorithm name"),
        state,
        // Arbitrary bytes, NUL and 0xff included: the store must not treat them as text.
        sealed_material: [kid.as_bytes(), &[0, 1, 0xfe, 0xff, 0], &[0x42; 60]].concat(),
        public_jwk: (!symmetric).then(|| format!(r#"{{"kid":"{kid}","kty":"EC"}}"#)),
        created_at: created,
        activate_at: created,
        activated_at: (state != KeyState::Next).then_some(created),
        retired_at: None,
        publish_until: None,
    }
}

/// A retired key, published until `until`.
pub fn retired(kid: &str, created: Timestamp, until: Timestamp) -> SigningKeyRecord {
    SigningKeyRecord {
        retired_at: Some(created),
        publish_until: Some(until),
        ..key(kid, "ES256", KeyState::Retired, created)
    }
}

async fn list(store: &Arc<dyn Store>) -> Vec<SigningKeyRecord> {
    store.list_signing_keys().await.expect("list keys")
}

async fn insert(store: &Arc<dyn Store>, record: &SigningKeyRecord) {
    store.insert_signing_key(record).await.expect("insert key");
}

fn kids(keys: &[SigningKeyRecord]) -> Vec<&str> {
    keys.iter().map(|key| key.kid.as_str()).collect()
}

/// Keys of every algorithm and state come back exactly as stored, in creation order.
pub async fn keys_round_trip(store: Arc<dyn Store>) {
    assert!(list(&store).await.is_empty());
    let stored = vec![
        retired("old-1", T0, at(1000)),
        retired("old-2", at(1), at(2000)),
        key("hmac", "HS256", KeyState::Active, at(2)),
        key("rsa", "RS256", KeyState::Next, at(3)),
        SigningKeyRecord {
            public_jwk: Some("{\"kty\":\"OKP\",\"crv\":\"Ed25519\"}".to_owned()),
            sealed_material: vec![0; 1],
            ..retired("ed", at(4), at(3000))
        },
        SigningKeyRecord {
            alg: "EdDSA".parse().expect("alg"),
            ..retired("ed-2", at(5), at(3000))
        },
    ];
    for record in &stored {
        insert(&store, record).await;
    }
    assert_eq!(list(&store).await, stored);
}

/// At most one `next` and one `active` key: a second one is a `Conflict` and changes nothing;
/// retired keys may be many.
pub async fn one_active_and_one_next_key(store: Arc<dyn Store>) {
    insert(&store, &key("a1", "ES256", KeyState::Active, T0)).await;
    insert(&store, &key("n1", "ES256", KeyState::Next, at(1))).await;
    for i in 0..3 {
        insert(&store, &retired(&format!("r{i}"), at(2 + i), at(100))).await;
    }
    let before = list(&store).await;

    for second in [
        key("a2", "ES256", KeyState::Active, at(10)),
        key("n2", "EdDSA", KeyState::Next, at(11)),
    ] {
        let result = store.insert_signing_key(&second).await;
        assert!(
            matches!(result, Err(StoreError::Conflict(_))),
            "second {:?} key: {result:?}",
            second.state
        );
    }
    assert_eq!(list(&store).await, before, "a conflict changes nothing");

    // A kid is unique too.
    let duplicate = retired("r0", at(20), at(200));
    assert!(store.insert_signing_key(&duplicate).await.is_err());
    assert_eq!(list(&store).await, before);
}

/// Promotion moves the `next` key to `active` and the `active` one to `retired` with the given
/// publication end, in one step; a kid that is not `next` is refused without any change.
pub async fn promote_signing_key_moves_states(store: Arc<dyn Store>) {
    let old = retired("old", T0, at(500));
    let active = key("a", "ES256", KeyState::Active, at(1));
    let next = key("n", "ES256", KeyState::Next, at(2));
    for record in [&old, &active, &next] {
        insert(&store, record).await;
    }
    let before = list(&store).await;

    for not_next in ["a", "old", "missing"] {
        assert!(
            !store
                .promote_signing_key(not_next, at(10), at(900))
                .await
                .expect("promote"),
            "{not_next} is not next"
        );
    }
    assert_eq!(
        list(&store).await,
        before,
        "a refused promotion changes nothing"
    );

    assert!(
        store
            .promote_signing_key("n", at(10), at(900))
            .await
            .expect("promote")
    );
    let after = list(&store).await;
    assert_eq!(kids(&after), ["old", "a", "n"]);
    assert_eq!(after[0], old, "an already retired key is untouched");
    assert_eq!(
        after[1],
        SigningKeyRecord {
            state: KeyState::Retired,
            retired_at: Some(at(10)),
            publish_until: Some(at(900)),
            ..active.clone()
        }
    );
    assert_eq!(
        after[2],
        SigningKeyRecord {
            state: KeyState::Active,
            activated_at: Some(at(10)),
            ..next.clone()
        }
    );

    // A second promotion of the same kid is refused: it is no longer next.
    assert!(
        !store
            .promote_signing_key("n", at(11), at(950))
            .await
            .expect("promote again")
    );
    assert_eq!(list(&store).await, after);

    // The `next` slot is free again, and the cycle repeats.
    let third = key("n2", "EdDSA", KeyState::Next, at(20));
    insert(&store, &third).await;
    assert!(
        store
            .promote_signing_key("n2", at(30), at(990))
            .await
            .expect("promote")
    );
    let states: Vec<_> = list(&store)
        .await
        .iter()
        .map(|k| (k.kid.clone(), k.state, k.publish_until))
        .collect();
    assert_eq!(
        states,
        [
            ("old".to_owned(), KeyState::Retired, Some(at(500))),
            ("a".to_owned(), KeyState::Retired, Some(at(900))),
            ("n".to_owned(), KeyState::Retired, Some(at(990))),
            ("n2".to_owned(), KeyState::Active, None),
        ]
    );
}

/// With no active key yet (first start), promotion just activates the `next` key.
pub async fn promote_without_active_key(store: Arc<dyn Store>) {
    let next = key("first", "ES256", KeyState::Next, T0);
    insert(&store, &next).await;
    assert!(
        store
            .promote_signing_key("first", at(5), at(100))
            .await
            .expect("promote")
    );
    assert_eq!(
        list(&store).await,
        [SigningKeyRecord {
            state: KeyState::Active,
            activated_at: Some(at(5)),
            ..next
        }]
    );
}

/// Deletion removes only retired keys whose publication ended at or before `now`.
pub async fn delete_expired_signing_keys_only_removes_ended_retired_keys(store: Arc<dyn Store>) {
    let records = [
        retired("r10", T0, at(10)),
        retired("r20", at(1), at(20)),
        retired("r30", at(2), at(30)),
        key("active", "ES256", KeyState::Active, at(3)),
        key("next", "ES256", KeyState::Next, at(4)),
    ];
    for record in &records {
        insert(&store, record).await;
    }

    let deleted = |now| {
        let store = Arc::clone(&store);
        async move {
            store
                .delete_expired_signing_keys(now)
                .await
                .expect("delete expired keys")
        }
    };
    assert_eq!(deleted(at(9)).await, 0);
    assert_eq!(list(&store).await, records);
    assert_eq!(
        deleted(at(10)).await,
        1,
        "publication ending exactly now has ended"
    );
    assert_eq!(kids(&list(&store).await), ["r20", "r30", "active", "next"]);
    assert_eq!(deleted(at(15)).await, 0);
    assert_eq!(deleted(at(30)).await, 2);
    assert_eq!(
        deleted(at(1_000_000)).await,
        0,
        "active and next keys are never deleted"
    );
    assert_eq!(list(&store).await, records[3..]);
}

/// Withdrawal deletes a `next` or `retired` key at once, whatever its publication end, and
/// says what it was; the `active` key and unknown kids are refused without any change.
pub async fn withdraw_signing_key_removes_only_next_and_retired_keys(store: Arc<dyn Store>) {
    let records = [
        retired("old", T0, at(1_000_000)),
        key("active", "ES256", KeyState::Active, at(1)),
        key("next", "EdDSA", KeyState::Next, at(2)),
    ];
    for record in &records {
        insert(&store, record).await;
    }
    let withdraw = |kid: &'static str| {
        let store = Arc::clone(&store);
        async move {
            store
                .withdraw_signing_key(kid, at(5))
                .await
                .expect("withdraw")
        }
    };

    assert_eq!(withdraw("active").await, KeyWithdrawal::RefusedActive);
    assert_eq!(withdraw("missing").await, KeyWithdrawal::Unknown);
    assert_eq!(list(&store).await, records, "a refusal changes nothing");

    assert_eq!(
        withdraw("old").await,
        KeyWithdrawal::Withdrawn(KeyState::Retired),
        "a retired key goes long before its publication ends"
    );
    assert_eq!(kids(&list(&store).await), ["active", "next"]);
    assert_eq!(withdraw("old").await, KeyWithdrawal::Unknown, "only once");

    assert_eq!(
        withdraw("next").await,
        KeyWithdrawal::Withdrawn(KeyState::Next)
    );
    assert_eq!(list(&store).await, records[1..2]);
    assert!(
        !store
            .promote_signing_key("next", at(10), at(900))
            .await
            .expect("promote"),
        "a withdrawn next key never becomes active"
    );

    // The `next` slot is free again.
    insert(&store, &key("next-2", "ES256", KeyState::Next, at(20))).await;
    assert_eq!(kids(&list(&store).await), ["active", "next-2"]);
}

/// A withdrawal appends one key event to the revocation feed, in the sequence of session
/// revocations, in the same transaction; refusals append nothing. Snapshots list it.
pub async fn withdrawal_is_published_on_the_feed(store: Arc<dyn Store>) {
    insert(&store, &key("active", "ES256", KeyState::Active, at(1))).await;
    insert(&store, &key("next", "ES256", KeyState::Next, at(2))).await;
    let before = store
        .revocation_feed_position()
        .await
        .expect("position")
        .head;
    assert_eq!(
        store
            .withdraw_signing_key("active", at(3))
            .await
            .expect("withdraw"),
        KeyWithdrawal::RefusedActive
    );
    assert_eq!(
        store
            .withdraw_signing_key("next", at(4))
            .await
            .expect("withdraw"),
        KeyWithdrawal::Withdrawn(KeyState::Next)
    );
    let events = store.feed_events_after(before, 100).await.expect("feed");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].subject, FeedSubject::SigningKey("next".into()));
    assert_eq!(events[0].revoked_at, at(4));
    assert_eq!(
        events[0].alive_until,
        at(4),
        "a withdrawal is alive only for the retention"
    );
    assert!(events[0].seq > before);
    let head = store
        .revocation_feed_position()
        .await
        .expect("position")
        .head;
    assert_eq!(head, events[0].seq, "the head moves with a withdrawal");
    assert!(
        store
            .revocations_after(before, 100)
            .await
            .expect("feed")
            .is_empty(),
        "session readers see no session event"
    );
    assert_eq!(
        store.key_withdrawals_since(at(4)).await.expect("since"),
        [("next".to_owned(), at(4))]
    );
    assert!(
        store
            .key_withdrawals_since(at(5))
            .await
            .expect("since")
            .is_empty()
    );
    assert!(
        store
            .revoked_sessions_alive_at(T0)
            .await
            .expect("revoked sessions")
            .is_empty(),
        "a key withdrawal is no revoked session"
    );
}

/// The key policy is absent at first, then the last one stored.
pub async fn key_policy_round_trips(store: Arc<dyn Store>) {
    assert_eq!(store.key_policy().await.expect("read"), None);
    let first = KeyPolicy {
        signing_alg: "HS256".parse().expect("JOSE algorithm name"),
        publish_lead: Duration::from_secs(7200),
        retire_hold: Duration::from_millis(900_500),
        jwks_max_age: Duration::from_secs(3600),
    };
    store.store_key_policy(&first, at(1)).await.expect("store");
    assert_eq!(store.key_policy().await.expect("read"), Some(first));
    let second = KeyPolicy {
        signing_alg: "RS256".parse().expect("JOSE algorithm name"),
        ..first
    };
    store.store_key_policy(&second, at(2)).await.expect("store");
    assert_eq!(store.key_policy().await.expect("read"), Some(second));
}
