//! A fake AWS STS that speaks the awsQuery protocol the AWS SDKs use and
//! really evaluates a web-identity trust relationship: issuer, audience,
//! expiry, role ARN and a `StringLike` subject condition, answering with the
//! status codes, error codes and messages real STS uses. Fault injection
//! (`StsMode`) reproduces throttling, outages, garbage and clock skew.
//!
//! Also home to the small HTTP plumbing the other emulators share: a loopback
//! server task that dies with its handle, and form/XML/date helpers.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, DATE, HeaderMap, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

use super::issuer::{DEFAULT_AUDIENCE, DEFAULT_ISSUER, DEFAULT_SUBJECT, random_uuid, unix_now};

/// The XML namespace of every STS response.
const STS_XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
/// Largest request body read; STS's own limit for a whole request is far below this.
const MAX_BODY_BYTES: usize = 256 * 1024;

/// The trust relationship and identity the fake STS enforces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsConfig {
    /// The account that owns the role and the OIDC provider.
    pub account_id: String,
    /// The only role that can be assumed: `arn:aws:iam::<account_id>:role/<role_name>`.
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
}

impl Default for StsConfig {
    /// Trusts exactly the token `TokenSpec::default()` describes.
    fn default() -> Self {
        StsConfig {
            account_id: "111122223333".to_owned(),
            role_name: "demo".to_owned(),
            issuer: DEFAULT_ISSUER.to_owned(),
            audience: DEFAULT_AUDIENCE.to_owned(),
            allowed_subject: DEFAULT_SUBJECT.to_owned(),
            credentials_ttl: Duration::from_secs(3600),
        }
    }
}

impl StsConfig {
    /// The ARN of the role this STS lets a matching token assume.
    pub fn role_arn(&self) -> String {
        format!("arn:aws:iam::{}:role/{}", self.account_id, self.role_name)
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
                "Principal": {"Federated": format!("arn:aws:iam::{}:oidc-provider/{host}", self.account_id)},
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
    identities: Mutex<HashMap<String, Identity>>,
    /// The unique id of the one role, fixed for the server's life like a real role's.
    role_id: String,
    requests: AtomicU64,
    assume_calls: AtomicU64,
    caller_identity_calls: AtomicU64,
    /// issue 14: the role's inline policies (name, JSON), for the IAM reads of `--expect-access`.
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

    /// issue 14: sets (or replaces) the role's inline policy `name`, which IAM's
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

    let mode = lock(&state.mode).clone();
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

    /// Evaluates the token the way STS does, in STS's order: parse, provider, audience, expiry, trust policy.
    fn assume_role_with_web_identity(
        &self,
        params: &HashMap<String, String>,
        request_id: &str,
    ) -> Answer {
        let invalid = |message: &str| {
            Answer::error(
                StatusCode::BAD_REQUEST,
                "InvalidIdentityToken",
                message,
                request_id,
            )
        };
        let param = |name: &str| params.get(name).filter(|v| !v.is_empty());
        let (role_arn, session, token) = match (
            param("RoleArn"),
            param("RoleSessionName"),
            param("WebIdentityToken"),
        ) {
            (Some(r), Some(s), Some(t)) => (r, s, t),
            (r, s, _) => {
                let missing = if r.is_none() {
                    "roleArn"
                } else if s.is_none() {
                    "roleSessionName"
                } else {
                    "webIdentityToken"
                };
                return Answer::error(
                    StatusCode::BAD_REQUEST,
                    "ValidationError",
                    &format!(
                        "1 validation error detected: Value null at '{missing}' failed to satisfy constraint: Member must not be null"
                    ),
                    request_id,
                );
            }
        };
        let config = lock(&self.config).clone();
        let now = unix_now();

        let Ok(decoded) = irsa_doctor_core::token::decode(token) else {
            return invalid("Couldn't parse the web identity token");
        };
        let claims = decoded.claims;
        // The same evaluator irsa-doctor uses, so the demo's denials are the real explanations.
        let trusted =
            irsa_doctor_core::trust_policy::parse(&config.trust_policy_json().to_string())
                .map(|policy| irsa_doctor_core::trust_policy::evaluate(&policy, &claims).verdict)
                .is_ok_and(|v| v == irsa_doctor_core::trust_policy::Verdict::Allowed);
        let issuer = claims.issuer.unwrap_or_default();
        if issuer != config.issuer {
            return invalid(&format!(
                "No OpenIDConnect provider found in your account for {issuer}"
            ));
        }
        if !claims.audiences.contains(&config.audience) {
            return invalid("Incorrect token audience");
        }
        let Some(expires_at) = claims.expires_at else {
            return invalid("Missing a required claim: exp");
        };
        if expires_at <= now {
            return Answer::error(
                StatusCode::BAD_REQUEST,
                "ExpiredTokenException",
                &format!(
                    "Token expired: current date/time {now} must be before the expiration date/time {expires_at}"
                ),
                request_id,
            );
        }
        let subject = claims.subject.unwrap_or_default();
        // STS does not say which condition failed, or whether the role exists: one message for all.
        if *role_arn != config.role_arn() || !trusted {
            return Answer::error(
                StatusCode::FORBIDDEN,
                "AccessDenied",
                "Not authorized to perform sts:AssumeRoleWithWebIdentity",
                request_id,
            );
        }

        let ttl = params
            .get("DurationSeconds")
            .and_then(|d| d.parse::<i64>().ok())
            .unwrap_or_else(|| i64::try_from(config.credentials_ttl.as_secs()).unwrap_or(3600));
        let access_key_id = format!("ASIA{}", random_upper_alnum(16));
        let identity = Identity {
            arn: format!(
                "arn:aws:sts::{}:assumed-role/{}/{session}",
                config.account_id, config.role_name
            ),
            user_id: format!("{}:{session}", self.role_id),
            account: config.account_id.clone(),
        };
        lock(&self.identities).insert(access_key_id.clone(), identity.clone());

        let result = format!(
            "<Credentials>\
             <AccessKeyId>{access_key_id}</AccessKeyId>\
             <SecretAccessKey>{secret}</SecretAccessKey>\
             <SessionToken>{session_token}</SessionToken>\
             <Expiration>{expiration}</Expiration>\
             </Credentials>\
             <SubjectFromWebIdentityToken>{subject}</SubjectFromWebIdentityToken>\
             <AssumedRoleUser><AssumedRoleId>{user_id}</AssumedRoleId><Arn>{arn}</Arn></AssumedRoleUser>\
             <Provider>{provider}</Provider>\
             <Audience>{audience}</Audience>",
            secret = random_secret(),
            session_token = random_session_token(),
            expiration = rfc3339(now.saturating_add(ttl)),
            subject = xml_escape(&subject),
            user_id = xml_escape(&identity.user_id),
            arn = xml_escape(&identity.arn),
            provider = xml_escape(&issuer),
            audience = xml_escape(&config.audience),
        );
        Answer::success("AssumeRoleWithWebIdentity", &result, request_id)
    }

    /// Answers who the SigV4 `Credential=` key belongs to; the signature itself is not checked.
    fn get_caller_identity(
        &self,
        headers: &HeaderMap,
        caller_override: Option<&str>,
        request_id: &str,
    ) -> Answer {
        let Some(access_key_id) = sigv4_access_key_id(headers) else {
            return Answer::error(
                StatusCode::FORBIDDEN,
                "MissingAuthenticationToken",
                "Request is missing Authentication Token",
                request_id,
            );
        };
        let identity = match caller_override {
            Some(arn) => Identity::for_arn(arn),
            None => match lock(&self.identities).get(&access_key_id).cloned() {
                Some(identity) => identity,
                None => {
                    return Answer::error(
                        StatusCode::FORBIDDEN,
                        "InvalidClientTokenId",
                        "The security token included in the request is invalid.",
                        request_id,
                    );
                }
            },
        };
        let result = format!(
            "<Arn>{}</Arn><UserId>{}</UserId><Account>{}</Account>",
            xml_escape(&identity.arn),
            xml_escape(&identity.user_id),
            xml_escape(&identity.account),
        );
        Answer::success("GetCallerIdentity", &result, request_id)
    }
}

/// The IAM namespace: the fake STS also answers the role's IAM reads (issue 14).
const IAM_XMLNS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";

impl State {
    /// issue 14: the IAM reads `--expect-access` makes, for the one role; documents URL-encoded as IAM does.
    fn iam(&self, action: &str, params: &HashMap<String, String>, request_id: &str) -> Answer {
        let config = lock(&self.config).clone();
        let no_such_role = || {
            Answer::error(
                StatusCode::NOT_FOUND,
                "NoSuchEntity",
                &format!(
                    "The role with name {} cannot be found.",
                    params.get("RoleName").map_or("", String::as_str)
                ),
                request_id,
            )
        };
        if params.get("RoleName") != Some(&config.role_name) {
            return no_such_role();
        }
        let policies = lock(&self.inline_policies).clone();
        let result = match action {
            "GetRole" => format!(
                "<Role><Path>/</Path><RoleName>{}</RoleName><RoleId>{}</RoleId><Arn>{}</Arn>\
                 <CreateDate>2026-01-01T00:00:00Z</CreateDate><AssumeRolePolicyDocument>{}</AssumeRolePolicyDocument></Role>",
                xml_escape(&config.role_name),
                xml_escape(&self.role_id),
                xml_escape(&config.role_arn()),
                percent_encode(&config.trust_policy_json().to_string()),
            ),
            "ListRolePolicies" => format!(
                "<PolicyNames>{}</PolicyNames><IsTruncated>false</IsTruncated>",
                policies
                    .iter()
                    .map(|(n, _)| format!("<member>{}</member>", xml_escape(n)))
                    .collect::<String>()
            ),
            "GetRolePolicy" => {
                let name = params.get("PolicyName").map_or("", String::as_str);
                let Some((_, document)) = policies.iter().find(|(n, _)| n == name) else {
                    return Answer::error(
                        StatusCode::NOT_FOUND,
                        "NoSuchEntity",
                        &format!("The role policy with name {name} cannot be found."),
                        request_id,
                    );
                };
                format!(
                    "<RoleName>{}</RoleName><PolicyName>{}</PolicyName><PolicyDocument>{}</PolicyDocument>",
                    xml_escape(&config.role_name),
                    xml_escape(name),
                    percent_encode(document)
                )
            }
            _ => "<AttachedPolicies/><IsTruncated>false</IsTruncated>".to_owned(),
        };
        let mut answer = Answer::success(action, &result, request_id);
        answer.body = answer.body.replacen(STS_XMLNS, IAM_XMLNS, 1);
        answer
    }
}

/// RFC 3986 percent-encoding, as IAM returns policy documents.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The access key id from `Authorization: AWS4-HMAC-SHA256 Credential=AKID/date/region/sts/aws4_request, ...`.
fn sigv4_access_key_id(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let fields = value.strip_prefix("AWS4-HMAC-SHA256")?;
    let credential = fields
        .split(',')
        .find_map(|field| field.trim().strip_prefix("Credential="))?;
    let access_key_id = credential.split('/').next()?.trim();
    (!access_key_id.is_empty()).then(|| access_key_id.to_owned())
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

    fn into_response(self, date_unix: i64) -> Response<Full<Bytes>> {
        response(self.status, self.content_type, self.body, date_unix)
    }
}

// ---------------------------------------------------------------------------
// Shared emulator plumbing (also used by `imds`).

/// What an emulator handler returns: a response, or `HangUp` to drop the connection unanswered.
pub(crate) type Reply = Result<Response<Full<Bytes>>, HangUp>;

/// Returned by a handler to close the connection without answering (hyper drops it on a service error).
#[derive(Debug, thiserror::Error)]
#[error("emulator hung up without answering")]
pub(crate) struct HangUp;

/// A loopback HTTP/1 server task. Dropping it aborts the accept loop, which
/// drops the set of connection tasks it owns, so no connection outlives it.
#[derive(Debug)]
pub(crate) struct LocalServer {
    /// Where it listens (always 127.0.0.1).
    pub(crate) addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds 127.0.0.1 on an OS-chosen port and serves every connection with `handler` on the current runtime.
pub(crate) async fn serve_loopback<H, F>(handler: H) -> io::Result<LocalServer>
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Reply> + Send + 'static,
{
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(accept_loop(listener, handler));
    Ok(LocalServer { addr, task })
}

async fn accept_loop<H, F>(listener: TcpListener, handler: H)
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Reply> + Send + 'static,
{
    // Owned here so that aborting this task also aborts every connection.
    let mut connections = JoinSet::new();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Usually EMFILE; pause rather than spin, the condition is transient.
                tracing::debug!(error = %e, "emulator accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        while connections.try_join_next().is_some() {}
        let handler = handler.clone();
        connections.spawn(async move {
            let service = service_fn(handler);
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::trace!(error = %e, "emulator connection ended with an error");
            }
        });
    }
}

/// Locks a mutex, ignoring poisoning: the data is plain values that stay consistent.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A response with `Content-Type` and an HTTP `Date` of `date_unix` (hyper would add the true time otherwise).
pub(crate) fn response(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
    date_unix: i64,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    set_header(&mut response, DATE.as_str(), &http_date(date_unix));
    response
}

/// Sets a header; values we build are always valid header text, and anything else is skipped.
pub(crate) fn set_header(response: &mut Response<Full<Bytes>>, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(name), value);
    }
}

/// Decodes `application/x-www-form-urlencoded` text (`+` is a space, `%XX` a byte) into pairs, in order.
pub(crate) fn form_decode(input: &str) -> Vec<(String, String)> {
    input
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key), percent_decode(value))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let hex = |b: Option<&u8>| b.and_then(|b| char::from(*b).to_digit(16));
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                if let (Some(high), Some(low)) = (hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) {
                    // Two hex digits always fit a byte.
                    out.push(u8::try_from(high * 16 + low).unwrap_or(b'?'));
                    i += 2;
                } else {
                    // Browsers and SDKs keep a stray `%` literally; so do we.
                    out.push(b'%');
                }
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Escapes text for an XML element or attribute.
pub(crate) fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// RFC 7231 IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) for Unix seconds.
pub(crate) fn http_date(unix: i64) -> String {
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (days, (year, month, day), (h, m, s)) = split_unix(unix);
    // 1970-01-01 was a Thursday.
    let weekday = WEEKDAYS[usize::try_from(days.rem_euclid(7)).unwrap_or(0)];
    let month = MONTHS[usize::try_from(month - 1).unwrap_or(0)];
    format!("{weekday}, {day:02} {month} {year:04} {h:02}:{m:02}:{s:02} GMT")
}

/// RFC 3339 UTC with whole seconds (`2026-11-23T11:00:00Z`), the form STS and IMDS use.
pub(crate) fn rfc3339(unix: i64) -> String {
    let (_, (year, month, day), (h, m, s)) = split_unix(unix);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
}

/// Days since the epoch, the civil date, and the time of day.
fn split_unix(unix: i64) -> (i64, (i64, i64, i64), (i64, i64, i64)) {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    (
        days,
        civil_from_days(days),
        (secs / 3600, secs / 60 % 60, secs % 60),
    )
}

/// Proleptic Gregorian date for days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `n` random characters from `A-Z2-7`, the base32 alphabet of AWS key and role ids.
pub(crate) fn random_upper_alnum(n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    random_from(ALPHABET, n)
}

/// A 40-character secret access key.
pub(crate) fn random_secret() -> String {
    random_from(BASE64_ALPHABET, 40)
}

/// A session token shaped like STS's (long base64).
pub(crate) fn random_session_token() -> String {
    format!("IQoJb3JpZ2luX2Vj{}", random_from(BASE64_ALPHABET, 340))
}

const BASE64_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn random_from(alphabet: &[u8], n: usize) -> String {
    (0..n)
        .map(|_| char::from(alphabet[fastrand::usize(..alphabet.len())]))
        .collect()
}

#[cfg(test)]
pub(crate) mod test_support {
    //! A raw HTTP client for checking what SDKs would hide (headers, hang-ups).

    use std::net::SocketAddr;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    /// Sends `head` (request line and headers, without the blank line) plus `body`, returns the raw response.
    pub(crate) async fn raw_http(
        addr: SocketAddr,
        head: &str,
        body: &str,
    ) -> std::io::Result<String> {
        let mut stream = TcpStream::connect(addr).await?;
        let request = format!(
            "{head}\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        Ok(String::from_utf8_lossy(&response).into_owned())
    }

    /// The value of `name` in a raw response, case-insensitively.
    pub(crate) fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
        response.split("\r\n\r\n").next()?.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }

    /// The status code of a raw response.
    pub(crate) fn status(response: &str) -> Option<u16> {
        response.split(' ').nth(1)?.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{header, raw_http, status};
    use super::*;
    use crate::issuer::{Issuer, TokenSpec};
    use aws_sdk_sts::config::retry::RetryConfig;
    use aws_sdk_sts::config::{BehaviorVersion, Credentials, Region};
    use aws_sdk_sts::error::ProvideErrorMetadata;
    use aws_sdk_sts::operation::assume_role_with_web_identity::AssumeRoleWithWebIdentityOutput as AssumeOutput;

    fn client(fake: &FakeSts, credentials: Option<Credentials>) -> aws_sdk_sts::Client {
        let mut config = aws_sdk_sts::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(fake.endpoint())
            .retry_config(RetryConfig::disabled());
        if let Some(credentials) = credentials {
            config = config.credentials_provider(credentials);
        }
        aws_sdk_sts::Client::from_conf(config.build())
    }

    fn creds(access_key_id: &str) -> Credentials {
        Credentials::new(access_key_id, "secret", Some("token".into()), None, "test")
    }

    /// An STS error as the SDK exposes it: (code, message).
    type Failure = (Option<String>, Option<String>);

    async fn assume(fake: &FakeSts, role_arn: &str, token: &str) -> Result<AssumeOutput, Failure> {
        client(fake, None)
            .assume_role_with_web_identity()
            .role_arn(role_arn)
            .role_session_name("irsa-doctor-test")
            .web_identity_token(token)
            .send()
            .await
            .map_err(|e| (e.code().map(str::to_owned), e.message().map(str::to_owned)))
    }

    #[tokio::test]
    async fn healthy_assume_then_caller_identity_agrees() {
        let fake = FakeSts::start(StsConfig::default()).await.unwrap();
        let issuer = Issuer::generate(DEFAULT_ISSUER).unwrap();
        let token = issuer.issue(&issuer.token_spec()).unwrap();

        let out = assume(&fake, &fake.role_arn(), &token).await.unwrap();
        let user = out.assumed_role_user().unwrap();
        assert_eq!(
            user.arn(),
            "arn:aws:sts::111122223333:assumed-role/demo/irsa-doctor-test"
        );
        assert!(user.assumed_role_id().ends_with(":irsa-doctor-test"));
        assert_eq!(out.subject_from_web_identity_token(), Some(DEFAULT_SUBJECT));
        assert_eq!(out.provider(), Some(DEFAULT_ISSUER));
        assert_eq!(out.audience(), Some(DEFAULT_AUDIENCE));
        let c = out.credentials().unwrap();
        assert!(c.access_key_id().starts_with("ASIA") && c.access_key_id().len() == 20);
        let lifetime = c.expiration().secs() - unix_now();
        assert!((3590..=3600).contains(&lifetime), "{lifetime}");

        let who = client(&fake, Some(creds(c.access_key_id())))
            .get_caller_identity()
            .send()
            .await
            .unwrap();
        assert_eq!(who.arn(), Some(user.arn()));
        assert_eq!(who.account(), Some("111122223333"));
        assert_eq!(who.user_id(), Some(user.assumed_role_id()));
        assert_eq!(
            (
                fake.assume_calls(),
                fake.caller_identity_calls(),
                fake.requests()
            ),
            (1, 1, 2)
        );
    }

    #[tokio::test]
    async fn each_trust_failure_has_the_real_sts_code_and_message() {
        let fake = FakeSts::start(StsConfig::default()).await.unwrap();
        let issuer = Issuer::generate(DEFAULT_ISSUER).unwrap();
        let role = fake.role_arn();
        let now = unix_now();
        let token = |change: &dyn Fn(&mut TokenSpec)| {
            let mut spec = issuer.token_spec();
            change(&mut spec);
            issuer.issue(&spec).unwrap()
        };
        let invalid = Some("InvalidIdentityToken".to_owned());
        let denied = (
            Some("AccessDenied".to_owned()),
            Some("Not authorized to perform sts:AssumeRoleWithWebIdentity".to_owned()),
        );
        let cases: Vec<(&str, String, String, Failure)> = vec![
            ("not a jwt", role.clone(), "not-a-jwt".into(),
                (invalid.clone(), Some("Couldn't parse the web identity token".into()))),
            ("wrong issuer", role.clone(),
                token(&|s| s.issuer = "https://oidc.eks.eu-west-1.amazonaws.com/id/OTHER".into()),
                (invalid.clone(), Some("No OpenIDConnect provider found in your account for https://oidc.eks.eu-west-1.amazonaws.com/id/OTHER".into()))),
            ("wrong audience", role.clone(), token(&|s| s.audiences = vec!["api".into()]),
                (invalid.clone(), Some("Incorrect token audience".into()))),
            ("expired", role.clone(), token(&|s| { s.issued_at = now - 90_000; s.lifetime = 86_400 }),
                (Some("ExpiredTokenException".into()),
                 Some(format!("Token expired: current date/time {now} must be before the expiration date/time {}", now - 3600)))),
            ("wrong subject", role.clone(), token(&|s| s.subject = "system:serviceaccount:demo:other".into()), denied.clone()),
            ("wrong role", "arn:aws:iam::111122223333:role/other".into(), token(&|_| {}), denied.clone()),
            ("other account", "arn:aws:iam::999999999999:role/demo".into(), token(&|_| {}), denied.clone()),
        ];
        for (name, role_arn, token, want) in cases {
            let got = assume(&fake, &role_arn, &token)
                .await
                .map(|_| ())
                .unwrap_err();
            // The clock may tick between building the case and STS evaluating it.
            if name == "expired" {
                assert_eq!(got.0, want.0, "case: {name}");
                let message = got.1.unwrap();
                assert!(
                    message.starts_with("Token expired: current date/time "),
                    "{message}"
                );
                assert!(
                    message.ends_with(&format!("expiration date/time {}", now - 3600)),
                    "{message}"
                );
            } else {
                assert_eq!(got, want, "case: {name}");
            }
        }
        assert_eq!(fake.assume_calls(), 7);
    }

    #[tokio::test]
    async fn subject_condition_is_string_like_and_updatable() {
        let fake = FakeSts::start(StsConfig::default()).await.unwrap();
        let issuer = Issuer::generate(DEFAULT_ISSUER).unwrap();
        let token = issuer.issue(&issuer.token_spec()).unwrap();
        fake.update_config(|c| c.allowed_subject = "system:serviceaccount:demo:*".into());
        assert!(assume(&fake, &fake.role_arn(), &token).await.is_ok());
        fake.update_config(|c| c.allowed_subject = "system:serviceaccount:prod:*".into());
        let err = assume(&fake, &fake.role_arn(), &token).await.unwrap_err();
        assert_eq!(err.0.as_deref(), Some("AccessDenied"));
    }

    #[tokio::test]
    async fn fault_modes() {
        let fake = FakeSts::start(StsConfig::default()).await.unwrap();
        let issuer = Issuer::generate(DEFAULT_ISSUER).unwrap();
        let token = issuer.issue(&issuer.token_spec()).unwrap();
        let role = fake.role_arn();

        fake.set_mode(StsMode::Throttle);
        let err = assume(&fake, &role, &token).await.unwrap_err();
        assert_eq!(
            err,
            (Some("Throttling".into()), Some("Rate exceeded".into()))
        );

        fake.set_mode(StsMode::Error {
            status: 400,
            code: "IDPCommunicationError".into(),
            message: "Couldn't retrieve verification key from your identity provider".into(),
        });
        let err = assume(&fake, &role, &token).await.unwrap_err();
        assert_eq!(err.0.as_deref(), Some("IDPCommunicationError"));

        fake.set_mode(StsMode::ServerError);
        let err = assume(&fake, &role, &token).await.unwrap_err();
        assert_eq!(err.0.as_deref(), Some("InternalFailure"));

        fake.set_mode(StsMode::Garbage);
        assert!(assume(&fake, &role, &token).await.is_err());

        fake.set_mode(StsMode::Down);
        let err = client(&fake, None)
            .assume_role_with_web_identity()
            .role_arn(&role)
            .role_session_name("s")
            .web_identity_token(&token)
            .send()
            .await
            .unwrap_err();
        assert!(
            matches!(err, aws_sdk_sts::error::SdkError::DispatchFailure(_)),
            "{err:?}"
        );

        fake.set_mode(StsMode::Slow(Duration::from_millis(300)));
        let started = std::time::Instant::now();
        assert!(assume(&fake, &role, &token).await.is_ok());
        assert!(started.elapsed() >= Duration::from_millis(300));

        fake.set_mode(StsMode::Healthy);
        assert!(assume(&fake, &role, &token).await.is_ok());
        assert_eq!(fake.assume_calls(), 7);
    }

    #[tokio::test]
    async fn caller_identity_for_registered_overridden_and_unknown_keys() {
        let fake = FakeSts::start(StsConfig::default()).await.unwrap();
        let node_arn = "arn:aws:sts::111122223333:assumed-role/eks-node-role/i-0123456789abcdef0";
        fake.register_credentials("ASIANODEROLEEXAMPLE1", node_arn);
        let who = client(&fake, Some(creds("ASIANODEROLEEXAMPLE1")))
            .get_caller_identity()
            .send()
            .await
            .unwrap();
        assert_eq!(who.arn(), Some(node_arn));
        assert!(who.user_id().unwrap().ends_with(":i-0123456789abcdef0"));

        let err = client(&fake, Some(creds("AKIAUNKNOWNKEY000000")))
            .get_caller_identity()
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("InvalidClientTokenId"));
        assert_eq!(
            err.message(),
            Some("The security token included in the request is invalid.")
        );

        let other = "arn:aws:sts::111122223333:assumed-role/someone-else/session";
        fake.set_mode(StsMode::CallerIs(other.into()));
        let who = client(&fake, Some(creds("AKIAUNKNOWNKEY000000")))
            .get_caller_identity()
            .send()
            .await
            .unwrap();
        assert_eq!(who.arn(), Some(other));
        assert_eq!(who.account(), Some("111122223333"));
    }

    #[tokio::test]
    async fn raw_protocol_details() {
        let fake = FakeSts::start(StsConfig::default()).await.unwrap();
        let addr = fake.local_addr();
        let post = "POST / HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded";

        let unknown = raw_http(addr, post, "Action=DeleteEverything&Version=2011-06-15")
            .await
            .unwrap();
        assert_eq!(status(&unknown), Some(400));
        assert!(unknown.contains("<Code>InvalidAction</Code>"), "{unknown}");
        let request_id = header(&unknown, "x-amzn-RequestId").unwrap();
        // Ours replaces hyper's automatic Date rather than adding a second one.
        let dates = unknown
            .lines()
            .filter(|l| l.to_ascii_lowercase().starts_with("date:"))
            .count();
        assert_eq!(dates, 1, "{unknown}");
        assert!(unknown.contains(&format!("<RequestId>{request_id}</RequestId>")));

        // Unsigned GetCallerIdentity is refused, as real STS does.
        let unsigned = raw_http(addr, post, "Action=GetCallerIdentity&Version=2011-06-15")
            .await
            .unwrap();
        assert_eq!(status(&unsigned), Some(403));
        assert!(unsigned.contains("MissingAuthenticationToken"));

        // The Date header follows the clock offset.
        let offset = 3 * 86_400;
        fake.set_mode(StsMode::ClockOffset(offset));
        let before = unix_now();
        let skewed = raw_http(addr, post, "Action=GetCallerIdentity")
            .await
            .unwrap();
        let after = unix_now();
        let date = header(&skewed, "date").unwrap().to_owned();
        assert!(
            (before..=after).any(|t| http_date(t + offset) == date),
            "{date}"
        );

        fake.set_mode(StsMode::Down);
        let dropped = raw_http(addr, post, "Action=GetCallerIdentity")
            .await
            .unwrap_or_default();
        assert_eq!(dropped, "");
        assert_eq!(fake.requests(), 4);
        assert_eq!(fake.caller_identity_calls(), 3);
    }

    #[tokio::test]
    async fn dropping_the_handle_stops_the_server() {
        let fake = FakeSts::start(StsConfig::default()).await.unwrap();
        let addr = fake.local_addr();
        drop(fake);
        // The aborted task closes its listener the next time the runtime polls it.
        let mut refused = false;
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(addr).await.is_err() {
                refused = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(refused, "still listening on {addr}");
    }

    #[test]
    fn form_decoding() {
        assert_eq!(
            form_decode("Action=Assume%52ole&Token=a+b%2Bc%3D%3D&empty=&flag&bad=%zz%4"),
            vec![
                ("Action".to_owned(), "AssumeRole".to_owned()),
                ("Token".to_owned(), "a b+c==".to_owned()),
                ("empty".to_owned(), String::new()),
                ("flag".to_owned(), String::new()),
                ("bad".to_owned(), "%zz%4".to_owned()),
            ]
        );
        assert_eq!(
            form_decode("k=%E2%9C%93"),
            vec![("k".to_owned(), "✓".to_owned())]
        );
    }

    #[test]
    fn dates() {
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(rfc3339(1_795_431_600), "2026-11-23T11:00:00Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn sigv4_key_extraction() {
        let mut headers = HeaderMap::new();
        assert_eq!(sigv4_access_key_id(&headers), None);
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20261123/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc",
            ),
        );
        assert_eq!(
            sigv4_access_key_id(&headers).as_deref(),
            Some("ASIAEXAMPLE")
        );
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer xyz"));
        assert_eq!(sigv4_access_key_id(&headers), None);
    }
}
