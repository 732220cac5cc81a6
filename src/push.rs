//! Pushing the verdict to a Prometheus Pushgateway (`--push-gateway`), so a short-lived
//! pod's findings are still in Prometheus after the pod is gone.
//!
//! Every `--push-interval` (jittered) once the first probe has run, and once more when
//! `serve` stops, the `irsa_*` series are `PUT` to the workload's group (the path and the
//! body are `irsa_doctor_core::pushgateway`'s). The URL's user info is sent as basic auth
//! and never logged: the URL the logs show is rebuilt without it, and error texts are
//! scrubbed of it. `https://` is verified against the system's root certificates, with the
//! same rustls and aws-lc-rs stack as every other client in the binary.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use irsa_doctor_core::pushgateway;
use irsa_doctor_core::schedule::Backoff;
use irsa_doctor_core::workload;

use crate::state::State;

/// A periodic push may take this long (or the interval, when shorter).
pub const PUSH_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of a refusal's body is kept for the log line.
const MAX_ERROR_BODY: usize = 512;

/// Why `--push-gateway` is unusable. The messages never repeat the URL: it may hold a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("--push-gateway must be an http:// or https:// URL")]
    Scheme,
    #[error("--push-gateway names no host")]
    NoHost,
    #[error("--push-gateway must not have a query or a fragment")]
    Query,
    #[error(
        "--push-gateway is not a valid URL (percent-encode @, /, : and # in the user name and password)"
    )]
    Invalid,
}

/// The Pushgateway: where groups are pushed, and how to authenticate.
#[derive(Clone)]
pub struct Target {
    /// `scheme://host[:port][/prefix]`, without user info or a trailing `/`.
    base: String,
    /// The `Authorization` header from the URL's user info (marked sensitive).
    auth: Option<HeaderValue>,
    /// The user info's password as given and decoded, to scrub from error texts.
    secrets: Vec<String>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("base", &self.base)
            .field("basic_auth", &self.auth.is_some())
            .finish()
    }
}

impl Target {
    /// Parses `--push-gateway`: `http[s]://[USER[:PASSWORD]@]HOST[:PORT][/PREFIX]`.
    pub fn parse(url: &str) -> Result<Target, TargetError> {
        let url = url.trim();
        let (scheme, rest) = url.split_once("://").ok_or(TargetError::Scheme)?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(TargetError::Scheme);
        }
        // The user info ends at the last `@` before the path; an unencoded `/` in a password
        // would end the authority early and leave the rest, `@` and all, in the path.
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        if tail.contains('@') {
            return Err(TargetError::Invalid);
        }
        if tail.contains(['?', '#']) {
            return Err(TargetError::Query);
        }
        let (userinfo, host) = match authority.rsplit_once('@') {
            Some((userinfo, host)) => (Some(userinfo), host),
            None => (None, authority),
        };
        if host.is_empty() {
            return Err(TargetError::NoHost);
        }
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| TargetError::Invalid)
        };
        let (auth, secrets) = match userinfo {
            None => (None, Vec::new()),
            Some(info) => {
                let (user, raw) = info.split_once(':').unwrap_or((info, ""));
                let (user, password) = (decode(user)?, decode(raw)?);
                let encoded =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                let mut value = HeaderValue::from_str(&format!("Basic {encoded}"))
                    .map_err(|_| TargetError::Invalid)?;
                value.set_sensitive(true);
                (Some(value), vec![password, raw.to_owned()])
            }
        };
        let target = Target {
            base: format!("{scheme}://{host}{}", tail.trim_end_matches('/')),
            auth,
            secrets,
        };
        // Any group path is plain URL text, so one that parses means they all do.
        let url = target.group_url(&pushgateway::group_path("namespace", "workload"))?;
        if url.host().is_none_or(str::is_empty) {
            return Err(TargetError::NoHost);
        }
        // `Uri` keeps a port it cannot read; a port written must be a number.
        let authority = url.authority().map_or("", |a| a.as_str());
        let written_port = authority
            .rfind(':')
            .filter(|&i| !authority[i..].contains(']'));
        if written_port.is_some() && url.port_u16().is_none() {
            return Err(TargetError::Invalid);
        }
        Ok(target)
    }

    /// The URL of the group at `path` (`pushgateway::group_path`), without user info.
    pub fn group_url(&self, path: &str) -> Result<Uri, TargetError> {
        format!("{}{path}", self.base)
            .parse()
            .map_err(|_| TargetError::Invalid)
    }

    /// The Pushgateway's URL as logs may show it: never with the user info.
    pub fn shown(&self) -> &str {
        &self.base
    }

    /// Whether the URL carried user info (sent as basic auth).
    pub fn basic_auth(&self) -> bool {
        self.auth.is_some()
    }

    /// `text` with the password (raw or percent-encoded) replaced, for error texts.
    fn scrub(&self, text: &str) -> String {
        crate::probes::errors::redact(text, &self.secrets)
    }
}

/// Why one push failed; the text is scrubbed of the password before it is logged.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Http(String),
    #[error("no workload name: set --workload or POD_NAME")]
    NoWorkload,
    #[error("the Pushgateway answered {status}: {body}")]
    Refused { status: u16, body: String },
}

/// How the workload is named, as far as the configuration knows; the pod's owner is added
/// when the first push resolves the group (`Pusher::group`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Naming {
    /// The pod's namespace (`POD_NAMESPACE`).
    pub namespace: String,
    /// `--workload`.
    pub workload: Option<String>,
    /// `POD_NAME`.
    pub pod_name: Option<String>,
}

/// One group, resolved at the first push and kept: a group that changed name mid-run would
/// leave the old one behind in the Pushgateway, verdict and all.
#[derive(Debug)]
struct Group {
    url: Uri,
    workload: String,
}

/// Pushes one workload's group: the target, the HTTP client and what the logs have said.
pub struct Pusher {
    target: Target,
    naming: Naming,
    interval: Duration,
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    group: OnceLock<Group>,
    /// Whether the last push failed (the first failure of a run of them is a warning).
    failing: AtomicBool,
    /// Whether a push ever succeeded (the first success is logged at info).
    pushed: AtomicBool,
}

impl Pusher {
    /// A pusher to `target` every `interval`. Fails only for an `https://` target when the
    /// system has no root certificates.
    pub fn new(target: Target, naming: Naming, interval: Duration) -> std::io::Result<Pusher> {
        let https = connector(target.base.starts_with("https://"))?;
        Ok(Pusher {
            target,
            naming,
            interval,
            client: Client::builder(TokioExecutor::new()).build(https),
            group: OnceLock::new(),
            failing: AtomicBool::new(false),
            pushed: AtomicBool::new(false),
        })
    }

    /// The Pushgateway's URL as the logs show it (no user info).
    pub fn shown(&self) -> &str {
        self.target.shown()
    }

    /// The group, named once: `--workload`, else the pod's controller owner when the pod
    /// spec is known, else the pod name without its generated suffixes.
    fn group(&self, state: &State) -> Option<&Group> {
        if let Some(g) = self.group.get() {
            return Some(g);
        }
        let (owner, pod_template_hash) = pod_owner(state);
        let workload = workload::name(
            self.naming.workload.as_deref(),
            owner.as_ref().map(|(k, n)| (k.as_str(), n.as_str())),
            pod_template_hash.as_deref(),
            self.naming.pod_name.as_deref(),
        )?;
        let path = pushgateway::group_path(&self.naming.namespace, &workload);
        let url = self.target.group_url(&path).ok()?;
        Some(self.group.get_or_init(|| Group { url, workload }))
    }

    /// Pushes every interval (jittered) once the first probe has run: a push before it
    /// would replace the last run's verdict with one that knows nothing yet.
    pub async fn run(self: Arc<Self>, state: Arc<State>) {
        tracing::info!(url = %self.shown(), namespace = %self.naming.namespace,
            basic_auth = self.target.basic_auth(), interval = %humantime::format_duration(self.interval),
            "pushing to the Pushgateway once the first probe has run");
        let mut changes = state.subscribe();
        while !state.is_ready() || pod_spec_pending(&state) {
            if changes.changed().await.is_err() {
                return;
            }
        }
        let timeout = PUSH_TIMEOUT.min(self.interval);
        loop {
            let result = self.push(&state, timeout).await;
            self.report(result, false);
            let delay = Backoff::default().next_delay(self.interval, fastrand::f64());
            tokio::time::sleep(delay).await;
        }
    }

    /// The push when `serve` stops, within `budget`; skipped when no probe has run.
    pub async fn push_at_exit(&self, state: &State, budget: Duration) {
        if !state.is_ready() {
            tracing::info!(url = %self.shown(),
                "not pushed at exit: stopped before the first probe completed, so the Pushgateway keeps the last verdict");
            return;
        }
        let result = self.push(state, budget).await;
        self.report(result, true);
    }

    /// One `PUT` of the group within `timeout`.
    async fn push(&self, state: &State, timeout: Duration) -> Result<(), PushError> {
        let group = self.group(state).ok_or(PushError::NoWorkload)?;
        let now = crate::host::now();
        let exposition = state.metrics_text(now);
        let body = pushgateway::body(&String::from_utf8_lossy(&exposition), now);
        let mut request = Request::builder()
            .method(Method::PUT)
            .uri(group.url.clone())
            .header(CONTENT_TYPE, crate::metrics::CONTENT_TYPE);
        if let Some(auth) = &self.target.auth {
            request = request.header(AUTHORIZATION, auth.clone());
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| PushError::Http(e.to_string()))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| PushError::Http(crate::probes::errors::error_chain(&e)))?;
            let status = response.status();
            if status.is_success() {
                return Ok(());
            }
            let body = Limited::new(response.into_body(), MAX_ERROR_BODY * 8)
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let text = String::from_utf8_lossy(&body);
            let text: String = text.trim().chars().take(MAX_ERROR_BODY).collect();
            Err(PushError::Refused {
                status: status.as_u16(),
                body: text,
            })
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or(Err(PushError::Timeout(timeout)))
    }

    /// Logs a push's outcome: the first failure of a run (and any at exit) as a warning,
    /// the others at debug; the first success and a recovery at info.
    fn report(&self, result: Result<(), PushError>, at_exit: bool) {
        let url = self.shown();
        let workload = self.group.get().map(|g| g.workload.as_str());
        match result {
            Ok(()) => {
                let recovered = self.failing.swap(false, Ordering::Relaxed);
                let first = !self.pushed.swap(true, Ordering::Relaxed);
                if recovered {
                    tracing::info!(url, workload, at_exit, "push to the Pushgateway recovered");
                } else if first {
                    tracing::info!(url, workload, at_exit, "pushed to the Pushgateway");
                } else {
                    tracing::debug!(url, workload, at_exit, "pushed to the Pushgateway");
                }
            }
            Err(e) => {
                let error = self.target.scrub(&e.to_string());
                let first = !self.failing.swap(true, Ordering::Relaxed);
                if first || at_exit {
                    tracing::warn!(url, workload, at_exit, error = %error, "push to the Pushgateway failed");
                } else {
                    tracing::debug!(url, workload, error = %error, "push to the Pushgateway failed again");
                }
            }
        }
    }
}

/// The pod's controller owner (kind, name) and its `pod-template-hash` label, when the pod
/// spec was read from the Kubernetes API; else none, and the workload comes from the pod name.
fn pod_owner(state: &State) -> (Option<(String, String)>, Option<String>) {
    state.read(|s| match &s.pod_spec.pod {
        Some(pod) => (
            pod.owner.as_ref().map(|o| (o.kind.clone(), o.name.clone())),
            pod.pod_template_hash.clone(),
        ),
        None => (None, None),
    })
}

/// Whether the pod's spec is still being read for the first time: the group is named once,
/// so the first push waits for the owner (each API call is bounded, so this ends).
fn pod_spec_pending(state: &State) -> bool {
    state.read(|s| s.pod_spec.configured && s.pod_spec.read_at.is_none())
}

/// The HTTP(S) connector: the system's root certificates, the aws-lc-rs provider the AWS
/// SDK's rustls uses too (one TLS stack in the binary). An `http://` target never makes a
/// TLS handshake, so it loads and holds no roots.
fn connector(https: bool) -> std::io::Result<hyper_rustls::HttpsConnector<HttpConnector>> {
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let builder = if https {
        hyper_rustls::HttpsConnectorBuilder::new().with_provider_and_native_roots(provider)?
    } else {
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
            .with_safe_default_protocol_versions()
            .map_err(std::io::Error::other)?
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config)
    };
    Ok(builder.https_or_http().enable_http1().build())
}

#[cfg(test)]
mod tests;
