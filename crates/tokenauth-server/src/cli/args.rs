//! The command line: `tokenauth serve`, `tokenauth keys …`, `tokenauth user …`,
//! `tokenauth session …`,
//! `tokenauth client …`, `tokenauth audit`, `tokenauth migrate`, `tokenauth db …`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{Layer, RawValue};

/// Token-based authentication for APIs: sign-up, login, JWT access tokens, rotating refresh
/// tokens, JWKS.
#[derive(Debug, Parser)]
#[command(name = "tokenauth", version, about)]
pub struct Cli {
    /// TOML configuration file (also `TOKENAUTH_CONFIG`).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Settings; each also reads `TOKENAUTH_<NAME>` and the TOML key `<name>`.
    #[command(flatten)]
    pub settings: SettingFlags,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the auth server.
    Serve,
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Inspect and revoke sessions.
    #[command(subcommand)]
    Session(SessionCommand),
    /// Manage the API clients allowed to call /oauth2/revoke and /oauth2/introspect.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Print audit events (logins, revocations, account and key changes), newest first: a
    /// user's, or everyone's without --user.
    Audit {
        /// The user's email; without it, every event (also key rotations and failed logins of
        /// unknown emails).
        #[arg(long, value_name = "EMAIL")]
        user: Option<String>,
        /// How far back to look: 10s, 15m, 12h, 30d.
        #[arg(long, value_name = "DURATION", default_value = "1d",
              value_parser = crate::config::parse_duration)]
        since: std::time::Duration,
        /// Most events to print.
        #[arg(long, value_name = "N", default_value_t = 100,
              value_parser = clap::value_parser!(u32).range(1..=10_000))]
        limit: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check the configuration: print every setting's effective value (secrets masked) and
    /// warnings about weak choices; exit 2 with one line if it is invalid.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Apply pending schema migrations to the configured database, then exit.
    Migrate {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check or move the database.
    #[command(subcommand)]
    Db(DbCommand),
}

/// `tokenauth config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration (flags, environment, file) and print it with warnings.
    Check {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `tokenauth db …`.
#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Check that the configured database answers and its schema is the one this build expects
    /// (exit 0), or say why not (exit 1).
    Check {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Copy the SQLite database to a new file with SQLite's online backup API, safe while
    /// servers run (for PostgreSQL use pg_dump). The master key is not in the copy: back it up
    /// separately.
    Backup {
        /// The file to create (never overwritten).
        path: std::path::PathBuf,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Copy users, sessions, refresh-token history, signing keys and API clients into an empty
    /// database
    /// (stop the servers using the source first).
    Copy {
        /// The database to copy from: sqlite://PATH or postgres://…
        #[arg(long, value_name = "URL")]
        from: String,
        /// The empty database to copy into (created and migrated if needed).
        #[arg(long, value_name = "URL")]
        to: String,
        /// Rows per transaction on the target.
        #[arg(long, value_name = "ROWS", default_value_t = tokenauth_core::store::DEFAULT_BATCH_SIZE,
              value_parser = clap::value_parser!(u32).range(1..=10_000))]
        batch_size: u32,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `tokenauth keys …`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List signing keys and their states.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Start a rotation: publish a new key now; it signs after two JWKS cache lifetimes.
    Rotate {
        /// Make the new key sign at once (e.g. the active key leaked).
        #[arg(long)]
        now: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Withdraw a retired or next key now, e.g. because it leaked.
    ///
    /// It leaves the JWKS at once and running servers refuse its tokens within a second;
    /// verifiers that cache the JWKS drop it at their next refresh (jwks_max_age). The active
    /// key cannot be withdrawn: run `keys rotate --now` first.
    Withdraw {
        /// The key's id (see `keys list`).
        kid: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `tokenauth client …`.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; prints its id and secret once (only a hash of the secret is stored).
    Add {
        /// A name saying who the client is.
        name: String,
        /// A permission to grant (repeat for several): `introspect` (introspect any token),
        /// `revoke_any` (revoke any token), `revocations` (read the revocation feed). Without
        /// any, the client acts only on tokens issued to it.
        #[arg(long = "permission", value_name = "NAME",
              value_parser = parse_permission)]
        permissions: Vec<tokenauth_core::client::ClientPermission>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List registered clients (never their secrets).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// A `--permission` value: one of the names of [`tokenauth_core::client::ClientPermission`].
fn parse_permission(name: &str) -> Result<tokenauth_core::client::ClientPermission, String> {
    use tokenauth_core::client::ClientPermission;
    ClientPermission::from_name(name).ok_or_else(|| {
        let names: Vec<_> = ClientPermission::ALL.iter().map(|p| p.name()).collect();
        format!("unknown permission; one of: {}", names.join(", "))
    })
}

/// `tokenauth user …`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account (no session); the password is read from stdin, never an argument.
    Add {
        /// The user's email.
        email: String,
        /// Read the password from the first line of stdin (required: an argument would show in
        /// `ps` and the shell's history).
        #[arg(long)]
        password_stdin: bool,
        /// A role to give the account; repeat for several.
        #[arg(long = "role", value_name = "ROLE")]
        roles: Vec<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List accounts in email order.
    List {
        /// Start after this email (the last one of the previous page).
        #[arg(long, value_name = "EMAIL")]
        after: Option<String>,
        /// Most accounts to print.
        #[arg(long, value_name = "N", default_value_t = 100,
              value_parser = clap::value_parser!(u32).range(1..=100_000))]
        limit: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show an account and its sessions.
    Show {
        /// The user's email.
        email: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Erase an account: revoke every session (APIs refuse its tokens), then delete the
    /// account, its sessions and its audit events. Cannot be undone.
    Delete {
        /// The user's email.
        email: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Set an account's password (read from stdin) and revoke every session of it.
    SetPassword {
        /// The user's email.
        email: String,
        /// Read the password from the first line of stdin (required).
        #[arg(long)]
        password_stdin: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Give a user a role (carried in the `roles` claim of their next tokens).
    AddRole {
        /// The user's email.
        email: String,
        /// The role.
        role: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Take a role from a user (their next tokens no longer carry it).
    RemoveRole {
        /// The user's email.
        email: String,
        /// The role.
        role: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Disable an account: it can no longer log in or refresh, and every session of it is
    /// revoked at once (running servers refuse its access tokens within a poll interval).
    Disable {
        /// The user's email.
        email: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Enable a disabled account again (its revoked sessions stay revoked).
    Enable {
        /// The user's email.
        email: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `tokenauth session …`.
#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// List a user's sessions, live and ended (until purged), newest first.
    List {
        /// The user's email.
        #[arg(long, value_name = "EMAIL")]
        user: String,
        /// Only the live ones.
        #[arg(long)]
        live: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke one session by id: its refresh token stops working and APIs refuse its access
    /// tokens.
    Revoke {
        /// The session id (the `sid` claim).
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke every live session of a user (the account stays usable).
    RevokeAll {
        /// The user's email.
        #[arg(long, value_name = "EMAIL")]
        user: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

macro_rules! setting_flags {
    ($($field:ident => $name:literal, $help:literal;)*) => {
        /// One flag per setting; unset flags fall through to the environment, the file, the default.
        #[derive(Debug, Default, Args)]
        pub struct SettingFlags {
            $(
                #[doc = $help]
                #[arg(long, global = true, value_name = "VALUE")]
                pub $field: Option<String>,
            )*
        }

        impl SettingFlags {
            /// The flags that were given, as a configuration layer.
            pub fn into_layer(self) -> Layer {
                let mut layer = Layer::new();
                $(
                    if let Some(value) = self.$field {
                        layer.insert($name, RawValue::Text(value));
                    }
                )*
                layer
            }
        }
    };
}

setting_flags! {
    listen => "listen", "Address to listen on [default: 127.0.0.1:8080]";
    database_url => "database_url", "sqlite://PATH [default: sqlite://<data_dir>/tokenauth.db]";
    data_dir => "data_dir", "Directory for the database and master key [default: ./tokenauth-data]";
    issuer => "issuer", "Token issuer URL [default: http://<listen>]";
    audience => "audience", "Audience of access tokens [default: the issuer]";
    access_token_ttl => "access_token_ttl", "Access token lifetime [default: 15m]";
    refresh_token_ttl => "refresh_token_ttl", "Refresh token lifetime [default: 30d]";
    session_max_lifetime => "session_max_lifetime", "Absolute end of a session after its creation [default: 90d]";
    session_idle_timeout => "session_idle_timeout", "A session unused this long ends [default: refresh_token_ttl]";
    refresh_reuse_grace => "refresh_reuse_grace", "Grace window for a retried refresh [default: 10s]";
    signing_alg => "signing_alg", "ES256, EdDSA, RS256 or HS256 [default: ES256]";
    key_rotation_interval => "key_rotation_interval", "Signing key rotation interval [default: 7d]";
    clock_leeway => "clock_leeway", "Tolerated clock skew for exp/nbf [default: 10s]";
    cors_allowed_origins => "cors_allowed_origins", "Comma-separated browser origins allowed to call the API";
    cookie_mode => "cookie_mode", "Browser cookie mode: on or off [default: on]";
    jwks_max_age => "jwks_max_age", "Cache lifetime of the JWKS document [default: 5m]";
    password_hash_concurrency => "password_hash_concurrency", "Password hashes run at once [default: cores - 1, at least 1]";
    password_hash_queue => "password_hash_queue", "Password hashes that may wait before 503 [default: 64]";
    request_timeout => "request_timeout", "Longest a request may take [default: 30s]";
    log_format => "log_format", "text or json [default: text]";
    metrics => "metrics", "Prometheus metrics at GET /metrics: on or off [default: on]";
    database_max_connections => "database_max_connections", "PostgreSQL connections per instance [default: 16]";
    database_timeout => "database_timeout", "Longest any database call may take, then 503 [default: 5s]";
    sqlite_synchronous => "sqlite_synchronous", "SQLite commit durability: full (survives power loss) or normal (survives a process crash) [default: full]";
    revocation_poll_interval => "revocation_poll_interval", "How often to read revocations made elsewhere [default: 250ms]";
    max_connections => "max_connections", "Client connections open at once [default: 10000]";
    max_connections_per_ip => "max_connections_per_ip", "Client connections one address may hold open; 0 = no limit; trusted proxies exempt [default: 256]";
    header_read_timeout => "header_read_timeout", "Longest a client may take to send a request head [default: 10s]";
    idle_timeout => "idle_timeout", "Longest a keep-alive connection may sit idle between requests [default: 75s]";
    shutdown_timeout => "shutdown_timeout", "Longest a stop waits for open connections before closing them [default: 10s]";
    signup_response => "signup_response", "distinct (409 for a taken email) or uniform (202 either way) [default: distinct]";
    login_max_failures => "login_max_failures", "Failed logins that lock an email out; 0 = off [default: 5]";
    login_lockout_max => "login_lockout_max", "Longest login lock-out (the first is 30s, doubling) [default: 15m]";
    rate_limit_login => "rate_limit_login", "Password checks (login, password change, account deletion) per client IP, e.g. 10/s, 30/m, or off [default: 10/s]";
    rate_limit_signup => "rate_limit_signup", "Sign-ups per client IP, e.g. 60/m, or off [default: 60/m]";
    rate_limit_refresh => "rate_limit_refresh", "Refreshes per client IP, e.g. 10000/s, or off [default: 10000/s]";
    trusted_proxies => "trusted_proxies", "Comma-separated proxy IPs/CIDRs whose X-Forwarded-For is believed [default: none]";
    audit_retention => "audit_retention", "How long audit events are kept [default: 90d]";
    ended_session_retention => "ended_session_retention", "How long expired or revoked sessions are kept [default: 7d]";
}
