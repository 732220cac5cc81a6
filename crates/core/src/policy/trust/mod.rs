//! Offline evaluation of a role's trust policy against the IRSA token.
//!
//! STS answers a refused `AssumeRoleWithWebIdentity` with a bare
//! `AccessDenied`; it never says which statement or condition failed. This
//! module replays IAM's evaluation for the subset of the policy language that
//! trust policies use, and keeps every intermediate result so the report can
//! name the condition that failed and the value the token had instead.
//!
//! Anything that cannot be decided from the token alone (`aws:SourceIp`,
//! `sts:RoleSessionName`, policy variables, non-string operators on present
//! keys) is reported as *unevaluable*, never guessed: a wrong "denied" sends
//! an SRE chasing a problem that is not there. The IAM rules it follows are
//! listed in the parent module.

mod notes;

use serde::Serialize;

use super::condition::{
    self, Lookup, describe_failure, describe_holding, strip_prefix_ci, unevaluable_parts,
};
pub use super::{
    Condition, ConditionResult, Effect, Outcome, Policy, PolicyError, Principal, PrincipalEntry,
    PrincipalKind, Statement, string_like,
};
use super::{Kind, quote_label};
use crate::token::Claims;
use notes::{Notes, condition_notes, issuer_notes, loose_allow_notes};

/// The action the AWS SDKs call with the IRSA token; the only one evaluated here.
pub const WEB_IDENTITY_ACTION: &str = "sts:AssumeRoleWithWebIdentity";

/// The audience the EKS pod-identity webhook requests and IRSA trust policies pin.
const STS_AUDIENCE: &str = "sts.amazonaws.com";

/// Claims an IAM web-identity key may name that a Kubernetes token never carries.
const ABSENT_OIDC_CLAIMS: [&str; 4] = ["amr", "azp", "oaud", "email"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Verdict {
    /// An Allow statement matches and no Deny does.
    Allowed,
    /// A Deny statement matches; it overrides every Allow.
    ExplicitDeny {
        /// Label of the matching Deny statement.
        statement: String,
    },
    /// No Allow statement matches.
    ImplicitDeny,
    /// The answer hinges on conditions that cannot be evaluated from the token.
    Unknown,
}

/// How one statement fared against the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatementResult {
    /// `Sid` when present, else `#<index>` counting from 0.
    pub label: String,
    /// `Effect` of the statement.
    pub effect: Effect,
    /// Whether `Principal`/`NotPrincipal` admits this token's issuer.
    pub principal_matches: bool,
    /// The principal values as written (`*` for the wildcard).
    pub principal: Vec<String>,
    /// The element was `NotPrincipal`.
    pub not_principal: bool,
    /// Account id of the `Federated` OIDC provider naming this token's issuer, if one does.
    pub principal_account: Option<String>,
    /// Whether `Action`/`NotAction` covers `sts:AssumeRoleWithWebIdentity`.
    pub action_matches: bool,
    /// The action patterns as written.
    pub action: Vec<String>,
    /// The element was `NotAction`.
    pub not_action: bool,
    /// Every condition, in the policy's key order.
    pub conditions: Vec<ConditionResult>,
    /// Whether the whole statement applies to this token.
    pub outcome: Outcome,
}

/// Everything the report and the `TRUST_POLICY_DENIES`/`ISSUER_MISMATCH` findings need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evaluation {
    /// The decision STS would reach (or `unknown`).
    pub verdict: Verdict,
    /// Every statement's result, in document order.
    pub statements: Vec<StatementResult>,
    /// For anything but `allowed`: index of the Allow statement that came closest to matching.
    pub closest: Option<usize>,
    /// Whether any statement's principal admits this token's issuer; false means ISSUER_MISMATCH.
    pub issuer_matched: bool,
    /// The token's `iss`, as the messages quote it.
    pub issuer: Option<String>,
    /// Info-level advice: loose conditions, literal wildcards, likely typos.
    pub notes: Vec<String>,
}

impl Evaluation {
    /// The conditions that fail in the closest Allow statement: what would have to change to be allowed.
    pub fn failing_conditions(&self) -> Vec<&ConditionResult> {
        self.closest_statement()
            .map(|s| {
                s.conditions
                    .iter()
                    .filter(|c| c.outcome == Outcome::Fail)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The Allow statement named by `closest`.
    pub fn closest_statement(&self) -> Option<&StatementResult> {
        self.closest.and_then(|i| self.statements.get(i))
    }

    /// A one-line explanation of the verdict, naming the statement and the conditions that decide it.
    pub fn explain(&self) -> String {
        match &self.verdict {
            Verdict::Allowed => match self.first(Effect::Allow, Outcome::Pass) {
                Some(s) => format!("allowed by statement {}", quote_label(&s.label)),
                None => "allowed".to_owned(),
            },
            Verdict::ExplicitDeny { statement } => {
                let deny = self.statements.iter().find(|s| &s.label == statement);
                let because: Vec<String> = deny
                    .map(|s| s.conditions.iter().map(describe_holding).collect())
                    .unwrap_or_default();
                let mut line = format!(
                    "statement {} explicitly denies this token (an explicit Deny overrides every Allow)",
                    quote_label(statement)
                );
                if !because.is_empty() {
                    line.push_str(": ");
                    line.push_str(&because.join("; "));
                }
                line
            }
            Verdict::ImplicitDeny => match self.closest_statement() {
                Some(s) => format!(
                    "statement {}: {}",
                    quote_label(&s.label),
                    self.mismatches(s).join("; ")
                ),
                None => format!(
                    "no Allow statement in the trust policy, so {WEB_IDENTITY_ACTION} is implicitly denied"
                ),
            },
            Verdict::Unknown => self.explain_unknown(),
        }
    }

    fn first(&self, effect: Effect, outcome: Outcome) -> Option<&StatementResult> {
        self.statements
            .iter()
            .find(|s| s.effect == effect && s.outcome == outcome)
    }

    fn explain_unknown(&self) -> String {
        let deny = self.first(Effect::Deny, Outcome::Unevaluable);
        match (self.first(Effect::Allow, Outcome::Pass), deny) {
            (Some(allow), Some(deny)) => format!(
                "statement {} allows this token, but Deny statement {} may apply: {}",
                quote_label(&allow.label),
                quote_label(&deny.label),
                unevaluable_parts(&deny.conditions).join("; ")
            ),
            _ => match self.first(Effect::Allow, Outcome::Unevaluable) {
                Some(allow) => format!(
                    "statement {} allows this token only if conditions that cannot be checked offline hold: {}",
                    quote_label(&allow.label),
                    unevaluable_parts(&allow.conditions).join("; ")
                ),
                None => {
                    "the verdict depends on conditions that cannot be checked offline".to_owned()
                }
            },
        }
    }

    fn mismatches(&self, s: &StatementResult) -> Vec<String> {
        let mut parts = Vec::new();
        if !s.principal_matches {
            let issuer = self.issuer.as_deref().unwrap_or("(token has no iss)");
            parts.push(if s.not_principal {
                format!(
                    "NotPrincipal {} excludes this token's issuer {issuer}",
                    s.principal.join(", ")
                )
            } else {
                format!(
                    "principal {} is not this token's issuer {issuer}",
                    s.principal.join(", ")
                )
            });
        }
        if !s.action_matches {
            let element = if s.not_action { "NotAction" } else { "Action" };
            let verb = if s.not_action {
                "excludes"
            } else {
                "does not cover"
            };
            parts.push(format!(
                "{element} {} {verb} {WEB_IDENTITY_ACTION}",
                s.action.join(", ")
            ));
        }
        parts.extend(
            s.conditions
                .iter()
                .filter(|c| c.outcome == Outcome::Fail)
                .map(|c| describe_failure(c, "token")),
        );
        if parts.is_empty() {
            parts = unevaluable_parts(&s.conditions);
        }
        parts
    }
}

/// Parses a trust policy given raw, or URL-encoded as IAM `GetRole` returns it.
pub fn parse(text: &str) -> Result<Policy, PolicyError> {
    super::parse(text, Kind::Trust)
}

/// Evaluates `policy` for `sts:AssumeRoleWithWebIdentity` by a caller presenting `claims`.
pub fn evaluate(policy: &Policy, claims: &Claims) -> Evaluation {
    let ctx = Context::new(claims);
    let variables = policy.variables();
    let mut notes = Notes::default();
    let mut issuer_matched = false;
    let statements: Vec<StatementResult> = policy
        .statements
        .iter()
        .enumerate()
        .map(|(index, statement)| {
            let (result, names_issuer) =
                evaluate_statement(index, statement, &ctx, variables, &mut notes);
            issuer_matched |= names_issuer;
            result
        })
        .collect();

    if !issuer_matched {
        issuer_notes(policy, &ctx, &mut notes);
    }

    let find = |effect: Effect, outcome: Outcome| {
        statements
            .iter()
            .find(|s| s.effect == effect && s.outcome == outcome)
    };
    let deny_maybe = find(Effect::Deny, Outcome::Unevaluable);
    let verdict = if let Some(deny) = find(Effect::Deny, Outcome::Pass) {
        Verdict::ExplicitDeny {
            statement: deny.label.clone(),
        }
    } else if find(Effect::Allow, Outcome::Pass).is_some() {
        if deny_maybe.is_some() {
            Verdict::Unknown
        } else {
            Verdict::Allowed
        }
    } else if find(Effect::Allow, Outcome::Unevaluable).is_some() {
        Verdict::Unknown
    } else {
        if let Some(deny) = deny_maybe {
            // The answer is "denied" either way; only its kind is uncertain.
            notes.push(format!(
                "Deny statement {} may also apply; it has conditions that cannot be checked offline",
                quote_label(&deny.label)
            ));
        }
        Verdict::ImplicitDeny
    };

    let closest = if verdict == Verdict::Allowed {
        None
    } else {
        closest_allow(&statements)
    };

    Evaluation {
        verdict,
        statements,
        closest,
        issuer_matched,
        issuer: claims.issuer.clone(),
        notes: notes.0,
    }
}

/// The request context an `AssumeRoleWithWebIdentity` with this token creates, as far as the token tells.
pub(super) struct Context<'a> {
    pub(super) issuer: Option<&'a str>,
    /// `iss` without scheme or trailing slash: the form provider ARNs and condition keys use.
    pub(super) issuer_id: Option<String>,
    subject: Option<&'a str>,
    audiences: &'a [String],
}

impl<'a> Context<'a> {
    fn new(claims: &'a Claims) -> Self {
        let issuer = claims.issuer.as_deref();
        Self {
            issuer,
            issuer_id: issuer.map(provider_id),
            subject: claims.subject.as_deref(),
            audiences: &claims.audiences,
        }
    }

    fn lookup(&self, key: &str) -> Lookup {
        let Some((prefix, claim)) = key.rsplit_once(':') else {
            return Lookup::Unknown(format!(
                "{key} has no prefix: separator, so it is no key irsa-doctor knows"
            ));
        };
        // Web-identity keys are prefixed with a provider's host (and path);
        // global and service keys (`aws:`, `sts:`) never contain '.' or '/'.
        if !prefix.contains('.') && !prefix.contains('/') {
            return Lookup::Unknown(format!(
                "{key} is not in the token; its value is only known to STS"
            ));
        }
        if has_scheme(prefix) {
            return Lookup::Absent(Some(
                "IAM condition keys have no https:// prefix, so this key never matches".to_owned(),
            ));
        }
        let Some(issuer_id) = &self.issuer_id else {
            return Lookup::Absent(Some("the token has no iss claim".to_owned()));
        };
        // Key names are case-insensitive, including the provider part.
        if !trim_slash(prefix).eq_ignore_ascii_case(issuer_id) {
            return Lookup::Absent(Some(format!(
                "the key is for issuer {}, this token's issuer is {issuer_id}",
                trim_slash(prefix)
            )));
        }
        let claim = claim.to_ascii_lowercase();
        match claim.as_str() {
            "sub" => match self.subject {
                Some(sub) => Lookup::Present(vec![sub.to_owned()]),
                None => Lookup::Absent(Some("the token has no sub claim".to_owned())),
            },
            "aud" if self.audiences.is_empty() => {
                Lookup::Absent(Some("the token has no aud claim".to_owned()))
            }
            "aud" => Lookup::Present(self.audiences.to_vec()),
            c if ABSENT_OIDC_CLAIMS.contains(&c) => Lookup::Absent(Some(format!(
                "Kubernetes service-account tokens carry no {c} claim"
            ))),
            c => Lookup::Unknown(format!(
                "IAM documents no web-identity key {c}; whether STS sets it from the token is unknown"
            )),
        }
    }
}

/// `https://host/path/` → `host/path`, the form IAM uses in provider ARNs and keys.
pub(super) fn provider_id(url: &str) -> String {
    let no_scheme = strip_prefix_ci(url, "https://").unwrap_or(url);
    trim_slash(no_scheme).to_owned()
}

pub(super) fn trim_slash(s: &str) -> &str {
    s.trim_end_matches('/')
}

pub(super) fn has_scheme(s: &str) -> bool {
    strip_prefix_ci(s, "https://").is_some() || strip_prefix_ci(s, "http://").is_some()
}

/// Host compared case-insensitively (DNS names are), path exactly; trailing slashes ignored.
fn same_provider(a: &str, b: &str) -> bool {
    let (a_host, a_path) = split_host(trim_slash(a));
    let (b_host, b_path) = split_host(trim_slash(b));
    a_host.eq_ignore_ascii_case(b_host) && a_path == b_path
}

pub(super) fn split_host(id: &str) -> (&str, &str) {
    id.find('/').map_or((id, ""), |i| id.split_at(i))
}

/// `arn:<partition>:iam::<account>:oidc-provider/<host/path>` → (account, host/path).
pub(super) fn oidc_provider_arn(arn: &str) -> Option<(&str, &str)> {
    let a = crate::arn::parse(arn)?;
    if a.service != "iam" || !a.region.is_empty() {
        return None;
    }
    Some((a.account, a.resource.strip_prefix("oidc-provider/")?))
}

/// Does the principal admit this token? Also: the provider account, when a Federated entry names the issuer.
fn principal_covers(principal: &Principal, ctx: &Context<'_>) -> (bool, Option<String>) {
    let entries = match principal {
        Principal::Any => return (true, None),
        Principal::Listed(entries) => entries,
    };
    let mut covers = false;
    let mut account = None;
    for entry in entries {
        match entry.kind {
            // IAM: "Principal": "*" and {"AWS": "*"} are equivalent.
            PrincipalKind::Aws if entry.value == "*" => covers = true,
            PrincipalKind::Federated => {
                let named = oidc_provider_arn(&entry.value).filter(|(_, id)| {
                    ctx.issuer_id
                        .as_deref()
                        .is_some_and(|i| same_provider(id, i))
                });
                if let Some((acct, _)) = named {
                    covers = true;
                    account.get_or_insert_with(|| acct.to_owned());
                }
            }
            // IAM users, roles, accounts and services are never a web-identity caller.
            _ => {}
        }
    }
    (covers, account)
}

fn action_covers(actions: &[String]) -> bool {
    let wanted = WEB_IDENTITY_ACTION.to_ascii_lowercase();
    // Action names are case-insensitive; wildcards work as in StringLike.
    actions
        .iter()
        .any(|a| string_like(&a.to_ascii_lowercase(), &wanted))
}

fn principal_as_written(principal: &Principal) -> Vec<String> {
    match principal {
        Principal::Any => vec!["*".to_owned()],
        Principal::Listed(entries) => entries.iter().map(|e| e.value.clone()).collect(),
    }
}

fn evaluate_statement(
    index: usize,
    statement: &Statement,
    ctx: &Context<'_>,
    variables: bool,
    notes: &mut Notes,
) -> (StatementResult, bool) {
    let label = statement.label(index);
    let (covers, principal_account) = principal_covers(&statement.principal, ctx);
    let principal_matches = covers != statement.not_principal;
    let action_matches = action_covers(&statement.actions) != statement.not_action;
    let conditions: Vec<ConditionResult> = statement
        .conditions
        .iter()
        .map(|c| evaluate_condition(c, ctx, variables))
        .collect();

    let outcome = if !principal_matches
        || !action_matches
        || conditions.iter().any(|c| c.outcome == Outcome::Fail)
    {
        Outcome::Fail
    } else if conditions.iter().any(|c| c.outcome == Outcome::Unevaluable) {
        Outcome::Unevaluable
    } else {
        Outcome::Pass
    };

    condition_notes(&label, statement, ctx, notes);
    if statement.effect == Effect::Allow && covers && !statement.not_principal && action_matches {
        loose_allow_notes(&label, statement, ctx, notes);
    }

    let result = StatementResult {
        label,
        effect: statement.effect,
        principal_matches,
        principal: principal_as_written(&statement.principal),
        not_principal: statement.not_principal,
        principal_account: if statement.not_principal {
            None
        } else {
            principal_account
        },
        action_matches,
        action: statement.actions.clone(),
        not_action: statement.not_action,
        conditions,
        outcome,
    };
    (result, covers && !statement.not_principal)
}
fn evaluate_condition(cond: &Condition, ctx: &Context<'_>, variables: bool) -> ConditionResult {
    condition::evaluate(cond, ctx.lookup(&cond.key), variables)
}

fn closest_allow(statements: &[StatementResult]) -> Option<usize> {
    let score = |s: &StatementResult| {
        let count = |o: Outcome| s.conditions.iter().filter(|c| c.outcome == o).count();
        (
            s.principal_matches,
            s.action_matches,
            std::cmp::Reverse(count(Outcome::Fail)),
            std::cmp::Reverse(count(Outcome::Unevaluable)),
        )
    };
    let mut best: Option<(usize, _)> = None;
    for (i, s) in statements.iter().enumerate() {
        if s.effect != Effect::Allow {
            continue;
        }
        let candidate = score(s);
        // Strictly better only, so ties go to the earlier statement.
        if best.as_ref().is_none_or(|(_, b)| candidate > *b) {
            best = Some((i, candidate));
        }
    }
    best.map(|(i, _)| i)
}

#[cfg(test)]
mod tests;
