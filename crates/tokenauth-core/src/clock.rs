//! Time as the domain sees it: a [`Clock`] passed in, never read from a global, so tests control it.
//!
//! The types live in `tokenauth-jwt`, so that the server's token check and the verifier crate's
//! read time through the same trait; they are re-exported here so domain code keeps its paths.

pub use tokenauth_jwt::clock::{Clock, ManualClock, SystemClock, Timestamp};
