//! The start gate (`GET /startupz`): closed until the pod's identity has worked once, then
//! open for good; open anyway after `--startup-gate-timeout`, so a broken identity shows in
//! the report and the findings instead of a pod held in `Init` forever.

use std::time::Duration;

use crate::snapshot::Snapshot;

/// Why the gate opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    /// A test-assume or a Pod Identity agent call succeeded.
    Credentials,
    /// `--startup-gate-timeout` passed without one.
    Timeout,
}

impl Opened {
    /// One line for `/startupz` and the log.
    pub fn describe(self) -> &'static str {
        match self {
            Opened::Credentials => "credentials work: a test-assume or agent call succeeded",
            Opened::Timeout => {
                "the start-gate timeout passed without working credentials: the findings in /debug say why"
            }
        }
    }
}

/// Whether the gate opens now, `elapsed` after start. The caller latches the first `Some`:
/// once open it never closes, whatever later probes find.
pub fn gate(snapshot: &Snapshot, elapsed: Duration, timeout: Duration) -> Option<Opened> {
    let worked =
        snapshot.sts.last_success_at.is_some() || snapshot.pod_identity.last_success_at.is_some();
    if worked {
        Some(Opened::Credentials)
    } else if elapsed >= timeout {
        Some(Opened::Timeout)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{NOW, at};

    #[test]
    fn gate_cases() {
        let timeout = Duration::from_secs(120);
        let fresh = Snapshot::default();
        let mut sts_ok = Snapshot::default();
        sts_ok.sts.last_success_at = Some(at(NOW));
        let mut agent_ok = Snapshot::default();
        agent_ok.pod_identity.last_success_at = Some(at(NOW));
        // A success once, failing since: still worked (the caller latches anyway).
        let mut failed_since = sts_ok.clone();
        failed_since.sts.result = crate::snapshot::StsResult::Error;
        let cases: &[(&str, &Snapshot, u64, Option<Opened>)] = &[
            ("nothing yet", &fresh, 0, None),
            ("just before the timeout", &fresh, 119, None),
            ("at the timeout", &fresh, 120, Some(Opened::Timeout)),
            ("STS accepted", &sts_ok, 0, Some(Opened::Credentials)),
            (
                "the agent answered",
                &agent_ok,
                5,
                Some(Opened::Credentials),
            ),
            (
                "success before a failure",
                &failed_since,
                1,
                Some(Opened::Credentials),
            ),
            (
                "success wins over the timeout",
                &sts_ok,
                500,
                Some(Opened::Credentials),
            ),
        ];
        for (name, snap, secs, want) in cases {
            assert_eq!(
                gate(snap, Duration::from_secs(*secs), timeout),
                *want,
                "{name}"
            );
        }
    }
}
