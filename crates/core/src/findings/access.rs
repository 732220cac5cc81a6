//! `ACCESS_NOT_ALLOWED` and `ACCESS_UNVERIFIED` (issue 14, SPEC 5): would the
//! role's own policies allow what `--expect-access` says the workload needs?

use super::{Code, Context, Finding};
use crate::policy::access::{self, AccessCheck, Caller, Decision, RolePolicies};
use crate::snapshot::AccessReadError;

/// What `--expect-access` found, as the findings, the report and the metrics read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessState<'a> {
    /// No `--expect-access`.
    Off,
    /// Configured, but the role's policies were not read yet (or STS never gave credentials).
    NotRead,
    /// IAM refused or could not be reached.
    Unverified(&'a AccessReadError),
    /// The policies and one check per entry, in `--expect-access` order.
    Checked(&'a RolePolicies, Vec<AccessCheck>),
}

/// Evaluates every `--expect-access` entry against the policies last read.
pub fn state<'a>(ctx: &Context<'a>) -> AccessState<'a> {
    if ctx.config.expect_access.is_empty() {
        return AccessState::Off;
    }
    let a = &ctx.snapshot.access;
    match &a.policies {
        None => AccessState::NotRead,
        Some(Err(e)) => AccessState::Unverified(e),
        Some(Ok(policies)) => {
            let caller = Caller {
                role_arn: a.role_arn.as_deref().or(ctx.config.role_arn.as_deref()),
                region: ctx.env.region.as_deref(),
            };
            let checks = ctx
                .config
                .expect_access
                .iter()
                .map(|want| access::check(policies, &caller, want))
                .collect();
            AccessState::Checked(policies, checks)
        }
    }
}

/// The `CHECKS` entry.
pub(super) fn access(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    match state(ctx) {
        AccessState::Off | AccessState::NotRead => {}
        AccessState::Unverified(e) => {
            let (what, fix) = if e.unreachable {
                (
                    "IAM could not be reached",
                    "allow the pod HTTPS egress to IAM (iam.amazonaws.com, or the AWS_ENDPOINT_URL_IAM endpoint)",
                )
            } else {
                (
                    "IAM refused",
                    "grant the role read access to its own policies: iam:GetRole, iam:ListRolePolicies, iam:GetRolePolicy, iam:ListAttachedRolePolicies on the role, iam:GetPolicy and iam:GetPolicyVersion on its managed policies and boundary (manifests/iam/irsa-doctor-read-own-policies.json)",
                )
            };
            out.push(Finding::new(
                Code::AccessUnverified,
                format!(
                    "--expect-access was not checked: {what} reading the role's policies ({})",
                    e.message
                ),
                format!("{fix}; until then the workload's access is unverified, not denied"),
            ));
        }
        AccessState::Checked(_, checks) => {
            for c in checks
                .iter()
                .filter(|c| matches!(c.decision, Decision::ImplicitDeny | Decision::ExplicitDeny))
            {
                out.push(not_allowed(c));
            }
        }
    }
}

fn not_allowed(c: &AccessCheck) -> Finding {
    let fix = match (c.decision, c.policy.as_deref()) {
        (Decision::ExplicitDeny, Some(p)) => format!(
            "remove or narrow the Deny statement {} in {p} (an explicit Deny wins over every Allow)",
            c.deciding_statement.as_deref().unwrap_or("-")
        ),
        _ if c.detail.contains("permissions boundary") => format!(
            "the role's policies allow it but its permissions boundary does not: add {} on {} to the boundary {}, or give the workload another role",
            c.action,
            c.resource,
            c.policy.as_deref().unwrap_or("")
        ),
        _ => format!(
            "add a statement {{\"Effect\": \"Allow\", \"Action\": \"{}\", \"Resource\": \"{}\"}} to one of the role's policies",
            c.action, c.resource
        ),
    };
    Finding::new(
        Code::AccessNotAllowed,
        format!(
            "{} on {} is not allowed by the role's identity policies and permissions boundary ({}): {}",
            c.action,
            c.resource,
            c.decision.as_str(),
            c.detail
        ),
        format!(
            "{fix}; then POST /debug/probe to re-read the policies (they are read at most hourly)"
        ),
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::findings::Severity;
    use crate::fixtures::{Fixture, healthy};
    use crate::policy::access::{ExpectedAccess, NamedPolicy, Source};
    use crate::policy::{Kind, parse};

    const OBJECT: &str = "arn:aws:s3:::acme-backups/db/x";

    fn with(statements: &str) -> Fixture {
        let mut fx = healthy();
        fx.config.expect_access = vec![
            ExpectedAccess::parse(&format!("s3:PutObject={OBJECT}")).unwrap(),
            ExpectedAccess::parse("kms:Decrypt").unwrap(),
        ];
        let policy = parse(
            &format!("{{\"Version\": \"2012-10-17\", \"Statement\": {statements}}}"),
            Kind::Identity,
        )
        .unwrap();
        fx.snapshot.access.policies = Some(Ok(Arc::new(RolePolicies {
            identity: vec![NamedPolicy {
                name: "backup".into(),
                source: Source::Inline,
                policy,
            }],
            boundary: None,
        })));
        fx
    }

    fn access_findings(fx: &Fixture) -> Vec<Finding> {
        fx.findings()
            .into_iter()
            .filter(|f| matches!(f.code, Code::AccessNotAllowed | Code::AccessUnverified))
            .collect()
    }

    #[test]
    fn one_critical_finding_per_denied_entry() {
        let fx = with(
            r#"[{"Sid": "Put", "Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}]"#,
        );
        let found = access_findings(&fx);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].severity, Severity::Critical);
        assert!(
            found[0]
                .message
                .starts_with("kms:Decrypt on * is not allowed"),
            "{}",
            found[0].message
        );
        assert!(
            found[0].message.contains("nearest is statement \"Put\""),
            "{}",
            found[0].message
        );
    }

    #[test]
    fn explicit_deny_names_the_statement_and_its_fix() {
        let fx = with(
            r#"[{"Effect": "Allow", "Action": "*", "Resource": "*"},
                {"Sid": "NoPut", "Effect": "Deny", "Action": "s3:PutObject", "Resource": "*"}]"#,
        );
        let found = access_findings(&fx);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].message.contains("(explicit_deny)"),
            "{}",
            found[0].message
        );
        assert!(
            found[0]
                .remediation
                .contains("Deny statement NoPut in backup"),
            "{}",
            found[0].remediation
        );
    }

    #[test]
    fn unreadable_policies_are_info_not_a_denial() {
        let mut fx = with(r#"[{"Effect": "Allow", "Action": "*", "Resource": "*"}]"#);
        fx.snapshot.access.policies = Some(Err(AccessReadError {
            unreachable: false,
            message: "iam:GetRole: AccessDenied: not authorized".into(),
        }));
        let found = access_findings(&fx);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].code, Code::AccessUnverified);
        assert_eq!(found[0].severity, Severity::Info);
        assert!(
            found[0]
                .remediation
                .contains("iam:ListAttachedRolePolicies")
        );
        assert_eq!(
            crate::findings::Status::of(&fx.findings()),
            crate::findings::Status::Ok
        );
    }

    #[test]
    fn nothing_without_the_flag_or_before_the_first_read() {
        let mut fx = with(r#"[{"Effect": "Deny", "Action": "*", "Resource": "*"}]"#);
        fx.config.expect_access.clear();
        assert!(access_findings(&fx).is_empty());
        assert!(crate::report::build(&fx.context()).access.is_none());
        let mut fx = with(r#"[{"Effect": "Deny", "Action": "*", "Resource": "*"}]"#);
        fx.snapshot.access.policies = None;
        assert!(access_findings(&fx).is_empty());
        let report = crate::report::build(&fx.context());
        let section = report.access.expect("configured");
        assert!(section.checks.is_empty());
        assert!(
            section
                .notes
                .iter()
                .any(|n| n.contains("not been read yet"))
        );
    }

    #[test]
    fn report_json_and_text() {
        let fx = with(
            r#"[{"Sid": "Put", "Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::acme-backups/*"}]"#,
        );
        let report = crate::report::build(&fx.context());
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        let checks = &json["access"]["checks"];
        assert_eq!(checks[0]["decision"], "allowed");
        assert_eq!(checks[0]["deciding_statement"], "Put");
        assert_eq!(checks[0]["policy"], "backup");
        assert_eq!(checks[1]["decision"], "implicit_deny");
        assert_eq!(json["access"]["policies"], serde_json::json!(["backup"]));
        assert!(
            json["access"]["notes"][0]
                .as_str()
                .unwrap()
                .contains("service control policies")
        );
        let text = report.to_text();
        assert!(
            text.contains(&format!(
                "allowed           s3:PutObject on {OBJECT}  [backup / Put]"
            )),
            "{text}"
        );
        assert!(
            text.contains("DENIED (implicit) kms:Decrypt on *"),
            "{text}"
        );
    }
}
