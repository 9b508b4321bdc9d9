//! The `database_url` setting: where data is stored, with any password kept out of what is
//! shown.

use std::fmt;
use std::path::PathBuf;

use super::{ConfigError, invalid};

/// Where data is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// An embedded SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL server (`postgres://…`), shared by every instance.
    Postgres(SecretUrl),
}

/// A connection URL that may carry a password: shown with the password masked.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(String);

impl SecretUrl {
    /// The full URL, password included, for the driver only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // postgres://user:password@host/db → postgres://user:***@host/db, and the password
        // may also come as a query parameter: ?password=secret → ?password=***
        let Some((scheme, rest)) = self.0.split_once("://") else {
            return f.write_str("<unparseable URL>");
        };
        // The user info ends at the last `@` before the host's end, so that a password with a
        // raw `@`, `/` or `?` in it is masked whole.
        let userinfo_end = rest.find('@').and_then(|first| {
            let host_end = rest[first..]
                .find(['/', '?'])
                .map_or(rest.len(), |i| first + i);
            rest[..host_end].rfind('@')
        });
        let (credentials, rest) = match userinfo_end {
            Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
            None => (None, rest),
        };
        let (rest, query) = match rest.split_once('?') {
            Some((rest, query)) => (rest, Some(query)),
            None => (rest, None),
        };
        match credentials {
            Some(credentials) => match credentials.split_once(':') {
                Some((user, _password)) => write!(f, "{scheme}://{user}:***@{rest}")?,
                None => write!(f, "{scheme}://{credentials}@{rest}")?,
            },
            None => write!(f, "{scheme}://{rest}")?,
        }
        let Some(query) = query else { return Ok(()) };
        f.write_str("?")?;
        for (i, pair) in query.split('&').enumerate() {
            if i > 0 {
                f.write_str("&")?;
            }
            match pair.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => {
                    write!(f, "{key}=***")?;
                }
                _ => f.write_str(pair)?,
            }
        }
        Ok(())
    }
}

impl std::str::FromStr for DatabaseUrl {
    type Err = ConfigError;

    /// Parses `sqlite://PATH` or `postgres://…` as the `database_url` setting does; the error
    /// never repeats the URL (it may hold a password).
    fn from_str(url: &str) -> Result<Self, ConfigError> {
        parse_database_url(url)
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseUrl::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            DatabaseUrl::Postgres(url) => url.fmt(f),
        }
    }
}

pub(super) fn parse_database_url(url: &str) -> Result<DatabaseUrl, ConfigError> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        if path.is_empty() {
            return Err(invalid(
                "database_url",
                "sqlite:// needs a file path, e.g. sqlite://./tokenauth.db",
            ));
        }
        return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        if url.parse::<tokio_postgres::Config>().is_err() {
            return Err(invalid("database_url", "is not a valid postgres:// URL"));
        }
        return Ok(DatabaseUrl::Postgres(SecretUrl(url.to_owned())));
    }
    Err(invalid(
        "database_url",
        "must start with sqlite:// or postgres://",
    ))
}
