//! A fake AWS STS that speaks the awsQuery protocol the AWS SDKs use and
//! really evaluates a web-identity trust relationship: issuer, audience,
//! expiry, role ARN and a `StringLike` subject condition, answering with the
//! status codes, error codes and messages real STS uses. Fault injection
//! (`StsMode`) reproduces throttling, outages, garbage and clock skew. The
//! actions are in `actions`; it also answers the role's IAM reads (`iam`), for
//! `--expect-access`.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::HeaderMap;
use hyper::{Request, StatusCode};

use super::issuer::{DEFAULT_AUDIENCE, DEFAULT_ISSUER, DEFAULT_SUBJECT, random_uuid, unix_now};
use super::server::{
    HangUp, LocalServer, Reply, form_decode, lock, random_upper_alnum, response, serve_loopback,
    set_header, xml_escape,
};

/// The XML namespace of every STS response.
const STS_XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
/// Largest request body read; STS's own limit for a whole request is far below this.
const MAX_BODY_BYTES: usize = 256 * 1024;

/// The trust relationship and identity the fake STS enforces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsConfig {
    /// The AWS partition (`aws`, `aws-cn`, `aws-us-gov`): the second field of every ARN.
    pub partition: String,
    /// The account that owns the role and the OIDC provider.
    pub account_id: String,
    /// The only role that can be assumed: `arn:<partition>:iam::<account_id>:role/<role_name>`.
    pub role_name: String,
    /// The OIDC issuer URL registered as an identity provider in the account.
    pub issuer: String,
    /// The provider's client id: the audience the token must carry.
    pub audience: String,
    /// The trust policy's `<issuer>:sub` condition, an IAM `StringLike` pattern (`*`, `?`).
    /// The policy itself is `trust_policy_json()`, judged by the real evaluator.
    pub allowed_subject: String,
    /// How long issued credentials last unless the caller asks for `DurationSeconds`.
    pub credentials_ttl: Duration,
    /// Whether the role may read itself in IAM (`GetRole`, its policies); without it every
    /// IAM read is refused with `AccessDenied`, as for a role lacking the permission.
    pub iam_readable: bool,
}

impl Default for StsConfig {
    /// Trusts exactly the token `TokenSpec::default()` describes.
    fn default() -> Self {
        StsConfig {
            partition: "aws".to_owned(),
            account_id: "111122223333".to_owned(),
            role_name: "demo".to_owned(),
            issuer: DEFAULT_ISSUER.to_owned(),
            audience: DEFAULT_AUDIENCE.to_owned(),
            allowed_subject: DEFAULT_SUBJECT.to_owned(),
            credentials_ttl: Duration::from_secs(3600),
            iam_readable: true,
        }
    }
}

impl StsConfig {
    /// The ARN of the role this STS lets a matching token assume.
    pub fn role_arn(&self) -> String {
        format!(
            "arn:{}:iam::{}:role/{}",
            self.partition, self.account_id, self.role_name
        )
    }

    /// The role's trust policy, shaped like the one `eksctl` writes: the cluster's OIDC provider,
    /// `sub` pinned with `StringLike` (so `*` works) and `aud` pinned to the provider's client id.
    pub fn trust_policy_json(&self) -> serde_json::Value {
        let host = self.issuer.trim_start_matches("https://");
        serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "AllowServiceAccount",
                "Effect": "Allow",
                "Principal": {"Federated": format!("arn:{}:iam::{}:oidc-provider/{host}", self.partition, self.account_id)},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringLike": {format!("{host}:sub"): self.allowed_subject},
                    "StringEquals": {format!("{host}:aud"): self.audience}
                }
            }]
        })
    }
}

/// Fault injection: how the fake answers every request until changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum StsMode {
    /// Evaluate requests like real STS.
    #[default]
    Healthy,
    /// AssumeRoleWithWebIdentity answers this error (e.g. `IDPCommunicationError`, `IDPRejectedClaim`).
    Error {
        /// HTTP status of the error response.
        status: u16,
        /// The awsQuery error code.
        code: String,
        /// The error message.
        message: String,
    },
    /// 400 `Throttling: Rate exceeded`, as when an account's STS quota is spent.
    Throttle,
    /// 500 `InternalFailure`.
    ServerError,
    /// 200 with a body that is not XML (a captive proxy, a misrouted endpoint).
    Garbage,
    /// Wait this long, then answer as `Healthy`.
    Slow(Duration),
    /// Close the connection without answering.
    Down,
    /// Healthy, except GetCallerIdentity reports this ARN for every key (role mismatch).
    CallerIs(String),
    /// Healthy, with the `Date` header this many seconds off (clock skew).
    ClockOffset(i64),
}

/// Who a set of credentials belongs to, as GetCallerIdentity reports it.
#[derive(Debug, Clone)]
struct Identity {
    arn: String,
    user_id: String,
    account: String,
}

impl Identity {
    /// Derives the account and a plausible unique id from an ARN.
    fn for_arn(arn: &str) -> Identity {
        let account = arn.split(':').nth(4).unwrap_or_default().to_owned();
        let user_id = match arn.split_once(":assumed-role/") {
            // Assumed roles report `<role id>:<session name>`.
            Some((_, rest)) => {
                let session = rest.rsplit('/').next().unwrap_or_default();
                format!("AROA{}:{session}", random_upper_alnum(17))
            }
            None => format!("AIDA{}", random_upper_alnum(17)),
        };
        Identity {
            arn: arn.to_owned(),
            user_id,
            account,
        }
    }
}

/// State shared by the handle and the connection tasks. Locks are held only
/// for a copy or an insert, never across an await.
#[derive(Debug)]
struct State {
    config: Mutex<StsConfig>,
    mode: Mutex<StsMode>,
    /// A fault for the next few AssumeRoleWithWebIdentity requests only: (how many, which).
    transient: Mutex<Option<(u64, StsMode)>>,
    identities: Mutex<HashMap<String, Identity>>,
    /// The unique id of the one role, fixed for the server's life like a real role's.
    role_id: String,
    requests: AtomicU64,
    assume_calls: AtomicU64,
    caller_identity_calls: AtomicU64,
    /// The role's inline policies (name, JSON), for the IAM reads of `--expect-access`.
    inline_policies: Mutex<Vec<(String, String)>>,
    iam_calls: AtomicU64,
}

/// A running fake STS on 127.0.0.1; it stops when dropped.
#[derive(Debug)]
pub struct FakeSts {
    state: Arc<State>,
    server: LocalServer,
}

impl FakeSts {
    /// Binds 127.0.0.1 on an OS-chosen port and starts serving on the current runtime.
    pub async fn start(config: StsConfig) -> io::Result<FakeSts> {
        let state = Arc::new(State {
            config: Mutex::new(config),
            mode: Mutex::new(StsMode::Healthy),
            transient: Mutex::new(None),
            identities: Mutex::new(HashMap::new()),
            role_id: format!("AROA{}", random_upper_alnum(17)),
            requests: AtomicU64::new(0),
            assume_calls: AtomicU64::new(0),
            caller_identity_calls: AtomicU64::new(0),
            inline_policies: Mutex::new(Vec::new()),
            iam_calls: AtomicU64::new(0),
        });
        let handler_state = Arc::clone(&state);
        let server = serve_loopback(move |req| handle(Arc::clone(&handler_state), req)).await?;
        Ok(FakeSts { state, server })
    }

    /// The base URL to give an SDK (`AWS_ENDPOINT_URL_STS`), e.g. `http://127.0.0.1:40123`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    /// The socket address the fake listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// The ARN of the role the current configuration lets a matching token assume.
    pub fn role_arn(&self) -> String {
        lock(&self.state.config).role_arn()
    }

    /// Every request received, whatever its action or outcome.
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::Relaxed)
    }

    /// AssumeRoleWithWebIdentity requests received, whatever their outcome.
    pub fn assume_calls(&self) -> u64 {
        self.state.assume_calls.load(Ordering::Relaxed)
    }

    /// GetCallerIdentity requests received, whatever their outcome.
    pub fn caller_identity_calls(&self) -> u64 {
        self.state.caller_identity_calls.load(Ordering::Relaxed)
    }

    /// Switches fault injection; applies to every request from now on.
    pub fn set_mode(&self, mode: StsMode) {
        *lock(&self.state.mode) = mode;
    }

    /// Answers the next `count` AssumeRoleWithWebIdentity requests with `mode`, then goes back
    /// to the mode set with `set_mode` (a transient blip: one 500, one dropped connection).
    pub fn fail_next(&self, count: u64, mode: StsMode) {
        *lock(&self.state.transient) = (count > 0).then_some((count, mode));
    }

    /// The current fault-injection mode.
    pub fn mode(&self) -> StsMode {
        lock(&self.state.mode).clone()
    }

    /// A copy of the current trust configuration.
    pub fn config(&self) -> StsConfig {
        lock(&self.state.config).clone()
    }

    /// Changes the trust configuration in place (e.g. `|c| c.allowed_subject = ...`).
    pub fn update_config(&self, change: impl FnOnce(&mut StsConfig)) {
        change(&mut lock(&self.state.config));
    }

    /// Sets (or replaces) the role's inline policy `name`, which IAM's
    /// `ListRolePolicies`/`GetRolePolicy` then answer (this fake is also the pod's IAM).
    pub fn set_inline_policy(&self, name: &str, document: &serde_json::Value) {
        let mut policies = lock(&self.state.inline_policies);
        policies.retain(|(n, _)| n != name);
        policies.push((name.to_owned(), document.to_string()));
    }

    /// IAM requests received (`GetRole`, `ListRolePolicies`, `GetRolePolicy`, `ListAttachedRolePolicies`).
    pub fn iam_calls(&self) -> u64 {
        self.state.iam_calls.load(Ordering::Relaxed)
    }

    /// Makes GetCallerIdentity answer `caller_arn` for `access_key_id` (static keys, node-role keys).
    pub fn register_credentials(&self, access_key_id: &str, caller_arn: &str) {
        lock(&self.state.identities)
            .insert(access_key_id.to_owned(), Identity::for_arn(caller_arn));
    }
}

/// One request, start to finish: read, count, apply the mode, evaluate, answer.
async fn handle(state: Arc<State>, req: Request<Incoming>) -> Reply {
    state.requests.fetch_add(1, Ordering::Relaxed);
    let request_id = random_uuid();
    let (parts, body) = req.into_parts();
    // A body that cannot be read (client gone, oversized) gets no answer at all.
    let body = Limited::new(body, MAX_BODY_BYTES)
        .collect()
        .await
        .map_err(|_| HangUp)?
        .to_bytes();

    // awsQuery parameters may come in the query string (GET) or the form body (POST); merge both.
    let mut params: HashMap<String, String> = parts
        .uri
        .query()
        .map(form_decode)
        .unwrap_or_default()
        .into_iter()
        .collect();
    params.extend(form_decode(&String::from_utf8_lossy(&body)));
    let action = params.get("Action").map_or("", String::as_str);
    let counter = match action {
        "AssumeRoleWithWebIdentity" => Some(&state.assume_calls),
        "GetCallerIdentity" => Some(&state.caller_identity_calls),
        "GetRole" | "ListRolePolicies" | "GetRolePolicy" | "ListAttachedRolePolicies" => {
            Some(&state.iam_calls)
        }
        _ => None,
    };
    if let Some(counter) = counter {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    let mode = match action {
        "AssumeRoleWithWebIdentity" => state.take_transient(),
        _ => None,
    }
    .unwrap_or_else(|| lock(&state.mode).clone());
    let answer = match &mode {
        StsMode::Down => return Err(HangUp),
        StsMode::Throttle => Answer::error(
            StatusCode::BAD_REQUEST,
            "Throttling",
            "Rate exceeded",
            &request_id,
        ),
        StsMode::ServerError => Answer::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailure",
            "The request processing has failed because of an unknown error, exception or failure.",
            &request_id,
        ),
        StsMode::Garbage => Answer {
            status: StatusCode::OK,
            content_type: "text/html",
            body: "<<< this is not the STS you are looking for >>>\n".to_owned(),
        },
        StsMode::Error {
            status,
            code,
            message,
        } if action == "AssumeRoleWithWebIdentity" => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST);
            Answer::error(status, code, message, &request_id)
        }
        StsMode::Slow(delay) => {
            tokio::time::sleep(*delay).await;
            state.dispatch(action, &params, &parts.headers, None, &request_id)
        }
        StsMode::CallerIs(arn) => {
            state.dispatch(action, &params, &parts.headers, Some(arn), &request_id)
        }
        StsMode::Healthy | StsMode::Error { .. } | StsMode::ClockOffset(_) => {
            state.dispatch(action, &params, &parts.headers, None, &request_id)
        }
    };

    let offset = match mode {
        StsMode::ClockOffset(seconds) => seconds,
        _ => 0,
    };
    let mut response = answer.into_response(unix_now().saturating_add(offset));
    set_header(&mut response, "x-amzn-requestid", &request_id);
    Ok(response)
}

impl State {
    /// The transient fault for this request, if one is still pending (and counts it used).
    fn take_transient(&self) -> Option<StsMode> {
        let mut transient = lock(&self.transient);
        let (left, mode) = transient.as_mut()?;
        let mode = mode.clone();
        *left -= 1;
        if *left == 0 {
            *transient = None;
        }
        Some(mode)
    }

    fn dispatch(
        &self,
        action: &str,
        params: &HashMap<String, String>,
        headers: &HeaderMap,
        caller_override: Option<&str>,
        request_id: &str,
    ) -> Answer {
        match action {
            "AssumeRoleWithWebIdentity" => self.assume_role_with_web_identity(params, request_id),
            "GetCallerIdentity" => self.get_caller_identity(headers, caller_override, request_id),
            "GetRole" | "ListRolePolicies" | "GetRolePolicy" | "ListAttachedRolePolicies" => {
                self.iam(action, params, request_id)
            }
            other => Answer::error(
                StatusCode::BAD_REQUEST,
                "InvalidAction",
                &format!("Could not find operation {other} for version 2011-06-15"),
                request_id,
            ),
        }
    }
}

/// An STS answer before the per-response headers are added.
struct Answer {
    status: StatusCode,
    content_type: &'static str,
    body: String,
}

impl Answer {
    fn success(action: &str, result: &str, request_id: &str) -> Answer {
        Answer {
            status: StatusCode::OK,
            content_type: "text/xml",
            body: format!(
                "<{action}Response xmlns=\"{STS_XMLNS}\">\n  <{action}Result>{result}</{action}Result>\n  \
                 <ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>\n</{action}Response>\n"
            ),
        }
    }

    /// The awsQuery error shape; `Type` is `Receiver` for the service's own failures.
    fn error(status: StatusCode, code: &str, message: &str, request_id: &str) -> Answer {
        let kind = if status.is_server_error() {
            "Receiver"
        } else {
            "Sender"
        };
        Answer {
            status,
            content_type: "text/xml",
            body: format!(
                "<ErrorResponse xmlns=\"{STS_XMLNS}\">\n  <Error>\n    <Type>{kind}</Type>\n    \
                 <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  <RequestId>{request_id}</RequestId>\n</ErrorResponse>\n",
                xml_escape(code),
                xml_escape(message),
            ),
        }
    }

    fn into_response(self, date_unix: i64) -> crate::server::Resp {
        response(self.status, self.content_type, self.body, date_unix)
    }
}

mod actions;
mod iam;
#[cfg(test)]
mod tests;
