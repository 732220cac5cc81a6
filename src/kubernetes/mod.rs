//! The pod's own Pod and ServiceAccount, read from the Kubernetes API with kube-rs.
//!
//! kube-rs resolves the configuration as client-go does (`KUBECONFIG` or `~/.kube/config`,
//! else in-cluster: `KUBERNETES_SERVICE_HOST`, the mounted ServiceAccount token, re-read as
//! the kubelet rotates it, and the cluster CA). Reads run in a task of their own at start and
//! every `--pod-spec-interval` (10 minutes), each bounded by a timeout, so an absent, refusing
//! or slow API never delays `/metrics`, `/debug`, the probes or the start gate; no request
//! ever triggers one. Failures are logged at `info` at most and become
//! `KUBERNETES_API_UNAVAILABLE` (info).
//!
//! Only `get` is called: on `pods` and `serviceaccounts` (the RBAC the pod needs), and on the
//! `secrets`/`configmaps` a container's `envFrom` names, for their key names only.

pub mod facts;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use irsa_doctor_core::pod::{ApiError, ApiErrorKind, FileAccess, PodSpecSnapshot};
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};

use crate::state::State;
use facts::{EnvFromKeys, KeysOnly};

/// How long one API call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest object read (etcd's own limit is 1.5 MiB).
const MAX_OBJECT_BYTES: usize = 2 * 1024 * 1024;

/// Whether a Kubernetes API configuration exists where kube-rs and client-go look for one.
pub fn configured() -> bool {
    let kubeconfig = crate::host::var("KUBECONFIG").is_some();
    let in_cluster = crate::host::var("KUBERNETES_SERVICE_HOST").is_some();
    let home = crate::host::var("HOME")
        .map(|h| PathBuf::from(h).join(".kube").join("config"))
        .is_some_and(|p| p.is_file());
    kubeconfig || in_cluster || home
}

/// Reads the pod's spec now and then; keeps one client (its token is re-read by kube-rs).
pub struct Reader {
    client: Option<kube::Client>,
}

impl Default for Reader {
    fn default() -> Self {
        Reader::new()
    }
}

impl Reader {
    /// A reader with no client yet.
    pub fn new() -> Reader {
        Reader { client: None }
    }

    /// Reads the pod, its ServiceAccount and its `envFrom` keys once, into the snapshot.
    pub async fn read_once(&mut self, state: &State) {
        let result = self.read(state).await;
        let token_file = stat(&state.config.token_file);
        let now = crate::host::now();
        state.update(|s| {
            let spec = &mut s.pod_spec;
            let before = spec.error.clone();
            spec.configured = true;
            spec.read_at = Some(now);
            spec.token_file = token_file;
            match result {
                Ok((pod, sa)) => {
                    spec.pod = Some(pod);
                    // A ServiceAccount that could not be read keeps its last good facts.
                    match sa {
                        Ok(sa) => {
                            spec.service_account = Some(sa);
                            spec.error = None;
                        }
                        Err(e) => spec.error = Some(e),
                    }
                }
                Err(e) => spec.error = Some(e),
            }
            log_change(before.as_ref(), spec);
        });
    }

    async fn read(
        &mut self,
        state: &State,
    ) -> Result<
        (
            irsa_doctor_core::pod::PodFacts,
            Result<irsa_doctor_core::pod::ServiceAccountFacts, ApiError>,
        ),
        ApiError,
    > {
        let client = self.client().await?;
        let (ns, name) = pod_identity(state, &client)?;
        let pod: Pod = get(&client, "pods", &ns, &name).await?;
        let mut keys = EnvFromKeys::new();
        for (secret, source, _) in facts::env_from_refs(&pod) {
            let resource = if secret { "secrets" } else { "configmaps" };
            let listed = get::<KeysOnly>(&client, resource, &ns, &source)
                .await
                .map(|k| k.keys())
                .map_err(|e| e.message);
            keys.insert((secret, source), listed);
        }
        let facts = facts::pod_facts(&pod, &keys);
        drop(pod);
        let sa = get::<ServiceAccount>(&client, "serviceaccounts", &ns, &facts.service_account)
            .await
            .map(|sa| facts::service_account_facts(&sa));
        Ok((facts, sa))
    }

    async fn client(&mut self) -> Result<kube::Client, ApiError> {
        if let Some(c) = &self.client {
            return Ok(c.clone());
        }
        let config_error = |message: String| ApiError {
            kind: ApiErrorKind::Config,
            object: "the Kubernetes API configuration".into(),
            resource: "pods",
            message,
        };
        let mut config = tokio::time::timeout(CALL_TIMEOUT, kube::Config::infer())
            .await
            .map_err(|_| config_error("loading it timed out".into()))?
            .map_err(|e| config_error(crate::probes::errors::error_chain(&e)))?;
        config.connect_timeout = Some(Duration::from_secs(5));
        config.read_timeout = Some(CALL_TIMEOUT);
        let client = kube::Client::try_from(config)
            .map_err(|e| config_error(crate::probes::errors::error_chain(&e)))?;
        self.client = Some(client.clone());
        Ok(client)
    }
}

/// The pod's namespace and name: the downward API's `POD_NAMESPACE`/`POD_NAME`, else the
/// web identity token's `kubernetes.io` claims (the pod it was issued to), else the client's
/// namespace (in-cluster: the mounted namespace file) and `HOSTNAME`.
fn pod_identity(state: &State, client: &kube::Client) -> Result<(String, String), ApiError> {
    let snap = state.snapshot();
    let claims = snap
        .token
        .decoded()
        .or_else(|| snap.extra_tokens.iter().find_map(|t| t.decoded()))
        .map(|d| d.claims.kubernetes.clone());
    let ns = crate::host::var("POD_NAMESPACE")
        .or_else(|| claims.as_ref().and_then(|c| c.namespace.clone()))
        .unwrap_or_else(|| client.default_namespace().to_owned());
    let name = crate::host::var("POD_NAME")
        .or_else(|| claims.as_ref().and_then(|c| c.pod.clone()))
        .or_else(|| crate::host::var("HOSTNAME"));
    match name {
        Some(name) => Ok((ns, name)),
        None => Err(ApiError {
            kind: ApiErrorKind::Config,
            object: "this pod's name".into(),
            resource: "pods",
            message: "POD_NAME, HOSTNAME and the token's kubernetes.io claims are all unset".into(),
        }),
    }
}

/// `GET /api/v1/namespaces/NS/RESOURCE/NAME`, bounded in time and size, parsed as `T`.
async fn get<T: serde::de::DeserializeOwned>(
    client: &kube::Client,
    resource: &'static str,
    ns: &str,
    name: &str,
) -> Result<T, ApiError> {
    let object = format!("{resource}/{name} in namespace {ns}");
    let fail = |kind, message: String| ApiError {
        kind,
        object: object.clone(),
        resource,
        message,
    };
    // Names come from the environment and the token: only a DNS-1123 name goes in the path.
    let dns = |s: &str| {
        !s.is_empty()
            && s.len() <= 253
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    };
    if !dns(ns) || !dns(name) {
        return Err(fail(
            ApiErrorKind::Config,
            "not a valid Kubernetes object name".into(),
        ));
    }
    let path = format!("/api/v1/namespaces/{ns}/{resource}/{name}");
    let request = hyper::Request::get(path)
        .header(hyper::header::ACCEPT, "application/json")
        .body(kube::client::Body::empty())
        .map_err(|e| fail(ApiErrorKind::Other, e.to_string()))?;
    let call = async {
        let response = client.send(request).await.map_err(|e| {
            fail(
                ApiErrorKind::Unreachable,
                crate::probes::errors::error_chain(&e),
            )
        })?;
        let status = response.status();
        let body = http_body_util::Limited::new(response.into_body(), MAX_OBJECT_BYTES)
            .collect()
            .await
            .map_err(|e| {
                fail(
                    ApiErrorKind::Unreachable,
                    format!("reading the answer: {e}"),
                )
            })?
            .to_bytes();
        Ok::<_, ApiError>((status, body))
    };
    let (status, body) = tokio::time::timeout(CALL_TIMEOUT, call)
        .await
        .map_err(|_| {
            fail(
                ApiErrorKind::Unreachable,
                format!("no answer within {CALL_TIMEOUT:?}"),
            )
        })??;
    if !status.is_success() {
        let kind = match status.as_u16() {
            401 => ApiErrorKind::Unauthorized,
            403 => ApiErrorKind::Forbidden,
            404 => ApiErrorKind::NotFound,
            _ => ApiErrorKind::Other,
        };
        // The API's Status message names the user, verb and resource; never the object.
        let message = serde_json::from_slice::<kube::core::Status>(&body)
            .ok()
            .map(|s| s.message)
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| status.to_string());
        return Err(fail(
            kind,
            format!("HTTP {}: {}", status.as_u16(), one_line(&message)),
        ));
    }
    // Only the error's class and position: serde's text can quote the value it choked on,
    // and a Pod's values include every literal env var of every container.
    serde_json::from_slice(&body).map_err(|e| {
        fail(
            ApiErrorKind::Other,
            format!(
                "not a {resource} object ({:?} error at line {}, column {})",
                e.classify(),
                e.line(),
                e.column()
            ),
        )
    })
}

fn one_line(s: &str) -> String {
    s.chars()
        .take(300)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The token file's mode and owner as this container sees it mounted.
fn stat(path: &std::path::Path) -> Option<FileAccess> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some(FileAccess {
        mode: m.mode() & 0o777,
        uid: i64::from(m.uid()),
        gid: i64::from(m.gid()),
    })
}

/// Logs a read whose outcome changed, at `info` at most: the API is optional.
fn log_change(before: Option<&ApiError>, now: &PodSpecSnapshot) {
    match (&now.error, before) {
        (Some(e), b) if b != Some(e) => {
            tracing::info!(object = %e.object, error = %e.message, "cannot read the pod's spec from the Kubernetes API")
        }
        (None, Some(_)) => tracing::info!("the pod's spec is readable again"),
        _ => {}
    }
}

/// The reader's loop in `serve`: off without an API configuration; otherwise the first read
/// once the tokens were read (their claims name the pod), then every `--pod-spec-interval`.
pub async fn run(state: Arc<State>) {
    if !configured() {
        return;
    }
    state.update(|s| s.pod_spec.configured = true);
    let mut changes = state.subscribe();
    let irsa = state.config.irsa_token;
    let _ = changes.wait_for(|s| s.tokens_read(irsa)).await;
    let mut reader = Reader::new();
    loop {
        reader.read_once(&state).await;
        tokio::time::sleep(state.config.pod_spec_interval).await;
    }
}
