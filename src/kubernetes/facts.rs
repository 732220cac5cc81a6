//! The Kubernetes API's Pod and ServiceAccount objects → the core's plain facts.
//!
//! The Pod object holds every literal environment value of every container, secrets
//! included; only variable names and sources cross into `PodFacts`, plus the values of
//! `AWS_ROLE_ARN` and `AWS_WEB_IDENTITY_TOKEN_FILE`. The object is dropped right after.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod, ServiceAccount};
use serde::Deserialize;
use serde::de::IgnoredAny;

use irsa_doctor_core::pod::{
    ContainerFacts, ContainerKind, EnvSource, EnvVar, FARGATE_PROFILE_LABEL, Owner, PodFacts,
    PodSecurity, ROLE_ARN_ANNOTATION, SIDECAR_CONTAINER, SKIP_CONTAINERS_ANNOTATION,
    SKIP_WEBHOOK_LABEL, ServiceAccountFacts, TokenVolume, UnreadEnvFrom,
};

/// Variables whose literal value is kept: the webhook writes them, and they are not secrets.
const KEEP_VALUE: &[&str] = &["AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"];

/// A Secret or ConfigMap read for its key names only: values are skipped by the parser
/// and never held in memory.
#[derive(Debug, Default, Deserialize)]
pub struct KeysOnly {
    #[serde(default)]
    data: BTreeMap<String, IgnoredAny>,
    #[serde(default, rename = "binaryData")]
    binary_data: BTreeMap<String, IgnoredAny>,
}

impl KeysOnly {
    /// The keys, sorted.
    pub fn keys(&self) -> Vec<String> {
        self.data
            .keys()
            .chain(self.binary_data.keys())
            .cloned()
            .collect()
    }
}

/// An `envFrom` source: `(is_secret, name, prefix)`.
pub type EnvFromRef = (bool, String, String);

/// The `envFrom` sources of every container, to list their keys.
pub fn env_from_refs(pod: &Pod) -> Vec<EnvFromRef> {
    let mut out: Vec<EnvFromRef> = Vec::new();
    for c in containers(pod).map(|(c, _)| c) {
        for ef in c.env_from.iter().flatten() {
            let prefix = ef.prefix.clone().unwrap_or_default();
            let r = match (&ef.secret_ref, &ef.config_map_ref) {
                (Some(s), _) => (true, s.name.clone(), prefix),
                (None, Some(m)) => (false, m.name.clone(), prefix),
                _ => continue,
            };
            if !out.contains(&r) {
                out.push(r);
            }
        }
    }
    out
}

/// Init containers (native sidecars among them), then containers.
fn containers(pod: &Pod) -> impl Iterator<Item = (&Container, ContainerKind)> {
    let spec = pod.spec.as_ref();
    let init = spec
        .and_then(|s| s.init_containers.as_ref())
        .into_iter()
        .flatten()
        .map(|c| {
            let sidecar = c.restart_policy.as_deref() == Some("Always");
            (
                c,
                if sidecar {
                    ContainerKind::Sidecar
                } else {
                    ContainerKind::Init
                },
            )
        });
    let apps = spec
        .map(|s| &s.containers)
        .into_iter()
        .flatten()
        .map(|c| (c, ContainerKind::App));
    init.chain(apps)
}

/// `envFrom` keys as listed (`None`: could not be read, with the reason).
pub type EnvFromKeys = BTreeMap<(bool, String), Result<Vec<String>, String>>;

/// The pod's facts. `env_from` holds the key names of the `envFrom` sources that were read.
pub fn pod_facts(pod: &Pod, env_from: &EnvFromKeys) -> PodFacts {
    let meta = &pod.metadata;
    let spec = pod.spec.as_ref();
    let labels = meta.labels.as_ref();
    let label = |k: &str| labels.and_then(|l| l.get(k)).map(String::as_str);
    let sec = spec.and_then(|s| s.security_context.as_ref());
    PodFacts {
        namespace: meta.namespace.clone().unwrap_or_default(),
        name: meta.name.clone().unwrap_or_default(),
        service_account: spec
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_else(|| "default".into()),
        node_name: spec.and_then(|s| s.node_name.clone()),
        host_network: spec.and_then(|s| s.host_network) == Some(true),
        node_compute_type: (label(FARGATE_PROFILE_LABEL).is_some()
            || spec.and_then(|s| s.scheduler_name.as_deref()) == Some("fargate-scheduler"))
        .then(|| "fargate".to_owned()),
        security: PodSecurity {
            run_as_user: sec.and_then(|s| s.run_as_user),
            run_as_group: sec.and_then(|s| s.run_as_group),
            run_as_non_root: sec.and_then(|s| s.run_as_non_root),
            fs_group: sec.and_then(|s| s.fs_group),
            supplemental_groups: sec
                .and_then(|s| s.supplemental_groups.clone())
                .unwrap_or_default(),
        },
        skip_containers: meta
            .annotations
            .as_ref()
            .and_then(|a| a.get(SKIP_CONTAINERS_ANNOTATION))
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
        webhook_skipped: label(SKIP_WEBHOOK_LABEL) == Some("true"),
        containers: containers(pod)
            .map(|(c, kind)| container_facts(c, kind, env_from))
            .collect(),
        token_volumes: token_volumes(pod),
        owner: meta
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.controller == Some(true))
            .map(|o| Owner {
                kind: o.kind.clone(),
                name: o.name.clone(),
            }),
        pod_template_hash: label("pod-template-hash").map(str::to_owned),
    }
}

fn container_facts(c: &Container, kind: ContainerKind, env_from: &EnvFromKeys) -> ContainerFacts {
    let sec = c.security_context.as_ref();
    let mut env: Vec<EnvVar> = Vec::new();
    let mut unread = Vec::new();
    // envFrom first: an explicit `env` entry of the same name wins, as in the kubelet.
    for ef in c.env_from.iter().flatten() {
        let prefix = ef.prefix.as_deref().unwrap_or("");
        let (secret, name) = match (&ef.secret_ref, &ef.config_map_ref) {
            (Some(s), _) => (true, s.name.clone()),
            (None, Some(m)) => (false, m.name.clone()),
            _ => continue,
        };
        match env_from.get(&(secret, name.clone())) {
            Some(Ok(keys)) => {
                for key in keys {
                    let source = if secret {
                        EnvSource::EnvFromSecret(name.clone())
                    } else {
                        EnvSource::EnvFromConfigMap(name.clone())
                    };
                    push_var(&mut env, format!("{prefix}{key}"), source, None);
                }
            }
            other => unread.push(UnreadEnvFrom {
                source: format!("{}/{name}", if secret { "secret" } else { "configmap" }),
                reason: match other {
                    Some(Err(reason)) => reason.clone(),
                    _ => "not read".to_owned(),
                },
            }),
        }
    }
    for v in c.env.iter().flatten() {
        let from = v.value_from.as_ref();
        let source = match (
            from.and_then(|f| f.secret_key_ref.as_ref()),
            from.and_then(|f| f.config_map_key_ref.as_ref()),
        ) {
            (Some(s), _) => EnvSource::Secret(s.name.clone()),
            (None, Some(m)) => EnvSource::ConfigMap(m.name.clone()),
            _ if from.is_some() => EnvSource::Field,
            _ => EnvSource::Literal,
        };
        let value = KEEP_VALUE
            .contains(&v.name.as_str())
            .then(|| v.value.clone())
            .flatten();
        push_var(&mut env, v.name.clone(), source, value);
    }
    ContainerFacts {
        name: c.name.clone(),
        kind,
        is_self: c.name == SIDECAR_CONTAINER
            || c.image.as_deref().is_some_and(is_irsa_doctor_image),
        env,
        env_from_unread: unread,
        mounts: c
            .volume_mounts
            .iter()
            .flatten()
            // A subPath mount never sees the kubelet's token refreshes: not a token mount.
            .filter(|m| m.sub_path.as_deref().unwrap_or("").is_empty())
            .map(|m| (m.name.clone(), m.mount_path.clone()))
            .collect(),
        run_as_user: sec.and_then(|s| s.run_as_user),
        run_as_group: sec.and_then(|s| s.run_as_group),
        run_as_non_root: sec.and_then(|s| s.run_as_non_root),
    }
}

/// Adds or replaces (a later definition of a name wins, as in the kubelet).
fn push_var(env: &mut Vec<EnvVar>, name: String, source: EnvSource, value: Option<String>) {
    env.retain(|v| v.name != name);
    env.push(EnvVar {
        name,
        source,
        value,
    });
}

/// `ghcr.io/irsa-doctor/irsa-doctor:0.1.0` → the repository's last path segment is ours.
fn is_irsa_doctor_image(image: &str) -> bool {
    let repo = image.split(['@']).next().unwrap_or(image);
    let last = repo.rsplit('/').next().unwrap_or(repo);
    last.split(':').next() == Some("irsa-doctor")
}

fn token_volumes(pod: &Pod) -> Vec<TokenVolume> {
    let volumes = pod.spec.as_ref().and_then(|s| s.volumes.as_ref());
    volumes
        .into_iter()
        .flatten()
        .filter_map(|v| {
            let p = v.projected.as_ref()?;
            let t = p
                .sources
                .iter()
                .flatten()
                .find_map(|s| s.service_account_token.as_ref())?;
            Some(TokenVolume {
                name: v.name.clone(),
                path: t.path.clone(),
                audience: t.audience.clone(),
                expiration_seconds: t.expiration_seconds,
                default_mode: p.default_mode.and_then(|m| u32::try_from(m).ok()),
            })
        })
        .collect()
}

/// The ServiceAccount's facts.
pub fn service_account_facts(sa: &ServiceAccount) -> ServiceAccountFacts {
    ServiceAccountFacts {
        name: sa.metadata.name.clone().unwrap_or_default(),
        role_arn_annotation: sa
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(ROLE_ARN_ANNOTATION))
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEYreal";

    fn pod() -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web-7d9f8c6b5-x2k4p", "namespace": "demo",
                "labels": {"pod-template-hash": "7d9f8c6b5"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d9f8c6b5", "uid": "u", "controller": true}]},
            "spec": {
                "serviceAccountName": "demo-sa",
                "initContainers": [{"name": "irsa-doctor", "image": "ghcr.io/irsa-doctor/irsa-doctor:0.1.0", "restartPolicy": "Always"}],
                "containers": [{"name": "app", "image": "app",
                    "env": [
                        {"name": "AWS_ROLE_ARN", "value": "arn:aws:iam::111122223333:role/demo"},
                        {"name": "AWS_SECRET_ACCESS_KEY", "value": SECRET},
                        {"name": "AWS_ACCESS_KEY_ID", "valueFrom": {"secretKeyRef": {"name": "aws-creds", "key": "id"}}}
                    ],
                    "envFrom": [{"secretRef": {"name": "legacy"}, "prefix": "X_"}, {"configMapRef": {"name": "cm"}}],
                    "volumeMounts": [{"name": "aws-iam-token", "mountPath": "/var/run/secrets/eks.amazonaws.com/serviceaccount"}]}],
                "volumes": [{"name": "aws-iam-token", "projected": {"defaultMode": 420, "sources": [
                    {"serviceAccountToken": {"audience": "sts.amazonaws.com", "expirationSeconds": 86400, "path": "token"}}]}}]
            }
        }))
        .expect("a pod")
    }

    #[test]
    fn literal_secret_values_never_reach_the_facts() {
        let mut keys = EnvFromKeys::new();
        keys.insert((true, "legacy".into()), Ok(vec!["AWS_PROFILE".into()]));
        keys.insert((false, "cm".into()), Err("403 Forbidden".into()));
        let facts = pod_facts(&pod(), &keys);
        let shown = format!("{facts:?}");
        assert!(!shown.contains(SECRET), "{shown}");
        let app = &facts.containers[1];
        assert_eq!(
            app.var("AWS_ROLE_ARN").and_then(|v| v.value.as_deref()),
            Some("arn:aws:iam::111122223333:role/demo")
        );
        assert_eq!(
            app.var("AWS_SECRET_ACCESS_KEY").map(|v| &v.source),
            Some(&EnvSource::Literal)
        );
        assert_eq!(
            app.var("AWS_ACCESS_KEY_ID").map(|v| &v.source),
            Some(&EnvSource::Secret("aws-creds".into()))
        );
        assert_eq!(
            app.var("X_AWS_PROFILE").map(|v| &v.source),
            Some(&EnvSource::EnvFromSecret("legacy".into()))
        );
        assert_eq!(app.env_from_unread[0].source, "configmap/cm");
        assert!(facts.containers[0].is_self);
        assert_eq!(facts.containers[0].kind, ContainerKind::Sidecar);
        assert_eq!(facts.token_volumes[0].default_mode, Some(0o644));
        assert_eq!(
            facts.owner.as_ref().map(|o| o.name.as_str()),
            Some("web-7d9f8c6b5")
        );
        assert_eq!(facts.pod_template_hash.as_deref(), Some("7d9f8c6b5"));
        assert_eq!(env_from_refs(&pod()).len(), 2);
    }

    #[test]
    fn images_that_are_irsa_doctor() {
        for (image, want) in [
            ("ghcr.io/irsa-doctor/irsa-doctor:0.1.0", true),
            ("irsa-doctor", true),
            ("registry:5000/tools/irsa-doctor@sha256:abc", true),
            ("ghcr.io/irsa-doctor/other:1", false),
            ("irsa-doctor-fork:1", false),
        ] {
            assert_eq!(is_irsa_doctor_image(image), want, "{image}");
        }
    }
}
