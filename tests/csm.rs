//! The application's own calls, seen through client-side monitoring (CSM): real SDKs
//! (boto3, the AWS CLI v1) as the application with `AWS_CSM_ENABLED=true`, moto as
//! the data plane with IAM enforcement, the emulator where a fault must be injected.
//! Hand-written datagrams only where no SDK can speak (garbage, floods).
#![allow(clippy::disallowed_methods)] // drives real processes: real clocks, chosen environments

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::Command;
use std::time::Duration;

use common::moto::{Moto, moto_installed, peer, python, start_moto};
use common::*;
use irsa_doctor_emulator::harness::csm::{self, csm_addr};
use irsa_doctor_emulator::issuer::TokenSpec;
use serde_json::Value;

/// The app's environment: nothing of the host's but `PATH` and `HOME`, CSM aimed at the daemon.
fn app_env(pod: &Pod, port: u16) -> Vec<(String, String)> {
    let mut env = vec![
        ("PATH".to_owned(), std::env::var("PATH").unwrap_or_default()),
        ("HOME".to_owned(), pod.home().display().to_string()),
        ("AWS_REGION".to_owned(), "us-east-1".to_owned()),
        ("AWS_CSM_ENABLED".to_owned(), "true".to_owned()),
        ("AWS_CSM_PORT".to_owned(), port.to_string()),
        ("AWS_EC2_METADATA_DISABLED".to_owned(), "true".to_owned()),
        (
            "AWS_WEB_IDENTITY_TOKEN_FILE".to_owned(),
            pod.token_path().display().to_string(),
        ),
    ];
    if let Ok(v) = std::env::var("PYENV_VERSION") {
        env.push(("PYENV_VERSION".into(), v));
    }
    env
}

/// Runs `csm_app.py run ENDPOINT SCRIPT` as the application; its per-call results.
fn run_app(env: &[(String, String)], endpoint: &str, script: &str) -> Value {
    let out = Command::new("python3")
        .args([&peer("csm_app.py"), "run", endpoint, script])
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "the app: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the app prints JSON")
}

fn enforce(moto: &Moto, n: u32) {
    python(&[
        &peer("csm_app.py"),
        "enforce",
        &moto.endpoint,
        &n.to_string(),
    ]);
}

/// The report's `app.calls` as `action outcome count` lines, sorted.
fn calls(report: &Value) -> Vec<String> {
    let mut out: Vec<String> = report["app"]["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{} {} {}",
                c["action"].as_str().unwrap(),
                c["outcome"].as_str().unwrap(),
                c["count"]
            )
        })
        .collect();
    out.sort();
    out
}

fn app_codes(report: &Value) -> Vec<String> {
    codes(report)
        .into_iter()
        .filter(|c| c.starts_with("APP_"))
        .collect()
}

/// Waits until the report's calls are exactly `want` (datagrams arrive asynchronously).
fn wait_for_calls(server: &Server, want: &[&str]) -> Value {
    wait_for(
        &format!("the app's calls {want:?}"),
        Duration::from_secs(30),
        || {
            let r = server.report();
            (calls(&r) == want).then_some(r)
        },
    )
}

#[test]
fn real_sdks_healthy_then_denied_and_explained() {
    let (Some(enforcing), Some(plain)) = (start_moto(), start_moto()) else {
        return;
    };
    let setup = python(&[
        &peer("csm_app.py"),
        "setup",
        &enforcing.endpoint,
        &plain.endpoint,
    ]);
    let role = setup["role_arn"].as_str().unwrap().to_owned();
    let pod = Pod::new();
    pod.write_token(&TokenSpec::default());
    // irsa-doctor's own STS and IAM: the moto that does not enforce (it reads the role's policies).
    let mut env = pod.env();
    set(&mut env, "AWS_ROLE_ARN", &role);
    set(&mut env, "AWS_ENDPOINT_URL_STS", &plain.endpoint);
    set(&mut env, "AWS_ENDPOINT_URL_IAM", &plain.endpoint);
    let server = serve(&env, &["--csm-listen", "127.0.0.1:0"]);
    server.wait_ready(Duration::from_secs(30));
    let port = csm_addr(&server).port();

    // Nothing arrived yet: the report says how to enable CSM.
    let r = server.report();
    assert_eq!(r["app"]["listening"], true, "{:#}", r["app"]);
    assert!(
        r["app"]["notes"][0]
            .as_str()
            .unwrap()
            .contains("AWS_CSM_ENABLED=true")
    );

    // The healthy application: boto3, then the seed's workload, the AWS CLI's `s3 cp`.
    let mut app = app_env(&pod, port);
    set(&mut app, "AWS_ROLE_ARN", &role);
    set(&mut app, "AWS_ENDPOINT_URL", &enforcing.endpoint);
    enforce(&enforcing, 1); // the SDK's unsigned AssumeRoleWithWebIdentity is the one free request
    let results = run_app(&app, &enforcing.endpoint, "put-allowed,get-allowed");
    assert!(
        results.as_array().unwrap().iter().all(|c| c["ok"] == true),
        "{results:#}"
    );
    enforce(&enforcing, 1);
    let dump = pod.home().join("backup.sql");
    std::fs::write(&dump, "-- pg_dump\n").unwrap();
    let cli = Command::new("aws")
        .args([
            "s3",
            "cp",
            &dump.display().to_string(),
            "s3://acme-backups/db/backup.sql",
        ])
        .env_clear()
        .envs(app.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("run the AWS CLI");
    assert!(
        cli.status.success(),
        "aws s3 cp: {}",
        String::from_utf8_lossy(&cli.stderr)
    );

    let r = wait_for_calls(
        &server,
        &[
            "s3:GetObject success 1",
            "s3:PutObject success 2",
            "sts:AssumeRoleWithWebIdentity success 2",
        ],
    );
    assert_eq!(app_codes(&r), Vec::<String>::new(), "{:#}", r["findings"]);
    let sdks = r["app"]["sdks"].as_array().unwrap();
    let names: Vec<&str> = sdks.iter().map(|s| s["sdk"].as_str().unwrap()).collect();
    assert!(
        names.contains(&"boto3") && names.contains(&"aws-cli"),
        "{sdks:#?}"
    );
    for s in sdks {
        assert_eq!(s["credential_source"], "web_identity", "{s:#}");
        assert!(
            s["version"]
                .as_str()
                .unwrap()
                .chars()
                .next()
                .unwrap()
                .is_ascii_digit()
        );
        assert_eq!(s["minimum_version"], Value::Null);
    }
    assert_eq!(r["app"]["events"]["malformed"], 0);

    // Denied: a bucket outside the role's, and a secret never granted.
    enforce(&enforcing, 1);
    let results = run_app(&app, &enforcing.endpoint, "put-other,get-secret");
    assert!(
        results.as_array().unwrap().iter().all(|c| c["ok"] == false),
        "{results:#}"
    );
    let r = wait_for(
        "both denials explained against the role's policies",
        Duration::from_secs(60),
        || {
            let r = server.report();
            let denials = r["app"]["denials"].as_array()?.clone();
            (denials.len() == 2 && denials.iter().all(|d| !d["verdict"].is_null())).then_some(r)
        },
    );
    assert_eq!(
        app_codes(&r),
        ["APP_ACCESS_DENIED", "APP_ACCESS_DENIED"],
        "{:#}",
        r["findings"]
    );
    let denial = |action: &str| -> Value {
        r["app"]["denials"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["action"] == action)
            .cloned()
            .unwrap_or_else(|| panic!("no denial of {action}: {:#}", r["app"]))
    };
    let put = denial("s3:PutObject");
    assert_eq!(put["verdict"], "implicit_deny", "{put:#}");
    assert!(
        put["explanation"]
            .as_str()
            .unwrap()
            .contains("only on arn:aws:s3:::acme-backups/*"),
        "{put:#}"
    );
    let secret = denial("secretsmanager:GetSecretValue");
    assert_eq!(secret["verdict"], "implicit_deny");
    assert!(
        secret["principal"]
            .as_str()
            .unwrap()
            .contains(":assumed-role/app-role/"),
        "{secret:#}"
    );
    assert!(
        secret["explanation"]
            .as_str()
            .unwrap()
            .contains("no statement of the role's policies allows secretsmanager:GetSecretValue"),
        "{secret:#}"
    );
    assert!(
        secret["remediation"].as_str().unwrap().contains(
            r#"{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}"#
        ),
        "{secret:#}"
    );
    let finding = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| {
            f["message"]
                .as_str()
                .unwrap()
                .contains("secretsmanager:GetSecretValue")
        })
        .unwrap();
    assert_eq!(finding["severity"], "warning");

    // The least-privilege policy of what it called, and what the role allows but it never used.
    let policy = server.get("/debug/policy").json();
    let statements = policy["policy"]["Statement"].as_array().unwrap();
    let mut actions: Vec<&str> = statements
        .iter()
        .flat_map(|s| s["Action"].as_array().unwrap())
        .map(|a| a.as_str().unwrap())
        .collect();
    actions.sort();
    assert_eq!(
        actions,
        [
            "s3:GetObject",
            "s3:PutObject",
            "secretsmanager:GetSecretValue"
        ],
        "{policy:#}"
    );
    assert_eq!(policy["policy"]["Version"], "2012-10-17");
    let unused: Vec<&str> = policy["unused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap())
        .collect();
    assert!(
        unused.contains(&"s3:ListBucket (backups / ListBackups)"),
        "{unused:?}"
    );

    // The metrics, with the SPEC's labels, accepted by promtool.
    let metrics = server.metrics();
    for line in [
        r#"irsa_app_api_calls_total{action="s3:PutObject",outcome="success",service="s3"} 2"#,
        r#"irsa_app_api_calls_total{action="s3:PutObject",outcome="denied",service="s3"} 1"#,
        r#"irsa_app_api_calls_total{action="secretsmanager:GetSecretValue",outcome="denied",service="secretsmanager"} 1"#,
        r#"irsa_app_events_total{result="malformed"} 0"#,
        r#"irsa_finding_active{code="APP_ACCESS_DENIED",severity="warning"} 1"#,
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "missing {line}\n{metrics}"
        );
    }
    assert!(
        metrics.lines().any(|l| l.starts_with(
            r#"irsa_app_sdk_info{credential_source="web_identity",sdk="aws-cli",version="1."#
        )),
        "{metrics}"
    );
    assert_promtool_accepts(&metrics);
    let text = server.get("/debug").body;
    assert!(
        text.contains("\nAPP  client-side monitoring on udp 127.0.0.1:"),
        "{text}"
    );
}

#[test]
fn static_keys_in_the_app_only_and_its_secrets_never_leave() {
    let Some(moto) = start_moto() else { return };
    let pod = Pod::new();
    pod.write_token(&TokenSpec::default());
    let server = serve(
        &pod.env(),
        &["--csm-listen", "127.0.0.1:0", "--log-level", "debug"],
    );
    server.wait_ready(Duration::from_secs(30));
    let port = csm_addr(&server).port();
    // Real-looking secrets the SDK puts in its datagrams: the key id in AccessKey, the token in SessionToken.
    let key_id = format!("AKIA{}", "Q7Z2XKJ4M9PWRT3E");
    let secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzQv8secret";
    let session_token = format!("IQoJb3JpZ2luX2VjE{}", "x".repeat(40) + "TOKENTAIL");
    let mut app = app_env(&pod, port);
    set(&mut app, "AWS_ACCESS_KEY_ID", &key_id);
    set(&mut app, "AWS_SECRET_ACCESS_KEY", secret_key);
    set(&mut app, "AWS_SESSION_TOKEN", &session_token);
    set(&mut app, "AWS_ROLE_ARN", &trusted_role());
    python(&[&peer("csm_app.py"), "setup", &moto.endpoint]);
    let results = run_app(&app, &moto.endpoint, "put-allowed");
    assert_eq!(results[0]["ok"], true, "{results:#}");
    let r = wait_for("the app's call", Duration::from_secs(30), || {
        let r = server.report();
        (r["app"]["sdks"].as_array()?.len() == 1 && !app_codes(&r).is_empty()).then_some(r)
    });
    assert_eq!(
        app_codes(&r),
        ["APP_NOT_USING_POD_IDENTITY"],
        "{:#}",
        r["findings"]
    );
    assert_eq!(r["app"]["sdks"][0]["credential_source"], "environment");
    let f = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "APP_NOT_USING_POD_IDENTITY")
        .unwrap();
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("environment credentials, not the pod's web identity"),
        "{f:#}"
    );
    assert!(
        f["remediation"]
            .as_str()
            .unwrap()
            .contains("AWS_ACCESS_KEY_ID")
    );
    // The sidecar itself is green: only the application is red.
    assert!(
        codes(&r).iter().all(|c| c.starts_with("APP_")),
        "{:?}",
        codes(&r)
    );

    let outputs = [
        server.get("/debug").body,
        server.get("/debug?format=json").body,
        server.metrics(),
        server.get("/debug/policy").body,
        server.logs(),
    ];
    for out in &outputs {
        for secret in [
            key_id.as_str(),
            secret_key,
            session_token.as_str(),
            "TOKENTAIL",
        ] {
            assert!(!out.contains(secret), "a secret leaked: {secret}");
        }
    }
}

/// The role the fake STS of `Pod::new()` trusts.
fn trusted_role() -> String {
    irsa_doctor_emulator::sts::StsConfig::default().role_arn()
}

/// An HTTP endpoint answering every request 400 `ExpiredToken`, as S3 does for expired credentials.
fn expired_token_endpoint() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten().take(64) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = [0u8; 65536];
            let _ = stream.read(&mut buf);
            let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>ExpiredToken</Code><Message>The provided token has expired.</Message><RequestId>4442587FB7D0A2F9</RequestId></Error>";
            let _ = write!(
                stream,
                "HTTP/1.1 400 Bad Request\r\ncontent-type: application/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}

#[test]
fn refused_app_assume_and_expired_token_are_credentials_failing() {
    if !moto_installed() {
        return; // boto3 comes with moto
    }
    let pod = Pod::new();
    pod.write_token(&TokenSpec::default());
    let server = serve(&pod.env(), &["--csm-listen", "127.0.0.1:0"]);
    server.wait_ready(Duration::from_secs(30));
    let port = csm_addr(&server).port();

    // The application's container names a role the trust policy does not allow; the sidecar's is right.
    let mut app = app_env(&pod, port);
    set(&mut app, "AWS_ENDPOINT_URL_STS", &pod.peers.sts.endpoint());
    set(
        &mut app,
        "AWS_ROLE_ARN",
        "arn:aws:iam::111122223333:role/demo-typo",
    );
    let results = run_app(&app, "http://127.0.0.1:9", "put-allowed");
    assert_eq!(results[0]["ok"], false, "{results:#}");
    let r = wait_for("the refused assume", Duration::from_secs(30), || {
        let r = server.report();
        (!r["app"]["credential_failures"].as_array()?.is_empty()).then_some(r)
    });
    assert_eq!(
        app_codes(&r),
        ["APP_CREDENTIALS_FAILING"],
        "{:#}",
        r["findings"]
    );
    assert_eq!(
        r["sts"]["result"], "success",
        "the sidecar's own test-assume works"
    );
    let f = &r["app"]["credential_failures"][0];
    assert_eq!(f["action"], "sts:AssumeRoleWithWebIdentity");
    assert_eq!(f["error_code"], "AccessDenied");
    assert_eq!(
        r["app"]["denials"].as_array().unwrap().len(),
        0,
        "a refused assume is not an access denial"
    );

    // The right role, but an endpoint that refuses its calls as expired.
    let expired = format!("http://{}", expired_token_endpoint());
    set(&mut app, "AWS_ROLE_ARN", &trusted_role());
    let results = run_app(&app, &expired, "put-allowed");
    assert_eq!(results[0]["code"], "ExpiredToken", "{results:#}");
    let r = wait_for("the expired call", Duration::from_secs(30), || {
        let r = server.report();
        let expired = r["app"]["credential_failures"]
            .as_array()?
            .iter()
            .any(|f| f["expired"] == true);
        expired.then_some(r)
    });
    let messages: Vec<&str> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "APP_CREDENTIALS_FAILING")
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert!(
        messages.iter().any(|m| m.contains(
            "s3:PutObject calls were refused as signed with expired credentials (ExpiredToken"
        )),
        "{messages:#?}"
    );
    assert!(
        calls(&r).contains(&"s3:PutObject credentials_expired 1".to_owned()),
        "{:?}",
        calls(&r)
    );
}

#[test]
fn garbage_and_floods_are_bounded_counted_and_never_stop_the_daemon() {
    let pod = Pod::new();
    pod.write_token(&TokenSpec::default());
    let server = serve(&pod.env(), &["--csm-listen", "127.0.0.1:0"]);
    server.wait_ready(Duration::from_secs(30));
    let to = csm_addr(&server);
    let ua = csm::boto3_user_agent("1.34.0", "h");
    let garbage: Vec<Vec<u8>> = vec![
        b"not json".to_vec(),
        b"[1,2,3]".to_vec(),
        br#"{"Type":"ApiCall"}"#.to_vec(),
        br#"{"Type":"ApiCall","Service":"S3","Api":"PutObject","FinalHttpStatusCode":"200"}"#
            .to_vec(),
        br#"{"Type":"Nope","Service":"S3","Api":"PutObject"}"#.to_vec(),
        br#"{"Type":"ApiCall","Service":"S3 <script>","Api":"PutObject"}"#.to_vec(),
        vec![0xff; 100],
    ];
    csm::send(to, &garbage);
    let oversized = vec![b' '; 9000];
    csm::send(to, &[oversized]);
    // A flood of distinct random services: more than the series cap.
    let flood: Vec<Vec<u8>> = (0..600)
        .map(|i| csm::api_call(&format!("Svc{i}"), "DoThing", &ua, 200, None))
        .collect();
    csm::send(to, &flood);
    let r = csm::wait_for_events(&server, 608);
    let e = &r["app"]["events"];
    assert_eq!(e["malformed"], 7, "{e:#}");
    assert_eq!(e["oversized"], 1, "{e:#}");
    assert_eq!(
        e["accepted"].as_u64().unwrap() + e["dropped"].as_u64().unwrap(),
        600,
        "{e:#}"
    );
    assert!(
        e["dropped"].as_u64().unwrap() >= 95,
        "beyond the cap: {e:#}"
    );
    let calls = r["app"]["calls"].as_array().unwrap();
    assert!(calls.len() <= 512, "{}", calls.len());
    let metrics = server.metrics();
    let series = metrics
        .lines()
        .filter(|l| l.starts_with("irsa_app_api_calls_total{"))
        .count();
    assert!(series <= 512, "{series} series");
    assert!(metrics.lines().any(|l| l.starts_with(
        r#"irsa_app_api_calls_total{action="other",outcome="success",service="other"}"#
    )));
    assert!(metrics.contains(r#"irsa_app_events_total{result="malformed"} 7"#));
    assert_eq!(server.get("/healthz").status, 200);
    assert_promtool_accepts(&metrics);
}

#[test]
fn a_non_loopback_csm_listen_exits_2_with_one_line() {
    let pod = Pod::new();
    let out = run(
        &pod.env(),
        &["serve", "--csm-listen", "0.0.0.0:31000"],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("not a loopback address"), "{stderr}");
    // `off` turns the section off.
    let mut env = pod.env();
    set(&mut env, "IRSA_DOCTOR_CSM_LISTEN", "off");
    let server = serve(&env, &[]);
    assert_eq!(server.report()["app"], Value::Null);
}

/// Where `.ci/run` puts the venv with botocore 1.12.100 / boto3 1.9.100 (older than web identity).
fn old_botocore_python() -> Option<std::path::PathBuf> {
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/peers/old-botocore/bin/python");
    if python.exists() {
        return Some(python);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "the old-botocore venv is required in CI (.ci/run creates it)"
    );
    eprintln!(
        "skipping: no {} (python3 -m venv target/peers/old-botocore && target/peers/old-botocore/bin/pip install botocore==1.12.100 boto3==1.9.100)",
        python.display()
    );
    None
}

/// botocore 1.12.100 ignores `AWS_WEB_IDENTITY_TOKEN_FILE` and asks IMDS at 169.254.169.254
/// (it has no endpoint override), so the test runs in a network namespace of its own where
/// that address is on `lo`: re-run inside `unshare -n` unless already there.
#[test]
fn old_botocore_falls_back_to_the_node_role() {
    let Some(old_python) = old_botocore_python() else {
        return;
    };
    if std::env::var_os("IRSA_DOCTOR_TEST_IN_NETNS").is_none() {
        if !moto_installed() {
            return;
        }
        let isolated = Command::new("unshare")
            .args(["-n", "true"])
            .status()
            .is_ok_and(|s| s.success());
        if !isolated {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI runs as root, where unshare -n works"
            );
            eprintln!("skipping: unshare -n is not permitted here");
            return;
        }
        let me = std::env::current_exe().unwrap();
        let out = Command::new("unshare")
            .args([
                "-n",
                &me.display().to_string(),
                "--exact",
                "old_botocore_falls_back_to_the_node_role",
                "--nocapture",
            ])
            .env("IRSA_DOCTOR_TEST_IN_NETNS", "1")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && text.contains("1 passed"),
            "in the network namespace:\n{text}"
        );
        return;
    }
    for args in [
        &["link", "set", "lo", "up"][..],
        &["addr", "add", "169.254.169.254/32", "dev", "lo"],
    ] {
        let ok = Command::new("ip")
            .args(args)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "ip {args:?}");
    }
    let moto = start_moto().unwrap();
    python(&[&peer("csm_app.py"), "setup", &moto.endpoint]);
    let pod = Pod::new();
    pod.write_token(&TokenSpec::default());
    // IMDS where old SDKs look: a forwarder from 169.254.169.254:80 to the fake.
    let imds = pod.peers.imds.local_addr();
    let forwarder = TcpListener::bind("169.254.169.254:80").expect("bind 169.254.169.254:80");
    std::thread::spawn(move || {
        for client in forwarder.incoming().flatten() {
            let Ok(upstream) = std::net::TcpStream::connect(imds) else {
                continue;
            };
            let (mut a, b) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut a, &mut b.try_clone().unwrap());
                let _ = b.shutdown(std::net::Shutdown::Write);
            });
            let (mut c, mut d) = (upstream, client);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c, &mut d);
                let _ = d.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    let server = serve(&pod.env_with_imds(), &["--csm-listen", "127.0.0.1:0"]);
    server.wait_ready(Duration::from_secs(30));
    let port = csm_addr(&server).port();
    // Old botocore needs collections.Mapping and friends, gone since Python 3.10.
    let shim = pod.home().join("shim");
    std::fs::create_dir_all(&shim).unwrap();
    std::fs::write(
        shim.join("sitecustomize.py"),
        "import collections, collections.abc\nfor n in ('Mapping', 'MutableMapping', 'Sequence', 'MutableSequence', 'Set', 'MutableSet', 'Callable', 'Iterable', 'Iterator', 'Hashable'):\n    if not hasattr(collections, n):\n        setattr(collections, n, getattr(collections.abc, n))\n",
    )
    .unwrap();
    let mut app = app_env(&pod, port);
    unset(&mut app, "AWS_EC2_METADATA_DISABLED");
    set(&mut app, "AWS_ROLE_ARN", &trusted_role());
    set(&mut app, "PYTHONPATH", &shim.display().to_string());
    let out = Command::new(&old_python)
        .args([&peer("csm_app.py"), "run", &moto.endpoint, "put-allowed"])
        .env_clear()
        .envs(app.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "old boto3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = wait_for("the old SDK's findings", Duration::from_secs(60), || {
        let r = server.report();
        (app_codes(&r).len() == 2).then_some(r)
    });
    assert_eq!(
        app_codes(&r),
        ["APP_NOT_USING_POD_IDENTITY", "APP_SDK_TOO_OLD"],
        "{:#}",
        r["findings"]
    );
    let sdk = &r["app"]["sdks"][0];
    assert_eq!(sdk["sdk"], "boto3", "{sdk:#}");
    assert_eq!(sdk["version"], "1.9.100");
    assert_eq!(sdk["credential_source"], "imds");
    assert_eq!(sdk["minimum_version"], "1.9.220");
    assert!(
        sdk["evidence"]
            .as_str()
            .unwrap()
            .contains("node role's current key"),
        "{sdk:#}"
    );
}
