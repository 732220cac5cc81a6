//! Token file bytes → `token::decode` → every check, the report and the metrics.
//!
//! The input is what the kubelet (or anything else writing into the volume) put in
//! the token file. Like `token::read_file`, files over 64 KiB and non-UTF-8 bytes are
//! rejected before decoding; the rest is decoded, and a decoded token is judged the
//! way the daemon judges it: `findings::evaluate`, `report::build` (JSON and text) and
//! `Metrics::render`, at several clocks (a fixed "now", the epoch, and the token's own
//! `iat`/`nbf`/`exp`/`warnafter`), as the IRSA token and as the `kube_api` token, with
//! the standard EKS trust policy configured.
//!
//! A token is base64url text, so byte-level mutations of it rarely make new JSON. The
//! custom mutator below mutates the *decoded* header or claims of a three-part token
//! (with libFuzzer's own mutations and the dictionary `fuzz/dict/token.dict`) and
//! re-encodes it; a third of the time, and for anything else, it mutates the raw bytes.
//!
//! The clock: `findings` is a pure function of the snapshot and `now`, so besides a
//! fixed 2026 date and the epoch the target judges at the token's own times, which may
//! be anything an i64 holds. Set `FUZZ_CLOCKS=plausible` to keep those to 1970..=9999.
//!
//! Invariants checked beyond "no panic":
//! - the report's JSON is valid JSON with the documented top-level fields;
//! - decoding never depends on the signature part (replacing it changes nothing), so
//!   neither the report, the text nor the metrics can carry it (secrets never leave the process);
//! - the metrics render with the always-present `irsa_finding_active` series.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Parser;
use irsa_doctor_core::time;
use irsa_doctor::config::{Cli, Config};
use irsa_doctor::environment::EnvFacts;
use irsa_doctor_core::assessment::Assessment;
use irsa_doctor_core::findings::{self, Context};
use irsa_doctor_core::fixtures::{self, NOW, ROLE, SUB};
use irsa_doctor::metrics::Metrics;
use irsa_doctor_core::report;
use irsa_doctor_core::snapshot::{ChainSnapshot, Snapshot, StsSnapshot, TokenSnapshot};
use irsa_doctor_core::token::{self, MAX_TOKEN_BYTES, MalformedToken, ReadError};
use irsa_doctor_core::policy::trust;
use libfuzzer_sys::{fuzz_mutator, fuzz_target, fuzzer_mutate};

const KUBE_API_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";
const STANDARD_POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{
    "Effect": "Allow",
    "Principal": {"Federated": "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE"},
    "Action": "sts:AssumeRoleWithWebIdentity",
    "Condition": {"StringEquals": {
      "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE:sub": "system:serviceaccount:demo:demo-sa",
      "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE:aud": "sts.amazonaws.com"
    }}
  }]
}"#;

/// Built once from the core's healthy-pod fixture: its environment and live results,
/// with a configuration that also watches the kube-api token.
struct Fixture {
    config: Config,
    env: EnvFacts,
    sts: StsSnapshot,
    chain: ChainSnapshot,
    metrics: Metrics,
    policy: Arc<trust::Policy>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let healthy = fixtures::healthy();
        let token_file = healthy.config.token_file.display().to_string();
        let cli = Cli::try_parse_from([
            "irsa-doctor",
            "--token-file",
            &token_file,
            "--token-file",
            KUBE_API_FILE,
            "--role-arn",
            ROLE,
            "--expected-subject",
            SUB,
            "--listen",
            "127.0.0.1:0",
        ])
        .expect("fixed flags parse");
        let config = irsa_doctor::config::from_opts(&cli.opts, |_| None).expect("fixed flags are valid");
        let names: Vec<&str> = std::iter::once("irsa")
            .chain(config.extra_tokens.iter().map(|t| t.name.as_str()))
            .collect();
        let metrics = Metrics::new(&names).expect("metrics register");
        let policy =
            Arc::new(trust::parse(STANDARD_POLICY).expect("standard policy parses"));
        Fixture {
            config,
            env: healthy.env,
            sts: healthy.snapshot.sts,
            chain: healthy.snapshot.chain,
            metrics,
            policy,
        }
    })
}

/// Last second of year 9999, the last RFC 3339 can write.
const YEAR_9999: i64 = 253_402_300_799;

/// `FUZZ_CLOCKS=plausible` judges only at clocks from 1970 to 9999; the default (`any`)
/// also at any earlier clock `SystemTime` can hold, down to ~292 billion years BC.
fn any_clock() -> bool {
    static ANY: OnceLock<bool> = OnceLock::new();
    *ANY.get_or_init(|| std::env::var("FUZZ_CLOCKS").map_or(true, |v| v != "plausible"))
}

/// `secs` as a clock reading, when `SystemTime` can hold it (and, with
/// `FUZZ_CLOCKS=plausible`, when it is between 1970 and 9999).
fn time_at(secs: i64) -> Option<SystemTime> {
    if !any_clock() && !(0..=YEAR_9999).contains(&secs) {
        return None;
    }
    if secs >= 0 {
        UNIX_EPOCH.checked_add(Duration::from_secs(secs as u64))
    } else {
        UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs()))
    }
}

fn snapshot(
    read: &Result<(token::Decoded, u64), ReadError>,
    fx: &Fixture,
    at: SystemTime,
) -> Snapshot {
    let mut token = TokenSnapshot::default();
    token.apply(read.clone(), at);
    let mut snap = Snapshot {
        token: token.clone(),
        extra_tokens: vec![token; fx.config.extra_tokens.len()],
        probe_attempted: true,
        ..Default::default()
    };
    snap.trust_policy.source = Some("file /fuzz/trust-policy.json".into());
    snap.trust_policy.policy = Some(Ok(Arc::clone(&fx.policy)));
    snap.sts = fx.sts.clone();
    snap.chain = fx.chain.clone();
    snap
}

/// Mutates the decoded header (seed % 4 == 1) or claims (seed % 4 >= 2) of a JWT-shaped input.
fn mutate_decoded(data: &mut [u8], size: usize, max_size: usize, seed: u32) -> Option<usize> {
    if seed % 4 == 0 {
        return None;
    }
    let text = std::str::from_utf8(&data[..size]).ok()?;
    let mut parts: Vec<String> = text.trim().split('.').map(str::to_owned).collect();
    if parts.len() != 3 {
        return None;
    }
    let which = if seed % 4 == 1 { 0 } else { 1 };
    let mut raw = URL_SAFE_NO_PAD
        .decode(parts[which].trim_end_matches('='))
        .ok()?;
    let len = raw.len();
    let room = (max_size.saturating_sub(size) * 3 / 4 + len).max(len);
    raw.resize(room, 0);
    let new_len = fuzzer_mutate(&mut raw, len, room);
    raw.truncate(new_len);
    parts[which] = URL_SAFE_NO_PAD.encode(&raw);
    let joined = parts.join(".");
    if joined.len() > max_size {
        return None;
    }
    data[..joined.len()].copy_from_slice(joined.as_bytes());
    Some(joined.len())
}

fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    mutate_decoded(data, size, max_size, seed)
        .unwrap_or_else(|| fuzzer_mutate(data, size, max_size))
});

fuzz_target!(|data: &[u8]| {
    let fx = fixture();
    // token::read_file's gates, without the file.
    let read = if data.len() as u64 > MAX_TOKEN_BYTES {
        Err(MalformedToken::TooLarge {
            size: data.len() as u64,
        })
    } else {
        match std::str::from_utf8(data) {
            Ok(text) => token::decode(text).map(|d| (d, token::fingerprint(text))),
            Err(_) => Err(MalformedToken::NotText),
        }
    };
    let read = read.map_err(|source| {
        // The message is logged and shown in /debug: it must format.
        let _ = source.to_string();
        ReadError::Malformed {
            path: fx.config.token_file.display().to_string(),
            source,
        }
    });

    let mut nows = vec![time_at(NOW).unwrap(), UNIX_EPOCH];
    if let Ok((decoded, _)) = &read {
        let c = &decoded.claims;
        let _ = c.lifetime_seconds();
        for t in [
            c.issued_at,
            c.not_before,
            c.expires_at,
            c.kubernetes.warn_after,
        ]
        .into_iter()
        .flatten()
        {
            let _ = time::rfc3339(t);
            nows.extend(time_at(t));
        }
        if let (Some(iat), Some(exp)) = (c.issued_at, c.expires_at) {
            let _ = findings::refresh_point(iat, exp);
        }
    }

    // Secrets never leave the process: nothing decoded may depend on the signature, so no output can carry it.
    if let Ok(text) = std::str::from_utf8(data)
        && data.len() as u64 <= MAX_TOKEN_BYTES
        && let Some((signed, signature)) = text.trim().rsplit_once('.')
        && signature != "AAAA"
    {
        let resigned = format!("{signed}.AAAA");
        assert_eq!(
            token::decode(text),
            token::decode(&resigned),
            "the decoded token depends on its signature"
        );
    }

    for (i, now) in nows.into_iter().enumerate() {
        let snap = snapshot(&read, fx, now);
        let ctx = Context {
            config: &fx.config,
            env: &fx.env,
            snapshot: &snap,
            now,
        };
        let assessment = Assessment::new(&ctx);
        let report = report::build(&ctx, &assessment);
        let json = report.to_json();
        let text = report.to_text();
        let value: serde_json::Value =
            serde_json::from_str(&json).unwrap_or_else(|e| panic!("report is not JSON: {e}"));
        for field in [
            "version",
            "status",
            "environment",
            "token",
            "sts",
            "credential_chain",
            "findings",
        ] {
            assert!(value.get(field).is_some(), "report lacks {field}");
        }
        assert!(!text.is_empty());
        // Rendering metrics is the slow part: once per input is enough.
        if i == 0 {
            let metrics = fx.metrics.render(&ctx, &assessment);
            assert!(
                metrics.contains("irsa_finding_active"),
                "metrics lack the finding series"
            );
        }
    }
});
