//! The host: the one module that reads the wall clock, the monotonic clock
//! and the process environment (`clippy.toml` bans them everywhere else).
//! Everything downstream receives `now` and variables as data, which keeps
//! the decisions testable and makes `check --pid` — run in the target's
//! environment — read the target's variables by construction.
#![allow(clippy::disallowed_methods)]

use std::time::{Instant, SystemTime};

/// The wall clock, for timestamps and judging token times.
pub fn now() -> SystemTime {
    SystemTime::now()
}

/// The monotonic clock, for latencies, rate limits and refetch windows.
pub fn instant() -> Instant {
    Instant::now()
}

/// A variable of this process's environment; empty counts as unset, as the SDKs treat it.
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// This process's whole environment (for handing to a child).
pub fn vars() -> impl Iterator<Item = (String, String)> {
    std::env::vars()
}
