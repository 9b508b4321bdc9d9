//! `tokenauth client add` and `tokenauth client list`: registering the API clients that may call
//! `/oauth2/revoke` and `/oauth2/introspect`, with the permissions they hold.

use tokenauth_core::client::{ApiClient, ClientPermissions};
use tokenauth_core::service::Clients;
use tokenauth_core::{Clock, SystemClock, Timestamp};

use crate::bootstrap::open_database;
use crate::config::Config;

/// Registers a client named `name` holding `permissions` and prints its id and secret. The
/// secret is printed here once and never again: only its hash is stored, and it is never
/// logged.
///
/// # Errors
/// A bad name, or a database failure.
pub async fn add(
    config: &Config,
    name: &str,
    permissions: ClientPermissions,
    json: bool,
) -> anyhow::Result<()> {
    let store = open_database(config).await?;
    let (client, secret) = Clients::new(store.as_ref(), SystemClock.now())
        .register(name, permissions)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    store.close().await;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "client_id": client.client_id,
                "client_secret": secret.expose(),
                "name": client.name,
                "created_at": format_time(Some(client.created_at)),
                "permissions": permission_names(client.permissions),
            })
        );
    } else {
        println!("client_id:     {}", client.client_id);
        println!("client_secret: {}", secret.expose());
        println!("permissions:   {}", shown(client.permissions));
        println!("Store the secret now: it is not stored and cannot be shown again.");
    }
    Ok(())
}

/// Prints every registered client (never a secret or its hash).
///
/// # Errors
/// A database failure.
pub async fn list(config: &Config, json: bool) -> anyhow::Result<()> {
    let store = open_database(config).await?;
    let clients = Clients::new(store.as_ref(), SystemClock.now()).list().await;
    store.close().await;
    print_clients(&clients.map_err(|e| anyhow::anyhow!("{e}"))?, json)
}

fn print_clients(clients: &[ApiClient], json: bool) -> anyhow::Result<()> {
    if json {
        let rows: Vec<_> = clients
            .iter()
            .map(|c| {
                serde_json::json!({
                    "client_id": c.client_id,
                    "name": c.name,
                    "created_at": format_time(Some(c.created_at)),
                    "disabled_at": format_time(c.disabled_at),
                    "permissions": permission_names(c.permissions),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!(
            "{:<28} {:<30} {:<10} {:<32} NAME",
            "CLIENT_ID", "CREATED", "STATE", "PERMISSIONS"
        );
        for c in clients {
            let state = if c.disabled_at.is_some() {
                "disabled"
            } else {
                "enabled"
            };
            println!(
                "{:<28} {:<30} {:<10} {:<32} {}",
                c.client_id,
                format_time(Some(c.created_at)).unwrap_or_default(),
                state,
                shown(c.permissions),
                c.name
            );
        }
    }
    Ok(())
}

/// The permission names, for JSON output.
fn permission_names(permissions: ClientPermissions) -> Vec<&'static str> {
    permissions.iter().map(|p| p.name()).collect()
}

/// The permissions comma-separated, or `none` (own tokens only), for people.
fn shown(permissions: ClientPermissions) -> String {
    if permissions == ClientPermissions::NONE {
        "none".to_owned()
    } else {
        permission_names(permissions).join(",")
    }
}

fn format_time(t: Option<Timestamp>) -> Option<String> {
    t.and_then(|t| jiff::Timestamp::from_millisecond(t.as_millis()).ok())
        .map(|t| t.to_string())
}
