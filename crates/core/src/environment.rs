//! What the pod's environment tells about its AWS identity setup: plain facts,
//!
//! `EnvFacts` is plain data gathered once at start-up (the webhook only
//! mutates pods at creation, so the environment never changes under us).
//! Only variable *names* and profile key *names* are kept: values of
//! credentials are never read into it.

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
    /// `NO_PROXY` / `no_proxy`.
    pub no_proxy: Option<String>,
}

/// Addresses of the credential endpoints that must bypass a proxy: the Pod Identity agent (v4, v6) and IMDS.
pub const CREDENTIAL_ENDPOINTS: [&str; 3] = ["169.254.170.23", "fd00:ec2::23", "169.254.169.254"];

/// Whether a `NO_PROXY` list lets `host` bypass the proxy (exact entries, `*`, and CIDR-less suffix forms).
pub fn no_proxy_covers(no_proxy: &str, host: &str) -> bool {
    no_proxy
        .split(',')
        .map(|e| e.trim().trim_start_matches('[').trim_end_matches(']'))
        .any(|e| e == "*" || e.eq_ignore_ascii_case(host))
}

/// A credential source that wins over web identity in every SDK's default chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaticSource {
    /// Access-key variables set in the environment (names only).
    EnvKeys(Vec<&'static str>),
    /// `AWS_PROFILE` names a profile.
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
            StaticSource::EnvProfile(p) => write!(f, "AWS_PROFILE={p} in the environment"),
            StaticSource::ProfileKeys { profile, keys } => write!(
                f,
                "profile [{profile}] in the shared config/credentials files (~/.aws or AWS_SHARED_CREDENTIALS_FILE/AWS_CONFIG_FILE) sets {}",
                keys.join(", ")
            ),
        }
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

    /// Whether access keys sit in the environment (the report's `static_credentials_in_env`).
    pub fn static_keys_in_env(&self) -> bool {
        self.static_sources
            .iter()
            .any(|s| matches!(s, StaticSource::EnvKeys(_)))
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
}
