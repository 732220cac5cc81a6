use super::actions::sigv4_access_key_id;
use super::*;
use crate::issuer::{Issuer, TokenSpec};
use crate::server::http_date;
use crate::server::test_support::raw_http;
use aws_sdk_sts::config::retry::RetryConfig;
use aws_sdk_sts::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sts::error::ProvideErrorMetadata;
use aws_sdk_sts::operation::assume_role_with_web_identity::AssumeRoleWithWebIdentityOutput as AssumeOutput;
use hyper::header::{AUTHORIZATION, HeaderValue};

fn client(fake: &FakeSts, credentials: Option<Credentials>) -> aws_sdk_sts::Client {
    let mut config = aws_sdk_sts::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(fake.endpoint())
        .retry_config(RetryConfig::disabled());
    if let Some(credentials) = credentials {
        config = config.credentials_provider(credentials);
    }
    aws_sdk_sts::Client::from_conf(config.build())
}

fn creds(access_key_id: &str) -> Credentials {
    Credentials::new(access_key_id, "secret", Some("token".into()), None, "test")
}

/// An STS error as the SDK exposes it: (code, message).
type Failure = (Option<String>, Option<String>);

async fn assume(fake: &FakeSts, role_arn: &str, token: &str) -> Result<AssumeOutput, Failure> {
    client(fake, None)
        .assume_role_with_web_identity()
        .role_arn(role_arn)
        .role_session_name("irsa-doctor-test")
        .web_identity_token(token)
        .send()
        .await
        .map_err(|e| (e.code().map(str::to_owned), e.message().map(str::to_owned)))
}

#[tokio::test]
async fn healthy_assume_then_caller_identity_agrees() {
    let fake = FakeSts::start(StsConfig::default()).await.unwrap();
    let issuer = Issuer::generate(DEFAULT_ISSUER).unwrap();
    let token = issuer.issue(&issuer.token_spec()).unwrap();

    let out = assume(&fake, &fake.role_arn(), &token).await.unwrap();
    let user = out.assumed_role_user().unwrap();
    assert_eq!(
        user.arn(),
        "arn:aws:sts::111122223333:assumed-role/demo/irsa-doctor-test"
    );
    assert!(user.assumed_role_id().ends_with(":irsa-doctor-test"));
    assert_eq!(out.subject_from_web_identity_token(), Some(DEFAULT_SUBJECT));
    assert_eq!(out.provider(), Some(DEFAULT_ISSUER));
    assert_eq!(out.audience(), Some(DEFAULT_AUDIENCE));
    let c = out.credentials().unwrap();
    assert!(c.access_key_id().starts_with("ASIA") && c.access_key_id().len() == 20);
    let lifetime = c.expiration().secs() - unix_now();
    assert!((3590..=3600).contains(&lifetime), "{lifetime}");

    let who = client(&fake, Some(creds(c.access_key_id())))
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(who.arn(), Some(user.arn()));
    assert_eq!(who.account(), Some("111122223333"));
    assert_eq!(who.user_id(), Some(user.assumed_role_id()));
    assert_eq!(
        (
            fake.assume_calls(),
            fake.caller_identity_calls(),
            fake.requests()
        ),
        (1, 1, 2)
    );
}

#[tokio::test]
async fn each_trust_failure_has_the_real_sts_code_and_message() {
    let fake = FakeSts::start(StsConfig::default()).await.unwrap();
    let issuer = Issuer::generate(DEFAULT_ISSUER).unwrap();
    let role = fake.role_arn();
    let now = unix_now();
    let token = |change: &dyn Fn(&mut TokenSpec)| {
        let mut spec = issuer.token_spec();
        change(&mut spec);
        issuer.issue(&spec).unwrap()
    };
    let invalid = Some("InvalidIdentityToken".to_owned());
    let denied = (
        Some("AccessDenied".to_owned()),
        Some("Not authorized to perform sts:AssumeRoleWithWebIdentity".to_owned()),
    );
    let cases: Vec<(&str, String, String, Failure)> = vec![
        ("not a jwt", role.clone(), "not-a-jwt".into(),
            (invalid.clone(), Some("Couldn't parse the web identity token".into()))),
        ("wrong issuer", role.clone(),
            token(&|s| s.issuer = "https://oidc.eks.eu-west-1.amazonaws.com/id/OTHER".into()),
            (invalid.clone(), Some("No OpenIDConnect provider found in your account for https://oidc.eks.eu-west-1.amazonaws.com/id/OTHER".into()))),
        ("wrong audience", role.clone(), token(&|s| s.audiences = vec!["api".into()]),
            (invalid.clone(), Some("Incorrect token audience".into()))),
        ("expired", role.clone(), token(&|s| { s.issued_at = now - 90_000; s.lifetime = 86_400 }),
            (Some("ExpiredTokenException".into()),
             Some(format!("Token expired: current date/time {now} must be before the expiration date/time {}", now - 3600)))),
        ("wrong subject", role.clone(), token(&|s| s.subject = "system:serviceaccount:demo:other".into()), denied.clone()),
        ("wrong role", "arn:aws:iam::111122223333:role/other".into(), token(&|_| {}), denied.clone()),
        ("other account", "arn:aws:iam::999999999999:role/demo".into(), token(&|_| {}), denied.clone()),
    ];
    for (name, role_arn, token, want) in cases {
        let got = assume(&fake, &role_arn, &token)
            .await
            .map(|_| ())
            .unwrap_err();
        // The clock may tick between building the case and STS evaluating it.
        if name == "expired" {
            assert_eq!(got.0, want.0, "case: {name}");
            let message = got.1.unwrap();
            assert!(
                message.starts_with("Token expired: current date/time "),
                "{message}"
            );
            assert!(
                message.ends_with(&format!("expiration date/time {}", now - 3600)),
                "{message}"
            );
        } else {
            assert_eq!(got, want, "case: {name}");
        }
    }
    assert_eq!(fake.assume_calls(), 7);
}

#[tokio::test]
async fn subject_condition_is_string_like_and_updatable() {
    let fake = FakeSts::start(StsConfig::default()).await.unwrap();
    let issuer = Issuer::generate(DEFAULT_ISSUER).unwrap();
    let token = issuer.issue(&issuer.token_spec()).unwrap();
    fake.update_config(|c| c.allowed_subject = "system:serviceaccount:demo:*".into());
    assert!(assume(&fake, &fake.role_arn(), &token).await.is_ok());
    fake.update_config(|c| c.allowed_subject = "system:serviceaccount:prod:*".into());
    let err = assume(&fake, &fake.role_arn(), &token).await.unwrap_err();
    assert_eq!(err.0.as_deref(), Some("AccessDenied"));
}

#[tokio::test]
async fn fault_modes() {
    let fake = FakeSts::start(StsConfig::default()).await.unwrap();
    let issuer = Issuer::generate(DEFAULT_ISSUER).unwrap();
    let token = issuer.issue(&issuer.token_spec()).unwrap();
    let role = fake.role_arn();

    fake.set_mode(StsMode::Throttle);
    let err = assume(&fake, &role, &token).await.unwrap_err();
    assert_eq!(
        err,
        (Some("Throttling".into()), Some("Rate exceeded".into()))
    );

    fake.set_mode(StsMode::Error {
        status: 400,
        code: "IDPCommunicationError".into(),
        message: "Couldn't retrieve verification key from your identity provider".into(),
    });
    let err = assume(&fake, &role, &token).await.unwrap_err();
    assert_eq!(err.0.as_deref(), Some("IDPCommunicationError"));

    fake.set_mode(StsMode::ServerError);
    let err = assume(&fake, &role, &token).await.unwrap_err();
    assert_eq!(err.0.as_deref(), Some("InternalFailure"));

    fake.set_mode(StsMode::Garbage);
    assert!(assume(&fake, &role, &token).await.is_err());

    fake.set_mode(StsMode::Down);
    let err = client(&fake, None)
        .assume_role_with_web_identity()
        .role_arn(&role)
        .role_session_name("s")
        .web_identity_token(&token)
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(err, aws_sdk_sts::error::SdkError::DispatchFailure(_)),
        "{err:?}"
    );

    fake.set_mode(StsMode::Slow(Duration::from_millis(300)));
    let started = std::time::Instant::now();
    assert!(assume(&fake, &role, &token).await.is_ok());
    assert!(started.elapsed() >= Duration::from_millis(300));

    fake.set_mode(StsMode::Healthy);
    assert!(assume(&fake, &role, &token).await.is_ok());
    assert_eq!(fake.assume_calls(), 7);
}

#[tokio::test]
async fn caller_identity_for_registered_overridden_and_unknown_keys() {
    let fake = FakeSts::start(StsConfig::default()).await.unwrap();
    let node_arn = "arn:aws:sts::111122223333:assumed-role/eks-node-role/i-0123456789abcdef0";
    fake.register_credentials("ASIANODEROLEEXAMPLE1", node_arn);
    let who = client(&fake, Some(creds("ASIANODEROLEEXAMPLE1")))
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(who.arn(), Some(node_arn));
    assert!(who.user_id().unwrap().ends_with(":i-0123456789abcdef0"));

    let err = client(&fake, Some(creds("AKIAUNKNOWNKEY000000")))
        .get_caller_identity()
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidClientTokenId"));
    assert_eq!(
        err.message(),
        Some("The security token included in the request is invalid.")
    );

    let other = "arn:aws:sts::111122223333:assumed-role/someone-else/session";
    fake.set_mode(StsMode::CallerIs(other.into()));
    let who = client(&fake, Some(creds("AKIAUNKNOWNKEY000000")))
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(who.arn(), Some(other));
    assert_eq!(who.account(), Some("111122223333"));
}

#[tokio::test]
async fn raw_protocol_details() {
    let fake = FakeSts::start(StsConfig::default()).await.unwrap();
    let addr = fake.local_addr();
    let post = "POST / HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded";

    let unknown = raw_http(addr, post, "Action=DeleteEverything&Version=2011-06-15")
        .await
        .unwrap();
    assert_eq!(unknown.status, 400);
    assert!(
        unknown.body.contains("<Code>InvalidAction</Code>"),
        "{unknown:?}"
    );
    let request_id = unknown.header("x-amzn-RequestId").unwrap();
    // Ours replaces hyper's automatic Date rather than adding a second one.
    let dates = unknown
        .headers()
        .filter(|(k, _)| k.eq_ignore_ascii_case("date"))
        .count();
    assert_eq!(dates, 1, "{unknown:?}");
    assert!(
        unknown
            .body
            .contains(&format!("<RequestId>{request_id}</RequestId>"))
    );

    // Unsigned GetCallerIdentity is refused, as real STS does.
    let unsigned = raw_http(addr, post, "Action=GetCallerIdentity&Version=2011-06-15")
        .await
        .unwrap();
    assert_eq!(unsigned.status, 403);
    assert!(unsigned.body.contains("MissingAuthenticationToken"));

    // The Date header follows the clock offset.
    let offset = 3 * 86_400;
    fake.set_mode(StsMode::ClockOffset(offset));
    let before = unix_now();
    let skewed = raw_http(addr, post, "Action=GetCallerIdentity")
        .await
        .unwrap();
    let after = unix_now();
    let date = skewed.header("date").unwrap().to_owned();
    assert!(
        (before..=after).any(|t| http_date(t + offset) == date),
        "{date}"
    );

    // Down: the connection closes without a single byte of answer.
    fake.set_mode(StsMode::Down);
    let dropped = raw_http(addr, post, "Action=GetCallerIdentity").await;
    assert!(
        dropped
            .as_ref()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::UnexpectedEof),
        "{dropped:?}"
    );
    assert_eq!(fake.requests(), 4);
    assert_eq!(fake.caller_identity_calls(), 3);
}

#[tokio::test]
async fn dropping_the_handle_stops_the_server() {
    let fake = FakeSts::start(StsConfig::default()).await.unwrap();
    let addr = fake.local_addr();
    drop(fake);
    // The aborted task closes its listener the next time the runtime polls it.
    let mut refused = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "still listening on {addr}");
}

#[test]
fn sigv4_key_extraction() {
    let mut headers = HeaderMap::new();
    assert_eq!(sigv4_access_key_id(&headers), None);
    headers.insert(
        AUTHORIZATION,
        HeaderValue::from_static(
            "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20261123/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc",
        ),
    );
    assert_eq!(
        sigv4_access_key_id(&headers).as_deref(),
        Some("ASIAEXAMPLE")
    );
    headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer xyz"));
    assert_eq!(sigv4_access_key_id(&headers), None);
}

#[tokio::test]
async fn transient_faults_then_the_standing_mode() {
    let fake = FakeSts::start(StsConfig::default()).await.unwrap();
    let issuer = Issuer::generate(DEFAULT_ISSUER).unwrap();
    let token = issuer.issue(&issuer.token_spec()).unwrap();
    let role = fake.role_arn();

    fake.fail_next(2, StsMode::ServerError);
    for _ in 0..2 {
        let err = assume(&fake, &role, &token).await.unwrap_err();
        assert_eq!(err.0.as_deref(), Some("InternalFailure"));
    }
    assert!(assume(&fake, &role, &token).await.is_ok());

    // Only AssumeRoleWithWebIdentity consumes the transient fault.
    fake.fail_next(1, StsMode::Throttle);
    let unsigned = raw_http(
        fake.local_addr(),
        "POST / HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded",
        "Action=GetCallerIdentity",
    )
    .await
    .unwrap();
    assert_eq!(unsigned.status, 403);
    let err = assume(&fake, &role, &token).await.unwrap_err();
    assert_eq!(err.0.as_deref(), Some("Throttling"));
    assert!(assume(&fake, &role, &token).await.is_ok());
    assert_eq!(fake.assume_calls(), 5);
}

#[tokio::test]
async fn partitions_shape_every_arn() {
    let issuer_url = "https://oidc.eks.cn-north-1.amazonaws.com.cn/id/EXAMPLE";
    let fake = FakeSts::start(StsConfig {
        partition: "aws-cn".into(),
        issuer: issuer_url.into(),
        ..StsConfig::default()
    })
    .await
    .unwrap();
    assert_eq!(fake.role_arn(), "arn:aws-cn:iam::111122223333:role/demo");
    let policy = fake.config().trust_policy_json();
    assert_eq!(
        policy["Statement"][0]["Principal"]["Federated"],
        "arn:aws-cn:iam::111122223333:oidc-provider/oidc.eks.cn-north-1.amazonaws.com.cn/id/EXAMPLE"
    );
    let issuer = Issuer::generate(issuer_url).unwrap();
    let token = issuer.issue(&issuer.token_spec()).unwrap();
    let out = assume(&fake, &fake.role_arn(), &token).await.unwrap();
    assert_eq!(
        out.assumed_role_user().unwrap().arn(),
        "arn:aws-cn:sts::111122223333:assumed-role/demo/irsa-doctor-test"
    );
}
