//! `tokenauth user add|list|show|delete|set-password|add-role|remove-role`: accounts on the
//! configured database, whether or not a server runs. Revocations go through the store, so
//! running servers and verifiers learn of them from the revocation feed; every change is
//! audited.

use std::io::BufRead as _;

use anyhow::Context as _;
use serde_json::{Value, json};
use tokenauth_core::audit::Auditor;
use tokenauth_core::password::{HashCost, PasswordHasher};
use tokenauth_core::service::{AccountChange, Accounts};
use tokenauth_core::session::Session;
use tokenauth_core::user::{Email, User};
use tokenauth_core::{AuthError, Clock, SystemClock, Timestamp};

use crate::bootstrap::open_database;
use crate::cli::account::{printable, time, user_error};
use crate::config::Config;

/// `tokenauth user add`: creates the account; prints it.
///
/// # Errors
/// No `--password-stdin`, a bad email, role or password, a taken email, a database failure.
pub async fn add(
    config: &Config,
    email: &str,
    password_stdin: bool,
    roles: &[String],
    json: bool,
) -> anyhow::Result<()> {
    let password = read_password(password_stdin)?;
    let hasher = hasher()?;
    let store = open_database(config).await?;
    let audit = Auditor::new(store.clone());
    let result = Accounts::new(store.as_ref(), &audit, SystemClock.now())
        .create_user(&hasher, email, password, roles)
        .await;
    store.close().await;
    let user = result.map_err(|e| user_error(e, email))?;
    if json {
        println!("{}", user_json(&user));
    } else {
        println!("created {} (id {})", user.email, user.id);
        print_roles(&user);
    }
    Ok(())
}

/// `tokenauth user list`: accounts in email order, a page at a time.
///
/// # Errors
/// A malformed `--after` email, a database failure.
pub async fn list(
    config: &Config,
    after: Option<&str>,
    limit: u32,
    json: bool,
) -> anyhow::Result<()> {
    let after = after
        .map(Email::parse)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--after: {e}"))?;
    let store = open_database(config).await?;
    let result = store.list_users(after.as_ref(), limit).await;
    store.close().await;
    let users = result?;
    // A full page may have a next one; the last email is where it starts.
    let next_after = (users.len() == limit as usize)
        .then(|| users.last().map(|user| user.email.to_string()))
        .flatten();
    if json {
        let body = json!({
            "users": users.iter().map(user_json).collect::<Vec<_>>(),
            "next_after": next_after,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&body).context("printing JSON")?
        );
        return Ok(());
    }
    println!(
        "{:<40} {:<36} {:<30} {:<8} ROLES",
        "EMAIL", "ID", "CREATED", "DISABLED"
    );
    for user in &users {
        println!(
            "{:<40} {:<36} {:<30} {:<8} {}",
            user.email.as_str(),
            user.id.to_string(),
            time(Some(user.created_at)).unwrap_or_default(),
            if user.disabled_at.is_some() {
                "yes"
            } else {
                "no"
            },
            user.roles.join(","),
        );
    }
    match next_after {
        Some(last) => println!("(more: --after {last})"),
        None if users.is_empty() => println!("(no users)"),
        None => {}
    }
    Ok(())
}

/// `tokenauth user show`: the account and its sessions.
///
/// # Errors
/// A malformed or unknown email, a database failure.
pub async fn show(config: &Config, email: &str, json: bool) -> anyhow::Result<()> {
    let store = open_database(config).await?;
    let audit = Auditor::new(store.clone());
    let result = Accounts::new(store.as_ref(), &audit, SystemClock.now())
        .sessions_of(email)
        .await;
    store.close().await;
    let (user, sessions) = result.map_err(|e| user_error(e, email))?;
    let now = SystemClock.now();
    if json {
        let body = json!({
            "user": user_json(&user),
            "sessions": sessions.iter().map(|s| session_json(s, now)).collect::<Vec<_>>(),
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&body).context("printing JSON")?
        );
        return Ok(());
    }
    println!("email     {}", user.email);
    println!("id        {}", user.id);
    println!(
        "created   {}",
        time(Some(user.created_at)).unwrap_or_default()
    );
    println!(
        "disabled  {}",
        time(user.disabled_at).unwrap_or_else(|| "no".to_owned())
    );
    println!("roles     {}", user.roles.join(", "));
    let live = sessions.iter().filter(|s| s.is_live(now)).count();
    println!("sessions  {live} live, {} ended", sessions.len() - live);
    if !sessions.is_empty() {
        println!();
        print_sessions(&sessions, now);
    }
    Ok(())
}

/// `tokenauth user delete`: erases the account; prints what was revoked.
///
/// # Errors
/// A malformed or unknown email, a database failure (nothing changed then).
pub async fn delete(config: &Config, email: &str, json: bool) -> anyhow::Result<()> {
    let store = open_database(config).await?;
    let audit = Auditor::new(store.clone());
    let result = Accounts::new(store.as_ref(), &audit, SystemClock.now())
        .erase_by_email(email)
        .await;
    store.close().await;
    let change = result.map_err(|e| user_error(e, email))?;
    warn_if_unaudited(&audit);
    print_change(&change, json, "deleted");
    Ok(())
}

/// `tokenauth user set-password`: sets the password and revokes every session.
///
/// # Errors
/// No `--password-stdin`, a malformed or unknown email, a password outside the policy, a
/// database failure.
pub async fn set_password(
    config: &Config,
    email: &str,
    password_stdin: bool,
    json: bool,
) -> anyhow::Result<()> {
    let password = read_password(password_stdin)?;
    let hasher = hasher()?;
    let store = open_database(config).await?;
    let audit = Auditor::new(store.clone());
    let result = Accounts::new(store.as_ref(), &audit, SystemClock.now())
        .reset_password(&hasher, email, password)
        .await;
    store.close().await;
    let change = result.map_err(|e| user_error(e, email))?;
    warn_if_unaudited(&audit);
    print_change(&change, json, "has a new password");
    Ok(())
}

/// `tokenauth user add-role` (`grant`) and `remove-role`.
///
/// # Errors
/// A malformed or unknown email, a malformed role, a database failure.
pub async fn role(
    config: &Config,
    email: &str,
    role: &str,
    grant: bool,
    json: bool,
) -> anyhow::Result<()> {
    let store = open_database(config).await?;
    let audit = Auditor::new(store.clone());
    let result = Accounts::new(store.as_ref(), &audit, SystemClock.now())
        .change_role(email, role, grant)
        .await;
    store.close().await;
    let user = result.map_err(|e| user_error(e, email))?;
    warn_if_unaudited(&audit);
    if json {
        println!("{}", user_json(&user));
    } else {
        print_roles(&user);
    }
    Ok(())
}

/// An account as the `--json` outputs show it (never its password hash).
pub fn user_json(user: &User) -> Value {
    json!({
        "id": user.id.to_string(),
        "email": user.email.as_str(),
        "roles": user.roles,
        "created_at": time(Some(user.created_at)),
        "disabled_at": time(user.disabled_at),
    })
}

/// A session as the `--json` outputs show it; `state` is `live`, `revoked` or `expired` at
/// `now`.
pub fn session_json(session: &Session, now: Timestamp) -> Value {
    json!({
        "id": session.id.to_string(),
        "user_id": session.user_id.to_string(),
        "state": session_state(session, now),
        "created_at": time(Some(session.created_at)),
        "last_used_at": time(Some(session.last_used_at)),
        "expires_at": time(Some(session.expires_at)),
        "revoked_at": time(session.revoked_at),
        "revoke_reason": session.revoke_reason.map(|reason| reason.as_str()),
        "refresh_count": session.generation,
        "ip": session.ip,
        "user_agent": session.user_agent,
    })
}

/// `live`, `revoked` or `expired`.
pub fn session_state(session: &Session, now: Timestamp) -> &'static str {
    if session.revoked_at.is_some() {
        "revoked"
    } else if session.expires_at <= now {
        "expired"
    } else {
        "live"
    }
}

/// A table of sessions.
pub fn print_sessions(sessions: &[Session], now: Timestamp) {
    let dash = || "-".to_owned();
    println!(
        "{:<36} {:<8} {:<30} {:<30} {:<15} USER_AGENT",
        "SESSION", "STATE", "CREATED", "LAST_USED", "IP"
    );
    for session in sessions {
        println!(
            "{:<36} {:<8} {:<30} {:<30} {:<15} {}",
            session.id.to_string(),
            session_state(session, now),
            time(Some(session.created_at)).unwrap_or_default(),
            time(Some(session.last_used_at)).unwrap_or_default(),
            session.ip.as_deref().map_or_else(dash, printable),
            session.user_agent.as_deref().map_or_else(dash, printable),
        );
    }
}

/// What a command that revoked a user's sessions did, in words or JSON.
pub fn print_change(change: &AccountChange, json: bool, what: &str) {
    let count = change.revoked_sessions.len();
    if json {
        println!(
            "{}",
            json!({
                "user_id": change.user_id.to_string(),
                "email": change.email.as_str(),
                "revoked_sessions": count,
            })
        );
    } else {
        let plural = if count == 1 { "" } else { "s" };
        println!("{} {what}; {count} session{plural} revoked", change.email);
    }
}

/// Warns when the audit event of a change could not be written (the change itself stands).
pub fn warn_if_unaudited(audit: &Auditor) {
    if audit.failures() > 0 {
        eprintln!("tokenauth: warning: the audit event could not be written");
    }
}

fn print_roles(user: &User) {
    if user.roles.is_empty() {
        println!("{} has no roles", user.email);
    } else {
        println!("{} has roles: {}", user.email, user.roles.join(", "));
    }
}

/// The password from the first line of stdin (without its line end). Never from an argument:
/// that would show in `ps` and the shell's history.
fn read_password(password_stdin: bool) -> anyhow::Result<String> {
    if !password_stdin {
        anyhow::bail!(
            "give the password on stdin with --password-stdin (never as an argument: it would \
             show in ps and the shell history)"
        );
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from stdin")?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        anyhow::bail!("no password on stdin");
    }
    Ok(password)
}

/// One hash at a time: a command hashes once.
fn hasher() -> anyhow::Result<PasswordHasher> {
    PasswordHasher::new(HashCost::OWASP, 1, 1)
        .map_err(|error: AuthError| anyhow::anyhow!("{error}"))
}
