//! Getting signing keys over HTTP: fetching ([`fetch`]), freshness
//! ([`cache_control`]), the shared fetch gate and schedule ([`remote`]) and
//! the background refresh task ([`refresher`]).

pub(crate) mod cache_control;
pub(crate) mod fetch;
pub(crate) mod refresher;
pub(crate) mod remote;
