//! Shared harness for integration tests: run the real binary with a scrubbed
//! environment aimed at loopback, capture its logs, speak HTTP to it, and
//! wait for conditions with deadlines (never fixed sleeps).
#![allow(dead_code)] // each test binary uses a different part of the harness

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use irsa_doctor_emulator::imds::{FakeImds, ImdsConfig};
use irsa_doctor_emulator::issuer::Issuer;
use irsa_doctor_emulator::oidc::FakeOidc;
use irsa_doctor_emulator::sts::{FakeSts, StsConfig};
use serde_json::{Value, json};

pub const BIN: &str = env!("CARGO_BIN_EXE_irsa-doctor");
pub const ROLE: &str = "arn:aws:iam::111122223333:role/demo";
pub const ISSUER: &str = "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE";
pub const SUB: &str = "system:serviceaccount:demo:demo-sa";
/// The cluster's service-account signing key, shared by every test of this binary.
pub fn issuer() -> &'static Issuer {
    static ISSUER_KEY: OnceLock<Issuer> = OnceLock::new();
    ISSUER_KEY.get_or_init(|| Issuer::generate(ISSUER).expect("generate the test signing key"))
}

/// The signature part of a compact JWT: what no output may ever contain (SPEC 7).
pub fn signature(token: &str) -> &str {
    token.rsplit('.').next().unwrap_or_default()
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// EKS-shaped claims issued `age` seconds ago with `lifetime` seconds to live.
pub fn claims(age: i64, lifetime: i64) -> Value {
    let iat = now() - age;
    json!({
        "aud": ["sts.amazonaws.com"], "exp": iat + lifetime, "iat": iat, "nbf": iat,
        "iss": ISSUER, "sub": SUB, "jti": "a9a186b9-58c4-4000-b767-e55399d278dd",
        "kubernetes.io": {
            "namespace": "demo",
            "node": {"name": "ip-10-0-1-2.ec2.internal", "uid": "aad42a6b"},
            "pod": {"name": "web-7d9f", "uid": "a2e67c29"},
            "serviceaccount": {"name": "demo-sa", "uid": "21d8cbc1"}
        }
    })
}

/// A compact JWT really signed (RS256) by the test cluster's key, which the fake OIDC endpoint publishes.
pub fn jwt(claims: &Value) -> String {
    issuer().sign(claims).expect("sign a test token")
}

/// Polls `f` until it returns `Some`, or panics after `deadline` with `what`.
pub fn wait_for<T>(what: &str, deadline: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        if start.elapsed() > deadline {
            panic!("timed out after {deadline:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A plain HTTP/1.1 response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// One request with `Connection: close`; extra header lines may be given.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[&str],
) -> std::io::Result<Resp> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(15)))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("Content-Length: 0\r\n\r\n");
    s.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Ok(Resp {
        status,
        headers,
        body: body.to_owned(),
    })
}

pub fn get(addr: SocketAddr, path: &str) -> Resp {
    request(addr, "GET", path, &[]).unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// The value of one sample line in a Prometheus exposition, e.g. `irsa_token_reloads_total{token="irsa"}`.
pub fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            l.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
}

/// The environment every test starts from: nothing of the host's, AWS aimed at loopback.
pub fn base_env(home: &Path) -> Vec<(String, String)> {
    let mut env = vec![
        ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
        ("HOME".into(), home.display().to_string()),
        ("AWS_REGION".into(), "us-east-1".into()),
        ("AWS_STS_REGIONAL_ENDPOINTS".into(), "regional".into()),
        // Port 9 (discard) on loopback: nothing listens, so a forgotten call fails fast and locally.
        (
            "AWS_EC2_METADATA_SERVICE_ENDPOINT".into(),
            "http://127.0.0.1:9".into(),
        ),
        ("AWS_ENDPOINT_URL_STS".into(), "http://127.0.0.1:9".into()),
        (
            "IRSA_DOCTOR_OIDC_DISCOVERY_URL".into(),
            "http://127.0.0.1:9/.well-known/openid-configuration".into(),
        ),
        ("AWS_ROLE_ARN".into(), ROLE.into()),
        ("IRSA_DOCTOR_LOG_FORMAT".into(), "json".into()),
    ];
    if let Ok(v) = std::env::var("LLVM_PROFILE_FILE") {
        env.push(("LLVM_PROFILE_FILE".into(), v));
    }
    env
}

/// A running `irsa-doctor serve` with its captured stderr.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub logs: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `serve` on an OS-chosen loopback port with `env` (replacing the whole environment).
    pub fn start(env: &[(String, String)], args: &[&str]) -> Server {
        let mut child = Command::new(BIN)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn irsa-doctor");
        let logs = Arc::new(Mutex::new(Vec::<String>::new()));
        let stderr = child.stderr.take().expect("stderr piped");
        let sink = Arc::clone(&logs);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let addr = wait_for(
            "the listen address in the logs",
            Duration::from_secs(20),
            || {
                logs.lock().unwrap().iter().find_map(|l| {
                    let v: Value = serde_json::from_str(l).ok()?;
                    (v["message"] == "irsa-doctor serving")
                        .then(|| v["listen"].as_str()?.parse().ok())?
                })
            },
        );
        Server { child, addr, logs }
    }

    pub fn get(&self, path: &str) -> Resp {
        get(self.addr, path)
    }

    pub fn metrics(&self) -> String {
        self.get("/metrics").body
    }

    pub fn report(&self) -> Value {
        self.get("/debug?format=json").json()
    }

    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// The logs once `needle` appears in them `count` times (logs are read by another thread).
    pub fn wait_for_log(&self, needle: &str, count: usize) -> String {
        wait_for(
            &format!("{count} log lines with {needle}"),
            Duration::from_secs(10),
            || {
                let logs = self.logs();
                (logs.matches(needle).count() >= count).then_some(logs)
            },
        )
    }

    /// Finding codes of the current report.
    pub fn codes(&self) -> Vec<String> {
        codes(&self.report())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn codes(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f["code"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Runs the binary to completion with `env` and `args`, optional stdin.
pub fn run(env: &[(String, String)], args: &[&str], stdin: Option<&[u8]>) -> std::process::Output {
    let mut child = Command::new(BIN)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn irsa-doctor");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    child.wait_with_output().expect("wait for irsa-doctor")
}

/// The pod's AWS peers, in-process on loopback: a fake STS and a fake IMDS on their own runtime.
pub struct Peers {
    pub sts: FakeSts,
    pub imds: FakeImds,
    pub oidc: FakeOidc,
    pub runtime: tokio::runtime::Runtime,
}

impl Peers {
    pub fn start() -> Peers {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (sts, imds, oidc) = runtime.block_on(async {
            let sts = FakeSts::start(StsConfig::default()).await.unwrap();
            let imds = FakeImds::start(ImdsConfig::default()).await.unwrap();
            let oidc = FakeOidc::start(issuer()).await.unwrap();
            (sts, imds, oidc)
        });
        Peers {
            sts,
            imds,
            oidc,
            runtime,
        }
    }
}

/// A temporary pod: a home directory, a kubelet-style token volume and its AWS peers.
/// IMDS is unreachable by default (as with hop limit 1); tests opt in to reaching the fake.
pub struct Pod {
    pub tmp: tempfile::TempDir,
    pub writer: irsa_doctor_emulator::kubelet::AtomicWriter,
    pub peers: Peers,
}

impl Pod {
    pub fn new() -> Pod {
        let tmp = tempfile::tempdir().unwrap();
        let writer =
            irsa_doctor_emulator::kubelet::AtomicWriter::new(tmp.path().join("sa")).unwrap();
        std::fs::create_dir_all(tmp.path().join("home")).unwrap();
        Pod {
            tmp,
            writer,
            peers: Peers::start(),
        }
    }

    pub fn token_path(&self) -> PathBuf {
        self.writer.token_path()
    }

    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = base_env(&self.tmp.path().join("home"));
        set(
            &mut env,
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            &self.token_path().display().to_string(),
        );
        set(&mut env, "AWS_ENDPOINT_URL_STS", &self.peers.sts.endpoint());
        set(
            &mut env,
            "IRSA_DOCTOR_OIDC_DISCOVERY_URL",
            &self.peers.oidc.discovery_url(),
        );
        env
    }

    /// The environment with IMDS pointed at the fake.
    pub fn env_with_imds(&self) -> Vec<(String, String)> {
        let mut env = self.env();
        set(
            &mut env,
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            &self.peers.imds.endpoint(),
        );
        env
    }
}

/// Sets (or replaces) one variable.
pub fn set(env: &mut Vec<(String, String)>, key: &str, value: &str) {
    env.retain(|(k, _)| k != key);
    env.push((key.into(), value.into()));
}

/// Removes one variable.
pub fn unset(env: &mut Vec<(String, String)>, key: &str) {
    env.retain(|(k, _)| k != key);
}

/// Pipes an exposition through Prometheus' own `promtool check metrics` (Debian `prometheus`).
/// Without promtool the check is skipped with a note, except under `CI`, where it is required.
pub fn assert_promtool_accepts(metrics: &str) {
    let promtool = std::env::var("PROMTOOL").unwrap_or_else(|_| "promtool".into());
    if Command::new(&promtool).arg("--version").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "promtool is required in CI (apt-get install prometheus)"
        );
        eprintln!("skipping the promtool check: promtool not installed");
        return;
    }
    let mut child = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(metrics.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let complaints = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && complaints.trim().is_empty(),
        "promtool: {complaints}"
    );
}

/// `check --format json` with `extra` flags: its exit code and the one JSON document it prints.
pub fn check_json(env: &[(String, String)], extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["check", "--format", "json"];
    args.extend_from_slice(extra);
    let out = run(env, &args, None);
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), report)
}
