//! The command line: `tokenauth serve`, `tokenauth keys …`, `tokenauth user …`,
//! `tokenauth session …`,
//! `tokenauth client …`, `tokenauth audit`, `tokenauth migrate`, `tokenauth db …`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{Layer, RawValue, SETTINGS};

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
        /// The key's id (see `keys list`). Key ids are base64url, so one may start with `-`:
        /// it is taken as the id, not as a flag.
        #[arg(allow_hyphen_values = true)]
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

/// One flag per setting of [`SETTINGS`] (`--access-token-ttl` for `access_token_ttl`), global
/// to every command; unset flags fall through to the environment, the file, the default. Built
/// from the one list of settings rather than derived, so adding a setting adds its flag.
#[derive(Debug, Default, Clone)]
pub struct SettingFlags {
    given: Layer,
}

impl SettingFlags {
    /// The flags that were given, as a configuration layer.
    pub fn into_layer(self) -> Layer {
        self.given
    }
}

impl clap::FromArgMatches for SettingFlags {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let mut flags = Self::default();
        flags.update_from_arg_matches(matches)?;
        Ok(flags)
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        for setting in SETTINGS {
            if let Some(value) = matches.get_one::<String>(setting.name) {
                self.given
                    .insert(setting.name, RawValue::Text(value.clone()));
            }
        }
        Ok(())
    }
}

impl Args for SettingFlags {
    fn augment_args(command: clap::Command) -> clap::Command {
        SETTINGS.iter().fold(command, |command, setting| {
            command.arg(
                clap::Arg::new(setting.name)
                    .long(setting.flag_name())
                    .value_name("VALUE")
                    .global(true)
                    .help(setting.help_line()),
            )
        })
    }

    fn augment_args_for_update(command: clap::Command) -> clap::Command {
        Self::augment_args(command)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::{Cli, Command, KeysCommand};

    /// A random base64url key id may start with `-` (a flaky test found one); withdrawing it
    /// must not need `--`.
    #[test]
    fn a_key_id_starting_with_a_dash_is_an_id() {
        let cli = Cli::try_parse_from(["tokenauth", "keys", "withdraw", "-xV3JTFyA1DzIcbU"])
            .expect("parses");
        let Command::Keys(KeysCommand::Withdraw { kid, .. }) = cli.command else {
            panic!("not keys withdraw: {:?}", cli.command);
        };
        assert_eq!(kid, "-xV3JTFyA1DzIcbU");
    }
}
