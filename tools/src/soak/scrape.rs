//! Prometheus and curl: `/metrics` and `/debug?format=json` in turn, 20 requests
//! a second, on one keep-alive connection; every answer must be 200 and `/debug` JSON.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use irsa_doctor_emulator::harness::Client;
use serde_json::Value;

use crate::{Stats, lock};

/// Scrapes per second, all endpoints together.
const SCRAPE_RATE: u32 = 20;

pub fn scrape(addr: SocketAddr, stop: &AtomicBool, stats: &Stats) {
    let gap = Duration::from_secs(1) / SCRAPE_RATE;
    let mut client = Client::new(addr);
    let mut n = 0u64;
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        next += gap;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
        let path = if n.is_multiple_of(2) {
            "/metrics"
        } else {
            "/debug?format=json"
        };
        n += 1;
        let sent = Instant::now();
        let answer = client.get(path);
        let took = sent.elapsed().as_micros() as u64;
        stats.slowest_scrape_us.fetch_max(took, Ordering::Relaxed);
        stats.scrapes.fetch_add(1, Ordering::Relaxed);
        let failure = match answer {
            Err(e) => Some(format!("GET {path}: {e}")),
            Ok(r) if r.status != 200 => Some(format!("GET {path}: status {}", r.status)),
            Ok(r) if path.starts_with("/debug") => serde_json::from_str::<Value>(&r.body)
                .err()
                .map(|e| format!("GET {path}: not JSON: {e}")),
            Ok(_) => None,
        };
        if let Some(failure) = failure {
            stats.scrape_failures.fetch_add(1, Ordering::Relaxed);
            lock(&stats.first_failure).get_or_insert(failure);
        }
    }
}
