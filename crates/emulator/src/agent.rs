//! A fake EKS Pod Identity agent on 127.0.0.1: answers `GET /v1/credentials`
//! with credentials when the `Authorization` header is the expected token, and
//! otherwise like the real agent does (400 with its message). Faults: 500, 429,
//! a slow answer, silence.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::json;

use super::issuer::unix_now;
use super::server::{LocalServer, Reply, lock, response, rfc3339, serve_loopback};

/// How the fake agent answers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AgentMode {
    /// Credentials for the expected token, 400 otherwise.
    #[default]
    Healthy,
    /// 500, as when EKS Auth fails behind the agent.
    ServerError,
    /// 429, as when EKS Auth throttles the agent's `AssumeRoleForPodIdentity` calls.
    Throttle,
    /// Accepts the connection, waits this long (EKS Auth is slow), then answers as `Healthy`.
    Slow(Duration),
    /// Accepts the connection and never answers (a hung agent).
    Silent,
}

struct State {
    expected_token: Mutex<Option<String>>,
    access_key_id: String,
    account_id: String,
    mode: Mutex<AgentMode>,
    requests: AtomicU64,
}

/// A running fake agent; stops when dropped.
pub struct FakeAgent {
    state: Arc<State>,
    server: LocalServer,
}

impl FakeAgent {
    /// Starts the agent; it hands out credentials with `access_key_id` in account `account_id`.
    pub async fn start(access_key_id: &str, account_id: &str) -> io::Result<FakeAgent> {
        let state = Arc::new(State {
            expected_token: Mutex::new(None),
            access_key_id: access_key_id.to_owned(),
            account_id: account_id.to_owned(),
            mode: Mutex::new(AgentMode::Healthy),
            requests: AtomicU64::new(0),
        });
        let handler_state = Arc::clone(&state);
        let server = serve_loopback(move |req| {
            let state = Arc::clone(&handler_state);
            async move { handle(&state, &req).await }
        })
        .await?;
        Ok(FakeAgent { state, server })
    }

    /// The full URI to give `AWS_CONTAINER_CREDENTIALS_FULL_URI`.
    pub fn uri(&self) -> String {
        format!("http://{}/v1/credentials", self.server.addr)
    }

    /// Only this token is accepted (trimmed); `None` accepts any non-empty one.
    pub fn expect_token(&self, token: Option<&str>) {
        *lock(&self.state.expected_token) = token.map(|t| t.trim().to_owned());
    }

    /// Changes how the agent answers.
    pub fn set_mode(&self, mode: AgentMode) {
        *lock(&self.state.mode) = mode;
    }

    /// Requests served so far.
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::Relaxed)
    }
}

async fn handle(state: &State, req: &Request<Incoming>) -> Reply {
    state.requests.fetch_add(1, Ordering::Relaxed);
    let now = unix_now();
    let mode = lock(&state.mode).clone();
    match mode {
        AgentMode::Silent => std::future::pending::<()>().await,
        AgentMode::ServerError => {
            return Ok(response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "application/json",
                json!({"message": "Service Unavailable: EKS Auth is not reachable"}).to_string(),
                now,
            ));
        }
        AgentMode::Throttle => {
            return Ok(response(
                StatusCode::TOO_MANY_REQUESTS,
                "application/json",
                json!({"message": "Rate exceeded"}).to_string(),
                now,
            ));
        }
        AgentMode::Slow(delay) => tokio::time::sleep(delay).await,
        AgentMode::Healthy => {}
    }
    if req.uri().path() != "/v1/credentials" {
        return Ok(response(
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found",
            now,
        ));
    }
    let presented = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim()
        .to_owned();
    let expected = lock(&state.expected_token).clone();
    let accepted = !presented.is_empty() && expected.as_deref().is_none_or(|e| e == presented);
    if !accepted {
        // The agent's own wording for a token that fails validation.
        return Ok(response(
            StatusCode::BAD_REQUEST,
            "application/json",
            json!({"message": "Invalid token: the service account token could not be validated"})
                .to_string(),
            now,
        ));
    }
    let body = json!({
        "AccessKeyId": state.access_key_id,
        "SecretAccessKey": "podIdentitySecretKeyExample0000000000000",
        "Token": "podIdentitySessionTokenExample",
        "AccountId": state.account_id,
        "Expiration": rfc3339(now + 6 * 3600),
    });
    Ok(response(
        StatusCode::OK,
        "application/json",
        body.to_string(),
        now,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::test_support::raw_http;

    async fn get(agent: &FakeAgent, token: &str) -> crate::harness::http::Response {
        let addr = agent.server.addr;
        raw_http(
            addr,
            &format!("GET /v1/credentials HTTP/1.1\r\nAuthorization: {token}"),
            "",
        )
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn modes() {
        let agent = FakeAgent::start("ASIAPODIDENTITYEXAMPLE", "111122223333")
            .await
            .unwrap();
        agent.expect_token(Some("good"));
        let ok = get(&agent, "good").await;
        assert_eq!(ok.status, 200);
        assert_eq!(ok.json()["AccessKeyId"], "ASIAPODIDENTITYEXAMPLE");
        assert_eq!(get(&agent, "bad").await.status, 400);

        agent.set_mode(AgentMode::Throttle);
        assert_eq!(get(&agent, "good").await.status, 429);
        agent.set_mode(AgentMode::ServerError);
        assert_eq!(get(&agent, "good").await.status, 500);

        agent.set_mode(AgentMode::Slow(Duration::from_millis(200)));
        let started = std::time::Instant::now();
        assert_eq!(get(&agent, "good").await.status, 200);
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert_eq!(agent.requests(), 5);
    }
}
