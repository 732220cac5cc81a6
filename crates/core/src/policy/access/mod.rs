//! Would the role's own policies allow this action on this resource?
//! (`--expect-access`; the report's `access` section.)
//!
//! Replays IAM's evaluation of one request against the role's identity
//! policies (inline and attached managed) and its permissions boundary, with
//! the same parser and condition engine as the trust-policy evaluator. The
//! rules, from the IAM User Guide's *Policy evaluation logic* and *IAM JSON
//! policy elements* pages:
//! - "An explicit deny in any of these policies overrides the allow", in an
//!   identity policy and in a permissions boundary alike;
//! - "an implicit deny" when no statement of the identity policies allows;
//! - with a permissions boundary, the effective permissions are "the
//!   intersection of the identity-based policies and the permissions
//!   boundary": the boundary must allow it too;
//! - `Action`/`NotAction`: "action names are case insensitive" and may use
//!   `*` and `?`; `NotAction` matches everything except the listed actions;
//! - `Resource`/`NotResource`: "you can use wildcard characters (* and ?)
//!   within any ARN segment (the parts separated by colons)"; a wildcard does
//!   not span segments; `NotResource` matches every resource except those.
//!
//! What the pod cannot know (`aws:SourceIp`, request and resource tags,
//! `s3:prefix`, policy variables in `Resource`, non-string operators) makes a
//! statement *unevaluable*, named with its key; never a guessed deny.
//!
//! What it cannot see at all: service control policies, resource policies
//! (bucket and key policies), session policies and VPC endpoint policies.
//! "Allowed" here means allowed by the role's identity policies and
//! boundary, and nothing more ([`SCOPE_NOTE`]).

mod matching;

use serde::Serialize;

use super::condition::{
    self, Lookup, Outcome, describe_failure, describe_holding, unevaluable_parts,
};
use super::{ConditionResult, Effect, Policy, Statement, quote_label};
pub use matching::{action_matches, allowing_resources, resource_matches};
use matching::{covers_action, resource_outcome};

/// What "allowed" means here; the report's notes and the README say it.
pub const SCOPE_NOTE: &str = "\"allowed\" means allowed by the role's identity policies and permissions boundary; service control policies, resource policies (bucket and key policies), session policies and VPC endpoint policies are invisible from the pod and may still deny";

/// One `--expect-access ACTION[=RESOURCE]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExpectedAccess {
    /// `service:Action` as given, e.g. `s3:PutObject`.
    pub action: String,
    /// The resource ARN, or `*` when none was given.
    pub resource: String,
}

impl ExpectedAccess {
    /// Parses `ACTION[=RESOURCE]`; the error is one line saying what to write instead.
    pub fn parse(entry: &str) -> Result<ExpectedAccess, String> {
        const EXAMPLE: &str = "e.g. s3:PutObject=arn:aws:s3:::my-bucket/backups/*";
        let entry = entry.trim();
        let (action, resource) = match entry.split_once('=') {
            Some((a, r)) => (a.trim(), r.trim()),
            None => (entry, "*"),
        };
        if action.is_empty() {
            return Err(format!(
                "--expect-access {entry:?}: no action; write ACTION[=RESOURCE], {EXAMPLE}"
            ));
        }
        let Some((service, name)) = action.split_once(':') else {
            return Err(format!(
                "--expect-access {entry:?}: action {action:?} has no service prefix; write it as IAM does, {EXAMPLE}"
            ));
        };
        let service_ok = !service.is_empty()
            && service
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !service_ok {
            return Err(format!(
                "--expect-access {entry:?}: {service:?} is not a service prefix (letters, digits and '-', like s3 or secretsmanager), {EXAMPLE}"
            ));
        }
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(format!(
                "--expect-access {entry:?}: {name:?} is not an action name; name the one call the workload makes (no wildcards), {EXAMPLE}"
            ));
        }
        if resource.is_empty() {
            return Err(format!(
                "--expect-access {entry:?}: empty resource after '='; give an ARN or leave out '=' for *"
            ));
        }
        let arn_ok = crate::arn::parse(resource)
            .is_some_and(|a| !a.partition.is_empty() && !a.service.is_empty());
        if resource != "*" && !arn_ok {
            return Err(format!(
                "--expect-access {entry:?}: resource {resource:?} is not an ARN (arn:<partition>:<service>:<region>:<account>:<resource>) or *"
            ));
        }
        Ok(ExpectedAccess {
            action: action.to_owned(),
            resource: resource.to_owned(),
        })
    }
}

/// Where a policy of the role came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// An inline policy (`GetRolePolicy`).
    Inline,
    /// An attached managed policy's default version (`GetPolicyVersion`).
    Managed,
    /// The permissions boundary's default version.
    Boundary,
}

impl Source {
    fn describe(self) -> &'static str {
        match self {
            Source::Inline => "inline policy",
            Source::Managed => "managed policy",
            Source::Boundary => "permissions boundary",
        }
    }
}

/// One policy of the role, under the name the report shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedPolicy {
    /// The inline policy's name, or the managed policy's name.
    pub name: String,
    /// Inline, managed or the boundary.
    pub source: Source,
    /// The parsed document.
    pub policy: Policy,
}

/// Everything that decides what the role may do, as far as the pod can read it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RolePolicies {
    /// Inline and attached managed policies.
    pub identity: Vec<NamedPolicy>,
    /// The permissions boundary, when the role has one.
    pub boundary: Option<NamedPolicy>,
    /// The role's ARN as `iam:GetRole` answered it (with its path), when read from IAM.
    pub arn: Option<String>,
}

impl RolePolicies {
    /// The names of every policy read, boundary last (the report's `policies`).
    pub fn names(&self) -> Vec<String> {
        self.identity
            .iter()
            .chain(&self.boundary)
            .map(|p| p.name.clone())
            .collect()
    }
}

/// What the pod knows about the caller: the role, and the region its SDK uses.
#[derive(Debug, Clone, Copy, Default)]
pub struct Caller<'a> {
    /// The role ARN (`aws:PrincipalArn` of an assumed-role session).
    pub role_arn: Option<&'a str>,
    /// `AWS_REGION`, for `aws:RequestedRegion` of regionless ARNs.
    pub region: Option<&'a str>,
}

/// The answer for one expected access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// An identity policy allows it, the boundary (if any) allows it, and no Deny applies.
    Allowed,
    /// Nothing allows it (in the identity policies, or in the boundary).
    ImplicitDeny,
    /// A Deny statement applies; it overrides every Allow.
    ExplicitDeny,
    /// The answer hinges on what the pod cannot know.
    Unknown,
}

impl Decision {
    /// The report's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allowed => "allowed",
            Decision::ImplicitDeny => "implicit_deny",
            Decision::ExplicitDeny => "explicit_deny",
            Decision::Unknown => "unknown",
        }
    }
}

/// One entry of the report's `access.checks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessCheck {
    /// The action checked.
    pub action: String,
    /// The resource checked.
    pub resource: String,
    /// The decision.
    pub decision: Decision,
    /// The statement that decided (or, for an implicit deny, came nearest to allowing).
    pub deciding_statement: Option<String>,
    /// The policy that statement is in.
    pub policy: Option<String>,
    /// One line: why.
    pub detail: String,
    /// The permissions boundary that cut what an identity policy allows, when that decided
    /// (not in the report: `detail` says it; the remediation differs).
    #[serde(skip)]
    pub cut_by_boundary: Option<String>,
}

/// How one statement fared against the request.
struct Judged<'p> {
    policy: &'p NamedPolicy,
    label: String,
    effect: Effect,
    action_matches: bool,
    resource: Outcome,
    statement: &'p Statement,
    conditions: Vec<ConditionResult>,
    outcome: Outcome,
}

impl Judged<'_> {
    fn is(&self, effect: Effect, outcome: Outcome) -> bool {
        self.effect == effect && self.outcome == outcome
    }

    /// `statement "Sid" of inline policy backup`.
    fn name(&self) -> String {
        format!(
            "statement {} of {} {}",
            quote_label(&self.label),
            self.policy.source.describe(),
            self.policy.name
        )
    }
}

/// Evaluates `want` against the role's policies (the report's `access.checks[]`).
pub fn check(policies: &RolePolicies, caller: &Caller<'_>, want: &ExpectedAccess) -> AccessCheck {
    let identity: Vec<Judged<'_>> = policies
        .identity
        .iter()
        .flat_map(|p| judge(p, caller, want))
        .collect();
    let boundary: Vec<Judged<'_>> = policies
        .boundary
        .iter()
        .flat_map(|p| judge(p, caller, want))
        .collect();
    let decide = |decision, by: Option<&Judged<'_>>, detail: String| AccessCheck {
        action: want.action.clone(),
        resource: want.resource.clone(),
        decision,
        deciding_statement: by.map(|j| j.label.clone()),
        policy: by.map(|j| j.policy.name.clone()),
        detail,
        cut_by_boundary: None,
    };
    let request = format!("{} on {}", want.action, want.resource);
    let every = || identity.iter().chain(&boundary);

    if let Some(deny) = every().find(|j| j.is(Effect::Deny, Outcome::Pass)) {
        let mut detail = format!(
            "{} explicitly denies {request} (an explicit Deny overrides every Allow)",
            deny.name()
        );
        let because: Vec<String> = deny.conditions.iter().map(describe_holding).collect();
        if !because.is_empty() {
            detail.push_str(": ");
            detail.push_str(&because.join("; "));
        }
        return decide(Decision::ExplicitDeny, Some(deny), detail);
    }

    let first =
        |list: &'_ [Judged<'_>], outcome| list.iter().position(|j| j.is(Effect::Allow, outcome));
    let allow = first(&identity, Outcome::Pass).or(first(&identity, Outcome::Unevaluable));
    let Some(allow) = allow.and_then(|i| identity.get(i)) else {
        let detail = if policies.identity.is_empty() {
            format!(
                "the role has no inline or attached policies, so {request} is implicitly denied"
            )
        } else {
            not_allowed("the role's identity policies", &identity, &request)
        };
        return decide(
            Decision::ImplicitDeny,
            nearest(&identity, &want.action),
            detail,
        );
    };

    let bound = match &policies.boundary {
        None => None,
        Some(b) => {
            let found = first(&boundary, Outcome::Pass).or(first(&boundary, Outcome::Unevaluable));
            match found.and_then(|i| boundary.get(i)) {
                Some(j) => Some(j),
                None => {
                    let detail = format!(
                        "{} allows it, but the permissions boundary {} does not: {}",
                        allow.name(),
                        b.name,
                        not_allowed("the boundary", &boundary, &request)
                    );
                    let mut cut = decide(
                        Decision::ImplicitDeny,
                        nearest(&boundary, &want.action),
                        detail,
                    );
                    cut.cut_by_boundary = Some(b.name.clone());
                    return cut;
                }
            }
        }
    };

    for j in std::iter::once(allow).chain(bound) {
        if j.outcome == Outcome::Unevaluable {
            let detail = format!(
                "{} allows {request} only if what the pod cannot know holds: {}",
                j.name(),
                unknown_parts(j).join("; ")
            );
            return decide(Decision::Unknown, Some(j), detail);
        }
    }
    if let Some(deny) = every().find(|j| j.is(Effect::Deny, Outcome::Unevaluable)) {
        let detail = format!(
            "{} allows {request}, but Deny {} may apply: {}",
            allow.name(),
            deny.name(),
            unknown_parts(deny).join("; ")
        );
        return decide(Decision::Unknown, Some(deny), detail);
    }
    let mut detail = format!("allowed by {}", allow.name());
    if let Some(b) = bound {
        detail.push_str(&format!(", within the permissions boundary ({})", b.name()));
    }
    decide(Decision::Allowed, Some(allow), detail)
}

fn judge<'p>(
    policy: &'p NamedPolicy,
    caller: &Caller<'_>,
    want: &ExpectedAccess,
) -> Vec<Judged<'p>> {
    let variables = policy.policy.variables();
    policy
        .policy
        .statements
        .iter()
        .enumerate()
        .map(|(index, statement)| {
            let action_matches = covers_action(statement, &want.action);
            let resource = resource_outcome(statement, &want.resource, variables);
            let conditions: Vec<ConditionResult> = statement
                .conditions
                .iter()
                .map(|c| condition::evaluate(c, lookup(&c.key, caller, want), variables))
                .collect();
            let outcome = condition::all_of(
                [condition::pass_if(action_matches), resource]
                    .into_iter()
                    .chain(conditions.iter().map(|c| c.outcome)),
            );
            Judged {
                policy,
                label: statement.label(index),
                effect: statement.effect,
                action_matches,
                resource,
                statement,
                conditions,
                outcome,
            }
        })
        .collect()
}

/// Services whose calls go to one global endpoint (`aws:RequestedRegion` is that endpoint's
/// region, not the SDK's).
const GLOBAL_SERVICES: [&str; 8] = [
    "iam",
    "organizations",
    "route53",
    "cloudfront",
    "globalaccelerator",
    "waf",
    "shield",
    "budgets",
];

/// The service prefix of an action, lowercase (`S3:PutObject` is `s3`).
fn service(action: &str) -> String {
    action
        .split_once(':')
        .map_or(action, |(s, _)| s)
        .to_ascii_lowercase()
}

/// What the request context holds for `key`, as far as the pod knows it.
fn lookup(key: &str, caller: &Caller<'_>, want: &ExpectedAccess) -> Lookup {
    let arn = crate::arn::parse(&want.resource);
    let lower = key.to_ascii_lowercase();
    let known = |v: Option<&str>| v.filter(|v| !v.is_empty()).map(|v| vec![v.to_owned()]);
    let value = match lower.as_str() {
        "aws:principalarn" => known(caller.role_arn),
        "aws:principalaccount" => known(
            caller
                .role_arn
                .and_then(crate::arn::parse)
                .map(|a| a.account),
        ),
        "aws:principaltype" => Some(vec!["AssumedRole".to_owned()]),
        // The region the call is sent to: a regional ARN's, or for `*` the SDK's own, except
        // for a global service. A region-less ARN (S3 buckets, IAM) goes wherever the bucket
        // or the global endpoint is: a guess there could deny what AWS allows.
        "aws:requestedregion" => match arn {
            Some(a) if !a.region.is_empty() => known(Some(a.region)),
            Some(_) => None,
            None if GLOBAL_SERVICES.contains(&service(&want.action).as_str()) => None,
            None => known(caller.region),
        },
        "aws:resourceaccount" => known(arn.map(|a| a.account)),
        _ => None,
    };
    if let Some(v) = value {
        return Lookup::Present(v);
    }
    let why = if lower == "aws:requestedregion" {
        format!(
            "{key} is the region {} is sent to, which {} does not name",
            want.action, want.resource
        )
    } else if lower.starts_with("aws:requesttag/") || lower == "aws:tagkeys" {
        format!("{key} is the tags each call sends, which the pod cannot know")
    } else if lower.starts_with("aws:resourcetag/") {
        format!("{key} is a tag on the resource, which the pod cannot read")
    } else if lower.starts_with("aws:") {
        format!(
            "{key} is set by AWS per request (source IP, VPC endpoint, time, ...), which the pod cannot know"
        )
    } else {
        format!("{key} depends on the call's parameters, which the pod cannot know")
    };
    Lookup::Unknown(why)
}

/// The Allow statement nearest to matching: action first (or at least its service), then
/// resource, then fewest failing conditions.
fn nearest<'a, 'p>(list: &'a [Judged<'p>], action: &str) -> Option<&'a Judged<'p>> {
    let service = action.split_once(':').map_or(action, |(s, _)| s);
    let score = |j: &Judged<'_>| {
        let count = |o: Outcome| j.conditions.iter().filter(|c| c.outcome == o).count();
        let same_service = !j.statement.not_action
            && j.statement.actions.iter().any(|a| {
                let pattern = a.split_once(':').map_or(a.as_str(), |(s, _)| s);
                action_matches(pattern, service)
            });
        (
            j.action_matches,
            same_service,
            j.resource != Outcome::Fail,
            std::cmp::Reverse(count(Outcome::Fail)),
            std::cmp::Reverse(count(Outcome::Unevaluable)),
        )
    };
    let mut best: Option<(&Judged<'_>, _)> = None;
    for j in list.iter().filter(|j| j.effect == Effect::Allow) {
        let s = score(j);
        // Strictly better only, so ties go to the earlier statement.
        if best.as_ref().is_none_or(|(_, b)| s > *b) {
            best = Some((j, s));
        }
    }
    best.map(|(j, _)| j)
}

/// `no statement of <where> allows <request>; nearest: <statement>: <why not>`.
fn not_allowed(place: &str, list: &[Judged<'_>], request: &str) -> String {
    let action = request.split_once(" on ").map_or(request, |(a, _)| a);
    match nearest(list, action) {
        None => format!("{place} have no Allow statement, so {request} is implicitly denied")
            .replace("the boundary have", "the boundary has"),
        Some(j) => format!(
            "no statement of {place} allows {request}; nearest is {}: {}",
            j.name(),
            mismatches(j, request).join("; ")
        ),
    }
}

fn mismatches(j: &Judged<'_>, request: &str) -> Vec<String> {
    let (action, resource) = request.split_once(" on ").unwrap_or((request, "*"));
    let s = j.statement;
    let mut parts = Vec::new();
    if !j.action_matches {
        parts.push(if s.not_action {
            format!("NotAction {} excludes {action}", s.actions.join(", "))
        } else {
            format!("Action {} does not cover {action}", s.actions.join(", "))
        });
    }
    if j.resource == Outcome::Fail {
        parts.push(if s.not_resource {
            format!("NotResource {} excludes {resource}", s.resources.join(", "))
        } else {
            format!(
                "Resource {} does not cover {resource}",
                s.resources.join(", ")
            )
        });
    }
    parts.extend(
        j.conditions
            .iter()
            .filter(|c| c.outcome == Outcome::Fail)
            .map(|c| describe_failure(c, "the request")),
    );
    if parts.is_empty() {
        parts = unknown_parts(j);
    }
    parts
}

/// The unevaluable conditions, and a `Resource` with policy variables.
fn unknown_parts(j: &Judged<'_>) -> Vec<String> {
    let mut parts = unevaluable_parts(&j.conditions);
    if j.resource == Outcome::Unevaluable {
        parts.push(format!(
            "Resource {} (policy variables are not substituted offline)",
            j.statement.resources.join(", ")
        ));
    }
    parts
}

#[cfg(test)]
mod tests;
