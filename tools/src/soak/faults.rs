//! STS faults: every ~20 s the fake STS flips healthy → throttled → denied
//! (403 AccessDenied) → down (connection closed) → healthy ..., and what the
//! report must then show.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use irsa_doctor_emulator::sts::{FakeSts, StsMode};

use crate::{Stats, sleep_unless_stopped};

const FLIP_EVERY: Duration = Duration::from_secs(20);

fn modes() -> [StsMode; 4] {
    [
        StsMode::Healthy,
        StsMode::Throttle,
        StsMode::Error {
            status: 403,
            code: "AccessDenied".into(),
            message: "Not authorized to perform sts:AssumeRoleWithWebIdentity".into(),
        },
        StsMode::Down,
    ]
}

pub fn flip(sts: &FakeSts, stop: &AtomicBool, stats: &Stats) {
    let modes = modes();
    let mut next = 1;
    while !sleep_unless_stopped(FLIP_EVERY, stop) {
        sts.set_mode(modes[next % modes.len()].clone());
        stats.flips.fetch_add(1, Ordering::Relaxed);
        next += 1;
    }
}

/// What the report must show for the STS mode in effect.
pub fn expected_sts(mode: &StsMode) -> (&'static str, Option<&'static str>) {
    match mode {
        StsMode::Healthy => ("success", None),
        StsMode::Throttle => ("error", Some("STS_THROTTLED")),
        StsMode::Down => ("error", Some("STS_UNREACHABLE")),
        _ => ("error", Some("STS_ASSUME_FAILED")),
    }
}

pub fn mode_name(mode: &StsMode) -> String {
    match mode {
        StsMode::Healthy => "healthy".into(),
        StsMode::Throttle => "throttled".into(),
        StsMode::Down => "down".into(),
        StsMode::Error { code, .. } => format!("denied ({code})"),
        other => format!("{other:?}"),
    }
}
