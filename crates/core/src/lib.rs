//! irsa-doctor's pure core: what is wrong, how bad, and what to do.
//!
//! Everything here is a function of plain data — configuration, the pod's
//! environment facts, the latest `Snapshot` of observations, and `now` — so
//! every decision is unit-testable without I/O. The crate has no async
//! runtime, HTTP, file-watching or AWS dependency: the binary (the shell)
//! does the I/O and only feeds snapshots in. See `ARCHITECTURE.md`.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

pub mod app;
pub mod arn;
pub mod assessment;
pub mod config;
pub mod environment;
pub mod failure;
pub mod findings;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
pub mod jwks;
pub mod no_proxy;
pub mod outcome;
pub mod partition;
pub mod pod;
pub mod policy;
pub mod pushgateway;
pub mod report;
pub mod schedule;
pub mod snapshot;
pub mod startup;
pub mod termination;
pub mod time;
pub mod token;
pub mod workload;
