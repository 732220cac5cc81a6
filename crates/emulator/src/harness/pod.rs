//! A pod around the daemon: a scratch home, a kubelet-written token volume and
//! the AWS peers (fake STS, IMDS, OIDC issuer) on a runtime of their own, plus
//! the scrubbed environment that aims the daemon at them and at nothing else.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::imds::{FakeImds, ImdsConfig};
use crate::issuer::{DEFAULT_ISSUER, Issuer, TokenSpec};
use crate::kubelet::AtomicWriter;
use crate::oidc::FakeOidc;
use crate::sts::{FakeSts, StsConfig};

/// Port 9 (discard) on loopback: nothing listens, so a call meant to go nowhere fails fast and locally.
pub const NOWHERE: &str = "http://127.0.0.1:9";

/// The cluster signing key for `DEFAULT_ISSUER`, generated once per process (RSA keys are slow to make).
pub fn shared_issuer() -> &'static Issuer {
    static ISSUER: OnceLock<Issuer> = OnceLock::new();
    ISSUER.get_or_init(|| Issuer::generate(DEFAULT_ISSUER).expect("generate the test signing key"))
}

/// The pod's AWS peers, in-process on loopback, on a one-worker runtime of their own.
pub struct Peers {
    /// The fake STS.
    pub sts: FakeSts,
    /// The fake instance metadata service.
    pub imds: FakeImds,
    /// The fake OIDC issuer endpoint, publishing the issuer's keys.
    pub oidc: FakeOidc,
    /// Runs the fakes; declared last so they are dropped while it still runs.
    pub runtime: tokio::runtime::Runtime,
}

impl Peers {
    /// STS trusting `StsConfig::default()`, default IMDS, OIDC for the shared issuer.
    pub fn start() -> Peers {
        Peers::start_with(shared_issuer(), StsConfig::default(), ImdsConfig::default())
    }

    /// Peers with the given trust configuration, IMDS identity and issuer keys.
    pub fn start_with(issuer: &Issuer, sts: StsConfig, imds: ImdsConfig) -> Peers {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("build a tokio runtime for the fakes");
        let (sts, imds, oidc) = runtime.block_on(async {
            let sts = FakeSts::start(sts).await.expect("start the fake STS");
            let imds = FakeImds::start(imds).await.expect("start the fake IMDS");
            let oidc = FakeOidc::start(issuer)
                .await
                .expect("start the fake OIDC issuer");
            (sts, imds, oidc)
        });
        Peers {
            sts,
            imds,
            oidc,
            runtime,
        }
    }
}

/// A temporary pod: a home directory, a kubelet-style token volume and its AWS peers.
/// IMDS is unreachable by default (as with hop limit 1); `env_with_imds` opts in to the fake.
pub struct Pod {
    /// The pod's scratch directory (removed when dropped).
    pub tmp: tempfile::TempDir,
    /// Writes the projected token volume the way the kubelet does.
    pub writer: AtomicWriter,
    /// The AWS peers.
    pub peers: Peers,
}

impl Default for Pod {
    fn default() -> Self {
        Pod::new()
    }
}

impl Pod {
    /// A pod with default peers and an empty token volume.
    pub fn new() -> Pod {
        Pod::with_peers(Peers::start())
    }

    /// A pod around the given peers.
    pub fn with_peers(peers: Peers) -> Pod {
        let tmp = tempfile::tempdir().expect("create a temp dir for the pod");
        let writer = AtomicWriter::new(tmp.path().join("sa")).expect("create the token volume");
        std::fs::create_dir_all(tmp.path().join("home")).expect("create the pod's home");
        Pod { tmp, writer, peers }
    }

    /// The pod's `HOME`.
    pub fn home(&self) -> PathBuf {
        self.tmp.path().join("home")
    }

    /// Where the token is mounted (`AWS_WEB_IDENTITY_TOKEN_FILE`).
    pub fn token_path(&self) -> PathBuf {
        self.writer.token_path()
    }

    /// Signs a token from `spec` with the shared issuer and publishes it in the volume.
    pub fn write_token(&self, spec: &TokenSpec) -> String {
        let token = shared_issuer().issue(spec).expect("sign a token");
        self.writer
            .write_token(token.as_bytes())
            .expect("write the token");
        token
    }

    /// The daemon's whole environment: `base_env` with the token file, the fake STS and the
    /// fake OIDC endpoint; IMDS stays unreachable.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = base_env(&self.home());
        set(
            &mut env,
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            &self.token_path().display().to_string(),
        );
        set(&mut env, "AWS_ENDPOINT_URL_STS", &self.peers.sts.endpoint());
        set(
            &mut env,
            "IRSA_DOCTOR_OIDC_DISCOVERY_URL",
            &self.peers.oidc.discovery_url(),
        );
        env
    }

    /// `env` with IMDS pointed at the fake.
    pub fn env_with_imds(&self) -> Vec<(String, String)> {
        let mut env = self.env();
        set(
            &mut env,
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            &self.peers.imds.endpoint(),
        );
        env
    }
}

/// The environment every run starts from: nothing of the host's but `PATH`, the IRSA role
/// of `StsConfig::default()`, every AWS endpoint at the discard port until a peer is set, and
/// no termination log.
pub fn base_env(home: &Path) -> Vec<(String, String)> {
    let mut env = vec![
        ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
        ("HOME".into(), home.display().to_string()),
        ("AWS_REGION".into(), "us-east-1".into()),
        ("AWS_STS_REGIONAL_ENDPOINTS".into(), "regional".into()),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT".into(), NOWHERE.into()),
        ("AWS_ENDPOINT_URL_STS".into(), NOWHERE.into()),
        (
            "IRSA_DOCTOR_OIDC_DISCOVERY_URL".into(),
            format!("{NOWHERE}/.well-known/openid-configuration"),
        ),
        ("AWS_ROLE_ARN".into(), StsConfig::default().role_arn()),
        ("IRSA_DOCTOR_LOG_FORMAT".into(), "json".into()),
        // A test run inside a Kubernetes pod must not overwrite that pod's own message.
        ("IRSA_DOCTOR_TERMINATION_LOG".into(), "off".into()),
        // Every daemon its own client-side monitoring port: tests run side by side.
        ("IRSA_DOCTOR_CSM_LISTEN".into(), "127.0.0.1:0".into()),
    ];
    // Coverage runs need their profile path in the child too.
    if let Ok(v) = std::env::var("LLVM_PROFILE_FILE") {
        env.push(("LLVM_PROFILE_FILE".into(), v));
    }
    env
}

/// Sets (or replaces) one variable.
pub fn set(env: &mut Vec<(String, String)>, key: &str, value: &str) {
    env.retain(|(k, _)| k != key);
    env.push((key.into(), value.into()));
}

/// Removes one variable.
pub fn unset(env: &mut Vec<(String, String)>, key: &str) {
    env.retain(|(k, _)| k != key);
}

/// Turns an IRSA environment into a Pod Identity one: the webhook's IRSA variables removed,
/// the agent's `AWS_CONTAINER_CREDENTIALS_FULL_URI` and token file set (`keep_irsa` leaves
/// both mechanisms, as on a pod moved to Pod Identity with its IRSA annotation left on).
pub fn set_pod_identity(
    env: &mut Vec<(String, String)>,
    agent_uri: &str,
    token_file: &Path,
    keep_irsa: bool,
) {
    if !keep_irsa {
        unset(env, "AWS_ROLE_ARN");
        unset(env, "AWS_WEB_IDENTITY_TOKEN_FILE");
    }
    set(env, "AWS_CONTAINER_CREDENTIALS_FULL_URI", agent_uri);
    set(
        env,
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
        &token_file.display().to_string(),
    );
}
