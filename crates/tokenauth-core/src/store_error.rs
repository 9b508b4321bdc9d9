//! How a store call fails, in a module of its own that imports nothing of the crate: the
//! domain's [`crate::AuthError`] wraps it, and the value types the store traits speak of return
//! `AuthError`, so defining it beside the traits made every one of them depend on the others.

/// A storage failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A uniqueness rule would be broken (an email already taken, a second active key).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The database cannot be reached or failed; the operation changed nothing.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be read back as the domain expects.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}
