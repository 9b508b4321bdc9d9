//! The JOSE crate's integration tests, one binary: hostile tokens, interoperability with an
//! independent implementation, and round trips, over one set of test keys (`common`).
#![allow(clippy::unwrap_used)]

mod common;

mod attacks;
mod interop;
mod roundtrip;
