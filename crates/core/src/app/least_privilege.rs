//! `GET /debug/policy`: the least-privilege identity policy of what the application
//! called since start (iamlive's and IAM Access Analyzer's policy generation, live and
//! in the pod). Resources are the ones the denial messages or `--expect-access` name,
//! else `*`; with the role's policies read, the actions they allow and the application
//! never used are listed beside it.

use serde_json::{Value, json};

use super::AppSnapshot;
use crate::policy::Effect;
use crate::policy::access::{ExpectedAccess, RolePolicies, action_matches};

/// The answer of `GET /debug/policy`: `{"policy": {...}, "unused": [...] | null, "notes": [...]}`.
pub fn document(
    app: Option<&AppSnapshot>,
    expect_access: &[ExpectedAccess],
    policies: Option<&RolePolicies>,
) -> Value {
    let Some(app) = app else {
        return json!({
            "policy": null,
            "unused": null,
            "notes": ["client-side monitoring is off (--csm-listen off): no application call was observed"],
        });
    };
    // Each observed action once, in first-seen order.
    let mut observed: Vec<&str> = Vec::new();
    for c in app
        .calls
        .iter()
        .filter(|c| c.action.needs_identity_policy && c.service != super::OTHER)
    {
        if !observed
            .iter()
            .any(|a| a.eq_ignore_ascii_case(&c.action.action))
        {
            observed.push(&c.action.action);
        }
    }
    // Each action's resources: what denials and --expect-access name, else `*`.
    let mut groups: Vec<(Vec<String>, Vec<String>)> = Vec::new();
    for action in &observed {
        let mut resources: Vec<String> = Vec::new();
        let named = app
            .denials
            .iter()
            .filter(|d| d.action.eq_ignore_ascii_case(action))
            .filter_map(|d| d.resource.clone())
            .chain(
                expect_access
                    .iter()
                    .filter(|e| e.action.eq_ignore_ascii_case(action))
                    .map(|e| e.resource.clone()),
            );
        for r in named {
            if !resources.contains(&r) {
                resources.push(r);
            }
        }
        if resources.is_empty() || resources.iter().any(|r| r == "*") {
            resources = vec!["*".into()];
        }
        resources.sort();
        match groups.iter_mut().find(|(r, _)| *r == resources) {
            Some((_, actions)) => actions.push((*action).to_owned()),
            None => groups.push((resources, vec![(*action).to_owned()])),
        }
    }
    let statements: Vec<Value> = groups
        .iter()
        .enumerate()
        .map(|(i, (resources, actions))| {
            let mut actions = actions.clone();
            actions.sort();
            json!({
                "Sid": format!("Observed{}", i + 1),
                "Effect": "Allow",
                "Action": actions,
                "Resource": resources,
            })
        })
        .collect();
    let unused = policies.map(|p| unused(p, &observed));
    let mut notes = vec![format!(
        "{} calls observed since irsa-doctor started; an action the application has not called yet is not here",
        app.total_calls()
    )];
    if policies.is_none() {
        notes.push("the role's policies have not been read, so the actions they allow and the application never used are not listed (`unused` is null)".into());
    }
    if app.calls.iter().any(|c| c.service == super::OTHER) {
        notes.push("some calls were folded into `other` (more distinct calls than irsa-doctor keeps): this policy misses their actions".into());
    }
    json!({
        "policy": {"Version": "2012-10-17", "Statement": statements},
        "unused": unused,
        "notes": notes,
    })
}

/// Every action pattern an Allow statement of the role's identity policies grants that no
/// observed action matches: `pattern (policy / statement)`.
fn unused(policies: &RolePolicies, observed: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for p in &policies.identity {
        for (i, s) in p.policy.statements.iter().enumerate() {
            if s.effect != Effect::Allow || s.not_action {
                continue;
            }
            for pattern in &s.actions {
                if !observed.iter().any(|a| action_matches(pattern, a)) {
                    out.push(format!("{pattern} ({} / {})", p.name, s.label(i)));
                }
            }
        }
    }
    out
}
