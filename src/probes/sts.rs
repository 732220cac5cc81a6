//! The STS test-assume: `AssumeRoleWithWebIdentity` with the pod's token,
//! then `GetCallerIdentity` with the returned credentials.
//!
//! Both go through `aws-sdk-sts` configured from the same `SdkConfig` the
//! application's SDK would load (region, `AWS_ENDPOINT_URL_STS`, ...), with
//! two deliberate differences: SDK retries are off (the probe retries transient
//! failures itself as the SDK's standard mode would, so every request is counted
//! and a throttled STS sees one call, not three; the schedule backs off between
//! probes), and an
//! interceptor records the endpoint actually used and the server's `Date`.
//! The returned credentials live only inside `assume` and are dropped there.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_sdk_sts::config::interceptors::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_sts::config::{ConfigBag, Credentials, Intercept, RuntimeComponents};
use aws_sdk_sts::error::BoxError;
use aws_sdk_sts::primitives::{DateTime, DateTimeFormat};
use aws_types::SdkConfig;

use irsa_doctor_core::outcome::{
    AssumeFailure, AssumeOutcome, Assumed, RetriedAttempt, StsFailure,
};
use irsa_doctor_core::policy::access::RolePolicies;
use irsa_doctor_core::schedule;
use irsa_doctor_core::snapshot::AccessReadError;

use super::errors::{classify, redact};
use irsa_doctor_core::time;

/// The SDK's own operation timeout is a backstop only: ours, around every call, fires first,
/// so a slow STS always reads the same way in the report.
const SDK_TIMEOUT_SLACK: Duration = Duration::from_millis(500);

/// Captures, per request, where it went and what the server's clock said.
#[derive(Debug, Default)]
struct Capture {
    endpoint: Option<String>,
    skew: Option<f64>,
    status: Option<u16>,
}

#[derive(Debug, Clone, Default)]
struct CaptureInterceptor(Arc<Mutex<Capture>>);

impl CaptureInterceptor {
    fn with<T>(&self, f: impl FnOnce(&mut Capture) -> T) -> T {
        // A poisoned lock only means another probe panicked mid-write; the data is still usable.
        let mut guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }
}

impl Intercept for CaptureInterceptor {
    fn name(&self) -> &'static str {
        "irsa-doctor-capture"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let endpoint = context
            .request()
            .uri()
            .parse::<hyper::Uri>()
            .ok()
            .and_then(|u| Some(format!("{}://{}", u.scheme_str()?, u.authority()?)));
        self.with(|c| c.endpoint = endpoint);
        Ok(())
    }

    fn read_after_transmit(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let skew = context
            .response()
            .headers()
            .get("date")
            .and_then(|d| DateTime::from_str(d, DateTimeFormat::HttpDate).ok())
            .map(|server| time::unix_f64(crate::host::now()) - server.as_secs_f64());
        let status = context.response().status().as_u16();
        self.with(|c| {
            c.skew = skew;
            c.status = Some(status);
        });
        Ok(())
    }
}

/// The test-assume client.
#[derive(Debug, Clone)]
pub struct StsProbe {
    config: aws_sdk_sts::Config,
    iam: aws_sdk_iam::Config,
    capture: CaptureInterceptor,
    timeout: Duration,
}

impl StsProbe {
    /// Builds the client from the application's SDK configuration.
    pub fn new(sdk: &SdkConfig, timeout: Duration) -> StsProbe {
        let capture = CaptureInterceptor::default();
        let config = aws_sdk_sts::config::Builder::from(sdk)
            .retry_config(aws_sdk_sts::config::retry::RetryConfig::disabled())
            .timeout_config(
                aws_sdk_sts::config::timeout::TimeoutConfig::builder()
                    .operation_timeout(timeout + SDK_TIMEOUT_SLACK)
                    .build(),
            )
            .interceptor(capture.clone())
            .build();
        let iam = aws_sdk_iam::config::Builder::from(sdk)
            .retry_config(aws_sdk_iam::config::retry::RetryConfig::disabled())
            .timeout_config(
                aws_sdk_iam::config::timeout::TimeoutConfig::builder()
                    .operation_timeout(timeout + SDK_TIMEOUT_SLACK)
                    .build(),
            )
            .build();
        StsProbe {
            config,
            iam,
            capture,
            timeout,
        }
    }

    /// `iam:GetRole` for `role_arn` with explicit credentials: the trust policy document.
    async fn trust_policy(
        &self,
        role_arn: &str,
        credentials: Credentials,
        secrets: &[String],
    ) -> Result<String, String> {
        let name = role_arn
            .rsplit_once('/')
            .map(|(_, n)| n)
            .ok_or_else(|| format!("{role_arn} is not a role ARN"))?;
        let client = aws_sdk_iam::Client::from_conf(
            self.iam
                .to_builder()
                .credentials_provider(credentials)
                .build(),
        );
        let call = client.get_role().role_name(name).send();
        match tokio::time::timeout(self.timeout, call).await {
            Err(_) => Err(format!(
                "iam:GetRole: no answer within {}",
                humantime::format_duration(self.timeout)
            )),
            Ok(Err(e)) => {
                let f = classify(&e, secrets);
                Err(format!("iam:GetRole failed: {}: {}", f.code, f.message))
            }
            Ok(Ok(out)) => out
                .role()
                .and_then(|r| r.assume_role_policy_document())
                .map(str::to_owned)
                .ok_or_else(|| "iam:GetRole returned no AssumeRolePolicyDocument".into()),
        }
    }

    /// `GetCallerIdentity` with explicit credentials (used for the chain's credentials too).
    /// `--expect-access`: reads `role_arn`'s identity policies and boundary with `credentials`
    /// (the test-assumed ones, or the Pod Identity agent's), redacting `secrets` from errors.
    pub async fn read_role_policies(
        &self,
        role_arn: &str,
        credentials: Credentials,
        secrets: &[String],
    ) -> Result<RolePolicies, AccessReadError> {
        super::iam::read_role_policies(&self.iam, role_arn, credentials, self.timeout, secrets)
            .await
    }

    pub async fn caller_identity(&self, credentials: Credentials) -> Result<String, String> {
        let client = aws_sdk_sts::Client::from_conf(
            self.config
                .to_builder()
                .credentials_provider(credentials)
                .build(),
        );
        match tokio::time::timeout(self.timeout, client.get_caller_identity().send()).await {
            Err(_) => Err(format!(
                "no answer within {}",
                humantime::format_duration(self.timeout)
            )),
            Ok(Err(e)) => {
                let f = classify(&e, &[]);
                Err(format!("{}: {}", f.code, f.message))
            }
            Ok(Ok(out)) => out
                .arn()
                .map(str::to_owned)
                .ok_or_else(|| "answer without an Arn".into()),
        }
    }

    /// Assumes `role_arn` with `token` (unsigned, like the SDK's web-identity provider), then asks who
    /// that is, unless the assumed-role ARN is `verified_caller` (already confirmed by an earlier
    /// `GetCallerIdentity`: asking again would only double the fleet's STS traffic).
    /// With `fetch_policy`, also reads the role's trust policy with the same credentials;
    /// with `read_access`, its identity policies and boundary (`--expect-access`).
    ///
    /// A transient failure (5xx, `IDPCommunicationError`, a timeout or a dropped connection) is
    /// retried the way the SDK's standard retry mode would, so a blip the application absorbs
    /// raises nothing; throttling and denials never are. `outcome.retried` lists the requests
    /// that were retried, so every request sent can be counted.
    pub async fn assume(
        &self,
        role_arn: &str,
        session_name: &str,
        token: &str,
        fetch_policy: bool,
        read_access: bool,
        verified_caller: Option<&str>,
    ) -> AssumeOutcome {
        let mut retried = Vec::new();
        loop {
            let mut outcome = self
                .assume_once(
                    role_arn,
                    session_name,
                    token,
                    fetch_policy,
                    read_access,
                    verified_caller,
                )
                .await;
            let attempt = retried.len() as u32 + 1;
            match &outcome.result {
                Err(f) if f.is_transient() && attempt < schedule::MAX_ATTEMPTS => {
                    retried.push(RetriedAttempt {
                        latency: outcome.latency,
                        code: f.code.clone(),
                    });
                    tokio::time::sleep(schedule::retry_delay(attempt, fastrand::f64())).await;
                }
                _ => {
                    outcome.retried = retried;
                    return outcome;
                }
            }
        }
    }

    /// One `AssumeRoleWithWebIdentity` request, and what follows from its credentials.
    async fn assume_once(
        &self,
        role_arn: &str,
        session_name: &str,
        token: &str,
        fetch_policy: bool,
        read_access: bool,
        verified_caller: Option<&str>,
    ) -> AssumeOutcome {
        self.capture.with(|c| *c = Capture::default());
        // Unsigned: the credentials provider is removed so nothing is resolved or signed.
        let mut unsigned = self.config.to_builder();
        unsigned.set_credentials_provider(None);
        let client = aws_sdk_sts::Client::from_conf(unsigned.build());
        let started = crate::host::instant();
        let call = client
            .assume_role_with_web_identity()
            .role_arn(role_arn)
            .role_session_name(session_name)
            .web_identity_token(token)
            .send();
        let answer = tokio::time::timeout(self.timeout, call).await;
        let latency = started.elapsed();
        let (endpoint, clock_skew_seconds, http_status) = self
            .capture
            .with(|c| (c.endpoint.take(), c.skew.take(), c.status.take()));
        let secrets = secrets_of(token);
        let result = match answer {
            Err(_) => Err(AssumeFailure {
                kind: StsFailure::Unreachable,
                code: "Timeout".into(),
                message: format!(
                    "timed out: no answer within --probe-timeout {}",
                    humantime::format_duration(self.timeout)
                ),
                http_status: None,
            }),
            Ok(Err(e)) => Err(AssumeFailure {
                http_status,
                ..classify(&e, &secrets)
            }),
            Ok(Ok(out)) => {
                let assumed_role_arn = out.assumed_role_user().map(|u| u.arn().to_owned());
                let (expiry, caller, trust_policy, access) = match out.credentials() {
                    Some(c) => {
                        let expiry = SystemTime::try_from(*c.expiration()).ok();
                        let creds = Credentials::new(
                            c.access_key_id(),
                            c.secret_access_key(),
                            Some(c.session_token().to_owned()),
                            expiry,
                            "irsa-doctor-test-assume",
                        );
                        // What IAM or STS says with these credentials must not quote them either.
                        let mut secrets = secrets.clone();
                        secrets.extend(
                            [c.access_key_id(), c.secret_access_key(), c.session_token()]
                                .map(str::to_owned),
                        );
                        let policy = if fetch_policy {
                            Some(self.trust_policy(role_arn, creds.clone(), &secrets).await)
                        } else {
                            None
                        };
                        let access = if read_access {
                            Some(
                                self.read_role_policies(role_arn, creds.clone(), &secrets)
                                    .await,
                            )
                        } else {
                            None
                        };
                        let caller = match verified_caller {
                            Some(known) if assumed_role_arn.as_deref() == Some(known) => {
                                Ok(known.to_owned())
                            }
                            _ => self
                                .caller_identity(creds)
                                .await
                                .map_err(|m| redact(&m, &secrets)),
                        };
                        (expiry, caller, policy, access)
                    }
                    None => (None, Err("STS returned no credentials".into()), None, None),
                };
                Ok(Assumed {
                    assumed_role_arn,
                    credentials_expire_at: expiry,
                    caller: caller.map_err(|m| redact(&m, &secrets)),
                    trust_policy,
                    access,
                })
            }
        };
        AssumeOutcome {
            endpoint,
            latency,
            clock_skew_seconds,
            retried: Vec::new(),
            session_name: session_name.to_owned(),
            result,
        }
    }
}

/// The token and its signature: what must never appear in a message.
fn secrets_of(token: &str) -> Vec<String> {
    let token = token.trim();
    let mut out = vec![token.to_owned()];
    out.extend(
        token
            .rsplit('.')
            .next()
            .filter(|s| s.len() >= 8)
            .map(str::to_owned),
    );
    out
}

/// `irsa-doctor-<pod or host>`, within STS's `[\w+=,.@-]{2,64}`.
pub fn session_name(pod_or_host: Option<&str>) -> String {
    let suffix: String = pod_or_host
        .unwrap_or("pod")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+=,.@-_".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let mut name = format!("irsa-doctor-{suffix}");
    name.truncate(64);
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_are_valid() {
        assert_eq!(session_name(Some("web-7d9f")), "irsa-doctor-web-7d9f");
        assert_eq!(session_name(None), "irsa-doctor-pod");
        assert_eq!(session_name(Some("a b/c")), "irsa-doctor-a-b-c");
        assert_eq!(session_name(Some(&"x".repeat(100))).len(), 64);
    }

    #[test]
    fn redaction_removes_token_and_signature() {
        let secrets = secrets_of("aGVhZGVy.Y2xhaW1z.c2lnbmF0dXJlLXBhcnQ\n");
        assert_eq!(
            redact(
                "bad c2lnbmF0dXJlLXBhcnQ and aGVhZGVy.Y2xhaW1z.c2lnbmF0dXJlLXBhcnQ",
                &secrets
            ),
            "bad <redacted> and <redacted>"
        );
    }
}
