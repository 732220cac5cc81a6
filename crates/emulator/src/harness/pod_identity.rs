//! EKS Pod Identity beside a `Pod`: the fake agent on the pod's runtime, the token
//! volume the Pod Identity webhook mounts, and the variables it injects.

use std::path::PathBuf;

use super::pod::{Pod, set_pod_identity};
use crate::agent::FakeAgent;
use crate::kubelet::AtomicWriter;
use crate::sts::FakeSts;

/// The access key id of the credentials the fake agent hands out.
pub const AGENT_ACCESS_KEY: &str = "ASIAPODIDENTITYEXAMPLE";
/// The account those credentials belong to.
pub const AGENT_ACCOUNT: &str = "111122223333";
/// The audience of a Pod Identity token.
pub const POD_IDENTITY_AUDIENCE: &str = "pods.eks.amazonaws.com";
/// The volume's directory under the pod's scratch directory (the webhook mounts it at
/// `/var/run/secrets/pods.eks.amazonaws.com/serviceaccount`).
const VOLUME_DIR: &str = "pods.eks.amazonaws.com";
/// The token's file name in its volume, as the webhook mounts it.
const TOKEN_FILE: &str = "eks-pod-identity-token";

/// The role session the agent's credentials belong to, in `partition` (`aws`, `aws-cn`, ...).
pub fn agent_role_arn(partition: &str) -> String {
    format!(
        "arn:{partition}:sts::{AGENT_ACCOUNT}:assumed-role/pod-identity-role/eks-demo-web-7d9f-0a1b"
    )
}

/// A pod's Pod Identity side: the agent (healthy, accepting any token until told
/// otherwise) and an empty token volume under the pod's scratch directory.
pub struct PodIdentity {
    /// The fake agent; stops when dropped.
    pub agent: FakeAgent,
    /// Writes the Pod Identity token volume the way the kubelet does.
    pub writer: AtomicWriter,
}

impl PodIdentity {
    /// Starts the agent on `pod`'s runtime and creates its token volume (nothing in it yet).
    pub fn start(pod: &Pod) -> PodIdentity {
        let agent = pod
            .peers
            .runtime
            .block_on(FakeAgent::start(AGENT_ACCESS_KEY, AGENT_ACCOUNT))
            .expect("start the fake Pod Identity agent");
        let writer = AtomicWriter::new(pod.tmp.path().join(VOLUME_DIR))
            .expect("create the Pod Identity token volume");
        PodIdentity { agent, writer }
    }

    /// Tells `sts` whom the agent's credentials belong to (`agent_role_arn(partition)`),
    /// so `GetCallerIdentity` with them answers that role.
    pub fn register_role(&self, sts: &FakeSts, partition: &str) {
        sts.register_credentials(AGENT_ACCESS_KEY, &agent_role_arn(partition));
    }

    /// Where the token is mounted (`AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`).
    pub fn token_path(&self) -> PathBuf {
        self.writer.dir().join(TOKEN_FILE)
    }

    /// Publishes `token` in the volume (it need not be a JWT).
    pub fn write_token(&self, token: &[u8]) {
        self.writer
            .write(TOKEN_FILE, token)
            .expect("write the Pod Identity token");
    }

    /// Adds the webhook's variables to `env`, aimed at this agent and volume; without
    /// `keep_irsa` the IRSA variables are removed (see `set_pod_identity`).
    pub fn set_env(&self, env: &mut Vec<(String, String)>, keep_irsa: bool) {
        self.set_env_at(env, &self.agent.uri(), keep_irsa);
    }

    /// `set_env` with the agent at `agent_uri` instead (e.g. where none listens).
    pub fn set_env_at(&self, env: &mut Vec<(String, String)>, agent_uri: &str, keep_irsa: bool) {
        set_pod_identity(env, agent_uri, &self.token_path(), keep_irsa);
    }
}
