//! The condition engine: IAM's operators, `StringLike` wildcards, and how one
//! `operator: {key: values}` test fares against what a request context holds.
//! The caller (the trust or the access evaluator) says what the context holds
//! for a key; everything else — absence, `...IfExists`, set qualifiers,
//! negation, `Null` — is decided here, once, for both.

use serde::Serialize;

/// One `operator: {key: values}` test of a statement's `Condition` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// The operator as written, e.g. `ForAnyValue:StringLike`.
    pub operator: String,
    /// The condition key as written, e.g. `oidc.eks.us-east-1.amazonaws.com/id/X:sub`.
    pub key: String,
    /// The policy's values (numbers and booleans turned into their JSON text).
    pub values: Vec<String>,
    pub(crate) op: Operator,
}

/// Result of one test (a principal, an action list, a condition or a whole statement).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Holds for this request.
    Pass,
    /// Does not hold for this request.
    Fail,
    /// Cannot be decided from what the pod knows.
    Unevaluable,
}

/// How one condition fared against the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConditionResult {
    /// Operator as written in the policy.
    pub operator: String,
    /// Condition key as written in the policy.
    pub key: String,
    /// The policy's values for the key.
    pub expected: Vec<String>,
    /// The request's values for the key; `None` when the request would not carry the key.
    pub actual: Option<Vec<String>>,
    /// Whether the condition holds.
    pub outcome: Outcome,
    /// Why the key is absent or unevaluable, when that is not obvious.
    pub detail: Option<String>,
}

/// What the request context holds for a condition key.
pub(crate) enum Lookup {
    Present(Vec<String>),
    /// Definitely not in the context; the text says why when that is not obvious.
    Absent(Option<String>),
    /// May be in the context, with a value the pod cannot tell.
    Unknown(String),
}

/// Longest pattern or value `string_like` matches with wildcards.
const MAX_LIKE_LEN: usize = 4096;

/// IAM's `StringLike` match: `*` is any run of characters (even none), `?` exactly one; case-sensitive.
///
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SetQualifier {
    ForAnyValue,
    ForAllValues,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StringOp {
    Equals,
    EqualsIgnoreCase,
    Like,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Base {
    /// A string operator, possibly negated.
    String { op: StringOp, negated: bool },
    /// `Null`: tests presence only.
    Null,
    /// A valid IAM operator this module does not compare values for (Arn*, Numeric*, ...).
    Other { negated: bool },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Operator {
    pub(crate) set: Option<SetQualifier>,
    pub(crate) base: Base,
    pub(crate) if_exists: bool,
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
    pub(crate) fn parse(name: &str) -> Option<Self> {
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

    pub(crate) fn negated(self) -> bool {
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

pub(crate) fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
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

/// Judges `cond` given what the request context holds for its key; `variables`: the policy is Version 2012-10-17.
pub(crate) fn evaluate(cond: &Condition, lookup: Lookup, variables: bool) -> ConditionResult {
    let op = cond.op;
    let (actual, outcome, detail) = match lookup {
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

/// `Pass` when `holds`, else `Fail`.
pub(crate) fn pass_if(holds: bool) -> Outcome {
    if holds { Outcome::Pass } else { Outcome::Fail }
}

/// The worst of several tests that are ANDed: any `Fail` fails, else any `Unevaluable` is unknown.
pub(crate) fn all_of(outcomes: impl IntoIterator<Item = Outcome>) -> Outcome {
    outcomes
        .into_iter()
        .fold(Outcome::Pass, |acc, o| match (acc, o) {
            (Outcome::Fail, _) | (_, Outcome::Fail) => Outcome::Fail,
            (Outcome::Unevaluable, _) | (_, Outcome::Unevaluable) => Outcome::Unevaluable,
            _ => Outcome::Pass,
        })
}

// ---------------------------------------------------------------------------
// Explanation text

/// `<op> <key> expected <values>, <who> has <actual>`: why a condition fails.
pub(crate) fn describe_failure(c: &ConditionResult, who: &str) -> String {
    format!(
        "{} {} expected {}, {who} has {}",
        c.operator,
        c.key,
        expected_text(c),
        actual_text(c)
    )
}

/// Why a condition holds (for an explicit Deny: what made it apply).
pub(crate) fn describe_holding(c: &ConditionResult) -> String {
    match &c.actual {
        Some(_) => format!("{} {} matches {}", c.operator, c.key, actual_text(c)),
        None => format!("{} {} holds ({})", c.operator, c.key, actual_text(c)),
    }
}

/// Each condition that cannot be evaluated, with the key and why.
pub(crate) fn unevaluable_parts(conditions: &[ConditionResult]) -> Vec<String> {
    conditions
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
