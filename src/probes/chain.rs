//! The default credential chain as the application sees it, and whether the
//! pod can reach IMDS (the node role's credentials).
//!
//! The chain is `aws-config`'s own default chain over this container's
//! environment; which provider answered is read from the credential-feature
//! property the SDK records (there is no public provider-name getter).

use std::time::Duration;

use aws_credential_types::credential_feature::AwsCredentialFeature;
use aws_sdk_sts::config::{Credentials, ProvideCredentials};
use aws_types::SdkConfig;
use http_body_util::Empty;
use hyper::body::Bytes;

use crate::environment::EnvFacts;
use crate::probes::sts::StsProbe;

/// How long each IMDS request may take (the SDK's own IMDS timeout is 1 s).
pub const IMDS_TIMEOUT: Duration = Duration::from_secs(1);

/// What the default chain resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainOutcome {
    /// Provider name, as the SDK names it (`EnvironmentVariable`, `WebIdentityToken`, `IMDSv2`, ...).
    pub provider: Option<String>,
    /// `GetCallerIdentity` with the chain's credentials.
    pub caller_arn: Option<String>,
    /// Why the chain or the identity call failed.
    pub error: Option<String>,
}

/// Whether the SDK's chain will answer with the same web-identity path the test-assume just took,
/// so its result can be reused instead of calling STS twice more.
pub fn chain_is_web_identity(env: &EnvFacts, role_arn: Option<&str>, token_file: &str) -> bool {
    env.static_sources.is_empty()
        // A profile pinning web identity answers with its own role and token.
        && env.profile_web_identity_role.is_none()
        && env.role_arn.as_deref().is_some()
        && env.role_arn.as_deref() == role_arn
        && env.token_file.as_deref() == Some(token_file)
}

/// The provider the default chain would answer with, predicted from an environment: used for
/// `check --pid`, since the SDK cannot be pointed at another process's environment.
pub fn predict_provider(env: &EnvFacts) -> &'static str {
    use crate::environment::StaticSource;
    if env
        .static_sources
        .iter()
        .any(|s| matches!(s, StaticSource::EnvKeys(_)))
    {
        "EnvironmentVariable"
    } else if env.static_sources.iter().any(|s| {
        matches!(
            s,
            StaticSource::ProfileKeys { .. } | StaticSource::EnvProfile(_)
        )
    }) {
        "ProfileFile"
    } else if env.profile_web_identity_role.is_some()
        || (env.role_arn.is_some() && env.token_file.is_some())
    {
        "WebIdentityToken"
    } else if env.uses_pod_identity() {
        "EcsContainer"
    } else {
        "IMDSv2"
    }
}

/// The provider name the SDK would log, from the features it recorded on the credentials.
pub fn provider_name(features: &[AwsCredentialFeature]) -> Option<&'static str> {
    use AwsCredentialFeature as F;
    let has = |f: F| features.contains(&f);
    // A profile that pins web identity (`role_arn` + `web_identity_token_file`, no role
    // chained on top) is web identity, as botocore's `assume-role-with-web-identity` says.
    if has(F::CredentialsProfileStsWebIdToken)
        && !has(F::CredentialsStsAssumeRole)
        && !has(F::CredentialsProfileSourceProfile)
    {
        return Some("WebIdentityToken");
    }
    // Profile-sourced credentials carry the inner provider's feature too, so check the profile first.
    Some(
        if has(F::CredentialsProfile) || has(F::CredentialsProfileSourceProfile) {
            "ProfileFile"
        } else if has(F::CredentialsEnvVars) {
            "EnvironmentVariable"
        } else if has(F::CredentialsProfileStsWebIdToken)
            || has(F::CredentialsEnvVarsStsWebIdToken)
            || has(F::CredentialsStsAssumeRoleWebId)
        {
            "WebIdentityToken"
        } else if has(F::CredentialsHttp) {
            "EcsContainer"
        } else if has(F::CredentialsImds) {
            "IMDSv2"
        } else if has(F::CredentialsProcess) || has(F::CredentialsProfileProcess) {
            "CredentialProcess"
        } else if has(F::CredentialsSso) || has(F::CredentialsProfileSso) {
            "SSO"
        } else if has(F::CredentialsStsAssumeRole) {
            "AssumeRoleProvider"
        } else {
            return None;
        },
    )
}

/// The `provider_name` field of the credentials' Debug output, the SDK's only other exposure of it.
fn provider_from_debug(creds: &Credentials) -> Option<String> {
    let debug = format!("{creds:?}");
    let rest = debug.split_once("provider_name: \"")?.1;
    Some(rest.split_once('"')?.0.to_owned())
}

/// Resolves the default chain and asks STS who the credentials belong to.
pub async fn resolve(sdk: &SdkConfig, sts: &StsProbe, timeout: Duration) -> ChainOutcome {
    let Some(provider) = sdk.credentials_provider() else {
        return ChainOutcome {
            error: Some("no credentials provider is configured".into()),
            ..Default::default()
        };
    };
    let creds = match tokio::time::timeout(timeout, provider.provide_credentials()).await {
        Err(_) => {
            return ChainOutcome {
                error: Some(format!(
                    "the default chain did not answer within {}",
                    humantime::format_duration(timeout)
                )),
                ..Default::default()
            };
        }
        Ok(Err(e)) => {
            return ChainOutcome {
                error: Some(super::errors::error_chain(&e)),
                ..Default::default()
            };
        }
        Ok(Ok(c)) => c,
    };
    let provider = creds
        .get_property::<Vec<AwsCredentialFeature>>()
        .and_then(|f| provider_name(f))
        .map(str::to_owned)
        .or_else(|| provider_from_debug(&creds));
    let (caller_arn, error) = match sts.caller_identity(creds).await {
        Ok(arn) => (Some(arn), None),
        Err(e) => (None, Some(format!("GetCallerIdentity failed: {e}"))),
    };
    ChainOutcome {
        provider,
        caller_arn,
        error,
    }
}

/// IMDS reachability, each version separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImdsReach {
    /// `PUT /latest/api/token` answered 200.
    pub v2: bool,
    /// `GET /latest/meta-data/iam/security-credentials/` without a token answered 200.
    pub v1: bool,
}

/// Probes IMDSv2 and IMDSv1 concurrently, each with `IMDS_TIMEOUT`.
pub async fn probe_imds(endpoint: &str) -> ImdsReach {
    let v2 = status(
        endpoint,
        "PUT",
        "/latest/api/token",
        Some(("x-aws-ec2-metadata-token-ttl-seconds", "21600")),
    );
    let v1 = status(endpoint, "GET", CREDENTIALS_PATH, None);
    let (v2, v1) = tokio::join!(v2, v1);
    ImdsReach {
        v2: v2 == Some(200),
        v1: v1 == Some(200),
    }
}

/// The node role's current access key id as IMDS serves it (v2, else v1), the way the SDK
/// reads it: the role name, then its credentials. The secret key and the session token in the
/// same answer are never kept; only the key id is returned, and the caller keeps only its
/// fingerprint.
pub async fn imds_access_key_id(endpoint: &str) -> Option<String> {
    let token = request(
        endpoint,
        "PUT",
        "/latest/api/token",
        &[("x-aws-ec2-metadata-token-ttl-seconds", "60")],
        IMDS_TIMEOUT,
    )
    .await
    .ok()
    .filter(|(status, _)| *status == 200)
    .and_then(|(_, body)| String::from_utf8(body.to_vec()).ok());
    let headers: Vec<(&str, &str)> = token
        .as_deref()
        .map(|t| ("x-aws-ec2-metadata-token", t.trim()))
        .into_iter()
        .collect();
    let get = |path: String| {
        let headers = headers.clone();
        async move {
            request(endpoint, "GET", &path, &headers, IMDS_TIMEOUT)
                .await
                .ok()
                .filter(|(status, _)| *status == 200)
                .map(|(_, body)| body)
        }
    };
    let roles = get(CREDENTIALS_PATH.to_owned()).await?;
    let role = String::from_utf8_lossy(&roles)
        .lines()
        .next()?
        .trim()
        .to_owned();
    if role.is_empty() || role.contains('/') {
        return None;
    }
    let body = get(format!("{CREDENTIALS_PATH}{role}")).await?;
    #[derive(serde::Deserialize)]
    struct KeyId {
        #[serde(rename = "AccessKeyId")]
        access_key_id: String,
    }
    serde_json::from_slice::<KeyId>(&body)
        .ok()
        .map(|k| k.access_key_id)
}

/// The path IMDS lists the instance role under.
const CREDENTIALS_PATH: &str = "/latest/meta-data/iam/security-credentials/";

/// One plain-HTTP request; the status, or `None` for any failure or timeout.
async fn status(
    endpoint: &str,
    method: &str,
    path: &str,
    header: Option<(&str, &str)>,
) -> Option<u16> {
    let headers: Vec<(&str, &str)> = header.into_iter().collect();
    request(endpoint, method, path, &headers, IMDS_TIMEOUT)
        .await
        .ok()
        .map(|(status, _)| status)
}

/// Why a plain-HTTP request got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("{0} is not an http:// URL")]
    BadUrl(String),
    #[error("no connection within {0:?}")]
    Timeout(Duration),
    #[error("connected, but no answer within {0:?}")]
    NoAnswer(Duration),
    #[error("{0}")]
    Io(String),
}

/// Largest body read from a link-local credentials endpoint.
const MAX_BODY: usize = 64 * 1024;

/// One plain-HTTP request to a link-local service (IMDS, the Pod Identity agent): status and body.
/// Deliberately not the SDK's client: these probes must see raw statuses the SDK would retry or hide.
pub async fn request(
    endpoint: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    timeout: Duration,
) -> Result<(u16, Bytes), RequestError> {
    use http_body_util::BodyExt;
    let bad_url = || RequestError::BadUrl(endpoint.to_owned());
    let uri: hyper::Uri = endpoint.parse().map_err(|_| bad_url())?;
    if uri.scheme_str() != Some("http") {
        return Err(bad_url());
    }
    let authority = uri.authority().ok_or_else(bad_url)?.clone();
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = authority.port_u16().unwrap_or(80);
    let io =
        |e: &(dyn std::error::Error + 'static)| RequestError::Io(super::errors::error_chain(e));
    // One deadline for the whole request, but a connection accepted and then left silent
    // reads differently from one never accepted (the Pod Identity agent waiting on EKS Auth).
    let deadline = tokio::time::Instant::now() + timeout;
    let connect = tokio::net::TcpStream::connect((host.as_str(), port));
    let stream = tokio::time::timeout_at(deadline, connect)
        .await
        .map_err(|_| RequestError::Timeout(timeout))?
        .map_err(|e| io(&e))?;
    let call = async move {
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| io(&e))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, authority.as_str());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Empty::<Bytes>::new()).map_err(|e| io(&e))?;
        let resp = sender.send_request(req).await.map_err(|e| io(&e))?;
        let status = resp.status().as_u16();
        let body = http_body_util::Limited::new(resp.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| RequestError::Io(format!("reading the body: {e}")))?
            .to_bytes();
        Ok((status, body))
    };
    tokio::time::timeout_at(deadline, call)
        .await
        .map_err(|_| RequestError::NoAnswer(timeout))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::environment::StaticSource;

    #[test]
    fn provider_names_match_the_sdk() {
        use AwsCredentialFeature as F;
        let cases: &[(&[F], Option<&str>)] = &[
            (&[F::CredentialsEnvVars], Some("EnvironmentVariable")),
            (
                &[F::CredentialsProfileStsWebIdToken],
                Some("WebIdentityToken"),
            ),
            (&[F::CredentialsImds], Some("IMDSv2")),
            (&[F::CredentialsHttp], Some("EcsContainer")),
            (
                &[F::CredentialsStsAssumeRole, F::CredentialsProfile],
                Some("ProfileFile"),
            ),
            (&[F::CredentialsProcess], Some("CredentialProcess")),
            (
                &[F::CredentialsProfileStsWebIdToken, F::CredentialsProfile],
                Some("WebIdentityToken"),
            ),
            (
                &[
                    F::CredentialsProfileStsWebIdToken,
                    F::CredentialsStsAssumeRole,
                    F::CredentialsProfile,
                ],
                Some("ProfileFile"),
            ),
            (&[], None),
        ];
        for (features, want) in cases {
            assert_eq!(provider_name(features), *want, "{features:?}");
        }
    }

    #[test]
    fn provider_prediction_follows_chain_order() {
        use crate::environment::StaticSource;
        let irsa = EnvFacts {
            role_arn: Some("r".into()),
            token_file: Some("/t".into()),
            ..Default::default()
        };
        let pod_identity = EnvFacts {
            container_credentials_uri: Some("http://169.254.170.23/v1/credentials".into()),
            container_token_file: Some("/p".into()),
            ..Default::default()
        };
        let cases = [
            (
                EnvFacts {
                    static_sources: vec![StaticSource::EnvKeys(vec!["AWS_ACCESS_KEY_ID"])],
                    ..irsa.clone()
                },
                "EnvironmentVariable",
            ),
            (
                EnvFacts {
                    static_sources: vec![StaticSource::ProfileKeys {
                        profile: "default".into(),
                        keys: vec![],
                    }],
                    ..irsa.clone()
                },
                "ProfileFile",
            ),
            (irsa.clone(), "WebIdentityToken"),
            (
                EnvFacts {
                    role_arn: irsa.role_arn.clone(),
                    token_file: irsa.token_file.clone(),
                    ..pod_identity.clone()
                },
                "WebIdentityToken",
            ),
            (pod_identity, "EcsContainer"),
            (EnvFacts::default(), "IMDSv2"),
        ];
        for (env, want) in cases {
            assert_eq!(predict_provider(&env), want, "{env:?}");
        }
    }

    #[test]
    fn provider_from_debug_reads_the_name() {
        let c = Credentials::new("AKID", "secret", None, None, "EnvironmentVariable");
        assert_eq!(
            provider_from_debug(&c).as_deref(),
            Some("EnvironmentVariable")
        );
    }

    #[test]
    fn reuse_only_when_the_chain_takes_the_same_web_identity_path() {
        let env = EnvFacts {
            role_arn: Some("arn:aws:iam::1:role/r".into()),
            token_file: Some("/t".into()),
            ..Default::default()
        };
        assert!(chain_is_web_identity(
            &env,
            Some("arn:aws:iam::1:role/r"),
            "/t"
        ));
        assert!(
            !chain_is_web_identity(&env, Some("arn:aws:iam::1:role/other"), "/t"),
            "--role-arn differs"
        );
        assert!(
            !chain_is_web_identity(&env, Some("arn:aws:iam::1:role/r"), "/other"),
            "--token-file differs"
        );
        let shadowed = EnvFacts {
            static_sources: vec![StaticSource::EnvProfile("p".into())],
            ..env.clone()
        };
        assert!(!chain_is_web_identity(
            &shadowed,
            Some("arn:aws:iam::1:role/r"),
            "/t"
        ));
        assert!(
            !chain_is_web_identity(&EnvFacts::default(), None, "/t"),
            "no IRSA env"
        );
    }

    #[tokio::test]
    async fn imds_probe_against_the_fake() {
        use irsa_doctor_emulator::imds::{FakeImds, ImdsConfig, ImdsMode};
        let fake = FakeImds::start(ImdsConfig::default()).await.unwrap();
        let cases = [
            (ImdsMode::Both, ImdsReach { v2: true, v1: true }),
            (
                ImdsMode::V2Only,
                ImdsReach {
                    v2: true,
                    v1: false,
                },
            ),
            (
                ImdsMode::V1Only,
                ImdsReach {
                    v2: false,
                    v1: true,
                },
            ),
            (
                ImdsMode::Neither,
                ImdsReach {
                    v2: false,
                    v1: false,
                },
            ),
            (
                ImdsMode::Silent,
                ImdsReach {
                    v2: false,
                    v1: false,
                },
            ),
        ];
        for (mode, want) in cases {
            fake.set_mode(mode);
            assert_eq!(probe_imds(&fake.endpoint()).await, want, "{mode:?}");
        }
        assert_eq!(
            probe_imds("http://127.0.0.1:9").await,
            ImdsReach {
                v2: false,
                v1: false
            },
            "refused"
        );
    }
}
