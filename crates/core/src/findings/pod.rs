//! The pod as Kubernetes sees it: its own Pod and ServiceAccount, read from the API.
//!
//! Each check here reads the last good read of the spec; an API that could not be read is
//! only ever `KUBERNETES_API_UNAVAILABLE` (info). Healthy configurations that could trip a
//! check, and why they do not, are the first rows of `findings/tests/pod.rs`.

use super::links::{K8S_PROJECTED_PERMISSIONS, POD_IDENTITIES};
use super::{Check, Code, Finding, Inputs};
use crate::pod::{
    ApiErrorKind, ContainerFacts, ContainerKind, FileAccess, PodFacts, ServiceAccountFacts,
    can_read,
};
use crate::snapshot::StsResult;

pub(super) const CHECKS: &[Check] = &[
    api_unavailable,
    role_annotation_changed,
    container_not_injected,
    container_static_keys,
    token_unreadable_by_app,
    pod_identity_unsupported,
];

/// Variables that hold or select credentials and win over web identity in every SDK's chain.
const KEY_VARS: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
];
/// Variables that select a profile: they shadow web identity unless the profile pins it.
const PROFILE_VARS: &[&str] = &["AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE"];

const RBAC_HINT: &str = "a Role granting get on pods and serviceaccounts in this namespace, bound to the pod's ServiceAccount";

/// The pod and its ServiceAccount from the last good read.
fn read<'a>(ctx: &Inputs<'a>) -> Option<(&'a PodFacts, Option<&'a ServiceAccountFacts>)> {
    let spec = &ctx.snapshot.pod_spec;
    Some((spec.pod.as_ref()?, spec.service_account.as_ref()))
}

/// `namespace/name`.
fn pod_ref(pod: &PodFacts) -> String {
    format!("{}/{}", pod.namespace, pod.name)
}

/// How to recreate this pod so the webhook mutates it again, from its controller.
pub(crate) fn recreate_hint(pod: &PodFacts) -> String {
    let ns = &pod.namespace;
    match pod
        .owner
        .as_ref()
        .map(|o| (o.kind.as_str(), o.name.as_str()))
    {
        Some(("ReplicaSet", rs)) => {
            let hash = pod.pod_template_hash.as_deref().map(|h| format!("-{h}"));
            match hash.as_deref().and_then(|h| rs.strip_suffix(h)) {
                Some(deploy) => format!("kubectl rollout restart deployment/{deploy} -n {ns}"),
                None => format!(
                    "delete pod {} -n {ns}; ReplicaSet {rs} recreates it",
                    pod.name
                ),
            }
        }
        Some((kind @ ("StatefulSet" | "DaemonSet"), name)) => format!(
            "kubectl rollout restart {}/{name} -n {ns}",
            kind.to_ascii_lowercase()
        ),
        Some((kind, name)) => format!(
            "delete pod {} -n {ns}; its {kind} {name} creates a new one (a Job's next run gets the change)",
            pod.name
        ),
        None => format!("delete and recreate pod {} -n {ns}", pod.name),
    }
}

/// The `AWS_ROLE_ARN` the pod was created with: the sidecar's own (the webhook wrote it),
/// else the first container's literal one.
fn pod_role<'a>(ctx: &Inputs<'a>, pod: &'a PodFacts) -> Option<&'a str> {
    ctx.env.role_arn.as_deref().or_else(|| {
        pod.containers
            .iter()
            .find_map(|c| c.var("AWS_ROLE_ARN")?.value.as_deref())
    })
}

/// Whether the annotation names `role`: the same ARN, or the role's name when the webhook
/// composes ARNs from names (`--compose-role-arn`).
fn same_role(annotation: &str, role: &str) -> bool {
    if annotation == role {
        return true;
    }
    !annotation.starts_with("arn:")
        && role.rsplit_once(":role/").is_some_and(|(_, path)| {
            path == annotation || path.ends_with(&format!("/{annotation}"))
        })
}

/// Whether the pod uses EKS Pod Identity: the sidecar's environment or any container's spec.
fn uses_pod_identity(ctx: &Inputs<'_>, pod: &PodFacts) -> bool {
    ctx.env.uses_pod_identity()
        || pod
            .containers
            .iter()
            .any(|c| c.sets("AWS_CONTAINER_CREDENTIALS_FULL_URI"))
}

/// Whether the pod uses IRSA at all: the sidecar's environment or any container's spec.
fn uses_irsa(ctx: &Inputs<'_>, pod: &PodFacts) -> bool {
    ctx.env.uses_irsa() || pod.containers.iter().any(|c| c.sets("AWS_ROLE_ARN"))
}

fn api_unavailable(ctx: &Inputs<'_>, out: &mut Vec<Finding>) {
    let spec = &ctx.snapshot.pod_spec;
    let (true, Some(e)) = (spec.configured, &spec.error) else {
        return;
    };
    let (what, fix) = match e.kind {
        ApiErrorKind::Forbidden => (
            format!("RBAC does not allow get on {} ({})", e.resource, e.object),
            format!("grant {RBAC_HINT}"),
        ),
        ApiErrorKind::Unauthorized => (
            format!("the API server did not accept irsa-doctor's credentials reading {}", e.object),
            "mount the pod's Kubernetes API token (automountServiceAccountToken must not be false for the pod or its ServiceAccount), or fix the credentials in KUBECONFIG".to_owned(),
        ),
        ApiErrorKind::NotFound => (
            format!("{} was not found", e.object),
            "set POD_NAME and POD_NAMESPACE from the downward API (fieldRef metadata.name and metadata.namespace) in irsa-doctor's container, so it reads its own pod".to_owned(),
        ),
        ApiErrorKind::Unreachable => (
            format!("the Kubernetes API could not be reached reading {}", e.object),
            "allow egress from the pod to the API server (kubernetes.default.svc, port 443) in its NetworkPolicy".to_owned(),
        ),
        ApiErrorKind::Config => (
            "no usable Kubernetes API configuration".to_owned(),
            "mount the pod's Kubernetes API token (automountServiceAccountToken) and set POD_NAME and POD_NAMESPACE from the downward API; outside a cluster, point KUBECONFIG at a working configuration".to_owned(),
        ),
        ApiErrorKind::Other => (
            format!("the Kubernetes API failed reading {}", e.object),
            format!("check the API server's health; irsa-doctor needs {RBAC_HINT}"),
        ),
    };
    out.push(Finding::new(
        Code::KubernetesApiUnavailable,
        format!("{what}: {}; the checks of the pod's own spec are skipped (everything else is unaffected)", e.message),
        fix,
    ));
}

fn role_annotation_changed(ctx: &Inputs<'_>, out: &mut Vec<Finding>) {
    let Some((pod, Some(sa))) = read(ctx) else {
        return;
    };
    let Some(annotated) = sa.role_arn_annotation.as_deref() else {
        // Not annotated (or roles mapped by the webhook's ConfigMap): nothing to compare.
        return;
    };
    if pod.webhook_skipped {
        return;
    }
    let had = match pod_role(ctx, pod) {
        Some(role) if same_role(annotated, role) => return,
        Some(role) => format!("this pod was created with AWS_ROLE_ARN {role}"),
        // The webhook gives a Pod Identity pod the agent's variables instead of IRSA's.
        None if uses_pod_identity(ctx, pod) => return,
        None => "this pod has no AWS_ROLE_ARN: it was created before the annotation, or while the webhook was down".to_owned(),
    };
    out.push(Finding::new(
        Code::RoleAnnotationChanged,
        format!(
            "ServiceAccount {}/{} is annotated with {}: {annotated}, but {had}; the webhook sets AWS_ROLE_ARN only when a pod is created, so this pod keeps the old role (or the node's) until it is recreated",
            pod.namespace, sa.name, crate::pod::ROLE_ARN_ANNOTATION
        ),
        format!(
            "recreate the pod so the webhook injects the ServiceAccount's current role: {}; every pod of this ServiceAccount created before the change needs the same",
            recreate_hint(pod)
        ),
    ));
}

/// Whether a container's spec shows it talks to AWS (besides static keys, checked apart):
/// any `AWS_*` variable such as `AWS_REGION` or a bucket name.
fn uses_aws(c: &ContainerFacts) -> bool {
    c.env.iter().any(|v| {
        v.name.starts_with("AWS_")
            && !KEY_VARS.contains(&v.name.as_str())
            && !v.name.starts_with("AWS_CONTAINER_")
    })
}

/// The directory of a token file path.
fn dir_of(path: &str) -> &str {
    path.rsplit_once('/').map_or(path, |(d, _)| d)
}

fn container_not_injected(ctx: &Inputs<'_>, out: &mut Vec<Finding>) {
    let Some((pod, _)) = read(ctx) else { return };
    if pod.webhook_skipped {
        return;
    }
    // The webhook's work on the other containers (or the sidecar's own) is the reference.
    let injected = |c: &&ContainerFacts| {
        c.sets("AWS_ROLE_ARN")
            && c.token_file()
                .is_some_and(|f| c.volume_at(dir_of(f)).is_some())
    };
    let Some(reference) = pod.containers.iter().find(injected) else {
        return;
    };
    let Some(token_file) = reference.token_file() else {
        return;
    };
    let dir = dir_of(token_file);
    let volume = reference.volume_at(dir).unwrap_or("aws-iam-token");
    let mut lines = Vec::new();
    for c in pod.app_containers() {
        let own_file = c.token_file();
        let has = [
            ("AWS_ROLE_ARN", c.sets("AWS_ROLE_ARN")),
            ("AWS_WEB_IDENTITY_TOKEN_FILE", own_file.is_some()),
            (
                "the token mount",
                c.volume_at(dir_of(own_file.unwrap_or(token_file)))
                    .is_some(),
            ),
        ];
        let missing: Vec<&str> = has.iter().filter(|(_, h)| !h).map(|(n, _)| *n).collect();
        // Untouched and with no AWS configuration: a container that does not call AWS
        // (a mesh proxy added by a later webhook, one skipped on purpose).
        if missing.is_empty() || (missing.len() == has.len() && !uses_aws(c)) {
            continue;
        }
        let why = if pod.skip_containers.iter().any(|s| s == &c.name) {
            format!(
                "it is listed in the pod's {} annotation",
                crate::pod::SKIP_CONTAINERS_ANNOTATION
            )
        } else if c.sets("AWS_ROLE_ARN") && !c.sets("AWS_WEB_IDENTITY_TOKEN_FILE") {
            "it sets AWS_ROLE_ARN itself, and the webhook adds nothing to a container that has it"
                .to_owned()
        } else {
            "it was probably added after the webhook ran (by another mutating webhook)".to_owned()
        };
        let kind = match c.kind {
            ContainerKind::Init => "init container",
            ContainerKind::Sidecar => "sidecar container",
            ContainerKind::App => "container",
        };
        lines.push(format!(
            "{kind} {} lacks {}: {why}",
            c.name,
            missing.join(", ")
        ));
    }
    if lines.is_empty() {
        return;
    }
    out.push(Finding::new(
        Code::AppContainerNotInjected,
        format!(
            "{}; the other containers have the role and the token ({token_file}), this one's SDK skips web identity and falls through to the node's role or fails",
            lines.join("; ")
        ),
        format!(
            "remove the container from {} (or stop setting AWS_ROLE_ARN in it), then recreate the pod ({}); or give it AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE={token_file} and a read-only mount of volume {volume} at {dir} in the pod template",
            crate::pod::SKIP_CONTAINERS_ANNOTATION,
            recreate_hint(pod)
        ),
    ));
}

fn container_static_keys(ctx: &Inputs<'_>, out: &mut Vec<Finding>) {
    let Some((pod, _)) = read(ctx) else { return };
    if !uses_irsa(ctx, pod) && !uses_pod_identity(ctx, pod) {
        // No web identity or Pod Identity to shadow: the app is meant to use its keys.
        return;
    }
    // The sidecar's own profile pins web identity: the pod's profile is the documented way
    // to select it, not a shadow (the app's files are not visible from here).
    let profile_is_web_identity = ctx.env.profile_web_identity_role.is_some();
    let mut lines = Vec::new();
    for c in pod.app_containers() {
        let names: Vec<String> = c
            .env
            .iter()
            .filter(|v| {
                KEY_VARS.contains(&v.name.as_str())
                    || (PROFILE_VARS.contains(&v.name.as_str()) && !profile_is_web_identity)
            })
            .map(|v| format!("{} (from {})", v.name, v.source))
            .collect();
        if !names.is_empty() {
            lines.push(format!("container {} sets {}", c.name, names.join(", ")));
        }
    }
    if lines.is_empty() {
        return;
    }
    out.push(Finding::new(
        Code::AppContainerStaticKeys,
        format!(
            "{}: every SDK's default chain reads these before web identity, so that container runs as whatever they name instead of the pod's role",
            lines.join("; ")
        ),
        "remove the variables (env entries, or the keys of the envFrom Secret/ConfigMap) from the container in the pod template and recreate the pod; if the app needs another role, chain it from web identity (a profile with role_arn and web_identity_token_file) instead of long-lived keys",
    ));
}

/// The IRSA token file as mounted: the sidecar's `stat` when it mounts the same volume at
/// the same place, else what the kubelet's rules make of the spec.
fn token_access(
    ctx: &Inputs<'_>,
    pod: &PodFacts,
    volume: &str,
    dir: &str,
) -> Option<(FileAccess, &'static str)> {
    let own = ctx.config.token_file.to_str().map(dir_of);
    let same_mount = pod
        .containers
        .iter()
        .find(|c| c.is_self)
        .and_then(|c| c.volume_at(dir))
        .is_some_and(|v| v == volume && own == Some(dir));
    if let (true, Some(stat)) = (same_mount, ctx.snapshot.pod_spec.token_file) {
        return Some((stat, "as mounted"));
    }
    let tv = pod.token_volumes.iter().find(|t| t.name == volume)?;
    Some((
        pod.predicted_token_file(tv),
        "as the kubelet writes it for this spec",
    ))
}

fn token_unreadable_by_app(ctx: &Inputs<'_>, out: &mut Vec<Finding>) {
    let Some((pod, _)) = read(ctx) else { return };
    let sec = &pod.security;
    let mut lines = Vec::new();
    let mut shown = None;
    for c in pod.app_containers() {
        let Some(file) = c.token_file() else {
            continue;
        };
        let Some(volume) = c.volume_at(dir_of(file)) else {
            continue;
        };
        let Some((access, how)) = token_access(ctx, pod, volume, dir_of(file)) else {
            continue;
        };
        let groups = pod.groups_of(c);
        if can_read(access, c.user(sec), c.group(sec), c.non_root(sec), &groups) != Some(false) {
            continue;
        }
        let user = c
            .user(sec)
            .map_or("the image's non-root user".to_owned(), |u| {
                format!("uid {u}")
            });
        let groups = if groups.is_empty() {
            "no groups from the spec".to_owned()
        } else {
            format!("groups {groups:?}")
        };
        lines.push(format!("container {} runs as {user} with {groups}", c.name));
        shown.get_or_insert(format!("{file} is {} ({how})", access.describe()));
    }
    let Some(file) = shown else { return };
    out.push(Finding::new(
        Code::TokenUnreadableByApp,
        format!(
            "{} and cannot read the web identity token: {file}; its SDK fails with \"permission denied\" reading AWS_WEB_IDENTITY_TOKEN_FILE",
            lines.join("; ")
        ),
        format!("set the pod's securityContext.fsGroup (any group id): the kubelet then makes the token 0640 with that group for every container; or run all containers as the same runAsUser; and leave the projected volume's defaultMode unset (0644) — see {K8S_PROJECTED_PERMISSIONS}"),
    ));
}

fn pod_identity_unsupported(ctx: &Inputs<'_>, out: &mut Vec<Finding>) {
    let Some((pod, _)) = read(ctx) else { return };
    // Live evidence outranks inference: the agent answered this pod.
    if !uses_pod_identity(ctx, pod) || ctx.snapshot.pod_identity.result == StsResult::Success {
        return;
    }
    let why = if pod.node_compute_type.as_deref() == Some("fargate") {
        "it runs on AWS Fargate, where the eks-pod-identity-agent DaemonSet does not run"
    } else if pod.host_network {
        "it uses hostNetwork: true, and the agent serves only pods on the pod network"
    } else {
        return;
    };
    out.push(Finding::new(
        Code::PodIdentityUnsupportedHere,
        format!("pod {} uses EKS Pod Identity, but {why}: its credential calls to the agent fail", pod_ref(pod)),
        format!("use IAM roles for service accounts (annotate the ServiceAccount with eks.amazonaws.com/role-arn and recreate the pod) for Fargate and hostNetwork pods, or run the pod on EC2 nodes without hostNetwork; see {POD_IDENTITIES}"),
    ));
}

/// What the ServiceAccount says, for `IRSA_ENV_MISSING`: the role it names and how to
/// recreate the pod, or that it names none. `None` without a read.
pub(super) fn service_account_role(ctx: &Inputs<'_>) -> Option<(String, String)> {
    let (pod, sa) = read(ctx)?;
    let sa = sa?;
    Some(match &sa.role_arn_annotation {
        Some(role) => (
            format!(
                "; ServiceAccount {}/{} names role {role}, so the pod must be recreated to get it",
                pod.namespace, sa.name
            ),
            format!("recreate the pod: {}; ", recreate_hint(pod)),
        ),
        None => (
            format!(
                "; ServiceAccount {}/{} has no {} annotation",
                pod.namespace,
                sa.name,
                crate::pod::ROLE_ARN_ANNOTATION
            ),
            String::new(),
        ),
    })
}
