//! The end of the soak: fix the state, make the daemon look, compare its report.

use std::thread;
use std::time::{Duration, Instant, SystemTime};

use irsa_doctor_emulator::harness::{Daemon, request};
use irsa_doctor_emulator::sts::FakeSts;
use serde_json::Value;

use crate::faults::{expected_sts, mode_name};
use crate::kubelet::Volume;
use crate::progress;

/// How long the final report may take to show the final state: under throttling the
/// next scheduled probe may be 4 × 10 s away, but `POST /debug/probe` runs 10 s after the last.
const SETTLE_PATIENCE: Duration = Duration::from_secs(45);

/// Writes a last token, keeps the STS mode that is in effect, has a probe run after
/// both, and compares the report with them.
pub fn settle(daemon: &Daemon, volume: &Volume<'_>, sts: &FakeSts) -> Result<String, String> {
    if volume.is_missing() {
        volume.recreate();
    }
    let exp = volume.rotate().expect("the volume exists");
    let mode = sts.mode();
    let (want_result, want_finding) = expected_sts(&mode);
    let want_exp = irsa_doctor_core::time::rfc3339(exp).expect("exp is a plausible date");
    progress(&format!(
        "settling: STS {}, final token exp {want_exp}",
        mode_name(&mode)
    ));

    // A probe that started after both were set: one we ask for (`POST /debug/probe`, 429
    // within 10 s of the last probe), or the next scheduled or refresh-triggered one.
    let settled_at = irsa_doctor_core::time::unix(SystemTime::now());
    let deadline = Instant::now() + SETTLE_PATIENCE;
    let mut next_post = Instant::now();
    loop {
        if Instant::now() >= next_post {
            match request(daemon.addr(), "POST", "/debug/probe", &[]) {
                Ok(r) if matches!(r.status, 200 | 429) => {}
                Ok(r) => return Err(format!("POST /debug/probe answered {}", r.status)),
                Err(e) => return Err(format!("POST /debug/probe: {e}")),
            }
            next_post = Instant::now() + Duration::from_secs(2);
        }
        let report = request(daemon.addr(), "GET", "/debug?format=json", &[])
            .map_err(|e| format!("GET /debug?format=json: {e}"))
            .and_then(|r| {
                serde_json::from_str::<Value>(&r.body).map_err(|e| format!("not JSON: {e}"))
            })?;
        let attempted = report["sts"]["last_attempt_at"]
            .as_str()
            .and_then(|t| humantime::parse_rfc3339(t).ok())
            .map(irsa_doctor_core::time::unix);
        let exp_seen = report["token"]["expires_at"]
            .as_str()
            .unwrap_or("null")
            .to_owned();
        let result_seen = report["sts"]["result"]
            .as_str()
            .unwrap_or("null")
            .to_owned();
        let sts_codes: Vec<String> = report["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["code"].as_str())
            .filter(|c| c.starts_with("STS_"))
            .map(str::to_owned)
            .collect();
        let finding_ok = match want_finding {
            Some(code) => sts_codes.iter().any(|c| c == code),
            None => sts_codes.is_empty(),
        };
        // Whole seconds: only a probe stamped after the settling second surely saw both.
        let fresh = attempted.is_some_and(|t| t > settled_at);
        let token_ok = exp_seen == want_exp && report["token"]["present"] == true;
        let last_summary = format!(
            "STS {}: sts.result {result_seen}, STS findings {sts_codes:?}, probe at {}; token exp {exp_seen} (want {want_exp}); status {}",
            mode_name(&mode),
            report["sts"]["last_attempt_at"].as_str().unwrap_or("null"),
            report["status"].as_str().unwrap_or("null")
        );
        if fresh && token_ok && result_seen == want_result && finding_ok {
            return Ok(last_summary);
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{last_summary}{}",
                if fresh {
                    ""
                } else {
                    " (no probe after the final state)"
                }
            ));
        }
        thread::sleep(Duration::from_millis(250));
    }
}
