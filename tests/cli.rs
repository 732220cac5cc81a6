//! The one-shot commands of the real binary: `check`, `decode`, and bad flags.
#![allow(clippy::disallowed_methods)] // drives the real binary: real clocks, a chosen environment

mod common;

use common::*;
use serde_json::Value;

fn stdout_json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

#[test]
fn check_exit_codes_follow_status() {
    // (name, claims, extra env, exit code, status, codes)
    let healthy = claims(100, 86_400);
    let mut wrong_aud = claims(100, 86_400);
    wrong_aud["aud"] = serde_json::json!(["api"]);
    type Row<'a> = (
        &'a str,
        Option<Value>,
        Vec<(&'a str, &'a str)>,
        i32,
        &'a str,
        Vec<&'a str>,
    );
    let cases: Vec<Row> = vec![
        ("healthy", Some(healthy.clone()), vec![], 0, "ok", vec![]),
        (
            "profile shadows",
            Some(healthy.clone()),
            vec![("AWS_PROFILE", "dev")],
            1,
            "warning",
            vec!["STATIC_CREDENTIALS_SHADOW"],
        ),
        (
            "wrong audience",
            Some(wrong_aud),
            vec![],
            2,
            "critical",
            vec!["AUDIENCE_MISMATCH", "STS_ASSUME_FAILED"],
        ),
        (
            "expired",
            Some(claims(90_000, 86_400)),
            vec![],
            2,
            "critical",
            vec!["TOKEN_EXPIRED", "STS_ASSUME_FAILED", "TOKEN_NOT_ROTATED"],
        ),
        (
            "no token",
            None,
            vec![],
            2,
            "critical",
            vec!["TOKEN_FILE_MISSING"],
        ),
        (
            "global endpoint is info only",
            Some(healthy),
            vec![("AWS_STS_REGIONAL_ENDPOINTS", "legacy")],
            0,
            "ok",
            vec!["GLOBAL_STS_ENDPOINT"],
        ),
    ];
    for (name, token, extra, code, status, want_codes) in cases {
        let pod = Pod::new();
        if let Some(c) = &token {
            pod.writer.write_token(jwt(c).as_bytes()).unwrap();
        }
        let mut env = pod.env();
        env.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let out = run(&env, &["check", "--format", "json"], None);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{name}: {}
{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let report = stdout_json(&out);
        assert_eq!(report["status"], status, "{name}");
        assert_eq!(codes(&report), want_codes, "{name}");
    }
}

#[test]
fn check_text_is_for_humans() {
    let pod = Pod::new();
    pod.writer
        .write_token(jwt(&claims(0, 86_400)).as_bytes())
        .unwrap();
    let mut env = pod.env();
    env.retain(|(k, _)| k != "AWS_ROLE_ARN");
    let out = run(&env, &["check"], None);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("irsa-doctor "), "{text}");
    assert!(text.contains("CRITICAL  IRSA_ENV_MISSING"), "{text}");
    assert!(
        text.contains("fix: annotate the pod's ServiceAccount with eks.amazonaws.com/role-arn"),
        "{text}"
    );
}

#[test]
fn decode_prints_header_and_claims_never_the_signature() {
    let pod = Pod::new();
    let c = claims(0, 86_400);
    let token = jwt(&c);
    pod.writer.write_token(token.as_bytes()).unwrap();
    let path = pod.token_path().display().to_string();
    let from_env = run(&pod.env(), &["decode"], None);
    let from_file = run(&pod.env(), &["decode", &path], None);
    let from_stdin = run(&pod.env(), &["decode", "-"], Some(token.as_bytes()));
    for out in [from_env, from_file, from_stdin] {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc = stdout_json(&out);
        assert_eq!(doc["header"]["kid"], issuer().key_id());
        assert_eq!(doc["claims"], c);
        assert_eq!(doc.as_object().unwrap().len(), 2, "only header and claims");
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!all.contains(signature(&token)));
    }
    let bad = run(&pod.env(), &["decode", "-"], Some(b"garbage"));
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a JWT"));
}

#[test]
fn bad_flag_values_fail_with_one_line_and_exit_2() {
    let env = base_env(std::path::Path::new("/nonexistent"));
    let cases: [(&[&str], &str); 5] = [
        (&["--probe-interval", "soon"], "--probe-interval"),
        (&["--listen", "nowhere"], "--listen"),
        (&["check", "--format", "yaml"], "yaml"),
        (
            &["--probe-interval", "5s", "--probe-timeout", "10s", "check"],
            "must not be longer",
        ),
        (&["--log-format", "xml"], "--log-format"),
    ];
    for (args, mention) in cases {
        let out = run(&env, args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("irsa-doctor: ") && err.contains(mention),
            "{args:?}: {err}"
        );
    }
    let env_bad = {
        let mut e = env.clone();
        e.push(("IRSA_DOCTOR_EXPIRY_WARNING".into(), "-1".into()));
        e
    };
    let out = run(&env_bad, &["check"], None);
    assert_eq!(
        out.status.code(),
        Some(2),
        "env vars are validated like flags"
    );
}

/// `demo` end to end: the scripted walk-through shows each failure in `/debug`, then heals.
#[test]
fn demo_walks_through_failures_and_back() {
    let mut child = std::process::Command::new(BIN)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .args(["demo", "--listen", "127.0.0.1:0", "--step", "12s"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    /// Stops the demo as a user would (SIGTERM), so it can stop its sidecar child too.
    struct Stop(std::process::Child);
    impl Drop for Stop {
        fn drop(&mut self) {
            let stopped = terminate(&mut self.0, std::time::Duration::from_secs(5)).is_some();
            if !stopped {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
    }
    let stdout = child.stdout.take().unwrap();
    let demo = Stop(child);
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let addr: std::net::SocketAddr = lines
        .find_map(|l| {
            l.ok()?
                .split("http://")
                .nth(1)?
                .split('/')
                .next()?
                .parse()
                .ok()
        })
        .expect("the demo prints its URL");
    // Keep draining stdout, keeping what the demo says.
    let said = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = std::sync::Arc::clone(&said);
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let mut said = sink.lock().unwrap();
            said.push_str(&line);
            said.push('\n');
        }
    });

    let report = || {
        request(addr, "GET", "/debug?format=json", &[])
            .ok()
            .filter(|r| r.status == 200)
            .map(|r| r.json())
    };
    let deadline = std::time::Duration::from_secs(30);
    wait_for("healthy start", deadline, || {
        report().filter(|r| r["status"] == "ok" && r["sts"]["result"] == "success")
    });
    // The demo's fake Kubernetes API serves the pod and its ServiceAccount.
    wait_for("the pod's spec", deadline, || {
        report().filter(|r| r["pod"]["service_account"]["name"] == "demo-sa")
    });
    // The short-lived backup job: its failed run, read back after its pod ended.
    let job = wait_for("the backup job's verdict", deadline, || {
        let said = said.lock().unwrap().clone();
        said.contains("irsa_doctor_last_push_timestamp_seconds")
            .then_some(said)
    });
    for line in [
        "      Message:   status: critical (2 critical) at ",
        "                 STS_ASSUME_FAILED: AssumeRoleWithWebIdentity failed: AccessDenied: ",
        "    irsa_finding_active{code=\"STS_ASSUME_FAILED\",severity=\"critical\"} 1",
    ] {
        assert!(job.contains(line), "missing {line:?} in\n{job}");
    }
    for code in [
        "TOKEN_EXPIRED",
        "TRUST_POLICY_DENIES",
        "AUDIENCE_MISMATCH",
        "STS_UNREACHABLE",
        "IMDS_REACHABLE",
        "ACCESS_NOT_ALLOWED",
        "ROLE_ANNOTATION_CHANGED",
    ] {
        wait_for(code, deadline, || {
            report().filter(|r| codes(r).contains(&code.to_string()))
        });
    }
    // The simulated application's own s3:PutObject, denied and explained against the role's policy.
    wait_for("the application's denial explained", deadline * 2, || {
        report().filter(|r| {
            r["app"]["denials"].as_array().is_some_and(|d| {
                d.iter().any(|d| {
                    d["explanation"]
                        .as_str()
                        .is_some_and(|e| e.contains("only on arn:aws:s3:::demo-backups/*"))
                })
            }) && codes(r).contains(&"APP_ACCESS_DENIED".to_string())
        })
    });
    // Healthy again: the application's denial stays a warning for 15 minutes (the window), nothing else.
    wait_for("healthy again", deadline * 2, || {
        report().filter(|r| codes(r) == ["APP_ACCESS_DENIED"])
    });

    // SIGTERM stops the demo and, with it, its sidecar: nothing keeps serving.
    drop(demo);
    assert!(
        request(addr, "GET", "/healthz", &[]).is_err(),
        "the sidecar outlived the demo"
    );
}

/// An absent --probe-timeout follows a short --probe-interval (Prometheus' rule);
/// only an explicit timeout above the interval, by flag or env, is an error.
#[test]
fn probe_timeout_follows_a_short_interval() {
    let home = tempfile::tempdir().unwrap();
    let env = base_env(home.path());
    let server = serve(&env, &["--no-imds-check", "--probe-interval", "3s"]);
    assert_eq!(server.get("/healthz").status, 200);
    drop(server);
    let mut env_explicit = env.clone();
    set(&mut env_explicit, "IRSA_DOCTOR_PROBE_TIMEOUT", "4s");
    for (env, args) in [
        (
            &env,
            &["--probe-interval", "3s", "--probe-timeout", "4s", "check"][..],
        ),
        (&env_explicit, &["--probe-interval", "3s", "check"][..]),
    ] {
        let out = run(env, args, None);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(
            err.trim_end(),
            "irsa-doctor: --probe-timeout (4s) must not be longer than --probe-interval (3s)"
        );
    }
}
