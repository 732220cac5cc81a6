//! A real third-party peer: moto's STS/IAM server (PyPI `moto[server]`), set up
//! with boto3 and a token minted by PyJWT, then the real binary's `check`.
//! moto accepts every token, so error paths are the fakes' job (tests/live.rs).
#![allow(clippy::disallowed_methods)] // drives the real binary: real clocks, a chosen environment

mod common;

use std::process::Command;

use common::moto::start_moto;
use common::*;
use irsa_doctor_emulator::oidc::FakeOidc;
use serde_json::Value;

#[test]
fn check_against_moto() {
    let Some(moto) = start_moto() else { return };
    let pod = Pod::new();
    std::fs::create_dir_all(pod.writer.dir()).unwrap();
    let token_path = pod.writer.dir().join("pyjwt-token");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/moto_setup.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(&moto.endpoint)
        .arg(&token_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "moto setup: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let setup: Value = serde_json::from_slice(&out.stdout).unwrap();
    let role_arn = setup["role_arn"].as_str().unwrap();
    assert_eq!(role_arn, "arn:aws:iam::123456789012:role/s3-backup");

    // Publish PyJWT's key the way the cluster's issuer would.
    let oidc = pod.peers.runtime.block_on(FakeOidc::start_with(
        setup["issuer"].as_str().unwrap(),
        setup["jwks"].clone(),
    ));
    let oidc = oidc.unwrap();

    let mut env = pod.env();
    set(&mut env, "AWS_ENDPOINT_URL_STS", &moto.endpoint);
    set(
        &mut env,
        "IRSA_DOCTOR_OIDC_DISCOVERY_URL",
        &oidc.discovery_url(),
    );
    set(&mut env, "AWS_ROLE_ARN", role_arn);
    set(
        &mut env,
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        &token_path.display().to_string(),
    );
    set(
        &mut env,
        "IRSA_DOCTOR_EXPECTED_SUBJECT",
        "system:serviceaccount:payments:s3-backup",
    );

    // Healthy: the test-assume succeeds and GetCallerIdentity agrees.
    let out = run(&env, &["check", "--format", "json"], None);
    let r: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(out.status.code(), Some(0), "{r:#}");
    assert_eq!(r["status"], "ok");
    assert_eq!(r["token"]["key_id"], "moto-test-key");
    assert_eq!(
        r["token"]["signature_verified"], true,
        "PyJWT's signature verifies with the published key"
    );
    assert_eq!(r["token"]["kubernetes"]["service_account"], "s3-backup");
    let sts = &r["sts"];
    assert_eq!(sts["result"], "success", "{sts:#}");
    assert_eq!(sts["endpoint"], moto.endpoint);
    let assumed = sts["assumed_role_arn"].as_str().unwrap();
    assert!(
        assumed.starts_with("arn:aws:sts::123456789012:assumed-role/s3-backup/irsa-doctor-"),
        "{assumed}"
    );
    assert_eq!(sts["caller_arn"], assumed);
    assert_eq!(r["credential_chain"]["provider"], "WebIdentityToken");
    assert_eq!(r["credential_chain"]["caller_arn"], assumed);

    // Static keys too: the SDK's chain answers from the environment, as moto's user.
    set(&mut env, "AWS_ACCESS_KEY_ID", "testing");
    set(&mut env, "AWS_SECRET_ACCESS_KEY", "testing");
    let out = run(&env, &["check", "--format", "json"], None);
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{r:#}");
    assert_eq!(r["credential_chain"]["provider"], "EnvironmentVariable");
    assert_eq!(
        r["credential_chain"]["caller_arn"],
        "arn:aws:sts::123456789012:user/moto"
    );
    assert_eq!(codes(&r), vec!["STATIC_CREDENTIALS_SHADOW"]);
    assert_eq!(r["sts"]["result"], "success");

    // --fetch-trust-policy: the role's own trust policy through moto's iam:GetRole, judged locally.
    unset(&mut env, "AWS_ACCESS_KEY_ID");
    unset(&mut env, "AWS_SECRET_ACCESS_KEY");
    set(&mut env, "AWS_ENDPOINT_URL_IAM", &moto.endpoint);
    let out = run(
        &env,
        &["check", "--format", "json", "--fetch-trust-policy"],
        None,
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let tp = &r["trust_policy"];
    assert_eq!(tp["source"], format!("iam:GetRole {role_arn}"), "{tp:#}");
    assert_eq!(tp["verdict"], "allowed", "{tp:#}");
    assert_eq!(tp["issuer_matched"], true);
    let conditions = tp["statements"][0]["conditions"].as_array().unwrap();
    assert_eq!(conditions.len(), 2, "sub and aud pinned: {tp:#}");
    assert!(conditions.iter().all(|c| c["outcome"] == "pass"));
    assert_eq!(out.status.code(), Some(0), "{r:#}");
}
