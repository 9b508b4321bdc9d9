//! `tokenauth user disable|enable` and `tokenauth audit`: account state and the audit log, on
//! the configured database, whether or not a server runs (running servers learn of the
//! revoked sessions from the revocation feed).

use std::time::Duration;

use anyhow::Context as _;
use serde_json::{Value, json};
use tokenauth_core::audit::{AuditEvent, Auditor};
use tokenauth_core::service::{AccountChange, Accounts};
use tokenauth_core::store::Store;
use tokenauth_core::{AuthError, Clock, SystemClock, Timestamp};

use crate::bootstrap::open_database;
use crate::config::Config;

/// Disables the account with `email` and revokes all its sessions; prints what was done.
///
/// # Errors
/// A malformed or unknown email, or a database failure.
pub async fn disable(config: &Config, email: &str, json: bool) -> anyhow::Result<()> {
    change_state(config, email, json, true).await
}

/// Enables the account with `email` again; prints what was done.
///
/// # Errors
/// A malformed or unknown email, or a database failure.
pub async fn enable(config: &Config, email: &str, json: bool) -> anyhow::Result<()> {
    change_state(config, email, json, false).await
}

async fn change_state(
    config: &Config,
    email: &str,
    json: bool,
    disable: bool,
) -> anyhow::Result<()> {
    let store = open_database(config).await?;
    let audit = Auditor::new(store.clone());
    let now = SystemClock.now();
    let accounts = Accounts::new(store.as_ref(), &audit, now);
    let result = if disable {
        accounts.disable(email).await
    } else {
        accounts.enable(email).await
    };
    store.close().await;
    let change = result.map_err(|e| user_error(e, email))?;
    if audit.failures() > 0 {
        eprintln!("tokenauth: warning: the audit event could not be written");
    }
    print_change(&change, disable, json);
    Ok(())
}

fn print_change(change: &AccountChange, disabled: bool, json: bool) {
    if json {
        println!(
            "{}",
            json!({
                "user_id": change.user_id.to_string(),
                "email": change.email.as_str(),
                "disabled": disabled,
                "revoked_sessions": change.revoked_sessions.len(),
            })
        );
    } else if disabled {
        let count = change.revoked_sessions.len();
        let plural = if count == 1 { "" } else { "s" };
        println!(
            "{} is disabled; {count} session{plural} revoked",
            change.email
        );
    } else {
        println!("{} is enabled", change.email);
    }
}

/// Prints the audit events of the last `since`, newest first, at most `limit`: those of the
/// user with `email`, or every event without one. A table, or one JSON object with `--json`.
///
/// # Errors
/// A malformed or unknown email, or a database failure.
pub async fn audit(
    config: &Config,
    email: Option<&str>,
    since: Duration,
    limit: u32,
    json: bool,
) -> anyhow::Result<()> {
    let store: std::sync::Arc<dyn Store> = open_database(config).await?;
    let now = SystemClock.now();
    let from = now.minus(since);
    let audit = Auditor::new(store.clone());
    let result = match email {
        Some(email) => Accounts::new(store.as_ref(), &audit, now)
            .audit_events_of(email, from, limit)
            .await
            .map(|(user, events)| (Some(user), events))
            .map_err(|e| user_error(e, email)),
        None => store
            .audit_events_since(from, limit)
            .await
            .map(|events| (None, events))
            .map_err(anyhow::Error::from),
    };
    store.close().await;
    let (user, events) = result?;
    if json {
        let body = json!({
            "user": user.as_ref().map(|user| json!({
                "id": user.id.to_string(),
                "email": user.email.as_str(),
                "disabled_at": time(user.disabled_at),
            })),
            "since": time(Some(from)),
            "events": events.iter().map(event_json).collect::<Vec<_>>(),
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&body).context("printing JSON")?
        );
        return Ok(());
    }
    let dash = || "-".to_owned();
    println!(
        "{:<30} {:<22} {:<36} {:<36} {:<15} {:<20} USER_AGENT",
        "AT", "KIND", "USER", "SESSION", "IP", "DETAIL"
    );
    for event in &events {
        println!(
            "{:<30} {:<22} {:<36} {:<36} {:<15} {:<20} {}",
            time(Some(event.at)).unwrap_or_default(),
            event.kind.as_str(),
            event.user_id.map_or_else(dash, |id| id.to_string()),
            event.session_id.map_or_else(dash, |id| id.to_string()),
            event.ip.as_deref().map_or_else(dash, printable),
            event.detail.as_deref().map_or_else(dash, printable),
            event.user_agent.as_deref().map_or_else(dash, printable),
        );
    }
    if events.is_empty() {
        let whose = user.map_or_else(|| "anyone".to_owned(), |user| user.email.to_string());
        println!(
            "(no events for {whose} since {})",
            time(Some(from)).unwrap_or_default()
        );
    }
    Ok(())
}

/// An event as `tokenauth audit --json` prints it.
pub fn event_json(event: &AuditEvent) -> Value {
    json!({
        "id": event.id.to_string(),
        "at": time(Some(event.at)),
        "kind": event.kind.as_str(),
        "user_id": event.user_id.map(|id| id.to_string()),
        "session_id": event.session_id.map(|id| id.to_string()),
        "ip": event.ip,
        "user_agent": event.user_agent,
        "detail": event.detail,
    })
}

/// A user agent without control characters, so a crafted header cannot rewrite the terminal.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// A time as RFC 3339 (UTC), for the CLI's outputs.
pub fn time(t: Option<Timestamp>) -> Option<String> {
    t.and_then(|t| jiff::Timestamp::from_millisecond(t.as_millis()).ok())
        .map(|t| t.to_string())
}

/// The error of a command about one user, in words for an operator.
pub fn user_error(error: AuthError, email: &str) -> anyhow::Error {
    match error {
        AuthError::NotFound => anyhow::anyhow!("no user with email {}", email.trim()),
        AuthError::EmailTaken => anyhow::anyhow!("{} already has an account", email.trim()),
        other => anyhow::anyhow!("{other}"),
    }
}
