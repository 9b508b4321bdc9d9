//! What is known of the client behind a request, and how much of it is kept: a leaf module,
//! so that the audit log and the services can both name it without depending on each other.

/// Longest `User-Agent` kept with a session.
const MAX_USER_AGENT_LEN: usize = 256;

/// What is known of the client making a request: shown in the session list, recorded in the
/// audit log.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// `User-Agent` header.
    pub user_agent: Option<String>,
    /// Client address.
    pub ip: Option<String>,
}

/// A `User-Agent` cut to the length kept with a session.
pub(crate) fn cut_user_agent(user_agent: String) -> String {
    truncate(user_agent, MAX_USER_AGENT_LEN)
}

/// `text` cut to at most `max` bytes, on a character boundary.
pub(crate) fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}
