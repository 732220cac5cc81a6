//! What a push to a Prometheus Pushgateway carries: the group's URL path and the body.
//!
//! A pushed group is named by its grouping key, `job` first, in the URL path
//! (<https://github.com/prometheus/pushgateway#url>): irsa-doctor's is
//! `job=irsa-doctor, namespace=<pod namespace>, workload=<workload>`, so each workload keeps
//! exactly one group, its last run's, however many pods a CronJob creates. A `PUT`
//! replaces the whole group, so a finding that cleared is gone from it too.

use std::time::SystemTime;

use base64::Engine;

use crate::time;

/// The `job` label of every group irsa-doctor pushes.
pub const JOB: &str = "irsa-doctor";
/// The timestamp only a pushed group carries: when irsa-doctor pushed it.
pub const LAST_PUSH_METRIC: &str = "irsa_doctor_last_push_timestamp_seconds";
/// Its help text.
const LAST_PUSH_HELP: &str = "When irsa-doctor last pushed this group to the Pushgateway, Unix seconds (pushed groups only).";
/// What is pushed: irsa-doctor's own series, not the process' (a finished pod's memory
/// and file descriptors mean nothing once it is gone).
const PUSHED_PREFIX: &str = "irsa_";

/// `/metrics/job/irsa-doctor/namespace/<namespace>/workload/<workload>`, values encoded.
pub fn group_path(namespace: &str, workload: &str) -> String {
    let mut path = String::from("/metrics");
    for (name, value) in [
        ("job", JOB),
        ("namespace", namespace),
        ("workload", workload),
    ] {
        path.push_str(&segment(name, value));
    }
    path
}

/// `/name/value`, or `/name@base64/<base64url of value>` unless the value is plain URL
/// text: the Pushgateway's own escape for values with `/` or empty ones (`=` stands for
/// the empty value), used here for anything that is not unreserved characters, so a
/// value never needs percent-encoding and `.`/`..` are never path steps.
fn segment(name: &str, value: &str) -> String {
    let plain = !value.is_empty()
        && value != "."
        && value != ".."
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    if plain {
        format!("/{name}/{value}")
    } else if value.is_empty() {
        format!("/{name}@base64/=")
    } else {
        let encoded = base64::engine::general_purpose::URL_SAFE.encode(value);
        format!("/{name}@base64/{encoded}")
    }
}

/// The push body: every `irsa_*` family of `exposition` (Prometheus text format, as
/// `/metrics` serves it) and `irsa_doctor_last_push_timestamp_seconds` at `pushed_at`.
pub fn body(exposition: &str, pushed_at: SystemTime) -> String {
    let wanted = |family: &str| family.starts_with(PUSHED_PREFIX) && family != LAST_PUSH_METRIC;
    let mut out = String::with_capacity(exposition.len());
    let mut family = "";
    let mut keep = false;
    for line in exposition.lines() {
        let comment = line
            .strip_prefix("# HELP ")
            .or_else(|| line.strip_prefix("# TYPE "));
        if let Some(rest) = comment {
            family = rest.split(' ').next().unwrap_or_default();
            keep = wanted(family);
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            // A sample belongs to the family above it (`x_bucket` to `x`), unless it is an
            // untyped one of its own.
            let name = line
                .split(|c: char| c == '{' || c.is_whitespace())
                .next()
                .unwrap_or_default();
            if family.is_empty() || !name.starts_with(family) {
                family = name;
                keep = wanted(family);
            }
        }
        if keep {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str(&format!(
        "# HELP {LAST_PUSH_METRIC} {LAST_PUSH_HELP}\n# TYPE {LAST_PUSH_METRIC} gauge\n{LAST_PUSH_METRIC} {}\n",
        time::unix_f64(pushed_at)
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{NOW, at};

    #[test]
    fn group_paths() {
        let cases = [
            (
                "demo",
                "db-backup",
                "/metrics/job/irsa-doctor/namespace/demo/workload/db-backup",
            ),
            (
                "kube-system",
                "aws-node.v1_x~y",
                "/metrics/job/irsa-doctor/namespace/kube-system/workload/aws-node.v1_x~y",
            ),
            // The Pushgateway's own examples: `/` and the empty value.
            (
                "demo",
                "a/b",
                "/metrics/job/irsa-doctor/namespace/demo/workload@base64/YS9i",
            ),
            (
                "",
                "db-backup",
                "/metrics/job/irsa-doctor/namespace@base64/=/workload/db-backup",
            ),
            // Anything else that would need escaping, and path steps.
            (
                "demo",
                "nightly backup",
                "/metrics/job/irsa-doctor/namespace/demo/workload@base64/bmlnaHRseSBiYWNrdXA=",
            ),
            (
                "demo",
                "..",
                "/metrics/job/irsa-doctor/namespace/demo/workload@base64/Li4=",
            ),
            (
                "demo",
                "sauvegarde-été",
                "/metrics/job/irsa-doctor/namespace/demo/workload@base64/c2F1dmVnYXJkZS3DqXTDqQ==",
            ),
            // base64url, not base64: `+` and `/` never appear.
            (
                "demo",
                "??>",
                "/metrics/job/irsa-doctor/namespace/demo/workload@base64/Pz8-",
            ),
        ];
        for (namespace, workload, want) in cases {
            assert_eq!(group_path(namespace, workload), want, "{workload:?}");
        }
    }

    const EXPOSITION: &str = "\
# HELP irsa_doctor_build_info irsa-doctor build (value always 1).
# TYPE irsa_doctor_build_info gauge
irsa_doctor_build_info{version=\"0.1.0\"} 1
# HELP irsa_finding_active 1 while the finding is raised; one series per code.
# TYPE irsa_finding_active gauge
irsa_finding_active{code=\"TOKEN_EXPIRED\",severity=\"critical\"} 1
# HELP irsa_sts_assume_duration_seconds Latency.
# TYPE irsa_sts_assume_duration_seconds histogram
irsa_sts_assume_duration_seconds_bucket{le=\"0.01\"} 0
irsa_sts_assume_duration_seconds_bucket{le=\"+Inf\"} 1
irsa_sts_assume_duration_seconds_sum 0.2
irsa_sts_assume_duration_seconds_count 1
# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 9000000
# HELP irsa_doctor_last_push_timestamp_seconds an older push
# TYPE irsa_doctor_last_push_timestamp_seconds gauge
irsa_doctor_last_push_timestamp_seconds 1
untyped_thing 3
irsa_untyped 4
";

    #[test]
    fn the_body_is_the_irsa_families_and_the_push_time() {
        let want = "\
# HELP irsa_doctor_build_info irsa-doctor build (value always 1).
# TYPE irsa_doctor_build_info gauge
irsa_doctor_build_info{version=\"0.1.0\"} 1
# HELP irsa_finding_active 1 while the finding is raised; one series per code.
# TYPE irsa_finding_active gauge
irsa_finding_active{code=\"TOKEN_EXPIRED\",severity=\"critical\"} 1
# HELP irsa_sts_assume_duration_seconds Latency.
# TYPE irsa_sts_assume_duration_seconds histogram
irsa_sts_assume_duration_seconds_bucket{le=\"0.01\"} 0
irsa_sts_assume_duration_seconds_bucket{le=\"+Inf\"} 1
irsa_sts_assume_duration_seconds_sum 0.2
irsa_sts_assume_duration_seconds_count 1
irsa_untyped 4
# HELP irsa_doctor_last_push_timestamp_seconds When irsa-doctor last pushed this group to the Pushgateway, Unix seconds (pushed groups only).
# TYPE irsa_doctor_last_push_timestamp_seconds gauge
irsa_doctor_last_push_timestamp_seconds 1795428000
";
        assert_eq!(body(EXPOSITION, at(NOW)), want);
    }

    #[test]
    fn an_empty_exposition_still_says_when_it_was_pushed() {
        assert!(
            body("", at(NOW)).ends_with("irsa_doctor_last_push_timestamp_seconds 1795428000\n")
        );
    }
}
