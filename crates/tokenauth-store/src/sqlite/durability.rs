//! How durable a commit is when its caller hears "done": SQLite's `synchronous` mode, chosen by
//! the operator (`sqlite_synchronous`).
//!
//! In WAL mode, `FULL` syncs the WAL to stable storage at every commit, so an acknowledged
//! write (a rotation, a logout, a theft revocation) survives an OS crash or a power loss too.
//! Group commit ([`super::batch`]) makes that one sync per batch of writes, not per write.
//! `NORMAL` syncs only at checkpoints: every commit survives a crash of the process, but the
//! last ones before an OS crash or power loss may be lost, and with them a revocation that was
//! already acknowledged.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rusqlite::Connection;
use tokenauth_core::store::StoreError;

/// The `synchronous` mode of the connections that commit (the writer and the checkpointer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// Every commit is synced before it is acknowledged: it survives power loss. The default.
    #[default]
    Full,
    /// Commits are synced at checkpoints only: they survive a process crash, not necessarily an
    /// OS crash or power loss. Faster on disks with slow syncs.
    Normal,
}

impl Synchronous {
    /// The setting's spelling: `full` or `normal`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Synchronous::Full => "full",
            Synchronous::Normal => "normal",
        }
    }

    /// The value `PRAGMA synchronous` reads back in this mode (FULL is 2, NORMAL 1).
    pub const fn pragma_value(self) -> i64 {
        match self {
            Synchronous::Full => 2,
            Synchronous::Normal => 1,
        }
    }

    /// The mode `PRAGMA synchronous` read back as `value`; `None` for the modes tokenauth never
    /// sets (OFF, EXTRA).
    pub const fn from_pragma_value(value: i64) -> Option<Self> {
        match value {
            2 => Some(Synchronous::Full),
            1 => Some(Synchronous::Normal),
            _ => None,
        }
    }

    /// Sets this mode on `conn`.
    pub(super) fn apply(self, conn: &Connection) -> Result<(), StoreError> {
        conn.pragma_update(None, "synchronous", self.as_str())
            .map_err(super::unavailable)
    }
}

impl fmt::Display for Synchronous {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value that is neither `full` nor `normal`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not full or normal")]
pub struct UnknownSynchronous(pub String);

impl FromStr for Synchronous {
    type Err = UnknownSynchronous;

    /// Parses `full` or `normal` (any case).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "full" => Ok(Synchronous::Full),
            "normal" => Ok(Synchronous::Normal),
            _ => Err(UnknownSynchronous(text.to_owned())),
        }
    }
}

/// How long a connection waits for another's lock unless told otherwise.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// What an SQLite store is opened with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqliteSettings {
    /// How durable a commit is when acknowledged.
    pub synchronous: Synchronous,
    /// How long each connection waits for a lock another connection holds (the
    /// checkpointer's, another process's) before its statement fails.
    pub busy_timeout: Duration,
}

impl Default for SqliteSettings {
    fn default() -> Self {
        Self {
            synchronous: Synchronous::default(),
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_modes_and_nothing_else() {
        assert_eq!("full".parse(), Ok(Synchronous::Full));
        assert_eq!("NORMAL".parse(), Ok(Synchronous::Normal));
        for bad in ["off", "extra", "", "2"] {
            assert!(bad.parse::<Synchronous>().is_err(), "{bad:?} accepted");
        }
        assert_eq!(Synchronous::default(), Synchronous::Full);
    }

    #[test]
    fn pragma_values_round_trip() {
        for mode in [Synchronous::Full, Synchronous::Normal] {
            assert_eq!(
                Synchronous::from_pragma_value(mode.pragma_value()),
                Some(mode)
            );
            assert_eq!(mode.to_string().parse(), Ok(mode));
        }
        assert_eq!(Synchronous::from_pragma_value(0), None);
    }
}
