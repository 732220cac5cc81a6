//! The validated configuration: plain data the checks read, no I/O and no flag parsing
//! (the binary's `config` module turns flags and environment into it).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The audience of EKS Pod Identity tokens.
pub const POD_IDENTITY_AUDIENCE: &str = "pods.eks.amazonaws.com";

/// Where the EKS pod-identity webhook mounts the token by default.
pub const DEFAULT_TOKEN_FILE: &str = "/var/run/secrets/eks.amazonaws.com/serviceaccount/token";

/// The API server's own token (`kube-api-access` volume).
pub const KUBE_API_TOKEN_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";
/// The `token` label of the web-identity token.
pub const IRSA: &str = "irsa";
/// The `token` label of the EKS Pod Identity token.
pub const POD_IDENTITY: &str = "pod_identity";
/// The `token` label of the API server's token.
pub const KUBE_API: &str = "kube_api";

/// A token other than the IRSA one, watched and checked under its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedToken {
    /// The `token` label: `pod_identity`, `kube_api` or a user-given name.
    pub name: String,
    /// Where it is (already under `/proc/PID/root` with `--pid`).
    pub path: PathBuf,
    /// The audience it must carry, when one is known (`pods.eks.amazonaws.com` for Pod Identity).
    pub expected_audience: Option<String>,
}

/// EKS Pod Identity, when its environment is present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodIdentityConfig {
    /// The agent's credentials URI.
    pub endpoint: String,
    /// The token the SDK sends as `Authorization` (also among `extra_tokens` as `pod_identity`).
    pub token_file: PathBuf,
}

/// The validated configuration: plain data, no I/O.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The IRSA token file (meaningful when `irsa_token` is set).
    pub token_file: PathBuf,
    /// Whether the IRSA token is watched: not for a pod that uses Pod Identity alone.
    pub irsa_token: bool,
    /// Other tokens to watch and check.
    pub extra_tokens: Vec<NamedToken>,
    /// EKS Pod Identity, when configured.
    pub pod_identity: Option<PodIdentityConfig>,
    /// With `check --pid`: whose environment this is.
    pub target_pid: Option<u32>,
    /// Role the pod should assume.
    pub role_arn: Option<String>,
    /// Audience the token must carry.
    pub expected_audience: String,
    /// Subject the token must carry, when known.
    pub expected_subject: Option<String>,
    /// Trust policy JSON to evaluate offline.
    pub trust_policy_file: Option<PathBuf>,
    /// Whether to read the trust policy with iam:GetRole.
    pub fetch_trust_policy: bool,
    /// `--expect-access`: access the workload needs, checked against the role's own policies.
    pub expect_access: Vec<crate::policy::access::ExpectedAccess>,
    /// Override of the OIDC discovery document's URL.
    pub oidc_discovery_url: Option<String>,
    /// HTTP listen address.
    pub listen: SocketAddr,
    /// Probe interval.
    pub probe_interval: Duration,
    /// Probe timeout.
    pub probe_timeout: Duration,
    /// Expiry warning window.
    pub expiry_warning: Duration,
    /// Whether to probe IMDS.
    pub imds_check: bool,
    /// `--startup-gate-timeout`: `/startupz` opens after this long even without credentials.
    pub startup_gate_timeout: Duration,
    /// How often the pod's own spec is re-read from the Kubernetes API.
    pub pod_spec_interval: Duration,
}

/// The default `--pod-spec-interval`.
pub const DEFAULT_POD_SPEC_INTERVAL: Duration = Duration::from_secs(600);

/// The default `--startup-gate-timeout`.
pub const DEFAULT_STARTUP_GATE_TIMEOUT: Duration = Duration::from_secs(120);
