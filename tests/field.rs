//! The field suite: realistic pod configurations as data, one line each,
//! every one run through the real binary (`check --format json`) against the
//! emulators, asserting the exact set of finding codes. A healthy configuration
//! must raise nothing at warning or above; a failure must raise the code naming
//! its cause (docs/reference.md#findings).
//!
//! A row whose behaviour is specified but not built yet carries
//! `pending: Some("needs <what>")`: it is skipped with that reason printed, never
//! silently. Flip it to `None` once the fix is merged.
//!
//! To add a configuration, add a line to `ROWS`: start from `IRSA` (a healthy IRSA pod)
//! or `PI` (a healthy Pod Identity pod) and change what differs.
#![allow(clippy::disallowed_methods)] // drives the real binary: real clocks, a chosen environment

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use common::*;
use irsa_doctor_emulator::agent::AgentMode;
use irsa_doctor_emulator::harness::PodIdentity;
use irsa_doctor_emulator::harness::kube::{Cluster, NAMESPACE, POD, SERVICE_ACCOUNT};
use irsa_doctor_emulator::harness::pod_identity::POD_IDENTITY_AUDIENCE;
use irsa_doctor_emulator::imds::{ImdsConfig, ImdsMode};
use irsa_doctor_emulator::issuer::{Issuer, TokenSpec};
use irsa_doctor_emulator::kube_api::{container, service_account, webhook_pod};
use irsa_doctor_emulator::oidc::OidcMode;
use irsa_doctor_emulator::sts::{StsConfig, StsMode};
use serde_json::Value;

/// The partition of the role, the cluster's issuer and the region.
#[derive(Clone, Copy, Debug)]
enum Part {
    Aws,
    Cn,
    Gov,
}

impl Part {
    fn name(self) -> &'static str {
        match self {
            Part::Aws => "aws",
            Part::Cn => "aws-cn",
            Part::Gov => "aws-us-gov",
        }
    }
    fn region(self) -> &'static str {
        match self {
            Part::Aws => "us-east-1",
            Part::Cn => "cn-north-1",
            Part::Gov => "us-gov-west-1",
        }
    }
    fn issuer(self) -> &'static str {
        match self {
            Part::Aws => ISSUER,
            Part::Cn => "https://oidc.eks.cn-north-1.amazonaws.com.cn/id/EXAMPLE",
            Part::Gov => "https://oidc.eks.us-gov-west-1.amazonaws.com/id/EXAMPLE",
        }
    }
}

/// Which identity mechanism the pod was given.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mech {
    /// The IRSA webhook's `AWS_ROLE_ARN` and `AWS_WEB_IDENTITY_TOKEN_FILE`.
    Irsa,
    /// The Pod Identity agent's `AWS_CONTAINER_CREDENTIALS_FULL_URI` and token file.
    PodIdentity,
    /// Both (a pod moved to Pod Identity with its IRSA annotation left on).
    Both,
    /// Neither: the webhook did not mutate the pod.
    Neither,
}

/// How the fake STS answers AssumeRoleWithWebIdentity.
#[derive(Clone, Copy, Debug)]
enum Sts {
    Healthy,
    /// A transient 500 once, then healthy (the SDK's retry absorbs it).
    Blip500,
    /// A dropped connection once, then healthy.
    BlipDrop,
    Down,
    Throttled,
    ServerError,
    /// `IDPCommunicationError` every time.
    IdpError,
    /// `AccessDenied` every time (the role does not exist or does not trust the cluster).
    Denied,
    /// GetCallerIdentity reports another role.
    OtherCaller,
    /// The `Date` header five minutes ahead.
    Skewed,
    /// `InvalidIdentityToken` for a signature the issuer's keys do not verify.
    BadSignature,
}

/// IMDS as the pod sees it.
#[derive(Clone, Copy, Debug)]
enum Imds {
    /// Connection refused (hop limit 1, or blocked).
    Closed,
    /// Accepts and never answers (Fargate: nothing behind 169.254.169.254).
    Blackhole,
    /// IMDSv2 and v1 both reachable, handing out the node role.
    Open,
}

/// The Pod Identity agent.
#[derive(Clone, Copy, Debug)]
enum Agent {
    Healthy,
    /// Refused: no agent on the node.
    Down,
    /// 400: the association or the token is wrong.
    Denied,
    ServerError,
    /// 429 from EKS Auth.
    Throttled,
    /// Accepts and answers after the probe's deadline (EKS Auth slow).
    Slow,
}

/// What the token volume holds.
#[derive(Clone, Copy, Debug)]
enum File {
    /// A token signed by the cluster's key, shaped by `Tok`.
    Token,
    /// Nothing at the configured path.
    Missing,
    /// The path is a directory (cannot be read as a file, even by root).
    Unreadable,
    /// Not a JWT.
    Garbage,
}

/// The token's claims.
#[derive(Clone, Copy, Debug)]
struct Tok {
    aud: &'static str,
    /// Seconds since `iat` (negative: issued in the future).
    age: i64,
    lifetime: i64,
    sub: &'static str,
    /// An issuer the account has no OIDC provider for.
    foreign_issuer: bool,
    /// Signed with a new cluster key that the published JWKS does not have yet.
    new_key: bool,
}

/// An `AWS_PROFILE` in `$HOME/.aws/config` (and `AWS_CONFIG_FILE` pointing at it).
#[derive(Clone, Copy, Debug)]
enum Profile {
    None,
    /// `role_arn` + `web_identity_token_file`: IRSA pinned in a profile.
    WebIdentity,
    /// Only `region`.
    RegionOnly,
    /// Static keys in the profile.
    StaticKeys,
}

/// A trust policy copy given with `--trust-policy-file`.
#[derive(Clone, Copy, Debug)]
enum Policy {
    None,
    /// The role's current policy.
    Current,
    /// An old copy that pins another ServiceAccount (STS itself trusts this one).
    Outdated,
    /// A policy written for another cluster: its federated provider is another issuer.
    OtherCluster,
}

/// Tokens watched besides the mechanism's own.
#[derive(Clone, Copy, Debug)]
enum Extra {
    None,
    /// The API server's own `kube-api-access` token (`--token-file kube_api=...`), extended
    /// to a year, its `warnafter` an hour past and no refresh since.
    StaleKubeApi,
}

/// The role's own policies as IAM answers them to `--expect-access` (the fake STS is IAM too).
#[derive(Clone, Copy, Debug)]
enum Iam {
    /// No `--expect-access`: IAM is never asked.
    Off,
    /// IAM answers: the role's one inline policy is this document (`{p}` is the partition).
    Policy(&'static str),
    /// IAM refuses every read (the role may not read itself).
    Refused,
}

/// The pod's own spec in the Kubernetes API (a fake over HTTPS, reached through KUBECONFIG).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kube {
    /// No API configured: nothing is read.
    Off,
    /// The pod as the webhook left it for the row's mechanism; its ServiceAccount annotated
    /// with the row's role (a Pod Identity pod keeps its old IRSA annotation).
    Readable,
    /// RBAC grants no `get` on pods.
    NoRbac,
    /// The ServiceAccount was re-annotated with another role after the pod started.
    RoleChanged,
    /// The pod runs with `hostNetwork: true`.
    HostNetwork,
    /// An `uploader` container that calls AWS is listed in `eks.amazonaws.com/skip-containers`.
    SkippedContainer,
    /// The app container takes `AWS_ACCESS_KEY_ID` from a Secret.
    StaticKeys,
    /// The token volume's `defaultMode` is 0600 and the app runs as uid 1000, no fsGroup.
    UnreadableToken,
}

/// One configuration. `env` entries are set after the mechanism's own variables; a key
/// starting with `-` removes that variable.
#[derive(Clone, Copy, Debug)]
struct Row {
    name: &'static str,
    part: Part,
    mech: Mech,
    sts: Sts,
    /// The audience the fake STS (the OIDC provider's client id) accepts.
    sts_aud: &'static str,
    imds: Imds,
    /// Whether the issuer's discovery endpoint answers (private clusters: not from the pod).
    oidc_up: bool,
    agent: Agent,
    file: File,
    tok: Tok,
    profile: Profile,
    policy: Policy,
    iam: Iam,
    extra: Extra,
    kube: Kube,
    env: &'static [(&'static str, &'static str)],
    flags: &'static [&'static str],
    want: &'static [&'static str],
    pending: Option<&'static str>,
}

const TOK: Tok = Tok {
    aud: "sts.amazonaws.com",
    age: 100,
    lifetime: 86_400,
    sub: SUB,
    foreign_issuer: false,
    new_key: false,
};

/// A healthy IRSA pod: the webhook's variables, STS trusting the token, IMDS blocked.
const IRSA: Row = Row {
    name: "",
    part: Part::Aws,
    mech: Mech::Irsa,
    sts: Sts::Healthy,
    sts_aud: "sts.amazonaws.com",
    imds: Imds::Closed,
    oidc_up: true,
    agent: Agent::Healthy,
    file: File::Token,
    tok: TOK,
    profile: Profile::None,
    policy: Policy::None,
    iam: Iam::Off,
    extra: Extra::None,
    kube: Kube::Off,
    env: &[],
    flags: &[],
    want: &[],
    pending: None,
};

/// A healthy Pod Identity pod: the agent's variables only.
const PI: Row = Row {
    mech: Mech::PodIdentity,
    tok: Tok {
        aud: "pods.eks.amazonaws.com",
        ..TOK
    },
    ..IRSA
};

/// `NO_PROXY` covering every credential endpoint a pod may use, and loopback (the fakes).
const NO_PROXY_ALL: &str =
    "localhost,127.0.0.1,169.254.169.254,169.254.170.23,fd00:ec2::23,.svc,.cluster.local";
/// What the access rows' workload needs: writing one prefix of a bucket, and its KMS key.
const EXPECT: &str =
    "s3:PutObject=arn:{p}:s3:::acme-backups/db/*,kms:Decrypt=arn:{p}:kms:{r}:111122223333:key/k1";
/// A policy that grants exactly that.
const GRANTS: &str = r#"{"Version": "2012-10-17", "Statement": [
  {"Sid": "Dumps", "Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:{p}:s3:::acme-backups/*"},
  {"Sid": "Key", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": "arn:{p}:kms:*:111122223333:key/*"}]}"#;

/// A proxy nobody listens on: only what `NO_PROXY` says matters.
const PROXY: &str = "http://127.0.0.1:9";

#[rustfmt::skip]
const ROWS: &[Row] = &[
    // Healthy: nothing at warning or above.
    Row { name: "irsa baseline", ..IRSA },
    Row { name: "irsa, region from AWS_DEFAULT_REGION only", env: &[("-AWS_REGION", ""), ("AWS_DEFAULT_REGION", "us-east-1")], ..IRSA },
    Row { name: "irsa, session name from AWS_ROLE_SESSION_NAME", env: &[("AWS_ROLE_SESSION_NAME", "billing-api")], ..IRSA },
    Row { name: "irsa, expected subject from the downward API", env: &[("POD_NAMESPACE", "demo"), ("SERVICE_ACCOUNT_NAME", "demo-sa")], ..IRSA },
    Row { name: "irsa, current trust policy file", policy: Policy::Current, ..IRSA },
    Row { name: "irsa, 1 h token mid-life", tok: Tok { lifetime: 3600, age: 1800, ..TOK }, ..IRSA },
    Row { name: "irsa, 10 min token before its refresh point", tok: Tok { lifetime: 600, age: 300, ..TOK }, ..IRSA },
    Row { name: "irsa, 10 min token within the kubelet's refresh lag", tok: Tok { lifetime: 600, age: 560, ..TOK }, ..IRSA },
    Row { name: "fargate-like: no IMDS at all", imds: Imds::Blackhole, env: &[("AWS_DEFAULT_REGION", "us-east-1")], ..IRSA },
    Row { name: "pod identity baseline", ..PI },
    Row { name: "aws-cn partition", part: Part::Cn, ..IRSA },
    Row { name: "aws-us-gov partition", part: Part::Gov, ..IRSA },
    Row { name: "custom audience, configured", tok: Tok { aud: "billing.example.com", ..TOK }, sts_aud: "billing.example.com", flags: &["--expected-audience", "billing.example.com"], ..IRSA },
    Row { name: "custom audience, STS accepts it (not configured)", tok: Tok { aud: "billing.example.com", ..TOK }, sts_aud: "billing.example.com", ..IRSA },
    Row { name: "proxied cluster, NO_PROXY lists every endpoint", env: &[("HTTPS_PROXY", PROXY), ("HTTP_PROXY", PROXY), ("NO_PROXY", NO_PROXY_ALL)], ..IRSA },
    Row { name: "proxied cluster, NO_PROXY as a CIDR block", env: &[("HTTPS_PROXY", PROXY), ("NO_PROXY", "127.0.0.0/8,169.254.0.0/16,fd00:ec2::/64")], ..IRSA },
    Row { name: "proxied cluster, lowercase variables", env: &[("https_proxy", PROXY), ("no_proxy", NO_PROXY_ALL)], ..IRSA },
    Row { name: "proxied irsa pod, NO_PROXY without the agent's address", env: &[("HTTPS_PROXY", PROXY), ("NO_PROXY", "127.0.0.1,169.254.169.254")], ..IRSA },
    Row { name: "profile pins web identity", profile: Profile::WebIdentity, ..IRSA },
    Row { name: "profile with only a region", profile: Profile::RegionOnly, env: &[("-AWS_REGION", "")], ..IRSA },
    Row { name: "transient STS 500, retried", sts: Sts::Blip500, ..IRSA },
    Row { name: "transient dropped connection, retried", sts: Sts::BlipDrop, ..IRSA },
    Row { name: "signing key rotated, issuer unreachable from the pod", tok: Tok { new_key: true, ..TOK }, oidc_up: false, want: &["OIDC_DISCOVERY_FAILED"], ..IRSA },
    Row { name: "issuer unreachable from the pod (private cluster)", oidc_up: false, want: &["OIDC_DISCOVERY_FAILED"], ..IRSA },
    Row { name: "pod identity, proxied with NO_PROXY for the agent", env: &[("HTTPS_PROXY", PROXY), ("HTTP_PROXY", PROXY), ("NO_PROXY", NO_PROXY_ALL)], ..PI },
    Row { name: "proxied cluster, bracketed IPv6 in NO_PROXY", env: &[("HTTPS_PROXY", PROXY), ("NO_PROXY", "127.0.0.1,169.254.169.254,169.254.170.23,[fd00:ec2::23]")], ..IRSA },
    Row { name: "aws-cn, legacy endpoints setting (no global endpoint there)", part: Part::Cn, env: &[("AWS_STS_REGIONAL_ENDPOINTS", "legacy")], ..IRSA },
    Row { name: "legacy global STS endpoint (info only)", env: &[("AWS_STS_REGIONAL_ENDPOINTS", "legacy")], want: &["GLOBAL_STS_ENDPOINT"], ..IRSA },
    Row { name: "expected access granted", iam: Iam::Policy(GRANTS), ..IRSA },
    Row { name: "expected access granted, aws-cn ARNs", part: Part::Cn, iam: Iam::Policy(GRANTS), ..IRSA },
    Row { name: "expected access granted, aws-us-gov ARNs", part: Part::Gov, iam: Iam::Policy(GRANTS), ..IRSA },
    Row { name: "expected access, Allow pinned to a region the pod's SDK does not use (S3: unknown, not denied)", env: &[("AWS_REGION", "eu-west-1")], iam: Iam::Policy(r#"{"Statement": [
      {"Sid": "Dumps", "Effect": "Allow", "Action": "s3:PutObject", "Resource": "*", "Condition": {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}},
      {"Sid": "Key", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}]}"#), ..IRSA },
    Row { name: "expected access, Allow with a condition the pod cannot know (unknown, not denied)", iam: Iam::Policy(r#"{"Statement": [
      {"Sid": "Office", "Effect": "Allow", "Action": ["s3:PutObject", "kms:Decrypt"], "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}}]}"#), ..IRSA },
    Row { name: "expected access, IAM refuses the role its own policies (info only)", iam: Iam::Refused, want: &["ACCESS_UNVERIFIED"], ..IRSA },

    // Failures: the code that names the cause.
    Row { name: "token expired", tok: Tok { age: 90_000, ..TOK }, want: &["TOKEN_EXPIRED", "TOKEN_NOT_ROTATED", "STS_ASSUME_FAILED"], ..IRSA },
    Row { name: "token not yet valid", tok: Tok { age: -3600, ..TOK }, want: &["TOKEN_NOT_YET_VALID"], ..IRSA },
    Row { name: "wrong audience", tok: Tok { aud: "api", ..TOK }, want: &["AUDIENCE_MISMATCH", "STS_ASSUME_FAILED"], ..IRSA },
    Row { name: "wrong subject", tok: Tok { sub: "system:serviceaccount:demo:other", ..TOK }, flags: &["--expected-subject", SUB], want: &["SUBJECT_MISMATCH", "STS_ASSUME_FAILED"], ..IRSA },
    Row { name: "issuer unknown to the account", tok: Tok { foreign_issuer: true, ..TOK }, want: &["STS_ASSUME_FAILED"], ..IRSA },
    Row { name: "STS down", sts: Sts::Down, want: &["STS_UNREACHABLE"], ..IRSA },
    Row { name: "STS throttled", sts: Sts::Throttled, want: &["STS_THROTTLED"], ..IRSA },
    Row { name: "STS 500 every time", sts: Sts::ServerError, want: &["STS_ASSUME_FAILED"], ..IRSA },
    Row { name: "IDPCommunicationError every time", sts: Sts::IdpError, want: &["STS_ASSUME_FAILED"], ..IRSA },
    Row { name: "access denied", sts: Sts::Denied, want: &["STS_ASSUME_FAILED"], ..IRSA },
    Row { name: "assumed credentials are another role", sts: Sts::OtherCaller, want: &["ROLE_MISMATCH"], ..IRSA },
    Row { name: "clock skew", sts: Sts::Skewed, want: &["CLOCK_SKEW"], ..IRSA },
    Row { name: "IMDS open", imds: Imds::Open, want: &["IMDS_REACHABLE"], ..IRSA },
    Row { name: "static keys in the environment", env: &[("AWS_ACCESS_KEY_ID", "AKIASTATICEXAMPLE000"), ("AWS_SECRET_ACCESS_KEY", "staticSecretExample")], want: &["STATIC_CREDENTIALS_SHADOW"], ..IRSA },
    Row { name: "static keys in the profile", profile: Profile::StaticKeys, want: &["STATIC_CREDENTIALS_SHADOW"], ..IRSA },
    Row { name: "webhook did not mutate the pod", mech: Mech::Neither, want: &["IRSA_ENV_MISSING", "TOKEN_FILE_MISSING"], ..IRSA },
    Row { name: "not mutated, node role fallback", mech: Mech::Neither, imds: Imds::Open, want: &["IRSA_ENV_MISSING", "TOKEN_FILE_MISSING", "NODE_ROLE_FALLBACK", "IMDS_REACHABLE"], ..IRSA },
    Row { name: "token file missing", file: File::Missing, want: &["TOKEN_FILE_MISSING"], ..IRSA },
    Row { name: "token unreadable", file: File::Unreadable, want: &["TOKEN_UNREADABLE"], ..IRSA },
    Row { name: "token malformed", file: File::Garbage, want: &["TOKEN_MALFORMED", "STS_ASSUME_FAILED"], ..IRSA },
    Row { name: "no region anywhere", env: &[("-AWS_REGION", ""), ("-AWS_DEFAULT_REGION", "")], want: &["REGION_MISSING"], ..IRSA },
    Row { name: "irsa pod, HTTPS_PROXY without NO_PROXY (uses no link-local endpoint)", env: &[("HTTPS_PROXY", PROXY)], ..IRSA },
    Row { name: "pod identity behind http_proxy without NO_PROXY", env: &[("http_proxy", PROXY)], want: &["PROXY_INTERCEPTS_CREDENTIALS"], ..PI },
    Row { name: "pod identity agent down", agent: Agent::Down, want: &["POD_IDENTITY_AGENT_UNREACHABLE"], ..PI },
    Row { name: "pod identity denied", agent: Agent::Denied, want: &["POD_IDENTITY_DENIED"], ..PI },
    Row { name: "pod identity agent 500", agent: Agent::ServerError, want: &["POD_IDENTITY_AGENT_ERROR"], ..PI },
    Row { name: "pod identity throttled (429)", agent: Agent::Throttled, want: &["POD_IDENTITY_THROTTLED"], ..PI },
    Row { name: "pod identity agent slow (EKS Auth latency)", agent: Agent::Slow, want: &["POD_IDENTITY_AGENT_ERROR"], ..PI },
    Row { name: "outdated trust policy copy, STS accepts", policy: Policy::Outdated, want: &["TRUST_POLICY_OUTDATED"], ..IRSA },
    Row { name: "trust policy of another cluster (recreated: new issuer id), STS denies", policy: Policy::OtherCluster, sts: Sts::Denied, want: &["ISSUER_MISMATCH", "STS_ASSUME_FAILED"], ..IRSA },
    Row { name: "kubelet stalled: 24 h token with 30 min left", tok: Tok { age: 84_600, ..TOK }, want: &["TOKEN_EXPIRING_SOON", "TOKEN_NOT_ROTATED"], ..IRSA },
    Row { name: "API server token past its warnafter, never refreshed", extra: Extra::StaleKubeApi, want: &["TOKEN_STALE_WARNAFTER"], ..IRSA },
    Row { name: "aws-cn, access denied", part: Part::Cn, sts: Sts::Denied, want: &["STS_ASSUME_FAILED"], ..IRSA },
    Row { name: "aws-us-gov, wrong audience", part: Part::Gov, tok: Tok { aud: "api", ..TOK }, want: &["AUDIENCE_MISMATCH", "STS_ASSUME_FAILED"], ..IRSA },
    Row { name: "aws-us-gov, node role fallback", part: Part::Gov, mech: Mech::Neither, imds: Imds::Open, want: &["IRSA_ENV_MISSING", "TOKEN_FILE_MISSING", "NODE_ROLE_FALLBACK", "IMDS_REACHABLE"], ..IRSA },
    Row { name: "token signed by a key the issuer does not publish", tok: Tok { new_key: true, ..TOK }, sts: Sts::BadSignature, want: &["TOKEN_SIGNATURE_INVALID", "STS_ASSUME_FAILED"], ..IRSA },
    Row { name: "trust policy denies and so does STS", policy: Policy::Outdated, sts: Sts::Denied, want: &["TRUST_POLICY_DENIES", "STS_ASSUME_FAILED"], ..IRSA },
    Row { name: "pod identity, proxy without the agent in NO_PROXY", env: &[("HTTPS_PROXY", PROXY), ("HTTP_PROXY", PROXY)], want: &["PROXY_INTERCEPTS_CREDENTIALS"], ..PI },
    Row { name: "both mechanisms", mech: Mech::Both, want: &["BOTH_IDENTITY_MECHANISMS"], ..IRSA },
    Row { name: "irsa, its spec readable", kube: Kube::Readable, ..IRSA },
    Row { name: "aws-cn, its spec readable", part: Part::Cn, kube: Kube::Readable, ..IRSA },
    Row { name: "pod identity, its spec readable, the ServiceAccount keeps its IRSA annotation", kube: Kube::Readable, ..PI },
    Row { name: "irsa with hostNetwork, its spec readable", kube: Kube::HostNetwork, ..IRSA },
    Row { name: "irsa, no RBAC for its own spec (info only)", kube: Kube::NoRbac, want: &["KUBERNETES_API_UNAVAILABLE"], ..IRSA },
    Row { name: "irsa, ServiceAccount re-annotated since the pod started", kube: Kube::RoleChanged, want: &["ROLE_ANNOTATION_CHANGED"], ..IRSA },
    Row { name: "not mutated, ServiceAccount annotated", mech: Mech::Neither, kube: Kube::Readable, want: &["IRSA_ENV_MISSING", "TOKEN_FILE_MISSING", "ROLE_ANNOTATION_CHANGED"], ..IRSA },
    Row { name: "irsa, a container that calls AWS listed in skip-containers", kube: Kube::SkippedContainer, want: &["APP_CONTAINER_NOT_INJECTED"], ..IRSA },
    Row { name: "irsa, the app container takes AWS_ACCESS_KEY_ID from a Secret", kube: Kube::StaticKeys, want: &["APP_CONTAINER_STATIC_KEYS"], ..IRSA },
    Row { name: "irsa, token 0600 root and the app runs as uid 1000 without fsGroup", kube: Kube::UnreadableToken, want: &["TOKEN_UNREADABLE_BY_APP"], ..IRSA },
    Row { name: "pod identity with hostNetwork, the agent refuses it", agent: Agent::Down, kube: Kube::HostNetwork, want: &["POD_IDENTITY_AGENT_UNREACHABLE", "POD_IDENTITY_UNSUPPORTED_HERE"], ..PI },
    Row { name: "expected access, the policy lost s3:PutObject", iam: Iam::Policy(r#"{"Statement": [
      {"Sid": "Key", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}]}"#), want: &["ACCESS_NOT_ALLOWED"], ..IRSA },
    Row { name: "expected access, an explicit Deny on the bucket", iam: Iam::Policy(r#"{"Statement": [
      {"Effect": "Allow", "Action": "*", "Resource": "*"},
      {"Sid": "Freeze", "Effect": "Deny", "Action": "s3:Put*", "Resource": "arn:{p}:s3:::acme-backups/*"}]}"#), want: &["ACCESS_NOT_ALLOWED"], ..IRSA },
    Row { name: "expected access, aws-cn, the key is in another region", part: Part::Cn, iam: Iam::Policy(r#"{"Statement": [
      {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"},
      {"Sid": "Key", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": "arn:{p}:kms:cn-northwest-1:111122223333:key/*"}]}"#), want: &["ACCESS_NOT_ALLOWED"], ..IRSA },
];

const ACCOUNT: &str = "111122223333";
/// How long the slow agent takes: past the probe's 2 s agent deadline.
const SLOW_AGENT: Duration = Duration::from_secs(4);

/// The cluster's next signing key (same issuer, another `kid`), made once.
fn new_key() -> &'static Issuer {
    static KEY: OnceLock<Issuer> = OnceLock::new();
    KEY.get_or_init(|| Issuer::generate(ISSUER).expect("generate the rotated key"))
}

/// What one row observed, for the summary.
struct Outcome {
    name: &'static str,
    pending: Option<&'static str>,
    failure: Option<String>,
}

#[test]
fn field_configurations() {
    assert!(ROWS.len() >= 30, "the field suite keeps at least 30 rows");
    let mut names = BTreeSet::new();
    for row in ROWS {
        assert!(names.insert(row.name), "duplicate row name {:?}", row.name);
    }
    // `FIELD_RUN_PENDING=1` also runs the pending rows and says which pass now (to flip them).
    let run_pending = std::env::var_os("FIELD_RUN_PENDING").is_some();
    for row in ROWS.iter().filter(|r| r.pending.is_some()) {
        eprintln!(
            "field: {} {:?}: {}",
            if run_pending {
                "PENDING (running)"
            } else {
                "SKIPPED"
            },
            row.name,
            row.pending.unwrap_or_default()
        );
    }
    let runnable: Vec<&Row> = ROWS
        .iter()
        .filter(|r| run_pending || r.pending.is_none())
        .collect();

    // Rows are independent processes waiting on loopback peers: run a few at a time.
    let next = AtomicUsize::new(0);
    let outcomes = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                while let Some(row) = runnable.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let failure = std::panic::catch_unwind(|| run_row(row)).err().map(|e| {
                        e.downcast_ref::<String>()
                            .cloned()
                            .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                            .unwrap_or_else(|| "panicked".into())
                    });
                    outcomes.lock().unwrap().push(Outcome {
                        name: row.name,
                        pending: row.pending,
                        failure,
                    });
                }
            });
        }
    });
    let outcomes = outcomes.into_inner().unwrap();
    assert_eq!(outcomes.len(), runnable.len());
    let mut failed = Vec::new();
    for o in &outcomes {
        match (o.pending, &o.failure) {
            (Some(needs), None) => eprintln!(
                "field: pending row {:?} PASSES now ({needs}): flip it",
                o.name
            ),
            (Some(_), Some(f)) => eprintln!("field: pending row {:?} still fails: {f}", o.name),
            (None, Some(f)) => failed.push(format!("- {}: {f}", o.name)),
            (None, None) => {}
        }
    }
    let asserted = outcomes.iter().filter(|o| o.pending.is_none()).count();
    assert!(
        failed.is_empty(),
        "{} of {asserted} field rows failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

/// Sets up the pod a row describes, runs `check --format json` in it, compares the codes.
fn run_row(row: &Row) {
    let sts_config = StsConfig {
        partition: row.part.name().into(),
        issuer: row.part.issuer().into(),
        audience: row.sts_aud.into(),
        ..StsConfig::default()
    };
    let outdated = StsConfig {
        allowed_subject: "system:serviceaccount:payments:s3-backup".into(),
        ..sts_config.clone()
    };
    let imds = ImdsConfig {
        partition: row.part.name().into(),
        region: row.part.region().into(),
        ..ImdsConfig::default()
    };
    let pod = Pod::with_peers(Peers::start_with(issuer(), sts_config.clone(), imds));
    let peers = &pod.peers;
    let role_arn = peers.sts.role_arn();
    peers.sts.register_credentials(
        &peers.imds.config().access_key_id,
        &peers.imds.config().node_caller_arn(),
    );
    // The agent and its volume; the agent's credentials belong to the row's partition.
    let identity = PodIdentity::start(&pod);
    identity.register_role(&peers.sts, row.part.name());
    peers.sts.register_credentials(
        "AKIASTATICEXAMPLE000",
        &format!("arn:{}:iam::{ACCOUNT}:user/ci-deployer", row.part.name()),
    );
    match row.sts {
        Sts::Healthy => {}
        Sts::Blip500 => peers.sts.fail_next(1, StsMode::ServerError),
        Sts::BlipDrop => peers.sts.fail_next(1, StsMode::Down),
        Sts::Down => peers.sts.set_mode(StsMode::Down),
        Sts::Throttled => peers.sts.set_mode(StsMode::Throttle),
        Sts::ServerError => peers.sts.set_mode(StsMode::ServerError),
        Sts::IdpError => peers.sts.set_mode(StsMode::Error {
            status: 400,
            code: "IDPCommunicationError".into(),
            message: "Couldn't retrieve verification key from your identity provider".into(),
        }),
        Sts::Denied => peers.sts.set_mode(StsMode::Error {
            status: 403,
            code: "AccessDenied".into(),
            message: "Not authorized to perform sts:AssumeRoleWithWebIdentity".into(),
        }),
        Sts::OtherCaller => peers.sts.set_mode(StsMode::CallerIs(format!(
            "arn:{}:sts::{ACCOUNT}:assumed-role/someone-else/session",
            row.part.name()
        ))),
        Sts::Skewed => peers.sts.set_mode(StsMode::ClockOffset(300)),
        Sts::BadSignature => peers.sts.set_mode(StsMode::Error {
            status: 400,
            code: "InvalidIdentityToken".into(),
            message: "The web identity token's signature could not be verified".into(),
        }),
    }
    match row.imds {
        Imds::Closed | Imds::Open => {}
        Imds::Blackhole => peers.imds.set_mode(ImdsMode::Silent),
    }
    if !row.oidc_up {
        peers.oidc.set_mode(OidcMode::Down);
    }

    // The token: IRSA's volume, or Pod Identity's.
    let spec = TokenSpec {
        issuer: if row.tok.foreign_issuer {
            "https://oidc.eks.eu-west-1.amazonaws.com/id/OTHER".into()
        } else {
            row.part.issuer().into()
        },
        subject: row.tok.sub.into(),
        audiences: vec![row.tok.aud.into()],
        issued_at: now() - row.tok.age,
        lifetime: row.tok.lifetime,
        ..TokenSpec::default()
    };
    let key = if row.tok.new_key { new_key() } else { issuer() };
    let token = key.issue(&spec).expect("sign the row's token");
    let irsa_path = pod.token_path();
    let token_path = match row.mech {
        Mech::PodIdentity => identity.token_path(),
        _ => irsa_path.clone(),
    };
    match row.file {
        File::Token if row.mech == Mech::PodIdentity => identity.write_token(token.as_bytes()),
        File::Token => {
            pod.writer
                .write_token(token.as_bytes())
                .expect("write the token");
            if row.mech == Mech::Both {
                let mut pi_spec = spec.clone();
                pi_spec.audiences = vec![POD_IDENTITY_AUDIENCE.into()];
                let pi_token = issuer()
                    .issue(&pi_spec)
                    .expect("sign the pod identity token");
                identity.write_token(pi_token.as_bytes());
            }
        }
        File::Missing => {}
        File::Unreadable => {
            std::fs::create_dir_all(&token_path).expect("a directory at the token path")
        }
        File::Garbage => {
            std::fs::write(&token_path, "this is not a token\n").expect("write garbage")
        }
    }

    let agent = &identity.agent;
    match row.agent {
        Agent::Healthy => {}
        Agent::Down => {}
        Agent::Denied => agent.expect_token(Some("another-token")),
        Agent::ServerError => agent.set_mode(AgentMode::ServerError),
        Agent::Throttled => agent.set_mode(AgentMode::Throttle),
        Agent::Slow => agent.set_mode(AgentMode::Slow(SLOW_AGENT)),
    }
    let agent_uri = match row.agent {
        Agent::Down => NOWHERE_AGENT.to_owned(),
        _ => agent.uri(),
    };

    // The environment: the pod's, then the mechanism's variables, the profile, the row's own.
    let mut env = match row.imds {
        Imds::Closed => pod.env(),
        Imds::Open | Imds::Blackhole => pod.env_with_imds(),
    };
    set(&mut env, "AWS_REGION", row.part.region());
    set(&mut env, "AWS_ROLE_ARN", &role_arn);
    match row.mech {
        Mech::Irsa => {}
        Mech::PodIdentity => identity.set_env_at(&mut env, &agent_uri, false),
        Mech::Both => identity.set_env_at(&mut env, &agent_uri, true),
        Mech::Neither => {
            unset(&mut env, "AWS_ROLE_ARN");
            unset(&mut env, "AWS_WEB_IDENTITY_TOKEN_FILE");
        }
    }
    let config_file = pod.home().join(".aws").join("config");
    let profile = match row.profile {
        Profile::None => None,
        Profile::WebIdentity => Some(format!(
            "[profile app]\nrole_arn = {role_arn}\nweb_identity_token_file = {}\nregion = {}\n",
            irsa_path.display(),
            row.part.region()
        )),
        Profile::RegionOnly => Some(format!("[profile app]\nregion = {}\n", row.part.region())),
        Profile::StaticKeys => Some(
            "[profile app]\naws_access_key_id = AKIASTATICEXAMPLE000\naws_secret_access_key = staticSecretExample\n"
                .to_owned(),
        ),
    };
    if let Some(profile) = profile {
        std::fs::create_dir_all(config_file.parent().expect("a parent")).expect("mkdir .aws");
        std::fs::write(&config_file, profile).expect("write the profile");
        set(&mut env, "AWS_PROFILE", "app");
        set(
            &mut env,
            "AWS_CONFIG_FILE",
            &config_file.display().to_string(),
        );
    }
    for (key, value) in row.env {
        match key.strip_prefix('-') {
            Some(key) => unset(&mut env, key),
            None => set(&mut env, key, value),
        }
    }

    // The pod's own spec, as the API server holds it.
    let cluster = (row.kube != Kube::Off).then(Cluster::start);
    if let Some(c) = &cluster {
        let injected = matches!(row.mech, Mech::Irsa | Mech::Both).then_some(role_arn.as_str());
        let mut pod_object = webhook_pod(NAMESPACE, POD, SERVICE_ACCOUNT, injected);
        let app = &mut pod_object["spec"]["containers"][0];
        match row.kube {
            Kube::HostNetwork => pod_object["spec"]["hostNetwork"] = true.into(),
            Kube::SkippedContainer => {
                pod_object["metadata"]["annotations"] =
                    serde_json::json!({"eks.amazonaws.com/skip-containers": "uploader"});
                let mut uploader = container("uploader", "uploader:1", None);
                if let Some(env) = uploader["env"].as_array_mut() {
                    env.push(serde_json::json!({"name": "AWS_REGION", "value": row.part.region()}));
                }
                if let Some(containers) = pod_object["spec"]["containers"].as_array_mut() {
                    containers.push(uploader);
                }
            }
            Kube::StaticKeys => {
                if let Some(env) = app["env"].as_array_mut() {
                    env.push(serde_json::json!({"name": "AWS_ACCESS_KEY_ID",
                        "valueFrom": {"secretKeyRef": {"name": "aws-creds", "key": "id"}}}));
                }
            }
            Kube::UnreadableToken => {
                app["securityContext"] = serde_json::json!({"runAsUser": 1000, "runAsGroup": 1000});
                pod_object["spec"]["volumes"][0]["projected"]["defaultMode"] = 0o600.into();
            }
            Kube::Off | Kube::Readable | Kube::NoRbac | Kube::RoleChanged => {}
        }
        let annotated = match row.kube {
            Kube::RoleChanged => format!("arn:{}:iam::{ACCOUNT}:role/renamed", row.part.name()),
            _ => role_arn.clone(),
        };
        c.api.put(pod_object);
        c.api.put(service_account(
            NAMESPACE,
            SERVICE_ACCOUNT,
            Some(&annotated),
        ));
        c.api.forbid("pods", row.kube == Kube::NoRbac);
        c.env(&mut env);
    }

    let mut flags: Vec<String> = row.flags.iter().map(|f| (*f).to_owned()).collect();
    let policy = match row.policy {
        Policy::None => None,
        Policy::Current => Some(sts_config.trust_policy_json()),
        Policy::Outdated => Some(outdated.trust_policy_json()),
        Policy::OtherCluster => Some(
            StsConfig {
                issuer: "https://oidc.eks.us-east-1.amazonaws.com/id/OLDCLUSTER".into(),
                ..sts_config.clone()
            }
            .trust_policy_json(),
        ),
    };
    if let Some(policy) = policy {
        let path = pod.tmp.path().join("trust-policy.json");
        std::fs::write(&path, policy.to_string()).expect("write the trust policy");
        flags.push("--trust-policy-file".into());
        flags.push(path.display().to_string());
    }
    match row.extra {
        Extra::None => {}
        Extra::StaleKubeApi => {
            let path = pod.tmp.path().join("kube-api-token");
            let issued = now() - 7200;
            let kube_api = TokenSpec {
                audiences: vec!["https://kubernetes.default.svc".into()],
                issued_at: issued,
                lifetime: 31_536_000,
                ..TokenSpec::default()
            };
            let mut claims = kube_api.claims();
            claims["kubernetes.io"]["warnafter"] = (issued + 3607).into();
            std::fs::write(&path, jwt(&claims)).expect("write the kube_api token");
            // A --token-file flag replaces AWS_WEB_IDENTITY_TOKEN_FILE: name the IRSA one too.
            flags.push("--token-file".into());
            flags.push(irsa_path.display().to_string());
            flags.push("--token-file".into());
            flags.push(format!("kube_api={}", path.display()));
        }
    }
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();

    // --expect-access: the fake STS answers IAM too; documents name the row's partition.
    let in_partition = |text: &str| {
        text.replace("{p}", row.part.name())
            .replace("{r}", row.part.region())
    };
    match row.iam {
        Iam::Off => {}
        Iam::Policy(document) => {
            let document: Value =
                serde_json::from_str(&in_partition(document)).expect("the row's policy is JSON");
            peers.sts.set_inline_policy("app", &document);
        }
        Iam::Refused => peers.sts.update_config(|c| c.iam_readable = false),
    }
    if !matches!(row.iam, Iam::Off) {
        set(&mut env, "AWS_ENDPOINT_URL_IAM", &peers.sts.endpoint());
        set(&mut env, "IRSA_DOCTOR_EXPECT_ACCESS", &in_partition(EXPECT));
    }

    let (exit, report) = check_json(&env, &flags);
    let got: BTreeSet<String> = codes(&report).into_iter().collect();
    let want: BTreeSet<String> = row.want.iter().map(|c| (*c).to_owned()).collect();
    assert_eq!(
        got, want,
        "codes differ (exit {exit}); findings: {:#}",
        report["findings"]
    );
    // The exit code follows the worst severity.
    let worst = worst_severity(&report);
    let want_exit = match worst {
        "critical" => 2,
        "warning" => 1,
        _ => 0,
    };
    assert_eq!(exit, want_exit, "exit code for worst severity {worst}");
    // A healthy configuration (nothing expected above info) reports `ok`.
    const INFO: &[&str] = &[
        "GLOBAL_STS_ENDPOINT",
        "OIDC_DISCOVERY_FAILED",
        "ACCESS_UNVERIFIED",
    ];
    if row.want.iter().all(|c| INFO.contains(c)) {
        assert_eq!(report["status"], "ok", "a healthy configuration is not ok");
    }
    if let Iam::Policy(_) = row.iam {
        let checks = report["access"]["checks"].as_array().map_or(0, Vec::len);
        assert_eq!(
            checks, 2,
            "both expected accesses judged: {:#}",
            report["access"]
        );
    }
    let text = report.to_string();
    assert!(
        !text.contains(signature(&token)),
        "the token's signature leaked"
    );
    // Every ARN and remediation follows the partition of AWS_ROLE_ARN.
    if !matches!(row.part, Part::Aws) {
        assert!(
            !text.contains("arn:aws:"),
            "the aws partition leaks into a {} report; findings: {:#}",
            row.part.name(),
            report["findings"]
        );
    }
    drop(identity);
}

/// The highest severity among the report's findings ("none" when there are none).
fn worst_severity(report: &Value) -> &'static str {
    let severities: Vec<&str> = report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["severity"].as_str())
        .collect();
    ["critical", "warning", "info"]
        .into_iter()
        .find(|s| severities.contains(s))
        .unwrap_or("none")
}

/// Where no agent listens (the discard port): connection refused.
const NOWHERE_AGENT: &str = "http://127.0.0.1:9/v1/credentials";
