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
//! an SRE chasing a problem that is not there.
//!
//! IAM rules implemented here, with their sources (AWS IAM User Guide):
//! - *Condition operators*: "If the key that you specify in a policy
//!   condition is not present in the request context, the values do not
//!   match and the condition is false. If the policy condition requires that
//!   the key is not matched, such as StringNotLike or ArnNotLike, and the
//!   right key is not present, the condition is true. This logic applies to
//!   all condition operators except ...IfExists and Null check."
//! - *Conditions with multiple context keys or values*: operators are ANDed,
//!   keys under one operator are ANDed, several values for one key are ORed,
//!   and "if a single negated matching condition operator includes multiple
//!   values for a context key, those values are evaluated using a logical NOR".
//! - *Condition element*: "Context key names are not case-sensitive";
//!   value case depends on the operator.
//! - *Multivalued context keys*: `ForAnyValue` is true when any request
//!   value matches and false when the key is absent or empty; `ForAllValues`
//!   is true when every request value matches, and also when the key is
//!   absent or empty.
//! - *Policy evaluation logic*: an explicit Deny overrides any Allow; with no
//!   matching Allow the request is implicitly denied.

use std::borrow::Cow;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::token::Claims;

/// The action the AWS SDKs call with the IRSA token; the only one evaluated here.
pub const WEB_IDENTITY_ACTION: &str = "sts:AssumeRoleWithWebIdentity";

/// The audience the EKS pod-identity webhook requests and IRSA trust policies pin.
const STS_AUDIENCE: &str = "sts.amazonaws.com";

/// Claims an IAM web-identity key may name that a Kubernetes token never carries.
const ABSENT_OIDC_CLAIMS: [&str; 4] = ["amr", "azp", "oaud", "email"];

/// Why a trust policy could not be read; every message says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The text is empty or only whitespace.
    #[error(
        "trust policy is empty: expected a JSON document like {{\"Version\": \"2012-10-17\", \"Statement\": [...]}}"
    )]
    Empty,
    /// The text did not start with `{`, so it was read as URL-encoded, and decoding failed.
    #[error(
        "trust policy does not start with '{{', so it was read as URL-encoded (as IAM GetRole returns it), but {reason}"
    )]
    BadUrlEncoding {
        /// What was wrong with the encoding.
        reason: String,
    },
    /// The (decoded) text is not JSON.
    #[error("trust policy is not valid JSON: {reason}")]
    NotJson {
        /// The parser's complaint, with its position and a hint.
        reason: String,
    },
    /// The JSON is valid but is not a policy document.
    #[error("trust policy is not a policy document: {reason}")]
    NotAPolicy {
        /// What was found instead, and what to pass.
        reason: String,
    },
    /// A statement breaks the policy grammar IAM enforces.
    #[error("trust policy statement {statement}: {reason}")]
    InvalidStatement {
        /// `"Sid"` when the statement has one, else `#<index>` from 0.
        statement: String,
        /// What is wrong and how to write it.
        reason: String,
    },
}

/// A parsed trust policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// `Version` as written; `2012-10-17` turns on policy variables.
    pub version: Option<String>,
    /// The statements in document order.
    pub statements: Vec<Statement>,
}

/// One statement of a trust policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// `Sid`, when present.
    pub sid: Option<String>,
    /// `Effect`.
    pub effect: Effect,
    /// `Principal`, or `NotPrincipal` when `not_principal` is set.
    pub principal: Principal,
    /// The element was `NotPrincipal`: the statement applies to everyone *except* `principal`.
    pub not_principal: bool,
    /// `Action` (or `NotAction`) patterns as written.
    pub actions: Vec<String>,
    /// The element was `NotAction`: the statement covers every action *except* `actions`.
    pub not_action: bool,
    /// Every `operator: {key: values}` entry of `Condition`, flattened.
    pub conditions: Vec<Condition>,
}

/// `Effect` of a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// `"Allow"`.
    Allow,
    /// `"Deny"`.
    Deny,
}

/// The `Principal` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// `"*"`: everyone.
    Any,
    /// An object such as `{"Federated": [...], "AWS": "..."}`, flattened in key order.
    Listed(Vec<PrincipalEntry>),
}

/// One principal named in a `Principal` object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalEntry {
    /// Which key of the object it was listed under.
    pub kind: PrincipalKind,
    /// The value as written (an ARN, an account id, a service name or `*`).
    pub value: String,
}

/// The keys a `Principal` object may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    /// `AWS`: IAM users, roles and accounts.
    Aws,
    /// `Federated`: identity providers, including IAM OIDC providers.
    Federated,
    /// `Service`: AWS service principals.
    Service,
    /// `CanonicalUser`: S3 canonical user ids.
    CanonicalUser,
}

/// One `operator: {key: values}` test of a statement's `Condition` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// The operator as written, e.g. `ForAnyValue:StringLike`.
    pub operator: String,
    /// The condition key as written, e.g. `oidc.eks.us-east-1.amazonaws.com/id/X:sub`.
    pub key: String,
    /// The policy's values (numbers and booleans turned into their JSON text).
    pub values: Vec<String>,
    op: Operator,
}

/// The overall answer for this token.
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

/// Result of one test (a principal, an action list, a condition or a whole statement).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Holds for this token.
    Pass,
    /// Does not hold for this token.
    Fail,
    /// Cannot be decided from the token alone.
    Unevaluable,
}

/// How one condition fared against the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConditionResult {
    /// Operator as written in the policy.
    pub operator: String,
    /// Condition key as written in the policy.
    pub key: String,
    /// The policy's values for the key.
    pub expected: Vec<String>,
    /// The token's values for the key; `None` when the request would not carry the key.
    pub actual: Option<Vec<String>>,
    /// Whether the condition holds.
    pub outcome: Outcome,
    /// Why the key is absent or unevaluable, when that is not obvious.
    pub detail: Option<String>,
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
                unevaluable_parts(deny).join("; ")
            ),
            _ => match self.first(Effect::Allow, Outcome::Unevaluable) {
                Some(allow) => format!(
                    "statement {} allows this token only if conditions that cannot be checked offline hold: {}",
                    quote_label(&allow.label),
                    unevaluable_parts(allow).join("; ")
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
                .map(describe_failure),
        );
        if parts.is_empty() {
            parts = unevaluable_parts(s);
        }
        parts
    }
}

/// Parses a trust policy given raw, or URL-encoded as IAM `GetRole` returns it.
pub fn parse(text: &str) -> Result<Policy, PolicyError> {
    let text = text.trim_start_matches('\u{feff}').trim();
    if text.is_empty() {
        return Err(PolicyError::Empty);
    }
    // GetRole's AssumeRolePolicyDocument is RFC 3986 percent-encoding, in
    // which `+` is a literal plus (spaces are %20), so `+` is left alone.
    let url_encoded = !text.starts_with('{');
    let json: Cow<'_, str> = if url_encoded {
        Cow::Owned(percent_decode(text)?)
    } else {
        Cow::Borrowed(text)
    };
    let value: Value = serde_json::from_str(json.trim()).map_err(|e| PolicyError::NotJson {
        reason: not_json_reason(&e, &json, url_encoded),
    })?;
    let Value::Object(top) = value else {
        return Err(PolicyError::NotAPolicy {
            reason: not_an_object_reason(&value),
        });
    };
    parse_document(&top)
}

/// Evaluates `policy` for `sts:AssumeRoleWithWebIdentity` by a caller presenting `claims`.
pub fn evaluate(policy: &Policy, claims: &Claims) -> Evaluation {
    let ctx = Context::new(claims);
    let variables = policy.version.as_deref() == Some("2012-10-17");
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

/// IAM's `StringLike` match: `*` is any run of characters (even none), `?` exactly one; case-sensitive.
///
/// Longest pattern or value `string_like` matches with wildcards.
const MAX_LIKE_LEN: usize = 4096;

/// Greedy matching that remembers only the last `*` and backtracks to it:
/// O(pattern × value) in the worst case, no recursion and no allocation
/// beyond the two char buffers, so a hostile pattern cannot blow the stack.
pub fn string_like(pattern: &str, value: &str) -> bool {
    // IAM caps a trust policy at 4,096 characters and a real `sub` is a few hundred; beyond
    // that only exact equality is honoured, so a hostile token and policy together cannot
    // make the quadratic worst case cost seconds on the runtime thread (found by fuzzing).
    if pattern.len() > MAX_LIKE_LEN || value.len() > MAX_LIKE_LEN {
        return pattern == value;
    }
    let pattern: Vec<char> = pattern.chars().collect();
    let value: Vec<char> = value.chars().collect();
    let (mut p, mut v) = (0usize, 0usize);
    // The last `*` seen, and the value position it is currently made to end at.
    let mut star: Option<(usize, usize)> = None;
    while let Some(&c) = value.get(v) {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, v));
                p += 1;
            }
            Some(&q) if q == '?' || q == c => {
                p += 1;
                v += 1;
            }
            _ => match star {
                Some((star_p, star_v)) => {
                    // Let the last `*` swallow one more character and retry.
                    p = star_p + 1;
                    v = star_v + 1;
                    star = Some((star_p, star_v + 1));
                }
                None => return false,
            },
        }
    }
    pattern
        .get(p..)
        .is_some_and(|rest| rest.iter().all(|&c| c == '*'))
}

// ---------------------------------------------------------------------------
// Operators

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetQualifier {
    ForAnyValue,
    ForAllValues,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StringOp {
    Equals,
    EqualsIgnoreCase,
    Like,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Base {
    /// A string operator, possibly negated.
    String { op: StringOp, negated: bool },
    /// `Null`: tests presence only.
    Null,
    /// A valid IAM operator this module does not compare values for (Arn*, Numeric*, ...).
    Other { negated: bool },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Operator {
    set: Option<SetQualifier>,
    base: Base,
    if_exists: bool,
}

/// IAM operators whose values this module does not compare, with whether each is negated.
const OTHER_OPERATORS: [(&str, bool); 20] = [
    ("NumericEquals", false),
    ("NumericNotEquals", true),
    ("NumericLessThan", false),
    ("NumericLessThanEquals", false),
    ("NumericGreaterThan", false),
    ("NumericGreaterThanEquals", false),
    ("DateEquals", false),
    ("DateNotEquals", true),
    ("DateLessThan", false),
    ("DateLessThanEquals", false),
    ("DateGreaterThan", false),
    ("DateGreaterThanEquals", false),
    ("Bool", false),
    ("BinaryEquals", false),
    ("IpAddress", false),
    ("NotIpAddress", true),
    ("ArnEquals", false),
    ("ArnNotEquals", true),
    ("ArnLike", false),
    ("ArnNotLike", true),
];

impl Operator {
    /// Parses an operator name; `None` for a name IAM would reject.
    ///
    /// Matching ignores ASCII case so a hand-edited file is still read; IAM
    /// itself writes these in the documented case.
    fn parse(name: &str) -> Option<Self> {
        let (set, rest) = if let Some(rest) = strip_prefix_ci(name, "ForAnyValue:") {
            (Some(SetQualifier::ForAnyValue), rest)
        } else if let Some(rest) = strip_prefix_ci(name, "ForAllValues:") {
            (Some(SetQualifier::ForAllValues), rest)
        } else {
            (None, name)
        };
        let (if_exists, base_name) = match strip_suffix_ci(rest, "IfExists") {
            Some(base) => (true, base),
            None => (false, rest),
        };
        let string = |op, negated| Some(Base::String { op, negated });
        let base = match base_name.to_ascii_lowercase().as_str() {
            "stringequals" => string(StringOp::Equals, false),
            "stringnotequals" => string(StringOp::Equals, true),
            "stringequalsignorecase" => string(StringOp::EqualsIgnoreCase, false),
            "stringnotequalsignorecase" => string(StringOp::EqualsIgnoreCase, true),
            "stringlike" => string(StringOp::Like, false),
            "stringnotlike" => string(StringOp::Like, true),
            "null" if !if_exists => Some(Base::Null),
            other => OTHER_OPERATORS
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(other))
                .map(|&(_, negated)| Base::Other { negated }),
        }?;
        Some(Self {
            set,
            base,
            if_exists,
        })
    }

    fn negated(self) -> bool {
        match self.base {
            Base::String { negated, .. } | Base::Other { negated } => negated,
            Base::Null => false,
        }
    }

    /// The condition's value when the request carries no such key.
    fn when_absent(self, values: &[String]) -> bool {
        match (self.base, self.set) {
            // `Null: true` asks "is the key absent?".
            (Base::Null, _) => values.iter().any(|v| v.eq_ignore_ascii_case("true")),
            // "ForAllValues ... also returns true if there are no context keys in the request."
            (_, Some(SetQualifier::ForAllValues)) => true,
            // ForAnyValue is false without values; an IfExists suffix still excuses absence.
            (_, Some(SetQualifier::ForAnyValue)) => self.if_exists,
            (_, None) => self.if_exists || self.negated(),
        }
    }

    /// The condition's value when the request carries `actual` (non-empty).
    fn when_present(self, op: StringOp, policy: &[String], actual: &[String]) -> bool {
        let negated = self.negated();
        // Several policy values are ORed (positive) or NORed (negated).
        let hit = |v: &String| policy.iter().any(|p| string_matches(op, p, v));
        let holds_for = |v: &String| hit(v) != negated;
        match self.set {
            Some(SetQualifier::ForAnyValue) => actual.iter().any(holds_for),
            Some(SetQualifier::ForAllValues) => actual.iter().all(holds_for),
            // Without a set qualifier a multivalued key (a token with several
            // audiences) matches when ANY of its values matches, and a negated
            // operator holds only when NONE does. No IAM page states this for
            // web identity; it is the reading under which the standard
            // `StringEquals <issuer>:aud sts.amazonaws.com` admits a token whose
            // `aud` lists sts.amazonaws.com among others, which STS accepts
            // (STS resolves `aud` to the one audience registered on the OIDC
            // provider and returns it as the single `Audience` of the response).
            None => actual.iter().any(hit) != negated,
        }
    }
}

fn string_matches(op: StringOp, pattern: &str, value: &str) -> bool {
    match op {
        StringOp::Equals => pattern == value,
        StringOp::EqualsIgnoreCase => pattern.to_lowercase() == value.to_lowercase(),
        StringOp::Like => string_like(pattern, value),
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| s.get(prefix.len()..))
        .flatten()
}

fn strip_suffix_ci<'a>(s: &'a str, suffix: &str) -> Option<&'a str> {
    let cut = s.len().checked_sub(suffix.len())?;
    let tail = s.get(cut..)?;
    tail.eq_ignore_ascii_case(suffix)
        .then(|| s.get(..cut))
        .flatten()
}

// ---------------------------------------------------------------------------
// Parsing

fn percent_decode(text: &str) -> Result<String, PolicyError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = bytes.get(i + 1).and_then(|&c| hex_value(c));
            let lo = bytes.get(i + 2).and_then(|&c| hex_value(c));
            let (Some(hi), Some(lo)) = (hi, lo) else {
                return Err(PolicyError::BadUrlEncoding {
                    reason: format!(
                        "the '%' at byte {} is not followed by two hex digits; pass the policy JSON as is, or exactly as GetRole returned it",
                        i + 1
                    ),
                });
            };
            out.push((hi << 4) | lo);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| PolicyError::BadUrlEncoding {
        reason: "the decoded bytes are not UTF-8 text".to_owned(),
    })
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn not_json_reason(e: &serde_json::Error, json: &str, url_encoded: bool) -> String {
    let mut reason = e.to_string();
    if url_encoded {
        match json.trim().chars().next() {
            Some('{') => reason.push_str(" (after URL-decoding)"),
            Some(c) => reason.push_str(&format!(
                "; the text starts with {c:?}, not '{{': give the policy as JSON (YAML is not accepted), raw or URL-encoded as IAM GetRole returns it"
            )),
            None => reason.push_str(" (the URL-decoded text is empty)"),
        }
    }
    reason
}

fn not_an_object_reason(value: &Value) -> String {
    match value {
        Value::String(_) => "found a JSON string; the policy was probably JSON-encoded twice (e.g. `jq` without -r): pass the document itself".to_owned(),
        Value::Array(_) => "found a JSON array; pass the whole policy object {\"Version\": ..., \"Statement\": [...]}, not just its statements".to_owned(),
        other => format!(
            "found a JSON {}; a policy is an object {{\"Version\": ..., \"Statement\": [...]}}",
            crate::token::json_kind(other)
        ),
    }
}

fn parse_document(top: &Map<String, Value>) -> Result<Policy, PolicyError> {
    let not_a_policy = |reason: String| PolicyError::NotAPolicy { reason };
    let Some(statement) = top.get("Statement") else {
        let reason = if top.contains_key("Role") {
            "this looks like `aws iam get-role` output; pass .Role.AssumeRolePolicyDocument"
                .to_owned()
        } else if top.contains_key("AssumeRolePolicyDocument") {
            "pass the value of AssumeRolePolicyDocument, not the object around it".to_owned()
        } else if let Some(k) = top.keys().find(|k| k.eq_ignore_ascii_case("Statement")) {
            format!("found {k:?}; write the element as \"Statement\"")
        } else {
            "it has no \"Statement\" element; a trust policy needs at least one statement"
                .to_owned()
        };
        return Err(not_a_policy(reason));
    };
    if let Some(k) = top
        .keys()
        .find(|k| !matches!(k.as_str(), "Version" | "Id" | "Statement"))
    {
        return Err(not_a_policy(format!(
            "unknown top-level element {k:?}; a policy has only Version, Id and Statement"
        )));
    }
    let version = match top.get("Version") {
        None => None,
        Some(Value::String(v)) if v == "2012-10-17" || v == "2008-10-17" => Some(v.clone()),
        Some(other) => {
            return Err(not_a_policy(format!(
                "Version must be \"2012-10-17\" (or the legacy \"2008-10-17\"), found {other}; it is a fixed grammar version, not a date to update"
            )));
        }
    };
    let raw: Vec<&Value> = match statement {
        Value::Object(_) => vec![statement],
        Value::Array(list) if list.is_empty() => {
            return Err(not_a_policy(
                "\"Statement\" is an empty list; a trust policy needs at least one statement"
                    .to_owned(),
            ));
        }
        Value::Array(list) => list.iter().collect(),
        other => {
            return Err(not_a_policy(format!(
                "\"Statement\" must be an object or a list of objects, found a JSON {}",
                crate::token::json_kind(other)
            )));
        }
    };
    let statements = raw
        .into_iter()
        .enumerate()
        .map(|(index, value)| parse_statement(index, value))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Policy {
        version,
        statements,
    })
}

fn parse_statement(index: usize, value: &Value) -> Result<Statement, PolicyError> {
    let Value::Object(obj) = value else {
        return Err(PolicyError::InvalidStatement {
            statement: format!("#{index}"),
            reason: format!(
                "must be an object with Effect, Principal, Action and optionally Condition, found a JSON {}",
                crate::token::json_kind(value)
            ),
        });
    };
    let sid = match obj.get("Sid") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(PolicyError::InvalidStatement {
                statement: format!("#{index}"),
                reason: format!(
                    "Sid must be a string, found a JSON {}",
                    crate::token::json_kind(other)
                ),
            });
        }
    };
    let label = sid.clone().unwrap_or_else(|| format!("#{index}"));
    let invalid = |reason: String| PolicyError::InvalidStatement {
        statement: quote_label(&label),
        reason,
    };

    for key in obj.keys() {
        match key.as_str() {
            "Sid" | "Effect" | "Principal" | "NotPrincipal" | "Action" | "NotAction"
            | "Condition" => {}
            "Resource" | "NotResource" => {
                return Err(invalid(format!(
                    "a role trust policy may not contain {key} (IAM rejects it: the role itself is the resource); remove it"
                )));
            }
            _ => {
                return Err(invalid(format!(
                    "unknown element {key:?}; a statement has Sid, Effect, Principal or NotPrincipal, Action or NotAction, and Condition"
                )));
            }
        }
    }

    let effect = match obj.get("Effect") {
        Some(Value::String(e)) if e == "Allow" => Effect::Allow,
        Some(Value::String(e)) if e == "Deny" => Effect::Deny,
        Some(other) => {
            return Err(invalid(format!(
                "Effect must be \"Allow\" or \"Deny\" (exactly, capitalised), found {other}"
            )));
        }
        None => {
            return Err(invalid(
                "has no Effect; add \"Effect\": \"Allow\"".to_owned(),
            ));
        }
    };

    let (principal_value, not_principal) = one_of(obj, "Principal", "NotPrincipal")
        .map_err(|e| invalid(e.replace("{example}", "\"Principal\": {\"Federated\": \"arn:aws:iam::<account>:oidc-provider/<issuer host/path>\"}")))?;
    let principal = parse_principal(principal_value).map_err(invalid)?;

    let (action_value, not_action) = one_of(obj, "Action", "NotAction").map_err(|e| {
        invalid(e.replace("{example}", "\"Action\": \"sts:AssumeRoleWithWebIdentity\""))
    })?;
    let actions = string_list(action_value).ok_or_else(|| {
        invalid("Action must be a string or a non-empty list of strings".to_owned())
    })?;

    let conditions = match obj.get("Condition") {
        None => Vec::new(),
        Some(c) => parse_conditions(c).map_err(invalid)?,
    };

    Ok(Statement {
        sid,
        effect,
        principal,
        not_principal,
        actions,
        not_action,
        conditions,
    })
}

/// Exactly one of the two elements; the error text has an `{example}` placeholder.
fn one_of<'a>(
    obj: &'a Map<String, Value>,
    positive: &str,
    negative: &str,
) -> Result<(&'a Value, bool), String> {
    match (obj.get(positive), obj.get(negative)) {
        (Some(v), None) => Ok((v, false)),
        (None, Some(v)) => Ok((v, true)),
        (Some(_), Some(_)) => Err(format!(
            "has both {positive} and {negative}; keep one, e.g. {{example}}"
        )),
        (None, None) => Err(format!("has no {positive}; add e.g. {{example}}")),
    }
}

fn string_list(value: &Value) -> Option<Vec<String>> {
    match value {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned))
            .collect(),
        _ => None,
    }
}

fn parse_principal(value: &Value) -> Result<Principal, String> {
    const HINT: &str = "Principal must be \"*\" or an object like {\"Federated\": \"arn:aws:iam::<account>:oidc-provider/<issuer host/path>\"}";
    match value {
        Value::String(s) if s == "*" => Ok(Principal::Any),
        Value::Object(map) if !map.is_empty() => {
            let mut entries = Vec::new();
            for (key, values) in map {
                let kind = match key.as_str() {
                    "AWS" => PrincipalKind::Aws,
                    "Federated" => PrincipalKind::Federated,
                    "Service" => PrincipalKind::Service,
                    "CanonicalUser" => PrincipalKind::CanonicalUser,
                    _ => {
                        return Err(format!(
                            "unknown principal type {key:?}; IAM accepts AWS, Federated, Service and CanonicalUser (IRSA uses Federated)"
                        ));
                    }
                };
                let values = string_list(values).ok_or_else(|| {
                    format!("Principal {key} must be a string or a non-empty list of strings")
                })?;
                entries.extend(
                    values
                        .into_iter()
                        .map(|value| PrincipalEntry { kind, value }),
                );
            }
            Ok(Principal::Listed(entries))
        }
        _ => Err(format!("{HINT}, found {value}")),
    }
}

fn parse_conditions(value: &Value) -> Result<Vec<Condition>, String> {
    const SHAPE: &str = "Condition must be an object like {\"StringEquals\": {\"<issuer>:sub\": \"system:serviceaccount:<ns>:<sa>\"}}";
    let Value::Object(operators) = value else {
        return Err(format!(
            "{SHAPE}, found a JSON {}",
            crate::token::json_kind(value)
        ));
    };
    let mut conditions = Vec::new();
    for (operator, block) in operators {
        let op = Operator::parse(operator).ok_or_else(|| {
            format!(
                "unknown condition operator {operator:?}; IAM would reject this policy (trust policies use StringEquals, StringLike, their Not/IgnoreCase forms, ForAnyValue:/ForAllValues:, ...IfExists and Null)"
            )
        })?;
        let Value::Object(keys) = block else {
            return Err(format!(
                "condition operator {operator} must map to an object of key: value, found a JSON {}",
                crate::token::json_kind(block)
            ));
        };
        if keys.is_empty() {
            return Err(format!("condition operator {operator} has no keys"));
        }
        for (key, raw) in keys {
            let values = condition_values(raw).ok_or_else(|| {
                format!(
                    "condition {operator} {key} must be a string, number, boolean or non-empty list of them, found {raw}"
                )
            })?;
            if op.base == Base::Null
                && let Some(bad) = values
                    .iter()
                    .find(|v| !v.eq_ignore_ascii_case("true") && !v.eq_ignore_ascii_case("false"))
            {
                return Err(format!(
                    "condition Null {key} must be \"true\" (key absent) or \"false\" (key present), found {bad:?}"
                ));
            }
            conditions.push(Condition {
                operator: operator.clone(),
                key: key.clone(),
                values,
                op,
            });
        }
    }
    Ok(conditions)
}

fn condition_values(value: &Value) -> Option<Vec<String>> {
    let scalar = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    match value {
        Value::Array(items) if !items.is_empty() => items.iter().map(scalar).collect(),
        Value::Array(_) => None,
        other => scalar(other).map(|s| vec![s]),
    }
}

// ---------------------------------------------------------------------------
// Evaluation

/// The request context an `AssumeRoleWithWebIdentity` with this token creates, as far as the token tells.
struct Context<'a> {
    issuer: Option<&'a str>,
    /// `iss` without scheme or trailing slash: the form provider ARNs and condition keys use.
    issuer_id: Option<String>,
    subject: Option<&'a str>,
    audiences: &'a [String],
}

/// What the request context holds for a condition key.
enum Lookup {
    Present(Vec<String>),
    /// Definitely not in the context; the text says why when that is not obvious.
    Absent(Option<String>),
    /// May be in the context, with a value the token cannot tell.
    Unknown(String),
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
fn provider_id(url: &str) -> String {
    let no_scheme = strip_prefix_ci(url, "https://").unwrap_or(url);
    trim_slash(no_scheme).to_owned()
}

fn trim_slash(s: &str) -> &str {
    s.trim_end_matches('/')
}

fn has_scheme(s: &str) -> bool {
    strip_prefix_ci(s, "https://").is_some() || strip_prefix_ci(s, "http://").is_some()
}

/// Host compared case-insensitively (DNS names are), path exactly; trailing slashes ignored.
fn same_provider(a: &str, b: &str) -> bool {
    let (a_host, a_path) = split_host(trim_slash(a));
    let (b_host, b_path) = split_host(trim_slash(b));
    a_host.eq_ignore_ascii_case(b_host) && a_path == b_path
}

fn split_host(id: &str) -> (&str, &str) {
    id.find('/').map_or((id, ""), |i| id.split_at(i))
}

/// `arn:<partition>:iam::<account>:oidc-provider/<host/path>` → (account, host/path).
fn oidc_provider_arn(arn: &str) -> Option<(&str, &str)> {
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
    let label = statement.sid.clone().unwrap_or_else(|| format!("#{index}"));
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
    let op = cond.op;
    let (actual, outcome, detail) = match ctx.lookup(&cond.key) {
        Lookup::Unknown(why) => (None, Outcome::Unevaluable, Some(why)),
        Lookup::Absent(why) => (None, pass_if(op.when_absent(&cond.values)), why),
        Lookup::Present(values) => {
            let (outcome, detail) = match op.base {
                // `Null: false` asks "is the key present?"; several values are ORed.
                Base::Null => (
                    pass_if(cond.values.iter().any(|v| v.eq_ignore_ascii_case("false"))),
                    None,
                ),
                Base::Other { .. } => (
                    Outcome::Unevaluable,
                    Some(format!(
                        "{} compares values irsa-doctor does not evaluate offline",
                        cond.operator
                    )),
                ),
                // In Version 2012-10-17, `${...}` is substituted from the request context.
                Base::String { .. }
                    if variables && cond.values.iter().any(|v| v.contains("${")) =>
                {
                    (
                        Outcome::Unevaluable,
                        Some("policy variables (${...}) are not substituted offline".to_owned()),
                    )
                }
                Base::String { op: string_op, .. } => (
                    pass_if(op.when_present(string_op, &cond.values, &values)),
                    None,
                ),
            };
            (Some(values), outcome, detail)
        }
    };
    ConditionResult {
        operator: cond.operator.clone(),
        key: cond.key.clone(),
        expected: cond.values.clone(),
        actual,
        outcome,
        detail,
    }
}

fn pass_if(holds: bool) -> Outcome {
    if holds { Outcome::Pass } else { Outcome::Fail }
}

/// The Allow statement nearest to matching: principal first, then action, then fewest failing conditions.
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

// ---------------------------------------------------------------------------
// Notes

#[derive(Default)]
struct Notes(Vec<String>);

impl Notes {
    fn push(&mut self, note: String) {
        if !self.0.contains(&note) {
            self.0.push(note);
        }
    }
}

fn key_claim_for_issuer(key: &str, issuer_id: Option<&str>) -> Option<String> {
    let (prefix, claim) = key.rsplit_once(':')?;
    issuer_id
        .filter(|i| trim_slash(prefix).eq_ignore_ascii_case(i))
        .map(|_| claim.to_ascii_lowercase())
}

fn condition_notes(label: &str, statement: &Statement, ctx: &Context<'_>, notes: &mut Notes) {
    let label = quote_label(label);
    for cond in &statement.conditions {
        if let Base::String {
            op: StringOp::Equals | StringOp::EqualsIgnoreCase,
            ..
        } = cond.op.base
            && let Some(v) = cond.values.iter().find(|v| v.contains(['*', '?']))
        {
            notes.push(format!(
                "statement {label}: wildcards are literal in {} ({} = {v:?}); use StringLike to match a pattern",
                cond.operator, cond.key
            ));
        }
        if cond
            .key
            .rsplit_once(':')
            .is_some_and(|(p, _)| has_scheme(p))
        {
            notes.push(format!(
                "statement {label}: condition key {} starts with a URL scheme; IAM keys are <issuer host/path>:<claim> without https://",
                cond.key
            ));
        }
        let claim = key_claim_for_issuer(&cond.key, ctx.issuer_id.as_deref());
        match claim.as_deref() {
            Some("aud")
                if cond
                    .values
                    .iter()
                    .any(|v| v.starts_with("system:serviceaccount:")) =>
            {
                notes.push(format!(
                    "statement {label}: {} is compared with a service-account subject; did you mean {}:sub?",
                    cond.key,
                    ctx.issuer_id.as_deref().unwrap_or_default()
                ));
            }
            Some("sub") if cond.values.iter().any(|v| v == STS_AUDIENCE) => {
                notes.push(format!(
                    "statement {label}: {} is compared with {STS_AUDIENCE}, an audience; did you mean {}:aud?",
                    cond.key,
                    ctx.issuer_id.as_deref().unwrap_or_default()
                ));
            }
            _ => {}
        }
    }
}

/// Advice for an Allow that admits this issuer: missing `aud`/`sub` pins make it broader than intended.
fn loose_allow_notes(label: &str, statement: &Statement, ctx: &Context<'_>, notes: &mut Notes) {
    let Some(issuer_id) = ctx.issuer_id.as_deref() else {
        return;
    };
    let pins = |claim: &str| {
        statement
            .conditions
            .iter()
            .any(|c| key_claim_for_issuer(&c.key, Some(issuer_id)).as_deref() == Some(claim))
    };
    let label = quote_label(label);
    if !pins("aud") {
        notes.push(format!(
            "statement {label} allows any audience; pin {issuer_id}:aud to {STS_AUDIENCE}"
        ));
    }
    if !pins("sub") {
        notes.push(format!(
            "statement {label} does not restrict {issuer_id}:sub, so every service account in the cluster can assume this role; pin it to system:serviceaccount:<namespace>:<name>"
        ));
    }
}

/// Why no statement names this issuer: another cluster, a typo in the host, a URL scheme.
fn issuer_notes(policy: &Policy, ctx: &Context<'_>, notes: &mut Notes) {
    let Some(issuer_id) = ctx.issuer_id.as_deref() else {
        notes.push(
            "the token has no iss claim, so no OIDC provider in the trust policy can match it"
                .to_owned(),
        );
        return;
    };
    let issuer = ctx.issuer.unwrap_or(issuer_id);
    let mut any_provider = false;
    for (index, statement) in policy.statements.iter().enumerate() {
        let Principal::Listed(entries) = &statement.principal else {
            continue;
        };
        let label = quote_label(&statement.sid.clone().unwrap_or_else(|| format!("#{index}")));
        for entry in entries
            .iter()
            .filter(|e| e.kind == PrincipalKind::Federated)
        {
            let Some((_, id)) = oidc_provider_arn(&entry.value) else {
                continue;
            };
            any_provider = true;
            let (host, path) = split_host(trim_slash(id));
            let (token_host, token_path) = split_host(issuer_id);
            let note = if has_scheme(id) {
                format!(
                    "statement {label}: provider ARN {} contains a URL scheme; it must end in oidc-provider/{issuer_id}",
                    entry.value
                )
            } else if path == token_path && !path.is_empty() {
                format!(
                    "statement {label} trusts provider host {host} but the token's issuer host is {token_host} (same cluster id): a typo in the provider ARN? EKS issuer hosts read oidc.eks.<region>.amazonaws.com"
                )
            } else if host.eq_ignore_ascii_case(token_host) {
                format!(
                    "statement {label} trusts {id}, but this token comes from {issuer}: the cluster was recreated, or the policy was written for another cluster"
                )
            } else {
                format!("statement {label} trusts {id}, not this token's issuer {issuer}")
            };
            notes.push(note);
        }
    }
    if !any_provider {
        notes.push(format!(
            "no statement trusts an OIDC provider; IRSA needs \"Principal\": {{\"Federated\": \"arn:aws:iam::<account>:oidc-provider/{issuer_id}\"}}"
        ));
    }
}

// ---------------------------------------------------------------------------
// Explanation text

/// `"Sid"` quoted, `#3` bare: a Sid cannot contain `#`, so the two never collide.
fn quote_label(label: &str) -> String {
    if label.starts_with('#') {
        label.to_owned()
    } else {
        format!("\"{label}\"")
    }
}

fn describe_failure(c: &ConditionResult) -> String {
    format!(
        "{} {} expected {}, token has {}",
        c.operator,
        c.key,
        expected_text(c),
        actual_text(c)
    )
}

fn describe_holding(c: &ConditionResult) -> String {
    match &c.actual {
        Some(_) => format!("{} {} matches {}", c.operator, c.key, actual_text(c)),
        None => format!("{} {} holds ({})", c.operator, c.key, actual_text(c)),
    }
}

fn unevaluable_parts(s: &StatementResult) -> Vec<String> {
    s.conditions
        .iter()
        .filter(|c| c.outcome == Outcome::Unevaluable)
        .map(|c| {
            let why = c.detail.as_deref().unwrap_or("not evaluated offline");
            format!("{} {} ({why})", c.operator, c.key)
        })
        .collect()
}

fn expected_text(c: &ConditionResult) -> String {
    let op = Operator::parse(&c.operator);
    if op.is_some_and(|o| o.base == Base::Null) {
        let absent = c.expected.iter().any(|v| v.eq_ignore_ascii_case("true"));
        return if absent {
            "the key absent"
        } else {
            "the key present"
        }
        .to_owned();
    }
    let negated = op.is_some_and(Operator::negated);
    match (c.expected.as_slice(), negated) {
        ([one], false) => one.clone(),
        ([one], true) => format!("not {one}"),
        (many, false) => format!("one of {}", many.join(", ")),
        (many, true) => format!("none of {}", many.join(", ")),
    }
}

fn actual_text(c: &ConditionResult) -> String {
    match (&c.actual, &c.detail) {
        (Some(values), _) => match values.as_slice() {
            [one] => one.clone(),
            many => format!("[{}]", many.join(", ")),
        },
        (None, Some(why)) => format!("no such key ({why})"),
        (None, None) => "no such key".to_owned(),
    }
}

#[cfg(test)]
mod tests;
