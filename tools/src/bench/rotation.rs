//! How fast a kubelet token rotation reaches `/metrics`.

use std::thread;
use std::time::{Duration, Instant};

use irsa_doctor_emulator::harness::{Client, Daemon, PATIENCE, Pod, sample};

use crate::daemon::{LIFETIME, mint};
use crate::report::{Row, format_ms, percentile, progress};

/// The series a rotation must change.
const EXPIRY_SERIES: &str = "irsa_token_expiry_timestamp_seconds{token=\"irsa\"}";
/// Pause between rotations, so the trailing events of one swap (removal of the old
/// directory) and the daemon's re-read settle before the next rotation is timed.
const ROTATION_GAP: Duration = Duration::from_millis(200);

/// Each rotation is a kubelet-style symlink swap of a token with a new `exp`; the clock
/// runs from just before the swap (signing is done already) until `/metrics` shows it.
pub fn latency(daemon: &Daemon, pod: &Pod, rotations: u32) -> Row {
    progress(&format!("{rotations} token rotations"));
    let mut client = Client::new(daemon.addr());
    let mut latencies = Vec::new();
    for i in 1..=rotations {
        // A lifetime one second longer each time gives every token a distinct `exp`.
        let (token, exp) = mint(LIFETIME + i64::from(i));
        let swapped = Instant::now();
        pod.writer
            .write_token(token.as_bytes())
            .expect("rotate the token");
        loop {
            let metrics = client.get("/metrics").expect("GET /metrics").body;
            if sample(&metrics, EXPIRY_SERIES) == Some(exp as f64) {
                break;
            }
            assert!(
                swapped.elapsed() < PATIENCE,
                "rotation {i}: exp {exp} never reached /metrics"
            );
        }
        latencies.push(swapped.elapsed());
        thread::sleep(ROTATION_GAP);
    }
    latencies.sort();
    let median = percentile(&latencies, 0.5);
    let max = percentile(&latencies, 1.0);
    Row::judged(
        format!("rotation → /metrics latency ({rotations} rotations)"),
        format!("median {}, max {}", format_ms(median), format_ms(max)),
        "< 100 ms",
        max < Duration::from_millis(100),
    )
}
