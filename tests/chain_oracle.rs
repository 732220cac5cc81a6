//! Differential test of the credential chain against a real SDK.
//!
//! Each row is an environment plus shared files. botocore's own default
//! resolver judges it (`tests/peers/chain_oracle.py`), and the real
//! `irsa-doctor check --format json` judges it with aws-config resolving the
//! chain for real against the fake STS / IMDS / Pod Identity agent on loopback.
//! The test asserts botocore's provider, aws-config's `credential_chain.provider`
//! and `STATIC_CREDENTIALS_SHADOW` per row; that the warning is raised exactly
//! when IRSA or Pod Identity is configured and either SDK would not use it; and
//! that the two SDKs agree except where they are documented to differ: aws-config reads the shared profile
//! before the web-identity variables (Environment, Profile, WebIdentityToken,
//! EcsContainer, IMDS), botocore reads web identity before the profile's own
//! keys (env, assume-role, assume-role-with-web-identity, sso,
//! shared-credentials-file, custom-process, config-file, container-role,
//! iam-role); and an `AWS_PROFILE` that no file defines fails botocore's chain
//! but not aws-config's when there are no shared files at all.
//!
//! Needs python3 with botocore (CI installs it); without them it fails under
//! `CI` and skips locally with the reason.
#![allow(clippy::disallowed_methods)] // drives the real binary: real clocks, a chosen environment

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::Value;

const PROFILE_KEY: &str = "AKIAPROFILEEXAMPLE";
const STATIC_DEV: &str =
    "[dev]\naws_access_key_id = AKIAPROFILEEXAMPLE\naws_secret_access_key = c2VjcmV0\n";
const STATIC_DEFAULT: &str =
    "[default]\naws_access_key_id = AKIAPROFILEEXAMPLE\naws_secret_access_key = c2VjcmV0\n";
const CONFIG_DEFAULT_KEYS: &str =
    "[default]\naws_access_key_id = AKIAPROFILEEXAMPLE\naws_secret_access_key = c2VjcmV0\n";
const PROCESS: &str = "[profile proc]\ncredential_process = echo '{\"Version\":1,\"AccessKeyId\":\"AKIAPROFILEEXAMPLE\",\"SecretAccessKey\":\"c2VjcmV0\"}'\n";
const REGION_ONLY: &str = "[profile regional]\nregion = us-east-1\noutput = json\n";
const OTHER_ONLY: &str = "[profile other]\nregion = us-east-1\n";
/// `{token}` is replaced by the pod's IRSA token path.
const WEB_IDENTITY: &str = "[profile irsa]\nrole_arn = arn:aws:iam::111122223333:role/demo\nweb_identity_token_file = {token}\n";

/// One change to the healthy IRSA pod's environment. Paths are relative to the pod's temp dir.
#[derive(Clone, Copy)]
enum Op {
    /// Sets a variable; `{tmp}` in the value is the pod's temp dir.
    Set(&'static str, &'static str),
    /// Removes the IRSA variables.
    NoIrsa,
    /// Writes a file under the pod's temp dir (`home/` is `HOME`).
    File(&'static str, &'static str),
    /// Points IMDS at the fake (it hands out the node role).
    Imds,
    /// Adds EKS Pod Identity: the fake agent and its token file.
    PodIdentity,
}
use Op::*;

const KEYS: [Op; 2] = [
    Set("AWS_ACCESS_KEY_ID", "AKIAENVEXAMPLE"),
    Set("AWS_SECRET_ACCESS_KEY", "c2VjcmV0"),
];

/// (name, changes, botocore's provider mapped to aws-config's name, aws-config's provider,
/// STATIC_CREDENTIALS_SHADOW?, the SDKs differ here by design). One line per row.
type Row = (
    &'static str,
    &'static [Op],
    Option<&'static str>,
    Option<&'static str>,
    bool,
    bool,
);

#[rustfmt::skip]
const ROWS: &[Row] = &[
    ("nothing configured: IMDS", &[NoIrsa, Imds], Some("IMDSv2"), Some("IMDSv2"), false, false),
    ("nothing configured, IMDS unreachable", &[NoIrsa], None, None, false, false),
    ("IRSA env", &[], Some("WebIdentityToken"), Some("WebIdentityToken"), false, false),
    ("env keys + IRSA", &[KEYS[0], KEYS[1]], Some("EnvironmentVariable"), Some("EnvironmentVariable"), true, false),
    ("env keys + AWS_PROFILE with keys + IRSA", &[KEYS[0], KEYS[1], Set("AWS_PROFILE", "dev"), File("home/.aws/credentials", STATIC_DEV)], Some("EnvironmentVariable"), Some("EnvironmentVariable"), true, false),
    ("AWS_PROFILE static keys, no IRSA", &[NoIrsa, Set("AWS_PROFILE", "dev"), File("home/.aws/credentials", STATIC_DEV)], Some("ProfileFile"), Some("ProfileFile"), false, false),
    ("AWS_PROFILE static keys + IRSA", &[Set("AWS_PROFILE", "dev"), File("home/.aws/credentials", STATIC_DEV)], Some("WebIdentityToken"), Some("ProfileFile"), true, true),
    ("AWS_PROFILE role_arn+web_identity_token_file + IRSA", &[Set("AWS_PROFILE", "irsa"), File("home/.aws/config", WEB_IDENTITY)], Some("WebIdentityToken"), Some("WebIdentityToken"), false, false),
    ("AWS_PROFILE role_arn+web_identity_token_file, no IRSA env", &[NoIrsa, Set("AWS_PROFILE", "irsa"), File("home/.aws/config", WEB_IDENTITY)], Some("WebIdentityToken"), Some("WebIdentityToken"), false, false),
    ("AWS_PROFILE credential_process, no IRSA", &[NoIrsa, Set("AWS_PROFILE", "proc"), File("home/.aws/config", PROCESS)], Some("ProfileFile"), Some("ProfileFile"), false, false),
    ("AWS_PROFILE credential_process + IRSA", &[Set("AWS_PROFILE", "proc"), File("home/.aws/config", PROCESS)], Some("WebIdentityToken"), Some("ProfileFile"), true, true),
    ("AWS_PROFILE with only a region + IRSA", &[Set("AWS_PROFILE", "regional"), File("home/.aws/config", REGION_ONLY)], Some("WebIdentityToken"), Some("WebIdentityToken"), false, false),
    ("AWS_PROFILE naming an undefined profile + IRSA", &[Set("AWS_PROFILE", "dev"), File("home/.aws/config", OTHER_ONLY)], None, None, true, false),
    ("AWS_PROFILE and no shared files + IRSA", &[Set("AWS_PROFILE", "dev")], None, Some("WebIdentityToken"), true, true),
    ("AWS_SHARED_CREDENTIALS_FILE, no IRSA", &[NoIrsa, Set("AWS_SHARED_CREDENTIALS_FILE", "{tmp}/etc/creds"), File("etc/creds", STATIC_DEFAULT)], Some("ProfileFile"), Some("ProfileFile"), false, false),
    ("AWS_CONFIG_FILE keys, no IRSA", &[NoIrsa, Set("AWS_CONFIG_FILE", "{tmp}/etc/config"), File("etc/config", CONFIG_DEFAULT_KEYS)], Some("ProfileFile"), Some("ProfileFile"), false, false),
    ("default profile in ~/.aws/credentials, no IRSA", &[NoIrsa, File("home/.aws/credentials", STATIC_DEFAULT)], Some("ProfileFile"), Some("ProfileFile"), false, false),
    ("default profile in ~/.aws/credentials + IRSA", &[File("home/.aws/credentials", STATIC_DEFAULT)], Some("WebIdentityToken"), Some("ProfileFile"), true, true),
    ("IRSA + Pod Identity", &[PodIdentity], Some("WebIdentityToken"), Some("WebIdentityToken"), false, false),
    ("Pod Identity only", &[NoIrsa, PodIdentity], Some("EcsContainer"), Some("EcsContainer"), false, false),
];

/// botocore's provider `METHOD` in aws-config's provider names; `None` for a chain that failed
/// or found nothing (IMDS on a closed loopback port, as aws-config's chain errors there).
fn botocore_as_aws_config(oracle: &Value) -> Option<&'static str> {
    if !oracle["error"].is_null() {
        return None;
    }
    Some(match oracle["method"].as_str() {
        Some("env") => "EnvironmentVariable",
        Some(
            "shared-credentials-file" | "config-file" | "custom-process" | "assume-role" | "sso",
        ) => "ProfileFile",
        Some("assume-role-with-web-identity") => "WebIdentityToken",
        Some("container-role") => "EcsContainer",
        Some("iam-role") => "IMDSv2",
        None => return None,
        Some(other) => panic!("unmapped botocore method {other}"),
    })
}

/// The real interpreter (pyenv shims need the caller's HOME, which each row replaces), or why not.
fn python_with_botocore() -> Result<String, String> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys, botocore; print(sys.executable); print(botocore.__version__)",
        ])
        .output()
        .map_err(|e| format!("python3 not runnable: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "python3 cannot import botocore: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = text.lines();
    let exe = lines.next().unwrap_or_default().to_owned();
    eprintln!("oracle: botocore {}", lines.next().unwrap_or("?"));
    Ok(exe)
}

fn oracle(python: &str, env: &[(String, String)], cwd: &Path) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/chain_oracle.py");
    let out = Command::new(python)
        .arg(&script)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(cwd)
        .output()
        .expect("run the botocore oracle");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "oracle printed no JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn botocore_and_aws_config_agree_on_the_chain() {
    let python = match python_with_botocore() {
        Ok(p) => p,
        Err(why) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "the chain oracle needs python3 with botocore in CI (pip install botocore): {why}"
            );
            eprintln!("skipping the botocore chain oracle: {why}");
            return;
        }
    };
    assert!(ROWS.len() >= 12);
    let mut failures = Vec::new();
    for (name, ops, want_boto, want_aws, want_shadow, differs) in ROWS {
        let pod = Pod::new();
        pod.writer
            .write_token(jwt(&claims(100, 86_400)).as_bytes())
            .unwrap();
        let tmp = pod.tmp.path().display().to_string();
        let token = pod.token_path().display().to_string();
        let mut env = pod.env();
        let mut agent = None;
        for op in *ops {
            match *op {
                Set(k, v) => set(&mut env, k, &v.replace("{tmp}", &tmp)),
                NoIrsa => {
                    unset(&mut env, "AWS_ROLE_ARN");
                    unset(&mut env, "AWS_WEB_IDENTITY_TOKEN_FILE");
                }
                File(rel, text) => {
                    let path = pod.tmp.path().join(rel);
                    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                    std::fs::write(&path, text.replace("{token}", &token)).unwrap();
                }
                Imds => set(
                    &mut env,
                    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                    &pod.peers.imds.endpoint(),
                ),
                PodIdentity => {
                    // The agent takes any token; the chain only needs the file to exist.
                    let identity = irsa_doctor_emulator::harness::PodIdentity::start(&pod);
                    identity.write_token(b"pod-identity-token");
                    identity.set_env(&mut env, true);
                    agent = Some(identity);
                }
            }
        }
        // Identities for GetCallerIdentity, so every resolved chain is also proven end to end.
        pod.peers
            .sts
            .register_credentials(PROFILE_KEY, "arn:aws:iam::111122223333:user/profile-user");
        pod.peers
            .sts
            .register_credentials("AKIAENVEXAMPLE", "arn:aws:iam::111122223333:user/env-user");

        let boto = oracle(&python, &env, pod.tmp.path());
        let (_, report) = check_json(&env, &["--no-imds-check"]);
        drop(agent);
        let got_boto = botocore_as_aws_config(&boto);
        let got_aws = report["credential_chain"]["provider"].as_str();
        let got_shadow = codes(&report).contains(&"STATIC_CREDENTIALS_SHADOW".to_string());
        let agree = got_boto == got_aws;
        // The rule itself: a warning exactly when an identity (IRSA or Pod Identity) is configured
        // and either SDK's chain does not answer with it.
        let identity_configured = !ops.iter().any(|o| matches!(o, NoIrsa))
            || ops.iter().any(|o| matches!(o, PodIdentity));
        let answers = |p: Option<&str>| matches!(p, Some("WebIdentityToken" | "EcsContainer"));
        let rule = identity_configured && !(answers(got_aws) && answers(got_boto));
        assert_eq!(
            rule, *want_shadow,
            "{name}: the row contradicts the shadow rule"
        );
        let line = format!(
            "{name}: botocore {:?} -> {got_boto:?} (want {want_boto:?}); aws-config {got_aws:?} (want {want_aws:?}); shadow {got_shadow} (want {want_shadow}); SDKs {}",
            boto["method"].as_str().or(boto["error"].as_str()),
            if agree { "agree" } else { "differ" }
        );
        eprintln!("{line}");
        if got_boto != *want_boto
            || got_aws != *want_aws
            || got_shadow != *want_shadow
            || agree == *differs
        {
            failures.push(format!(
                "{line}\n  chain: {}\n  findings: {:?}",
                report["credential_chain"],
                codes(&report)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "rows that disagree:\n{}",
        failures.join("\n")
    );
}
