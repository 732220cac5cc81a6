//! The real `serve` daemon against a kubelet-style token volume on disk.
#![allow(clippy::disallowed_methods)] // drives the real binary: real clocks, a chosen environment

mod common;

use std::time::{Duration, Instant};

use common::*;

const DEADLINE: Duration = Duration::from_secs(10);

fn expiry(metrics: &str) -> Option<f64> {
    sample(
        metrics,
        "irsa_token_expiry_timestamp_seconds{token=\"irsa\"}",
    )
}

fn reloads(metrics: &str) -> Option<f64> {
    sample(metrics, "irsa_token_reloads_total{token=\"irsa\"}")
}

#[test]
fn rotation_by_symlink_swap_shows_in_metrics() {
    let pod = Pod::new();
    let first = claims(100, 86_400);
    pod.writer.write_token(jwt(&first).as_bytes()).unwrap();
    let server = serve(&pod.env(), &[]);

    let want_first = first["exp"].as_f64().unwrap();
    wait_for("first token in /metrics", DEADLINE, || {
        let m = server.metrics();
        (expiry(&m) == Some(want_first) && reloads(&m) == Some(1.0)).then_some(())
    });
    assert_eq!(
        server.report()["status"],
        "ok",
        "{}",
        server.get("/debug").body
    );

    for round in 2..=4 {
        let next = claims(0, 86_400 + round);
        pod.writer.write_token(jwt(&next).as_bytes()).unwrap();
        let want = next["exp"].as_f64().unwrap();
        wait_for("rotated token in /metrics", DEADLINE, || {
            let m = server.metrics();
            (expiry(&m) == Some(want) && reloads(&m) == Some(round as f64)).then_some(())
        });
    }
    let logs = server.wait_for_log("\"token loaded\"", 4);
    assert_eq!(
        logs.matches("\"token loaded\"").count(),
        4,
        "one log line per new token, no more:\n{logs}"
    );
    assert_eq!(
        logs.matches("\"token loaded\"").count(),
        4,
        "one log line per new token:\n{logs}"
    );
}

#[test]
fn token_missing_at_start_then_created() {
    let pod = Pod::new();
    std::fs::remove_dir_all(pod.writer.dir()).unwrap();
    let server = serve(&pod.env(), &[]);

    let report = wait_for("TOKEN_FILE_MISSING", DEADLINE, || {
        let r = server.report();
        codes(&r)
            .contains(&"TOKEN_FILE_MISSING".to_string())
            .then_some(r)
    });
    assert_eq!(report["status"], "critical");
    assert_eq!(report["token"]["present"], false);
    assert_eq!(
        server.get("/readyz").status,
        200,
        "a failed first read still makes the pod ready"
    );
    let m = server.metrics();
    assert!(
        sample(
            &m,
            "irsa_token_read_errors_total{reason=\"missing\",token=\"irsa\"}"
        )
        .unwrap()
            >= 1.0
    );
    assert_eq!(
        sample(
            &m,
            "irsa_finding_active{code=\"TOKEN_FILE_MISSING\",severity=\"critical\"}"
        ),
        Some(1.0)
    );

    // The whole volume directory appears later, as when a mount shows up.
    let writer = irsa_doctor_emulator::kubelet::AtomicWriter::new(pod.writer.dir()).unwrap();
    writer
        .write_token(jwt(&claims(0, 86_400)).as_bytes())
        .unwrap();
    wait_for("token picked up without restart", DEADLINE, || {
        let r = server.report();
        (r["status"] == "ok" && r["token"]["subject"] == SUB).then_some(())
    });
    assert_eq!(
        sample(
            &server.metrics(),
            "irsa_finding_active{code=\"TOKEN_FILE_MISSING\",severity=\"critical\"}"
        ),
        Some(0.0)
    );
    server.wait_for_log("\"finding cleared\"", 1);
}

#[test]
fn garbage_then_oversized_then_recovery() {
    let pod = Pod::new();
    pod.writer
        .write_token(jwt(&claims(0, 86_400)).as_bytes())
        .unwrap();
    let server = serve(&pod.env(), &[]);
    wait_for("first token", DEADLINE, || {
        (reloads(&server.metrics()) == Some(1.0)).then_some(())
    });

    pod.writer.write_token(b"this is not a jwt at all").unwrap();
    let r = wait_for("TOKEN_MALFORMED for garbage", DEADLINE, || {
        let r = server.report();
        codes(&r)
            .contains(&"TOKEN_MALFORMED".to_string())
            .then_some(r)
    });
    assert_eq!(r["token"]["present"], true);
    assert!(
        r["token"]["read_error"]
            .as_str()
            .unwrap()
            .contains("1 dot-separated parts"),
        "{r}"
    );
    assert_eq!(
        r["token"]["subject"],
        serde_json::Value::Null,
        "claims of the old token are not shown as current"
    );

    // 20 MiB: rejected by size, without reading it whole (RSS would grow by 20 MiB).
    let rss_before = sample(&server.metrics(), "process_resident_memory_bytes").unwrap();
    let big = vec![b'A'; 20 << 20];
    pod.writer.write_token(&big).unwrap();
    let r = wait_for("TOKEN_MALFORMED for 20 MiB", DEADLINE, || {
        let r = server.report();
        r["token"]["read_error"]
            .as_str()
            .filter(|e| e.contains("over the 65536-byte limit"))
            .map(|_| r.clone())
    });
    assert!(
        r["token"]["read_error"]
            .as_str()
            .unwrap()
            .contains("20971520 bytes"),
        "{r}"
    );
    let m = server.metrics();
    assert!(
        sample(
            &m,
            "irsa_token_read_errors_total{reason=\"malformed\",token=\"irsa\"}"
        )
        .unwrap()
            >= 2.0,
        "{m}"
    );
    let growth = sample(&m, "process_resident_memory_bytes").unwrap() - rss_before;
    assert!(
        growth < 8.0 * 1024.0 * 1024.0,
        "the 20 MiB file was not read into memory: RSS grew by {growth} bytes"
    );

    let good = claims(0, 90_000);
    pod.writer.write_token(jwt(&good).as_bytes()).unwrap();
    wait_for("recovery", DEADLINE, || {
        let m = server.metrics();
        (expiry(&m) == good["exp"].as_f64()
            && sample(&m, "irsa_token_valid{token=\"irsa\"}") == Some(1.0))
        .then_some(())
    });
}

#[test]
fn directory_replaced_is_picked_up() {
    let pod = Pod::new();
    pod.writer
        .write_token(jwt(&claims(0, 86_400)).as_bytes())
        .unwrap();
    let server = serve(&pod.env(), &[]);
    wait_for("first token", DEADLINE, || {
        (reloads(&server.metrics()) == Some(1.0)).then_some(())
    });

    for round in 0..3 {
        std::fs::remove_dir_all(pod.writer.dir()).unwrap();
        wait_for("TOKEN_FILE_MISSING after removal", DEADLINE, || {
            codes(&server.report())
                .contains(&"TOKEN_FILE_MISSING".to_string())
                .then_some(())
        });
        let next = claims(0, 86_400 + 10 + round);
        let writer = irsa_doctor_emulator::kubelet::AtomicWriter::new(pod.writer.dir()).unwrap();
        writer.write_token(jwt(&next).as_bytes()).unwrap();
        wait_for("token in the recreated directory", DEADLINE, || {
            (expiry(&server.metrics()) == next["exp"].as_f64()).then_some(())
        });
    }
}

#[test]
fn secrets_never_leave_the_process() {
    let pod = Pod::new();
    let token = jwt(&claims(0, 86_400));
    pod.writer.write_token(token.as_bytes()).unwrap();
    let mut env = pod.env();
    env.push(("AWS_ACCESS_KEY_ID".into(), "AKIAEXAMPLESECRETKEY1".into()));
    env.push((
        "AWS_SECRET_ACCESS_KEY".into(),
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY".into(),
    ));
    let server = serve(&env, &["--log-level", "debug"]);
    wait_for("token loaded and probed", DEADLINE, || {
        (reloads(&server.metrics()) == Some(1.0) && server.get("/readyz").status == 200)
            .then_some(())
    });
    let sig = signature(&token).to_owned();
    // Provoke error paths too: a malformed token whose bytes include the old signature.
    pod.writer
        .write_token(format!("x.{sig}").as_bytes())
        .unwrap();
    wait_for("malformed", DEADLINE, || {
        codes(&server.report())
            .contains(&"TOKEN_MALFORMED".to_string())
            .then_some(())
    });

    let report = server.report();
    assert!(codes(&report).contains(&"STATIC_CREDENTIALS_SHADOW".to_string()));
    assert_eq!(report["environment"]["static_credentials_in_env"], true);
    let outputs = [
        ("/debug", server.get("/debug").body),
        ("/debug?format=json", report.to_string()),
        ("/metrics", server.metrics()),
        ("logs", server.logs()),
    ];
    let payload = token.split('.').nth(1).unwrap();
    for (name, text) in &outputs {
        for secret in [
            token.as_str(),
            sig.as_str(),
            payload,
            "AKIAEXAMPLESECRETKEY1",
            "wJalrXUtnFEMI",
        ] {
            assert!(!text.contains(secret), "{name} leaks {secret}");
        }
    }
}

#[test]
fn http_surface() {
    let pod = Pod::new();
    pod.writer
        .write_token(jwt(&claims(0, 86_400)).as_bytes())
        .unwrap();
    let server = serve(&pod.env(), &[]);
    wait_for("ready", DEADLINE, || {
        (server.get("/readyz").status == 200).then_some(())
    });

    let m = server.get("/metrics");
    assert_eq!(m.status, 200);
    assert_eq!(
        m.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = server.get("/debug");
    assert_eq!(
        text.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert!(text.body.starts_with("irsa-doctor "), "{}", text.body);
    let by_accept = request(
        server.addr(),
        "GET",
        "/debug",
        &["Accept: application/json"],
    )
    .unwrap();
    assert_eq!(by_accept.header("content-type"), Some("application/json"));
    assert_eq!(by_accept.json()["token"]["subject"], SUB);
    assert_eq!(server.get("/healthz").body, "ok\n");
    assert!(server.get("/").body.contains("href=\"/metrics\""));

    let cases = [
        ("GET", "/nope", 404, None),
        ("POST", "/metrics", 405, Some("GET, HEAD")),
        ("DELETE", "/debug", 405, Some("GET, HEAD")),
        ("GET", "/debug/probe", 405, Some("POST")),
        ("HEAD", "/metrics", 200, None),
    ];
    for (method, path, status, allow) in cases {
        let r = request(server.addr(), method, path, &[]).unwrap();
        assert_eq!(r.status, status, "{method} {path}");
        assert_eq!(r.header("allow"), allow, "{method} {path}");
    }
    assert!(
        request(server.addr(), "HEAD", "/metrics", &[])
            .unwrap()
            .body
            .is_empty()
    );
}

#[test]
fn sigterm_stops_within_a_second() {
    let pod = Pod::new();
    pod.writer
        .write_token(jwt(&claims(0, 86_400)).as_bytes())
        .unwrap();
    let mut server = serve(&pod.env(), &[]);
    // An idle keep-alive connection must not hold shutdown.
    let _idle = std::net::TcpStream::connect(server.addr()).unwrap();
    let start = Instant::now();
    let status = server
        .stop(Duration::from_secs(5))
        .expect("exit within 5 s of SIGTERM");
    let took = start.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(1), "took {took:?}");
}

/// Prometheus' own linter accepts the exposition (Debian package `prometheus`).
#[test]
fn metrics_pass_promtool() {
    let pod = Pod::new();
    pod.writer
        .write_token(jwt(&claims(0, 86_400)).as_bytes())
        .unwrap();
    let server = serve(&pod.env(), &[]);
    wait_for("token", DEADLINE, || {
        (reloads(&server.metrics()) == Some(1.0)).then_some(())
    });
    assert_promtool_accepts(&server.metrics());
}

/// Hardening: connections over the cap are shed at once with 503; 1,000 idle connections
/// (a slowloris or a leaky client) do not block scrapes; idle ones are closed by the header timeout.
#[test]
fn stays_responsive_with_a_thousand_idle_connections() {
    use std::io::Read;
    use std::time::Instant;

    let pod = Pod::new();
    pod.writer
        .write_token(jwt(&claims(0, 86_400)).as_bytes())
        .unwrap();
    let server = serve(&pod.env(), &[]);
    wait_for("ready", DEADLINE, || {
        (server.get("/readyz").status == 200).then_some(())
    });
    let connect = |n: usize| -> Vec<std::net::TcpStream> {
        (0..n)
            .map(|_| std::net::TcpStream::connect(server.addr()).expect("connect"))
            .collect()
    };

    // A burst past the 1,024 cap: the surplus is answered 503 and closed, not left waiting.
    let opened = Instant::now();
    let mut burst = connect(1100);
    assert!(
        opened.elapsed() < Duration::from_secs(1),
        "the accept queue absorbed the burst: {:?}",
        opened.elapsed()
    );
    for s in &burst {
        s.set_nonblocking(true).unwrap();
    }
    wait_for(
        "a 503 for a connection over the cap",
        Duration::from_secs(4),
        || {
            burst.iter_mut().find_map(|s| {
                let mut buf = [0u8; 64];
                matches!(s.read(&mut buf), Ok(n) if n > 0 && buf[..n].starts_with(b"HTTP/1.1 503"))
                    .then_some(())
            })
        },
    );
    drop(burst);
    wait_for("the burst's slots freed", DEADLINE, || {
        (server.get("/healthz").status == 200).then_some(())
    });

    // 1,000 idle connections leave room for scrapes, which answer promptly.
    let mut idle = connect(1000);
    for path in ["/metrics", "/debug", "/debug?format=json", "/healthz"] {
        let started = Instant::now();
        let r = server.get(path);
        assert_eq!(r.status, 200, "{path}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{path} took {:?}",
            started.elapsed()
        );
    }

    // The header-read timeout closes connections that never send a request.
    let first = &mut idle[0];
    first
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 16];
    let started = Instant::now();
    assert!(
        matches!(first.read(&mut buf), Ok(0)),
        "idle connection closed by the server"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(idle);
    assert_eq!(server.get("/metrics").status, 200);
}
