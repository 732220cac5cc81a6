//! A fake EC2 instance metadata service (IMDS) serving a node instance
//! role's credentials the way the AWS SDKs fetch them: an IMDSv2 session
//! token (`PUT /latest/api/token`), then the role name, then the role's
//! credentials. Modes reproduce the hardening choices a cluster may have made
//! (IMDSv2 required, hop limit blocking v2, IMDS off) and a black hole.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};

use super::issuer::unix_now;
use super::server::{
    HangUp, LocalServer, Reply, lock, random_secret, random_session_token, response, rfc3339,
    serve_loopback, set_header,
};

const TOKEN_PATH: &str = "/latest/api/token";
const CREDENTIALS_PATH: &str = "/latest/meta-data/iam/security-credentials/";
const TTL_HEADER: &str = "x-aws-ec2-metadata-token-ttl-seconds";
const TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";
/// IMDS accepts session token TTLs from 1 s to 6 h.
const MAX_TOKEN_TTL: i64 = 21_600;
/// How long the node role's credentials are said to last, as IMDS rotates them.
const CREDENTIALS_LIFETIME: i64 = 6 * 3600;

/// The instance and role the fake IMDS describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImdsConfig {
    /// The node's instance-profile role.
    pub role_name: String,
    /// The access key id of the role's credentials, fixed so tests can register it with the fake STS.
    pub access_key_id: String,
    /// The AWS partition of the instance's role (`aws`, `aws-cn`, `aws-us-gov`).
    pub partition: String,
    /// The account the instance runs in.
    pub account_id: String,
    /// The instance id, which is also the role session name of node-role credentials.
    pub instance_id: String,
    /// The region served at `/latest/meta-data/placement/region` (the SDK's last region source).
    pub region: String,
}

impl Default for ImdsConfig {
    /// An EKS worker node in the same account as `StsConfig::default()`.
    fn default() -> Self {
        ImdsConfig {
            role_name: "eks-node-role".to_owned(),
            access_key_id: "ASIANODEROLEEXAMPLE1".to_owned(),
            partition: "aws".to_owned(),
            account_id: "111122223333".to_owned(),
            instance_id: "i-0123456789abcdef0".to_owned(),
            region: "us-east-1".to_owned(),
        }
    }
}

impl ImdsConfig {
    /// What GetCallerIdentity says for the node role's credentials:
    /// `arn:<partition>:sts::<account>:assumed-role/<role>/<instance id>`.
    pub fn node_caller_arn(&self) -> String {
        format!(
            "arn:{}:sts::{}:assumed-role/{}/{}",
            self.partition, self.account_id, self.role_name, self.instance_id
        )
    }
}

/// Which metadata protocols the instance allows, or how it misbehaves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ImdsMode {
    /// `http_tokens=optional`: IMDSv2 tokens are issued and IMDSv1 (no token) GETs work.
    #[default]
    Both,
    /// `http_tokens=required`: a GET without a token gets 401.
    V2Only,
    /// The token PUT is refused with 403 (v2 unreachable) while token-less GETs still work.
    V1Only,
    /// Nothing works: PUT 403, GET 401.
    Neither,
    /// Accepts connections and never answers (a black-holed link-local address).
    Silent,
}

/// State shared by the handle and the connection tasks; locks are never held across an await.
#[derive(Debug)]
struct State {
    config: ImdsConfig,
    mode: Mutex<ImdsMode>,
    /// Issued session tokens and when each expires (Unix seconds).
    tokens: Mutex<HashMap<String, i64>>,
    secret_access_key: String,
    session_token: String,
    requests: AtomicU64,
    credential_fetches: AtomicU64,
}

/// A running fake IMDS on 127.0.0.1; it stops when dropped.
#[derive(Debug)]
pub struct FakeImds {
    state: Arc<State>,
    server: LocalServer,
}

impl FakeImds {
    /// Binds 127.0.0.1 on an OS-chosen port and starts serving on the current runtime.
    pub async fn start(config: ImdsConfig) -> io::Result<FakeImds> {
        let state = Arc::new(State {
            config,
            mode: Mutex::new(ImdsMode::default()),
            tokens: Mutex::new(HashMap::new()),
            secret_access_key: random_secret(),
            session_token: random_session_token(),
            requests: AtomicU64::new(0),
            credential_fetches: AtomicU64::new(0),
        });
        let handler_state = Arc::clone(&state);
        let server = serve_loopback(move |req| {
            let state = Arc::clone(&handler_state);
            async move { state.handle(req).await }
        })
        .await?;
        Ok(FakeImds { state, server })
    }

    /// The base URL to give an SDK (`AWS_EC2_METADATA_SERVICE_ENDPOINT`), e.g. `http://127.0.0.1:40124`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    /// The socket address the fake listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// The instance and role this IMDS describes.
    pub fn config(&self) -> &ImdsConfig {
        &self.state.config
    }

    /// Every request received, answered or not.
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::Relaxed)
    }

    /// Successful fetches of the role's credentials: how often someone took the node role.
    pub fn credential_fetches(&self) -> u64 {
        self.state.credential_fetches.load(Ordering::Relaxed)
    }

    /// Switches which protocols work; applies to every request from now on.
    pub fn set_mode(&self, mode: ImdsMode) {
        *lock(&self.state.mode) = mode;
    }

    /// The current mode.
    pub fn mode(&self) -> ImdsMode {
        *lock(&self.state.mode)
    }
}

impl State {
    async fn handle(&self, req: Request<Incoming>) -> Reply {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mode = *lock(&self.mode);
        if mode == ImdsMode::Silent {
            // Hold the connection open until the client gives up or the server is dropped.
            std::future::pending::<()>().await;
            return Err(HangUp);
        }
        let now = unix_now();
        let text = |status: StatusCode, body: String| {
            let mut answer = response(status, "text/plain", body, now);
            set_header(&mut answer, "server", "EC2ws");
            answer
        };
        let path = req.uri().path();
        let headers = req.headers();

        if path == TOKEN_PATH {
            if req.method() != Method::PUT {
                return Ok(text(StatusCode::METHOD_NOT_ALLOWED, String::new()));
            }
            // IMDS refuses token requests that went through a proxy, so tokens stay on the host.
            if headers.contains_key("x-forwarded-for")
                || matches!(mode, ImdsMode::V1Only | ImdsMode::Neither)
            {
                return Ok(text(StatusCode::FORBIDDEN, String::new()));
            }
            let ttl = headers
                .get(TTL_HEADER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<i64>().ok())
                .filter(|ttl| (1..=MAX_TOKEN_TTL).contains(ttl));
            let Some(ttl) = ttl else {
                return Ok(text(StatusCode::BAD_REQUEST, String::new()));
            };
            let token = format!("AQAEA{}", random_secret());
            {
                let mut tokens = lock(&self.tokens);
                tokens.retain(|_, expires| *expires > now);
                tokens.insert(token.clone(), now.saturating_add(ttl));
            }
            let mut answer = text(StatusCode::OK, token);
            // The SDK fails with `NoTtl` without this echo.
            set_header(&mut answer, TTL_HEADER, &ttl.to_string());
            return Ok(answer);
        }

        if req.method() != Method::GET {
            return Ok(text(StatusCode::METHOD_NOT_ALLOWED, String::new()));
        }
        let authorized = match headers.get(TOKEN_HEADER) {
            // A presented token must be valid whatever the mode.
            Some(token) => token
                .to_str()
                .ok()
                .and_then(|t| lock(&self.tokens).get(t).copied())
                .is_some_and(|expires| expires > now),
            None => matches!(mode, ImdsMode::Both | ImdsMode::V1Only),
        };
        if !authorized || mode == ImdsMode::Neither {
            return Ok(text(StatusCode::UNAUTHORIZED, String::new()));
        }

        let config = &self.config;
        let not_found = || Ok(text(StatusCode::NOT_FOUND, NOT_FOUND_PAGE.to_owned()));
        match path {
            "/latest/meta-data/instance-id" => Ok(text(StatusCode::OK, config.instance_id.clone())),
            "/latest/meta-data/placement/region" => Ok(text(StatusCode::OK, config.region.clone())),
            p if p == CREDENTIALS_PATH || p == CREDENTIALS_PATH.trim_end_matches('/') => {
                Ok(text(StatusCode::OK, config.role_name.clone()))
            }
            p => match p.strip_prefix(CREDENTIALS_PATH) {
                Some(role) if role.trim_end_matches('/') == config.role_name => {
                    self.credential_fetches.fetch_add(1, Ordering::Relaxed);
                    Ok(text(StatusCode::OK, self.credentials_json(now)))
                }
                _ => not_found(),
            },
        }
    }

    /// The instance-profile credentials document, shaped as IMDS serves it.
    fn credentials_json(&self, now: i64) -> String {
        let document = serde_json::json!({
            "Code": "Success",
            "LastUpdated": rfc3339(now),
            "Type": "AWS-HMAC",
            "AccessKeyId": self.config.access_key_id,
            "SecretAccessKey": self.secret_access_key,
            "Token": self.session_token,
            "Expiration": rfc3339(now.saturating_add(CREDENTIALS_LIFETIME)),
        });
        // Pretty-printed like the real service's answer.
        serde_json::to_string_pretty(&document).unwrap_or_else(|_| document.to_string())
    }
}

const NOT_FOUND_PAGE: &str = "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>\n\
<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\"\n\
\t\"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd\">\n\
<html xmlns=\"http://www.w3.org/1999/xhtml\" xml:lang=\"en\" lang=\"en\">\n\
 <head>\n  <title>404 - Not Found</title>\n </head>\n <body>\n  <h1>404 - Not Found</h1>\n </body>\n</html>\n";

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::harness::http::Response;
    use crate::server::test_support::{raw_http, raw_http_within};
    use aws_config::imds::credentials::ImdsCredentialsProvider;
    use aws_sdk_sts::config::ProvideCredentials;

    fn sdk_provider(fake: &FakeImds) -> ImdsCredentialsProvider {
        let client = aws_config::imds::Client::builder()
            .endpoint(fake.endpoint())
            .unwrap()
            .build();
        ImdsCredentialsProvider::builder()
            .imds_client(client)
            .build()
    }

    async fn get(fake: &FakeImds, path: &str, token: Option<&str>) -> Response {
        let head = match token {
            Some(token) => format!("GET {path} HTTP/1.1\r\n{TOKEN_HEADER}: {token}"),
            None => format!("GET {path} HTTP/1.1"),
        };
        raw_http(fake.local_addr(), &head, "").await.unwrap()
    }

    async fn put_token(fake: &FakeImds, ttl: Option<&str>) -> Response {
        let head = match ttl {
            Some(ttl) => format!("PUT {TOKEN_PATH} HTTP/1.1\r\n{TTL_HEADER}: {ttl}"),
            None => format!("PUT {TOKEN_PATH} HTTP/1.1"),
        };
        raw_http(fake.local_addr(), &head, "").await.unwrap()
    }

    fn body(response: &Response) -> &str {
        &response.body
    }

    fn status(response: &Response) -> Option<u16> {
        Some(response.status)
    }

    #[tokio::test]
    async fn sdk_resolves_node_role_credentials() {
        let fake = FakeImds::start(ImdsConfig::default()).await.unwrap();
        let credentials = sdk_provider(&fake).provide_credentials().await.unwrap();
        assert_eq!(credentials.access_key_id(), "ASIANODEROLEEXAMPLE1");
        assert!(credentials.session_token().is_some());
        let lifetime = credentials
            .expiry()
            .unwrap()
            .duration_since(std::time::SystemTime::now())
            .unwrap();
        assert!(lifetime > Duration::from_secs(5 * 3600), "{lifetime:?}");
        // PUT token, GET role name, GET role credentials.
        assert_eq!(fake.requests(), 3);
        assert_eq!(fake.credential_fetches(), 1);
        assert_eq!(
            fake.config().node_caller_arn(),
            "arn:aws:sts::111122223333:assumed-role/eks-node-role/i-0123456789abcdef0"
        );
    }

    #[tokio::test]
    async fn sdk_is_v2_only_so_v1_only_instances_give_it_nothing() {
        let fake = FakeImds::start(ImdsConfig::default()).await.unwrap();
        fake.set_mode(ImdsMode::V1Only);
        assert!(sdk_provider(&fake).provide_credentials().await.is_err());
        assert_eq!(fake.credential_fetches(), 0);
    }

    #[tokio::test]
    async fn v2_token_flow_and_ttl_echo() {
        let fake = FakeImds::start(ImdsConfig::default()).await.unwrap();
        fake.set_mode(ImdsMode::V2Only);

        let issued = put_token(&fake, Some("300")).await;
        assert_eq!(status(&issued), Some(200));
        assert_eq!(issued.header(TTL_HEADER), Some("300"));
        let token = body(&issued).to_owned();

        assert_eq!(status(&get(&fake, CREDENTIALS_PATH, None).await), Some(401));
        assert_eq!(
            status(&get(&fake, CREDENTIALS_PATH, Some("bogus")).await),
            Some(401)
        );
        let listed = get(&fake, CREDENTIALS_PATH, Some(&token)).await;
        assert_eq!(body(&listed), "eks-node-role");
        let creds = get(
            &fake,
            "/latest/meta-data/iam/security-credentials/eks-node-role",
            Some(&token),
        )
        .await;
        let doc: serde_json::Value = serde_json::from_str(body(&creds)).unwrap();
        assert_eq!(doc["Code"], "Success");
        assert_eq!(doc["Type"], "AWS-HMAC");
        assert_eq!(doc["AccessKeyId"], "ASIANODEROLEEXAMPLE1");
        let other = get(
            &fake,
            "/latest/meta-data/iam/security-credentials/other-role",
            Some(&token),
        )
        .await;
        assert_eq!(status(&other), Some(404));

        for bad in [None, Some("0"), Some("21601"), Some("soon")] {
            assert_eq!(
                status(&put_token(&fake, bad).await),
                Some(400),
                "ttl {bad:?}"
            );
        }
        let proxied = raw_http(
            fake.local_addr(),
            &format!("PUT {TOKEN_PATH} HTTP/1.1\r\n{TTL_HEADER}: 60\r\nX-Forwarded-For: 10.0.0.1"),
            "",
        )
        .await
        .unwrap();
        assert_eq!(status(&proxied), Some(403));
    }

    #[tokio::test]
    async fn v1_only_and_neither_modes() {
        let fake = FakeImds::start(ImdsConfig::default()).await.unwrap();
        fake.set_mode(ImdsMode::V1Only);
        assert_eq!(status(&put_token(&fake, Some("60")).await), Some(403));
        let listed = get(&fake, CREDENTIALS_PATH, None).await;
        assert_eq!(status(&listed), Some(200));
        assert_eq!(body(&listed), "eks-node-role");
        let region = get(&fake, "/latest/meta-data/placement/region", None).await;
        assert_eq!(body(&region), "us-east-1");

        fake.set_mode(ImdsMode::Neither);
        assert_eq!(status(&put_token(&fake, Some("60")).await), Some(403));
        assert_eq!(status(&get(&fake, CREDENTIALS_PATH, None).await), Some(401));

        // Default mode serves both.
        fake.set_mode(ImdsMode::Both);
        let issued = put_token(&fake, Some("60")).await;
        assert_eq!(status(&issued), Some(200));
        assert_eq!(status(&get(&fake, CREDENTIALS_PATH, None).await), Some(200));
        assert_eq!(
            status(&get(&fake, CREDENTIALS_PATH, Some(body(&issued))).await),
            Some(200)
        );
    }

    #[tokio::test]
    async fn silent_mode_never_answers() {
        let fake = FakeImds::start(ImdsConfig::default()).await.unwrap();
        fake.set_mode(ImdsMode::Silent);
        let head = format!("PUT {TOKEN_PATH} HTTP/1.1\r\n{TTL_HEADER}: 60");
        let answer =
            raw_http_within(fake.local_addr(), &head, "", Duration::from_millis(300)).await;
        assert!(
            answer.as_ref().is_err_and(|e| matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            )),
            "expected no answer, got {answer:?}"
        );
        assert_eq!(fake.requests(), 1);
    }
}
