//! A Prometheus Pushgateway stand-in for the demo: it keeps each pushed group under its
//! grouping key (`/metrics/job/<job>/<label>/<value>...`, with the `@base64` values of
//! <https://github.com/prometheus/pushgateway#url>), replaces a group on `PUT` (and, more
//! simply than the real one, on `POST`), drops it on `DELETE`, and serves every group's
//! samples at `GET /metrics` with the grouping key's labels added. It checks nothing
//! else; the tests use the real Pushgateway.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex};

use base64::Engine;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};

use crate::server::{LocalServer, Reply, lock, response, serve_loopback};

/// Pushed bodies larger than this are refused.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// A grouping key: its labels, `job` first, as pushed.
pub type GroupingKey = Vec<(String, String)>;

type Groups = Arc<Mutex<BTreeMap<GroupingKey, String>>>;

/// The fake Pushgateway on 127.0.0.1.
#[derive(Debug)]
pub struct FakePushgateway {
    server: LocalServer,
    groups: Groups,
}

impl FakePushgateway {
    /// Starts it on an OS-chosen loopback port, on the current runtime.
    pub async fn start() -> io::Result<FakePushgateway> {
        let groups: Groups = Arc::default();
        let shared = Arc::clone(&groups);
        let server = serve_loopback(move |req| handle(req, Arc::clone(&shared))).await?;
        Ok(FakePushgateway { server, groups })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    /// The body last pushed to the group whose key includes all of `labels`.
    pub fn group(&self, labels: &[(&str, &str)]) -> Option<String> {
        lock(&self.groups).iter().find_map(|(key, body)| {
            labels
                .iter()
                .all(|(k, v)| key.iter().any(|(kk, vv)| kk == k && vv == v))
                .then(|| body.clone())
        })
    }

    /// Every group's key.
    pub fn keys(&self) -> Vec<GroupingKey> {
        lock(&self.groups).keys().cloned().collect()
    }
}

async fn handle(req: Request<Incoming>, groups: Groups) -> Reply {
    let text =
        |status, body: String| Ok(response(status, "text/plain; charset=utf-8", body, now()));
    let path = req.uri().path().to_owned();
    if path == "/metrics" && req.method() == Method::GET {
        return text(StatusCode::OK, render(&lock(&groups)));
    }
    let Some(key) = path.strip_prefix("/metrics/").and_then(grouping_key) else {
        return text(StatusCode::NOT_FOUND, "not a group\n".into());
    };
    match *req.method() {
        Method::PUT | Method::POST => {
            let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => return text(StatusCode::PAYLOAD_TOO_LARGE, "too large\n".into()),
            };
            let Ok(body) = String::from_utf8(body.to_vec()) else {
                return text(StatusCode::BAD_REQUEST, "not UTF-8\n".into());
            };
            lock(&groups).insert(key, body);
            text(StatusCode::OK, String::new())
        }
        Method::DELETE => {
            lock(&groups).remove(&key);
            text(StatusCode::ACCEPTED, String::new())
        }
        _ => text(
            StatusCode::METHOD_NOT_ALLOWED,
            "PUT, POST or DELETE\n".into(),
        ),
    }
}

fn now() -> i64 {
    irsa_doctor_core::time::unix(std::time::SystemTime::now())
}

/// `job/<job>/<name>/<value>...` as labels; `name@base64/<value>` decoded (`=` is empty).
fn grouping_key(path: &str) -> Option<GroupingKey> {
    let parts: Vec<&str> = path.split('/').collect();
    if !parts.len().is_multiple_of(2)
        || parts
            .first()
            .is_none_or(|p| p.trim_end_matches("@base64") != "job")
    {
        return None;
    }
    parts
        .chunks(2)
        .map(|pair| {
            let (name, value) = (pair[0], pair[1]);
            match name.strip_suffix("@base64") {
                Some(name) => {
                    let raw = value.trim_end_matches('=');
                    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .decode(raw)
                        .ok()?;
                    Some((name.to_owned(), String::from_utf8(bytes).ok()?))
                }
                None => Some((name.to_owned(), value.to_owned())),
            }
        })
        .collect()
}

/// Every group's samples with its grouping key's labels (which win over pushed ones), as
/// untyped samples: one valid exposition however many groups repeat a metric.
fn render(groups: &BTreeMap<GroupingKey, String>) -> String {
    let mut out = String::new();
    for (key, body) in groups {
        for line in body.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            out.push_str(&with_labels(line, key));
            out.push('\n');
        }
    }
    out
}

/// `name{labels} value` with `key`'s labels first and pushed labels of the same name dropped.
fn with_labels(line: &str, key: &[(String, String)]) -> String {
    let (name, labels, rest) = match line.find(['{', ' ']) {
        Some(i) if line[i..].starts_with('{') => {
            let end = closing_brace(line, i).unwrap_or(line.len());
            (
                &line[..i],
                &line[i + 1..end.min(line.len())],
                line.get(end + 1..).unwrap_or(""),
            )
        }
        Some(i) => (&line[..i], "", &line[i..]),
        None => (line, "", ""),
    };
    let mut all: Vec<String> = key
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    all.extend(split_labels(labels).into_iter().filter(|l| {
        !key.iter()
            .any(|(k, _)| l.split('=').next() == Some(k.as_str()))
    }));
    format!("{name}{{{}}}{rest}", all.join(","))
}

/// The index of the `}` closing the label set that opens at `open`, skipping quoted values.
fn closing_brace(line: &str, open: usize) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in line.char_indices().skip_while(|(i, _)| *i <= open) {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '}' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

/// `a="x",b="y,z"` as `["a=\"x\"", "b=\"y,z\""]`.
fn split_labels(labels: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let (mut quoted, mut escaped) = (false, false);
    for c in labels.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    out.push(current);
    out.into_iter().filter(|l| !l.trim().is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(pairs: &[(&str, &str)]) -> GroupingKey {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn grouping_keys() {
        let cases: &[(&str, Option<GroupingKey>)] = &[
            (
                "job/irsa-doctor/namespace/demo/workload/db-backup",
                Some(key(&[
                    ("job", "irsa-doctor"),
                    ("namespace", "demo"),
                    ("workload", "db-backup"),
                ])),
            ),
            (
                "job/irsa-doctor/namespace@base64/=/workload@base64/YS9i",
                Some(key(&[
                    ("job", "irsa-doctor"),
                    ("namespace", ""),
                    ("workload", "a/b"),
                ])),
            ),
            (
                "job/irsa-doctor/workload@base64/c2F1dmVnYXJkZS3DqXTDqQ==",
                Some(key(&[
                    ("job", "irsa-doctor"),
                    ("workload", "sauvegarde-été"),
                ])),
            ),
            ("job/irsa-doctor/namespace", None),
            ("instance/x", None),
            ("job/x/workload@base64/!!", None),
        ];
        for (path, want) in cases {
            assert_eq!(grouping_key(path).as_ref(), want.as_ref(), "{path}");
        }
    }

    #[test]
    fn rendered_samples_carry_the_grouping_key() {
        let k = key(&[("job", "irsa-doctor"), ("namespace", "demo")]);
        let cases = [
            (
                "irsa_sts_assume_success 0",
                "irsa_sts_assume_success{job=\"irsa-doctor\",namespace=\"demo\"} 0",
            ),
            (
                "irsa_finding_active{code=\"X\",severity=\"critical\"} 1",
                "irsa_finding_active{job=\"irsa-doctor\",namespace=\"demo\",code=\"X\",severity=\"critical\"} 1",
            ),
            (
                "irsa_token_info{namespace=\"other\",subject=\"a,b}\"} 1",
                "irsa_token_info{job=\"irsa-doctor\",namespace=\"demo\",subject=\"a,b}\"} 1",
            ),
        ];
        for (line, want) in cases {
            assert_eq!(with_labels(line, &k), want, "{line}");
        }
    }
}
