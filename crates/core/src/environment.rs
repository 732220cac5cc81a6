//! What the pod's environment tells about its AWS identity setup: plain facts,
//! gathered once at start-up by the shell (the webhook only mutates pods at
//! creation, so the environment never changes under us). Only variable
//! *names* and profile key *names* are kept: values of credentials are never
//! read into it.

/// What the environment says, as the AWS SDK of the application would see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvFacts {
    /// `AWS_ROLE_ARN` exactly as set (not the `--role-arn` flag).
    pub role_arn: Option<String>,
    /// `AWS_WEB_IDENTITY_TOKEN_FILE` exactly as set.
    pub token_file: Option<String>,
    /// `AWS_REGION`, else `AWS_DEFAULT_REGION`.
    pub region: Option<String>,
    /// `AWS_STS_REGIONAL_ENDPOINTS`.
    pub sts_regional_endpoints: Option<String>,
    /// Sources the default credential chain consults before web identity.
    pub static_sources: Vec<StaticSource>,
    /// `AWS_CONTAINER_CREDENTIALS_FULL_URI` (EKS Pod Identity's agent).
    pub container_credentials_uri: Option<String>,
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` (EKS Pod Identity's token).
    pub container_token_file: Option<String>,
    /// Which proxy variables are set (names only: their URLs may carry credentials).
    pub proxy_vars: Vec<&'static str>,
    /// The effective `NO_PROXY` (`NO_PROXY` wins over `no_proxy`; see `crate::no_proxy`).
    pub no_proxy: Option<String>,
    // --- what the SDK's chain and endpoint resolution read besides the variables above ---
    /// `region` of the selected profile (the SDK's region chain reads it after the environment).
    pub profile_region: Option<String>,
    /// `role_arn` of a selected profile that pins web identity (`role_arn` + `web_identity_token_file`).
    pub profile_web_identity_role: Option<String>,
    /// The IMDS base URL the SDK would use (`AWS_EC2_METADATA_SERVICE_ENDPOINT`, else by endpoint mode).
    pub imds_endpoint: String,
    /// `AWS_EC2_METADATA_DISABLED=true`: the SDK never calls IMDS.
    pub imds_disabled: bool,
}

/// A credential source that wins over web identity in every SDK's default chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaticSource {
    /// Access-key variables set in the environment (names only).
    EnvKeys(Vec<&'static str>),
    /// `AWS_PROFILE` names a profile the shared files do not define: the SDK's chain errors out.
    EnvProfile(String),
    /// The selected profile of the shared config/credentials files yields credentials.
    ProfileKeys {
        /// Profile name.
        profile: String,
        /// The credential-bearing keys it defines (names only).
        keys: Vec<String>,
    },
}

impl std::fmt::Display for StaticSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StaticSource::EnvKeys(vars) => write!(f, "{} in the environment", vars.join(" and ")),
            StaticSource::EnvProfile(p) => write!(
                f,
                "AWS_PROFILE={p} in the environment names no profile in the shared config/credentials files, so botocore's chain fails (ProfileNotFound) before web identity, and so does aws-config's when any profile is defined"
            ),
            StaticSource::ProfileKeys { profile, keys } => write!(
                f,
                "profile [{profile}] in the shared config/credentials files (~/.aws or AWS_SHARED_CREDENTIALS_FILE/AWS_CONFIG_FILE) sets {}",
                keys.join(", ")
            ),
        }
    }
}

/// What the SDK's profile provider makes of the selected profile, in the order of aws-config's
/// `profile::credentials::repr::resolve_chain` / `base_provider` (botocore agrees on which keys count).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileCredentials {
    /// No profiles, or no `[default]` while none is selected: the chain moves on.
    NotConfigured,
    /// The profile exists but holds no credential keys (only `region`, ...): the chain moves on.
    NoCredentials,
    /// `role_arn` + `web_identity_token_file`: the documented way to pin web identity in a profile.
    WebIdentity {
        /// The profile's `role_arn`.
        role_arn: String,
    },
    /// Credentials that win over web identity: the keys that make them (names only).
    Credentials(Vec<String>),
    /// The selected profile is not defined: the SDK's chain fails.
    Missing,
}

/// Classifies the selected profile; `get(key)` reads it, `None` when no such profile exists.
pub fn classify_profile<'a, F>(selected: &str, get: Option<F>) -> ProfileCredentials
where
    F: Fn(&str) -> Option<&'a str>,
{
    let Some(get) = get else {
        // An absent `[default]` falls through everywhere. An explicitly selected profile that does
        // not exist fails botocore's chain (ProfileNotFound) whether or not any file exists;
        // aws-config falls through only when no profile at all is defined (NoProfilesDefined).
        return if selected == "default" {
            ProfileCredentials::NotConfigured
        } else {
            ProfileCredentials::Missing
        };
    };
    let has = |k: &str| get(k).is_some();
    if has("web_identity_token_file")
        && !has("credential_source")
        && let Some(role_arn) = get("role_arn")
    {
        return ProfileCredentials::WebIdentity {
            role_arn: role_arn.to_owned(),
        };
    }
    let keys: Vec<String> = [
        "role_arn",
        "source_profile",
        "credential_source",
        "web_identity_token_file",
        "sso_session",
        "sso_start_url",
        "sso_account_id",
        "login_session",
        "credential_process",
        "aws_access_key_id",
        // Alone it is an error in aws-config (InvalidCredentialSource): the chain fails, which shadows too.
        "aws_secret_access_key",
        "aws_session_token",
    ]
    .into_iter()
    .filter(|k| has(k))
    .map(str::to_owned)
    .collect();
    if keys.is_empty() {
        ProfileCredentials::NoCredentials
    } else {
        ProfileCredentials::Credentials(keys)
    }
}

impl EnvFacts {
    /// Whether the EKS Pod Identity variables are both set.
    pub fn uses_pod_identity(&self) -> bool {
        self.container_credentials_uri.is_some() && self.container_token_file.is_some()
    }

    /// Whether either IRSA variable is set.
    pub fn uses_irsa(&self) -> bool {
        self.role_arn.is_some() || self.token_file.is_some()
    }

    /// Whether the default chain (Environment, Profile, WebIdentityToken, EcsContainer, IMDS)
    /// falls through to IMDS for credentials: nothing earlier is configured.
    pub fn chain_reaches_imds(&self) -> bool {
        self.static_sources.is_empty()
            && self.profile_web_identity_role.is_none()
            && !(self.role_arn.is_some() && self.token_file.is_some())
            && self.container_credentials_uri.is_none()
    }

    /// Whether the default chain gets as far as the container provider (EKS Pod Identity's agent):
    /// Pod Identity is configured and nothing earlier (keys, profile, web identity) answers.
    pub fn chain_reaches_container(&self) -> bool {
        self.uses_pod_identity()
            && self.static_sources.is_empty()
            && self.profile_web_identity_role.is_none()
            && !(self.role_arn.is_some() && self.token_file.is_some())
    }

    /// Whether the SDK must ask IMDS for its region (none in the environment or the profile).
    pub fn region_from_imds(&self) -> bool {
        self.region.is_none() && self.profile_region.is_none()
    }

    /// Whether access keys sit in the environment (the report's `static_credentials_in_env`).
    pub fn static_keys_in_env(&self) -> bool {
        self.static_sources
            .iter()
            .any(|s| matches!(s, StaticSource::EnvKeys(_)))
    }
}

/// The IMDS endpoint the SDK would use: `AWS_EC2_METADATA_SERVICE_ENDPOINT`, else by endpoint mode.
pub fn imds_endpoint(lookup: impl Fn(&str) -> Option<String>) -> String {
    if let Some(e) = lookup("AWS_EC2_METADATA_SERVICE_ENDPOINT").filter(|e| !e.is_empty()) {
        return e.trim_end_matches('/').to_owned();
    }
    match lookup("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE") {
        Some(m) if m.eq_ignore_ascii_case("ipv6") => "http://[fd00:ec2::254]".into(),
        _ => "http://169.254.169.254".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_name_variables_not_values() {
        let s = StaticSource::EnvKeys(vec!["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]);
        assert_eq!(
            s.to_string(),
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment"
        );
    }

    #[test]
    fn imds_endpoint_follows_sdk_variables() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(imds_endpoint(env(&[])), "http://169.254.169.254");
        assert_eq!(
            imds_endpoint(env(&[("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv6")])),
            "http://[fd00:ec2::254]"
        );
        assert_eq!(
            imds_endpoint(env(&[(
                "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                "http://127.0.0.1:1338/"
            )])),
            "http://127.0.0.1:1338"
        );
    }
}
