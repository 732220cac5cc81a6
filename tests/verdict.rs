//! The verdict outlives the pod: the termination message and the Pushgateway, with the
//! real binary, Debian's real `prometheus-pushgateway`, and a fake STS.
#![allow(clippy::disallowed_methods)] // drives the real binary: real clocks, a chosen environment

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use common::pushgateway::{Pushgateway, value};
use common::*;
use irsa_doctor_emulator::issuer::TokenSpec;
use irsa_doctor_emulator::sts::StsMode;

const DEADLINE: Duration = Duration::from_secs(20);
/// A sidecar must not hold the pod's shutdown (the kubelet's grace period is the pod's).
const SHUTDOWN: Duration = Duration::from_secs(1);
const NAMESPACE: &str = "backups";
const PASSWORD: &str = "pushgateway-s3cret-Pa55";

/// A backup CronJob's pod: POD_NAME as the Job controller makes it, the termination log in
/// the pod's directory, STS refusing the role when `denied`.
fn cron_pod(pod: &Pod, pod_name: &str, denied: bool) -> Vec<(String, String)> {
    pod.write_token(&TokenSpec::default());
    if denied {
        pod.peers.sts.set_mode(StsMode::Error {
            status: 403,
            code: "AccessDenied".into(),
            message: "Not authorized to perform sts:AssumeRoleWithWebIdentity".into(),
        });
    }
    let mut env = pod.env();
    set(&mut env, "POD_NAMESPACE", NAMESPACE);
    set(&mut env, "POD_NAME", pod_name);
    set(
        &mut env,
        "IRSA_DOCTOR_TERMINATION_LOG",
        &termination_path(pod).display().to_string(),
    );
    env
}

fn termination_path(pod: &Pod) -> std::path::PathBuf {
    pod.tmp.path().join("termination-log")
}

fn termination_message(pod: &Pod) -> String {
    std::fs::read_to_string(termination_path(pod)).expect("a termination message")
}

/// SIGTERM and the time it took to exit; panics past 5 s.
fn stop(server: &mut Server) -> Duration {
    let start = Instant::now();
    let status = server
        .stop(Duration::from_secs(5))
        .expect("exit within 5 s of SIGTERM");
    let took = start.elapsed();
    assert!(status.success(), "{status:?}\n{}", server.logs());
    took
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// A failing run: its termination message names the failure, its group is in the
/// Pushgateway under the workload (not the pod), pushed again at exit.
#[test]
fn a_failed_run_is_readable_after_the_pod_is_gone() {
    let Some(pg) = Pushgateway::start() else {
        return;
    };
    let pod = Pod::new();
    let env = cron_pod(&pod, "db-backup-29391840-7kq2m", true);
    let mut server = serve(&env, &["--push-gateway", &pg.url(None)]);
    server.wait_ready(DEADLINE);
    let group = wait_for("the group in the Pushgateway", DEADLINE, || {
        pg.groups_of("db-backup").pop()
    });
    assert_eq!(
        group["labels"],
        serde_json::json!({"job": "irsa-doctor", "namespace": NAMESPACE, "workload": "db-backup"})
    );
    let active =
        |g: &serde_json::Value, code: &str| value(g, "irsa_finding_active", &[("code", code)]);
    assert_eq!(active(&group, "STS_ASSUME_FAILED"), Some(1.0), "{group:#}");
    // Every pushed series carries the grouping key, and an empty instance.
    let series = group["irsa_finding_active"]["metrics"][0]["labels"].clone();
    assert_eq!(series["instance"], "", "{series}");
    assert_eq!(series["workload"], "db-backup");
    assert!(
        group["process_resident_memory_bytes"].is_null(),
        "only irsa_* series are pushed"
    );
    assert!(value(&group, "irsa_doctor_build_info", &[]).is_some());

    let first_push = value(&group, "irsa_doctor_last_push_timestamp_seconds", &[]).unwrap();
    let stopped_at = unix_now();
    let took = stop(&mut server);
    assert!(took < SHUTDOWN, "SIGTERM to exit took {took:?}");

    let message = termination_message(&pod);
    let lines: Vec<&str> = message.lines().collect();
    assert!(
        lines[0].starts_with("status: critical (1 critical) at "),
        "{message}"
    );
    assert_eq!(lines.len(), 2, "{message}");
    assert!(
        lines[1].starts_with(
            "STS_ASSUME_FAILED: AssumeRoleWithWebIdentity failed: AccessDenied: Not authorized"
        ),
        "{message}"
    );

    // Pushed once more at exit (the interval is 30 s): after the signal, and after the
    // first push.
    let group = pg.groups_of("db-backup").pop().expect("the group");
    let pushed = value(&group, "irsa_doctor_last_push_timestamp_seconds", &[]).unwrap();
    assert!(
        pushed > first_push && pushed >= stopped_at - 0.05,
        "pushed at {pushed} (first at {first_push}), stopped at {stopped_at}"
    );
    let logs = server.logs();
    assert!(logs.contains("\"pushed to the Pushgateway\""), "{logs}");
    assert!(!logs.contains("push to the Pushgateway failed"), "{logs}");
}

/// A CronJob makes a new pod every run; its workload keeps one group, the last run's.
#[test]
fn two_runs_of_a_cronjob_leave_one_group() {
    let Some(pg) = Pushgateway::start() else {
        return;
    };
    let first = Pod::new();
    let env = cron_pod(&first, "db-backup-29391840-7kq2m", true);
    let mut server = serve(&env, &["--push-gateway", &pg.url(None)]);
    server.wait_ready(DEADLINE);
    wait_for("the first run's group", DEADLINE, || {
        pg.groups_of("db-backup").pop()
    });
    stop(&mut server);

    let second = Pod::new();
    let env = cron_pod(&second, "db-backup-29391900-x8z4p", false);
    let mut server = serve(&env, &["--push-gateway", &pg.url(None)]);
    server.wait_ready(DEADLINE);
    stop(&mut server);
    assert_eq!(
        termination_message(&second).lines().count(),
        1,
        "healthy: the status alone"
    );
    assert!(termination_message(&second).starts_with("status: ok at "));

    let groups = pg.groups();
    assert_eq!(groups.len(), 1, "one group per workload: {groups:#?}");
    let group = &groups[0];
    assert_eq!(group["labels"]["workload"], "db-backup");
    assert_eq!(
        value(
            group,
            "irsa_finding_active",
            &[("code", "STS_ASSUME_FAILED")]
        ),
        Some(0.0),
        "the last run's verdict replaced the first's"
    );
    assert_eq!(value(group, "irsa_sts_assume_success", &[]), Some(1.0));
}

/// A healthy run's message is its status; SIGTERM to exit stays within a second.
#[test]
fn a_healthy_run_without_a_pushgateway() {
    let pod = Pod::new();
    let env = cron_pod(&pod, "web-7d9f8c6b5-x2k4p", false);
    let mut server = serve(&env, &[]);
    server.wait_ready(DEADLINE);
    // The verdict is on disk while the pod runs, so a container killed without warning
    // still leaves one.
    wait_for("the running verdict", DEADLINE, || {
        std::fs::read_to_string(termination_path(&pod))
            .ok()
            .filter(|m| m.starts_with("status: ok at ") && !m.contains("before the first probe"))
    });
    let took = stop(&mut server);
    assert!(took < SHUTDOWN, "SIGTERM to exit took {took:?}");
    let message = termination_message(&pod);
    assert!(message.starts_with("status: ok at "), "{message}");
    assert!(!message.contains('\n'), "{message}");
}

/// 40 expired tokens: more findings than 4,096 bytes hold; the message is cut at a whole
/// line and says how many were left out.
#[test]
fn forty_findings_are_cut_at_a_whole_line() {
    let pod = Pod::new();
    let env = cron_pod(&pod, "db-backup-29391840-7kq2m", false);
    let expired = jwt(&claims(7200, 3600));
    let mut args: Vec<String> = vec![
        "--token-file".into(),
        pod.token_path().display().to_string(),
    ];
    for i in 0..40 {
        let path = pod.tmp.path().join(format!("expired-{i:02}"));
        std::fs::write(&path, &expired).unwrap();
        args.push("--token-file".into());
        args.push(format!("expired_{i:02}={}", path.display()));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut server = serve(&env, &args);
    server.wait_ready(DEADLINE);
    let report = server.report();
    let shown = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] != "info")
        .count();
    assert!(shown >= 40, "{shown} findings");
    let took = stop(&mut server);
    assert!(took < SHUTDOWN, "SIGTERM to exit took {took:?}");

    let raw = std::fs::read(termination_path(&pod)).unwrap();
    assert!(raw.len() <= 4096, "{} bytes", raw.len());
    let message = String::from_utf8(raw).expect("whole UTF-8 characters");
    let lines: Vec<&str> = message.lines().collect();
    assert!(lines[0].starts_with("status: critical ("), "{message}");
    let marker = lines.last().unwrap();
    let left_out: usize = marker
        .strip_prefix("… ")
        .and_then(|m| m.strip_suffix(" more"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no marker: {message}"));
    let kept = lines.len() - 2;
    assert_eq!(kept + left_out, shown, "{message}");
    assert!(kept >= 10, "{message}");
    assert!(
        lines[1..=kept]
            .iter()
            .all(|l| l.starts_with("TOKEN_EXPIRED: [expired_")),
        "{message}"
    );
    assert!(!message.contains(expired.as_str()) && !message.contains(signature(&expired)));
}

/// Nothing listens where the Pushgateway should be: a warning, and the sidecar carries on.
#[test]
fn an_absent_pushgateway_is_a_warning() {
    let pod = Pod::new();
    let env = cron_pod(&pod, "db-backup-29391840-7kq2m", false);
    let mut server = serve(&env, &["--push-gateway", "http://127.0.0.1:9"]);
    server.wait_ready(DEADLINE);
    server.wait_for_log("push to the Pushgateway failed", 1);
    assert_eq!(server.get("/healthz").status, 200);
    assert_eq!(server.report()["status"], "ok", "a push is not a finding");
    let took = stop(&mut server);
    assert!(took < SHUTDOWN, "SIGTERM to exit took {took:?}");
    assert!(termination_message(&pod).starts_with("status: ok at "));
    let logs = server.logs();
    let warnings: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("push to the Pushgateway failed") && l.contains("\"WARN\""))
        .collect();
    assert_eq!(
        warnings.len(),
        2,
        "the first failure and the one at exit:\n{logs}"
    );
    assert!(warnings[1].contains("\"at_exit\":true"), "{logs}");
}

/// A Pushgateway that accepts connections and never answers cannot hold the shutdown.
#[test]
fn a_pushgateway_that_never_answers_does_not_hold_the_shutdown() {
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let held = std::thread::spawn(move || {
        // Accept and keep every connection open, reading nothing back.
        let mut open = Vec::new();
        for stream in silent.incoming().take(4).flatten() {
            open.push(stream);
        }
        open.len()
    });
    let pod = Pod::new();
    let env = cron_pod(&pod, "db-backup-29391840-7kq2m", true);
    let mut server = serve(&env, &["--push-gateway", &url]);
    server.wait_ready(DEADLINE);
    let took = stop(&mut server);
    assert!(took < SHUTDOWN, "SIGTERM to exit took {took:?}");
    assert!(termination_message(&pod).starts_with("status: critical"));
    let logs = server.logs();
    assert!(
        logs.lines()
            .any(|l| l.contains("push to the Pushgateway failed")
                && l.contains("\"at_exit\":true")
                && l.contains("no answer within")),
        "{logs}"
    );
    drop(held);
}

/// One PUT, as the Pushgateway receives it: the group's path, the text format, basic
/// auth from the URL, and a body promtool accepts with only irsa-doctor's series.
#[test]
fn the_push_request() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // A channel, not join(): a daemon that never pushes fails the test at the deadline
    // instead of leaving it blocked in accept().
    let (captured, capture) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut raw = Vec::new();
        let mut buf = [0u8; 65536];
        loop {
            let n = stream.read(&mut buf).unwrap();
            raw.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&raw);
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length: ")
                            .map(str::to_owned)
                    })
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if body.len() >= length {
                    break;
                }
            }
            assert!(n > 0, "the connection closed early");
        }
        stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .unwrap();
        let _ = captured.send(String::from_utf8(raw).unwrap());
    });
    let pod = Pod::new();
    let env = cron_pod(&pod, "web-7d9f8c6b5-x2k4p", false);
    let url = format!(
        "http://pusher:{}@{addr}/gateway/",
        PASSWORD.replace('5', "%35")
    );
    let server = serve(
        &env,
        &["--push-gateway", &url, "--workload", "payments web"],
    );
    let raw = capture
        .recv_timeout(DEADLINE)
        .expect("one push within the deadline");
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let request_line = head.lines().next().unwrap();
    assert_eq!(
        request_line,
        "PUT /gateway/metrics/job/irsa-doctor/namespace/backups/workload@base64/cGF5bWVudHMgd2Vi HTTP/1.1"
    );
    let header = |name: &str| {
        head.lines()
            .find_map(|l| {
                l.split_once(": ")
                    .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            })
            .map(|(_, v)| v.to_owned())
    };
    assert_eq!(
        header("content-type").as_deref(),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("pusher:{PASSWORD}"));
    assert_eq!(header("authorization"), Some(format!("Basic {basic}")));
    for line in body.lines().filter(|l| !l.starts_with('#')) {
        assert!(line.starts_with("irsa_"), "{line}");
    }
    assert!(
        body.contains("\nirsa_doctor_last_push_timestamp_seconds "),
        "{body}"
    );
    assert!(
        body.contains("irsa_finding_active{code=\"STS_ASSUME_FAILED\",severity=\"critical\"} 0")
    );
    assert_promtool_accepts(body);
    let logs = server.logs();
    assert!(
        !logs.contains(PASSWORD) && !logs.contains(&basic) && !logs.contains("pusher:"),
        "{logs}"
    );
}

/// A Pushgateway behind basic auth (its `--web.config.file`): the right password pushes,
/// a wrong one is a warning; neither password is ever in the logs, the message or the group.
#[test]
fn a_pushgateway_behind_a_password() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("web.yml");
    let hash = bcrypt::hash(PASSWORD, 4).unwrap();
    std::fs::write(&config, format!("basic_auth_users:\n  pusher: {hash}\n")).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("pusher:{PASSWORD}"));
    let Some(pg) = Pushgateway::start_with(Some(&config), Some(format!("Basic {auth}")), "http")
    else {
        return;
    };
    assert_eq!(
        request(pg.addr, "GET", "/api/v1/metrics", &[])
            .unwrap()
            .status,
        401,
        "the Pushgateway itself asks for the password"
    );

    let pod = Pod::new();
    let env = cron_pod(&pod, "db-backup-29391840-7kq2m", true);
    let token = std::fs::read_to_string(pod.token_path()).unwrap();
    let url = pg.url(Some(&format!("pusher:{PASSWORD}")));
    let mut server = serve(&env, &["--push-gateway", &url, "--log-level", "debug"]);
    server.wait_ready(DEADLINE);
    let group = wait_for("the group", DEADLINE, || pg.groups_of("db-backup").pop());
    assert_eq!(
        value(
            &group,
            "irsa_finding_active",
            &[("code", "STS_ASSUME_FAILED")]
        ),
        Some(1.0)
    );
    stop(&mut server);

    let wrong = Pod::new();
    let env = cron_pod(&wrong, "db-backup-29391900-x8z4p", false);
    let wrong_password = "not-the-Pa55word";
    let url = pg.url(Some(&format!("pusher:{wrong_password}")));
    let mut refused = serve(&env, &["--push-gateway", &url, "--log-level", "debug"]);
    refused.wait_ready(DEADLINE);
    let logs = refused.wait_for_log("push to the Pushgateway failed", 1);
    assert!(logs.contains("answered 401"), "{logs}");
    stop(&mut refused);
    let group = pg.groups_of("db-backup").pop().unwrap();
    assert_eq!(
        value(
            &group,
            "irsa_finding_active",
            &[("code", "STS_ASSUME_FAILED")]
        ),
        Some(1.0),
        "a refused push changes nothing"
    );

    let outputs = [
        ("logs", format!("{}\n{}", server.logs(), refused.logs())),
        (
            "termination message",
            termination_message(&pod) + &termination_message(&wrong),
        ),
        ("pushed group", pg.get("/metrics").unwrap().body),
    ];
    let wrong_auth =
        base64::engine::general_purpose::STANDARD.encode(format!("pusher:{wrong_password}"));
    for (name, text) in &outputs {
        for secret in [
            PASSWORD,
            wrong_password,
            &auth,
            &wrong_auth,
            &token,
            signature(&token),
        ] {
            assert!(!text.contains(secret), "{name} leaks {secret}");
        }
    }
}

/// `https://` is verified against the system's root certificates (here: `SSL_CERT_FILE`,
/// which rustls-native-certs reads as OpenSSL does); an unknown issuer is refused.
#[test]
fn https_is_verified() {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let dir = tempfile::tempdir().unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name
        .push(DnType::CommonName, "pushgateway test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    std::fs::write(dir.path().join("tls.crt"), cert.pem()).unwrap();
    std::fs::write(dir.path().join("tls.key"), key.serialize_pem()).unwrap();
    std::fs::write(dir.path().join("ca.crt"), &ca_pem).unwrap();
    let config = dir.path().join("web.yml");
    std::fs::write(
        &config,
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
            dir.path().join("tls.crt").display(),
            dir.path().join("tls.key").display()
        ),
    )
    .unwrap();
    let Some(pg) = Pushgateway::start_with(Some(&config), None, "https") else {
        return;
    };

    let trusted = |ca_file: &Path| {
        let pod = Pod::new();
        let mut env = cron_pod(&pod, "db-backup-29391840-7kq2m", false);
        set(&mut env, "SSL_CERT_FILE", &ca_file.display().to_string());
        (pod, env)
    };
    let (_pod, env) = trusted(&dir.path().join("ca.crt"));
    let mut server = serve(&env, &["--push-gateway", &pg.url(None)]);
    server.wait_ready(DEADLINE);
    server.wait_for_log("\"pushed to the Pushgateway\"", 1);
    stop(&mut server);

    // Another CA: the Pushgateway's certificate does not verify.
    let other = tempfile::tempdir().unwrap();
    let other_key = KeyPair::generate().unwrap();
    let mut other_ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    other_ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    std::fs::write(
        other.path().join("ca.crt"),
        other_ca.self_signed(&other_key).unwrap().pem(),
    )
    .unwrap();
    let (_pod, env) = trusted(&other.path().join("ca.crt"));
    let mut server = serve(&env, &["--push-gateway", &pg.url(None)]);
    server.wait_ready(DEADLINE);
    let logs = server.wait_for_log("push to the Pushgateway failed", 1);
    assert!(logs.to_ascii_lowercase().contains("certificate"), "{logs}");
    stop(&mut server);
}

/// Bad `--push-gateway` values exit 2 with one line that never repeats the URL.
#[test]
fn bad_push_settings_exit_2_without_the_password() {
    let pod = Pod::new();
    let env = cron_pod(&pod, "db-backup-29391840-7kq2m", false);
    // (the URL, a downward-API variable the pod lacks, what the one line says)
    let cases = [
        (
            "ftp://pusher:hunter2@gw",
            None,
            "must be an http:// or https:// URL",
        ),
        ("https://pusher:hun/ter2@gw", None, "not a valid URL"),
        ("http://gw:9091", Some("POD_NAMESPACE"), "POD_NAMESPACE"),
        (
            "http://gw:9091",
            Some("POD_NAME"),
            "--workload, or POD_NAME",
        ),
    ];
    for (url, missing, want) in cases {
        let mut env = env.clone();
        if let Some(k) = missing {
            unset(&mut env, k);
        }
        set(&mut env, "IRSA_DOCTOR_PUSH_GATEWAY", url);
        let out = run(&env, &["serve", "--listen", "127.0.0.1:0"], None);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{url}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{url}: {stderr}");
        assert!(stderr.contains(want), "{url}: {stderr}");
        assert!(
            !stderr.contains("hunter2") && !stderr.contains("ter2"),
            "{stderr}"
        );
    }
    // --help never shows the variable's value.
    let mut env = env.clone();
    set(
        &mut env,
        "IRSA_DOCTOR_PUSH_GATEWAY",
        "https://pusher:hunter2@gw",
    );
    let help = run(&env, &["serve", "--help"], None);
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("--push-gateway"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}

/// The application's own calls (client-side monitoring) end the message with one line,
/// and none of what its SDK sent (access key, session token) is in it.
#[test]
fn the_applications_calls_are_summed_up_last() {
    use irsa_doctor_emulator::harness::csm::{self, csm_addr};
    let pod = Pod::new();
    let env = cron_pod(&pod, "db-backup-29391840-7kq2m", false);
    let mut server = serve(&env, &["--csm-listen", "127.0.0.1:0"]);
    server.wait_ready(DEADLINE);
    let ua = csm::boto3_user_agent("1.34.0", "h");
    let session = "IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN";
    let key = "ASIAEXAMPLEAPPKEY123";
    let denied = (
        "AccessDenied",
        "User: arn:aws:sts::111122223333:assumed-role/demo/app is not authorized to perform: s3:PutObject on resource: \"arn:aws:s3:::other/x\" because no identity-based policy allows the s3:PutObject action",
    );
    let mut datagrams = vec![csm::api_call_attempt("S3", "GetObject", &ua, key, session)];
    datagrams.extend((0..2).map(|_| csm::api_call("S3", "GetObject", &ua, 200, None)));
    datagrams.extend((0..3).map(|_| csm::api_call("S3", "PutObject", &ua, 403, Some(denied))));
    csm::send(csm_addr(&server), &datagrams);
    wait_for("the application's 5 calls in the report", DEADLINE, || {
        let calls = server.report()["app"]["calls"].as_array()?.clone();
        let total: u64 = calls.iter().filter_map(|c| c["count"].as_u64()).sum();
        (total == 5).then_some(())
    });
    stop(&mut server);
    let message = termination_message(&pod);
    assert_eq!(
        message.lines().last(),
        Some("app: 5 calls, 3 denied (s3:PutObject ×3)"),
        "{message}"
    );
    assert!(
        !message.contains(key) && !message.contains(session),
        "{message}"
    );
}
