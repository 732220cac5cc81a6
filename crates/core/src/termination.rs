//! The termination message: the verdict a sidecar leaves behind when its pod ends.
//!
//! Kubernetes keeps what a container wrote to its `terminationMessagePath` (by default
//! `/dev/termination-log`) and shows it under `Last State: Terminated` / `Message:` in
//! `kubectl describe pod`, after the container, and for a Job's pod after the run, is gone.
//! The kubelet keeps at most 4,096 bytes of it
//! (<https://kubernetes.io/docs/tasks/debug/debug-application/determine-reason-pod-failure/>),
//! so the message is cut at a whole line, with a marker saying how many lines were left out.
//!
//! ```text
//! status: critical (2 critical) at 2026-11-23T10:29:08Z
//! STS_ASSUME_FAILED: AssumeRoleWithWebIdentity failed: AccessDenied: Not authorized ...
//! TRUST_POLICY_DENIES: file /etc/irsa-doctor/trust-policy.json would not allow ...
//! ```

use std::time::SystemTime;

use crate::assessment::Assessment;
use crate::findings::{Finding, Severity, Status, show_time};
use crate::time;

/// The kubelet's limit on a termination message, in bytes.
pub const MAX_BYTES: usize = 4096;
/// One line's limit, so a single long message cannot crowd out the others; with the status
/// line (well under it) and the marker, the status and summary lines always fit.
pub const MAX_LINE_BYTES: usize = 1024;

/// The termination message for `assessment`: its status, one `CODE: message` line per
/// finding at warning or above (most severe first) and, when the application's calls were
/// seen, `app_summary`; `probed` is false when the pod stopped before the first probe
/// completed, so an `ok` says so. At most `MAX_BYTES`.
pub fn message(assessment: &Assessment, probed: bool, app_summary: Option<&str>) -> String {
    compose(
        &Verdict {
            status: assessment.status,
            findings: &assessment.findings,
            at: assessment.now,
            probed,
            app_summary,
        },
        MAX_BYTES,
    )
}

/// What the message says, as plain data.
#[derive(Debug, Clone, Copy)]
struct Verdict<'a> {
    status: Status,
    findings: &'a [Finding],
    at: SystemTime,
    probed: bool,
    app_summary: Option<&'a str>,
}

/// The message within `limit` bytes (at least `MAX_LINE_BYTES * 2 + 64`, so the status,
/// the summary and a marker always fit).
fn compose(v: &Verdict<'_>, limit: usize) -> String {
    let mut shown: Vec<&Finding> = v
        .findings
        .iter()
        .filter(|f| f.severity >= Severity::Warning)
        .collect();
    // Stable: within a severity, the assessment's own order.
    shown.sort_by_key(|f| std::cmp::Reverse(f.severity));
    let status = status_line(v, &shown);
    let summary = v.app_summary.map(|s| one_line(s, MAX_LINE_BYTES));
    let lines: Vec<String> = shown
        .iter()
        .map(|f| {
            one_line(
                &format!("{}: {}", f.code.as_str(), f.message),
                MAX_LINE_BYTES,
            )
        })
        .collect();

    // Bytes always spent: the status line, and the summary with its newline.
    let mut used = status.len() + summary.as_ref().map_or(0, |s| s.len() + 1);
    let mut kept = 0;
    for (i, line) in lines.iter().enumerate() {
        let left_after = lines.len() - i - 1;
        let marker = if left_after == 0 {
            0
        } else {
            more(left_after).len() + 1
        };
        if used + line.len() + 1 + marker > limit {
            break;
        }
        used += line.len() + 1;
        kept = i + 1;
    }
    let mut out = status;
    for line in &lines[..kept] {
        out.push('\n');
        out.push_str(line);
    }
    if kept < lines.len() {
        out.push('\n');
        out.push_str(&more(lines.len() - kept));
    }
    if let Some(s) = summary {
        out.push('\n');
        out.push_str(&s);
    }
    out
}

/// `status: critical (2 critical, 1 warning) at 2026-11-23T10:29:08Z`.
fn status_line(v: &Verdict<'_>, shown: &[&Finding]) -> String {
    let count = |s: Severity| shown.iter().filter(|f| f.severity == s).count();
    let counts: Vec<String> = [Severity::Critical, Severity::Warning]
        .into_iter()
        .map(|s| (count(s), s.as_str()))
        .filter(|(n, _)| *n > 0)
        .map(|(n, s)| format!("{n} {s}"))
        .collect();
    let mut line = format!("status: {}", v.status.as_str());
    if !counts.is_empty() {
        line.push_str(&format!(" ({})", counts.join(", ")));
    }
    line.push_str(&format!(" at {}", show_time(time::unix(v.at))));
    if !v.probed {
        line.push_str("; stopped before the first probe completed");
    }
    line
}

/// The marker for `n` lines left out.
fn more(n: usize) -> String {
    format!("… {n} more")
}

/// `text` as one line (line breaks and tabs become spaces) of at most `max` bytes, cut at
/// a character boundary with `…` when longer.
fn one_line(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.len() <= max {
        return flat;
    }
    let ellipsis = '…';
    let end = flat.floor_char_boundary(max.saturating_sub(ellipsis.len_utf8()));
    let mut cut = flat[..end].trim_end().to_owned();
    cut.push(ellipsis);
    cut
}

#[cfg(test)]
mod tests;
