//! What both backends' key-policy rows share: durations as stored milliseconds, read back.

use std::time::Duration;

use tokenauth_core::keys::KeyPolicy;
use tokenauth_core::store::StoreError;

/// A duration as stored milliseconds (saturating).
pub(crate) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// The policy from its stored columns.
pub(crate) fn from_columns(
    alg: &str,
    lead: i64,
    hold: i64,
    max_age: i64,
) -> Result<KeyPolicy, StoreError> {
    let duration = |ms: i64| {
        u64::try_from(ms)
            .map(Duration::from_millis)
            .map_err(|_| StoreError::Corrupt(format!("negative key policy duration {ms}")))
    };
    Ok(KeyPolicy {
        signing_alg: alg
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("key policy algorithm {alg:?}")))?,
        publish_lead: duration(lead)?,
        retire_hold: duration(hold)?,
        jwks_max_age: duration(max_age)?,
    })
}
