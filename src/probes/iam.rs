//! Reads the role's own policies for `--expect-access`, with the test-assumed
//! credentials (they come from `sts::StsProbe::assume` and are dropped there).
//!
//! Calls, per read: `GetRole` (the permissions boundary), `ListRolePolicies` +
//! `GetRolePolicy` per inline policy, `ListAttachedRolePolicies`, then
//! `GetPolicy` and `GetPolicyVersion` (default version) per managed policy,
//! and the same two for the boundary. The probe loop decides when
//! (`schedule::access_read_due`: at most hourly, since IAM's control plane has
//! low rate limits). IAM returns every document URL-encoded.
//!
//! The endpoint is the SDK's: `AWS_ENDPOINT_URL_IAM` is honoured.

use std::future::Future;
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sdk_iam::Client;
use aws_sdk_iam::config::retry::RetryConfig;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_async::future::pagination_stream::PaginationStream;
use irsa_doctor_core::policy::access::{NamedPolicy, RolePolicies, Source};
use irsa_doctor_core::policy::{Kind, parse};
use irsa_doctor_core::snapshot::{AccessReadError, AccessReadFailure, StsFailure};

/// Pages of `List*` answers read at most; IAM allows 10 inline and 20 managed policies by default.
const MAX_PAGES: usize = 10;

/// Reads every identity policy and the boundary of `role_arn` with `credentials`.
pub async fn read_role_policies(
    config: &aws_sdk_iam::Config,
    role_arn: &str,
    credentials: Credentials,
    timeout: Duration,
    secrets: &[String],
) -> Result<RolePolicies, AccessReadError> {
    let name = role_arn
        .rsplit_once('/')
        .map(|(_, n)| n)
        .ok_or_else(|| AccessReadError {
            failure: AccessReadFailure::Unusable,
            message: format!("{role_arn} is not a role ARN"),
        })?;
    // The SDK's standard retries (3 attempts, backoff) for throttling and 5xx: a blip would
    // otherwise leave the access unverified until the next hourly read.
    let client = Client::from_conf(
        config
            .to_builder()
            .retry_config(RetryConfig::standard())
            .credentials_provider(credentials)
            .build(),
    );
    let call = Caller { timeout, secrets };

    let role = call
        .run("GetRole", client.get_role().role_name(name).send())
        .await?;
    let boundary_arn = role
        .role()
        .and_then(|r| r.permissions_boundary())
        .and_then(|b| b.permissions_boundary_arn())
        .map(str::to_owned);

    let mut identity = Vec::new();
    let inline = call
        .pages(
            "ListRolePolicies",
            client
                .list_role_policies()
                .role_name(name)
                .into_paginator()
                .send(),
        )
        .await?;
    for policy_name in inline.iter().flat_map(|page| page.policy_names()) {
        let got = call
            .run(
                "GetRolePolicy",
                client
                    .get_role_policy()
                    .role_name(name)
                    .policy_name(policy_name)
                    .send(),
            )
            .await?;
        identity.push(named(policy_name, Source::Inline, got.policy_document())?);
    }
    let attached = call
        .pages(
            "ListAttachedRolePolicies",
            client
                .list_attached_role_policies()
                .role_name(name)
                .into_paginator()
                .send(),
        )
        .await?;
    for arn in attached
        .iter()
        .flat_map(|page| page.attached_policies())
        .filter_map(|a| a.policy_arn())
    {
        identity.push(managed(&client, &call, arn, Source::Managed).await?);
    }
    let boundary = match boundary_arn {
        Some(arn) => Some(managed(&client, &call, &arn, Source::Boundary).await?),
        None => None,
    };
    let arn = role.role().map(|r| r.arn().to_owned());
    Ok(RolePolicies {
        identity,
        boundary,
        arn,
    })
}

/// A managed policy's default version: `GetPolicy`, then `GetPolicyVersion`.
async fn managed(
    client: &Client,
    call: &Caller<'_>,
    arn: &str,
    source: Source,
) -> Result<NamedPolicy, AccessReadError> {
    let policy = call
        .run("GetPolicy", client.get_policy().policy_arn(arn).send())
        .await?;
    let policy = policy.policy();
    let name = policy
        .and_then(|p| p.policy_name())
        .map(str::to_owned)
        .unwrap_or_else(|| arn.rsplit('/').next().unwrap_or(arn).to_owned());
    let version = policy
        .and_then(|p| p.default_version_id())
        .ok_or_else(|| AccessReadError {
            failure: AccessReadFailure::Unusable,
            message: format!("iam:GetPolicy {arn}: the answer has no DefaultVersionId"),
        })?;
    let got = call
        .run(
            "GetPolicyVersion",
            client
                .get_policy_version()
                .policy_arn(arn)
                .version_id(version)
                .send(),
        )
        .await?;
    let document = got
        .policy_version()
        .and_then(|v| v.document())
        .ok_or_else(|| AccessReadError {
            failure: AccessReadFailure::Unusable,
            message: format!("iam:GetPolicyVersion {arn} {version}: the answer has no Document"),
        })?;
    named(&name, source, document)
}

fn named(name: &str, source: Source, document: &str) -> Result<NamedPolicy, AccessReadError> {
    let policy = parse(document, Kind::Identity).map_err(|e| AccessReadError {
        failure: AccessReadFailure::Unusable,
        message: format!("{name}: {e}"),
    })?;
    Ok(NamedPolicy {
        name: name.to_owned(),
        source,
        policy,
    })
}

/// Runs one IAM call under our timeout and turns its error into one line.
struct Caller<'a> {
    timeout: Duration,
    secrets: &'a [String],
}

impl Caller<'_> {
    async fn run<T, E, R>(
        &self,
        operation: &str,
        call: impl Future<Output = Result<T, SdkError<E, R>>>,
    ) -> Result<T, AccessReadError>
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + 'static,
    {
        match tokio::time::timeout(self.timeout, call).await {
            Err(_) => Err(AccessReadError {
                failure: AccessReadFailure::Unreachable,
                message: format!(
                    "iam:{operation}: no answer within {}",
                    humantime::format_duration(self.timeout)
                ),
            }),
            Ok(Err(e)) => {
                let f = super::errors::classify(&e, self.secrets);
                let failure = if f.kind == StsFailure::Unreachable {
                    AccessReadFailure::Unreachable
                } else {
                    AccessReadFailure::of_code(&f.code)
                };
                Err(AccessReadError {
                    failure,
                    message: format!("iam:{operation}: {}: {}", f.code, f.message),
                })
            }
            Ok(Ok(out)) => Ok(out),
        }
    }

    /// Every page of a `List*` call through the SDK's paginator, each under the timeout; at
    /// most [`MAX_PAGES`], so a misbehaving endpoint cannot keep the probe paging forever.
    async fn pages<T, E, R>(
        &self,
        operation: &str,
        mut stream: PaginationStream<Result<T, SdkError<E, R>>>,
    ) -> Result<Vec<T>, AccessReadError>
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + 'static,
    {
        let mut pages = Vec::new();
        while pages.len() < MAX_PAGES {
            let next = self
                .run(operation, async { stream.next().await.transpose() })
                .await?;
            match next {
                Some(page) => pages.push(page),
                None => break,
            }
        }
        Ok(pages)
    }
}
