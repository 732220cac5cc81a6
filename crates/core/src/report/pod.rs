//! The report's `pod` section: the pod's own spec as the Kubernetes API showed it.

use std::fmt::Write as _;

use serde::Serialize;

use crate::pod::{ContainerKind, PodSpecSnapshot};
use crate::time;

/// `pod`: null until the pod's spec was read (or no Kubernetes API is configured).
#[derive(Debug, Clone, Serialize)]
pub struct PodSection {
    /// When the last read finished.
    pub read_at: Option<String>,
    /// Why the last read failed (the last good read's facts stay below).
    pub error: Option<String>,
    /// `namespace`.
    pub namespace: Option<String>,
    /// The pod's name.
    pub name: Option<String>,
    /// The controller that owns it.
    pub owner: Option<OwnerSection>,
    /// Its ServiceAccount.
    pub service_account: Option<ServiceAccountSection>,
    /// Every container, init and sidecar containers first.
    pub containers: Vec<ContainerSection>,
    /// `securityContext.fsGroup`.
    pub fs_group: Option<i64>,
    /// `hostNetwork`.
    pub host_network: Option<bool>,
    /// `fargate`, or null when not known to be Fargate.
    pub node_compute_type: Option<String>,
    /// The IRSA token file's mode and owner: as mounted when the sidecar could see it.
    pub token_file: Option<TokenFileSection>,
}

/// `pod.owner`.
#[derive(Debug, Clone, Serialize)]
pub struct OwnerSection {
    /// Kind (`ReplicaSet`, `Job`, ...).
    pub kind: String,
    /// Name.
    pub name: String,
}

/// `pod.service_account`.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceAccountSection {
    /// Name.
    pub name: String,
    /// `eks.amazonaws.com/role-arn`.
    pub role_arn_annotation: Option<String>,
}

/// One entry of `pod.containers`.
#[derive(Debug, Clone, Serialize)]
pub struct ContainerSection {
    /// Name.
    pub name: String,
    /// `init`, `sidecar` or `app`.
    pub kind: &'static str,
    /// Whether this is irsa-doctor's own container.
    pub is_irsa_doctor: bool,
    /// It has both `AWS_ROLE_ARN` and `AWS_WEB_IDENTITY_TOKEN_FILE`.
    pub irsa_env: bool,
    /// The directory of its `AWS_WEB_IDENTITY_TOKEN_FILE` is a mount.
    pub token_mounted: bool,
    /// Names of the credential variables its spec sets (never their values).
    pub static_credential_env: Vec<String>,
    /// `envFrom` sources whose keys could not be listed.
    pub env_from_unread: Vec<String>,
    /// Effective `runAsUser` (null: the image's).
    pub run_as_user: Option<i64>,
    /// Effective `runAsGroup` (null: the image's).
    pub run_as_group: Option<i64>,
}

/// `pod.token_file`.
#[derive(Debug, Clone, Serialize)]
pub struct TokenFileSection {
    /// Octal mode, `0644`.
    pub mode: String,
    /// Owner.
    pub uid: i64,
    /// Group.
    pub gid: i64,
}

/// Variables whose presence in a container's spec is reported by name.
const CREDENTIAL_VARS: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_SHARED_CREDENTIALS_FILE",
];

/// Builds the section; `None` before the first read or without an API configuration.
pub fn section(spec: &PodSpecSnapshot) -> Option<PodSection> {
    if !spec.configured || spec.read_at.is_none() {
        return None;
    }
    let pod = spec.pod.as_ref();
    let sec = pod.map(|p| p.security.clone()).unwrap_or_default();
    Some(PodSection {
        read_at: spec.read_at.and_then(time::rfc3339_time),
        error: spec
            .error
            .as_ref()
            .map(|e| format!("{}: {}", e.object, e.message)),
        namespace: pod.map(|p| p.namespace.clone()),
        name: pod.map(|p| p.name.clone()),
        owner: pod.and_then(|p| p.owner.as_ref()).map(|o| OwnerSection {
            kind: o.kind.clone(),
            name: o.name.clone(),
        }),
        service_account: spec
            .service_account
            .as_ref()
            .map(|s| ServiceAccountSection {
                name: s.name.clone(),
                role_arn_annotation: s.role_arn_annotation.clone(),
            }),
        containers: pod
            .map(|p| &p.containers)
            .into_iter()
            .flatten()
            .map(|c| {
                let file = c.token_file();
                ContainerSection {
                    name: c.name.clone(),
                    kind: match c.kind {
                        ContainerKind::Init => "init",
                        ContainerKind::Sidecar => "sidecar",
                        ContainerKind::App => "app",
                    },
                    is_irsa_doctor: c.is_self,
                    irsa_env: c.sets("AWS_ROLE_ARN") && c.sets("AWS_WEB_IDENTITY_TOKEN_FILE"),
                    token_mounted: file
                        .and_then(|f| f.rsplit_once('/'))
                        .is_some_and(|(dir, _)| c.volume_at(dir).is_some()),
                    static_credential_env: c
                        .env
                        .iter()
                        .filter(|v| CREDENTIAL_VARS.contains(&v.name.as_str()))
                        .map(|v| v.name.clone())
                        .collect(),
                    env_from_unread: c
                        .env_from_unread
                        .iter()
                        .map(|u| format!("{}: {}", u.source, u.reason))
                        .collect(),
                    run_as_user: c.user(&sec),
                    run_as_group: c.group(&sec),
                }
            })
            .collect(),
        fs_group: sec.fs_group,
        host_network: pod.map(|p| p.host_network),
        node_compute_type: pod.and_then(|p| p.node_compute_type.clone()),
        token_file: spec.token_file.map(|t| TokenFileSection {
            mode: format!("{:04o}", t.mode),
            uid: t.uid,
            gid: t.gid,
        }),
    })
}

impl PodSection {
    /// The POD section of the text report.
    pub(super) fn write_text(&self, o: &mut String) {
        let dash = |v: Option<&str>| v.unwrap_or("-").to_owned();
        let _ = writeln!(
            o,
            "\nPOD  {}/{} (read {})",
            dash(self.namespace.as_deref()),
            dash(self.name.as_deref()),
            dash(self.read_at.as_deref())
        );
        if let Some(e) = &self.error {
            let _ = writeln!(o, "  error         {e}");
        }
        if let Some(sa) = &self.service_account {
            let _ = writeln!(
                o,
                "  sa            {} role {}",
                sa.name,
                dash(sa.role_arn_annotation.as_deref())
            );
        }
        if let Some(owner) = &self.owner {
            let _ = writeln!(o, "  owner         {} {}", owner.kind, owner.name);
        }
        let mut placement = Vec::new();
        if self.host_network == Some(true) {
            placement.push("hostNetwork".to_owned());
        }
        if let Some(c) = &self.node_compute_type {
            placement.push(c.clone());
        }
        if let Some(g) = self.fs_group {
            placement.push(format!("fsGroup {g}"));
        }
        if let Some(t) = &self.token_file {
            placement.push(format!("token {} uid {} gid {}", t.mode, t.uid, t.gid));
        }
        if !placement.is_empty() {
            let _ = writeln!(o, "  runs          {}", placement.join(", "));
        }
        for c in &self.containers {
            let mut notes = vec![
                format!("irsa env {}", if c.irsa_env { "yes" } else { "NO" }),
                format!("token mount {}", if c.token_mounted { "yes" } else { "NO" }),
                format!(
                    "uid {} gid {}",
                    c.run_as_user.map_or("image".into(), |u| u.to_string()),
                    c.run_as_group.map_or("image".into(), |g| g.to_string())
                ),
            ];
            if !c.static_credential_env.is_empty() {
                notes.push(format!("sets {}", c.static_credential_env.join(", ")));
            }
            if !c.env_from_unread.is_empty() {
                notes.push(format!(
                    "envFrom not read: {}",
                    c.env_from_unread.join("; ")
                ));
            }
            let who = if c.is_irsa_doctor {
                " (irsa-doctor)"
            } else {
                ""
            };
            let _ = writeln!(o, "  {:<7} {}{who}: {}", c.kind, c.name, notes.join(", "));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{NOW, at};
    use crate::pod::*;

    fn snapshot() -> PodSpecSnapshot {
        let var = |name: &str, value: Option<&str>, source: EnvSource| EnvVar {
            name: name.into(),
            source,
            value: value.map(str::to_owned),
        };
        PodSpecSnapshot {
            configured: true,
            read_at: Some(at(NOW)),
            error: None,
            pod: Some(PodFacts {
                namespace: "demo".into(),
                name: "web-1".into(),
                service_account: "demo-sa".into(),
                security: PodSecurity {
                    run_as_user: Some(1000),
                    fs_group: Some(2000),
                    ..Default::default()
                },
                containers: vec![ContainerFacts {
                    name: "app".into(),
                    kind: ContainerKind::App,
                    is_self: false,
                    env: vec![
                        var(
                            "AWS_ROLE_ARN",
                            Some("arn:aws:iam::1:role/r"),
                            EnvSource::Literal,
                        ),
                        var(
                            "AWS_WEB_IDENTITY_TOKEN_FILE",
                            Some("/t/token"),
                            EnvSource::Literal,
                        ),
                        var(
                            "AWS_SECRET_ACCESS_KEY",
                            None,
                            EnvSource::Secret("keys".into()),
                        ),
                    ],
                    env_from_unread: vec![UnreadEnvFrom {
                        source: "secret/more".into(),
                        reason: "HTTP 403: forbidden".into(),
                    }],
                    mounts: vec![("aws-iam-token".into(), "/t".into())],
                    run_as_user: None,
                    run_as_group: Some(3000),
                    run_as_non_root: None,
                }],
                ..Default::default()
            }),
            service_account: Some(ServiceAccountFacts {
                name: "demo-sa".into(),
                role_arn_annotation: None,
            }),
            token_file: Some(FileAccess {
                mode: 0o640,
                uid: 0,
                gid: 2000,
            }),
        }
    }

    #[test]
    fn section_fields_and_text() {
        let s = section(&snapshot()).expect("read");
        let json = serde_json::to_value(&s).expect("serialises");
        let c = &json["containers"][0];
        assert_eq!(c["irsa_env"], true);
        assert_eq!(c["token_mounted"], true);
        assert_eq!(
            c["static_credential_env"],
            serde_json::json!(["AWS_SECRET_ACCESS_KEY"])
        );
        assert_eq!(
            c["run_as_user"], 1000,
            "the pod's runAsUser is the container's"
        );
        assert_eq!(c["run_as_group"], 3000);
        assert_eq!(json["fs_group"], 2000);
        assert_eq!(json["token_file"]["mode"], "0640");
        assert_eq!(
            json["service_account"]["role_arn_annotation"],
            serde_json::Value::Null
        );
        let mut text = String::new();
        s.write_text(&mut text);
        for line in [
            "POD  demo/web-1 (read 2026-11-23T10:00:00Z)",
            "sa            demo-sa role -",
            "runs          fsGroup 2000, token 0640 uid 0 gid 2000",
            "app     app: irsa env yes, token mount yes, uid 1000 gid 3000, sets AWS_SECRET_ACCESS_KEY, envFrom not read: secret/more: HTTP 403: forbidden",
        ] {
            assert!(text.contains(line), "{line:?} not in\n{text}");
        }
    }

    #[test]
    fn null_until_read() {
        assert!(
            section(&PodSpecSnapshot::default()).is_none(),
            "no API configured"
        );
        let configured = PodSpecSnapshot {
            configured: true,
            ..Default::default()
        };
        assert!(section(&configured).is_none(), "not read yet");
    }
}
