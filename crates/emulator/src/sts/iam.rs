//! The fake STS as the role's IAM: `GetRole`, `ListRolePolicies`, `GetRolePolicy` and
//! `ListAttachedRolePolicies` for the one role, documents URL-encoded as IAM returns them.

use std::collections::HashMap;

use hyper::StatusCode;

use super::{Answer, STS_XMLNS, State, lock};
use crate::server::xml_escape;

/// The IAM namespace: the fake STS also answers the role's IAM reads.
const IAM_XMLNS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";

impl State {
    /// The IAM reads `--expect-access` makes, for the one role; documents URL-encoded as IAM does.
    pub(super) fn iam(
        &self,
        action: &str,
        params: &HashMap<String, String>,
        request_id: &str,
    ) -> Answer {
        let config = lock(&self.config).clone();
        let no_such_role = || {
            Answer::error(
                StatusCode::NOT_FOUND,
                "NoSuchEntity",
                &format!(
                    "The role with name {} cannot be found.",
                    params.get("RoleName").map_or("", String::as_str)
                ),
                request_id,
            )
        };
        if !config.iam_readable {
            return Answer::error(
                StatusCode::FORBIDDEN,
                "AccessDenied",
                &format!(
                    "User: {} is not authorized to perform: iam:{action} on resource: {}",
                    config.role_arn(),
                    config.role_arn()
                ),
                request_id,
            );
        }
        if params.get("RoleName") != Some(&config.role_name) {
            return no_such_role();
        }
        let policies = lock(&self.inline_policies).clone();
        let result = match action {
            "GetRole" => format!(
                "<Role><Path>/</Path><RoleName>{}</RoleName><RoleId>{}</RoleId><Arn>{}</Arn>\
                 <CreateDate>2026-01-01T00:00:00Z</CreateDate><AssumeRolePolicyDocument>{}</AssumeRolePolicyDocument></Role>",
                xml_escape(&config.role_name),
                xml_escape(&self.role_id),
                xml_escape(&config.role_arn()),
                percent_encode(&config.trust_policy_json().to_string()),
            ),
            "ListRolePolicies" => format!(
                "<PolicyNames>{}</PolicyNames><IsTruncated>false</IsTruncated>",
                policies
                    .iter()
                    .map(|(n, _)| format!("<member>{}</member>", xml_escape(n)))
                    .collect::<String>()
            ),
            "GetRolePolicy" => {
                let name = params.get("PolicyName").map_or("", String::as_str);
                let Some((_, document)) = policies.iter().find(|(n, _)| n == name) else {
                    return Answer::error(
                        StatusCode::NOT_FOUND,
                        "NoSuchEntity",
                        &format!("The role policy with name {name} cannot be found."),
                        request_id,
                    );
                };
                format!(
                    "<RoleName>{}</RoleName><PolicyName>{}</PolicyName><PolicyDocument>{}</PolicyDocument>",
                    xml_escape(&config.role_name),
                    xml_escape(name),
                    percent_encode(document)
                )
            }
            _ => "<AttachedPolicies/><IsTruncated>false</IsTruncated>".to_owned(),
        };
        let mut answer = Answer::success(action, &result, request_id);
        answer.body = answer.body.replacen(STS_XMLNS, IAM_XMLNS, 1);
        answer
    }
}

/// RFC 3986 percent-encoding, as IAM returns policy documents.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
