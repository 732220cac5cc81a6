//! Policy text → `Policy`: URL-decoding, the document and statement grammar
//! (per `Kind`), and the string-or-list fields IAM accepts everywhere.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::condition::{Base, Condition, Operator};
use super::{
    Effect, Kind, Policy, PolicyError, Principal, PrincipalEntry, PrincipalKind, Statement,
    quote_label,
};

pub(super) fn parse(text: &str, kind: Kind) -> Result<Policy, PolicyError> {
    let text = text.trim_start_matches('\u{feff}').trim();
    if text.is_empty() {
        return Err(PolicyError::Empty { kind });
    }
    // IAM's policy documents are RFC 3986 percent-encoding, in which `+` is
    // a literal plus (spaces are %20), so `+` is left alone.
    let url_encoded = !text.starts_with('{');
    let json: Cow<'_, str> = if url_encoded {
        Cow::Owned(percent_decode(text, kind)?)
    } else {
        Cow::Borrowed(text)
    };
    let value: Value = serde_json::from_str(json.trim()).map_err(|e| PolicyError::NotJson {
        kind,
        reason: not_json_reason(&e, &json, url_encoded),
    })?;
    let Value::Object(top) = value else {
        return Err(PolicyError::NotAPolicy {
            kind,
            reason: not_an_object_reason(&value),
        });
    };
    parse_document(&top, kind)
}

fn percent_decode(text: &str, kind: Kind) -> Result<String, PolicyError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = bytes.get(i + 1).and_then(|&c| hex_value(c));
            let lo = bytes.get(i + 2).and_then(|&c| hex_value(c));
            let (Some(hi), Some(lo)) = (hi, lo) else {
                return Err(PolicyError::BadUrlEncoding {
                    kind,
                    reason: format!(
                        "the '%' at byte {} is not followed by two hex digits; pass the policy JSON as is, or exactly as IAM returned it",
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
        kind,
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
                "; the text starts with {c:?}, not '{{': give the policy as JSON (YAML is not accepted), raw or URL-encoded as IAM returns it"
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

fn parse_document(top: &Map<String, Value>, kind: Kind) -> Result<Policy, PolicyError> {
    let not_a_policy = |reason: String| PolicyError::NotAPolicy { kind, reason };
    let Some(statement) = top.get("Statement") else {
        let reason = if top.contains_key("PolicyVersion") {
            "this looks like `aws iam get-policy-version` output; pass .PolicyVersion.Document"
                .to_owned()
        } else if top.contains_key("PolicyDocument") {
            "pass the value of PolicyDocument, not the object around it".to_owned()
        } else if top.contains_key("Role") {
            "this looks like `aws iam get-role` output; pass .Role.AssumeRolePolicyDocument"
                .to_owned()
        } else if top.contains_key("AssumeRolePolicyDocument") {
            "pass the value of AssumeRolePolicyDocument, not the object around it".to_owned()
        } else if let Some(k) = top.keys().find(|k| k.eq_ignore_ascii_case("Statement")) {
            format!("found {k:?}; write the element as \"Statement\"")
        } else {
            format!("it has no \"Statement\" element; a {kind} needs at least one statement")
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
            return Err(not_a_policy(format!(
                "\"Statement\" is an empty list; a {kind} needs at least one statement"
            )));
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
        .map(|(index, value)| parse_statement(index, value, kind))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Policy {
        version,
        statements,
    })
}

fn parse_statement(index: usize, value: &Value, kind: Kind) -> Result<Statement, PolicyError> {
    let Value::Object(obj) = value else {
        return Err(PolicyError::InvalidStatement {
            kind,
            statement: format!("#{index}"),
            reason: format!(
                "must be an object with Effect, {}, Action and optionally Condition, found a JSON {}",
                match kind {
                    Kind::Trust => "Principal",
                    Kind::Identity => "Resource",
                },
                crate::token::json_kind(value)
            ),
        });
    };
    let sid = match obj.get("Sid") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(PolicyError::InvalidStatement {
                kind,
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
        kind,
        statement: quote_label(&label),
        reason,
    };

    for key in obj.keys() {
        match (key.as_str(), kind) {
            ("Sid" | "Effect" | "Action" | "NotAction" | "Condition", _)
            | ("Principal" | "NotPrincipal", Kind::Trust)
            | ("Resource" | "NotResource", Kind::Identity) => {}
            ("Resource" | "NotResource", Kind::Trust) => {
                return Err(invalid(format!(
                    "a role trust policy may not contain {key} (IAM rejects it: the role itself is the resource); remove it"
                )));
            }
            ("Principal" | "NotPrincipal", Kind::Identity) => {
                return Err(invalid(format!(
                    "an identity policy may not contain {key} (IAM rejects it: the principal is the identity the policy is attached to); remove it"
                )));
            }
            (_, Kind::Trust) => {
                return Err(invalid(format!(
                    "unknown element {key:?}; a statement has Sid, Effect, Principal or NotPrincipal, Action or NotAction, and Condition"
                )));
            }
            (_, Kind::Identity) => {
                return Err(invalid(format!(
                    "unknown element {key:?}; a statement has Sid, Effect, Action or NotAction, Resource or NotResource, and Condition"
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

    let (principal, not_principal) = match kind {
        Kind::Trust => {
            let (value, not) = one_of(obj, "Principal", "NotPrincipal")
                .map_err(|e| invalid(e.replace("{example}", "\"Principal\": {\"Federated\": \"arn:aws:iam::<account>:oidc-provider/<issuer host/path>\"}")))?;
            (parse_principal(value).map_err(&invalid)?, not)
        }
        Kind::Identity => (Principal::Listed(Vec::new()), false),
    };

    let (action_value, not_action) = one_of(obj, "Action", "NotAction").map_err(|e| {
        invalid(e.replace("{example}", "\"Action\": \"sts:AssumeRoleWithWebIdentity\""))
    })?;
    let actions = string_list(action_value).ok_or_else(|| {
        invalid("Action must be a string or a non-empty list of strings".to_owned())
    })?;
    let (resources, not_resource) = match kind {
        Kind::Trust => (Vec::new(), false),
        Kind::Identity => {
            let (value, not) = one_of(obj, "Resource", "NotResource").map_err(|e| {
                invalid(e.replace("{example}", "\"Resource\": \"arn:aws:s3:::<bucket>/*\""))
            })?;
            let list = string_list(value).ok_or_else(|| {
                invalid("Resource must be a string or a non-empty list of strings".to_owned())
            })?;
            (list, not)
        }
    };

    let conditions = match obj.get("Condition") {
        None => Vec::new(),
        Some(c) => parse_conditions(c).map_err(&invalid)?,
    };

    Ok(Statement {
        sid,
        effect,
        principal,
        not_principal,
        actions,
        not_action,
        resources,
        not_resource,
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
                "unknown condition operator {operator:?}; IAM would reject this policy (the operators are StringEquals, StringLike, their Not/IgnoreCase forms, Numeric*, Date*, Bool, Arn*, IpAddress, with ForAnyValue:/ForAllValues:, ...IfExists, and Null)"
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
