//! Local stand-ins for what a pod talks to: the kubelet's token writer, an RS256
//! token issuer and its OIDC endpoint, STS, IMDS, the Pod Identity agent and a
//! Pushgateway.
//! Used by `irsa-doctor demo` and by the integration tests, so both exercise
//! the same peers. Everything binds 127.0.0.1 only.
//!
//! With the `harness` feature it is also the one testkit of the project: the
//! daemon harness (spawn the real binary, wait for it, speak HTTP to it, read
//! its metrics, stop it) that the tests, the benchmark, the soak and the fuzz
//! targets share.
// The fakes stand in for live peers: they keep real time and read the real clock.
#![allow(clippy::disallowed_methods)]

pub mod agent;
#[cfg(any(test, feature = "harness"))]
pub mod harness;
pub mod imds;
pub mod issuer;
pub mod kube_api;
pub mod kubelet;
pub mod oidc;
pub mod pushgateway;
mod server;
pub mod sts;
