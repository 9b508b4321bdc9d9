//! `tokenauth session list|revoke|revoke-all`: a user's sessions on the configured database,
//! whether or not a server runs. A revocation goes through the store's revocation feed, so
//! running servers refuse the session's access tokens within a poll interval (at once on
//! PostgreSQL, whose instances are notified) and verifiers following the feed soon after.

use anyhow::Context as _;
use serde_json::json;
use tokenauth_core::audit::Auditor;
use tokenauth_core::service::Accounts;
use tokenauth_core::{AuthError, Clock, SessionId, SystemClock};

use crate::bootstrap::open_database;
use crate::cli::account::user_error;
use crate::cli::user::{
    print_change, print_sessions, session_json, session_state, warn_if_unaudited,
};
use crate::config::Config;

/// `tokenauth session list --user EMAIL [--live]`.
///
/// # Errors
/// A malformed or unknown email, a database failure.
pub async fn list(config: &Config, email: &str, live: bool, json: bool) -> anyhow::Result<()> {
    let store = open_database(config).await?;
    let audit = Auditor::new(store.clone());
    let result = Accounts::new(store.as_ref(), &audit, SystemClock.now())
        .sessions_of(email)
        .await;
    store.close().await;
    let (user, mut sessions) = result.map_err(|e| user_error(e, email))?;
    let now = SystemClock.now();
    if live {
        sessions.retain(|session| session.is_live(now));
    }
    if json {
        let body = json!({
            "user_id": user.id.to_string(),
            "email": user.email.as_str(),
            "sessions": sessions.iter().map(|s| session_json(s, now)).collect::<Vec<_>>(),
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&body).context("printing JSON")?
        );
    } else if sessions.is_empty() {
        println!("(no sessions for {})", user.email);
    } else {
        print_sessions(&sessions, now);
    }
    Ok(())
}

/// `tokenauth session revoke ID`. A session that already ended is reported, not an error.
///
/// # Errors
/// A malformed or unknown id, a database failure.
pub async fn revoke(config: &Config, id: &str, json: bool) -> anyhow::Result<()> {
    let session: SessionId = id
        .trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("{:?} is not a session id (a UUID)", id.trim()))?;
    let store = open_database(config).await?;
    let audit = Auditor::new(store.clone());
    let now = SystemClock.now();
    let result = Accounts::new(store.as_ref(), &audit, now)
        .revoke_session(session)
        .await;
    store.close().await;
    let revocation = result.map_err(|error| match error {
        AuthError::NotFound => anyhow::anyhow!("no session with id {session}"),
        other => anyhow::anyhow!("{other}"),
    })?;
    warn_if_unaudited(&audit);
    let state = session_state(&revocation.session, now);
    if json {
        println!(
            "{}",
            json!({
                "session_id": session.to_string(),
                "user_id": revocation.session.user_id.to_string(),
                "revoked": revocation.revoked,
                "previous_state": state,
            })
        );
    } else if revocation.revoked {
        println!("session {session} revoked");
    } else {
        println!("session {session} had already ended ({state}); nothing changed");
    }
    Ok(())
}

/// `tokenauth session revoke-all --user EMAIL`.
///
/// # Errors
/// A malformed or unknown email, a database failure.
pub async fn revoke_all(config: &Config, email: &str, json: bool) -> anyhow::Result<()> {
    let store = open_database(config).await?;
    let audit = Auditor::new(store.clone());
    let result = Accounts::new(store.as_ref(), &audit, SystemClock.now())
        .revoke_sessions_of(email)
        .await;
    store.close().await;
    let change = result.map_err(|e| user_error(e, email))?;
    warn_if_unaudited(&audit);
    print_change(&change, json, "is logged out everywhere");
    Ok(())
}
