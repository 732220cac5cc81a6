//! What an access-denied error says, and how a call's outcome is classed.
//!
//! AWS's authorization errors name the principal, the action, the resource and the
//! kind of policy that decided, in one sentence
//! (https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html):
//! `User: arn:aws:sts::111122223333:assumed-role/app/s is not authorized to perform:
//! s3:PutObject on resource: "arn:aws:s3:::b/k" because no identity-based policy
//! allows the s3:PutObject action` (or `with an explicit deny in a service control
//! policy`). Older messages stop after the action or the resource.

use serde::Serialize;

/// The outcome of one call (the `outcome` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// 2xx/3xx, no error.
    Success,
    /// Refused by authorization.
    Denied,
    /// Throttled.
    Throttled,
    /// Signed with expired credentials (`ExpiredToken`).
    CredentialsExpired,
    /// Another 4xx error (not found, validation, ...).
    ClientError,
    /// A 5xx error.
    ServerError,
    /// No answer: the SDK failed (connection, timeout, credentials).
    SdkError,
}

impl Outcome {
    /// Every outcome, in label order.
    pub const ALL: [Outcome; 7] = [
        Outcome::Success,
        Outcome::Denied,
        Outcome::Throttled,
        Outcome::CredentialsExpired,
        Outcome::ClientError,
        Outcome::ServerError,
        Outcome::SdkError,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Denied => "denied",
            Outcome::Throttled => "throttled",
            Outcome::CredentialsExpired => "credentials_expired",
            Outcome::ClientError => "client_error",
            Outcome::ServerError => "server_error",
            Outcome::SdkError => "sdk_error",
        }
    }
}

/// Authorization error codes (S3 and most query services, JSON services, EC2).
const DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
];

/// Throttling error codes, as botocore's standard retry mode lists them
/// (`botocore/retries/standard.py`, `THROTTLING_ERROR_CODES`... and 429).
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

/// Expired credentials. Not `RequestExpired`, which is a clock-skewed signature.
const EXPIRED_CODES: &[&str] = &["ExpiredToken", "ExpiredTokenException"];

/// The outcome of a call from its final status, AWS error code and SDK exception.
pub fn classify(
    status: Option<u16>,
    code: Option<&str>,
    message: Option<&str>,
    sdk_exception: Option<&str>,
) -> Outcome {
    let code = code.filter(|c| !c.is_empty());
    if let Some(c) = code {
        if DENIED_CODES.contains(&c) {
            return Outcome::Denied;
        }
        if EXPIRED_CODES.contains(&c) {
            return Outcome::CredentialsExpired;
        }
        if THROTTLING_CODES.contains(&c) {
            return Outcome::Throttled;
        }
    }
    // Some endpoints wrap the code (SNS `AuthorizationError`, a proxy's 403): the message tells.
    if status == Some(403) && message.is_some_and(|m| m.contains("not authorized to perform")) {
        return Outcome::Denied;
    }
    match status {
        Some(429) => Outcome::Throttled,
        Some(s) if s >= 500 => Outcome::ServerError,
        Some(s) if s >= 400 => Outcome::ClientError,
        Some(_) if code.is_some() => Outcome::ClientError,
        Some(_) => Outcome::Success,
        None if code.is_some() => Outcome::ClientError,
        None if sdk_exception.is_some() => Outcome::SdkError,
        // No attempt was made: the SDK failed before sending (no credentials, a bad parameter).
        None => Outcome::SdkError,
    }
}

/// Which kind of policy an authorization error says decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyType {
    /// The principal's identity-based policies.
    Identity,
    /// A resource-based policy (bucket, key, queue, secret policy).
    Resource,
    /// The permissions boundary.
    Boundary,
    /// An Organizations service control policy.
    ServiceControl,
    /// An Organizations resource control policy.
    ResourceControl,
    /// A session policy.
    Session,
    /// A VPC endpoint policy.
    VpcEndpoint,
}

impl PolicyType {
    /// How the report names it.
    pub fn describe(self) -> &'static str {
        match self {
            PolicyType::Identity => "identity-based policy",
            PolicyType::Resource => "resource-based policy",
            PolicyType::Boundary => "permissions boundary",
            PolicyType::ServiceControl => "service control policy",
            PolicyType::ResourceControl => "resource control policy",
            PolicyType::Session => "session policy",
            PolicyType::VpcEndpoint => "VPC endpoint policy",
        }
    }
}

/// What an authorization error message says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Said {
    /// The principal (`User: ARN`).
    pub principal: Option<String>,
    /// The action (`perform: ACTION`).
    pub action: Option<String>,
    /// The resource (`on resource: ARN`).
    pub resource: Option<String>,
    /// The policy type that decided, and whether by an explicit deny.
    pub policy: Option<(PolicyType, bool)>,
}

const POLICY_NAMES: &[(&str, PolicyType)] = &[
    ("identity-based policy", PolicyType::Identity),
    ("resource-based policy", PolicyType::Resource),
    ("permissions boundary", PolicyType::Boundary),
    ("service control policy", PolicyType::ServiceControl),
    ("resource control policy", PolicyType::ResourceControl),
    ("session policy", PolicyType::Session),
    ("VPC endpoint policy", PolicyType::VpcEndpoint),
];

/// Reads an authorization error message; fields it does not name stay `None`.
pub fn parse(message: &str) -> Said {
    let mut said = Said::default();
    if let Some((_, rest)) = message.split_once("User: ")
        && let Some((principal, _)) = rest.split_once(" is not authorized")
    {
        let principal = principal.trim();
        if principal.starts_with("arn:") && !principal.contains(char::is_whitespace) {
            said.principal = Some(principal.to_owned());
        }
    }
    if let Some((_, rest)) = message.split_once("not authorized to perform: ") {
        // The action ends at the first character an action cannot hold (a space, a period,
        // the `<` of an XML body some endpoints wrap the message in).
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == ':' || c == '-'))
            .unwrap_or(rest.len());
        let action = &rest[..end];
        if action.split_once(':').is_some_and(|(s, a)| {
            !s.is_empty()
                && !a.is_empty()
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && a.bytes().all(|b| b.is_ascii_alphanumeric())
        }) {
            said.action = Some(action.to_owned());
        }
    }
    if let Some((_, rest)) = message.split_once(" on resource: ") {
        let resource = rest
            .split(" because ")
            .next()
            .unwrap_or("")
            .split(" with an explicit deny")
            .next()
            .unwrap_or("")
            .trim()
            .trim_matches('"')
            .trim_end_matches('.');
        if (resource.starts_with("arn:") || resource == "*")
            && !resource.contains(char::is_whitespace)
        {
            said.resource = Some(resource.to_owned());
        }
    }
    let explicit = message.contains("with an explicit deny in ");
    let implicit = message.contains("because no ");
    if explicit || implicit {
        said.policy = POLICY_NAMES
            .iter()
            .find(|(name, _)| message.contains(name))
            .map(|(_, t)| (*t, explicit));
    }
    said
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_follow_status_code_and_exception() {
        let cases = [
            ((Some(200), None, None, None), Outcome::Success),
            ((Some(204), None, None, None), Outcome::Success),
            (
                (Some(403), Some("AccessDenied"), None, None),
                Outcome::Denied,
            ),
            (
                (Some(400), Some("AccessDeniedException"), None, None),
                Outcome::Denied,
            ),
            (
                (Some(403), Some("UnauthorizedOperation"), None, None),
                Outcome::Denied,
            ),
            (
                (
                    Some(403),
                    Some("AuthorizationError"),
                    Some("User: arn:aws:iam::1:user/u is not authorized to perform: SNS:Publish"),
                    None,
                ),
                Outcome::Denied,
            ),
            (
                (
                    Some(403),
                    Some("SignatureDoesNotMatch"),
                    Some("The request signature we calculated does not match"),
                    None,
                ),
                Outcome::ClientError,
            ),
            (
                (Some(400), Some("ExpiredToken"), None, None),
                Outcome::CredentialsExpired,
            ),
            (
                (Some(400), Some("ExpiredTokenException"), None, None),
                Outcome::CredentialsExpired,
            ),
            (
                (Some(403), Some("RequestExpired"), None, None),
                Outcome::ClientError,
            ),
            (
                (Some(400), Some("ThrottlingException"), None, None),
                Outcome::Throttled,
            ),
            (
                (Some(503), Some("SlowDown"), None, None),
                Outcome::Throttled,
            ),
            ((Some(429), None, None, None), Outcome::Throttled),
            (
                (Some(404), Some("NoSuchKey"), None, None),
                Outcome::ClientError,
            ),
            (
                (Some(500), Some("InternalError"), None, None),
                Outcome::ServerError,
            ),
            ((Some(502), None, None, None), Outcome::ServerError),
            (
                (None, None, None, Some("ConnectTimeoutError")),
                Outcome::SdkError,
            ),
            ((None, None, None, None), Outcome::SdkError),
        ];
        for ((status, code, message, sdk), want) in cases {
            assert_eq!(
                classify(status, code, message, sdk),
                want,
                "{status:?} {code:?}"
            );
        }
    }

    #[test]
    fn denial_messages_name_what_aws_says() {
        let role = "arn:aws:sts::111122223333:assumed-role/app/botocore-session-1";
        let cases = [
            (
                format!("User: {role} is not authorized to perform: s3:PutObject on resource: \"arn:aws:s3:::other-bucket/x.sql\" because no identity-based policy allows the s3:PutObject action"),
                Said {
                    principal: Some(role.into()),
                    action: Some("s3:PutObject".into()),
                    resource: Some("arn:aws:s3:::other-bucket/x.sql".into()),
                    policy: Some((PolicyType::Identity, false)),
                },
            ),
            (
                format!("User: {role} is not authorized to perform: secretsmanager:GetSecretValue on resource: arn:aws:secretsmanager:us-east-1:111122223333:secret:db-AbCdEf with an explicit deny in a service control policy"),
                Said {
                    principal: Some(role.into()),
                    action: Some("secretsmanager:GetSecretValue".into()),
                    resource: Some("arn:aws:secretsmanager:us-east-1:111122223333:secret:db-AbCdEf".into()),
                    policy: Some((PolicyType::ServiceControl, true)),
                },
            ),
            (
                format!("User: {role} is not authorized to perform: kms:Decrypt on resource: arn:aws:kms:us-east-1:1:key/k because no resource-based policy allows the kms:Decrypt action"),
                Said {
                    principal: Some(role.into()),
                    action: Some("kms:Decrypt".into()),
                    resource: Some("arn:aws:kms:us-east-1:1:key/k".into()),
                    policy: Some((PolicyType::Resource, false)),
                },
            ),
            (
                format!("User: {role} is not authorized to perform: sqs:SendMessage."),
                Said {
                    principal: Some(role.into()),
                    action: Some("sqs:SendMessage".into()),
                    ..Said::default()
                },
            ),
            (
                "<ErrorResponse><Errors><Error><Code>AccessDenied</Code><Message>User: arn:aws:sts::1:assumed-role/app/s is not authorized to perform: secretsmanager:GetSecretValue</Message></Error></Errors></ErrorResponse>".to_owned(),
                Said {
                    principal: Some("arn:aws:sts::1:assumed-role/app/s".into()),
                    action: Some("secretsmanager:GetSecretValue".into()),
                    ..Said::default()
                },
            ),
            ("Access Denied".to_owned(), Said::default()),
            (
                "You are not authorized to perform this operation. Encoded authorization failure message: abc".to_owned(),
                Said::default(),
            ),
            (
                "User: not an arn is not authorized to perform: s3 PutObject on resource: somewhere".to_owned(),
                Said::default(),
            ),
        ];
        for (message, want) in cases {
            assert_eq!(parse(&message), want, "{message}");
        }
    }
}
