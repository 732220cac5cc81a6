//! `--expect-access` against a real IAM API: moto's server (PyPI `moto[server]`)
//! holds the backup CronJob's role with its inline and managed policies and its
//! permissions boundary, made with boto3 (tests/peers/moto_access.py); the real
//! binary reads them with the test-assumed credentials through
//! `AWS_ENDPOINT_URL_IAM`, in `check`, `/debug` and `/metrics`.
//!
//! Between the binary and moto sits a small HTTP relay that counts IAM actions
//! (the once-an-hour budget), or refuses every call the way IAM does.

#![allow(clippy::disallowed_methods)] // drives the real binary: real clocks, a chosen environment

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::moto::{Moto, peer, python, start_moto};
use common::*;
use irsa_doctor_emulator::oidc::FakeOidc;
use serde_json::Value;

const SECRET: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-creds-AbCdEf";
const KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const PREFIX: &str = "arn:aws:s3:::acme-backups/db/*";

/// The backup CronJob's three permissions, as manifests/examples/backup-cronjob passes them.
fn expect_access() -> String {
    format!("secretsmanager:GetSecretValue={SECRET},kms:Decrypt={KEY},s3:PutObject={PREFIX}")
}

/// moto with the role and a PyJWT token, and the pod's environment aimed at it.
struct Setup {
    moto: Moto,
    _oidc: FakeOidc,
    pod: Pod,
    env: Vec<(String, String)>,
}

fn setup() -> Option<Setup> {
    let moto = start_moto()?;
    let pod = Pod::new();
    std::fs::create_dir_all(pod.writer.dir()).unwrap();
    let token_path = pod.writer.dir().join("pyjwt-token");
    let s = python(&[
        &peer("moto_setup.py"),
        &moto.endpoint,
        &token_path.display().to_string(),
    ]);
    let oidc = pod
        .peers
        .runtime
        .block_on(FakeOidc::start_with(
            s["issuer"].as_str().unwrap(),
            s["jwks"].clone(),
        ))
        .unwrap();
    let mut env = pod.env();
    set(&mut env, "AWS_ENDPOINT_URL_STS", &moto.endpoint);
    set(&mut env, "AWS_ENDPOINT_URL_IAM", &moto.endpoint);
    set(
        &mut env,
        "IRSA_DOCTOR_OIDC_DISCOVERY_URL",
        &oidc.discovery_url(),
    );
    set(&mut env, "AWS_ROLE_ARN", s["role_arn"].as_str().unwrap());
    set(
        &mut env,
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        &token_path.display().to_string(),
    );
    set(&mut env, "IRSA_DOCTOR_EXPECT_ACCESS", &expect_access());
    Some(Setup {
        moto,
        _oidc: oidc,
        pod,
        env,
    })
}

impl Setup {
    fn scenario(&self, name: &str) {
        python(&[&peer("moto_access.py"), &self.moto.endpoint, name]);
    }
}

/// What one scenario must show for each of the three permissions.
struct Want {
    decision: &'static str,
    /// (policy, statement) per permission, in `expect_access()` order.
    deciding: [(&'static str, &'static str); 3],
    detail: &'static str,
    exit: i32,
}

fn want(scenario: &str) -> Want {
    let own = [
        ("backup-secrets", "ReadDbSecret"),
        ("backup-secrets", "DecryptDbSecret"),
        ("BackupWriter", "PutDumps"),
    ];
    match scenario {
        "allowed" => Want {
            decision: "allowed",
            deciding: own,
            detail: "within the permissions boundary (statement \"WorkloadCeiling\" of permissions boundary BackupBoundary)",
            exit: 0,
        },
        "missing" => Want {
            decision: "implicit_deny",
            deciding: own,
            detail: "does not cover",
            exit: 2,
        },
        "denied" => Want {
            decision: "explicit_deny",
            deciding: [("BackupFreeze", "Freeze"); 3],
            detail: "statement \"Freeze\" of managed policy BackupFreeze explicitly denies",
            exit: 2,
        },
        "boundary" => Want {
            decision: "implicit_deny",
            deciding: [("BackupBoundary", "WorkloadCeiling"); 3],
            detail: "but the permissions boundary BackupBoundary does not",
            exit: 2,
        },
        other => panic!("no scenario {other}"),
    }
}

const ENTRIES: [(&str, &str); 3] = [
    ("secretsmanager:GetSecretValue", SECRET),
    ("kms:Decrypt", KEY),
    ("s3:PutObject", PREFIX),
];

fn assert_report(scenario: &str, r: &Value) {
    let w = want(scenario);
    let access = &r["access"];
    assert_eq!(access["error"], Value::Null, "{scenario}: {access:#}");
    assert!(access["checked_at"].is_string(), "{scenario}: {access:#}");
    let policies: Vec<&str> = access["policies"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        policies.contains(&"backup-secrets")
            && policies.contains(&"BackupWriter")
            && policies.last() == Some(&"BackupBoundary"),
        "{scenario}: {policies:?}"
    );
    let checks = access["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 3, "{scenario}: {access:#}");
    for (i, c) in checks.iter().enumerate() {
        let (action, resource) = ENTRIES[i];
        assert_eq!(c["action"], action);
        assert_eq!(c["resource"], resource);
        assert_eq!(c["decision"], w.decision, "{scenario} {action}: {c:#}");
        assert_eq!(c["policy"], w.deciding[i].0, "{scenario} {action}: {c:#}");
        assert_eq!(
            c["deciding_statement"], w.deciding[i].1,
            "{scenario} {action}: {c:#}"
        );
        let detail = c["detail"].as_str().unwrap();
        assert!(detail.contains(w.detail), "{scenario} {action}: {detail}");
    }
    let denials: Vec<&Value> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "ACCESS_NOT_ALLOWED")
        .collect();
    if w.decision == "allowed" {
        assert!(denials.is_empty(), "{scenario}: {denials:?}");
        assert_eq!(r["status"], "ok", "{scenario}: {:?}", codes(r));
    } else {
        assert_eq!(denials.len(), 3, "{scenario}: {:?}", codes(r));
        for (f, (action, resource)) in denials.iter().zip(ENTRIES) {
            let m = f["message"].as_str().unwrap();
            assert!(
                m.starts_with(&format!("{action} on {resource} is not allowed")),
                "{m}"
            );
            assert!(m.contains(w.detail), "{scenario}: {m}");
            assert_eq!(f["severity"], "critical");
        }
    }
}

#[test]
fn backup_cronjob_decisions_in_check_debug_and_metrics() {
    let Some(s) = setup() else { return };
    for scenario in ["allowed", "missing", "denied", "boundary"] {
        s.scenario(scenario);

        let (code, r) = check_json(&s.env, &["--no-imds-check"]);
        assert_eq!(code, want(scenario).exit, "{scenario}: {:?}", codes(&r));
        assert_report(scenario, &r);

        let server = serve(&s.env, &["--no-imds-check"]);
        let r = wait_for(
            "the role's policies in the report",
            Duration::from_secs(20),
            || {
                Some(server.report()).filter(|r| {
                    r["access"]["checks"]
                        .as_array()
                        .is_some_and(|c| c.len() == 3)
                })
            },
        );
        assert_report(scenario, &r);
        let text = server.get("/debug").body;
        let metrics = server.metrics();
        let w = want(scenario);
        let shown = match w.decision {
            "allowed" => "allowed",
            "explicit_deny" => "DENIED (explicit)",
            _ => "DENIED (implicit)",
        };
        for (i, (action, resource)) in ENTRIES.iter().enumerate() {
            let section = text
                .split_once("\nACCESS  ")
                .map(|(_, rest)| rest)
                .unwrap_or_else(|| panic!("{scenario}: no ACCESS section in\n{text}"));
            let line = section
                .lines()
                .find(|l| l.contains(&format!("{action} on {resource}")))
                .unwrap_or_else(|| panic!("{scenario}: no line for {action} in\n{text}"));
            assert!(line.trim_start().starts_with(shown), "{scenario}: {line}");
            let (policy, statement) = w.deciding[i];
            assert!(
                line.contains(&format!("[{policy} / {statement}]")),
                "{scenario}: {line}"
            );
            let series =
                format!("irsa_access_allowed{{action=\"{action}\",resource=\"{resource}\"}}");
            let value = sample(&metrics, &series);
            let expected = if w.decision == "allowed" { 1.0 } else { 0.0 };
            assert_eq!(value, Some(expected), "{scenario}: {series} in\n{metrics}");
        }
        let finding = sample(
            &metrics,
            "irsa_finding_active{code=\"ACCESS_NOT_ALLOWED\",severity=\"critical\"}",
        );
        assert_eq!(
            finding,
            Some(if w.decision == "allowed" { 0.0 } else { 1.0 }),
            "{scenario}"
        );
        assert!(text.contains("invisible from the pod"), "{text}");
        assert_promtool_accepts(&metrics);
    }
    drop(s.pod);
}

/// A stand-in for IAM on loopback: relays to moto counting each `Action`, or refuses every call.
struct Relay {
    addr: SocketAddr,
    actions: Arc<Mutex<Vec<String>>>,
    /// The access key ids and session tokens callers signed with (refusing relay only).
    credentials: Arc<Mutex<Vec<String>>>,
}

impl Relay {
    fn start(upstream: Option<SocketAddr>) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let actions = Arc::new(Mutex::new(Vec::new()));
        let credentials = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&actions);
        let signed = Arc::clone(&credentials);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let seen = Arc::clone(&seen);
                let signed = Arc::clone(&signed);
                std::thread::spawn(move || relay_one(conn, upstream, &seen, &signed));
            }
        });
        Relay {
            addr,
            actions,
            credentials,
        }
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn count(&self, action: &str) -> usize {
        self.actions
            .lock()
            .unwrap()
            .iter()
            .filter(|a| *a == action)
            .count()
    }
}

/// One request per connection (`Connection: close` both ways), so no HTTP framing beyond Content-Length.
fn relay_one(
    mut client: TcpStream,
    upstream: Option<SocketAddr>,
    seen: &Mutex<Vec<String>>,
    seen_credentials: &Mutex<Vec<String>>,
) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(10)));
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let (head, body) = loop {
        let Ok(n) = client.read(&mut buf) else { return };
        if n == 0 {
            return;
        }
        raw.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&raw).into_owned();
        let Some((head, rest)) = text.split_once("\r\n\r\n") else {
            continue;
        };
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        if rest.len() >= length {
            break (head.to_owned(), rest.to_owned());
        }
    };
    let action = body
        .split('&')
        .find_map(|kv| kv.strip_prefix("Action="))
        .unwrap_or("")
        .to_owned();
    seen.lock().unwrap().push(action.clone());
    let response = match upstream {
        None => {
            // A careless IAM that quotes the caller's credentials back: they must not leave
            // irsa-doctor (secrets never leave the process), so the error is checked for them.
            let header = |name: &str| {
                head.lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.trim()
                            .eq_ignore_ascii_case(name)
                            .then(|| v.trim().to_owned())
                    })
                    .unwrap_or_default()
            };
            let key_id = header("authorization")
                .split("Credential=")
                .nth(1)
                .and_then(|c| c.split('/').next())
                .unwrap_or_default()
                .to_owned();
            seen_credentials
                .lock()
                .unwrap()
                .extend([key_id.clone(), header("x-amz-security-token")]);
            let xml = format!(
                "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: arn:aws:sts::123456789012:assumed-role/s3-backup/irsa-doctor-pod (key {key_id}, session {}) is not authorized to perform: iam:{action}</Message></Error><RequestId>0</RequestId></ErrorResponse>",
                header("x-amz-security-token")
            );
            format!(
                "HTTP/1.1 403 Forbidden\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{xml}",
                xml.len()
            )
            .into_bytes()
        }
        Some(up) => {
            let mut head: Vec<&str> = head
                .lines()
                .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
                .collect();
            head.push("Connection: close");
            let Ok(mut server) = TcpStream::connect(up) else {
                return;
            };
            let _ = server.set_read_timeout(Some(Duration::from_secs(10)));
            let request = format!("{}\r\n\r\n{body}", head.join("\r\n"));
            if server.write_all(request.as_bytes()).is_err() {
                return;
            }
            let mut answer = Vec::new();
            let _ = server.read_to_end(&mut answer);
            answer
        }
    };
    let _ = client.write_all(&response);
}

#[test]
fn iam_refusing_or_unreachable_is_unverified_not_denied() {
    let Some(s) = setup() else { return };
    s.scenario("allowed");
    let refusing = Relay::start(None);
    let mut outputs = Vec::new();
    for (endpoint, says) in [
        (refusing.endpoint(), "IAM refused"),
        ("http://127.0.0.1:9".to_owned(), "IAM could not be reached"),
    ] {
        let mut env = s.env.clone();
        set(&mut env, "AWS_ENDPOINT_URL_IAM", &endpoint);
        let out = run(
            &env,
            &[
                "check",
                "--format",
                "json",
                "--no-imds-check",
                "--log-level",
                "debug",
            ],
            None,
        );
        let r: Value = serde_json::from_slice(&out.stdout).unwrap();
        outputs.push(String::from_utf8_lossy(&out.stdout).into_owned());
        outputs.push(String::from_utf8_lossy(&out.stderr).into_owned());
        assert_eq!(
            out.status.code(),
            Some(0),
            "an otherwise healthy pod stays ok: {r:#}"
        );
        assert_eq!(r["status"], "ok");
        assert_eq!(codes(&r), vec!["ACCESS_UNVERIFIED"], "{r:#}");
        let f = &r["findings"][0];
        assert_eq!(f["severity"], "info");
        let m = f["message"].as_str().unwrap();
        assert!(m.contains(says), "{m}");
        assert!(
            f["remediation"]
                .as_str()
                .unwrap()
                .contains(if says == "IAM refused" {
                    "iam:ListAttachedRolePolicies"
                } else {
                    "egress"
                })
        );
        let access = &r["access"];
        assert!(
            access["checks"].as_array().unwrap().is_empty(),
            "{access:#}"
        );
        let error = access["error"].as_str().unwrap();
        assert!(error.starts_with("iam:GetRole: "), "{error}");
        if says == "IAM refused" {
            assert!(error.contains("AccessDenied"), "{error}");
        }
    }
    assert_eq!(
        refusing.count("GetRole"),
        1,
        "one refused call, not retried"
    );
    let credentials = refusing.credentials.lock().unwrap().clone();
    assert!(
        credentials.len() == 2 && credentials.iter().all(|c| c.len() >= 16),
        "the relay saw the signed call's key id and session token: {credentials:?}"
    );
    for text in &outputs {
        for secret in &credentials {
            assert!(!text.contains(secret.as_str()), "IAM's echo leaked: {text}");
        }
    }
    assert!(
        outputs[0].contains("(key <redacted>, session <redacted>)"),
        "{}",
        outputs[0]
    );
}

#[test]
fn iam_is_read_at_most_hourly_and_on_demand() {
    let Some(s) = setup() else { return };
    s.scenario("allowed");
    let relay = Relay::start(Some(s.moto.addr));
    let mut env = s.env.clone();
    set(&mut env, "AWS_ENDPOINT_URL_IAM", &relay.endpoint());
    // A probe a second: several probes, scrapes and /debug reads within the hour.
    let server = serve(
        &env,
        &[
            "--no-imds-check",
            "--probe-interval",
            "1s",
            "--probe-timeout",
            "900ms",
        ],
    );
    wait_for("five test-assumes", Duration::from_secs(30), || {
        let attempts = sample(&server.metrics(), "irsa_sts_assume_attempts_total")?;
        let _ = server.get("/debug");
        (attempts >= 5.0).then_some(())
    });
    let actions = || relay.actions.lock().unwrap().clone();
    assert_eq!(relay.count("GetRole"), 1, "{:?}", actions());
    assert_eq!(relay.count("ListRolePolicies"), 1);
    assert_eq!(relay.count("ListAttachedRolePolicies"), 1);
    // Per read: GetRole, ListRolePolicies + 1 GetRolePolicy, ListAttachedRolePolicies
    // + GetPolicy/GetPolicyVersion for BackupWriter, and both again for the boundary.
    assert_eq!(actions().len(), 8, "{:?}", actions());
    assert_eq!(
        server.report()["access"]["checks"][2]["decision"],
        "allowed"
    );
    drop(server);

    // The policy loses s3:PutObject; an operator asks for a probe: it is re-read at once
    // (once the 10 s on-demand window since the first probe has passed).
    let relay = Relay::start(Some(s.moto.addr));
    set(&mut env, "AWS_ENDPOINT_URL_IAM", &relay.endpoint());
    let server = serve(&env, &["--no-imds-check"]);
    wait_for("the first read", Duration::from_secs(20), || {
        (relay.count("GetRole") == 1).then_some(())
    });
    s.scenario("missing");
    let probed = wait_for(
        "POST /debug/probe to be accepted",
        Duration::from_secs(30),
        || {
            request(server.addr(), "POST", "/debug/probe", &[])
                .ok()
                .filter(|r| r.status == 200)
        },
    );
    assert_eq!(relay.count("GetRole"), 2);
    assert_eq!(
        probed.json()["access"]["checks"][2]["decision"],
        "implicit_deny"
    );
    // Scrapes and /debug never read IAM.
    for _ in 0..3 {
        let _ = server.metrics();
        let _ = server.get("/debug?format=json");
    }
    assert_eq!(relay.count("GetRole"), 2);
}

/// The shipped example is self-consistent: its `--expect-access` list parses, and its
/// iam-policy.json allows all three; the read-own-policies example allows irsa-doctor's reads.
#[test]
fn shipped_examples_allow_what_they_claim() {
    use irsa_doctor_core::policy::access::{
        Caller, Decision, ExpectedAccess, NamedPolicy, RolePolicies, Source, check,
    };
    use irsa_doctor_core::policy::{Kind, parse};
    let root = env!("CARGO_MANIFEST_DIR");
    let read = |p: &str| std::fs::read_to_string(format!("{root}/{p}")).unwrap();
    let policies = |name: &str, path: &str| RolePolicies {
        identity: vec![NamedPolicy {
            name: name.into(),
            source: Source::Inline,
            policy: parse(&read(path), Kind::Identity).unwrap(),
        }],
        boundary: None,
        arn: None,
    };
    let kustomization = read("manifests/examples/backup-cronjob/kustomization.yaml");
    let list = kustomization
        .lines()
        .find_map(|l| l.trim().strip_prefix("- IRSA_DOCTOR_EXPECT_ACCESS="))
        .expect("the example's --expect-access list");
    let wanted: Vec<ExpectedAccess> = list
        .split(',')
        .map(|e| ExpectedAccess::parse(e).unwrap())
        .collect();
    assert_eq!(wanted.len(), 3);
    let workload = policies(
        "db-backup",
        "manifests/examples/backup-cronjob/iam-policy.json",
    );
    let caller = Caller {
        role_arn: Some("arn:aws:iam::111122223333:role/db-backup"),
        region: Some("us-east-1"),
    };
    for w in &wanted {
        let c = check(&workload, &caller, w);
        assert_eq!(c.decision, Decision::Allowed, "{c:?}");
    }
    let reader = policies(
        "irsa-doctor",
        "manifests/iam/irsa-doctor-read-own-policies.json",
    );
    let role = "arn:aws:iam::111122223333:role/demo";
    let reads = [
        ("iam:GetRole", role),
        ("iam:ListRolePolicies", role),
        ("iam:GetRolePolicy", role),
        ("iam:ListAttachedRolePolicies", role),
        (
            "iam:GetPolicy",
            "arn:aws:iam::111122223333:policy/BackupWriter",
        ),
        (
            "iam:GetPolicyVersion",
            "arn:aws:iam::aws:policy/ReadOnlyAccess",
        ),
    ];
    for (action, resource) in reads {
        let w = ExpectedAccess::parse(&format!("{action}={resource}")).unwrap();
        let c = check(&reader, &caller, &w);
        assert_eq!(c.decision, Decision::Allowed, "{c:?}");
    }
}

/// A bad entry is a usage error: exit 2 and one line, before anything is probed.
#[test]
fn bad_entries_exit_2_with_one_line() {
    let home = tempfile::tempdir().unwrap();
    let env = base_env(home.path());
    for (args, env_value, says) in [
        (
            vec!["--expect-access", "PutObject"],
            None,
            "has no service prefix",
        ),
        (
            vec![],
            Some("s3:PutObject=arn:aws:s3:::b/*,kms:Decrypt=alias/backup"),
            "is not an ARN",
        ),
    ] {
        let mut env = env.clone();
        if let Some(v) = env_value {
            set(&mut env, "IRSA_DOCTOR_EXPECT_ACCESS", v);
        }
        let mut argv = vec!["check"];
        argv.extend(args);
        let out = run(&env, &argv, None);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
        assert!(out.stdout.is_empty());
    }
}
