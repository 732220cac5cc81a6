//! When to probe STS next (SPEC section 8): a pure function of the last
//! outcomes, the configured interval and a jitter draw, so it can be tested
//! over a simulated day without waiting.
//!
//! - healthy: the interval, ±10%;
//! - after failures: 10 s, doubling per consecutive failure, capped at the interval;
//! - after throttling: the interval doubled per consecutive throttle, capped at 4×;
//! - always jittered, so a fleet of pods never probes STS in lockstep.

use std::time::Duration;

use crate::snapshot::StsFailure;

/// First retry delay after a failure.
pub const FAILURE_BASE: Duration = Duration::from_secs(10);
/// Throttling backs off to at most this multiple of the interval.
pub const THROTTLE_MAX_FACTOR: u32 = 4;
/// Jitter is ±10% of the delay.
pub const JITTER_FRACTION: f64 = 0.10;
/// Planning figure for STS's request rate per account and Region. AWS does not publish one
/// number for every account; confirm yours in Service Quotas. The default schedule keeps a
/// 10,000-pod fleet under 10% of it (ARCHITECTURE.md, "STS fleet budget").
pub const STS_QUOTA_RPS: f64 = 600.0;
/// A probe is never scheduled sooner than this, whatever the configuration.
const MIN_DELAY: Duration = Duration::from_secs(1);

/// The outcomes that decide the next delay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backoff {
    /// Failures (any kind) since the last success.
    pub consecutive_failures: u32,
    /// Throttled answers since the last non-throttled outcome.
    pub consecutive_throttles: u32,
}

impl Backoff {
    /// Records one probe outcome (`None` is success).
    pub fn record(&mut self, failure: Option<StsFailure>) {
        match failure {
            None => *self = Backoff::default(),
            Some(StsFailure::Throttled) => {
                self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                self.consecutive_throttles = self.consecutive_throttles.saturating_add(1);
            }
            Some(_) => {
                self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                self.consecutive_throttles = 0;
            }
        }
    }

    /// The delay before the next probe. `jitter` is a uniform draw in `[0, 1)`.
    pub fn next_delay(&self, interval: Duration, jitter: f64) -> Duration {
        let base = if self.consecutive_throttles > 0 {
            let factor = 2u32
                .saturating_pow(self.consecutive_throttles)
                .min(THROTTLE_MAX_FACTOR);
            interval.saturating_mul(factor)
        } else if self.consecutive_failures > 0 {
            let doubling = 2u32.saturating_pow(self.consecutive_failures - 1);
            FAILURE_BASE.saturating_mul(doubling).min(interval)
        } else {
            interval
        };
        let factor = 1.0 + JITTER_FRACTION * (2.0 * jitter.clamp(0.0, 1.0) - 1.0);
        base.mul_f64(factor).max(MIN_DELAY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN5: Duration = Duration::from_secs(300);

    fn after(outcomes: &[Option<StsFailure>]) -> Backoff {
        let mut b = Backoff::default();
        for o in outcomes {
            b.record(*o);
        }
        b
    }

    #[test]
    fn delay_table() {
        use StsFailure::*;
        let s = |secs: u64| Duration::from_secs(secs);
        // (name, outcomes, delay without jitter)
        let cases: &[(&str, &[Option<StsFailure>], Duration)] = &[
            ("first probe", &[], MIN5),
            ("healthy", &[None, None], MIN5),
            ("one failure", &[Some(Rejected)], s(10)),
            ("two failures", &[Some(Rejected), Some(Unreachable)], s(20)),
            ("five failures", &[Some(Unreachable); 5], s(160)),
            ("failures cap at interval", &[Some(Unreachable); 9], MIN5),
            (
                "recovery resets",
                &[Some(Rejected), Some(Rejected), None],
                MIN5,
            ),
            ("one throttle doubles", &[Some(Throttled)], s(600)),
            ("two throttles: 4x", &[Some(Throttled); 2], s(1200)),
            ("throttling caps at 4x", &[Some(Throttled); 6], s(1200)),
            (
                "failure after throttling: failure backoff",
                &[Some(Throttled), Some(Rejected)],
                s(20),
            ),
        ];
        for (name, outcomes, want) in cases {
            assert_eq!(after(outcomes).next_delay(MIN5, 0.5), *want, "{name}");
        }
    }

    #[test]
    fn jitter_is_ten_percent_either_way() {
        let b = Backoff::default();
        assert_eq!(b.next_delay(MIN5, 0.0), Duration::from_secs(270));
        assert_eq!(b.next_delay(MIN5, 1.0), Duration::from_secs(330));
        assert_eq!(
            b.next_delay(MIN5, 7.0),
            Duration::from_secs(330),
            "out-of-range draws are clamped"
        );
        let f = after(&[Some(StsFailure::Rejected)]);
        assert_eq!(f.next_delay(MIN5, 0.0), Duration::from_secs(9));
    }

    #[test]
    fn never_zero() {
        assert_eq!(
            Backoff::default().next_delay(Duration::from_millis(10), 0.0),
            MIN_DELAY
        );
    }

    /// STS calls one pod makes over a simulated day, with injected jitter and no waiting:
    /// 1 call per probe while healthy (the caller is verified once), 1 per attempt while failing,
    /// plus an early probe after each kubelet refresh of a 24 h token (every 19.2 h).
    fn calls_in_a_day(seed: u64, outcome: Option<StsFailure>) -> f64 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut b = Backoff::default();
        let mut t = 0.0;
        let mut calls = 0.0;
        while t < 86_400.0 {
            b.record(outcome);
            t += b.next_delay(MIN5, rng.f64()).as_secs_f64();
            calls += 1.0;
        }
        calls + 86_400.0 / (0.8 * 86_400.0)
    }

    #[test]
    fn fleet_budget_over_a_simulated_day() {
        const PODS: f64 = 10_000.0;
        let budget = 0.10 * STS_QUOTA_RPS;
        // (state, all pods in it at once)
        let cases = [
            ("healthy", None),
            ("STS down everywhere", Some(StsFailure::Unreachable)),
            ("throttled everywhere", Some(StsFailure::Throttled)),
        ];
        for (state, outcome) in cases {
            let per_pod = (0..200)
                .map(|seed| calls_in_a_day(seed, outcome))
                .sum::<f64>()
                / 200.0;
            let fleet_rps = per_pod * PODS / 86_400.0;
            assert!(
                fleet_rps < budget,
                "{state}: {fleet_rps:.1} req/s is over 10% of {STS_QUOTA_RPS} ({per_pod:.0} calls/pod/day)"
            );
        }
        // The healthy figure ARCHITECTURE.md quotes: ~12 calls per pod per hour, ~33 req/s for the fleet.
        let healthy = (0..200).map(|seed| calls_in_a_day(seed, None)).sum::<f64>() / 200.0 / 24.0;
        assert!(
            (11.5..=12.5).contains(&healthy),
            "{healthy} calls per pod per hour"
        );
    }

    /// A simulated day at the default interval: the number of scheduled probes stays
    /// within the jitter band, so the fleet budget in ARCHITECTURE.md holds.
    #[test]
    fn a_simulated_healthy_day() {
        let mut rng = fastrand::Rng::with_seed(7);
        let b = Backoff::default();
        let mut t = Duration::ZERO;
        let mut probes = 0u32;
        while t < Duration::from_secs(86_400) {
            t += b.next_delay(MIN5, rng.f64());
            probes += 1;
        }
        // 288 probes at exactly 5 min; ±10% jitter keeps the count close to it.
        assert!((270..=300).contains(&probes), "{probes}");
    }
}
