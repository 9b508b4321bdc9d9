//! Signing keys: their stored form, the in-memory keyring built from them, and the rotation
//! schedule that moves each key through `next` → `active` → `retired` → deleted.

mod keyring;
mod record;
mod rotation;

pub use keyring::{Keyring, KeyringError};
pub use record::{KeyState, SigningKeyRecord};
pub use rotation::{KeyManager, KeyRotationError, RotationMode};
