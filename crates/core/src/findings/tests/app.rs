//! The application's own calls (client-side monitoring): APP_ACCESS_DENIED,
//! APP_NOT_USING_POD_IDENTITY, APP_SDK_TOO_OLD, APP_CREDENTIALS_FAILING.

use std::hash::{BuildHasherDefault, DefaultHasher};
use std::sync::Arc;

use super::*;
use crate::app::AppSnapshot;
use crate::app::csm;
use crate::policy::access::{RolePolicies, Source};

const HASHER: BuildHasherDefault<DefaultHasher> = BuildHasherDefault::new();
const SESSION: &str = "arn:aws:sts::111122223333:assumed-role/demo/botocore-session-1";
const NODE: &str = "arn:aws:sts::111122223333:assumed-role/eks-node-role/i-0123456789abcdef0";

fn ua(version: &str, metrics: &str) -> String {
    format!(
        "Boto3/{version} md/Botocore#{version} ua/2.1 os/linux#6.1 lang/python#3.11.7 m/{metrics} Botocore/{version}"
    )
}

fn call(service: &str, api: &str, ua: &str, status: u16, error: Option<(&str, &str)>) -> String {
    let mut e = serde_json::json!({"Version": 1, "ClientId": "", "Type": "ApiCall", "Service": service,
        "Api": api, "UserAgent": ua, "FinalHttpStatusCode": status, "AttemptCount": 1});
    if let Some((code, message)) = error {
        e["FinalAwsException"] = code.into();
        e["FinalAwsExceptionMessage"] = message.into();
    }
    e.to_string()
}

fn attempt(ua: &str, key: &str) -> String {
    serde_json::json!({"Version": 1, "ClientId": "", "Type": "ApiCallAttempt", "Service": "S3",
        "Api": "PutObject", "UserAgent": ua, "AccessKey": key, "SessionToken": "IQoJb3JpZ2lu"})
    .to_string()
}

/// The application sent `datagrams` `age` seconds ago.
fn app_sent(age: i64, datagrams: Vec<String>) -> impl FnOnce(&mut Fixture) {
    move |f: &mut Fixture| {
        let app = f.snapshot.app.get_or_insert_with(AppSnapshot::new);
        app.listen = Some("127.0.0.1:31000".into());
        for d in datagrams {
            app.ingest(csm::parse(d.as_bytes(), &HASHER), at(NOW - age));
        }
    }
}

fn then(a: impl FnOnce(&mut Fixture), b: impl FnOnce(&mut Fixture)) -> impl FnOnce(&mut Fixture) {
    move |f: &mut Fixture| {
        a(f);
        b(f);
    }
}

/// The role's inline policy `backup`, as last read.
fn role_policy(statements: &'static str) -> impl FnOnce(&mut Fixture) {
    move |f: &mut Fixture| {
        f.snapshot.access.role_arn = Some(ROLE.into());
        f.snapshot.access.policies = Some(Ok(Arc::new(RolePolicies {
            identity: vec![named_policy("backup", Source::Inline, statements)],
            boundary: None,
            arn: None,
        })));
    }
}

fn denied_put(resource: &str) -> Vec<String> {
    let message = format!(
        "User: {SESSION} is not authorized to perform: s3:PutObject on resource: \"{resource}\" because no identity-based policy allows the s3:PutObject action"
    );
    vec![call(
        "S3",
        "PutObject",
        &ua("1.34.0", "h"),
        403,
        Some(("AccessDenied", &message)),
    )]
}

const BACKUPS: &str = r#"[{"Sid": "Backups", "Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::acme-backups/*"}]"#;

#[test]
fn the_applications_calls() {
    let healthy_call = || call("S3", "PutObject", &ua("1.34.0", "h,b"), 200, None);
    check(
        "healthy: web identity said by m/ metrics",
        app_sent(5, vec![healthy_call()]),
        &[],
    );
    check(
        "healthy: no metrics, a temporary key",
        app_sent(
            5,
            vec![
                attempt(
                    "aws-sdk-go/1.44.0 (go1.21; linux; amd64)",
                    "ASIAXAMPLETEMPORARY1",
                ),
                call(
                    "S3",
                    "PutObject",
                    "aws-sdk-go/1.44.0 (go1.21; linux; amd64)",
                    200,
                    None,
                ),
            ],
        ),
        &[],
    );
    check(
        "healthy: listening, nothing arrived",
        app_sent(0, vec![]),
        &[],
    );
    check(
        "healthy: a not-found and a throttled call are no findings",
        app_sent(
            5,
            vec![
                call(
                    "S3",
                    "GetObject",
                    &ua("1.34.0", "h"),
                    404,
                    Some(("NoSuchKey", "The specified key does not exist.")),
                ),
                call(
                    "DynamoDB",
                    "PutItem",
                    &ua("1.34.0", "h"),
                    400,
                    Some(("ThrottlingException", "Rate exceeded")),
                ),
            ],
        ),
        &[],
    );
    check(
        "old news: a denial 16 minutes ago",
        app_sent(16 * 60, denied_put("arn:aws:s3:::other/x")),
        &[],
    );
    check(
        "healthy: static keys where the pod has no IRSA or Pod Identity at all",
        then(
            |f: &mut Fixture| {
                f.env.role_arn = None;
                f.env.token_file = None;
                f.config.role_arn = None;
            },
            app_sent(
                5,
                vec![call("S3", "PutObject", &ua("1.9.100", "g"), 200, None)],
            ),
        ),
        &[(Code::IrsaEnvMissing, &[])],
    );

    check(
        "denied, the role's policies not read yet",
        app_sent(5, denied_put("arn:aws:s3:::other/x.sql")),
        &[(
            Code::AppAccessDenied,
            &[
                "s3:PutObject on arn:aws:s3:::other/x.sql was denied",
                "have not been read yet",
                "AWS says no identity-based policy allows it",
            ],
        )],
    );
    check(
        "denied: allowed only on another bucket",
        then(
            role_policy(BACKUPS),
            app_sent(5, denied_put("arn:aws:s3:::other/x.sql")),
        ),
        &[(
            Code::AppAccessDenied,
            &[
                "only on arn:aws:s3:::acme-backups/*, not on arn:aws:s3:::other/x.sql",
                "POST /debug/probe",
            ],
        )],
    );
    check(
        "denied: not allowed anywhere, the statement to add",
        then(
            role_policy(BACKUPS),
            app_sent(
                5,
                vec![call(
                    "Secrets Manager",
                    "GetSecretValue",
                    &ua("1.34.0", "h"),
                    400,
                    Some((
                        "AccessDeniedException",
                        &format!(
                            "User: {SESSION} is not authorized to perform: secretsmanager:GetSecretValue on resource: arn:aws:secretsmanager:us-east-1:111122223333:secret:db-AbCdEf because no identity-based policy allows the secretsmanager:GetSecretValue action"
                        ),
                    )),
                )],
            ),
        ),
        &[(
            Code::AppAccessDenied,
            &[
                "no statement of the role's policies allows secretsmanager:GetSecretValue",
                r#"{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "arn:aws:secretsmanager:us-east-1:111122223333:secret:db-AbCdEf"}"#,
            ],
        )],
    );
    check(
        "denied: an explicit Deny of the role",
        then(
            role_policy(
                r#"[{"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                {"Sid": "Freeze", "Effect": "Deny", "Action": "s3:PutObject", "Resource": "*"}]"#,
            ),
            app_sent(5, denied_put("arn:aws:s3:::acme-backups/x")),
        ),
        &[(
            Code::AppAccessDenied,
            &[
                "explicitly deny",
                "remove or narrow the Deny statement Freeze",
            ],
        )],
    );
    check(
        "denied although the role allows it: a bucket policy, an SCP or an endpoint policy",
        then(
            role_policy(BACKUPS),
            app_sent(5, denied_put("arn:aws:s3:::acme-backups/db/x")),
        ),
        &[(
            Code::AppAccessDenied,
            &[
                "allow s3:PutObject on arn:aws:s3:::acme-backups/db/x",
                "service control policy",
                "get-bucket-policy",
            ],
        )],
    );
    check(
        "S3's bare Access Denied: no resource named, judged on *",
        then(
            role_policy(BACKUPS),
            app_sent(
                5,
                vec![call(
                    "S3",
                    "PutObject",
                    &ua("1.34.0", "h"),
                    403,
                    Some(("AccessDenied", "Access Denied")),
                )],
            ),
        ),
        &[(
            Code::AppAccessDenied,
            &[
                "s3:PutObject was denied (AccessDenied, once",
                "only on arn:aws:s3:::acme-backups/*",
            ],
        )],
    );
    check(
        "denied as the node role: the app is not using the pod's identity",
        then(
            role_policy(BACKUPS),
            app_sent(
                5,
                vec![call(
                    "S3",
                    "PutObject",
                    "Boto3/1.9.100 Python/3.11.7 Linux/6.1 Botocore/1.12.100",
                    403,
                    Some((
                        "AccessDenied",
                        &format!(
                            "User: {NODE} is not authorized to perform: s3:PutObject on resource: \"arn:aws:s3:::acme-backups/x\""
                        ),
                    )),
                )],
            ),
        ),
        &[
            (
                Code::AppNotUsingPodIdentity,
                &[
                    "boto3 1.9.100 signs its calls with imds credentials",
                    "an instance role's session",
                ],
            ),
            (
                Code::AppSdkTooOld,
                &[
                    "boto3 1.9.100 predates web identity (IRSA) support (minimum 1.9.220)",
                    "upgrade boto3 to 1.9.220",
                ],
            ),
            (
                Code::AppAccessDenied,
                &[
                    "was denied as arn:aws:sts::111122223333:assumed-role/eks-node-role/i-0123456789abcdef0",
                    "not as the pod's role",
                ],
            ),
        ],
    );
    check(
        "environment keys in the app's container",
        app_sent(
            5,
            vec![call("S3", "PutObject", &ua("1.34.0", "g,b"), 200, None)],
        ),
        &[(
            Code::AppNotUsingPodIdentity,
            &[
                "environment credentials, not the pod's web identity (IRSA)",
                "AWS_ACCESS_KEY_ID",
            ],
        )],
    );
    check(
        "a profile",
        app_sent(
            5,
            vec![call("S3", "PutObject", &ua("1.34.0", "n"), 200, None)],
        ),
        &[(
            Code::AppNotUsingPodIdentity,
            &["profile credentials", "AWS_PROFILE"],
        )],
    );
    check(
        "IMDS said by m/ metrics",
        app_sent(
            5,
            vec![call("S3", "PutObject", &ua("1.34.0", "0"), 200, None)],
        ),
        &[(
            Code::AppNotUsingPodIdentity,
            &["imds credentials", "node's instance role"],
        )],
    );
    check(
        "signed with the node role's current key (from IMDS), no metrics",
        then(
            app_sent(
                5,
                vec![
                    attempt("aws-sdk-java/1.12.700 Linux/6.1", "ASIANODEROLEEXAMPLE1"),
                    call(
                        "S3",
                        "PutObject",
                        "aws-sdk-java/1.12.700 Linux/6.1",
                        200,
                        None,
                    ),
                ],
            ),
            |f: &mut Fixture| {
                let key = csm::KeyEvidence::of("ASIANODEROLEEXAMPLE1", &HASHER);
                f.snapshot.chain.node_key = Some(key.fingerprint);
            },
        ),
        &[(
            Code::AppNotUsingPodIdentity,
            &[
                "aws-sdk-java 1.12.700 signs its calls with imds credentials",
                "node role's current key",
            ],
        )],
    );
    check(
        "a long-term key, no metrics",
        app_sent(
            5,
            vec![
                attempt("aws-sdk-go/1.44.0", "AKIAIOSFODNN7EXAMPLE"),
                call("S3", "PutObject", "aws-sdk-go/1.44.0", 200, None),
            ],
        ),
        &[(
            Code::AppNotUsingPodIdentity,
            &[
                "a long-term access key (AKIA…)",
                "remove the long-term access key",
            ],
        )],
    );
    check(
        "an SDK too old for web identity",
        app_sent(
            5,
            vec![call(
                "S3",
                "PutObject",
                "aws-cli/1.16.100 Python/3.7 Linux/4.14 botocore/1.12.90",
                200,
                None,
            )],
        ),
        &[(
            Code::AppSdkTooOld,
            &["aws-cli 1.16.100 predates web identity (IRSA) support (minimum 1.16.232)"],
        )],
    );
    check(
        "an SDK too old for Pod Identity on a Pod Identity pod",
        then(
            pod_identity_only,
            app_sent(
                5,
                vec![call("S3", "PutObject", &ua("1.30.0", "z"), 200, None)],
            ),
        ),
        &[(
            Code::AppSdkTooOld,
            &["boto3 1.30.0 predates EKS Pod Identity support (minimum 1.34.41)"],
        )],
    );
    check(
        "the app's own AssumeRoleWithWebIdentity refused",
        app_sent(
            5,
            vec![call(
                "STS",
                "AssumeRoleWithWebIdentity",
                &ua("1.34.0", "h"),
                403,
                Some((
                    "AccessDenied",
                    "Not authorized to perform sts:AssumeRoleWithWebIdentity",
                )),
            )],
        ),
        &[(
            Code::AppCredentialsFailing,
            &[
                "its sts:AssumeRoleWithWebIdentity answered AccessDenied",
                "AWS_ROLE_SESSION_NAME",
            ],
        )],
    );
    check(
        "calls refused as expired",
        app_sent(
            5,
            vec![
                call(
                    "S3",
                    "PutObject",
                    &ua("1.34.0", "h"),
                    400,
                    Some(("ExpiredToken", "The provided token has expired.")),
                ),
                call(
                    "S3",
                    "PutObject",
                    &ua("1.34.0", "h"),
                    400,
                    Some(("ExpiredToken", "The provided token has expired.")),
                ),
            ],
        ),
        &[(
            Code::AppCredentialsFailing,
            &[
                "s3:PutObject calls were refused as signed with expired credentials (ExpiredToken",
                "2 times",
            ],
        )],
    );
    check(
        "RequestExpired is clock skew, not expired credentials",
        app_sent(
            5,
            vec![call(
                "S3",
                "PutObject",
                &ua("1.34.0", "h"),
                403,
                Some(("RequestExpired", "Request has expired")),
            )],
        ),
        &[],
    );
}

#[test]
fn app_summary_for_a_jobs_termination_message() {
    use crate::app::app_summary;
    let mut fx = healthy();
    assert_eq!(app_summary(&AppSnapshot::new(), at(NOW)), None);
    let mut datagrams = vec![call("S3", "PutObject", &ua("1.34.0", "h"), 200, None); 39];
    datagrams.extend(
        denied_put("arn:aws:s3:::other/x")
            .into_iter()
            .cycle()
            .take(3),
    );
    app_sent(0, datagrams)(&mut fx);
    let app = fx.snapshot.app.as_ref().unwrap();
    assert_eq!(
        app_summary(app, at(NOW)).as_deref(),
        Some("app: 42 calls, 3 denied (s3:PutObject ×3)")
    );
}

#[test]
fn secrets_never_reach_the_snapshot() {
    let mut fx = healthy();
    app_sent(0, vec![attempt(&ua("1.34.0", "h"), "ASIASECRETKEYID12345")])(&mut fx);
    let debug = format!("{:?}", fx.snapshot.app);
    assert!(!debug.contains("ASIASECRETKEYID12345"), "{debug}");
    assert!(!debug.contains("IQoJb3JpZ2lu"), "{debug}");
}
