//! Moving a whole database between backends (`tokenauth db copy`): every stored column of every
//! table, as typed rows, read in primary-key order a batch at a time and written back unchanged.
//! Signing keys travel sealed: they stay encrypted under the same master key.

use std::fmt;

use async_trait::async_trait;

use crate::client::ApiClient;
use crate::clock::Timestamp;
use crate::ids::{SessionId, UserId};
use crate::keys::SigningKeyRecord;
use crate::refresh_token::RefreshTokenHash;
use crate::session::RevokeReason;
use crate::store::StoreError;

/// A table that a copy moves. [`Table::ALL`] lists them in an order that satisfies every
/// reference (sessions after their users, token history after its sessions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    /// Users.
    Users,
    /// Sessions (refresh-token families), all columns.
    Sessions,
    /// Every legacy refresh token issued: hash → session, generation.
    RefreshTokens,
    /// Signing keys, with their material still sealed.
    SigningKeys,
    /// Registered API clients, with their secrets still hashed.
    ApiClients,
}

impl Table {
    /// Every table, in an order in which importing them keeps every reference valid.
    pub const ALL: [Table; 5] = [
        Table::Users,
        Table::Sessions,
        Table::RefreshTokens,
        Table::SigningKeys,
        Table::ApiClients,
    ];

    /// The table's name, the same on every backend.
    pub const fn name(self) -> &'static str {
        match self {
            Table::Users => "users",
            Table::Sessions => "sessions",
            Table::RefreshTokens => "refresh_tokens",
            Table::SigningKeys => "signing_keys",
            Table::ApiClients => "api_clients",
        }
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where an export continues: a table, and the primary key of the last row already read
/// (`None`: from the start). Keys are compared in the exporting backend's own order, so a cursor
/// is only meaningful to the store that produced the batch it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// Users with an id after this one.
    Users(Option<UserId>),
    /// Sessions with an id after this one.
    Sessions(Option<SessionId>),
    /// Refresh tokens with a hash after this one.
    RefreshTokens(Option<RefreshTokenHash>),
    /// Signing keys with a kid after this one.
    SigningKeys(Option<String>),
    /// API clients with a client id after this one.
    ApiClients(Option<String>),
}

impl Cursor {
    /// The start of `table`.
    pub const fn start(table: Table) -> Self {
        match table {
            Table::Users => Cursor::Users(None),
            Table::Sessions => Cursor::Sessions(None),
            Table::RefreshTokens => Cursor::RefreshTokens(None),
            Table::SigningKeys => Cursor::SigningKeys(None),
            Table::ApiClients => Cursor::ApiClients(None),
        }
    }

    /// The table this cursor walks.
    pub const fn table(&self) -> Table {
        match self {
            Cursor::Users(_) => Table::Users,
            Cursor::Sessions(_) => Table::Sessions,
            Cursor::RefreshTokens(_) => Table::RefreshTokens,
            Cursor::SigningKeys(_) => Table::SigningKeys,
            Cursor::ApiClients(_) => Table::ApiClients,
        }
    }
}

/// A stored user, every column.
#[derive(Clone, PartialEq, Eq)]
pub struct UserRow {
    /// Identifier.
    pub id: UserId,
    /// Normalised email, as stored.
    pub email: String,
    /// Argon2id hash in PHC form.
    pub password_hash: String,
    /// Roles, in stored order.
    pub roles: Vec<String>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change of the row.
    pub updated_at: Timestamp,
    /// When the account was disabled, if it is.
    pub disabled_at: Option<Timestamp>,
}

impl fmt::Debug for UserRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserRow")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("password_hash", &"<redacted>")
            .field("roles", &self.roles)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .field("disabled_at", &self.disabled_at)
            .finish()
    }
}

/// A stored session (one refresh-token family), every column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    /// Identifier.
    pub id: SessionId,
    /// Owner.
    pub user_id: UserId,
    /// Hash of the one live refresh token of a legacy session (from before token format v2,
    /// not rotated since); `None` for every other session, whose tokens nothing stored names.
    pub current_hash: Option<RefreshTokenHash>,
    /// Hash of the legacy token the live one replaced, if the session's last rotation replaced
    /// one.
    pub previous_hash: Option<RefreshTokenHash>,
    /// Number of rotations so far.
    pub generation: i64,
    /// Time of the last rotation.
    pub rotated_at: Option<Timestamp>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last login or refresh.
    pub last_used_at: Timestamp,
    /// When the live refresh token expires.
    pub expires_at: Timestamp,
    /// The session's absolute end.
    pub absolute_expires_at: Timestamp,
    /// The latest `exp` of the session's access tokens.
    pub access_expires_at: Timestamp,
    /// When the session was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
    /// Why it was revoked.
    pub revoke_reason: Option<RevokeReason>,
    /// `User-Agent` seen at creation.
    pub user_agent: Option<String>,
    /// Client address seen at creation.
    pub ip: Option<String>,
}

/// One entry of the refresh-token history of a legacy session: which session issued the
/// legacy token with this hash, at which generation. Sessions of token format v2 have none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRow {
    /// SHA-256 of the token.
    pub hash: RefreshTokenHash,
    /// The session that issued it.
    pub session_id: SessionId,
    /// Its generation within the session (0 for the first token).
    pub generation: i64,
}

/// Rows of one table, in the exporting store's primary-key order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Batch {
    /// Users.
    Users(Vec<UserRow>),
    /// Sessions.
    Sessions(Vec<SessionRow>),
    /// Refresh-token history.
    RefreshTokens(Vec<RefreshTokenRow>),
    /// Signing keys, sealed.
    SigningKeys(Vec<SigningKeyRecord>),
    /// API clients, every column (the row type is [`ApiClient`] itself).
    ApiClients(Vec<ApiClient>),
}

impl Batch {
    /// The table the rows belong to.
    pub const fn table(&self) -> Table {
        match self {
            Batch::Users(_) => Table::Users,
            Batch::Sessions(_) => Table::Sessions,
            Batch::RefreshTokens(_) => Table::RefreshTokens,
            Batch::SigningKeys(_) => Table::SigningKeys,
            Batch::ApiClients(_) => Table::ApiClients,
        }
    }

    /// How many rows it holds.
    pub fn len(&self) -> usize {
        match self {
            Batch::Users(rows) => rows.len(),
            Batch::Sessions(rows) => rows.len(),
            Batch::RefreshTokens(rows) => rows.len(),
            Batch::SigningKeys(rows) => rows.len(),
            Batch::ApiClients(rows) => rows.len(),
        }
    }

    /// Whether it holds no row.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The cursor that continues after this batch's last row; `None` if the batch is empty.
    pub fn next_cursor(&self) -> Option<Cursor> {
        Some(match self {
            Batch::Users(rows) => Cursor::Users(Some(rows.last()?.id)),
            Batch::Sessions(rows) => Cursor::Sessions(Some(rows.last()?.id)),
            Batch::RefreshTokens(rows) => Cursor::RefreshTokens(Some(rows.last()?.hash)),
            Batch::SigningKeys(rows) => Cursor::SigningKeys(Some(rows.last()?.kid.clone())),
            Batch::ApiClients(rows) => Cursor::ApiClients(Some(rows.last()?.client_id.clone())),
        })
    }
}

/// Bulk export and import of whole tables, for moving a deployment from one backend to another.
/// Separate from the traits the server uses: nothing on a request path needs it.
#[async_trait]
pub trait Transfer: Send + Sync {
    /// Up to `limit` rows of the cursor's table whose primary key comes after the cursor's, in
    /// primary-key order (keyset pagination: each call is one indexed range read, however far
    /// into the table it is). Fewer than `limit` rows means the table's end was reached.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if the database cannot be read, [`StoreError::Corrupt`] if a
    /// stored value does not fit its row type.
    async fn export_batch(&self, after: &Cursor, limit: u32) -> Result<Batch, StoreError>;

    /// Inserts every row of `batch` unchanged, in one transaction: all of them or none.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if a row's key (or another unique value) is already stored;
    /// [`StoreError::Unavailable`] on any other failure, including a reference to a row that
    /// does not exist. Nothing is written then.
    async fn import_batch(&self, batch: &Batch) -> Result<(), StoreError>;

    /// How many rows `table` holds.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if the database cannot be read.
    async fn count_rows(&self, table: Table) -> Result<u64, StoreError>;
}
