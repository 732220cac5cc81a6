//! A fake Kubernetes API server on 127.0.0.1: `GET /api/v1/namespaces/NS/RESOURCE/NAME` of
//! the objects it holds, behind a bearer token, answering errors with `metav1.Status`
//! bodies as the real API server does (401, 403 naming the user, verb and resource, 404).
//! HTTPS with a certificate the caller supplies (tests), or plain HTTP (the demo).
//! `kubectl get --raw` against it is the check that it speaks as the API server does.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

use super::server::lock;

/// How the fake answers every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KubeMode {
    /// Objects it holds, 404 for others, 401 for a wrong token.
    #[default]
    Healthy,
    /// 401 for everyone (a revoked or unknown token).
    Unauthorized,
    /// Accepts connections and never answers (an API server under load).
    Silent,
}

/// A certificate and key (PEM) to serve HTTPS with.
#[derive(Debug, Clone)]
pub struct ServerTls {
    /// The server certificate chain.
    pub cert_pem: String,
    /// Its private key.
    pub key_pem: String,
}

#[derive(Default)]
struct State {
    token: String,
    mode: KubeMode,
    /// `(resource, namespace, name)` → object.
    objects: BTreeMap<(String, String, String), Value>,
    /// Resources RBAC refuses (403).
    forbidden: BTreeSet<String>,
    /// Every request path served, in order.
    requests: Vec<String>,
    /// The user the token authenticates as, for 403 messages.
    user: String,
}

/// A running fake API server; stops when dropped.
pub struct FakeKubeApi {
    state: Arc<Mutex<State>>,
    addr: SocketAddr,
    tls: bool,
    task: JoinHandle<()>,
}

impl Drop for FakeKubeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeKubeApi {
    /// Starts the server accepting `token` (as `user`), over HTTPS when `tls` is given.
    pub async fn start(token: &str, user: &str, tls: Option<ServerTls>) -> io::Result<FakeKubeApi> {
        let state = Arc::new(Mutex::new(State {
            token: token.to_owned(),
            user: user.to_owned(),
            ..Default::default()
        }));
        let acceptor = tls.as_ref().map(acceptor).transpose()?;
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(accept_loop(listener, acceptor, Arc::clone(&state)));
        Ok(FakeKubeApi {
            state,
            addr,
            tls: tls.is_some(),
            task,
        })
    }

    /// `https://127.0.0.1:PORT` (or `http://`).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Puts (or replaces) an object; its kind decides the resource (`Pod` → `pods`).
    pub fn put(&self, object: Value) {
        let resource = match object["kind"].as_str() {
            Some("Pod") => "pods",
            Some("ServiceAccount") => "serviceaccounts",
            Some("Secret") => "secrets",
            Some("ConfigMap") => "configmaps",
            _ => "unknown",
        };
        let meta = &object["metadata"];
        let key = (
            resource.to_owned(),
            meta["namespace"].as_str().unwrap_or_default().to_owned(),
            meta["name"].as_str().unwrap_or_default().to_owned(),
        );
        lock(&self.state).objects.insert(key, object);
    }

    /// Removes every object.
    pub fn clear(&self) {
        lock(&self.state).objects.clear();
    }

    /// Sets how it answers.
    pub fn set_mode(&self, mode: KubeMode) {
        lock(&self.state).mode = mode;
    }

    /// Makes RBAC refuse (or allow again) `get` on `resource`.
    pub fn forbid(&self, resource: &str, forbidden: bool) {
        let mut s = lock(&self.state);
        if forbidden {
            s.forbidden.insert(resource.to_owned());
        } else {
            s.forbidden.remove(resource);
        }
    }

    /// Accepts another bearer token from now on (the kubelet rotated the pod's).
    pub fn set_token(&self, token: &str) {
        lock(&self.state).token = token.to_owned();
    }

    /// Every request path served so far.
    pub fn requests(&self) -> Vec<String> {
        lock(&self.state).requests.clone()
    }
}

fn acceptor(tls: &ServerTls) -> io::Result<tokio_rustls::TlsAcceptor> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let bad =
        |e: &dyn std::fmt::Display| io::Error::new(io::ErrorKind::InvalidInput, e.to_string());
    let certs = CertificateDer::pem_slice_iter(tls.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(&e))?;
    let key = PrivateKeyDer::from_pem_slice(tls.key_pem.as_bytes()).map_err(|e| bad(&e))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| bad(&e))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| bad(&e))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    state: Arc<Mutex<State>>,
) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        while connections.try_join_next().is_some() {}
        let state = Arc::clone(&state);
        let tls = tls.clone();
        connections.spawn(async move {
            let service = service_fn(move |req| {
                let state = Arc::clone(&state);
                async move { answer(&state, req).await }
            });
            let builder = http1::Builder::new();
            let _ = match tls {
                Some(tls) => match tls.accept(stream).await {
                    Ok(s) => builder.serve_connection(TokioIo::new(s), service).await,
                    Err(_) => Ok(()),
                },
                None => {
                    builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await
                }
            };
        });
    }
}

type Resp = Response<Full<Bytes>>;

/// A `metav1.Status` failure, as the API server writes it.
fn status(code: u16, reason: &str, message: &str) -> Resp {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code
    });
    json_response(
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        &body,
    )
}

fn json_response(code: StatusCode, body: &Value) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = code;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

async fn answer(
    state: &Mutex<State>,
    req: Request<Incoming>,
) -> Result<Resp, std::convert::Infallible> {
    let path = req.uri().path().to_owned();
    let (mode, token, user) = {
        let mut s = lock(state);
        s.requests.push(path.clone());
        (s.mode, s.token.clone(), s.user.clone())
    };
    if mode == KubeMode::Silent {
        std::future::pending::<()>().await;
    }
    let bearer = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if mode == KubeMode::Unauthorized || bearer != Some(token.as_str()) {
        return Ok(status(401, "Unauthorized", "Unauthorized"));
    }
    if req.method() != hyper::Method::GET {
        return Ok(status(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        ));
    }
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let ["api", "v1", "namespaces", ns, resource, name] = parts.as_slice() else {
        return Ok(status(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ));
    };
    let s = lock(state);
    if s.forbidden.contains(*resource) {
        return Ok(status(
            403,
            "Forbidden",
            &format!(
                "{resource} \"{name}\" is forbidden: User \"{user}\" cannot get resource \"{resource}\" in API group \"\" in the namespace \"{ns}\""
            ),
        ));
    }
    match s
        .objects
        .get(&((*resource).to_owned(), (*ns).to_owned(), (*name).to_owned()))
    {
        Some(object) => Ok(json_response(StatusCode::OK, object)),
        None => Ok(status(
            404,
            "NotFound",
            &format!("{resource} \"{name}\" not found"),
        )),
    }
}

/// The role and token path the webhook writes.
pub const TOKEN_DIR: &str = "/var/run/secrets/eks.amazonaws.com/serviceaccount";

/// A container as the EKS pod-identity webhook leaves it (`role` `None`: untouched).
pub fn container(name: &str, image: &str, role: Option<&str>) -> Value {
    let mut env = vec![
        json!({"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}),
    ];
    let mut mounts = vec![
        json!({"name": "kube-api-access-x2k4p", "readOnly": true, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}),
    ];
    if let Some(role) = role {
        env.extend([
            json!({"name": "AWS_STS_REGIONAL_ENDPOINTS", "value": "regional"}),
            json!({"name": "AWS_DEFAULT_REGION", "value": "us-east-1"}),
            json!({"name": "AWS_REGION", "value": "us-east-1"}),
            json!({"name": "AWS_ROLE_ARN", "value": role}),
            json!({"name": "AWS_WEB_IDENTITY_TOKEN_FILE", "value": format!("{TOKEN_DIR}/token")}),
        ]);
        mounts.push(json!({"name": "aws-iam-token", "readOnly": true, "mountPath": TOKEN_DIR}));
    }
    json!({"name": name, "image": image, "env": env, "volumeMounts": mounts})
}

/// A Deployment's pod as the webhook leaves it: irsa-doctor as a native sidecar (uid 65532)
/// and an `app` container, both injected with `role` (`None`: the webhook never ran), the
/// projected `aws-iam-token` volume with its audience and expiry.
pub fn webhook_pod(
    namespace: &str,
    name: &str,
    service_account: &str,
    role: Option<&str>,
) -> Value {
    let hash = name.rsplit('-').nth(1).unwrap_or("7d9f8c6b5");
    let replica_set = name.rsplit_once('-').map_or(name, |(rs, _)| rs);
    let mut sidecar = container("irsa-doctor", "ghcr.io/irsa-doctor/irsa-doctor:0.1.0", role);
    sidecar["restartPolicy"] = json!("Always");
    sidecar["securityContext"] =
        json!({"runAsUser": 65532, "runAsNonRoot": true, "readOnlyRootFilesystem": true});
    let mut volumes = vec![
        json!({"name": "kube-api-access-x2k4p", "projected": {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}]}}),
    ];
    if role.is_some() {
        volumes.insert(0, json!({"name": "aws-iam-token", "projected": {"defaultMode": 420, "sources": [
            {"serviceAccountToken": {"audience": "sts.amazonaws.com", "expirationSeconds": 86400, "path": "token"}}]}}));
    }
    json!({
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {
            "name": name, "namespace": namespace, "uid": "a2e67c29-03a4-40b6-b650-6321f3bc764f",
            "labels": {"app": "web", "pod-template-hash": hash},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": replica_set,
                "uid": "5f0c6c2e-8a35-4a57-9a53-3b1f1b0e7d1a", "controller": true, "blockOwnerDeletion": true}]
        },
        "spec": {
            "serviceAccountName": service_account,
            "nodeName": "ip-10-0-1-2.ec2.internal",
            "schedulerName": "default-scheduler",
            "securityContext": {},
            "initContainers": [sidecar],
            "containers": [container("app", "public.ecr.aws/docker/library/python:3.12", role)],
            "volumes": volumes
        },
        "status": {"phase": "Running"}
    })
}

/// A ServiceAccount, annotated with `role` when given.
pub fn service_account(namespace: &str, name: &str, role: Option<&str>) -> Value {
    let annotations = role.map_or(json!({}), |r| json!({"eks.amazonaws.com/role-arn": r}));
    json!({"kind": "ServiceAccount", "apiVersion": "v1",
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations}})
}

/// A Secret holding `data` (values base64-encoded as the API returns them).
pub fn secret(namespace: &str, name: &str, data: &[(&str, &str)]) -> Value {
    use base64::Engine;
    let data: serde_json::Map<String, Value> = data
        .iter()
        .map(|(k, v)| {
            (
                (*k).to_owned(),
                json!(base64::engine::general_purpose::STANDARD.encode(v)),
            )
        })
        .collect();
    json!({"kind": "Secret", "apiVersion": "v1", "type": "Opaque",
        "metadata": {"name": name, "namespace": namespace}, "data": data})
}

/// A kubeconfig for `url` with `token_file` as the credentials and `ca_file` to trust.
pub fn kubeconfig(
    url: &str,
    ca_file: Option<&std::path::Path>,
    token_file: &std::path::Path,
    namespace: &str,
) -> String {
    let ca = ca_file.map_or(String::new(), |p| {
        format!("    certificate-authority: {}\n", p.display())
    });
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {url}\n{ca}contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: pod\n    namespace: {namespace}\ncurrent-context: fake\nusers:\n- name: pod\n  user:\n    tokenFile: {}\n",
        token_file.display()
    )
}
