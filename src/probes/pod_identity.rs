//! EKS Pod Identity: call the node's agent the way the SDK's container
//! provider does (`GET $AWS_CONTAINER_CREDENTIALS_FULL_URI` with the token
//! file's contents as `Authorization`), classify its answer, and ask STS who
//! the returned credentials belong to (and, for `--expect-access`, read the
//! role's policies with them). The credentials never leave `probe`.

use std::time::Duration;

use aws_sdk_sts::config::Credentials;
use serde::Deserialize;

use crate::probes::chain::{self, RequestError};
use crate::probes::errors::redact;
use crate::probes::sts::StsProbe;
use irsa_doctor_core::outcome::{AgentCredentials, AgentFailure, AgentOutcome};

/// The SDK gives the agent a couple of seconds; so do we.
pub const AGENT_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest agent error body kept for the report.
const MAX_MESSAGE: usize = 300;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AgentAnswer {
    access_key_id: String,
    secret_access_key: String,
    token: Option<String>,
    account_id: Option<String>,
    expiration: Option<String>,
}

/// The bounded `code` label of `irsa_pod_identity_errors_total`.
pub fn error_label(outcome: &AgentOutcome) -> Option<&'static str> {
    // The label comes from the same table as the finding (core `failure`).
    outcome
        .result
        .as_ref()
        .err()
        .map(|(failure, _)| irsa_doctor_core::failure::agent_label(*failure))
}

/// Calls the agent at `endpoint` with `token`, then `GetCallerIdentity` with its credentials,
/// and with `read_access` the role's policies (`--expect-access` on a Pod Identity pod).
pub async fn probe(endpoint: &str, token: &str, sts: &StsProbe, read_access: bool) -> AgentOutcome {
    let started = crate::host::instant();
    let token = token.trim();
    let (base, path) = split_url(endpoint);
    let answer = chain::request(
        &base,
        "GET",
        &path,
        &[("authorization", token)],
        AGENT_TIMEOUT,
    )
    .await;
    let latency = started.elapsed();
    let (status, body) = match answer {
        Ok(pair) => pair,
        Err(e) => {
            // Refused or not accepted in time: nothing listens (agent missing, hostNetwork pod,
            // NetworkPolicy). Accepted but silent: the agent is there, waiting on EKS Auth.
            let (failure, message) = match e {
                RequestError::Timeout(_) => (
                    AgentFailure::Unreachable,
                    format!(
                        "the connection was not accepted within {}s (agent missing, hostNetwork pod, or a NetworkPolicy)",
                        AGENT_TIMEOUT.as_secs()
                    ),
                ),
                RequestError::NoAnswer(_) => (
                    AgentFailure::Slow,
                    format!(
                        "connected, but no answer within {}s (EKS Auth slow or unreachable from the agent)",
                        AGENT_TIMEOUT.as_secs()
                    ),
                ),
                other => (AgentFailure::Unreachable, other.to_string()),
            };
            return AgentOutcome {
                latency,
                http_status: None,
                result: Err((failure, message)),
            };
        }
    };
    let text = || {
        let mut t = String::from_utf8_lossy(&body).replace(token, "<redacted>");
        t.truncate(MAX_MESSAGE);
        t.trim().to_owned()
    };
    let result = match status {
        200 => match serde_json::from_slice::<AgentAnswer>(&body) {
            Ok(a) => {
                let expires_at = a
                    .expiration
                    .as_deref()
                    .and_then(|e| humantime::parse_rfc3339_weak(e).ok());
                // What STS or IAM says with these credentials must not quote them.
                let secrets: Vec<String> = [
                    Some(token),
                    Some(a.access_key_id.as_str()),
                    Some(a.secret_access_key.as_str()),
                    a.token.as_deref(),
                ]
                .into_iter()
                .flatten()
                .map(str::to_owned)
                .collect();
                let creds = Credentials::new(
                    a.access_key_id,
                    a.secret_access_key,
                    a.token,
                    expires_at,
                    "EcsContainer",
                );
                let caller = sts
                    .caller_identity(creds.clone())
                    .await
                    .map_err(|m| redact(&m, &secrets));
                // The agent's credentials are the role's: read its policies with them.
                let role = caller
                    .as_ref()
                    .ok()
                    .and_then(|arn| irsa_doctor_core::arn::role_of_session(arn));
                let access = match (read_access, role) {
                    (true, Some(role)) => {
                        let read = sts.read_role_policies(&role, creds, &secrets).await;
                        Some((role, read))
                    }
                    _ => None,
                };
                Ok(AgentCredentials {
                    account_id: a.account_id,
                    expires_at,
                    caller,
                    access,
                })
            }
            Err(e) => Err((
                AgentFailure::AgentError,
                format!("the agent's answer is not credentials JSON: {e}"),
            )),
        },
        429 => Err((AgentFailure::Throttled, text())),
        400..=499 => Err((AgentFailure::Denied, text())),
        _ => Err((AgentFailure::AgentError, text())),
    };
    AgentOutcome {
        latency,
        http_status: Some(status),
        result,
    }
}

/// `http://169.254.170.23/v1/credentials` → (`http://169.254.170.23`, `/v1/credentials`).
fn split_url(url: &str) -> (String, String) {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => (
            url[..after_scheme + i].to_owned(),
            url[after_scheme + i..].to_owned(),
        ),
        None => (url.to_owned(), "/".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_endpoint_and_path() {
        assert_eq!(
            split_url("http://169.254.170.23/v1/credentials"),
            ("http://169.254.170.23".into(), "/v1/credentials".into())
        );
        assert_eq!(
            split_url("http://[fd00:ec2::23]"),
            ("http://[fd00:ec2::23]".into(), "/".into())
        );
    }
}
