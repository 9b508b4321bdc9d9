//! [`AuditStore`] on SQLite: appends and purges on the writer thread, reads on the readers.

use async_trait::async_trait;
use rusqlite::{Row, params};
use tokenauth_core::audit::{AuditEvent, AuditKind};
use tokenauth_core::ids::AuditEventId;
use tokenauth_core::store::{AuditStore, StoreError};
use tokenauth_core::{Timestamp, UserId};

use super::rows::{self, read_error};
use super::{SqliteStore, is_constraint_violation, unavailable};

/// Columns of an event, in [`event`]'s order.
const COLUMNS: &str = "id, at, kind, user_id, session_id, ip, user_agent, detail";

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append_audit_event(&self, event: &AuditEvent) -> Result<(), StoreError> {
        let event = event.clone();
        self.workers
            .write(move |conn| {
                let inserted = conn
                    .prepare_cached(&format!(
                        "INSERT INTO audit_events ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                    ))
                    .and_then(|mut stmt| {
                        stmt.execute(params![
                            event.id.to_string(),
                            event.at.as_millis(),
                            event.kind.as_str(),
                            event.user_id.map(|id| id.to_string()),
                            event.session_id.map(|id| id.to_string()),
                            event.ip,
                            event.user_agent,
                            event.detail,
                        ])
                    });
                match inserted {
                    Ok(_) => Ok(()),
                    Err(error) if is_constraint_violation(&error) => {
                        Err(StoreError::Conflict("audit event id already stored"))
                    }
                    Err(error) => Err(unavailable(error)),
                }
            })
            .await
    }

    async fn audit_events_of_user(
        &self,
        user: UserId,
        since: Timestamp,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        self.workers
            .read(move |conn| {
                let mut stmt = conn
                    .prepare_cached(&format!(
                        "SELECT {COLUMNS} FROM audit_events WHERE user_id = ?1 AND at >= ?2 \
                         ORDER BY at DESC, id DESC LIMIT ?3"
                    ))
                    .map_err(read_error)?;
                let events = stmt
                    .query_map(params![user.to_string(), since.as_millis(), limit], event)
                    .map_err(read_error)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(read_error)?;
                Ok(events)
            })
            .await
    }

    async fn audit_events_since(
        &self,
        since: Timestamp,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        self.workers
            .read(move |conn| {
                let mut stmt = conn
                    .prepare_cached(&format!(
                        "SELECT {COLUMNS} FROM audit_events WHERE at >= ?1 \
                         ORDER BY at DESC, id DESC LIMIT ?2"
                    ))
                    .map_err(read_error)?;
                let events = stmt
                    .query_map(params![since.as_millis(), limit], event)
                    .map_err(read_error)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(read_error)?;
                Ok(events)
            })
            .await
    }

    async fn purge_audit_events(&self, before: Timestamp, limit: u32) -> Result<u64, StoreError> {
        self.workers
            .write(move |conn| {
                let deleted = conn
                    .prepare_cached(
                        "DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events \
                         WHERE at < ?1 ORDER BY at LIMIT ?2)",
                    )
                    .and_then(|mut stmt| stmt.execute(params![before.as_millis(), limit]))
                    .map_err(unavailable)?;
                u64::try_from(deleted).map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .await
    }
}

/// An event from a row selected with [`COLUMNS`].
fn event(row: &Row<'_>) -> rusqlite::Result<AuditEvent> {
    Ok(AuditEvent {
        id: rows::parse::<AuditEventId>(row, 0)?,
        at: rows::time(row, 1)?,
        kind: rows::parse::<AuditKind>(row, 2)?,
        user_id: rows::maybe_parse(row, 3)?,
        session_id: rows::maybe_parse(row, 4)?,
        ip: row.get(5)?,
        user_agent: row.get(6)?,
        detail: row.get(7)?,
    })
}
