//! The application's own AWS calls, as its SDK reports them over client-side
//! monitoring (CSM): what it called, with which SDK and credentials, and what failed.
//!
//! The shell's listener parses each datagram (`csm`) and folds it into the one
//! [`AppSnapshot`] (`AppSnapshot::ingest`); everything the report, the findings and
//! the metrics say about the application is read from it. It is bounded by
//! construction: at most [`MAX_SDKS`] SDK identities, [`MAX_CALL_SERIES`] call
//! series, [`MAX_DENIALS`] denials and [`MAX_FAILURES`] credential failures, however
//! many datagrams arrive and whatever they contain.

pub mod actions;
pub mod csm;
pub mod denial;
pub mod explain;
mod iam_actions;
pub mod least_privilege;
pub mod sdk;

use std::time::SystemTime;

use csm::{Call, Datagram, KeyEvidence, Rejected};
pub use denial::Outcome;
use sdk::CredentialSource;

/// SDK identities (client id, SDK, version) kept; later ones still count as calls.
pub const MAX_SDKS: usize = 64;
/// `irsa_app_api_calls_total` series, the folded `other` ones included.
pub const MAX_CALL_SERIES: usize = 512;
/// Distinct (action, resource) denials kept.
pub const MAX_DENIALS: usize = 64;
/// Distinct credential failures kept.
pub const MAX_FAILURES: usize = 16;
/// What the findings call recent: a call older than this no longer raises one.
pub const RECENT_SECS: u64 = 15 * 60;
/// The label value calls beyond [`MAX_CALL_SERIES`] are folded into.
pub const OTHER: &str = "other";

/// The datagrams received, by `irsa_app_events_total{result}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventCounts {
    /// Parsed and recorded in full.
    pub accepted: u64,
    /// Not a CSM event.
    pub malformed: u64,
    /// Over the size cap.
    pub oversized: u64,
    /// Parsed, but beyond a cap (folded into `other`, or an SDK or denial not kept).
    pub dropped: u64,
}

impl EventCounts {
    /// Every datagram received.
    pub fn received(&self) -> u64 {
        self.accepted + self.malformed + self.oversized + self.dropped
    }

    /// Every datagram not recorded in full.
    pub fn not_recorded(&self) -> u64 {
        self.malformed + self.oversized + self.dropped
    }
}

/// One SDK identity of the application (a process or client, its SDK and version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdkEntry {
    /// `ClientId` (`AWS_CSM_CLIENT_ID`; empty by default).
    pub client_id: String,
    /// The SDK as its `User-Agent` names it.
    pub sdk: sdk::Sdk,
    /// The credential source its `m/` business metrics name, when it sends them.
    pub said_source: Option<CredentialSource>,
    /// What the key of its latest signed attempt tells (never the key).
    pub key: Option<KeyEvidence>,
    /// The principal the latest authorization error of its calls named.
    pub denied_as: Option<String>,
    /// First event.
    pub first_seen: SystemTime,
    /// Latest event.
    pub last_seen: SystemTime,
}

/// Calls of one (service, operation, outcome).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallEntry {
    /// The SDK's service id (`S3`), or `other` when folded.
    pub service: String,
    /// The operation (`PutObject`), or `other`.
    pub api: String,
    /// The IAM side (prefix, action, whether an identity policy governs it).
    pub action: actions::Action,
    /// The outcome.
    pub outcome: Outcome,
    /// How many calls.
    pub count: u64,
    /// The latest.
    pub last_seen: SystemTime,
}

/// Denials of one (action, resource).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DenialEntry {
    /// The IAM action (from the message when it names one, else from the call).
    pub action: String,
    /// The resource the message names, if any.
    pub resource: Option<String>,
    /// The principal the message names, if any.
    pub principal: Option<String>,
    /// The policy type the message says decided, and whether by an explicit deny.
    pub policy: Option<(denial::PolicyType, bool)>,
    /// The error code (`AccessDenied`).
    pub error_code: String,
    /// The error message (capped).
    pub error_message: Option<String>,
    /// How many calls.
    pub count: u64,
    /// The first.
    pub first_seen: SystemTime,
    /// The latest.
    pub last_seen: SystemTime,
}

/// Failures of the application's credentials: its provider's own calls failing, or its
/// calls refused as signed with expired credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureEntry {
    /// `sts:AssumeRoleWithWebIdentity`, or the action refused as expired.
    pub action: String,
    /// The error code, or the SDK's exception.
    pub error_code: String,
    /// Its message (capped).
    pub error_message: Option<String>,
    /// Whether these are calls refused as expired (rather than the provider failing).
    pub expired: bool,
    /// How many.
    pub count: u64,
    /// The latest.
    pub last_seen: SystemTime,
}

/// Everything seen of the application; `Snapshot::app` is `None` with `--csm-listen off`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSnapshot {
    /// Where the listener is bound, once it is.
    pub listen: Option<String>,
    /// Why it could not bind, when it could not.
    pub listen_error: Option<String>,
    /// Datagrams by result.
    pub events: EventCounts,
    /// The latest datagram.
    pub last_event_at: Option<SystemTime>,
    /// SDK identities, first seen first.
    pub sdks: Vec<SdkEntry>,
    /// Calls, first seen first.
    pub calls: Vec<CallEntry>,
    /// Denials, first seen first.
    pub denials: Vec<DenialEntry>,
    /// Credential failures, first seen first.
    pub failures: Vec<FailureEntry>,
}

/// What one datagram did, for the counters the shell keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ingested {
    /// `irsa_app_events_total{result}`: `accepted`, `malformed`, `oversized` or `dropped`.
    pub result: &'static str,
    /// `irsa_app_api_calls_total{service, action, outcome}` to count, for an `ApiCall`.
    pub call: Option<(String, String, Outcome)>,
    /// The first denial of an action: the role's policies are worth reading now.
    pub new_denied_action: Option<String>,
}

impl Ingested {
    fn rejected(r: Rejected) -> Ingested {
        Ingested {
            result: match r {
                Rejected::Oversized => "oversized",
                Rejected::Malformed => "malformed",
            },
            call: None,
            new_denied_action: None,
        }
    }
}

impl AppSnapshot {
    /// An empty snapshot of a listener that is starting.
    pub fn new() -> AppSnapshot {
        AppSnapshot {
            listen: None,
            listen_error: None,
            events: EventCounts::default(),
            last_event_at: None,
            sdks: Vec::new(),
            calls: Vec::new(),
            denials: Vec::new(),
            failures: Vec::new(),
        }
    }

    /// Folds one parsed datagram (or its rejection) received at `now` into the snapshot.
    pub fn ingest(&mut self, parsed: Result<Datagram, Rejected>, now: SystemTime) -> Ingested {
        self.last_event_at = Some(now);
        let datagram = match parsed {
            Ok(d) => d,
            Err(r) => {
                match r {
                    Rejected::Oversized => self.events.oversized += 1,
                    Rejected::Malformed => self.events.malformed += 1,
                }
                return Ingested::rejected(r);
            }
        };
        let mut complete = true;
        let mut out = Ingested {
            result: "accepted",
            call: None,
            new_denied_action: None,
        };
        match datagram {
            Datagram::Attempt(a) => match self.sdk_entry(&a.client_id, &a.user_agent, now) {
                Some(entry) => {
                    if a.key.is_some() {
                        entry.key = a.key;
                    }
                }
                None => complete = false,
            },
            Datagram::Call(c) => {
                let outcome = denial::classify(
                    c.status,
                    c.error_code.as_deref(),
                    c.error_message.as_deref(),
                    c.sdk_exception.as_deref(),
                );
                let action = actions::action_for(&c.service, &c.api);
                // A refused `AssumeRoleWithWebIdentity` is the credential provider failing (the
                // trust policy decides it), not a denial the role's policies could explain.
                let said = (outcome == Outcome::Denied && action.needs_identity_policy)
                    .then(|| denial::parse(c.error_message.as_deref().unwrap_or("")));
                match self.sdk_entry(&c.client_id, &c.user_agent, now) {
                    Some(entry) => {
                        if let Some(p) = said.as_ref().and_then(|s| s.principal.clone()) {
                            entry.denied_as = Some(p);
                        }
                    }
                    None => complete = false,
                }
                let (labels, kept) = self.count_call(&c, action.clone(), outcome, now);
                complete &= kept;
                out.call = Some(labels);
                if let Some(said) = said {
                    let (kept, new) = self.record_denial(&c, &action.action, said, now);
                    complete &= kept;
                    out.new_denied_action = new;
                }
                complete &= self.record_failure(&c, &action.action, outcome, now);
            }
        }
        if complete {
            self.events.accepted += 1;
        } else {
            self.events.dropped += 1;
            out.result = "dropped";
        }
        out
    }

    /// The SDK identity of an event, created if there is room; `None` beyond [`MAX_SDKS`]
    /// or for a `User-Agent` that names no SDK.
    fn sdk_entry(
        &mut self,
        client_id: &str,
        user_agent: &str,
        now: SystemTime,
    ) -> Option<&mut SdkEntry> {
        let sdk = sdk::parse(user_agent)?;
        let said = sdk::credential_source(user_agent);
        let found = self
            .sdks
            .iter()
            .position(|e| e.client_id == client_id && e.sdk == sdk);
        let i = match found {
            Some(i) => i,
            None if self.sdks.len() < MAX_SDKS => {
                self.sdks.push(SdkEntry {
                    client_id: client_id.to_owned(),
                    sdk,
                    said_source: None,
                    key: None,
                    denied_as: None,
                    first_seen: now,
                    last_seen: now,
                });
                self.sdks.len() - 1
            }
            None => return None,
        };
        let entry = self.sdks.get_mut(i)?;
        entry.last_seen = now;
        // The metrics describe the credentials of this request; keep the latest that says.
        if said.is_some() {
            entry.said_source = said;
        }
        Some(entry)
    }

    /// Counts a call; returns its metric labels and whether it has a series of its own.
    fn count_call(
        &mut self,
        c: &Call,
        action: actions::Action,
        outcome: Outcome,
        now: SystemTime,
    ) -> ((String, String, Outcome), bool) {
        let same = |e: &CallEntry, service: &str, api: &str| {
            e.service == service && e.api == api && e.outcome == outcome
        };
        if let Some(e) = self.calls.iter_mut().find(|e| same(e, &c.service, &c.api)) {
            e.count += 1;
            e.last_seen = now;
            return (
                (e.action.prefix.clone(), e.action.action.clone(), outcome),
                true,
            );
        }
        // Room is kept for one folded series per outcome, so the total never passes the cap.
        let room = MAX_CALL_SERIES - Outcome::ALL.len();
        let real = self.calls.iter().filter(|e| e.service != OTHER).count();
        if real < room {
            let labels = (action.prefix.clone(), action.action.clone(), outcome);
            self.calls.push(CallEntry {
                service: c.service.clone(),
                api: c.api.clone(),
                action,
                outcome,
                count: 1,
                last_seen: now,
            });
            return (labels, true);
        }
        let labels = (OTHER.to_owned(), OTHER.to_owned(), outcome);
        match self.calls.iter_mut().find(|e| same(e, OTHER, OTHER)) {
            Some(e) => {
                e.count += 1;
                e.last_seen = now;
            }
            None => self.calls.push(CallEntry {
                service: OTHER.into(),
                api: OTHER.into(),
                action: actions::Action {
                    prefix: OTHER.into(),
                    action: OTHER.into(),
                    needs_identity_policy: false,
                },
                outcome,
                count: 1,
                last_seen: now,
            }),
        }
        (labels, false)
    }

    /// Records a denial; whether it was kept, and the action when it is the first denial of it.
    fn record_denial(
        &mut self,
        c: &Call,
        called: &str,
        said: denial::Said,
        now: SystemTime,
    ) -> (bool, Option<String>) {
        // The message's action wins: an S3 HeadObject is refused as s3:GetObject.
        let action = said.action.clone().unwrap_or_else(|| called.to_owned());
        let new_action = !self.denials.iter().any(|d| d.action == action);
        let code = c.error_code.clone().unwrap_or_else(|| "403".into());
        if let Some(d) = self
            .denials
            .iter_mut()
            .find(|d| d.action == action && d.resource == said.resource)
        {
            d.count += 1;
            d.last_seen = now;
            d.error_code = code;
            d.error_message.clone_from(&c.error_message);
            if said.principal.is_some() {
                d.principal = said.principal;
            }
            if said.policy.is_some() {
                d.policy = said.policy;
            }
            return (true, None);
        }
        if self.denials.len() >= MAX_DENIALS {
            return (false, None);
        }
        self.denials.push(DenialEntry {
            action: action.clone(),
            resource: said.resource,
            principal: said.principal,
            policy: said.policy,
            error_code: code,
            error_message: c.error_message.clone(),
            count: 1,
            first_seen: now,
            last_seen: now,
        });
        (true, new_action.then_some(action))
    }

    /// Records a credential failure, if the call is one; false when it could not be kept.
    fn record_failure(
        &mut self,
        c: &Call,
        action: &str,
        outcome: Outcome,
        now: SystemTime,
    ) -> bool {
        let provider_call =
            action == "sts:AssumeRoleWithWebIdentity" && outcome != Outcome::Success;
        let expired = outcome == Outcome::CredentialsExpired;
        if !provider_call && !expired {
            return true;
        }
        let code = c
            .error_code
            .clone()
            .or_else(|| c.sdk_exception.clone())
            .or_else(|| c.status.map(|s| format!("HTTP {s}")))
            .unwrap_or_else(|| "no answer".into());
        let message = c
            .error_message
            .clone()
            .or_else(|| c.sdk_exception_message.clone());
        if let Some(f) = self
            .failures
            .iter_mut()
            .find(|f| f.action == action && f.error_code == code)
        {
            f.count += 1;
            f.last_seen = now;
            f.error_message = message;
            return true;
        }
        if self.failures.len() >= MAX_FAILURES {
            return false;
        }
        self.failures.push(FailureEntry {
            action: action.to_owned(),
            error_code: code,
            error_message: message,
            expired: expired && !provider_call,
            count: 1,
            last_seen: now,
        });
        true
    }

    /// Calls seen, every outcome.
    pub fn total_calls(&self) -> u64 {
        self.calls.iter().map(|c| c.count).sum()
    }
}

impl Default for AppSnapshot {
    fn default() -> Self {
        AppSnapshot::new()
    }
}

/// Whether `at` is within [`RECENT_SECS`] before `now`.
pub fn recent(at: SystemTime, now: SystemTime) -> bool {
    now.duration_since(at)
        .map_or(true, |d| d.as_secs() <= RECENT_SECS)
}

/// One line summing up the application's calls for a Job's termination message, e.g.
/// `app: 42 calls, 3 denied (s3:PutObject ×3)`; `None` when no call was seen.
pub fn app_summary(app: &AppSnapshot, now: SystemTime) -> Option<String> {
    let total = app.total_calls();
    if total == 0 {
        return None;
    }
    let mut denied: Vec<(&str, u64)> = Vec::new();
    for c in app.calls.iter().filter(|c| c.outcome == Outcome::Denied) {
        match denied.iter_mut().find(|(a, _)| *a == c.action.action) {
            Some((_, n)) => *n += c.count,
            None => denied.push((&c.action.action, c.count)),
        }
    }
    denied.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let denied_total: u64 = denied.iter().map(|(_, n)| n).sum();
    let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut line = format!("app: {}", plural(total, "call", "calls"));
    if denied_total > 0 {
        let shown: Vec<String> = denied
            .iter()
            .take(3)
            .map(|(a, n)| format!("{a} ×{n}"))
            .collect();
        let more = if denied.len() > 3 {
            format!(", … {} more", denied.len() - 3)
        } else {
            String::new()
        };
        line.push_str(&format!(
            ", {denied_total} denied ({}{more})",
            shown.join(", ")
        ));
    }
    let failing: u64 = app
        .failures
        .iter()
        .filter(|f| recent(f.last_seen, now))
        .map(|f| f.count)
        .sum();
    if failing > 0 {
        line.push_str(&format!(
            ", {} failing",
            plural(failing, "credential call", "credential calls")
        ));
    }
    Some(line)
}
