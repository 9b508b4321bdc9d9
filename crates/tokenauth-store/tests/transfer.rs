//! `Transfer` and `copy_database`: a populated SQLite database copied into a fresh SQLite file
//! and into a fresh PostgreSQL schema (skipped, saying so, without
//! `TOKENAUTH_TEST_DATABASE_URL`) arrives row for row, and behaves the same on the other side:
//! live tokens rotate, rotated ones count as reuse, revocations hold.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use tokenauth_core::client::{ApiClient, ClientSecretHash};
use tokenauth_core::keys::{KeyState, SigningKeyRecord};
use tokenauth_core::refresh_token::PresentedRefreshToken;
use tokenauth_core::refresh_token::{RefreshToken, RefreshTokenHash, RotationSecret};
use tokenauth_core::session::{NewSession, RevokeReason, RotationOutcome, RotationRequest};
use tokenauth_core::store::{
    Batch, ClientStore, CopyError, CopyProgress, CopySummary, Cursor, KeyStore, RefreshTokenRow,
    SessionRow, Store, StoreError, Table, Transfer, UserRow, copy_database,
};
use tokenauth_core::user::{Email, User};
use tokenauth_core::{SessionId, Timestamp, UserId};
use tokenauth_store::SqliteStore;
use tokenauth_store::postgres::test_schema::TestSchema;

const T0: Timestamp = Timestamp::from_millis(1_700_000_000_000);
const TTL: Duration = Duration::from_secs(30 * 24 * 3600);
const GRACE: Duration = Duration::from_secs(10);
/// Small, so that every table spans several batches.
const BATCH: u32 = 4;

fn at(secs: u64) -> Timestamp {
    T0.plus(Duration::from_secs(secs))
}

fn secret() -> RotationSecret {
    RotationSecret::new(&[9; 32])
}

fn successor(token: &RefreshToken) -> RefreshToken {
    match secret().verify(token.expose()).unwrap() {
        PresentedRefreshToken::Session {
            session_id,
            generation,
        } => secret().token(session_id, generation + 1),
        PresentedRefreshToken::Legacy(_) => unreachable!("v2 tokens only"),
    }
}

fn request(presented: &RefreshToken, now: Timestamp) -> RotationRequest {
    RotationRequest {
        presented: secret().verify(presented.expose()).unwrap(),
        now,
        grace_cutoff: now.minus(GRACE),
        successor_expires_at: now.plus(TTL),
        access_expires_at: now.plus(Duration::from_secs(900)),
    }
}

/// What the source holds, to be checked on the target.
struct Fixture {
    /// A live session's current token, and its user's email.
    live: (RefreshToken, String),
    /// A token already rotated away (its session is live).
    rotated: RefreshToken,
    /// A revoked session's id and token.
    revoked: (SessionId, RefreshToken),
}

/// Fills `store` through the ordinary traits (sign-ups, rotations, a logout, a detected reuse,
/// keys in every state) plus one imported row with the columns no trait call sets.
async fn populate(store: &(impl Store + Transfer)) -> Fixture {
    let fixture = populate_sessions(store).await;
    import_disabled_user(store).await;
    import_legacy_session(store).await;
    insert_keys(store).await;
    insert_clients(store).await;
    fixture
}

/// Signs up 11 users, each with a session rotated `i % 4` times (generations and history of
/// every length); user 3's tokens become the fixture's live and rotated ones, user 5 logs out,
/// and user 6's rotated token is reused after the grace window, which revokes the family.
async fn populate_sessions(store: &(impl Store + Transfer)) -> Fixture {
    let mut fixture = None;
    let mut revoked = None;
    for i in 0..11_u64 {
        let (user, session, first) = sign_up(store, i).await;
        let mut tokens = rotate(store, first, i % 4).await;
        match i {
            3 => {
                let live = tokens.pop().unwrap();
                let address = format!("user{i}@example.com");
                fixture = Some(((live, address), tokens.swap_remove(0)));
            }
            5 => {
                // Logout: revoked with a reason.
                store
                    .revoke_session(user, session, RevokeReason::Logout, at(900))
                    .await
                    .unwrap();
                revoked = Some((session, tokens.pop().unwrap()));
            }
            6 => {
                // Reuse of a rotated token after the grace window revokes the family.
                let outcome = store
                    .rotate_refresh_token(&request(&tokens[0], at(1000)))
                    .await
                    .unwrap();
                assert!(matches!(outcome, RotationOutcome::Reused { .. }));
            }
            _ => {}
        }
    }
    let (live, rotated) = fixture.unwrap();
    Fixture {
        live,
        rotated,
        revoked: revoked.unwrap(),
    }
}

/// Inserts user number `i` (`user{i}@example.com`, roles and optional columns varying with
/// `i`) with one session; its ids and the session's first refresh token.
async fn sign_up(store: &impl Store, i: u64) -> (UserId, SessionId, RefreshToken) {
    let roles = match i {
        0 => vec!["admin".to_owned(), r#"odd "role" \ {x},y"#.to_owned()],
        1 => Vec::new(),
        _ => vec![format!("r{i}")],
    };
    let user = User {
        id: UserId::generate(),
        email: Email::parse(&format!("user{i}@example.com")).unwrap(),
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$salt{i}$hash"),
        roles,
        created_at: at(i),
        disabled_at: None,
    };
    let session_id = SessionId::generate();
    let first = secret().token(session_id, 0);
    let session = NewSession {
        id: session_id,
        user_id: user.id,
        created_at: at(i),
        expires_at: at(i).plus(TTL),
        absolute_expires_at: at(i).plus(TTL).plus(TTL),
        access_expires_at: at(i).plus(Duration::from_secs(900)),
        user_agent: i.is_multiple_of(2).then(|| format!("agent/{i} \"quoted\"")),
        ip: (!i.is_multiple_of(3)).then(|| format!("2001:db8::{i}")),
    };
    store
        .insert_user_with_session(&user, &session)
        .await
        .unwrap();
    (user.id, session.id, first)
}

/// Rotates `first` `times` times, asserting each rotation succeeds; every token of the
/// family, oldest first (the last is current).
async fn rotate(store: &impl Store, first: RefreshToken, times: u64) -> Vec<RefreshToken> {
    let mut tokens = vec![first];
    for r in 0..times {
        let presented = tokens.last().unwrap();
        let outcome = store
            .rotate_refresh_token(&request(presented, at(100 + 60 * r)))
            .await
            .unwrap();
        assert!(
            matches!(outcome, RotationOutcome::Rotated(_)),
            "{outcome:?}"
        );
        tokens.push(successor(presented));
    }
    tokens
}

/// Imports a disabled user whose roles are awkward to encode and whose `updated_at` differs
/// from `created_at` (columns no trait call sets).
async fn import_disabled_user(store: &impl Transfer) {
    let disabled = UserRow {
        id: UserId::generate(),
        email: "disabled@example.com".to_owned(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$x$y".to_owned(),
        roles: vec!["{}".to_owned(), String::new()],
        created_at: at(1),
        updated_at: at(2),
        disabled_at: Some(at(3)),
    };
    store
        .import_batch(&Batch::Users(vec![disabled]))
        .await
        .unwrap();
}

/// Inserts signing keys in every state, one of them HMAC.
async fn insert_keys(store: &impl KeyStore) {
    for (kid, state) in [
        ("k-retired-1", KeyState::Retired),
        ("k-retired-2", KeyState::Retired),
        ("K-active", KeyState::Active),
        ("_k-next", KeyState::Next),
        ("k-hmac-retired", KeyState::Retired),
    ] {
        store.insert_signing_key(&key(kid, state)).await.unwrap();
    }
}

/// Inserts more clients than a batch holds, one disabled, ids in mixed case; each client's
/// secret is `secret-{id}`.
async fn insert_clients(store: &impl ClientStore) {
    for (i, id) in ["tac_b", "tac_A", "tac_c", "tac_d", "_tac_e"]
        .iter()
        .enumerate()
    {
        let i = i as u64;
        let client = ApiClient {
            client_id: (*id).to_owned(),
            name: format!("client {i} – ü"),
            secret_hash: ClientSecretHash::of(&format!("secret-{id}")),
            created_at: at(10 + i),
            disabled_at: (i == 2).then(|| at(20)),
            permissions: [tokenauth_core::client::ClientPermission::Introspect]
                .into_iter()
                .take(usize::from(i.is_multiple_of(2)))
                .collect(),
        };
        store.insert_client(&client).await.unwrap();
    }
}

/// A session from before token format v2 (the only kind with hashes and history rows): a copy
/// of a stored session under a new id, with the columns such a session has set.
async fn import_legacy_session(store: &(impl Store + Transfer)) {
    let start = Cursor::start(Table::Sessions);
    let Batch::Sessions(rows) = store.export_batch(&start, 1).await.unwrap() else {
        panic!("sessions")
    };
    let id = SessionId::generate();
    let hash = |n: u8| RefreshTokenHash::from_bytes([n; 32]);
    let session = SessionRow {
        id,
        current_hash: Some(hash(3)),
        previous_hash: Some(hash(2)),
        generation: 2,
        ..rows[0].clone()
    };
    let history = (1..=3)
        .map(|n| RefreshTokenRow {
            hash: hash(n),
            session_id: id,
            generation: i64::from(n) - 1,
        })
        .collect();
    for batch in [
        Batch::Sessions(vec![session]),
        Batch::RefreshTokens(history),
    ] {
        store.import_batch(&batch).await.unwrap();
    }
}

fn key(kid: &str, state: KeyState) -> SigningKeyRecord {
    let hmac = kid.contains("hmac");
    SigningKeyRecord {
        kid: kid.to_owned(),
        alg: if hmac { "HS256" } else { "ES256" }.parse().unwrap(),
        state,
        sealed_material: [kid.as_bytes(), &[0, 0xff, 0, 1], &[7; 40]].concat(),
        public_jwk: (!hmac).then(|| format!(r#"{{"kid":"{kid}","kty":"EC"}}"#)),
        created_at: at(5),
        activate_at: at(6),
        activated_at: (state != KeyState::Next).then(|| at(7)),
        retired_at: (state == KeyState::Retired).then(|| at(8)),
        publish_until: (state == KeyState::Retired).then(|| at(9)),
    }
}

/// Every row of `table`, read a batch at a time, in a backend-independent order.
async fn dump(store: &dyn Transfer, table: Table) -> Vec<String> {
    let mut rows = Vec::new();
    let mut cursor = Cursor::start(table);
    loop {
        let batch = store.export_batch(&cursor, BATCH).await.unwrap();
        assert_eq!(batch.table(), table);
        assert!(batch.len() <= BATCH as usize);
        rows.extend(match &batch {
            Batch::Users(r) => r
                .iter()
                .map(|r| format!("{r:?} {}", r.password_hash))
                .collect(),
            Batch::Sessions(r) => r.iter().map(|r| format!("{r:?}")).collect(),
            Batch::RefreshTokens(r) => r.iter().map(|r| format!("{r:?}")).collect::<Vec<_>>(),
            Batch::SigningKeys(r) => r
                .iter()
                .map(|r| format!("{r:?} {:?} {:?}", r.sealed_material, r.public_jwk))
                .collect(),
            Batch::ApiClients(r) => r
                .iter()
                .map(|r| format!("{r:?} {:?}", r.secret_hash.as_bytes()))
                .collect(),
        });
        match batch.next_cursor() {
            Some(next) if batch.len() == BATCH as usize => cursor = next,
            _ => break,
        }
    }
    assert_eq!(rows.len() as u64, store.count_rows(table).await.unwrap());
    rows.sort();
    rows
}

#[derive(Default)]
struct Recorder(Vec<(Table, u64, u64)>);

impl CopyProgress for Recorder {
    fn rows_copied(&mut self, table: Table, copied: u64, total: u64) {
        self.0.push((table, copied, total));
    }
}

/// Copies a populated SQLite database into `target` and checks the result row by row and by
/// behaviour.
async fn round_trip(target: &(impl Store + Transfer)) {
    let dir = tempfile::tempdir().unwrap();
    let source = SqliteStore::open(&dir.path().join("source.db")).unwrap();
    let fixture = populate(&source).await;

    let mut progress = Recorder::default();
    let summary = copy_database(&source, target, BATCH, &mut progress)
        .await
        .unwrap();
    assert_copied_row_for_row(&source, target, &summary, &progress).await;
    assert_behaves_as_source(&source, target, &fixture).await;
    assert_second_copy_refused(&source, target).await;
}

/// Every table of `target` holds the rows of `source`, the summary counted them, and progress
/// came batch by batch, ending at the total.
async fn assert_copied_row_for_row(
    source: &SqliteStore,
    target: &(impl Store + Transfer),
    summary: &CopySummary,
    progress: &Recorder,
) {
    for table in Table::ALL {
        let source_rows = dump(source, table).await;
        assert!(!source_rows.is_empty(), "{table} has rows");
        assert_eq!(source_rows, dump(target, table).await, "{table}");
        let counted = summary.tables.iter().find(|t| t.table == table).unwrap();
        assert_eq!(counted.copied, source_rows.len() as u64);
        assert_eq!(counted.target_rows, counted.source_rows);
        let steps: Vec<_> = progress.0.iter().filter(|s| s.0 == table).collect();
        assert_eq!(steps.len(), source_rows.len().div_ceil(BATCH as usize));
        assert_eq!(steps.last().unwrap().1, counted.copied);
    }
}

/// The target behaves as the source did: the fixture's user is found with its roles, its live
/// token rotates, the rotated one counts as reuse, the revoked session stays revoked (and is
/// listed with its time), and keys and clients (secrets included) are the source's.
async fn assert_behaves_as_source(
    source: &SqliteStore,
    target: &(impl Store + Transfer),
    fixture: &Fixture,
) {
    let (live, address) = &fixture.live;
    let user = target
        .find_user_by_email(&Email::parse(address).unwrap())
        .await
        .unwrap()
        .expect("user copied");
    assert_eq!(user.roles, vec!["r3".to_owned()]);
    let now = at(5000);
    let outcome = target.rotate_refresh_token(&request(live, now)).await;
    assert!(
        matches!(outcome, Ok(RotationOutcome::Rotated(_))),
        "{outcome:?}"
    );
    let outcome = target
        .rotate_refresh_token(&request(&fixture.rotated, now))
        .await;
    assert!(
        matches!(outcome, Ok(RotationOutcome::Reused { .. })),
        "{outcome:?}"
    );
    let (revoked_id, revoked_token) = &fixture.revoked;
    let outcome = target
        .rotate_refresh_token(&request(revoked_token, now))
        .await;
    assert!(
        matches!(outcome, Ok(RotationOutcome::Revoked)),
        "{outcome:?}"
    );
    let revoked: Vec<_> = target
        .revoked_sessions_alive_at(at(0))
        .await
        .unwrap()
        .into_iter()
        .map(|revoked| (revoked.session, revoked.revoked_at))
        .collect();
    assert!(revoked.contains(&(*revoked_id, at(900))), "{revoked:?}");
    assert_eq!(
        target.list_signing_keys().await.unwrap(),
        source.list_signing_keys().await.unwrap()
    );
    assert_eq!(
        target.list_clients().await.unwrap(),
        source.list_clients().await.unwrap()
    );
    let client = target
        .find_client("tac_A")
        .await
        .unwrap()
        .expect("client copied");
    assert!(client.accepts("secret-tac_A"));
}

/// A second copy into the now non-empty target is refused before writing anything.
async fn assert_second_copy_refused(source: &SqliteStore, target: &(impl Store + Transfer)) {
    let before = target.count_rows(Table::Users).await.unwrap();
    let refused = copy_database(source, target, BATCH, &mut ()).await;
    assert!(
        matches!(
            refused,
            Err(CopyError::TargetNotEmpty {
                table: Table::Users,
                ..
            })
        ),
        "{refused:?}"
    );
    assert_eq!(target.count_rows(Table::Users).await.unwrap(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_to_sqlite_copies_everything() {
    let dir = tempfile::tempdir().unwrap();
    let target = SqliteStore::open(&dir.path().join("target.db")).unwrap();
    round_trip(&target).await;
    target.integrity_check().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_to_postgres_copies_everything() {
    let Some(schema) = TestSchema::create("sqlite_to_postgres_copies_everything").await else {
        return;
    };
    let target = schema.open().await;
    round_trip(&target).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_exports_back_to_sqlite() {
    let Some(schema) = TestSchema::create("postgres_exports_back_to_sqlite").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let source = SqliteStore::open(&dir.path().join("a.db")).unwrap();
    populate(&source).await;
    let middle = schema.open().await;
    copy_database(&source, &middle, BATCH, &mut ())
        .await
        .unwrap();
    let back = SqliteStore::open(&dir.path().join("b.db")).unwrap();
    copy_database(&middle, &back, 3, &mut ()).await.unwrap();
    for table in Table::ALL {
        assert_eq!(
            dump(&source, table).await,
            dump(&back, table).await,
            "{table}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_row_is_a_conflict_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("x.db")).unwrap();
    populate(&store).await;
    let users = store
        .export_batch(&Cursor::start(Table::Users), 2)
        .await
        .unwrap();
    let Batch::Users(mut rows) = users else {
        panic!("users batch")
    };
    let before = store.count_rows(Table::Users).await.unwrap();
    rows.insert(
        0,
        UserRow {
            id: UserId::generate(),
            email: "new@example.com".to_owned(),
            ..rows[0].clone()
        },
    );
    let result = store.import_batch(&Batch::Users(rows)).await;
    assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
    assert_eq!(store.count_rows(Table::Users).await.unwrap(), before);
}
