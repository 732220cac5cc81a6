//! Which workload a pod belongs to: the name its Pushgateway group is kept under, so
//! every run of a CronJob (and every replica of a Deployment) shares one group.
//!
//! The controllers name what they create after their owner, with suffixes this module
//! knows the exact shape of (Kubernetes `pkg/controller`, `apiserver/pkg/storage/names`):
//!
//! - `generateName` appends 5 characters from `bcdfghjklmnpqrstvwxz2456789`
//!   (`k8s.io/apimachinery/pkg/util/rand.String`): Job, DaemonSet and ReplicaSet pods;
//! - a Deployment's ReplicaSet is `<deployment>-<pod-template-hash>`, the hash being
//!   `rand.SafeEncodeString` of a decimal `uint32`, so only characters `456789bcdf`
//!   (each digit byte maps into the alphabet above), at most 10 of them;
//! - a CronJob's Job is `<cronjob>-<scheduled time in minutes since the epoch>`
//!   (`getTimeHashInMinutes`; controllers before Kubernetes 1.21 used seconds);
//! - a StatefulSet's pod is `<statefulset>-<ordinal>`;
//! - a static pod's mirror is `<name>-<node name>`, owned by its Node.
//!
//! A suffix is stripped only when it has exactly such a shape, so names that merely
//! end in a dash and a word (`api-proxy`, `web-cache`, `tool-01`) stay whole.

/// The 5-character random suffix alphabet of `generateName`.
const RANDOM_ALPHABET: &str = "bcdfghjklmnpqrstvwxz2456789";
/// The characters `SafeEncodeString` maps decimal digits to (a pod-template-hash's alphabet).
const HASH_ALPHABET: &str = "456789bcdf";
/// A `uint32` in decimal has at most 10 digits; below 6 is one chance in tens of thousands.
const HASH_LEN: std::ops::RangeInclusive<usize> = 6..=10;
/// 2015-01-01T00:00:00Z in minutes and in seconds: CronJobs did not exist before, so a
/// smaller number is a name (`report-20240101` is a date, not a schedule).
const CRON_EPOCH_MINUTES: u64 = 23_667_840;
const CRON_EPOCH_SECONDS: u64 = 1_420_070_400;
/// A StatefulSet ordinal: digits without a leading zero, at most this many.
const MAX_ORDINAL_DIGITS: usize = 5;

/// The workload name: `explicit` (`--workload`) wins; else the pod's controller `owner`
/// (kind, name) when the pod spec was readable, with `pod_template_hash` (the pod's
/// `pod-template-hash` label) to tell a Deployment's ReplicaSet; else the pod name without
/// its generated suffixes. `None` when nothing names it.
pub fn name(
    explicit: Option<&str>,
    owner: Option<(&str, &str)>,
    pod_template_hash: Option<&str>,
    pod_name: Option<&str>,
) -> Option<String> {
    if let Some(w) = given(explicit) {
        return Some(w.to_owned());
    }
    let hash = given(pod_template_hash);
    let pod = given(pod_name);
    if let Some((kind, owner)) = owner.filter(|(_, n)| !n.trim().is_empty()) {
        return Some(from_owner(kind, owner.trim(), hash, pod).to_owned());
    }
    pod.map(|p| from_pod_name(p, hash).to_owned())
}

/// `s` trimmed, `None` when empty.
fn given(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// The workload behind the pod's controller owner reference.
fn from_owner<'a>(kind: &str, owner: &'a str, hash: Option<&str>, pod: Option<&'a str>) -> &'a str {
    match kind {
        // A Deployment's ReplicaSet carries its pod-template-hash; a ReplicaSet without the
        // label (a bare one, or an Argo Rollout's, which labels it differently) is stripped
        // only of a suffix in the hash's exact alphabet.
        "ReplicaSet" => match hash {
            Some(h) => strip_exact(owner, h).unwrap_or(owner),
            None => strip(owner, is_template_hash).unwrap_or(owner),
        },
        "Job" => strip(owner, is_cron_time).unwrap_or(owner),
        // A mirror pod (static pod) is `<name>-<node>`, owned by the Node.
        "Node" => pod.and_then(|p| strip_exact(p, owner)).unwrap_or(owner),
        // StatefulSet, DaemonSet, and anything else: the owner is the workload.
        _ => owner,
    }
}

/// The workload guessed from the pod name alone, by the suffixes controllers add.
fn from_pod_name<'a>(pod: &'a str, hash: Option<&str>) -> &'a str {
    if let Some(h) = hash
        && let Some(replica_set) = strip(pod, is_random)
        && let Some(deployment) = strip_exact(replica_set, h)
    {
        return deployment;
    }
    if let Some(owner) = strip(pod, is_random) {
        // `<cronjob>-<minutes>-<random>`, `<deployment>-<hash>-<random>`, or a Job's,
        // DaemonSet's or bare ReplicaSet's `<name>-<random>`.
        return strip(owner, is_cron_time)
            .or_else(|| strip(owner, is_template_hash))
            .unwrap_or(owner);
    }
    strip(pod, is_ordinal).unwrap_or(pod)
}

/// `name` without its last `-suffix` when `suffix_matches` it (and something remains).
fn strip(name: &str, suffix_matches: impl Fn(&str) -> bool) -> Option<&str> {
    let (base, suffix) = name.rsplit_once('-')?;
    (!base.is_empty() && suffix_matches(suffix)).then_some(base)
}

/// `name` without `-suffix` when it ends so.
fn strip_exact<'a>(name: &'a str, suffix: &str) -> Option<&'a str> {
    let base = name.strip_suffix(suffix)?.strip_suffix('-')?;
    (!base.is_empty() && !suffix.is_empty()).then_some(base)
}

fn is_random(s: &str) -> bool {
    s.len() == 5 && s.chars().all(|c| RANDOM_ALPHABET.contains(c))
}

fn is_template_hash(s: &str) -> bool {
    HASH_LEN.contains(&s.len()) && s.chars().all(|c| HASH_ALPHABET.contains(c))
}

fn is_cron_time(s: &str) -> bool {
    if !s.bytes().all(|b| b.is_ascii_digit()) || s.starts_with('0') {
        return false;
    }
    match (s.len(), s.parse::<u64>()) {
        (8, Ok(minutes)) => minutes >= CRON_EPOCH_MINUTES,
        (10, Ok(seconds)) => seconds >= CRON_EPOCH_SECONDS,
        _ => false,
    }
}

fn is_ordinal(s: &str) -> bool {
    (1..=MAX_ORDINAL_DIGITS).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s == "0" || !s.starts_with('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Row {
        why: &'static str,
        explicit: Option<&'static str>,
        owner: Option<(&'static str, &'static str)>,
        hash: Option<&'static str>,
        pod: Option<&'static str>,
        want: Option<&'static str>,
    }

    const ROW: Row = Row {
        why: "",
        explicit: None,
        owner: None,
        hash: None,
        pod: None,
        want: None,
    };

    #[rustfmt::skip]
    const ROWS: &[Row] = &[
        // --workload wins over everything.
        Row { why: "--workload wins", explicit: Some("nightly-backup"), owner: Some(("Job", "db-backup-29391840")), pod: Some("db-backup-29391840-7kq2m"), want: Some("nightly-backup"), ..ROW },
        Row { why: "an empty --workload is unset", explicit: Some(" "), pod: Some("kafka-0"), want: Some("kafka"), ..ROW },
        Row { why: "nothing known", want: None, ..ROW },

        // The owner, when the pod spec was readable.
        Row { why: "Deployment: the ReplicaSet less its pod-template-hash", owner: Some(("ReplicaSet", "web-7d9f8c6b5")), hash: Some("7d9f8c6b5"), pod: Some("web-7d9f8c6b5-x2k4p"), want: Some("web"), ..ROW },
        Row { why: "Deployment whose name ends like a hash: only the label's hash goes", owner: Some(("ReplicaSet", "cache-5bd8c6-7d9f8c6b5")), hash: Some("7d9f8c6b5"), want: Some("cache-5bd8c6"), ..ROW },
        Row { why: "ReplicaSet whose name does not end in its label's hash: a bare ReplicaSet", owner: Some(("ReplicaSet", "frontend")), hash: Some("7d9f8c6b5"), want: Some("frontend"), ..ROW },
        Row { why: "ReplicaSet without the label (Argo Rollouts): a hash-shaped suffix goes", owner: Some(("ReplicaSet", "checkout-6f7b9c8d4")), want: Some("checkout"), ..ROW },
        Row { why: "bare ReplicaSet without the label keeps a word suffix", owner: Some(("ReplicaSet", "web-cache")), want: Some("web-cache"), ..ROW },
        Row { why: "CronJob: the Job less its schedule in minutes", owner: Some(("Job", "db-backup-29391840")), pod: Some("db-backup-29391840-7kq2m"), want: Some("db-backup"), ..ROW },
        Row { why: "CronJob on a pre-1.21 controller: schedule in seconds", owner: Some(("Job", "db-backup-1763503200")), want: Some("db-backup"), ..ROW },
        Row { why: "a Job named with a date is not a CronJob's", owner: Some(("Job", "report-20240101")), pod: Some("report-20240101-b8x4z"), want: Some("report-20240101"), ..ROW },
        Row { why: "a Job named with a version keeps it", owner: Some(("Job", "migrate-v2")), want: Some("migrate-v2"), ..ROW },
        Row { why: "a plain Job", owner: Some(("Job", "migrate")), pod: Some("migrate-9k2lm"), want: Some("migrate"), ..ROW },
        Row { why: "StatefulSet", owner: Some(("StatefulSet", "kafka")), pod: Some("kafka-0"), want: Some("kafka"), ..ROW },
        Row { why: "StatefulSet whose name ends in digits keeps them", owner: Some(("StatefulSet", "redis-7")), pod: Some("redis-7-2"), want: Some("redis-7"), ..ROW },
        Row { why: "DaemonSet", owner: Some(("DaemonSet", "node-agent")), pod: Some("node-agent-x7k2p"), want: Some("node-agent"), ..ROW },
        Row { why: "a static pod's mirror, owned by its Node", owner: Some(("Node", "ip-10-0-1-2.ec2.internal")), pod: Some("etcd-ip-10-0-1-2.ec2.internal"), want: Some("etcd"), ..ROW },
        Row { why: "any other controller: its name", owner: Some(("Rollout", "checkout")), pod: Some("checkout-6f7b9c8d4-x2k4p"), want: Some("checkout"), ..ROW },
        Row { why: "an owner with an empty name is no owner", owner: Some(("ReplicaSet", "")), pod: Some("kafka-0"), want: Some("kafka"), ..ROW },

        // The pod name alone.
        Row { why: "Deployment pod", pod: Some("web-7d9f8c6b5-x2k4p"), want: Some("web"), ..ROW },
        Row { why: "Deployment pod, hash from the label", pod: Some("web-7d9f8c6b5-x2k4p"), hash: Some("7d9f8c6b5"), want: Some("web"), ..ROW },
        Row { why: "Deployment with a dashed name", pod: Some("payments-api-5c9d8f7b46-q8zt2"), want: Some("payments-api"), ..ROW },
        Row { why: "CronJob pod", pod: Some("db-backup-29391840-7kq2m"), want: Some("db-backup"), ..ROW },
        Row { why: "Job pod", pod: Some("migrate-9k2lm"), want: Some("migrate"), ..ROW },
        Row { why: "Job named with a date", pod: Some("report-20240101-b8x4z"), want: Some("report-20240101"), ..ROW },
        Row { why: "DaemonSet pod", pod: Some("node-agent-x7k2p"), want: Some("node-agent"), ..ROW },
        Row { why: "StatefulSet pod", pod: Some("kafka-0"), want: Some("kafka"), ..ROW },
        Row { why: "StatefulSet pod with a large ordinal", pod: Some("kafka-12"), want: Some("kafka"), ..ROW },
        Row { why: "bare pod", pod: Some("debug-shell"), want: Some("debug-shell"), ..ROW },
        Row { why: "bare pod, one word", pod: Some("nginx"), want: Some("nginx"), ..ROW },
        Row { why: "a word with vowels is not a random suffix", pod: Some("api-proxy"), want: Some("api-proxy"), ..ROW },
        Row { why: "five letters with a vowel: not generated", pod: Some("web-cache"), want: Some("web-cache"), ..ROW },
        Row { why: "a zero-padded number is not an ordinal", pod: Some("tool-01"), want: Some("tool-01"), ..ROW },
        Row { why: "a long number is not an ordinal", pod: Some("build-20240101"), want: Some("build-20240101"), ..ROW },
        Row { why: "a schedule without the random suffix is no Job pod", pod: Some("db-backup-29391840"), want: Some("db-backup-29391840"), ..ROW },
        Row { why: "a hash without the random suffix is no Deployment pod", pod: Some("web-7d9f8c6b5"), want: Some("web-7d9f8c6b5"), ..ROW },
        Row { why: "a version is not an ordinal", pod: Some("app-v2"), want: Some("app-v2"), ..ROW },
        Row { why: "nothing left before the suffix: keep the name", pod: Some("-x2k4p"), want: Some("-x2k4p"), ..ROW },
        Row { why: "a label hash the name does not carry: the suffixes' shapes decide", pod: Some("web-7d9f8c6b5-x2k4p"), hash: Some("4b5c6d7f8"), want: Some("web"), ..ROW },
    ];

    #[test]
    fn workload_names() {
        for r in ROWS {
            assert_eq!(
                name(r.explicit, r.owner, r.hash, r.pod).as_deref(),
                r.want,
                "{}",
                r.why
            );
        }
    }

    /// The suffix alphabets, as the Kubernetes sources define them.
    #[test]
    fn hash_alphabet_is_what_safe_encode_string_maps_digits_to() {
        let mapped: String = (b'0'..=b'9')
            .map(|b| RANDOM_ALPHABET.as_bytes()[usize::from(b) % RANDOM_ALPHABET.len()] as char)
            .collect();
        assert_eq!(mapped, "456789bcdf");
        assert!(mapped.chars().all(|c| HASH_ALPHABET.contains(c)));
    }
}
