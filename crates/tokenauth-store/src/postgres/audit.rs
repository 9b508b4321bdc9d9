//! [`AuditStore`] on PostgreSQL.

use async_trait::async_trait;
use tokenauth_core::audit::{AuditEvent, AuditKind};
use tokenauth_core::ids::AuditEventId;
use tokenauth_core::store::{AuditStore, StoreError};
use tokenauth_core::{SessionId, Timestamp, UserId};
use tokio_postgres::Row;
use uuid::Uuid;

use super::rows::{self, corrupt, get};
use super::{PostgresStore, is_unique_violation, unavailable};

/// Columns of an event, in [`event`]'s order.
const COLUMNS: &str = "id, at, kind, user_id, session_id, ip, user_agent, detail";

#[async_trait]
impl AuditStore for PostgresStore {
    async fn append_audit_event(&self, event: &AuditEvent) -> Result<(), StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&format!(
                "INSERT INTO audit_events ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            ))
            .await
            .map_err(unavailable)?;
        let inserted = client
            .execute(
                &statement,
                &[
                    &event.id.as_uuid(),
                    &event.at.as_millis(),
                    &event.kind.as_str(),
                    &event.user_id.map(|id| id.as_uuid()),
                    &event.session_id.map(|id| id.as_uuid()),
                    &event.ip,
                    &event.user_agent,
                    &event.detail,
                ],
            )
            .await;
        match inserted {
            Ok(_) => Ok(()),
            Err(error) if is_unique_violation(&error) => {
                Err(StoreError::Conflict("audit event id already stored"))
            }
            Err(error) => Err(unavailable(error)),
        }
    }

    async fn audit_events_of_user(
        &self,
        user: UserId,
        since: Timestamp,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM audit_events WHERE user_id = $1 AND at >= $2 \
                 ORDER BY at DESC, id DESC LIMIT $3"
            ))
            .await
            .map_err(unavailable)?;
        client
            .query(
                &statement,
                &[&user.as_uuid(), &since.as_millis(), &i64::from(limit)],
            )
            .await
            .map_err(unavailable)?
            .iter()
            .map(event)
            .collect()
    }

    async fn audit_events_since(
        &self,
        since: Timestamp,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM audit_events WHERE at >= $1 \
                 ORDER BY at DESC, id DESC LIMIT $2"
            ))
            .await
            .map_err(unavailable)?;
        client
            .query(&statement, &[&since.as_millis(), &i64::from(limit)])
            .await
            .map_err(unavailable)?
            .iter()
            .map(event)
            .collect()
    }

    async fn purge_audit_events(&self, before: Timestamp, limit: u32) -> Result<u64, StoreError> {
        let client = self.client().await?;
        // SKIP LOCKED: instances purging at once take different rows instead of waiting.
        client
            .execute(
                "DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events \
                 WHERE at < $1 ORDER BY at LIMIT $2 FOR UPDATE SKIP LOCKED)",
                &[&before.as_millis(), &i64::from(limit)],
            )
            .await
            .map_err(unavailable)
    }
}

/// An event from a row selected with [`COLUMNS`].
fn event(row: &Row) -> Result<AuditEvent, StoreError> {
    let kind: String = get(row, "kind")?;
    Ok(AuditEvent {
        id: AuditEventId::from_uuid(get(row, "id")?),
        at: rows::time(row, "at")?,
        kind: kind.parse::<AuditKind>().map_err(corrupt)?,
        user_id: get::<Option<Uuid>>(row, "user_id")?.map(UserId::from_uuid),
        session_id: get::<Option<Uuid>>(row, "session_id")?.map(SessionId::from_uuid),
        ip: get(row, "ip")?,
        user_agent: get(row, "user_agent")?,
        detail: get(row, "detail")?,
    })
}
