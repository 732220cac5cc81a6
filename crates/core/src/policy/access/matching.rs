//! Which actions and resources a statement names: IAM's wildcard rules for `Action`
//! (case-insensitive, `*` and `?`) and for `Resource` (a wildcard stays within one ARN
//! segment), and the resources where the role's policies allow an action.

use super::RolePolicies;
use crate::policy::condition::{self, Outcome};
use crate::policy::{Effect, Statement, string_like};

/// Action names are case-insensitive; `*` and `?` work as in `StringLike`.
pub fn action_matches(pattern: &str, action: &str) -> bool {
    string_like(&pattern.to_ascii_lowercase(), &action.to_ascii_lowercase())
}

/// Whether a statement's `Action` (or `NotAction`) covers `action`.
pub(super) fn covers_action(statement: &Statement, action: &str) -> bool {
    statement.actions.iter().any(|a| action_matches(a, action)) != statement.not_action
}

/// The resources the role's identity policies allow `action` on: every `Resource` of an
/// Allow statement whose `Action` covers it (conditions aside), in policy order, each once.
/// An application denied on one resource learns where the role does allow the action.
pub fn allowing_resources(policies: &RolePolicies, action: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let statements = policies.identity.iter().flat_map(|p| &p.policy.statements);
    for s in statements.filter(|s| s.effect == Effect::Allow && !s.not_resource) {
        if covers_action(s, action) {
            for r in &s.resources {
                if !out.contains(r) {
                    out.push(r.clone());
                }
            }
        }
    }
    out
}

/// `Resource`/`NotResource` against the request's resource; policy variables cannot be substituted.
pub(super) fn resource_outcome(statement: &Statement, resource: &str, variables: bool) -> Outcome {
    let mut unknown = false;
    let mut hit = false;
    for pattern in &statement.resources {
        if variables && pattern.contains("${") {
            unknown = true;
        } else if resource_matches(pattern, resource) {
            hit = true;
        }
    }
    match (hit, unknown) {
        // A literal hit decides Resource (and a literal hit excludes for NotResource).
        (true, _) => condition::pass_if(!statement.not_resource),
        (false, true) => Outcome::Unevaluable,
        (false, false) => condition::pass_if(statement.not_resource),
    }
}

/// Wildcards match within one ARN segment: `arn:aws:s3:::b/*` covers `arn:aws:s3:::b/x:y`,
/// but `arn:aws:kms:*:1:key/*` does not cover an alias.
pub fn resource_matches(pattern: &str, resource: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    match (segments(pattern), segments(resource)) {
        (Some(p), Some(r)) => p.iter().zip(&r).all(|(p, r)| string_like(p, r)),
        // A pattern that starts like an ARN but lacks segments matches no ARN (its `*` would span them).
        (None, _) if pattern.starts_with("arn:") => false,
        _ => string_like(pattern, resource),
    }
}

fn segments(arn: &str) -> Option<Vec<&str>> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    (parts.len() == 6).then_some(parts)
}
