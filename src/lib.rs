//! irsa-doctor: an in-pod diagnostic sidecar for AWS EKS IAM Roles for Service Accounts.
//!
//! The crate is a functional core (`token`, `findings`, `report`, `metrics`,
//! over the plain data of `snapshot`) wrapped in an imperative shell
//! (`environment`, `watch`, `http`, `serve`, `commands`). See
//! `ARCHITECTURE.md` for the map.
#![forbid(unsafe_code)]

pub mod arn;
pub mod chain;
pub mod clock;
pub mod commands;
pub mod config;
pub mod demo;
pub mod emulator;
pub mod environment;
pub mod findings;
pub mod http;
pub mod metrics;
pub mod oidc;
pub mod pod_identity;
pub mod probe;
pub mod report;
pub mod schedule;
pub mod serve;
pub mod snapshot;
pub mod state;
pub mod sts;
pub mod target;
pub mod tls;
pub mod token;
pub mod trust_policy;
pub mod watch;
pub mod web_config;

#[cfg(test)]
mod testutil;
