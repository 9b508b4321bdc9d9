//! The command line: its arguments ([`args`]) and one module per command family, each calling
//! the same core services as the HTTP face. [`run`] carries a parsed command out.

pub mod account;
pub mod args;
pub mod client;
pub mod config_check;
pub mod db;
pub mod db_copy;
pub mod keys;
pub mod serve;
pub mod session;
pub mod user;

pub use args::{
    Cli, ClientCommand, Command, ConfigCommand, DbCommand, KeysCommand, SessionCommand, UserCommand,
};

use crate::config::Config;
use db_copy::CopyRequest;

/// Carries out `command` with `config`.
///
/// # Errors
/// Whatever the command fails with; a [`crate::ConfigError`] in the chain means exit 2.
pub async fn run(config: Config, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve => serve::serve(config).await,
        Command::Keys(command) => keys::run(&config, command).await,
        Command::User(command) => user_command(config, command).await,
        Command::Session(command) => session_command(config, command).await,
        Command::Client(ClientCommand::Add {
            name,
            permissions,
            json,
        }) => {
            let permissions = permissions.into_iter().collect();
            client::add(&config, &name, permissions, json).await
        }
        Command::Client(ClientCommand::List { json }) => client::list(&config, json).await,
        Command::Audit {
            user,
            since,
            limit,
            json,
        } => account::audit(&config, user.as_deref(), since, limit, json).await,
        Command::Migrate { json } => db::migrate(&config, json).await,
        Command::Config(ConfigCommand::Check { json }) => {
            config_check::config_check(&config, json);
            Ok(())
        }
        Command::Db(DbCommand::Check { json }) => db::check(&config, json).await,
        Command::Db(DbCommand::Backup { path, json }) => db::backup(&config, &path, json).await,
        Command::Db(DbCommand::Copy {
            from,
            to,
            batch_size,
            json,
        }) => {
            let request = CopyRequest {
                from,
                to,
                batch_size,
                json,
            };
            db_copy::copy(&config, &request).await
        }
    }
}

async fn user_command(config: Config, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add {
            email,
            password_stdin,
            roles,
            json,
        } => user::add(&config, &email, password_stdin, &roles, json).await,
        UserCommand::List { after, limit, json } => {
            user::list(&config, after.as_deref(), limit, json).await
        }
        UserCommand::Show { email, json } => user::show(&config, &email, json).await,
        UserCommand::Delete { email, json } => user::delete(&config, &email, json).await,
        UserCommand::SetPassword {
            email,
            password_stdin,
            json,
        } => user::set_password(&config, &email, password_stdin, json).await,
        UserCommand::AddRole { email, role, json } => {
            user::role(&config, &email, &role, true, json).await
        }
        UserCommand::RemoveRole { email, role, json } => {
            user::role(&config, &email, &role, false, json).await
        }
        UserCommand::Disable { email, json } => account::disable(&config, &email, json).await,
        UserCommand::Enable { email, json } => account::enable(&config, &email, json).await,
    }
}

async fn session_command(config: Config, command: SessionCommand) -> anyhow::Result<()> {
    match command {
        SessionCommand::List { user, live, json } => {
            session::list(&config, &user, live, json).await
        }
        SessionCommand::Revoke { id, json } => session::revoke(&config, &id, json).await,
        SessionCommand::RevokeAll { user, json } => session::revoke_all(&config, &user, json).await,
    }
}
