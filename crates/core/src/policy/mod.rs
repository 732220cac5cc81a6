//! The IAM policy language, once: one parser and one condition engine with
//! two evaluators on top.
//!
//! - [`trust`] replays `sts:AssumeRoleWithWebIdentity` against a role's trust
//!   policy with the pod's token (why STS says `AccessDenied`);
//! - [`access`] replays an action on a resource against the role's identity
//!   policies and permissions boundary (`--expect-access`: would the
//!   workload's call be allowed?).
//!
//! Both keep every intermediate result so the report can name the statement
//! and condition that decided, and both report what the pod cannot know as
//! *unevaluable*, never as a guessed deny.
//!
//! IAM rules shared by both, with their sources (AWS IAM User Guide):
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

pub mod access;
pub mod condition;
mod parse;
pub mod trust;

use serde::Serialize;

pub use condition::{Condition, ConditionResult, Outcome, string_like};

/// Which kind of policy document a text is: the grammar differs (the IAM JSON policy reference: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A role trust policy: `Principal` required, no `Resource`.
    Trust,
    /// An identity policy or permissions boundary: `Resource` required, no `Principal`.
    Identity,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Trust => "trust policy",
            Kind::Identity => "policy",
        })
    }
}

/// Why a policy could not be read; every message says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The text is empty or only whitespace.
    #[error(
        "{kind} is empty: expected a JSON document like {{\"Version\": \"2012-10-17\", \"Statement\": [...]}}"
    )]
    Empty {
        /// Which grammar it was read with.
        kind: Kind,
    },
    /// The text did not start with `{`, so it was read as URL-encoded, and decoding failed.
    #[error(
        "{kind} does not start with '{{', so it was read as URL-encoded (as IAM returns it), but {reason}"
    )]
    BadUrlEncoding {
        /// Which grammar it was read with.
        kind: Kind,
        /// What was wrong with the encoding.
        reason: String,
    },
    /// The (decoded) text is not JSON.
    #[error("{kind} is not valid JSON: {reason}")]
    NotJson {
        /// Which grammar it was read with.
        kind: Kind,
        /// The parser's complaint, with its position and a hint.
        reason: String,
    },
    /// The JSON is valid but is not a policy document.
    #[error("{kind} is not a policy document: {reason}")]
    NotAPolicy {
        /// Which grammar it was read with.
        kind: Kind,
        /// What was found instead, and what to pass.
        reason: String,
    },
    /// A statement breaks the policy grammar IAM enforces.
    #[error("{kind} statement {statement}: {reason}")]
    InvalidStatement {
        /// Which grammar it was read with.
        kind: Kind,
        /// `"Sid"` when the statement has one, else `#<index>` from 0.
        statement: String,
        /// What is wrong and how to write it.
        reason: String,
    },
}

/// A parsed policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// `Version` as written; `2012-10-17` turns on policy variables.
    pub version: Option<String>,
    /// The statements in document order.
    pub statements: Vec<Statement>,
}

impl Policy {
    /// Whether `${...}` policy variables are substituted (Version 2012-10-17 only).
    pub fn variables(&self) -> bool {
        self.version.as_deref() == Some("2012-10-17")
    }
}

/// One statement of a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// `Sid`, when present.
    pub sid: Option<String>,
    /// `Effect`.
    pub effect: Effect,
    /// `Principal`, or `NotPrincipal` when `not_principal` is set; an empty list in identity policies (they have none).
    pub principal: Principal,
    /// The element was `NotPrincipal`: the statement applies to everyone *except* `principal`.
    pub not_principal: bool,
    /// `Action` (or `NotAction`) patterns as written.
    pub actions: Vec<String>,
    /// The element was `NotAction`: the statement covers every action *except* `actions`.
    pub not_action: bool,
    /// `Resource` (or `NotResource`) patterns as written; empty in trust policies (the role is the resource).
    pub resources: Vec<String>,
    /// The element was `NotResource`: the statement covers every resource *except* `resources`.
    pub not_resource: bool,
    /// Every `operator: {key: values}` entry of `Condition`, flattened.
    pub conditions: Vec<Condition>,
}

impl Statement {
    /// `Sid` when present, else `#<index>` counting from 0: how the report names the statement.
    pub fn label(&self, index: usize) -> String {
        self.sid.clone().unwrap_or_else(|| format!("#{index}"))
    }
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

/// Parses a policy of `kind`, given raw or URL-encoded as IAM's `Get*` calls return it.
pub fn parse(text: &str, kind: Kind) -> Result<Policy, PolicyError> {
    parse::parse(text, kind)
}

/// `"Sid"` quoted, `#3` bare: a Sid cannot contain `#`, so the two never collide.
pub fn quote_label(label: &str) -> String {
    if label.starts_with('#') {
        label.to_owned()
    } else {
        format!("\"{label}\"")
    }
}
