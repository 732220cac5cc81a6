//! The report's `app` section (the application's own calls, from client-side
//! monitoring) and its text `APP` section.

use std::fmt::Write as _;

use serde::Serialize;

use crate::app::explain::AppEvaluation;
use crate::app::{AppSnapshot, EventCounts};
use crate::policy::access::Decision;
use crate::time;

/// What an SRE needs to turn client-side monitoring on, when nothing has arrived.
pub const HOW_TO_ENABLE: &str = "no datagram has arrived: set AWS_CSM_ENABLED=true in the application container (and AWS_CSM_PORT when irsa-doctor listens elsewhere than 31000; AWS_CSM_HOST stays 127.0.0.1, which a pod's containers share). botocore/boto3, the AWS CLI v1 and v2, the Go SDK v1, Java v1, JavaScript v2, .NET, Ruby v3, PHP v3 and C++ send it; the Go SDK v2, Java v2, JavaScript v3 and Rust cannot";

/// `app`: `null` with `--csm-listen off`.
#[derive(Debug, Clone, Serialize)]
pub struct AppSection {
    /// Whether the UDP listener is bound.
    pub listening: bool,
    /// Where it listens.
    pub listen_address: Option<String>,
    /// Why it could not bind.
    pub listen_error: Option<String>,
    /// Datagrams received.
    pub events_received: u64,
    /// Datagrams not recorded in full (malformed, oversized, beyond a cap).
    pub events_dropped: u64,
    /// Datagrams by result.
    pub events: EventsSection,
    /// The latest datagram.
    pub last_event_at: Option<String>,
    /// The application's SDK identities.
    pub sdks: Vec<SdkSection>,
    /// Its calls by service, operation and outcome.
    pub calls: Vec<CallSection>,
    /// Its denied calls, explained.
    pub denials: Vec<DenialSection>,
    /// Its credential provider's failures and calls refused as expired.
    pub credential_failures: Vec<FailureSection>,
    /// How to enable client-side monitoring, when nothing arrived.
    pub notes: Vec<String>,
}

/// `app.events`.
#[derive(Debug, Clone, Serialize)]
pub struct EventsSection {
    /// Recorded in full.
    pub accepted: u64,
    /// Not CSM events.
    pub malformed: u64,
    /// Over 8 KiB.
    pub oversized: u64,
    /// Beyond a cap.
    pub dropped: u64,
}

/// One entry of `app.sdks`.
#[derive(Debug, Clone, Serialize)]
pub struct SdkSection {
    /// `ClientId`.
    pub client_id: String,
    /// The SDK.
    pub sdk: String,
    /// Its version.
    pub version: String,
    /// `web_identity`, `pod_identity`, `imds`, `environment`, `profile`, `process`, `sso`, `other`, `unknown`.
    pub credential_source: &'static str,
    /// How the source is known.
    pub evidence: Option<String>,
    /// The minimum version the pod's identity needs, when this one is older.
    pub minimum_version: Option<&'static str>,
    /// First event.
    pub first_seen: Option<String>,
    /// Latest event.
    pub last_seen: Option<String>,
}

/// One entry of `app.calls`.
#[derive(Debug, Clone, Serialize)]
pub struct CallSection {
    /// The SDK's service id.
    pub service: String,
    /// The operation.
    pub api: String,
    /// The IAM action it needs.
    pub action: String,
    /// The outcome.
    pub outcome: &'static str,
    /// How many.
    pub count: u64,
    /// The latest.
    pub last_seen: Option<String>,
}

/// One entry of `app.denials`.
#[derive(Debug, Clone, Serialize)]
pub struct DenialSection {
    /// The action.
    pub action: String,
    /// The resource AWS named.
    pub resource: Option<String>,
    /// The principal AWS named.
    pub principal: Option<String>,
    /// The error code.
    pub error_code: String,
    /// The error message.
    pub error_message: Option<String>,
    /// How many.
    pub count: u64,
    /// The latest.
    pub last_seen: Option<String>,
    /// The role's policies' decision: `allowed`, `implicit_deny`, `explicit_deny`, `unknown`; null until read.
    pub verdict: Option<&'static str>,
    /// Why, and which case it is.
    pub explanation: String,
    /// What to change.
    pub remediation: String,
}

/// One entry of `app.credential_failures`.
#[derive(Debug, Clone, Serialize)]
pub struct FailureSection {
    /// The action.
    pub action: String,
    /// The error code.
    pub error_code: String,
    /// Its message.
    pub error_message: Option<String>,
    /// Calls refused as expired (rather than the provider failing).
    pub expired: bool,
    /// How many.
    pub count: u64,
    /// The latest.
    pub last_seen: Option<String>,
}

fn at(t: std::time::SystemTime) -> Option<String> {
    time::rfc3339_time(t)
}

/// Builds the section from the snapshot and its evaluation.
pub fn build(app: &AppSnapshot, eval: Option<&AppEvaluation>) -> AppSection {
    let EventCounts {
        accepted,
        malformed,
        oversized,
        dropped,
    } = app.events;
    let mut notes = Vec::new();
    if app.events.received() == 0 && app.listen.is_some() {
        notes.push(HOW_TO_ENABLE.to_owned());
    }
    AppSection {
        listening: app.listen.is_some(),
        listen_address: app.listen.clone(),
        listen_error: app.listen_error.clone(),
        events_received: app.events.received(),
        events_dropped: app.events.not_recorded(),
        events: EventsSection {
            accepted,
            malformed,
            oversized,
            dropped,
        },
        last_event_at: app.last_event_at.and_then(at),
        sdks: app
            .sdks
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let v = eval.and_then(|x| x.sdks.get(i));
                SdkSection {
                    client_id: e.client_id.clone(),
                    sdk: e.sdk.name.clone(),
                    version: e.sdk.version.clone(),
                    credential_source: v.map_or("unknown", |v| v.source.as_str()),
                    evidence: v.and_then(|v| v.evidence.clone()),
                    minimum_version: v.and_then(|v| v.too_old_for),
                    first_seen: at(e.first_seen),
                    last_seen: at(e.last_seen),
                }
            })
            .collect(),
        calls: app
            .calls
            .iter()
            .map(|c| CallSection {
                service: c.service.clone(),
                api: c.api.clone(),
                action: c.action.action.clone(),
                outcome: c.outcome.as_str(),
                count: c.count,
                last_seen: at(c.last_seen),
            })
            .collect(),
        denials: app
            .denials
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let v = eval.and_then(|x| x.denials.get(i));
                DenialSection {
                    action: d.action.clone(),
                    resource: d.resource.clone(),
                    principal: d.principal.clone(),
                    error_code: d.error_code.clone(),
                    error_message: d.error_message.clone(),
                    count: d.count,
                    last_seen: at(d.last_seen),
                    verdict: v.and_then(|v| v.decision).map(Decision::as_str),
                    explanation: v.map(|v| v.explanation.clone()).unwrap_or_default(),
                    remediation: v.map(|v| v.fix.clone()).unwrap_or_default(),
                }
            })
            .collect(),
        credential_failures: app
            .failures
            .iter()
            .map(|f| FailureSection {
                action: f.action.clone(),
                error_code: f.error_code.clone(),
                error_message: f.error_message.clone(),
                expired: f.expired,
                count: f.count,
                last_seen: at(f.last_seen),
            })
            .collect(),
        notes,
    }
}

impl AppSection {
    /// The text `APP` section: listener, SDKs, calls, denials.
    pub(super) fn write_text(&self, o: &mut String) {
        let listen = match (&self.listen_address, &self.listen_error) {
            (Some(a), _) => format!("udp {a}"),
            (None, Some(e)) => format!("not listening: {e}"),
            (None, None) => "starting".into(),
        };
        let _ = writeln!(o, "\nAPP  client-side monitoring on {listen}");
        let _ = writeln!(
            o,
            "  events        {} received ({} accepted, {} malformed, {} oversized, {} dropped), last {}",
            self.events_received,
            self.events.accepted,
            self.events.malformed,
            self.events.oversized,
            self.events.dropped,
            self.last_event_at.as_deref().unwrap_or("never")
        );
        for s in &self.sdks {
            let client = if s.client_id.is_empty() {
                String::new()
            } else {
                format!(" [{}]", s.client_id)
            };
            let old = s
                .minimum_version
                .map(|m| format!(", TOO OLD (minimum {m})"))
                .unwrap_or_default();
            let _ = writeln!(
                o,
                "  sdk           {} {}{client}: credentials {}{old}{}",
                s.sdk,
                s.version,
                s.credential_source,
                s.evidence
                    .as_deref()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            );
        }
        for c in &self.calls {
            let _ = writeln!(
                o,
                "  call          {:<40} {:<19} x{}",
                c.action, c.outcome, c.count
            );
        }
        for d in &self.denials {
            let _ = writeln!(
                o,
                "  DENIED        {} on {} x{}: {}",
                d.action,
                d.resource.as_deref().unwrap_or("(resource not named)"),
                d.count,
                d.explanation
            );
        }
        for f in &self.credential_failures {
            let _ = writeln!(
                o,
                "  FAILING       {} {} x{}",
                f.action, f.error_code, f.count
            );
        }
        for n in &self.notes {
            let _ = writeln!(o, "  note          {n}");
        }
    }
}
