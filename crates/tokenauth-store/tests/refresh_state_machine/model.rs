//! The model of the state machine: the operations a case is made of, and what each session
//! (family) is expected to be, so that every answer can be predicted.

use super::*;

/// How far the clock jumps.
#[derive(Debug, Clone, Copy)]
pub(super) enum Wait {
    Second,
    /// Exactly `refresh_reuse_grace`: a rotation that long ago is still inside the window.
    Grace,
    /// One millisecond more than the grace window.
    PastGrace,
    /// Past the access-token lifetime and the leeway.
    PastAccessTtl,
    /// Exactly the idle timeout: a session unused that long has expired.
    Idle,
    /// A whole refresh-token lifetime: every session not refreshed since has expired.
    RefreshTtl,
}

impl Wait {
    pub(super) fn duration(self) -> Duration {
        match self {
            Wait::Second => Duration::from_secs(1),
            Wait::Grace => GRACE,
            Wait::PastGrace => GRACE + Duration::from_millis(1),
            Wait::PastAccessTtl => ACCESS_TTL + LEEWAY + Duration::from_secs(1),
            Wait::Idle => IDLE_TIMEOUT,
            Wait::RefreshTtl => REFRESH_TTL,
        }
    }
}

/// One step of a case.
#[derive(Debug, Clone)]
pub(super) enum Op {
    /// Refresh `session` with the token issued `back` rotations ago (0: the live one; beyond
    /// the first token, the first).
    Refresh {
        session: usize,
        back: usize,
    },
    /// Refresh with a well-formed token no session issued, and with a malformed one.
    RefreshUnknown,
    Logout {
        session: usize,
    },
    RevokeAll {
        user: usize,
    },
    /// Check the session's latest access token.
    Authenticate {
        session: usize,
    },
    Wait(Wait),
}

pub(super) fn op() -> impl Strategy<Value = Op> {
    let session = 0..OWNERS.len();
    let back = prop_oneof![3 => Just(0usize), 3 => Just(1usize), 1 => 2..5usize];
    let wait = prop_oneof![
        4 => Just(Wait::Second),
        2 => Just(Wait::Grace),
        2 => Just(Wait::PastGrace),
        2 => Just(Wait::PastAccessTtl),
        1 => Just(Wait::Idle),
        1 => Just(Wait::RefreshTtl),
    ];
    prop_oneof![
        10 => (session.clone(), back).prop_map(|(session, back)| Op::Refresh { session, back }),
        1 => Just(Op::RefreshUnknown),
        1 => session.clone().prop_map(|session| Op::Logout { session }),
        1 => (0..USERS).prop_map(|user| Op::RevokeAll { user }),
        2 => session.prop_map(|session| Op::Authenticate { session }),
        4 => wait.prop_map(Op::Wait),
    ]
}

/// What a failed refresh or authentication says, as the model predicts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refused {
    Invalid,
    Expired,
    Revoked,
    Reused,
}

pub(super) fn refused(error: AuthError) -> Result<Refused, TestCaseError> {
    match error {
        AuthError::InvalidToken => Ok(Refused::Invalid),
        AuthError::TokenExpired => Ok(Refused::Expired),
        AuthError::SessionRevoked => Ok(Refused::Revoked),
        AuthError::RefreshTokenReused => Ok(Refused::Reused),
        other => Err(TestCaseError::fail(format!("unexpected error: {other}"))),
    }
}

/// The model of one session (refresh-token family).
#[derive(Debug)]
pub(super) struct Family {
    pub(super) user: usize,
    pub(super) id: SessionId,
    /// Every refresh token issued, oldest first; the last is the live one.
    pub(super) tokens: Vec<String>,
    pub(super) rotated_at: Option<Timestamp>,
    pub(super) expires_at: Timestamp,
    /// The session's absolute end.
    pub(super) absolute_end: Timestamp,
    /// The latest expiry of any access token minted for it (what the store records).
    pub(super) access_expires_at: Timestamp,
    pub(super) revoked: bool,
    /// The latest access token and its `exp`.
    pub(super) access_token: String,
    pub(super) access_exp: i64,
    /// Until when the service refuses the session's access tokens as revoked.
    pub(super) remembered_revoked_until: Option<Timestamp>,
    /// The family was seen dead (revoked or expired) at an earlier step.
    pub(super) was_dead: bool,
}

impl Family {
    pub(super) fn new(user: usize, tokens: &IssuedTokens, now: Timestamp) -> Self {
        Self {
            user,
            id: tokens.session_id,
            tokens: vec![tokens.refresh_token.expose().to_owned()],
            rotated_at: None,
            expires_at: now.plus(IDLE_TIMEOUT),
            absolute_end: now.plus(MAX_LIFETIME),
            access_expires_at: now.plus(ACCESS_TTL),
            revoked: false,
            access_token: tokens.access_token.clone(),
            access_exp: now.as_secs() + ACCESS_TTL.as_secs() as i64,
            remembered_revoked_until: None,
            was_dead: false,
        }
    }

    pub(super) fn is_dead(&self, now: Timestamp) -> bool {
        self.revoked || self.expires_at <= now
    }

    pub(super) fn revoke(&mut self, now: Timestamp) {
        self.revoked = true;
        self.remember_revoked(now);
    }

    pub(super) fn remember_revoked(&mut self, now: Timestamp) {
        self.remembered_revoked_until = Some(now.plus(ACCESS_TTL + LEEWAY));
    }
}

/// What the model expects of a refresh.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Expected {
    /// Success with this refresh token; `rotated` if it is a new one.
    Issued {
        token: String,
        rotated: bool,
    },
    Refused(Refused),
}
