//! One assessment per snapshot: everything judged about it, computed once.
//!
//! Data flows one way — watch/probe → `Snapshot` → `Assessment` → views. The
//! report, the metrics and the finding log all read an `Assessment`; none of
//! them re-derives findings or re-evaluates a policy, so they cannot
//! disagree about the same snapshot and second.

use std::collections::BTreeSet;
use std::time::SystemTime;

use crate::findings::{self, AccessEvaluation, Code, Context, Finding, Inputs, Status};
use crate::policy::trust;
use crate::time;

/// What one (configuration, environment, snapshot, now) adds up to.
#[derive(Debug, Clone)]
pub struct Assessment {
    /// The time it was judged at.
    pub now: SystemTime,
    /// Every finding, worst first.
    pub findings: Vec<Finding>,
    /// The trust policy judged against the current IRSA token, when both are known.
    pub trust: Option<trust::Evaluation>,
    /// Every `--expect-access` entry judged against the role's policies as last read.
    pub access: AccessEvaluation,
    /// The application's calls judged (SDKs, denials); `None` without client-side monitoring.
    pub app: Option<crate::app::explain::AppEvaluation>,
    /// The worst severity among the findings.
    pub status: Status,
    /// Every configured token's `token` label and whether it is valid now (`irsa_token_valid`).
    pub tokens_valid: Vec<(String, bool)>,
}

impl Assessment {
    /// Judges `ctx` once: the policies, then every check, then the token verdicts.
    pub fn new(ctx: &Context<'_>) -> Assessment {
        let trust = findings::trust_policy_evaluation(ctx.snapshot);
        let access = findings::access_evaluation(ctx);
        let app = findings::app_evaluation(ctx);
        let found =
            findings::evaluate_with(&Inputs::new(*ctx, trust.as_ref(), &access, app.as_ref()));
        let now = time::unix(ctx.now);
        let tokens_valid = ctx
            .tokens()
            .into_iter()
            .map(|(name, t)| {
                let valid = t
                    .decoded()
                    .is_some_and(|d| findings::validity(&d.claims, now).is_valid());
                (name.to_owned(), valid)
            })
            .collect();
        Assessment {
            now: ctx.now,
            status: Status::of(&found),
            findings: found,
            trust,
            access,
            app,
            tokens_valid,
        }
    }

    /// Whether a finding with `code` is raised (for any token).
    pub fn is_active(&self, code: Code) -> bool {
        self.findings.iter().any(|f| f.code == code)
    }

    /// Whether the token labelled `name` is valid now; `false` for an unknown name.
    pub fn token_valid(&self, name: &str) -> bool {
        self.tokens_valid
            .iter()
            .any(|(n, valid)| n == name && *valid)
    }
}

/// A change in the set of raised findings, as the log reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// A finding that was not raised before (for this token and code).
    Raised(Finding),
    /// A finding that is no longer raised.
    Cleared {
        /// Its code.
        code: Code,
        /// The token it was about, if any.
        token: Option<String>,
    },
}

/// What identifies a finding across assessments: which token, which code. The message is
/// not part of it, so a finding whose numbers change (time to expiry) is no transition.
fn key(f: &Finding) -> (Option<&str>, Code) {
    (f.token.as_deref(), f.code)
}

/// The raises and clears from `before` to `after`, keyed by (token, code): raises in
/// `after`'s order (worst first), then clears in `before`'s order.
pub fn transitions(before: &[Finding], after: &[Finding]) -> Vec<Transition> {
    let old: BTreeSet<_> = before.iter().map(key).collect();
    let new: BTreeSet<_> = after.iter().map(key).collect();
    let mut seen = BTreeSet::new();
    let raised = after
        .iter()
        .filter(|f| !old.contains(&key(f)) && seen.insert(key(f)))
        .cloned()
        .map(Transition::Raised);
    let mut gone = BTreeSet::new();
    let cleared = before
        .iter()
        .filter(|f| !new.contains(&key(f)) && gone.insert(key(f)))
        .map(|f| Transition::Cleared {
            code: f.code,
            token: f.token.clone(),
        });
    raised.chain(cleared).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::*;

    fn f(code: Code, token: Option<&str>, message: &str) -> Finding {
        let mut fx = healthy();
        fx.claims().expires_at = Some(NOW - 1);
        let mut finding = fx.findings().remove(0);
        finding.code = code;
        finding.severity = code.severity();
        finding.token = token.map(str::to_owned);
        finding.message = message.into();
        finding
    }

    fn raised(x: &Finding) -> Transition {
        Transition::Raised(x.clone())
    }

    fn cleared(code: Code, token: Option<&str>) -> Transition {
        Transition::Cleared {
            code,
            token: token.map(str::to_owned),
        }
    }

    #[test]
    fn transitions_are_keyed_by_token_and_code() {
        let irsa = f(Code::TokenExpired, Some("irsa"), "expired 1s ago");
        let irsa_later = f(Code::TokenExpired, Some("irsa"), "expired 9s ago");
        let kube = f(
            Code::TokenExpired,
            Some("kube_api"),
            "[kube_api token] expired",
        );
        let skew = f(Code::ClockSkew, None, "61s ahead");
        type Case<'a> = (&'a str, Vec<Finding>, Vec<Finding>, Vec<Transition>);
        let cases: Vec<Case<'_>> = vec![
            ("nothing to nothing", vec![], vec![], vec![]),
            (
                "first raise",
                vec![],
                vec![irsa.clone()],
                vec![raised(&irsa)],
            ),
            (
                "same finding, new numbers: no transition",
                vec![irsa.clone()],
                vec![irsa_later.clone()],
                vec![],
            ),
            (
                "a second token raising the same code is a raise of its own",
                vec![irsa.clone()],
                vec![irsa.clone(), kube.clone()],
                vec![raised(&kube)],
            ),
            (
                "the second token clearing while the first stays is a clear of its own",
                vec![irsa.clone(), kube.clone()],
                vec![irsa.clone()],
                vec![cleared(Code::TokenExpired, Some("kube_api"))],
            ),
            (
                "raise and clear at once",
                vec![skew.clone()],
                vec![kube.clone()],
                vec![raised(&kube), cleared(Code::ClockSkew, None)],
            ),
            (
                "everything clears",
                vec![irsa.clone(), kube.clone(), skew.clone()],
                vec![],
                vec![
                    cleared(Code::TokenExpired, Some("irsa")),
                    cleared(Code::TokenExpired, Some("kube_api")),
                    cleared(Code::ClockSkew, None),
                ],
            ),
            (
                "a duplicate key is raised once",
                vec![],
                vec![skew.clone(), skew.clone()],
                vec![raised(&skew)],
            ),
        ];
        for (name, before, after, want) in cases {
            assert_eq!(transitions(&before, &after), want, "case {name}");
        }
    }

    #[test]
    fn assessment_agrees_with_evaluate() {
        let mut fx = healthy();
        fx.claims().expires_at = Some(NOW - 1);
        let a = Assessment::new(&fx.context());
        assert_eq!(a.findings, fx.findings());
        assert_eq!(a.status, Status::Critical);
        assert!(a.is_active(Code::TokenExpired));
        assert!(!a.token_valid("irsa"));
        assert!(Assessment::new(&healthy().context()).token_valid("irsa"));
        assert!(a.trust.is_none(), "no trust policy configured");
    }

    /// With a valid `nbf` and a future `iat`, the gauge once said 1 while the finding fired.
    #[test]
    fn token_validity_is_one_judgement_for_metric_and_finding() {
        let mut fx = healthy();
        fx.claims().not_before = Some(NOW - 10);
        fx.claims().issued_at = Some(NOW + 3600);
        let a = Assessment::new(&fx.context());
        assert!(a.is_active(Code::TokenNotYetValid), "{:#?}", a.findings);
        assert!(
            !a.token_valid("irsa"),
            "the gauge must agree with the finding"
        );
    }

    #[test]
    fn per_token_findings_say_which_token() {
        let mut fx = healthy();
        fx.claims().expires_at = Some(NOW - 1);
        let a = Assessment::new(&fx.context());
        let expired = a
            .findings
            .iter()
            .find(|f| f.code == Code::TokenExpired)
            .expect("raised");
        assert_eq!(expired.token.as_deref(), Some("irsa"));
        let json = serde_json::to_value(expired).expect("serialises");
        assert!(json.get("token").is_none(), "the report JSON is unchanged");
    }
}
