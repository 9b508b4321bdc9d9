//! Property test of the refresh-token state machine (`shared/refresh-rotation.md`): random
//! sequences of refreshes (with the live token, the previous one, older ones, unknown ones),
//! logouts, "log out everywhere", access-token checks and clock jumps (a second, exactly the
//! grace window, just past it, past the access-token lifetime, exactly the idle timeout, a whole
//! refresh-token lifetime)
//! drive a real [`AuthService`] over a real store — SQLite, and PostgreSQL when
//! `TOKENAUTH_TEST_DATABASE_URL` is set. A model of every session predicts each answer, which
//! must match exactly (down to the very successor token, derived here from the same master key),
//! and after every step the store is checked against the invariants:
//!
//! 1. at most one live refresh token per family, and exactly the model's latest one while the
//!    session lives;
//! 2. a revoked or expired family never comes back: no token of it is live again, every later
//!    refresh of any of its tokens fails, its access tokens are refused;
//! 3. reusing a rotated token (the previous one after the grace window, or any older one)
//!    revokes the family, while the previous one inside the window replays the same successor;
//! 4. a session ends after its idle timeout unused, and at its absolute end however often it is
//!    refreshed: every successor's expiry is capped there, and `refresh_token_expires_in` says so.
//!
//! One store and one service serve every case of a run; each case signs up users of its own, so
//! cases are independent. `PROPTEST_CASES` overrides the number of cases (64).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokenauth_core::audit::Auditor;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use tokenauth_core::keys::KeyManager;
use tokenauth_core::master_key::MasterKey;
use tokenauth_core::password::{HashCost, PasswordHasher};
use tokenauth_core::refresh_token::RotationSecret;
use tokenauth_core::service::{AuthService, ClientInfo, IssuedTokens};
use tokenauth_core::store::Store;
use tokenauth_core::{AuthError, AuthSettings, Clock, ManualClock, SessionId, Timestamp, UserId};
use tokenauth_store::SqliteStore;
use tokenauth_store::postgres::test_schema::TestSchema;

const ACCESS_TTL: Duration = Duration::from_secs(60);
const REFRESH_TTL: Duration = Duration::from_secs(600);
/// Shorter than the refresh-token lifetime, so it is the one that counts.
const IDLE_TIMEOUT: Duration = Duration::from_secs(400);
/// Reached within a case when its refreshes keep a session alive.
const MAX_LIFETIME: Duration = Duration::from_secs(1000);
const GRACE: Duration = Duration::from_secs(10);
const LEEWAY: Duration = Duration::from_secs(5);
const PASSWORD: &str = "correct horse battery staple";
/// Cheap enough that signing up a few users per case costs nothing.
const HASH_COST: HashCost = HashCost {
    memory_kib: 256,
    iterations: 1,
    parallelism: 1,
};
/// Which user owns each session: two sessions of user 0, one of user 1 (whom user 0's
/// "log out everywhere" must not touch).
const OWNERS: [usize; 3] = [0, 0, 1];
const USERS: usize = 2;
const DEFAULT_CASES: u32 = 64;
const MAX_STEPS: usize = 30;

mod model;

use model::{Expected, Family, Op, Refused, op, refused};

struct Harness {
    auth: AuthService,
    store: Arc<dyn Store>,
    clock: ManualClock,
    rotation: RotationSecret,
    tally: Tally,
}

/// How often each refresh outcome came up in a run, to show the cases reach every branch.
#[derive(Default)]
struct Tally {
    steps: AtomicU64,
    /// Refreshes by predicted outcome, in the order of [`Tally::OUTCOMES`].
    refreshes: [AtomicU64; 5],
}

impl Tally {
    const OUTCOMES: [&str; 5] = ["rotated", "replayed", "reused", "expired", "revoked"];

    fn summary(&self) -> String {
        let refreshes: Vec<String> = (self.refreshes.iter().zip(Self::OUTCOMES))
            .map(|(n, outcome)| format!("{} {outcome}", n.load(Ordering::Relaxed)))
            .collect();
        let steps = self.steps.load(Ordering::Relaxed);
        format!("{steps} steps; refreshes: {}", refreshes.join(", "))
    }
}

impl Harness {
    async fn new(store: Arc<dyn Store>) -> Self {
        let clock = ManualClock::at(Timestamp::from_millis(1_750_000_000_000));
        let master = Arc::new(MasterKey::from_bytes(&[7; 32]).expect("master key"));
        let settings = AuthSettings {
            access_token_ttl: ACCESS_TTL,
            refresh_token_ttl: REFRESH_TTL,
            session_idle_timeout: Some(IDLE_TIMEOUT),
            session_max_lifetime: MAX_LIFETIME,
            refresh_reuse_grace: GRACE,
            clock_leeway: LEEWAY,
            // The clock jumps hours per case; no key rotation is wanted here.
            key_rotation_interval: Duration::from_secs(10 * 365 * 24 * 3600),
            ..AuthSettings::default()
        };
        let shared_clock: Arc<dyn Clock> = Arc::new(clock.clone());
        let audit = Auditor::new(store.clone());
        let keys = KeyManager::start(
            store.clone(),
            audit.clone(),
            master.clone(),
            settings.clone(),
            shared_clock.clone(),
        )
        .await
        .expect("signing keys");
        let hasher = PasswordHasher::new(HASH_COST, 2, 64).expect("hasher");
        let auth = AuthService::new(
            store.clone(),
            shared_clock,
            settings,
            hasher,
            Arc::new(keys),
            &master,
            audit,
        )
        .await
        .expect("service");
        Self {
            auth,
            store,
            clock,
            rotation: master.rotation_secret(),
            tally: Tally::default(),
        }
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The model's prediction for refreshing `family` now with its token number `index`.
    fn expect_refresh(&self, family: &Family, index: usize) -> Expected {
        let now = self.now();
        let live = index + 1 == family.tokens.len();
        if family.revoked {
            return Expected::Refused(Refused::Revoked);
        }
        if family.expires_at <= now {
            return Expected::Refused(Refused::Expired);
        }
        if live {
            // Token `index` is of generation `index`; its successor is the next generation's.
            let token = self
                .rotation
                .token(family.id, index as u64 + 1)
                .expose()
                .to_owned();
            return Expected::Issued {
                token,
                rotated: true,
            };
        }
        let previous = index + 2 == family.tokens.len();
        let in_grace = family.rotated_at.is_some_and(|at| at >= now.minus(GRACE));
        if previous && in_grace {
            Expected::Issued {
                token: family.tokens[index + 1].clone(),
                rotated: false,
            }
        } else {
            Expected::Refused(Refused::Reused)
        }
    }
}

/// A fresh user per case and user slot.
fn email(user: usize) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("prop-{n}-user{user}@example.com")
}

/// Opens the sessions of [`OWNERS`]: a sign-up per user, a login for each further session.
async fn open_sessions(h: &Harness) -> (Vec<UserId>, Vec<Family>) {
    let emails: Vec<String> = (0..USERS).map(email).collect();
    let mut users: Vec<Option<UserId>> = vec![None; USERS];
    let mut families = Vec::new();
    for &owner in &OWNERS {
        let (user, tokens) = match users[owner] {
            None => h
                .auth
                .signup(&emails[owner], PASSWORD.into(), ClientInfo::default())
                .await
                .expect("signup"),
            Some(_) => h
                .auth
                .login(&emails[owner], PASSWORD.into(), ClientInfo::default())
                .await
                .expect("login"),
        };
        users[owner] = Some(user.id);
        families.push(Family::new(owner, &tokens, h.now()));
    }
    let users = users.into_iter().map(|u| u.expect("signed up")).collect();
    (users, families)
}

async fn run_case(h: &Harness, ops: &[Op]) -> Result<(), TestCaseError> {
    let (users, mut families) = open_sessions(h).await;
    check_invariants(h, &users, &mut families)
        .await
        .map_err(|e| TestCaseError::fail(format!("after opening the sessions: {e}")))?;
    for (step, op) in ops.iter().enumerate() {
        h.tally.steps.fetch_add(1, Ordering::Relaxed);
        let result = match apply(h, &users, &mut families, op).await {
            Ok(()) => check_invariants(h, &users, &mut families).await,
            Err(error) => Err(error),
        };
        result.map_err(|e| TestCaseError::fail(format!("step {step} ({op:?}): {e}")))?;
    }
    Ok(())
}

/// Applies `op` to the service and checks its answer against the model, which it updates.
async fn apply(
    h: &Harness,
    users: &[UserId],
    families: &mut [Family],
    op: &Op,
) -> Result<(), TestCaseError> {
    match *op {
        Op::Refresh { session, back } => refresh(h, &mut families[session], back).await,
        Op::RefreshUnknown => refresh_unknown(h).await,
        Op::Logout { session } => logout(h, users, &mut families[session]).await,
        Op::RevokeAll { user } => revoke_all(h, users, families, user).await,
        Op::Authenticate { session } => authenticate(h, users, &families[session]).await,
        Op::Wait(wait) => {
            h.clock.advance(wait.duration());
            Ok(())
        }
    }
}

/// Refreshes `family` with its token issued `back` rotations ago: the answer is the model's
/// prediction (a rotation, a replay within grace, or the refusal it predicts); counts the
/// outcome and follows a rotation or a detected reuse in the model.
async fn refresh(h: &Harness, family: &mut Family, back: usize) -> Result<(), TestCaseError> {
    let now = h.now();
    let index = family.tokens.len().saturating_sub(1 + back);
    let expected = h.expect_refresh(family, index);
    let answer = h
        .auth
        .refresh(&family.tokens[index], ClientInfo::default())
        .await;
    count_refresh(h, &expected);
    match (&expected, answer) {
        (Expected::Issued { token, rotated }, Ok(issued)) => {
            check_issued(family, now, token, *rotated, issued)
        }
        (Expected::Refused(expected), Err(error)) => {
            prop_assert_eq!(*expected, refused(error)?);
            if *expected == Refused::Reused {
                family.revoke(now);
            }
            Ok(())
        }
        (expected, answer) => {
            let answer = answer.map(|issued| issued.refresh_token.expose().to_owned());
            Err(TestCaseError::fail(format!(
                "refresh of token {index} of {} (back {back}): expected {expected:?}, \
                 got {answer:?}",
                family.tokens.len()
            )))
        }
    }
}

/// Counts a refresh in the tally by the outcome the model expected.
fn count_refresh(h: &Harness, expected: &Expected) {
    let outcome = match expected {
        Expected::Issued { rotated: true, .. } => 0,
        Expected::Issued { rotated: false, .. } => 1,
        Expected::Refused(Refused::Reused) => 2,
        Expected::Refused(Refused::Expired) => 3,
        Expected::Refused(_) => 4,
    };
    h.tally.refreshes[outcome].fetch_add(1, Ordering::Relaxed);
}

/// Checks tokens `issued` at `now` for `family`: the expected refresh `token` for the family's
/// session, a rotation (`rotated`) moving the family on in the model, an access token expiring
/// no later than the rotation's did, and a refresh token living until the family's (capped)
/// end. Keeps the access token for later `Authenticate` steps.
fn check_issued(
    family: &mut Family,
    now: Timestamp,
    token: &str,
    rotated: bool,
    issued: IssuedTokens,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(issued.refresh_token.expose(), token);
    prop_assert_eq!(issued.session_id, family.id);
    if rotated {
        family.tokens.push(token.to_owned());
        family.rotated_at = Some(now);
        family.expires_at = now.plus(IDLE_TIMEOUT).min(family.absolute_end);
        family.access_expires_at = now.plus(ACCESS_TTL);
    }
    // A replay's access token expires no later than the rotation's did.
    let exp = (now.as_secs() + ACCESS_TTL.as_secs() as i64).min(family.access_expires_at.as_secs());
    prop_assert_eq!(issued.expires_in as i64, exp - now.as_secs());
    prop_assert!(family.expires_at <= family.absolute_end);
    prop_assert_eq!(
        issued.refresh_token_expires_in,
        family.expires_at.since(now).as_secs()
    );
    family.access_token = issued.access_token;
    family.access_exp = exp;
    Ok(())
}

/// A well-formed token no session issued and a malformed one are both refused as invalid.
async fn refresh_unknown(h: &Harness) -> Result<(), TestCaseError> {
    let unknown = h.rotation.token(SessionId::generate(), 0);
    for token in [unknown.expose(), "not-a-refresh-token"] {
        match h.auth.refresh(token, ClientInfo::default()).await {
            Ok(_) => return Err(TestCaseError::fail("an unknown token was accepted")),
            Err(error) => prop_assert_eq!(refused(error)?, Refused::Invalid),
        }
    }
    Ok(())
}

/// Logs `family`'s session out; the model marks it revoked if it was live and remembered as
/// revoked either way.
async fn logout(h: &Harness, users: &[UserId], family: &mut Family) -> Result<(), TestCaseError> {
    let now = h.now();
    h.auth
        .logout(users[family.user], family.id, ClientInfo::default())
        .await
        .map_err(|e| TestCaseError::fail(format!("logout: {e}")))?;
    // The store revokes only a live session, but the service remembers it either way.
    if !family.is_dead(now) {
        family.revoked = true;
    }
    family.remember_revoked(now);
    Ok(())
}

/// Revokes every session of `user`: the service counts exactly the user's live families,
/// which the model revokes.
async fn revoke_all(
    h: &Harness,
    users: &[UserId],
    families: &mut [Family],
    user: usize,
) -> Result<(), TestCaseError> {
    let now = h.now();
    let revoked = h
        .auth
        .revoke_all_sessions(users[user], ClientInfo::default())
        .await
        .map_err(|e| TestCaseError::fail(format!("revoke all: {e}")))?;
    let mut expected = 0;
    for family in families.iter_mut().filter(|f| f.user == user) {
        if !family.is_dead(now) {
            family.revoke(now);
            expected += 1;
        }
    }
    prop_assert_eq!(revoked, expected);
    Ok(())
}

/// `family`'s latest access token authenticates its user and session unless it expired
/// (beyond the leeway) or its session is remembered as revoked; an access token of a revoked
/// session is never accepted.
async fn authenticate(h: &Harness, users: &[UserId], family: &Family) -> Result<(), TestCaseError> {
    let now = h.now();
    let exp = family.access_exp;
    let expected = if now.as_secs() >= exp + LEEWAY.as_secs() as i64 {
        Err(Refused::Expired)
    } else if family.remembered_revoked_until.is_some_and(|t| now < t) {
        Err(Refused::Revoked)
    } else {
        Ok(family.id)
    };
    let answer = match h.auth.authenticate(&family.access_token).await {
        Ok(caller) => {
            prop_assert_eq!(caller.user_id, users[family.user]);
            Ok(caller.session_id)
        }
        Err(error) => Err(refused(error)?),
    };
    prop_assert_eq!(answer, expected);
    prop_assert!(
        answer.is_err() || !family.revoked,
        "an access token of a revoked session was accepted"
    );
    Ok(())
}

/// Checks the store against the model and the invariants, without using any token.
async fn check_invariants(
    h: &Harness,
    users: &[UserId],
    families: &mut [Family],
) -> Result<(), TestCaseError> {
    let now = h.now();
    for family in families.iter_mut() {
        let dead = family.is_dead(now);
        prop_assert!(
            !family.was_dead || dead,
            "the model revived a family (test bug)"
        );
        let mut live = 0;
        for (index, token) in family.tokens.iter().enumerate() {
            let presented = h.rotation.verify(token).expect("our token");
            let status = h
                .store
                .find_refresh_token(&presented)
                .await
                .map_err(|e| TestCaseError::fail(format!("find_refresh_token: {e}")))?
                .ok_or_else(|| TestCaseError::fail(format!("token {index} is unknown")))?;
            prop_assert_eq!(status.session_id, family.id);
            prop_assert_eq!(
                status.current,
                index + 1 == family.tokens.len(),
                "token {}",
                index
            );
            prop_assert_eq!(status.revoked_at.is_some(), family.revoked);
            prop_assert_eq!(status.expires_at, family.expires_at);
            if status.is_active(now) {
                live += 1;
            }
        }
        // Invariant 1 (at most one live token), and 2 (a dead family has none).
        prop_assert_eq!(
            live,
            usize::from(!dead),
            "live refresh tokens of {:?}",
            family.id
        );
        family.was_dead = dead;
    }
    for (user, id) in users.iter().enumerate() {
        let listed = h
            .auth
            .sessions(*id)
            .await
            .map_err(|e| TestCaseError::fail(format!("sessions: {e}")))?;
        let mut expected: Vec<(SessionId, i64, Timestamp)> = families
            .iter()
            .filter(|f| f.user == user && !f.is_dead(now))
            .map(|f| (f.id, f.tokens.len() as i64 - 1, f.expires_at))
            .collect();
        let mut listed: Vec<(SessionId, i64, Timestamp)> = listed
            .into_iter()
            .map(|s| (s.id, s.generation, s.expires_at))
            .collect();
        expected.sort_by_key(|s| s.0.to_string());
        listed.sort_by_key(|s| s.0.to_string());
        prop_assert_eq!(listed, expected, "live sessions of user {}", user);
    }
    Ok(())
}

/// Runs the cases on `store`; panics with the shrunk sequence on a failure.
fn run(runtime: &tokio::runtime::Runtime, store: Arc<dyn Store>) {
    let harness = runtime.block_on(Harness::new(store));
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let strategy = proptest::collection::vec(op(), 1..=MAX_STEPS);
    match runner.run(&strategy, |ops| runtime.block_on(run_case(&harness, &ops))) {
        Ok(()) => eprintln!("{cases} cases, {}", harness.tally.summary()),
        Err(TestError::Fail(reason, ops)) => {
            panic!(
                "{reason}\nminimal failing sequence ({} steps):\n{ops:#?}",
                ops.len()
            )
        }
        Err(TestError::Abort(reason)) => panic!("aborted: {reason}"),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn refresh_state_machine_on_sqlite() {
    let runtime = runtime();
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = Arc::new(SqliteStore::open(&dir.path().join("prop.db")).expect("open SQLite"));
    run(&runtime, store.clone());
    // `close` joins the database threads: keep it off the async workers.
    runtime
        .block_on(async { tokio::task::spawn_blocking(move || store.close()).await })
        .expect("close");
}

#[test]
fn refresh_state_machine_on_postgres() {
    let runtime = runtime();
    let Some(schema) = runtime.block_on(TestSchema::create("refresh_state_machine_on_postgres"))
    else {
        return;
    };
    let store = Arc::new(runtime.block_on(schema.open()));
    run(&runtime, store.clone());
    runtime.block_on(tokenauth_core::store::Lifecycle::close(store.as_ref()));
}
