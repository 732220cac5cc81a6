//! The HTTP admin server (hyper 1, HTTP/1.1). Endpoints (docs/reference.md#http-endpoints):
//!
//! - `GET /`             landing page linking the endpoints
//! - `GET /metrics`      Prometheus text exposition
//! - `GET /debug`        the report: text, or JSON with `?format=json` / `Accept: application/json`
//! - `POST /debug/probe` run the live checks now, answer the fresh JSON report (429 within 10 s of the last probe)
//! - `GET /debug/policy` the least-privilege identity policy of the application's calls so far
//! - `GET /healthz`      `200 ok` while the process and its loops are alive
//! - `GET /readyz`       `200` once the first token read and first probe attempt are done, else `503`
//! - `GET /startupz`     the start gate: `503` until a test-assume or agent call succeeded, then
//!   `200` for good; `200` anyway after `--startup-gate-timeout` (the findings say why)
//!
//! Anything else is `404`, a known path with the wrong method `405`. `HEAD`
//! is accepted wherever `GET` is. Only `POST /debug/probe` may wait on STS;
//! every other request reads the latest snapshot.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{ACCEPT, ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::metrics;
use crate::state::State;
use crate::web_config::{self, Web};

/// How long a client may take to send its request headers, also between requests on a
/// kept-alive connection: idle and slowloris connections are closed after this.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections served at once. Beyond this, new ones get an immediate 503 instead of
/// waiting in the accept queue, so a flood cannot starve Prometheus' scrape for long.
pub const MAX_CONNECTIONS: usize = 1024;
/// The whole answer to a connection over the limit.
const OVERLOADED: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 26\r\nconnection: close\r\n\r\ntoo many open connections\n";
/// How long in-flight requests get to finish on shutdown (SIGTERM must exit within a second).
const DRAIN_TIMEOUT: Duration = Duration::from_millis(500);

type Body = Full<Bytes>;

/// Runs live checks on request (`POST /debug/probe`); `None` until live probing is wired in.
pub trait Prober: Send + Sync {
    /// Runs a probe now unless one ran within the rate limit; `false` when refused.
    fn probe_now(&self) -> std::pin::Pin<Box<dyn Future<Output = bool> + Send + '_>>;
}

/// What the server needs: the state and, optionally, a way to probe on demand.
#[derive(Clone)]
pub struct App {
    /// Shared state.
    pub state: Arc<State>,
    /// On-demand prober.
    pub prober: Option<Arc<dyn Prober>>,
}

/// Pending connections the kernel queues for us (capped by `net.core.somaxconn`). Larger than
/// the connection cap, so a burst is accepted and shed with 503 instead of SYNs being dropped
/// and retried by clients for seconds.
const LISTEN_BACKLOG: u32 = 4096;

/// Binds the admin listener with a deep accept queue.
pub fn bind(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Serves until `shutdown` resolves, then drains connections for at most `DRAIN_TIMEOUT`.
pub async fn serve(listener: TcpListener, app: App, shutdown: impl Future<Output = ()>) {
    serve_with(listener, app, None, shutdown).await
}

/// `serve` with the `--web-config-file` settings: TLS on every connection and basic auth
/// on every path but `/healthz` and `/readyz` (src/web_config/, src/tls.rs).
pub async fn serve_with(
    listener: TcpListener,
    app: App,
    web: Option<Arc<Web>>,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(64 * 1024);
    tokio::pin!(shutdown);
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // EMFILE and friends: back off briefly instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                                let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                    tokio::spawn(async move {
                        use tokio::io::AsyncWriteExt;
                        let mut stream = stream;
                        let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(OVERLOADED)).await;
                    });
                    continue;
                };
                let app = app.clone();
                let tls = web.clone().filter(|w| w.tls.is_some());
                let web = web.clone();
                let service = service_fn(move |req: Request<Incoming>| {
                    let app = app.clone();
                    let web = web.clone();
                    async move {
                        // --- web config hook: basic auth before routing.
                        let auth = web.as_deref().and_then(|w| w.auth.as_ref());
                        if let Some(denied) = web_config::gate(auth, req.uri().path(), req.headers()).await {
                            return Ok::<_, Infallible>(denied);
                        }
                        Ok::<_, Infallible>(handle(&app, req).await)
                    }
                });
                let watcher = graceful.watcher();
                let builder = builder.clone();
                tokio::spawn(async move {
                    let ended = match tls.as_deref().and_then(|w| w.tls.as_ref()) {
                        None => watcher.watch(builder.serve_connection(TokioIo::new(stream), service)).await,
                        // --- web config hook: the TLS handshake, bounded like a slow header read.
                        Some(tls) => match tokio::time::timeout(HEADER_READ_TIMEOUT, tls.accept(stream)).await {
                            Ok(Ok(stream)) => watcher.watch(builder.serve_connection(TokioIo::new(stream), service)).await,
                            Ok(Err(e)) => {
                                tracing::debug!(error = %e, "TLS handshake failed");
                                Ok(())
                            }
                            Err(_) => {
                                tracing::debug!("TLS handshake timed out");
                                Ok(())
                            }
                        },
                    };
                    if let Err(e) = ended {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                    drop(slot);
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::debug!("connections still open at shutdown; closing them");
    }
}

/// Routes one request.
pub async fn handle(app: &App, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path();
    let method = req.method();
    let is_get = method == Method::GET || method == Method::HEAD;
    let head = method == Method::HEAD;
    let state = &app.state;
    let response = match path {
        "/" if is_get => html(LANDING),
        "/metrics" if is_get => respond(
            StatusCode::OK,
            metrics::CONTENT_TYPE,
            state.metrics_text(crate::host::now()),
        ),
        "/debug" if is_get => {
            let report = state.report(crate::host::now());
            if wants_json(&req) {
                json(StatusCode::OK, report.to_json())
            } else {
                respond(
                    StatusCode::OK,
                    "text/plain; charset=utf-8",
                    report.to_text(),
                )
            }
        }
        "/debug/probe" if method == Method::POST => match &app.prober {
            Some(prober) => {
                let ran = prober.probe_now().await;
                let status = if ran {
                    StatusCode::OK
                } else {
                    StatusCode::TOO_MANY_REQUESTS
                };
                json(status, state.report(crate::host::now()).to_json())
            }
            None => respond(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain; charset=utf-8",
                "live probing is not available in this mode\n",
            ),
        },
        "/debug/policy" if is_get => json(StatusCode::OK, state.policy_document()),
        "/healthz" if is_get => respond(StatusCode::OK, "text/plain; charset=utf-8", "ok\n"),
        "/readyz" if is_get => {
            if state.is_ready() {
                respond(StatusCode::OK, "text/plain; charset=utf-8", "ready\n")
            } else {
                respond(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain; charset=utf-8",
                    "not ready: waiting for the first token read and probe attempt\n",
                )
            }
        }
        "/startupz" if is_get => match state.startup_gate() {
            Some(opened) => respond(
                StatusCode::OK,
                "text/plain; charset=utf-8",
                format!("open: {}\n", opened.describe()),
            ),
            None => respond(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain; charset=utf-8",
                "closed: waiting for a test-assume or agent call to succeed\n",
            ),
        },
        "/" | "/metrics" | "/debug" | "/debug/policy" | "/healthz" | "/readyz" | "/startupz" => {
            method_not_allowed("GET, HEAD")
        }
        "/debug/probe" => method_not_allowed("POST"),
        _ => respond(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found\n",
        ),
    };
    if head {
        let (parts, _) = response.into_parts();
        return Response::from_parts(parts, Body::default());
    }
    response
}

fn wants_json(req: &Request<Incoming>) -> bool {
    let query_json = req.uri().query().is_some_and(|q| {
        q.split('&')
            .any(|kv| kv.eq_ignore_ascii_case("format=json"))
    });
    let query_text = req.uri().query().is_some_and(|q| {
        q.split('&')
            .any(|kv| kv.eq_ignore_ascii_case("format=text"))
    });
    let accept_json = req
        .headers()
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("application/json"));
    query_json || (accept_json && !query_text)
}

fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut r = Response::new(Body::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn json(status: StatusCode, body: String) -> Response<Body> {
    respond(status, "application/json", body)
}

fn html(body: &'static str) -> Response<Body> {
    respond(StatusCode::OK, "text/html; charset=utf-8", body)
}

fn method_not_allowed(allow: &'static str) -> Response<Body> {
    let mut r = respond(
        StatusCode::METHOD_NOT_ALLOWED,
        "text/plain; charset=utf-8",
        format!("method not allowed; use {allow}\n"),
    );
    r.headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    r
}

const LANDING: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>irsa-doctor</title></head>
<body><h1>irsa-doctor</h1>
<p>In-pod diagnostics for EKS IAM Roles for Service Accounts.</p>
<ul>
<li><a href="/debug">/debug</a> (report; <a href="/debug?format=json">JSON</a>)</li>
<li><a href="/metrics">/metrics</a></li>
<li><a href="/healthz">/healthz</a>, <a href="/readyz">/readyz</a>, <a href="/startupz">/startupz</a></li>
<li><a href="/debug/policy">/debug/policy</a> (least-privilege policy of the application's calls)</li>
<li><code>POST /debug/probe</code> runs the live checks now</li>
</ul></body></html>
"#;
