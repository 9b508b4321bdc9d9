//! Signing keys: their stored form, the in-memory keyring built from them, and the rotation
//! schedule that moves each key through `next` → `active` → `retired` → deleted, and the
//! early withdrawal of a `next` or `retired` key.

mod keyring;
mod policy;
mod record;
mod rotation;
mod withdrawal;

pub use keyring::{Keyring, KeyringError};
pub use policy::{KeyPolicy, MIN_KEY_PUBLISH_LEAD, PolicyDifference};
pub use record::{KeyState, SigningKeyRecord};
pub use rotation::{
    KEY_CHANGE_CHECK_PERIOD, KeyManager, KeyRotationError, RotationMode, force_rotation,
};
pub use withdrawal::{KeyWithdrawal, KeyWithdrawalError, withdraw_key};
