//! irsa-doctor's imperative shell: everything that does I/O around the pure
//! core (`irsa_doctor_core`): flags and environment in, files watched,
//! peers probed, snapshots written, HTTP served. See `ARCHITECTURE.md`.
#![forbid(unsafe_code)]

pub mod commands;
pub mod config;
pub mod csm;
#[cfg(feature = "demo")]
pub mod demo;
pub mod environment;
pub mod files;
pub mod host;
pub mod http;
pub mod kubernetes;
pub mod metrics;
pub mod probes;
pub mod push;
pub mod reference;
pub mod serve;
pub mod state;
pub mod target;
pub mod termination;
pub mod tls;
pub mod verdict;
pub mod watch;
pub mod web_config;
