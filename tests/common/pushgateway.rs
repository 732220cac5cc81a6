//! Prometheus' Pushgateway (Debian `prometheus-pushgateway`) as a peer, on loopback, keeping
//! its groups in memory only; read back through its own `/api/v1/metrics`.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use irsa_doctor_emulator::harness::{self, KillOnDrop, Response, request, wait_for};
use serde_json::Value;

/// Where Debian installs it; `PUSHGATEWAY` overrides.
const BINARY: &str = "/usr/bin/prometheus-pushgateway";

/// A running Pushgateway; killed when dropped (and when a panic aborts).
pub struct Pushgateway {
    _child: KillOnDrop,
    /// Its socket address.
    pub addr: SocketAddr,
    /// `Authorization` header for its own basic auth, when it has some.
    auth: Option<String>,
    /// `https` when it serves TLS.
    pub scheme: &'static str,
}

impl Pushgateway {
    /// Starts it in plain HTTP, or `None` when it is not installed outside CI.
    pub fn start() -> Option<Pushgateway> {
        Pushgateway::start_with(None, None, "http")
    }

    /// Starts it with `--web.config.file web_config` (TLS, basic auth), answering to
    /// `auth` (an `Authorization` header value) over `scheme`.
    pub fn start_with(
        web_config: Option<&Path>,
        auth: Option<String>,
        scheme: &'static str,
    ) -> Option<Pushgateway> {
        let binary = std::env::var("PUSHGATEWAY").unwrap_or_else(|_| BINARY.into());
        if !Path::new(&binary).exists() {
            super::peer_missing(&binary, "apt-get install prometheus-pushgateway");
            return None;
        }
        // It takes a port, not a socket: borrow a free one from the OS.
        let port = harness::free_port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut cmd = Command::new(&binary);
        cmd.arg(format!("--web.listen-address={addr}"))
            // In memory only: never the Debian default under /var/lib.
            .arg("--persistence.file=")
            .arg("--log.level=warn");
        if let Some(config) = web_config {
            cmd.arg(format!("--web.config.file={}", config.display()));
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the Pushgateway");
        let pg = Pushgateway {
            _child: KillOnDrop::new(child),
            addr,
            auth,
            scheme,
        };
        if scheme == "http" {
            wait_for(
                "the Pushgateway to be ready",
                Duration::from_secs(30),
                || pg.get("/-/ready").ok().filter(|r| r.status == 200),
            );
        } else {
            wait_for("the Pushgateway to listen", Duration::from_secs(30), || {
                std::net::TcpStream::connect(addr).ok()
            });
        }
        Some(pg)
    }

    /// `scheme://127.0.0.1:PORT`, optionally with `userinfo@`.
    pub fn url(&self, userinfo: Option<&str>) -> String {
        match userinfo {
            Some(u) => format!("{}://{u}@{}", self.scheme, self.addr),
            None => format!("{}://{}", self.scheme, self.addr),
        }
    }

    /// `GET path` over plain HTTP, with its basic auth when it has some.
    pub fn get(&self, path: &str) -> std::io::Result<Response> {
        let header = self.auth.as_ref().map(|a| format!("Authorization: {a}"));
        let headers: Vec<&str> = header.iter().map(String::as_str).collect();
        request(self.addr, "GET", path, &headers)
    }

    /// Every group, as `/api/v1/metrics` answers (plain HTTP only).
    pub fn groups(&self) -> Vec<Value> {
        let r = self.get("/api/v1/metrics").expect("GET /api/v1/metrics");
        assert_eq!(r.status, 200, "{}", r.body);
        let v: Value = serde_json::from_str(&r.body).expect("JSON");
        v["data"].as_array().cloned().unwrap_or_default()
    }

    /// The groups whose grouping key has `workload`.
    pub fn groups_of(&self, workload: &str) -> Vec<Value> {
        self.groups()
            .into_iter()
            .filter(|g| g["labels"]["workload"] == workload)
            .collect()
    }
}

/// The value of `metric`'s sample whose labels include all of `labels`, in one group.
pub fn value(group: &Value, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    group[metric]["metrics"].as_array()?.iter().find_map(|m| {
        labels
            .iter()
            .all(|(k, v)| m["labels"][*k] == *v)
            .then(|| m["value"].as_str()?.parse().ok())?
    })
}
