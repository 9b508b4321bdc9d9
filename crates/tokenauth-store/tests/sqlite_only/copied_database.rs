//! A copied database file alone cannot produce a working refresh token.
//!
//! The database holds live v2 sessions (several generations), a legacy session from before
//! token format v2 (its hashes and history), an API client and a throttle count. Its files are
//! copied twice, while the store is open (the database, its WAL and shared memory, as a copy of
//! a live disk would be) and after it closed. From the copies, every column of every session
//! and every value of every table is read, and every 32-byte stretch of the raw files is taken;
//! from those, candidate tokens are built: each session's id with its generation, the one
//! before and the one after, and each 32-byte value as the tag; and each 32-byte value on its
//! own as a legacy token. Every candidate is refused by the real store and secret, and no real
//! token's tag, nor any real token's text, appears in any copied byte.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rusqlite::types::Value;
use tokenauth_core::refresh_token::{PresentedRefreshToken, RefreshToken};
use tokenauth_core::session::RotationOutcome;
use tokenauth_core::store::{Batch, RefreshTokenRow, SessionRow, Store, Transfer};
use tokenauth_core::{AuthError, SessionId, Timestamp};

use crate::Sqlite;
use crate::conformance::{
    self, GRACE, at, legacy_hash, legacy_token, presented, request_with, rotate_ok, secret,
};

/// Bytes of a v2 token before its tag: session id and generation.
const NAME_BYTES: usize = 24;
/// Bytes of a tag (and of a legacy token).
const VALUE_BYTES: usize = 32;

/// Everything issued, to look for in the copies and to check the store against afterwards.
struct Issued {
    /// Every v2 token issued, live or rotated away.
    tokens: Vec<RefreshToken>,
    /// The legacy session's tokens.
    legacy: Vec<String>,
}

/// Fills the store: three v2 sessions rotated 0, 1 and 4 times, one legacy session.
async fn populate(store: &Arc<dyn Store>, transfer: &Arc<dyn Transfer>) -> Issued {
    let mut tokens = Vec::new();
    for (index, rotations) in [0_u64, 1, 4].into_iter().enumerate() {
        let account =
            conformance::sign_up(store, &format!("user{index}@example.com"), &["admin"]).await;
        let mut live = account.token;
        for step in 0..rotations {
            let (next, _) = rotate_ok(store, &live, at(10 + step)).await;
            tokens.push(live);
            live = next;
        }
        tokens.push(live);
    }
    let legacy = import_legacy_session(store, transfer).await;
    Issued { tokens, legacy }
}

/// A session as the code before token format v2 left it: hashes and history of three tokens.
async fn import_legacy_session(
    store: &Arc<dyn Store>,
    transfer: &Arc<dyn Transfer>,
) -> Vec<String> {
    let user = conformance::new_user("legacy@example.com", &[]);
    store.insert_user(&user).await.expect("user");
    let legacy: Vec<String> = (0..3).map(|_| legacy_token()).collect();
    let id = SessionId::generate();
    let session = SessionRow {
        id,
        user_id: user.id,
        current_hash: Some(legacy_hash(&legacy[2])),
        previous_hash: Some(legacy_hash(&legacy[1])),
        generation: 2,
        rotated_at: Some(at(5)),
        created_at: at(0),
        last_used_at: at(5),
        expires_at: at(5).plus(conformance::TOKEN_TTL),
        absolute_expires_at: at(0).plus(conformance::MAX_LIFETIME),
        access_expires_at: at(5).plus(conformance::ACCESS_TTL),
        revoked_at: None,
        revoke_reason: None,
        user_agent: None,
        ip: None,
    };
    let history = (0..3_i64)
        .map(|generation| RefreshTokenRow {
            hash: legacy_hash(&legacy[generation as usize]),
            session_id: id,
            generation,
        })
        .collect();
    for batch in [
        Batch::Sessions(vec![session]),
        Batch::RefreshTokens(history),
    ] {
        transfer.import_batch(&batch).await.expect("import");
    }
    legacy
}

/// The bytes of every file in `dir`, copied as they are now.
fn copy_files(dir: &Path) -> Vec<Vec<u8>> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|entry| std::fs::read(entry.expect("entry").path()).expect("read file"))
        .collect()
}

/// What the copy yields: every session's id and generation, and every value in the database
/// (each column of each row of each table, as bytes).
fn read_copy(path: &Path) -> (Vec<(SessionId, u64)>, Vec<Vec<u8>>) {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the copy");
    let mut sessions = Vec::new();
    let mut stmt = conn
        .prepare("SELECT id, generation FROM sessions")
        .expect("sessions");
    let rows = stmt
        .query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })
        .expect("query");
    for row in rows {
        let (id, generation) = row.expect("row");
        let generation = u64::try_from(generation).expect("non-negative");
        sessions.push((id.parse().expect("uuid"), generation));
    }
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table'")
        .and_then(|mut stmt| stmt.query_map([], |row| row.get(0))?.collect())
        .expect("tables");
    let mut values = Vec::new();
    for table in tables {
        let mut stmt = conn
            .prepare(&format!("SELECT * FROM \"{table}\""))
            .expect("select");
        let columns = stmt.column_count();
        let mut rows = stmt.query([]).expect("rows");
        while let Some(row) = rows.next().expect("row") {
            for column in 0..columns {
                values.push(match row.get::<_, Value>(column).expect("value") {
                    Value::Blob(bytes) => bytes,
                    Value::Text(text) => text.into_bytes(),
                    Value::Integer(n) => n.to_be_bytes().to_vec(),
                    Value::Real(x) => x.to_be_bytes().to_vec(),
                    Value::Null => Vec::new(),
                });
            }
        }
    }
    (sessions, values)
}

/// Every distinct 32-byte stretch of `sources`.
fn stretches<'a>(sources: impl IntoIterator<Item = &'a [u8]>) -> HashSet<[u8; VALUE_BYTES]> {
    let mut found = HashSet::new();
    for bytes in sources {
        for window in bytes.windows(VALUE_BYTES) {
            let mut value = [0u8; VALUE_BYTES];
            value.copy_from_slice(window);
            found.insert(value);
        }
    }
    found
}

/// The name part of a v2 token (session id, generation), as its first 32 characters.
fn name_chars(session: SessionId, generation: u64) -> String {
    let mut name = [0u8; NAME_BYTES];
    name[..16].copy_from_slice(session.as_uuid().as_bytes());
    name[16..].copy_from_slice(&generation.to_be_bytes());
    URL_SAFE_NO_PAD.encode(name)
}

/// Whether `haystack` contains `needle`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copied_database_file_alone_cannot_produce_a_working_refresh_token() {
    let backend = Sqlite::new();
    let store = crate::conformance::Backend::open(&backend).await;
    let transfer: Arc<dyn Transfer> = backend.current();
    let issued = populate(&store, &transfer).await;

    let live_copy = tempfile::tempdir().expect("temporary directory");
    let mut files = copy_files(backend.dir.path());
    for (index, bytes) in files.iter().enumerate() {
        std::fs::write(live_copy.path().join(format!("file{index}")), bytes).expect("write");
    }
    crate::conformance::Backend::close(&backend).await;
    files.extend(copy_files(backend.dir.path()));
    let (sessions, values) = read_copy(&backend.path());
    assert_eq!(sessions.len(), 4, "every session was read from the copy");

    // No real token's tag or text is anywhere in the copies.
    for token in &issued.tokens {
        let bytes = URL_SAFE_NO_PAD.decode(token.expose()).expect("base64url");
        for file in &files {
            assert!(
                !contains(file, &bytes[NAME_BYTES..]),
                "a token's tag is on disk"
            );
            assert!(
                !contains(file, token.expose().as_bytes()),
                "a token is on disk"
            );
        }
    }

    let sources = files
        .iter()
        .map(Vec::as_slice)
        .chain(values.iter().map(Vec::as_slice));
    let candidates = stretches(sources);
    assert!(candidates.len() > 1000, "the copies were read");
    let store = crate::conformance::Backend::open(&backend).await;
    let secret = secret();
    let mut tried = 0_u64;
    for &(session, generation) in &sessions {
        for generation in [generation.saturating_sub(1), generation, generation + 1] {
            let name = name_chars(session, generation);
            for value in &candidates {
                let candidate = format!("{name}{}", URL_SAFE_NO_PAD.encode(value));
                assert!(
                    matches!(secret.verify(&candidate), Err(AuthError::InvalidToken)),
                    "a token built from the copy was accepted"
                );
                tried += 1;
            }
        }
    }
    // Each stored 32-byte value, presented as a legacy token, is unknown: the store keeps
    // hashes of legacy tokens, never the tokens.
    let now = at(20);
    for value in stretches(
        values
            .iter()
            .map(Vec::as_slice)
            .filter(|v| v.len() == VALUE_BYTES),
    ) {
        let candidate = URL_SAFE_NO_PAD.encode(value);
        let presented = secret.verify(&candidate).expect("legacy shape");
        assert!(matches!(presented, PresentedRefreshToken::Legacy(_)));
        let outcome = store
            .rotate_refresh_token(&request_with(presented, now, now.minus(GRACE)))
            .await
            .expect("rotate");
        assert_eq!(outcome, RotationOutcome::Unknown);
        tried += 1;
    }
    assert!(tried > 10_000, "{tried} candidates");
    still_works(&store, &issued, now).await;
    crate::conformance::Backend::close(&backend).await;
}

/// The real live tokens still rotate, and nothing was revoked by the candidates.
async fn still_works(store: &Arc<dyn Store>, issued: &Issued, now: Timestamp) {
    assert!(
        store
            .revocations_after(0, 10)
            .await
            .expect("feed")
            .is_empty()
    );
    // Indexes of the live tokens: the sessions rotated 0, 1 and 4 times.
    for token in [0, 2, 7].map(|index| &issued.tokens[index]) {
        assert!(matches!(
            store
                .rotate_refresh_token(&request_with(presented(token), now, now.minus(GRACE)))
                .await
                .expect("rotate"),
            RotationOutcome::Rotated(_)
        ));
    }
    let legacy = secret().verify(&issued.legacy[2]).expect("legacy");
    assert!(matches!(
        store
            .rotate_refresh_token(&request_with(legacy, now, now.minus(GRACE)))
            .await
            .expect("rotate"),
        RotationOutcome::Rotated(_)
    ));
}
