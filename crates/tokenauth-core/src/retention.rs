//! How long what has ended is kept, by default: the defaults of the `audit_retention` and
//! `ended_session_retention` settings, in a leaf module so that the settings need not depend
//! on the audit log or the services that apply them.

use std::time::Duration;

/// How long audit events are kept by default before the background purge deletes them
/// ([`crate::settings::AuthSettings::audit_retention`]).
pub const AUDIT_RETENTION: Duration = Duration::from_secs(90 * 24 * 3600);

/// How long an ended (expired or revoked) session is kept by default
/// ([`crate::settings::AuthSettings::ended_session_retention`]) before the background purge deletes
/// it with its refresh-token history. Until then a late reuse of one of its tokens is still
/// recognised as belonging to a dead session rather than answered as unknown.
pub const ENDED_SESSION_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
