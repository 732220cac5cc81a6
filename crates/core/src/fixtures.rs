//! Shared fixtures for the pure core's unit tests: a healthy pod that each case breaks one way.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::Config;
use crate::environment::EnvFacts;
use crate::findings::{self, Context, Finding};
use crate::policy::access::{NamedPolicy, Source};
use crate::snapshot::{ChainSnapshot, Snapshot, StsResult, StsSnapshot, TokenState};
use crate::token::{Claims, Decoded, KubernetesClaims};

pub const NOW: i64 = 1_795_428_000; // 2026-11-23T10:00:00Z
pub const ROLE: &str = "arn:aws:iam::111122223333:role/demo";
pub const ISSUER: &str = "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE";
pub const SUB: &str = "system:serviceaccount:demo:demo-sa";

/// A healthy pod; each case breaks one thing.
pub struct Fixture {
    pub config: Config,
    pub env: EnvFacts,
    pub snapshot: Snapshot,
}

pub fn at(secs: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs as u64)
}

pub fn healthy() -> Fixture {
    let config = Config {
        token_file: PathBuf::from("/var/run/secrets/eks.amazonaws.com/serviceaccount/token"),
        irsa_token: true,
        extra_tokens: vec![],
        pod_identity: None,
        target_pid: None,
        role_arn: Some(ROLE.into()),
        expected_audience: "sts.amazonaws.com".into(),
        expected_subject: Some(SUB.into()),
        trust_policy_file: None,
        oidc_discovery_url: None,
        fetch_trust_policy: false,
        expect_access: Vec::new(),
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        probe_interval: Duration::from_secs(300),
        probe_timeout: Duration::from_secs(10),
        expiry_warning: Duration::from_secs(3600),
        imds_check: true,
        startup_gate_timeout: crate::config::DEFAULT_STARTUP_GATE_TIMEOUT,
        pod_spec_interval: crate::config::DEFAULT_POD_SPEC_INTERVAL,
    };
    let env = EnvFacts {
        role_arn: Some(ROLE.into()),
        token_file: Some(config.token_file.display().to_string()),
        region: Some("us-east-1".into()),
        sts_regional_endpoints: Some("regional".into()),
        static_sources: vec![],
        imds_endpoint: "http://169.254.169.254".into(),
        ..Default::default()
    };
    let mut snapshot = Snapshot::default();
    snapshot
        .token
        .apply(Ok((token(NOW - 6400, 86400), 1)), at(NOW - 6400));
    snapshot.sts = StsSnapshot {
        endpoint: Some("https://sts.us-east-1.amazonaws.com".into()),
        result: StsResult::Success,
        assumed_role_arn: Some(
            "arn:aws:sts::111122223333:assumed-role/demo/irsa-doctor-web".into(),
        ),
        caller_arn: Some("arn:aws:sts::111122223333:assumed-role/demo/irsa-doctor-web".into()),
        clock_skew_seconds: Some(0.4),
        ..Default::default()
    };
    snapshot.chain = ChainSnapshot {
        provider: Some("WebIdentityToken".into()),
        caller_arn: Some("arn:aws:sts::111122223333:assumed-role/demo/web-identity-token-1".into()),
        error: None,
        imds_v2_reachable: Some(false),
        imds_v1_reachable: Some(false),
        node_key: None,
    };
    snapshot.probe_attempted = true;
    Fixture {
        config,
        env,
        snapshot,
    }
}

pub fn token(iat: i64, lifetime: i64) -> Decoded {
    Decoded {
        header: Default::default(),
        raw_claims: Default::default(),
        algorithm: Some("RS256".into()),
        key_id: Some("abc".into()),
        claims: Claims {
            issuer: Some(ISSUER.into()),
            subject: Some(SUB.into()),
            audiences: vec!["sts.amazonaws.com".into()],
            expires_at: Some(iat + lifetime),
            issued_at: Some(iat),
            not_before: Some(iat),
            kubernetes: KubernetesClaims {
                namespace: Some("demo".into()),
                pod: Some("web-7d9f".into()),
                service_account: Some("demo-sa".into()),
                node: Some("ip-10-0-1-2".into()),
                warn_after: None,
            },
        },
    }
}

impl Fixture {
    pub fn claims(&mut self) -> &mut Claims {
        match &mut self.snapshot.token.state {
            TokenState::Loaded(d) => &mut d.claims,
            other => panic!("fixture token not loaded: {other:?}"),
        }
    }
    pub fn findings(&self) -> Vec<Finding> {
        findings::evaluate(&self.context())
    }
    pub fn context(&self) -> Context<'_> {
        Context {
            config: &self.config,
            env: &self.env,
            snapshot: &self.snapshot,
            now: at(NOW),
        }
    }
    pub fn sts_error(&mut self, failure: crate::snapshot::StsFailure, code: &str, message: &str) {
        self.snapshot.sts.result = StsResult::Error;
        self.snapshot.sts.failure = Some(failure);
        self.snapshot.sts.error_code = Some(code.into());
        self.snapshot.sts.error_message = Some(message.into());
        self.snapshot.sts.consecutive_failures = 3;
        self.snapshot.sts.caller_arn = None;
    }
}

/// One of the role's policies as IAM holds it: `statements` (a JSON array, or one statement
/// object) in a 2012-10-17 document, under `name`. Panics on a document that does not parse.
pub fn named_policy(name: &str, source: Source, statements: &str) -> NamedPolicy {
    let text = format!("{{\"Version\": \"2012-10-17\", \"Statement\": {statements}}}");
    match crate::policy::parse(&text, crate::policy::Kind::Identity) {
        Ok(policy) => NamedPolicy {
            name: name.to_owned(),
            source,
            policy,
        },
        Err(e) => panic!("{name}: {e}"),
    }
}
