//! When to probe STS next (docs/reference.md#faults-and-bad-input): a pure function of the last
//! outcomes, the configured interval and a jitter draw, so it can be tested
//! over a simulated day without waiting.
//!
//! - healthy: the interval, ±10%;
//! - after failures: 10 s, doubling per consecutive failure, capped at the interval;
//! - after throttling: the interval doubled per consecutive throttle, capped at 4×;
//! - always jittered, so a fleet of pods never probes STS in lockstep.

use std::time::{Duration, Instant};

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
/// `POST /debug/probe` and refresh-triggered probes run at most once per this window,
/// counted from the last probe that ran (scheduled or requested).
pub const ON_DEMAND_WINDOW: Duration = Duration::from_secs(10);
/// A token refresh triggers a probe this long after its first event at the earliest:
/// a kubelet swap is several events.
pub const REFRESH_DEBOUNCE: Duration = Duration::from_secs(2);
/// `--fetch-trust-policy` re-reads the policy with `iam:GetRole` at most this often.
pub const POLICY_REFETCH: Duration = Duration::from_secs(3600);

/// Whether an on-demand probe may run at `now`, given when the last probe ran. A refused
/// call does not move the window (the caller only records runs).
pub fn on_demand_allowed(last_run: Option<Instant>, now: Instant) -> bool {
    last_run.is_none_or(|t| now.saturating_duration_since(t) >= ON_DEMAND_WINDOW)
}

/// Whether a token refresh (`reloads` moved past `seen`) asks for an early probe: never while
/// STS is throttling us, since the early probe would only add to the load.
pub fn refresh_wants_probe(seen: u64, reloads: u64, backoff: &Backoff) -> bool {
    reloads != seen && backoff.consecutive_throttles == 0
}

/// How long after a refresh event to run the early probe: the debounce, and at least what is
/// left of the on-demand window, so a token rewritten every second cannot multiply STS calls —
/// but never later than the probe already `scheduled` that far ahead: a refresh may bring a
/// probe forward, never push one back (with `--probe-interval 2s` the window alone would delay
/// a rotated token's check to 10 s).
pub fn early_probe_delay(last_run: Option<Instant>, now: Instant, scheduled: Duration) -> Duration {
    let since_last = last_run.map_or(ON_DEMAND_WINDOW, |t| now.saturating_duration_since(t));
    REFRESH_DEBOUNCE
        .max(ON_DEMAND_WINDOW.saturating_sub(since_last))
        .min(scheduled)
}

/// Whether the hourly `iam:GetRole` is due at `now`: on the first probe, then hourly (IAM's
/// control plane has low rate limits and a trust policy changes rarely).
pub fn policy_fetch_due(last_fetch: Option<Instant>, now: Instant) -> bool {
    last_fetch.is_none_or(|t| now.saturating_duration_since(t) >= POLICY_REFETCH)
}

/// `--expect-access` re-reads the role's policies at most this often (also on a changed
/// role and on `POST /debug/probe`): IAM's control plane has low rate limits.
pub const ACCESS_REREAD: Duration = Duration::from_secs(3600);

/// Whether the next probe reads the role's policies for `--expect-access` at `now`: never
/// read, read for another role than `role`, read an hour ago, or asked for (`forced`, by
/// `POST /debug/probe`, itself at most once per [`ON_DEMAND_WINDOW`]).
pub fn access_read_due(
    last: Option<(Instant, &str)>,
    role: &str,
    forced: bool,
    now: Instant,
) -> bool {
    forced
        || last.is_none_or(|(t, read_for)| {
            read_for != role || now.saturating_duration_since(t) >= ACCESS_REREAD
        })
}

/// Requests per test-assume at most, as in the SDK's standard retry mode.
pub const MAX_ATTEMPTS: u32 = 3;
/// The standard retry mode's initial backoff and its cap.
const RETRY_INITIAL: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(20);

/// The wait before retry number `retry` (1 for the first), with full jitter as the SDK's
/// standard retry mode computes it: `jitter × 1 s × 2^(retry-1)`, capped at 20 s.
pub fn retry_delay(retry: u32, jitter: f64) -> Duration {
    let exp = 2u32.saturating_pow(retry.saturating_sub(1));
    RETRY_INITIAL
        .saturating_mul(exp)
        .min(RETRY_MAX)
        .mul_f64(jitter.clamp(0.0, 1.0))
}

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

/// The shortest time between two reads of the role's policies that the application's
/// denials trigger: the first denial of an action reads them at once, at most once a minute.
pub const APP_POLICY_READ_MIN_GAP: Duration = Duration::from_secs(60);

/// How long to wait before reading the role's policies for a new denial, given the last read.
pub fn app_policy_read_delay(last_read: Option<Instant>, now: Instant) -> Duration {
    last_read.map_or(Duration::ZERO, |at| {
        APP_POLICY_READ_MIN_GAP.saturating_sub(now.saturating_duration_since(at))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rate-limit, debounce and refetch rules, over an injected clock.
    #[test]
    fn probe_timing_rules() {
        #[allow(clippy::disallowed_methods)] // any instant serves as the table's epoch
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let on_demand = [
            ("never probed", None, at(0), true),
            ("just probed", Some(at(0)), at(0), false),
            ("inside the window", Some(at(0)), at(9), false),
            ("window over", Some(at(0)), at(10), true),
            ("clock before the last run", Some(at(5)), at(0), false),
        ];
        for (name, last, now, want) in on_demand {
            assert_eq!(on_demand_allowed(last, now), want, "on demand: {name}");
        }
        let far = Duration::from_secs(300);
        #[rustfmt::skip]
        let early = [
            ("no probe yet: debounce only", None, at(0), far, REFRESH_DEBOUNCE),
            ("probe 1 s ago: rest of the window", Some(at(0)), at(1), far, Duration::from_secs(9)),
            ("probe 9 s ago: debounce wins", Some(at(0)), at(9), far, REFRESH_DEBOUNCE),
            ("long ago", Some(at(0)), at(600), far, REFRESH_DEBOUNCE),
            // --probe-interval 2s: the scheduled probe is due before the window ends.
            ("scheduled sooner than the window", Some(at(0)), at(1), Duration::from_millis(800), Duration::from_millis(800)),
            ("scheduled sooner than the debounce", None, at(0), Duration::ZERO, Duration::ZERO),
        ];
        for (name, last, now, scheduled, want) in early {
            assert_eq!(
                early_probe_delay(last, now, scheduled),
                want,
                "early: {name}"
            );
        }
        let throttled = Backoff {
            consecutive_failures: 1,
            consecutive_throttles: 1,
        };
        let failing = Backoff {
            consecutive_failures: 2,
            consecutive_throttles: 0,
        };
        let refresh = [
            ("same token", 3, 3, Backoff::default(), false),
            ("refreshed", 3, 4, Backoff::default(), true),
            (
                "refreshed while failing: confirm early",
                3,
                4,
                failing,
                true,
            ),
            ("refreshed while throttled: wait", 3, 4, throttled, false),
        ];
        for (name, seen, now, backoff, want) in refresh {
            assert_eq!(
                refresh_wants_probe(seen, now, &backoff),
                want,
                "refresh: {name}"
            );
        }
        let fetch = [
            ("first probe", None, at(0), true),
            ("a minute later", Some(at(0)), at(60), false),
            ("an hour later", Some(at(0)), at(3600), true),
        ];
        for (name, last, now, want) in fetch {
            assert_eq!(policy_fetch_due(last, now), want, "policy fetch: {name}");
        }
    }

    #[test]
    fn access_read_budget() {
        const ROLE: &str = "arn:aws:iam::1:role/a";
        #[allow(clippy::disallowed_methods)] // any instant serves as the table's epoch
        let t0 = Instant::now();
        let min = |m: u64| t0 + Duration::from_secs(60 * m);
        /// (case, last read: when and for which role, forced, now, due)
        type Case<'a> = (&'a str, Option<(Instant, &'a str)>, bool, Instant, bool);
        let cases: [Case; 7] = [
            ("first probe", None, false, min(0), true),
            (
                "same role, 5 min later",
                Some((min(0), ROLE)),
                false,
                min(5),
                false,
            ),
            (
                "same role, 59 min later",
                Some((min(0), ROLE)),
                false,
                min(59),
                false,
            ),
            (
                "same role, an hour later",
                Some((min(0), ROLE)),
                false,
                min(60),
                true,
            ),
            (
                "the role changed",
                Some((min(0), "arn:aws:iam::1:role/b")),
                false,
                min(5),
                true,
            ),
            (
                "POST /debug/probe",
                Some((min(0), ROLE)),
                true,
                min(1),
                true,
            ),
            (
                "a clock that went back reads nothing early",
                Some((min(5), ROLE)),
                false,
                min(0),
                false,
            ),
        ];
        for (name, last, forced, now, want) in cases {
            assert_eq!(access_read_due(last, ROLE, forced, now), want, "{name}");
        }
    }

    #[test]
    fn retries_back_off_like_the_sdk_standard_mode() {
        assert_eq!(retry_delay(1, 1.0), Duration::from_secs(1));
        assert_eq!(retry_delay(2, 1.0), Duration::from_secs(2));
        assert_eq!(retry_delay(2, 0.5), Duration::from_secs(1));
        assert_eq!(retry_delay(1, 0.0), Duration::ZERO);
        assert_eq!(retry_delay(10, 1.0), Duration::from_secs(20), "capped");
        assert_eq!(
            retry_delay(99, 7.0),
            Duration::from_secs(20),
            "jitter clamped"
        );
    }

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
