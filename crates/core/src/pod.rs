//! The pod as Kubernetes sees it: plain facts the shell reads from the pod's own Pod and
//! ServiceAccount objects, and the kubelet's rules for the projected token file they imply.
//!
//! Only what the checks need is kept. Environment variables keep their *names* and where
//! their value comes from; the value itself is kept only for the two variables the webhook
//! writes (`AWS_ROLE_ARN`, `AWS_WEB_IDENTITY_TOKEN_FILE`), which are not secrets. A literal
//! `AWS_SECRET_ACCESS_KEY` in a pod spec never reaches this type.

use std::time::SystemTime;

/// The ServiceAccount annotation the EKS pod-identity webhook reads.
pub const ROLE_ARN_ANNOTATION: &str = "eks.amazonaws.com/role-arn";
/// The pod annotation listing containers the webhook leaves alone.
pub const SKIP_CONTAINERS_ANNOTATION: &str = "eks.amazonaws.com/skip-containers";
/// The pod label that keeps the webhook away from the pod altogether.
pub const SKIP_WEBHOOK_LABEL: &str = "eks.amazonaws.com/skip-pod-identity-webhook";
/// The label EKS puts on pods it schedules onto Fargate.
pub const FARGATE_PROFILE_LABEL: &str = "eks.amazonaws.com/fargate-profile";
/// The name of irsa-doctor's own container in the shipped manifests.
pub const SIDECAR_CONTAINER: &str = "irsa-doctor";

/// The Kubernetes default of a projected volume's `defaultMode` (`0644`).
pub const DEFAULT_PROJECTED_MODE: u32 = 0o644;

/// The pod's own spec as last read, `configured: false` when no Kubernetes API is configured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodSpecSnapshot {
    /// Whether an API configuration exists (in-cluster, `KUBECONFIG` or `~/.kube/config`).
    pub configured: bool,
    /// When the last read finished.
    pub read_at: Option<SystemTime>,
    /// Why the last read failed; `None` after a good one.
    pub error: Option<ApiError>,
    /// The pod from the last good read (kept through later failures).
    pub pod: Option<PodFacts>,
    /// Its ServiceAccount from the last good read.
    pub service_account: Option<ServiceAccountFacts>,
    /// The IRSA token file as the sidecar sees it mounted (`stat`), when it could be read.
    pub token_file: Option<FileAccess>,
}

/// Why the pod or its ServiceAccount could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// What kind of failure.
    pub kind: ApiErrorKind,
    /// The object asked for: `pods/NAME`, `serviceaccounts/NAME` (and the namespace).
    pub object: String,
    /// The RBAC resource (`pods`, `serviceaccounts`), for the remediation.
    pub resource: &'static str,
    /// One line: the API's status message or the transport error (never a credential).
    pub message: String,
}

/// The kinds of [`ApiError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiErrorKind {
    /// The configuration could not be loaded (no token mounted, a bad kubeconfig, no pod name).
    Config,
    /// The API server could not be reached or did not answer in time.
    Unreachable,
    /// 401: the credentials were not accepted.
    Unauthorized,
    /// 403: RBAC does not allow the `get`.
    Forbidden,
    /// 404: no such object.
    NotFound,
    /// Another status, or an answer that was not the object.
    Other,
}

/// What the ServiceAccount says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceAccountFacts {
    /// Its name.
    pub name: String,
    /// `eks.amazonaws.com/role-arn`, trimmed; `None` when absent or empty.
    pub role_arn_annotation: Option<String>,
}

/// A controller owning the pod (`ownerReferences` with `controller: true`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// `ReplicaSet`, `Job`, `StatefulSet`, `DaemonSet`, ...
    pub kind: String,
    /// Its name.
    pub name: String,
}

/// What the pod says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodFacts {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `spec.serviceAccountName` (`default` when unset).
    pub service_account: String,
    /// `spec.nodeName`.
    pub node_name: Option<String>,
    /// `spec.hostNetwork`.
    pub host_network: bool,
    /// `fargate` when EKS scheduled the pod onto Fargate, else `None` (unknown: EC2, hybrid, ...).
    pub node_compute_type: Option<String>,
    /// Pod-level `securityContext`.
    pub security: PodSecurity,
    /// `eks.amazonaws.com/skip-containers`, split.
    pub skip_containers: Vec<String>,
    /// The `eks.amazonaws.com/skip-pod-identity-webhook` label is set to `true`.
    pub webhook_skipped: bool,
    /// Init containers (sidecars included), then containers, in spec order.
    pub containers: Vec<ContainerFacts>,
    /// Projected volumes carrying a `serviceAccountToken` source.
    pub token_volumes: Vec<TokenVolume>,
    /// The controller that owns the pod.
    pub owner: Option<Owner>,
    /// The `pod-template-hash` label (Deployments' ReplicaSets).
    pub pod_template_hash: Option<String>,
}

/// The pod-level `securityContext` fields that decide file access.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodSecurity {
    /// `runAsUser`.
    pub run_as_user: Option<i64>,
    /// `runAsGroup`.
    pub run_as_group: Option<i64>,
    /// `runAsNonRoot`.
    pub run_as_non_root: Option<bool>,
    /// `fsGroup`.
    pub fs_group: Option<i64>,
    /// `supplementalGroups`.
    pub supplemental_groups: Vec<i64>,
}

/// Where a container runs in the pod's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerKind {
    /// An init container that runs to completion first.
    Init,
    /// A native sidecar (init container with `restartPolicy: Always`).
    Sidecar,
    /// A regular container.
    App,
}

/// Where an environment variable's value comes from (never the value of a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvSource {
    /// A literal `value` in the spec.
    Literal,
    /// `valueFrom.secretKeyRef` (the Secret's name).
    Secret(String),
    /// `valueFrom.configMapKeyRef` (the ConfigMap's name).
    ConfigMap(String),
    /// `valueFrom.fieldRef` / `resourceFieldRef`.
    Field,
    /// A key of an `envFrom` Secret (its name).
    EnvFromSecret(String),
    /// A key of an `envFrom` ConfigMap (its name).
    EnvFromConfigMap(String),
}

impl std::fmt::Display for EnvSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EnvSource::Literal => f.write_str("a literal value in the pod spec"),
            EnvSource::Secret(n) => write!(f, "Secret {n} (valueFrom.secretKeyRef)"),
            EnvSource::ConfigMap(n) => write!(f, "ConfigMap {n} (valueFrom.configMapKeyRef)"),
            EnvSource::Field => f.write_str("a field reference"),
            EnvSource::EnvFromSecret(n) => write!(f, "Secret {n} (envFrom)"),
            EnvSource::EnvFromConfigMap(n) => write!(f, "ConfigMap {n} (envFrom)"),
        }
    }
}

/// One variable a container's spec sets: its name and where the value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvVar {
    /// The variable's name.
    pub name: String,
    /// Where its value comes from.
    pub source: EnvSource,
    /// The literal value, kept only for `AWS_ROLE_ARN` and `AWS_WEB_IDENTITY_TOKEN_FILE`.
    pub value: Option<String>,
}

/// An `envFrom` source whose keys could not be listed (RBAC, not found).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadEnvFrom {
    /// `secret/NAME` or `configmap/NAME`.
    pub source: String,
    /// Why.
    pub reason: String,
}

/// One container of the pod.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerFacts {
    /// Its name.
    pub name: String,
    /// Init, sidecar or app.
    pub kind: ContainerKind,
    /// Whether this is irsa-doctor itself (named `irsa-doctor`, or its image is).
    pub is_self: bool,
    /// Every variable its spec sets (names and sources; see [`EnvVar::value`]).
    pub env: Vec<EnvVar>,
    /// `envFrom` sources whose keys are unknown: variables they set are not checked.
    pub env_from_unread: Vec<UnreadEnvFrom>,
    /// `(volume name, mountPath)` of each mount.
    pub mounts: Vec<(String, String)>,
    /// Container-level `runAsUser`.
    pub run_as_user: Option<i64>,
    /// Container-level `runAsGroup`.
    pub run_as_group: Option<i64>,
    /// Container-level `runAsNonRoot`.
    pub run_as_non_root: Option<bool>,
}

impl ContainerFacts {
    /// The variable `name`, when the spec sets it.
    pub fn var(&self, name: &str) -> Option<&EnvVar> {
        self.env.iter().find(|v| v.name == name)
    }

    /// Whether the spec sets `name`.
    pub fn sets(&self, name: &str) -> bool {
        self.var(name).is_some()
    }

    /// The literal `AWS_WEB_IDENTITY_TOKEN_FILE` its spec sets.
    pub fn token_file(&self) -> Option<&str> {
        self.var("AWS_WEB_IDENTITY_TOKEN_FILE")?.value.as_deref()
    }

    /// The volume mounted at `dir` (a mount path, trailing slashes ignored).
    pub fn volume_at(&self, dir: &str) -> Option<&str> {
        let dir = dir.trim_end_matches('/');
        self.mounts
            .iter()
            .find(|(_, path)| path.trim_end_matches('/') == dir)
            .map(|(v, _)| v.as_str())
    }

    /// Effective `runAsUser`: the container's, else the pod's; `None` is the image's user.
    pub fn user(&self, pod: &PodSecurity) -> Option<i64> {
        self.run_as_user.or(pod.run_as_user)
    }

    /// Effective `runAsGroup`: the container's, else the pod's.
    pub fn group(&self, pod: &PodSecurity) -> Option<i64> {
        self.run_as_group.or(pod.run_as_group)
    }

    /// Effective `runAsNonRoot`.
    pub fn non_root(&self, pod: &PodSecurity) -> bool {
        self.run_as_non_root.or(pod.run_as_non_root) == Some(true)
    }
}

/// A projected volume with a `serviceAccountToken` source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenVolume {
    /// The volume's name (`aws-iam-token` from the webhook).
    pub name: String,
    /// The token's file name inside the volume (`token`).
    pub path: String,
    /// `audience`.
    pub audience: Option<String>,
    /// `expirationSeconds`.
    pub expiration_seconds: Option<i64>,
    /// The volume's `defaultMode`; `None` is Kubernetes' default, 0644.
    pub default_mode: Option<u32>,
}

/// A file's mode and owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileAccess {
    /// Permission bits (`0o640`).
    pub mode: u32,
    /// Owning user.
    pub uid: i64,
    /// Owning group.
    pub gid: i64,
}

impl FileAccess {
    /// `0640 uid 0 gid 2000`.
    pub fn describe(&self) -> String {
        format!("{:04o} uid {} gid {}", self.mode, self.uid, self.gid)
    }
}

/// Whether a process can read a file with `access`. `uid` and `gid` are the effective
/// `runAsUser`/`runAsGroup` (`None`: the image's, unknown), `groups` the groups the pod spec
/// adds (fsGroup, supplementalGroups). `None` when that cannot be told without the image.
pub fn can_read(
    access: FileAccess,
    uid: Option<i64>,
    gid: Option<i64>,
    non_root: bool,
    groups: &[i64],
) -> Option<bool> {
    if access.mode & 0o004 != 0 {
        return Some(true);
    }
    let group_read = access.mode & 0o040 != 0;
    if group_read && (groups.contains(&access.gid) || gid == Some(access.gid)) {
        return Some(true);
    }
    let owner = match uid {
        // Root reads anything its capabilities allow; never claim it cannot.
        Some(0) => return Some(true),
        Some(u) => u == access.uid && access.mode & 0o400 != 0,
        // The image's user: a non-root one is the owner only of a file the kubelet gave an
        // fsUser, and that is always a runAsUser the spec names.
        None if non_root && access.uid == 0 => false,
        None => return None,
    };
    if owner {
        return Some(true);
    }
    // Without runAsGroup the runtime takes the image's group for the user (often 0).
    if group_read && gid.is_none() {
        return None;
    }
    Some(false)
}

impl PodFacts {
    /// The kubelet's `fsUser`: the one `runAsUser` every init and regular container runs as,
    /// when all of them name the same one (ephemeral containers do not count).
    pub fn fs_user(&self) -> Option<i64> {
        let mut users = self.containers.iter().map(|c| c.user(&self.security));
        let first = users.next()??;
        users.all(|u| u == Some(first)).then_some(first)
    }

    /// The token file of `volume` as the kubelet writes it (Kubernetes 1.19 and later):
    /// with an `fsUser` or `fsGroup` the file is 0600 owned by the fsUser (else root), and
    /// `fsGroup` then adds group read with that group (0640); otherwise it has the volume's
    /// `defaultMode` (0644 unless set) and belongs to root.
    /// Source: pkg/volume/projected/projected.go and the projected-volumes documentation,
    /// https://kubernetes.io/docs/concepts/storage/projected-volumes/#securitycontext-interactions
    pub fn predicted_token_file(&self, volume: &TokenVolume) -> FileAccess {
        let fs_user = self.fs_user();
        let fs_group = self.security.fs_group;
        if fs_user.is_none() && fs_group.is_none() {
            return FileAccess {
                mode: volume.default_mode.unwrap_or(DEFAULT_PROJECTED_MODE) & 0o777,
                uid: 0,
                gid: 0,
            };
        }
        FileAccess {
            mode: if fs_group.is_some() { 0o640 } else { 0o600 },
            uid: fs_user.unwrap_or(0),
            gid: fs_group.unwrap_or(0),
        }
    }

    /// The groups a container's process has: its effective `runAsGroup`, `fsGroup` and the
    /// pod's `supplementalGroups` (the runtime adds `fsGroup` to every container).
    pub fn groups_of(&self, c: &ContainerFacts) -> Vec<i64> {
        let s = &self.security;
        c.group(s)
            .into_iter()
            .chain(s.fs_group)
            .chain(s.supplemental_groups.iter().copied())
            .collect()
    }

    /// The containers that are not irsa-doctor itself.
    pub fn app_containers(&self) -> impl Iterator<Item = &ContainerFacts> {
        self.containers.iter().filter(|c| !c.is_self)
    }
}
