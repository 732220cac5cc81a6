//! Local stand-ins for what a pod talks to: the kubelet's token writer, an RS256
//! token issuer and its OIDC endpoint, STS and IMDS. Used by `irsa-doctor demo` and by the integration
//! tests, so both exercise the same peers. Everything binds 127.0.0.1 only.

pub mod agent;
pub mod imds;
pub mod issuer;
pub mod kubelet;
pub mod oidc;
pub mod sts;
