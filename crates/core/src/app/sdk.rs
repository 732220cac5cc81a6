//! The application's SDK from its `User-Agent`: name, version, whether that version
//! can use the pod's identity at all, and the credential source its `m/` business
//! metrics name.

use serde::Serialize;

/// Where the application's credentials came from (the report's `credential_source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialSource {
    /// `AssumeRoleWithWebIdentity` with the projected token (IRSA).
    WebIdentity,
    /// The container credentials provider (EKS Pod Identity).
    PodIdentity,
    /// The node's instance role, through IMDS.
    Imds,
    /// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`.
    Environment,
    /// A shared config or credentials file profile.
    Profile,
    /// `credential_process`.
    Process,
    /// IAM Identity Center (SSO).
    Sso,
    /// Something else (credentials passed in code, a role assumed by other means).
    Other,
    /// Not said, and no evidence yet.
    Unknown,
}

impl CredentialSource {
    /// The report's and the metric label's name.
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialSource::WebIdentity => "web_identity",
            CredentialSource::PodIdentity => "pod_identity",
            CredentialSource::Imds => "imds",
            CredentialSource::Environment => "environment",
            CredentialSource::Profile => "profile",
            CredentialSource::Process => "process",
            CredentialSource::Sso => "sso",
            CredentialSource::Other => "other",
            CredentialSource::Unknown => "unknown",
        }
    }

    /// Whether this is the pod's own identity (web identity or Pod Identity).
    pub fn is_pod_identity(self) -> bool {
        matches!(
            self,
            CredentialSource::WebIdentity | CredentialSource::PodIdentity
        )
    }

    /// Whether this source is certainly not the pod's identity: what
    /// `APP_NOT_USING_POD_IDENTITY` is raised for (`other` and `unknown` are not).
    pub fn bypasses_pod_identity(self) -> bool {
        matches!(
            self,
            CredentialSource::Imds
                | CredentialSource::Environment
                | CredentialSource::Profile
                | CredentialSource::Process
                | CredentialSource::Sso
        )
    }
}

/// The credential-provider business metrics of the AWS SDKs' `User-Agent` (`m/` codes, the
/// same in every SDK that sends them; botocore's `useragent.py` lists them), by source.
/// Web identity comes first: a role chained on top of it (`i`) is still the pod's identity.
const METRICS: &[(&str, CredentialSource)] = &[
    ("h", CredentialSource::WebIdentity), // CREDENTIALS_ENV_VARS_STS_WEB_ID_TOKEN
    ("k", CredentialSource::WebIdentity), // CREDENTIALS_STS_ASSUME_ROLE_WEB_ID
    ("q", CredentialSource::WebIdentity), // CREDENTIALS_PROFILE_STS_WEB_ID_TOKEN
    ("z", CredentialSource::PodIdentity), // CREDENTIALS_HTTP
    ("0", CredentialSource::Imds),        // CREDENTIALS_IMDS
    ("g", CredentialSource::Environment), // CREDENTIALS_ENV_VARS
    ("n", CredentialSource::Profile),     // CREDENTIALS_PROFILE
    ("o", CredentialSource::Profile),     // CREDENTIALS_PROFILE_SOURCE_PROFILE
    ("p", CredentialSource::Profile),     // CREDENTIALS_PROFILE_NAMED_PROVIDER
    ("v", CredentialSource::Process),     // CREDENTIALS_PROFILE_PROCESS
    ("w", CredentialSource::Process),     // CREDENTIALS_PROCESS
    ("r", CredentialSource::Sso),         // CREDENTIALS_PROFILE_SSO
    ("s", CredentialSource::Sso),         // CREDENTIALS_SSO
    ("t", CredentialSource::Sso),         // CREDENTIALS_PROFILE_SSO_LEGACY
    ("u", CredentialSource::Sso),         // CREDENTIALS_SSO_LEGACY
    ("e", CredentialSource::Other),       // CREDENTIALS_CODE
    ("i", CredentialSource::Other),       // CREDENTIALS_STS_ASSUME_ROLE
    ("x", CredentialSource::Other),       // CREDENTIALS_BOTO2_CONFIG_FILE
];

/// The credential source the `User-Agent`'s `m/` metrics name, if any.
pub fn credential_source(user_agent: &str) -> Option<CredentialSource> {
    let metrics = user_agent
        .split_whitespace()
        .find_map(|t| t.strip_prefix("m/"))?;
    let codes: Vec<&str> = metrics.split(',').collect();
    METRICS
        .iter()
        .find(|(code, _)| codes.contains(code))
        .map(|(_, source)| *source)
}

/// One row of the minimum-version table.
#[derive(Debug, Clone, Copy)]
pub struct Minimum {
    /// The `User-Agent` product name (compared case-insensitively; `*` ends a prefix).
    pub product: &'static str,
    /// Only versions with this major number (the product name is shared across majors).
    pub major: Option<u64>,
    /// The name the report shows.
    pub sdk: &'static str,
    /// The first version with web identity (IRSA) in its default chain.
    pub web_identity: Option<&'static str>,
    /// The first version whose container provider accepts EKS Pod Identity's agent.
    pub pod_identity: Option<&'static str>,
}

/// Where [`MINIMUMS`] comes from.
pub const MINIMUMS_SOURCE: &str = "https://docs.aws.amazon.com/eks/latest/userguide/iam-roles-for-service-accounts-minimum-sdk.html (IRSA) and https://docs.aws.amazon.com/eks/latest/userguide/pod-id-minimum-sdk.html (Pod Identity)";

/// AWS's minimum SDK versions for web identity and for Pod Identity (one table; source:
/// [`MINIMUMS_SOURCE`]). The first row whose product (and major) matches decides.
pub const MINIMUMS: &[Minimum] = &[
    row("Boto3", None, "boto3", Some("1.9.220"), Some("1.34.41")),
    row(
        "Botocore",
        None,
        "botocore",
        Some("1.12.200"),
        Some("1.34.41"),
    ),
    row(
        "aws-cli",
        Some(1),
        "aws-cli",
        Some("1.16.232"),
        Some("1.30.0"),
    ),
    row("aws-cli", Some(2), "aws-cli", Some("2.0.0"), Some("2.15.0")),
    row(
        "aws-sdk-go",
        None,
        "aws-sdk-go",
        Some("1.23.13"),
        Some("1.47.11"),
    ),
    // Java v1: the IRSA page now lists 1.12.782, but web identity is in the default chain
    // since 1.11.704 (the page's earlier figure), and a working SDK must never be called too
    // old: the lower one stands. Pod Identity: the page now says Java v1 does not support it
    // at all (it once listed 1.12.746), so no version is judged; a Java v1 application on a
    // Pod Identity pod falls through, and APP_NOT_USING_POD_IDENTITY reports that from its
    // own calls.
    row(
        "aws-sdk-java",
        Some(1),
        "aws-sdk-java",
        Some("1.11.704"),
        None,
    ),
    row(
        "aws-sdk-java",
        Some(2),
        "aws-sdk-java-v2",
        Some("2.10.11"),
        Some("2.21.30"),
    ),
    row(
        "aws-sdk-nodejs",
        None,
        "aws-sdk-js",
        Some("2.525.0"),
        Some("2.1550.0"),
    ),
    row(
        "aws-sdk-js",
        Some(3),
        "aws-sdk-js-v3",
        Some("3.27.0"),
        Some("3.458.0"),
    ),
    row(
        "aws-sdk-ruby3",
        None,
        "aws-sdk-ruby3",
        Some("3.58.0"),
        Some("3.188.0"),
    ),
    row(
        "aws-sdk-php",
        None,
        "aws-sdk-php",
        Some("3.110.7"),
        Some("3.287.1"),
    ),
    row(
        "aws-sdk-dotnet-*",
        None,
        "aws-sdk-dotnet",
        Some("3.3.659.1"),
        Some("3.7.734.0"),
    ),
    row(
        "aws-sdk-cpp",
        None,
        "aws-sdk-cpp",
        Some("1.7.174"),
        Some("1.11.263"),
    ),
];

const fn row(
    product: &'static str,
    major: Option<u64>,
    sdk: &'static str,
    web_identity: Option<&'static str>,
    pod_identity: Option<&'static str>,
) -> Minimum {
    Minimum {
        product,
        major,
        sdk,
        web_identity,
        pod_identity,
    }
}

/// An SDK as its `User-Agent` names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Sdk {
    /// The report's name (`boto3`, `aws-cli`, ...), or the product token as sent.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The table row it matched, when it is a known SDK.
    pub row: Option<usize>,
}

/// Longest SDK name or version kept (label values).
const MAX_TOKEN: usize = 48;

/// The SDK of a `User-Agent`: the first product token that is a known SDK, else the first
/// token as sent (`name/version`); `None` for an empty or odd one.
pub fn parse(user_agent: &str) -> Option<Sdk> {
    let tokens = user_agent
        .split_whitespace()
        .filter_map(|t| t.split_once('/'))
        .filter(|(n, v)| !n.is_empty() && !v.is_empty());
    let mut first = None;
    for (name, version) in tokens {
        if let Some(i) = MINIMUMS.iter().position(|m| matches(m, name, version)) {
            return Some(Sdk {
                name: MINIMUMS[i].sdk.to_owned(),
                version: version.to_owned(),
                row: Some(i),
            });
        }
        first.get_or_insert((name, version));
    }
    let (name, version) = first?;
    let clean = |s: &str| {
        s.len() <= MAX_TOKEN
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'#'))
    };
    (clean(name) && clean(version)).then(|| Sdk {
        name: name.to_owned(),
        version: version.to_owned(),
        row: None,
    })
}

fn matches(m: &Minimum, name: &str, version: &str) -> bool {
    let named = match m.product.strip_suffix('*') {
        Some(prefix) => name
            .get(..prefix.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(prefix)),
        None => name.eq_ignore_ascii_case(m.product),
    };
    let length_ok = version.len() <= MAX_TOKEN;
    named
        && length_ok
        && m.major
            .is_none_or(|major| numbers(version).first() == Some(&major))
}

/// The numeric components of a version (`1.34.0rc1` → 1, 34, 0); stops at the first that
/// does not start with a digit.
fn numbers(version: &str) -> Vec<u64> {
    version
        .split('.')
        .map_while(|part| {
            let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .collect()
}

/// Whether `version` is older than `minimum`; `None` when `version` has no number to compare.
pub fn older_than(version: &str, minimum: &str) -> Option<bool> {
    let (v, m) = (numbers(version), numbers(minimum));
    if v.is_empty() {
        return None;
    }
    let len = v.len().max(m.len());
    let pad = |x: &[u64]| {
        let mut x = x.to_vec();
        x.resize(len, 0);
        x
    };
    Some(pad(&v) < pad(&m))
}

/// Which identity the pod gives its application, to pick the minimum that matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// `AWS_ROLE_ARN` + `AWS_WEB_IDENTITY_TOKEN_FILE` (IRSA).
    WebIdentity,
    /// `AWS_CONTAINER_CREDENTIALS_FULL_URI` + its token (EKS Pod Identity).
    PodIdentity,
}

/// The minimum `sdk` needs for `mechanism`, when the SDK is known and is older than it.
pub fn too_old(sdk: &Sdk, mechanism: Mechanism) -> Option<&'static str> {
    let row = MINIMUMS.get(sdk.row?)?;
    let minimum = match mechanism {
        Mechanism::WebIdentity => row.web_identity?,
        Mechanism::PodIdentity => row.pod_identity?,
    };
    older_than(&sdk.version, minimum)?.then_some(minimum)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One row per SDK the table knows, on each side of its minimum, and the rows that
    /// must never be judged: an unknown SDK, Go v2 (every version has web identity), and
    /// Java v1 on a Pod Identity pod (unsupported at any version: its fall-through shows
    /// in the application's own calls instead).
    #[test]
    fn minimum_versions() {
        use Mechanism::{PodIdentity as Pi, WebIdentity as Wi};
        #[rustfmt::skip]
        let cases: &[(&str, Mechanism, Option<&str>)] = &[
            ("Boto3/1.9.100 Python/3.11 Botocore/1.12.100", Wi, Some("1.9.220")),
            ("Boto3/1.9.220 Python/3.11 Botocore/1.12.200", Wi, None),
            ("Boto3/1.34.0 md/Botocore#1.34.0", Pi, Some("1.34.41")),
            ("Boto3/1.34.41 md/Botocore#1.34.41", Pi, None),
            ("aws-cli/1.16.100 Python/3.11 botocore/1.12.90", Wi, Some("1.16.232")),
            ("aws-cli/2.13.0 Python/3.11", Pi, Some("2.15.0")),
            ("aws-cli/2.15.0 Python/3.11", Pi, None),
            ("aws-sdk-go/1.23.12 (go1.21; linux; amd64)", Wi, Some("1.23.13")),
            ("aws-sdk-go/1.47.11 (go1.21; linux; amd64)", Pi, None),
            ("aws-sdk-java/1.11.600 Linux/6.1", Wi, Some("1.11.704")),
            ("aws-sdk-java/1.12.500 Linux/6.1", Wi, None),
            ("aws-sdk-java/1.12.500 Linux/6.1", Pi, None),
            ("aws-sdk-java/2.21.29 Linux/6.1", Pi, Some("2.21.30")),
            ("aws-sdk-nodejs/2.1500.0 linux/v20", Pi, Some("2.1550.0")),
            ("aws-sdk-go-v2/1.0.0 os/linux", Wi, None),
            ("my-own-client/0.1", Wi, None),
        ];
        for (ua, mechanism, want) in cases {
            let sdk = parse(ua).unwrap_or_else(|| panic!("{ua} parses"));
            assert_eq!(too_old(&sdk, *mechanism), *want, "{ua} for {mechanism:?}");
        }
    }
}
