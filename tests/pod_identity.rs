//! EKS Pod Identity against a fake agent, several tokens at once, and
//! `check --pid` reading another process's view.
#![allow(clippy::disallowed_methods)] // drives the real binary: real clocks, a chosen environment

mod common;

use std::time::Duration;

use common::*;
use irsa_doctor_emulator::agent::AgentMode;
use irsa_doctor_emulator::harness::PodIdentity;
use irsa_doctor_emulator::harness::pod_identity::{AGENT_ACCESS_KEY, POD_IDENTITY_AUDIENCE};
use irsa_doctor_emulator::kubelet::AtomicWriter;
use serde_json::json;

/// The role the agent's credentials belong to (`agent_role_arn("aws")`), as reports show it.
const POD_ROLE_ARN: &str =
    "arn:aws:sts::111122223333:assumed-role/pod-identity-role/eks-demo-web-7d9f-0a1b";
const AGENT_KEY: &str = AGENT_ACCESS_KEY;

/// A pod using EKS Pod Identity alone: its token volume, the agent, and no IRSA variables.
struct PiPod {
    /// Declared first, so the agent stops while the pod's runtime still runs.
    identity: PodIdentity,
    pod: Pod,
}

impl PiPod {
    fn new() -> PiPod {
        let pod = Pod::new();
        let identity = PodIdentity::start(&pod);
        identity.register_role(&pod.peers.sts, "aws");
        let mut c = claims(100, 86_400);
        c["aud"] = json!([POD_IDENTITY_AUDIENCE]);
        let token = jwt(&c);
        identity.write_token(token.as_bytes());
        identity.agent.expect_token(Some(&token));
        PiPod { identity, pod }
    }

    fn env(&self) -> Vec<(String, String)> {
        let mut env = self.pod.env();
        self.identity.set_env(&mut env, false);
        env
    }
}

#[test]
fn pod_identity_alone_is_healthy_and_raises_no_irsa_findings() {
    let pi = PiPod::new();
    let (exit, r) = check_json(&pi.env(), &[]);
    assert_eq!(codes(&r), Vec::<String>::new(), "{:#}", r["findings"]);
    assert_eq!(exit, 0);
    let p = &r["pod_identity"];
    assert_eq!(p["configured"], true);
    assert_eq!(p["result"], "success", "{p:#}");
    assert_eq!(p["http_status"], 200);
    assert_eq!(p["account_id"], "111122223333");
    assert_eq!(p["caller_arn"], POD_ROLE_ARN);
    assert!(p["credentials_expire_at"].is_string());
    assert_eq!(
        r["credential_chain"]["provider"], "EcsContainer",
        "the SDK's chain takes the container provider"
    );
    assert_eq!(r["credential_chain"]["caller_arn"], POD_ROLE_ARN);
    let names: Vec<&str> = r["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["pod_identity"]);
    assert_eq!(
        r["tokens"][0]["audiences"],
        json!(["pods.eks.amazonaws.com"])
    );
    assert_eq!(r["sts"]["result"], "never", "no IRSA role to test-assume");
    let all = r.to_string();
    assert!(
        !all.contains("podIdentitySecretKeyExample") && !all.contains(AGENT_KEY),
        "credentials leaked"
    );
}

#[test]
fn agent_failures_are_classified() {
    struct Case {
        name: &'static str,
        setup: fn(&PiPod, &mut Vec<(String, String)>),
        code: &'static str,
        fragment: &'static str,
    }
    let cases = [
        Case {
            name: "400 with the agent's body",
            setup: |pi, _| pi.identity.agent.expect_token(Some("another-token")),
            code: "POD_IDENTITY_DENIED",
            fragment: "HTTP 400: {\"message\":\"Invalid token: the service account token could not be validated\"}",
        },
        Case {
            name: "500",
            setup: |pi, _| pi.identity.agent.set_mode(AgentMode::ServerError),
            code: "POD_IDENTITY_AGENT_ERROR",
            fragment: "HTTP 500",
        },
        Case {
            name: "accepted, never answered: EKS Auth slow, not a missing agent",
            setup: |pi, _| pi.identity.agent.set_mode(AgentMode::Silent),
            code: "POD_IDENTITY_AGENT_ERROR",
            fragment: "accepted the connection but did not answer in time: connected, but no answer within 2s",
        },
        Case {
            name: "429 is throttling, not a denial",
            setup: |pi, _| pi.identity.agent.set_mode(AgentMode::Throttle),
            code: "POD_IDENTITY_THROTTLED",
            fragment: "HTTP 429",
        },
        Case {
            name: "refused",
            setup: |_, env| {
                set(
                    env,
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                    "http://127.0.0.1:9/v1/credentials",
                )
            },
            code: "POD_IDENTITY_AGENT_UNREACHABLE",
            fragment: "Connection refused",
        },
    ];
    for case in cases {
        let pi = PiPod::new();
        let mut env = pi.env();
        (case.setup)(&pi, &mut env);
        let (exit, r) = check_json(&env, &[]);
        let name = case.name;
        let severity = if case.code == "POD_IDENTITY_THROTTLED" {
            1
        } else {
            2
        };
        assert_eq!(exit, severity, "{name}");
        let finding = r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["code"] == case.code)
            .unwrap_or_else(|| panic!("{name}: no {} in {:#}", case.code, r["findings"]));
        assert!(
            finding["message"].as_str().unwrap().contains(case.fragment),
            "{name}: {}",
            finding["message"]
        );
        assert_eq!(r["pod_identity"]["result"], "error", "{name}");
    }
}

#[test]
fn both_mechanisms_and_proxies() {
    let pi = PiPod::new();
    pi.pod
        .writer
        .write_token(jwt(&claims(100, 86_400)).as_bytes())
        .unwrap();
    let mut both = pi.env();
    set(&mut both, "AWS_ROLE_ARN", ROLE);
    set(
        &mut both,
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        pi.pod.token_path().to_str().unwrap(),
    );
    let (_, r) = check_json(&both, &[]);
    assert!(
        codes(&r).contains(&"BOTH_IDENTITY_MECHANISMS".to_string()),
        "{:#}",
        r["findings"]
    );
    assert_eq!(
        r["credential_chain"]["provider"], "WebIdentityToken",
        "web identity wins in the chain"
    );
    let names: Vec<&str> = r["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["irsa", "pod_identity"]);

    // The proxy points at a closed loopback port; only what NO_PROXY says matters here.
    // The agent is plain http, so HTTPS_PROXY alone never intercepts it.
    let proxy_codes = |env: &[(String, String)]| {
        let (_, r) = check_json(env, &[]);
        (
            codes(&r).contains(&"PROXY_INTERCEPTS_CREDENTIALS".to_string()),
            r,
        )
    };
    let mut proxied = pi.env();
    set(
        &mut proxied,
        "HTTPS_PROXY",
        "http://user:hunter2@127.0.0.1:9",
    );
    let (hit, r) = proxy_codes(&proxied);
    assert!(
        !hit,
        "HTTPS_PROXY does not carry http://: {:#}",
        r["findings"]
    );
    set(
        &mut proxied,
        "http_proxy",
        "http://user:hunter2@127.0.0.1:9",
    );
    let (_, r) = check_json(&proxied, &[]);
    let finding = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "PROXY_INTERCEPTS_CREDENTIALS")
        .expect("proxy finding");
    let message = finding["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "http_proxy set, and NO_PROXY (unset) does not cover the EKS Pod Identity agent ({})",
            pi.identity.agent.uri()
        )),
        "{message}"
    );
    assert!(
        !r.to_string().contains("hunter2"),
        "proxy credentials leaked"
    );
    // The agent's own address, in the lowercase spelling, as a CIDR block.
    set(&mut proxied, "no_proxy", "169.254.0.0/16,127.0.0.0/8");
    let (hit, r) = proxy_codes(&proxied);
    assert!(!hit, "{:#}", r["findings"]);
}

#[test]
fn two_token_files_give_two_labelled_sections() {
    let pod = Pod::new();
    pod.writer
        .write_token(jwt(&claims(100, 86_400)).as_bytes())
        .unwrap();
    // The API server's own token: extended expiry and a warnafter already passed.
    let kube = AtomicWriter::new(pod.tmp.path().join("kube-api-access")).unwrap();
    let mut k = claims(4000, 31_536_000);
    k["aud"] = json!(["https://kubernetes.default.svc"]);
    k["kubernetes.io"]["warnafter"] = json!(now() - 393);
    kube.write_token(jwt(&k).as_bytes()).unwrap();
    let irsa_path = pod.token_path().display().to_string();
    let kube_arg = format!("kube_api={}", kube.token_path().display());
    let server = serve(
        &pod.env(),
        &["--token-file", &irsa_path, "--token-file", &kube_arg],
    );
    wait_for("ready", Duration::from_secs(15), || {
        (server.get("/readyz").status == 200).then_some(())
    });

    let r = server.report();
    let tokens = r["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 2);
    assert_eq!(
        (tokens[0]["name"].as_str(), tokens[1]["name"].as_str()),
        (Some("irsa"), Some("kube_api"))
    );
    assert_eq!(
        tokens[1]["audiences"],
        json!(["https://kubernetes.default.svc"])
    );
    assert!(tokens[1]["warn_after"].is_string());
    assert_eq!(
        r["token"]["audiences"],
        json!(["sts.amazonaws.com"]),
        "token stays the IRSA one"
    );
    assert_eq!(
        codes(&r),
        vec!["TOKEN_STALE_WARNAFTER"],
        "{:#}",
        r["findings"]
    );

    let m = server.metrics();
    for (series, want) in [
        (
            "irsa_token_expiry_timestamp_seconds{token=\"irsa\"}",
            claims_exp(&pod.token_path()),
        ),
        (
            "irsa_token_expiry_timestamp_seconds{token=\"kube_api\"}",
            k["exp"].as_f64(),
        ),
        ("irsa_token_reloads_total{token=\"kube_api\"}", Some(1.0)),
        ("irsa_token_valid{token=\"kube_api\"}", Some(1.0)),
    ] {
        assert_eq!(sample(&m, series), want, "{series}");
    }
    assert_promtool_accepts(&m);
}

fn claims_exp(path: &std::path::Path) -> Option<f64> {
    let token = std::fs::read_to_string(path).ok()?;
    irsa_doctor_core::token::decode(&token)
        .ok()?
        .claims
        .expires_at
        .map(|e| e as f64)
}

/// `check --pid`: the report describes the target process's environment and token, not ours.
#[test]
fn check_pid_reads_the_target_process_view() {
    let pod = Pod::new();
    let mut c = claims(100, 86_400);
    c["sub"] = json!("system:serviceaccount:payments:s3-backup");
    pod.writer.write_token(jwt(&c).as_bytes()).unwrap();
    let app_role = "arn:aws:iam::111122223333:role/app-only-role";
    let child = std::process::Command::new("sleep")
        .arg("60")
        .env_clear()
        .env("AWS_ROLE_ARN", app_role)
        .env("AWS_WEB_IDENTITY_TOKEN_FILE", pod.token_path())
        .env("AWS_ACCESS_KEY_ID", "AKIAAPPCONTAINERKEY1")
        .env("AWS_SECRET_ACCESS_KEY", "app-secret")
        .env("AWS_REGION", "eu-west-1")
        // The app's own endpoint, pod name and session name: the probe must use these.
        .env("AWS_ENDPOINT_URL_STS", pod.peers.sts.endpoint())
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9")
        .env("POD_NAME", "app-7f")
        .env("AWS_ROLE_SESSION_NAME", "app-session")
        .spawn()
        .unwrap();
    struct Reap(std::process::Child);
    impl Drop for Reap {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let pid = child.id();
    let _reap = Reap(child);

    // Our own environment says something else entirely.
    let mut env = pod.env();
    set(&mut env, "AWS_ROLE_ARN", ROLE);
    unset(&mut env, "AWS_WEB_IDENTITY_TOKEN_FILE");
    set(&mut env, "AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9");
    set(&mut env, "AWS_ROLE_SESSION_NAME", "doctor-session");
    let (_, r) = check_json(&env, &["--pid", &pid.to_string()]);
    assert_eq!(
        r["sts"]["endpoint"],
        pod.peers.sts.endpoint(),
        "the target's AWS_ENDPOINT_URL_STS"
    );
    assert_eq!(r["sts"]["session_name"], "app-session");
    assert_eq!(r["environment"]["role_arn"], app_role);
    assert_eq!(r["environment"]["region"], "eu-west-1");
    assert_eq!(r["environment"]["static_credentials_in_env"], true);
    assert_eq!(
        r["environment"]["token_file"],
        format!("/proc/{pid}/root{}", pod.token_path().display())
    );
    assert_eq!(
        r["token"]["subject"],
        "system:serviceaccount:payments:s3-backup"
    );
    assert_eq!(r["credential_chain"]["provider"], "EnvironmentVariable");
    assert!(
        r["credential_chain"]["error"]
            .as_str()
            .unwrap()
            .contains(&format!("predicted from process {pid}"))
    );
    assert!(
        codes(&r).contains(&"STATIC_CREDENTIALS_SHADOW".to_string()),
        "{:#}",
        r["findings"]
    );
    assert!(
        !r.to_string().contains("app-secret") && !r.to_string().contains("AKIAAPPCONTAINERKEY1")
    );

    let out = run(&env, &["check", "--pid", "4294967295"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--target"));
}

/// `--expect-access` on a Pod Identity pod: no IRSA test-assume, so the role's policies are
/// read with the agent's credentials, for the role they belong to, once per hour.
#[test]
fn expected_access_is_read_with_the_agent_credentials() {
    let pi = PiPod::new();
    let sts = &pi.pod.peers.sts;
    // The fake STS is also IAM, for the role the agent's credentials belong to.
    sts.update_config(|c| c.role_name = "pod-identity-role".into());
    sts.set_inline_policy(
        "app",
        &json!({"Statement": [{"Sid": "Put", "Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::backups/*"}]}),
    );
    let mut env = pi.env();
    set(&mut env, "AWS_ENDPOINT_URL_IAM", &sts.endpoint());
    set(
        &mut env,
        "IRSA_DOCTOR_EXPECT_ACCESS",
        "s3:PutObject=arn:aws:s3:::backups/db.sql,kms:Decrypt",
    );
    let (exit, r) = check_json(&env, &[]);
    assert_eq!(codes(&r), vec!["ACCESS_NOT_ALLOWED"], "{:#}", r["access"]);
    assert_eq!(exit, 2);
    let access = &r["access"];
    assert_eq!(access["policies"], json!(["app"]));
    assert_eq!(access["checks"][0]["decision"], "allowed", "{access:#}");
    assert_eq!(access["checks"][0]["deciding_statement"], "Put");
    assert_eq!(access["checks"][1]["decision"], "implicit_deny");
    // GetRole, ListRolePolicies, GetRolePolicy, ListAttachedRolePolicies.
    assert_eq!(sts.iam_calls(), 4);

    // The daemon reads once, then not again on every probe.
    let server = serve(
        &env,
        &["--probe-interval", "1s", "--probe-timeout", "900ms"],
    );
    wait_for("four agent calls", Duration::from_secs(30), || {
        let calls = sample(&server.metrics(), "irsa_pod_identity_attempts_total")?;
        (calls >= 4.0).then_some(())
    });
    assert_eq!(sts.iam_calls(), 8, "one more read, not one per probe");
    let metrics = server.metrics();
    assert_eq!(
        sample(
            &metrics,
            "irsa_access_allowed{action=\"kms:Decrypt\",resource=\"*\"}"
        ),
        Some(0.0),
        "{metrics}"
    );
}
