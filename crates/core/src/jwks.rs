//! The issuer's keys: when to fetch them again, and what a token whose `kid`
//! they lack means (`TOKEN_SIGNATURE_INVALID`, or only `OIDC_DISCOVERY_FAILED`). The shell's OIDC
//! probe does the fetching; these rules decide, over an injected clock.

use std::time::{Duration, Instant};

use crate::snapshot::Signature;

/// An unknown `kid` triggers a refetch at most this often (EKS rotates its signing key).
pub const UNKNOWN_KID_REFETCH: Duration = Duration::from_secs(60);

/// Whether to fetch the keys at `now`: when the cached set is stale (its `max-age` is over,
/// or a failed fetch's retry time came), or when it lacks the token's `kid` and the last
/// fetch is at least `UNKNOWN_KID_REFETCH` ago.
pub fn refetch_due(
    fresh_until: Option<Instant>,
    last_fetch: Option<Instant>,
    kid_known: bool,
    now: Instant,
) -> bool {
    let stale = fresh_until.is_none_or(|t| now >= t);
    let may_refetch =
        last_fetch.is_none_or(|t| now.saturating_duration_since(t) >= UNKNOWN_KID_REFETCH);
    stale || (!kid_known && may_refetch)
}

/// The verdict when the keys in hand lack `kid`. Only a key set fetched after the token
/// was issued proves the key is not the issuer's: an older set (the fetch since then failed,
/// or the refetch window has not passed) may simply predate a key rotation, and calling
/// that invalid would be a false alarm on a token STS accepts.
pub fn missing_kid(
    kid: &str,
    published: &[&str],
    keys_fetched_at: Option<i64>,
    issued_at: Option<i64>,
) -> Signature {
    let keys = if published.is_empty() {
        "none".to_owned()
    } else {
        published.join(", ")
    };
    match (keys_fetched_at, issued_at) {
        (Some(fetched), Some(iat)) if fetched >= iat => Signature::Invalid {
            reason: format!(
                "the issuer publishes no key with kid {kid} (keys fetched after the token was issued: {keys})"
            ),
        },
        _ => Signature::Unchecked {
            reason: format!(
                "no key with kid {kid} in keys fetched before this token was issued ({keys}); the issuer may have rotated its key and a fresh fetch was not possible yet"
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refetch_table() {
        #[allow(clippy::disallowed_methods)] // any instant serves as the table's epoch
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        // (case, fresh_until, last_fetch, kid_known, now, fetch?)
        let rows = [
            ("nothing cached", None, None, false, at(0), true),
            (
                "fresh and known",
                Some(at(3600)),
                Some(at(0)),
                true,
                at(10),
                false,
            ),
            (
                "fresh, unknown kid, inside the window",
                Some(at(3600)),
                Some(at(0)),
                false,
                at(59),
                false,
            ),
            (
                "fresh, unknown kid, window over",
                Some(at(3600)),
                Some(at(0)),
                false,
                at(60),
                true,
            ),
            (
                "max-age over",
                Some(at(300)),
                Some(at(0)),
                true,
                at(300),
                true,
            ),
            (
                "failed fetch waits its retry time",
                Some(at(60)),
                Some(at(0)),
                false,
                at(30),
                false,
            ),
            (
                "clock behind the last fetch",
                Some(at(3600)),
                Some(at(100)),
                false,
                at(50),
                false,
            ),
        ];
        for (name, fresh_until, last_fetch, kid_known, now, want) in rows {
            assert_eq!(
                refetch_due(fresh_until, last_fetch, kid_known, now),
                want,
                "{name}"
            );
        }
    }

    /// Key rotation: a kid missing from keys older than the token is not proof of forgery.
    #[test]
    fn missing_kid_table() {
        let invalid = |s: &Signature| matches!(s, Signature::Invalid { .. });
        // (case, keys fetched at, token issued at, invalid?)
        let rows = [
            ("keys fetched after issue", Some(1_000), Some(900), true),
            ("keys fetched the same second", Some(900), Some(900), true),
            (
                "keys older than the token: rotation",
                Some(800),
                Some(900),
                false,
            ),
            ("never fetched successfully", None, Some(900), false),
            ("token without iat", Some(1_000), None, false),
        ];
        for (name, fetched, iat, want) in rows {
            let v = missing_kid("new", &["old"], fetched, iat);
            assert_eq!(invalid(&v), want, "{name}: {v:?}");
        }
        let Signature::Invalid { reason } = missing_kid("k2", &["k1", "k3"], Some(2), Some(1))
        else {
            panic!("expected invalid");
        };
        assert!(
            reason.contains("kid k2") && reason.contains("k1, k3"),
            "{reason}"
        );
    }
}
