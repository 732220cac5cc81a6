//! A fake OIDC issuer endpoint: the discovery document and the JWK set an EKS
//! cluster publishes, served on 127.0.0.1 so `--oidc-discovery-url` can point
//! at it. Keys can be rotated and the endpoint taken down.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::{Value, json};

use super::issuer::{Issuer, unix_now};
use super::server::{HangUp, LocalServer, Reply, lock, response, serve_loopback, set_header};

/// How the fake issuer endpoint behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OidcMode {
    /// Serves discovery and keys.
    #[default]
    Healthy,
    /// Answers 500 to everything.
    ServerError,
    /// Closes every connection without answering.
    Down,
}

struct State {
    issuer_url: String,
    jwks: Mutex<Value>,
    mode: Mutex<OidcMode>,
    requests: AtomicU64,
}

/// A running fake issuer endpoint; stops when dropped.
pub struct FakeOidc {
    state: Arc<State>,
    server: LocalServer,
}

impl FakeOidc {
    /// Serves `issuer`'s discovery document and keys on an OS-chosen loopback port.
    pub async fn start(issuer: &Issuer) -> io::Result<FakeOidc> {
        FakeOidc::start_with(issuer.issuer_url(), issuer.jwks()).await
    }

    /// Serves a discovery document for `issuer_url` and the given JWK set (keys made elsewhere).
    pub async fn start_with(issuer_url: &str, jwks: Value) -> io::Result<FakeOidc> {
        let state = Arc::new(State {
            issuer_url: issuer_url.to_owned(),
            jwks: Mutex::new(jwks),
            mode: Mutex::new(OidcMode::Healthy),
            requests: AtomicU64::new(0),
        });
        let handler_state = Arc::clone(&state);
        let server = serve_loopback(move |req| {
            let state = Arc::clone(&handler_state);
            async move { handle(&state, &req) }
        })
        .await?;
        Ok(FakeOidc { state, server })
    }

    /// The URL to give `--oidc-discovery-url`.
    pub fn discovery_url(&self) -> String {
        format!(
            "http://{}/.well-known/openid-configuration",
            self.server.addr
        )
    }

    /// Publishes another key set (a rotated or foreign signing key).
    pub fn set_keys(&self, jwks: Value) {
        *lock(&self.state.jwks) = jwks;
    }

    /// Changes how the endpoint answers.
    pub fn set_mode(&self, mode: OidcMode) {
        *lock(&self.state.mode) = mode;
    }

    /// Requests served so far.
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::Relaxed)
    }
}

fn handle(state: &State, req: &Request<Incoming>) -> Reply {
    state.requests.fetch_add(1, Ordering::Relaxed);
    let now = unix_now();
    match *lock(&state.mode) {
        OidcMode::Down => return Err(HangUp),
        OidcMode::ServerError => {
            return Ok(response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain",
                "internal error",
                now,
            ));
        }
        OidcMode::Healthy => {}
    }
    // The key URL must point back here, whatever port the OS chose.
    let host = req
        .headers()
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let body = match req.uri().path() {
        "/.well-known/openid-configuration" => json!({
            "issuer": state.issuer_url,
            "jwks_uri": format!("http://{host}/keys"),
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }),
        "/keys" => lock(&state.jwks).clone(),
        _ => {
            return Ok(response(
                StatusCode::NOT_FOUND,
                "text/plain",
                "not found",
                now,
            ));
        }
    };
    let mut r = response(StatusCode::OK, "application/json", body.to_string(), now);
    set_header(&mut r, "cache-control", "public, max-age=3600");
    Ok(r)
}
