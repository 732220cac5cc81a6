//! Live checks of the real binary against in-process fake STS and IMDS on loopback:
//! every STS failure class, the credential chain, node-role fallback, and the
//! guarantees that reads never multiply STS calls.
#![allow(clippy::disallowed_methods)] // drives the real binary: real clocks, a chosen environment

mod common;

use std::time::Duration;

use common::*;
use irsa_doctor_emulator::imds::ImdsMode;
use irsa_doctor_emulator::sts::StsMode;
use serde_json::{Value, json};

const DEADLINE: Duration = Duration::from_secs(15);

fn healthy_pod() -> Pod {
    let pod = Pod::new();
    pod.writer
        .write_token(jwt(&claims(100, 86_400)).as_bytes())
        .unwrap();
    pod
}

#[test]
fn healthy_pod_is_proven_with_two_sts_calls() {
    let pod = healthy_pod();
    let server = serve(&pod.env(), &[]);
    wait_for("ready", DEADLINE, || {
        (server.get("/readyz").status == 200).then_some(())
    });
    let r = server.report();
    assert_eq!(r["status"], "ok", "{}", server.get("/debug").body);
    let sts = &r["sts"];
    assert_eq!(sts["result"], "success");
    assert_eq!(sts["endpoint"], pod.peers.sts.endpoint());
    assert_eq!(sts["consecutive_failures"], 0);
    let assumed = sts["assumed_role_arn"].as_str().unwrap();
    assert!(
        assumed.starts_with("arn:aws:sts::111122223333:assumed-role/demo/irsa-doctor-"),
        "{assumed}"
    );
    assert_eq!(
        sts["caller_arn"], assumed,
        "GetCallerIdentity agrees with the assumed role"
    );
    assert!(sts["credentials_expire_at"].is_string() && sts["last_success_at"].is_string());
    assert!(sts["latency_seconds"].as_f64().unwrap() >= 0.0);
    let chain = &r["credential_chain"];
    assert_eq!(chain["provider"], "WebIdentityToken");
    assert_eq!(
        chain["caller_arn"], assumed,
        "the chain reuses the test-assume"
    );
    assert_eq!(chain["node_role_fallback"], false);
    assert_eq!(
        chain["imds"],
        json!({"v2_reachable": false, "v1_reachable": false})
    );

    // A healthy probe costs exactly AssumeRoleWithWebIdentity + GetCallerIdentity.
    assert_eq!(
        (
            pod.peers.sts.assume_calls(),
            pod.peers.sts.caller_identity_calls()
        ),
        (1, 1)
    );
    let m = server.metrics();
    for (series, want) in [
        ("irsa_sts_assume_success", 1.0),
        ("irsa_sts_assume_attempts_total", 1.0),
        ("irsa_sts_assume_duration_seconds_count", 1.0),
        (
            "irsa_credential_provider_info{provider=\"WebIdentityToken\"}",
            1.0,
        ),
        ("irsa_node_role_fallback", 0.0),
        ("irsa_imds_reachable", 0.0),
    ] {
        assert_eq!(sample(&m, series), Some(want), "{series}\n{m}");
    }
    assert!(sample(&m, "irsa_sts_last_success_timestamp_seconds").unwrap() > 1.7e9);
    assert!(sample(&m, "irsa_sts_credentials_expiry_timestamp_seconds").unwrap() > 1.7e9);
}

/// One row per way STS can fail: how to provoke it, and what the report must say.
#[test]
fn every_sts_failure_is_classified() {
    struct Case {
        name: &'static str,
        setup: fn(&Pod) -> Vec<&'static str>,
        code: &'static str,
        finding: &'static str,
        fragment: &'static str,
    }
    let cases = [
        Case {
            name: "sub not allowed",
            setup: |p| {
                p.peers
                    .sts
                    .update_config(|c| c.allowed_subject = "system:serviceaccount:other:*".into());
                vec![]
            },
            code: "AccessDenied",
            finding: "STS_ASSUME_FAILED",
            fragment: "Not authorized to perform sts:AssumeRoleWithWebIdentity",
        },
        Case {
            name: "unknown issuer",
            setup: |p| {
                p.peers.sts.update_config(|c| {
                    c.issuer = "https://oidc.eks.eu-west-1.amazonaws.com/id/OTHER".into()
                });
                vec![]
            },
            code: "InvalidIdentityToken",
            finding: "STS_ASSUME_FAILED",
            fragment: "No OpenIDConnect provider found",
        },
        Case {
            name: "idp communication",
            setup: |p| {
                p.peers.sts.set_mode(StsMode::Error {
                    status: 400,
                    code: "IDPCommunicationError".into(),
                    message: "Couldn't reach the IdP".into(),
                });
                vec![]
            },
            code: "IDPCommunicationError",
            finding: "STS_ASSUME_FAILED",
            fragment: "Couldn't reach the IdP",
        },
        Case {
            name: "idp rejected claim",
            setup: |p| {
                p.peers.sts.set_mode(StsMode::Error {
                    status: 403,
                    code: "IDPRejectedClaim".into(),
                    message: "rejected".into(),
                });
                vec![]
            },
            code: "IDPRejectedClaim",
            finding: "STS_ASSUME_FAILED",
            fragment: "rejected",
        },
        Case {
            name: "region disabled",
            setup: |p| {
                p.peers.sts.set_mode(StsMode::Error {
                    status: 403,
                    code: "RegionDisabledException".into(),
                    message: "STS is not activated in this region for account:111122223333".into(),
                });
                vec![]
            },
            code: "RegionDisabledException",
            finding: "STS_ASSUME_FAILED",
            fragment: "not activated",
        },
        Case {
            name: "throttled",
            setup: |p| {
                p.peers.sts.set_mode(StsMode::Throttle);
                vec![]
            },
            code: "Throttling",
            finding: "STS_THROTTLED",
            fragment: "Rate exceeded",
        },
        Case {
            name: "5xx",
            setup: |p| {
                p.peers.sts.set_mode(StsMode::ServerError);
                vec![]
            },
            code: "InternalFailure",
            finding: "STS_ASSUME_FAILED",
            fragment: "InternalFailure",
        },
        Case {
            name: "garbage XML",
            setup: |p| {
                p.peers.sts.set_mode(StsMode::Garbage);
                vec![]
            },
            code: "InvalidResponse",
            finding: "STS_ASSUME_FAILED",
            fragment: "InvalidResponse",
        },
        Case {
            name: "connection dropped",
            setup: |p| {
                p.peers.sts.set_mode(StsMode::Down);
                vec![]
            },
            code: "Unreachable",
            finding: "STS_UNREACHABLE",
            fragment: "could not be reached",
        },
        Case {
            name: "slower than --probe-timeout",
            setup: |p| {
                p.peers.sts.set_mode(StsMode::Slow(Duration::from_secs(5)));
                vec!["--probe-timeout", "1s"]
            },
            code: "Timeout",
            finding: "STS_UNREACHABLE",
            fragment: "timed out",
        },
    ];
    for case in cases {
        let pod = healthy_pod();
        let extra = (case.setup)(&pod);
        let (exit, r) = check_json(&pod.env(), &extra);
        let name = case.name;
        assert_eq!(r["sts"]["result"], "error", "{name}");
        assert_eq!(r["sts"]["error_code"], case.code, "{name}: {}", r["sts"]);
        assert_eq!(r["sts"]["consecutive_failures"], 1, "{name}");
        let finding = r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["code"] == case.finding)
            .unwrap_or_else(|| panic!("{name}: no {} in {}", case.finding, r["findings"]));
        let text = format!("{} {}", finding["message"], finding["remediation"]);
        assert!(text.contains(case.fragment), "{name}: {text}");
        let want_exit = if case.finding == "STS_THROTTLED" {
            1
        } else {
            2
        };
        assert_eq!(exit, want_exit, "{name}");
    }
}

#[test]
fn token_problems_are_confirmed_by_sts() {
    // (name, claim edits, STS code, token finding)
    let cases: [(&str, Value, &str, &str); 2] = [
        (
            "wrong audience",
            json!({"aud": ["api"]}),
            "InvalidIdentityToken",
            "AUDIENCE_MISMATCH",
        ),
        (
            "expired",
            json!({"exp": now() - 60, "iat": now() - 86_460, "nbf": now() - 86_460}),
            "ExpiredTokenException",
            "TOKEN_EXPIRED",
        ),
    ];
    for (name, edits, code, finding) in cases {
        let pod = Pod::new();
        let mut c = claims(100, 86_400);
        for (k, v) in edits.as_object().unwrap() {
            c[k] = v.clone();
        }
        pod.writer.write_token(jwt(&c).as_bytes()).unwrap();
        let (exit, r) = check_json(&pod.env(), &[]);
        assert_eq!(exit, 2, "{name}");
        assert_eq!(r["sts"]["error_code"], code, "{name}");
        let codes = codes(&r);
        assert!(
            codes.contains(&finding.to_string())
                && codes.contains(&"STS_ASSUME_FAILED".to_string()),
            "{name}: {codes:?}"
        );
    }
}

#[test]
fn role_mismatch_and_clock_skew() {
    let pod = healthy_pod();
    pod.peers.sts.set_mode(StsMode::CallerIs(
        "arn:aws:sts::999999999999:assumed-role/other/x".into(),
    ));
    let (_, r) = check_json(&pod.env(), &[]);
    assert_eq!(codes(&r), vec!["ROLE_MISMATCH"], "{}", r["findings"]);

    pod.peers.sts.set_mode(StsMode::ClockOffset(-300));
    let (exit, r) = check_json(&pod.env(), &[]);
    assert_eq!(codes(&r), vec!["CLOCK_SKEW"]);
    assert_eq!(exit, 1);
    let skew = r["sts"]["clock_skew_seconds"].as_f64().unwrap();
    assert!(
        (295.0..=305.0).contains(&skew),
        "local clock is ahead by ~300 s: {skew}"
    );
}

#[test]
fn irsa_env_missing_falls_back_to_the_node_role() {
    let pod = Pod::new();
    let imds = pod.peers.imds.config().clone();
    pod.peers
        .sts
        .register_credentials(&imds.access_key_id, &imds.node_caller_arn());
    let mut env = pod.env_with_imds();
    unset(&mut env, "AWS_ROLE_ARN");
    unset(&mut env, "AWS_WEB_IDENTITY_TOKEN_FILE");
    let (exit, r) = check_json(&env, &[]);
    assert_eq!(exit, 2);
    let codes = codes(&r);
    for want in ["IRSA_ENV_MISSING", "NODE_ROLE_FALLBACK", "IMDS_REACHABLE"] {
        assert!(
            codes.contains(&want.to_string()),
            "{want} missing from {codes:?}"
        );
    }
    assert_eq!(r["sts"]["result"], "never", "no role to test-assume");
    let chain = &r["credential_chain"];
    assert_eq!(chain["provider"], "IMDSv2");
    assert_eq!(chain["caller_arn"], imds.node_caller_arn());
    assert_eq!(chain["node_role_fallback"], true);
    assert_eq!(
        chain["imds"],
        json!({"v2_reachable": true, "v1_reachable": true})
    );
    assert_eq!(pod.peers.sts.assume_calls(), 0);
}

#[test]
fn imds_v1_only_is_reported_separately() {
    let pod = healthy_pod();
    pod.peers.imds.set_mode(ImdsMode::V1Only);
    let (exit, r) = check_json(&pod.env_with_imds(), &[]);
    assert_eq!(exit, 1);
    assert_eq!(codes(&r), vec!["IMDS_REACHABLE"]);
    assert_eq!(
        r["credential_chain"]["imds"],
        json!({"v2_reachable": false, "v1_reachable": true})
    );
    let (_, off) = check_json(&pod.env_with_imds(), &["--no-imds-check"]);
    assert_eq!(
        off["credential_chain"]["imds"],
        json!({"v2_reachable": null, "v1_reachable": null})
    );
    assert_eq!(codes(&off), Vec::<String>::new());
}

#[test]
fn static_keys_in_env_shadow_web_identity() {
    let pod = healthy_pod();
    pod.peers.sts.register_credentials(
        "AKIASTATICKEYEXAMPLE",
        "arn:aws:iam::111122223333:user/ci-bot",
    );
    let mut env = pod.env();
    set(&mut env, "AWS_ACCESS_KEY_ID", "AKIASTATICKEYEXAMPLE");
    set(&mut env, "AWS_SECRET_ACCESS_KEY", "c2VjcmV0LXN0YXRpYy1rZXk");
    let (exit, r) = check_json(&env, &[]);
    assert_eq!(exit, 1);
    assert_eq!(codes(&r), vec!["STATIC_CREDENTIALS_SHADOW"]);
    assert_eq!(r["credential_chain"]["provider"], "EnvironmentVariable");
    assert_eq!(
        r["credential_chain"]["caller_arn"],
        "arn:aws:iam::111122223333:user/ci-bot"
    );
    assert_eq!(r["credential_chain"]["node_role_fallback"], false);
    assert_eq!(
        r["sts"]["result"], "success",
        "the test-assume still proves IRSA itself works"
    );
    let all = r.to_string();
    assert!(!all.contains("c2VjcmV0LXN0YXRpYy1rZXk") && !all.contains("AKIASTATICKEYEXAMPLE"));
}

#[test]
fn reads_never_call_sts() {
    let pod = healthy_pod();
    let server = serve(&pod.env(), &[]);
    wait_for("first probe", DEADLINE, || {
        (server.get("/readyz").status == 200).then_some(())
    });
    let before = pod.peers.sts.requests();
    for i in 0..200 {
        let path = if i % 2 == 0 {
            "/debug?format=json"
        } else {
            "/metrics"
        };
        assert_eq!(server.get(path).status, 200);
    }
    assert_eq!(
        pod.peers.sts.requests(),
        before,
        "200 reads added STS requests"
    );
}

#[test]
fn unreachable_then_recovery() {
    let pod = healthy_pod();
    pod.peers.sts.set_mode(StsMode::Down);
    // A short interval, so recovery comes from the schedule instead of waiting out the
    // 10 s on-demand window (that rule is `schedule::tests::probe_timing_rules`).
    let server = serve(
        &pod.env(),
        &["--probe-interval", "4s", "--probe-timeout", "2s"],
    );
    wait_for("ready after a failed first probe", DEADLINE, || {
        (server.get("/readyz").status == 200).then_some(())
    });
    assert!(server.codes().contains(&"STS_UNREACHABLE".to_string()));
    // A dropped connection is transient: the probe retried it as the SDK would, and every
    // request sent is counted.
    let metrics = server.metrics();
    assert_eq!(
        sample(
            &metrics,
            "irsa_sts_assume_errors_total{code=\"Unreachable\"}"
        ),
        Some(3.0)
    );
    assert_eq!(
        sample(&metrics, "irsa_sts_assume_attempts_total"),
        Some(3.0)
    );

    pod.peers.sts.set_mode(StsMode::Healthy);
    // Inside the 10 s window: 429 with the cached report.
    let refused = request(server.addr(), "POST", "/debug/probe", &[]).unwrap();
    assert_eq!(refused.status, 429);
    assert_eq!(refused.json()["sts"]["result"], "error");
    assert_eq!(refused.header("content-type"), Some("application/json"));
    let healed = wait_for("the scheduled probe heals", Duration::from_secs(20), || {
        let r = server.get("/debug?format=json");
        (r.json()["sts"]["result"] == "success").then_some(r)
    });
    assert_eq!(healed.json()["status"], "ok");
}

#[test]
fn token_refresh_triggers_an_early_probe() {
    let pod = healthy_pod();
    let server = serve(&pod.env(), &[]);
    wait_for("first probe", DEADLINE, || {
        (pod.peers.sts.assume_calls() == 1).then_some(())
    });
    pod.writer
        .write_token(jwt(&claims(0, 86_400)).as_bytes())
        .unwrap();
    // The interval is 5 minutes: only the refresh can explain a second call.
    wait_for(
        "early probe after refresh (at most one per 10 s)",
        Duration::from_secs(30),
        || (pod.peers.sts.assume_calls() == 2).then_some(()),
    );
    assert_eq!(server.report()["sts"]["result"], "success");
    // The assumed-role ARN did not change, so the caller is not asked again (fleet budget).
    assert_eq!(pod.peers.sts.caller_identity_calls(), 1);
}

/// A refresh may bring a probe forward, never push one back: with a 1 s interval, the
/// probes keep coming every second across a rotation (the early-probe window alone would
/// hold the next one for up to 10 s).
#[test]
fn token_refresh_never_postpones_the_scheduled_probe() {
    let pod = healthy_pod();
    let _server = serve(&pod.env(), &["--probe-interval", "1s"]);
    wait_for("two scheduled probes", DEADLINE, || {
        (pod.peers.sts.assume_calls() >= 2).then_some(())
    });
    pod.writer
        .write_token(jwt(&claims(0, 86_400)).as_bytes())
        .unwrap();
    let before = pod.peers.sts.assume_calls();
    // Three more probes take about 3 s on schedule; postponed, the first alone takes ~10 s.
    wait_for(
        "three probes within 6 s of a rotation",
        Duration::from_secs(6),
        || (pod.peers.sts.assume_calls() >= before + 3).then_some(()),
    );
}

/// Signature verification against the issuer's published keys (discovery → JWKS → RS256).
#[test]
fn signature_is_verified_against_published_keys() {
    use irsa_doctor_emulator::issuer::Issuer;
    use irsa_doctor_emulator::oidc::OidcMode;

    // Published key verifies the token.
    let pod = healthy_pod();
    let (exit, r) = check_json(&pod.env(), &[]);
    assert_eq!(
        (exit, r["token"]["signature_verified"].clone()),
        (0, json!(true)),
        "{}",
        r["token"]
    );
    assert!(
        pod.peers.oidc.requests() >= 2,
        "discovery document and key set were fetched"
    );

    // The cluster's key was rotated out: the token's kid is no longer published.
    // Real STS refuses it too (the fake does not check signatures, so it is told to).
    let rotated = Issuer::generate(ISSUER).unwrap();
    pod.peers.oidc.set_keys(rotated.jwks());
    pod.peers.sts.set_mode(StsMode::Error {
        status: 400,
        code: "InvalidIdentityToken".into(),
        message: "The web identity token signature could not be verified".into(),
    });
    let (exit, r) = check_json(&pod.env(), &[]);
    assert_eq!(exit, 2);
    assert_eq!(r["token"]["signature_verified"], false);
    assert_eq!(
        codes(&r),
        vec!["STS_ASSUME_FAILED", "TOKEN_SIGNATURE_INVALID"]
    );
    let msg = r["findings"][1]["message"].as_str().unwrap();
    assert!(
        msg.contains(&format!("no key with kid {}", issuer().key_id()))
            && msg.contains(rotated.key_id()),
        "{msg}"
    );

    // Live evidence outranks inference: if STS accepts this very token, keys that
    // do not verify it are irsa-doctor's problem, not the pod's: info only.
    pod.peers.sts.set_mode(StsMode::Healthy);
    let (exit, r) = check_json(&pod.env(), &[]);
    assert_eq!(exit, 0, "{}", r["findings"]);
    assert_eq!(codes(&r), vec!["OIDC_DISCOVERY_FAILED"]);
    assert!(
        r["findings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("yet STS accepted it"),
        "{}",
        r["findings"]
    );

    // The issuer cannot be reached: info only, status unaffected.
    for mode in [OidcMode::Down, OidcMode::ServerError] {
        pod.peers.oidc.set_mode(mode);
        let (exit, r) = check_json(&pod.env(), &[]);
        assert_eq!(
            exit, 0,
            "{mode:?}: STS does not need the pod to reach the issuer"
        );
        assert_eq!(r["status"], "ok");
        assert_eq!(codes(&r), vec!["OIDC_DISCOVERY_FAILED"], "{mode:?}");
        assert_eq!(r["token"]["signature_verified"], Value::Null);
    }
}

/// The trust policy, mounted like a ConfigMap, is re-read on change: the verdict follows within a second.
#[test]
fn trust_policy_file_edits_update_the_verdict() {
    use irsa_doctor_emulator::kubelet::AtomicWriter;
    use irsa_doctor_emulator::sts::StsConfig;

    let pod = healthy_pod();
    let configmap = AtomicWriter::new(pod.tmp.path().join("trust-policy")).unwrap();
    let allowing = StsConfig::default().trust_policy_json();
    configmap
        .write("policy.json", allowing.to_string().as_bytes())
        .unwrap();
    let path = configmap.dir().join("policy.json");
    let server = serve(&pod.env(), &["--trust-policy-file", path.to_str().unwrap()]);
    wait_for("allowed verdict", DEADLINE, || {
        let r = server.report();
        (r["trust_policy"]["verdict"] == "allowed").then_some(())
    });
    assert_eq!(server.report()["status"], "ok");

    // Pin another ServiceAccount, written URL-encoded as iam:GetRole returns it.
    let denying = StsConfig {
        allowed_subject: "system:serviceaccount:payments:s3-backup".into(),
        ..StsConfig::default()
    };
    let encoded: String = denying
        .trust_policy_json()
        .to_string()
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    configmap.write("policy.json", encoded.as_bytes()).unwrap();
    let r = wait_for(
        "denying verdict within a second",
        Duration::from_secs(1),
        || {
            let r = server.report();
            (r["trust_policy"]["verdict"] == "implicit_deny" && r["sts"]["result"] == "success")
                .then_some(r)
        },
    );
    // STS accepts this very token (the fake judges the real, allowing policy), so the edited
    // copy is outdated, not a denial: live evidence outranks inference.
    let finding = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "TRUST_POLICY_OUTDATED")
        .unwrap_or_else(|| panic!("{}", r["findings"]));
    assert_eq!(finding["severity"], "warning");
    assert!(
        !codes(&r).contains(&"TRUST_POLICY_DENIES".to_owned()),
        "{}",
        r["findings"]
    );
    let msg = finding["message"].as_str().unwrap();
    assert!(msg.contains("expected system:serviceaccount:payments:s3-backup, token has system:serviceaccount:demo:demo-sa"), "{msg}");
    assert!(
        server
            .get("/debug")
            .body
            .contains("    FAIL  StringLike oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE:sub")
    );

    // Garbage in the ConfigMap: reported, not fatal, and the daemon keeps serving.
    configmap.write("policy.json", b"{ not json").unwrap();
    wait_for("policy error reported", Duration::from_secs(2), || {
        let r = server.report();
        r["trust_policy"]["error"].as_str().map(|_| ())
    });
    assert_eq!(server.get("/healthz").status, 200);
}

/// A role without iam:GetRole on itself: an info note in the report, never a failure.
#[test]
fn fetching_the_trust_policy_without_permission_is_a_note() {
    let pod = healthy_pod();
    let mut env = pod.env();
    // The fake STS, as IAM, refuses GetRole to a role lacking the permission.
    pod.peers.sts.update_config(|c| c.iam_readable = false);
    set(&mut env, "AWS_ENDPOINT_URL_IAM", &pod.peers.sts.endpoint());
    let (exit, r) = check_json(&env, &["--fetch-trust-policy"]);
    assert_eq!(exit, 0, "{r:#}");
    let tp = &r["trust_policy"];
    assert_eq!(tp["verdict"], Value::Null);
    let note = tp["notes"][0].as_str().unwrap_or_default();
    assert!(
        note.contains("iam:GetRole failed") && note.contains("grant the role iam:GetRole"),
        "{tp:#}"
    );
    assert_eq!(codes(&r), Vec::<String>::new());
}

/// A custom audience that the OIDC provider lists (STS accepts the token every
/// probe) is healthy. Live evidence outranks the audience prediction; the same token refused
/// by STS is AUDIENCE_MISMATCH again.
#[test]
fn custom_audience_that_sts_accepts_is_healthy() {
    let pod = Pod::new();
    let mut c = claims(100, 86_400);
    c["aud"] = json!(["api.example.com"]);
    pod.writer.write_token(jwt(&c).as_bytes()).unwrap();
    pod.peers
        .sts
        .update_config(|cfg| cfg.audience = "api.example.com".into());
    let (exit, r) = check_json(&pod.env(), &[]);
    assert_eq!(r["sts"]["result"], "success", "{}", r["sts"]);
    assert_eq!(
        (exit, codes(&r)),
        (0, Vec::<String>::new()),
        "{}",
        r["findings"]
    );

    // The provider no longer lists it: STS refuses, and the prediction stands.
    pod.peers
        .sts
        .update_config(|cfg| cfg.audience = "sts.amazonaws.com".into());
    let (exit, r) = check_json(&pod.env(), &[]);
    assert_eq!(exit, 2);
    assert!(
        codes(&r).contains(&"AUDIENCE_MISMATCH".to_owned()),
        "{}",
        r["findings"]
    );
}
