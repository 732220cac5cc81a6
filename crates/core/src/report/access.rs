//! The report's `access` section (issue 14, SPEC 4): one check per
//! `--expect-access` entry, with the deciding policy and statement.

use std::fmt::Write as _;

use serde::Serialize;

use crate::findings::Context;
use crate::findings::access::{AccessState, state};
use crate::policy::access::{AccessCheck, Decision, SCOPE_NOTE};
use crate::time;

/// `access`: `null` without `--expect-access`.
#[derive(Debug, Clone, Serialize)]
pub struct AccessSection {
    /// When the role's policies were last read.
    pub checked_at: Option<String>,
    /// Why they could not be read (IAM refused or unreachable, or a document did not parse).
    pub error: Option<String>,
    /// Names of the policies read (inline, managed, then the boundary).
    pub policies: Vec<String>,
    /// One entry per `--expect-access`, in order; empty until the policies were read.
    pub checks: Vec<AccessCheck>,
    /// What "allowed" covers, and what the pod cannot see.
    pub notes: Vec<String>,
}

/// Builds the section; `None` without `--expect-access`.
pub fn section(ctx: &Context<'_>) -> Option<AccessSection> {
    let mut s = AccessSection {
        checked_at: ctx.snapshot.access.checked_at.and_then(time::rfc3339_time),
        error: None,
        policies: Vec::new(),
        checks: Vec::new(),
        notes: vec![SCOPE_NOTE.to_owned()],
    };
    match state(ctx) {
        AccessState::Off => return None,
        AccessState::NotRead => s
            .notes
            .push("the role's policies have not been read yet: they are read with the test-assumed credentials after the first successful test-assume".to_owned()),
        AccessState::Unverified(e) => s.error = Some(e.message.clone()),
        AccessState::Checked(policies, checks) => {
            s.policies = policies.names();
            s.checks = checks;
        }
    }
    Some(s)
}

impl AccessSection {
    /// The ACCESS section: one line per check, like the trust-policy section.
    pub fn write_text(&self, o: &mut String) {
        let _ = writeln!(
            o,
            "\nACCESS  {} (checked {})",
            if self.policies.is_empty() {
                "-".to_owned()
            } else {
                self.policies.join(", ")
            },
            self.checked_at.as_deref().unwrap_or("never")
        );
        if let Some(e) = &self.error {
            let _ = writeln!(o, "  error         {e}");
        }
        for c in &self.checks {
            let decision = match c.decision {
                Decision::Allowed => "allowed",
                Decision::ImplicitDeny => "DENIED (implicit)",
                Decision::ExplicitDeny => "DENIED (explicit)",
                Decision::Unknown => "unknown",
            };
            let by = match (&c.deciding_statement, &c.policy) {
                (Some(st), Some(p)) => format!("  [{p} / {st}]"),
                _ => String::new(),
            };
            let _ = writeln!(
                o,
                "  {decision:<17} {} on {}{by}: {}",
                c.action, c.resource, c.detail
            );
        }
        for n in &self.notes {
            let _ = writeln!(o, "  note          {n}");
        }
    }
}
