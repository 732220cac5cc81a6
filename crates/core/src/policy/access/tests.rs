//! The access evaluator, one table row per rule of the IAM User Guide's
//! "Policy evaluation logic" (PEL) and "IAM JSON policy elements" (JPE) pages.

use super::*;
use crate::fixtures::named_policy;
use crate::policy::{Kind, parse};

const ROLE: &str = "arn:aws:iam::111122223333:role/backup";
const SECRET: &str = "arn:aws:secretsmanager:us-east-1:111122223333:secret:db-creds-AbCdEf";
const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const OBJECT: &str = "arn:aws:s3:::acme-backups/db/2026-12-01.sql.gz";

fn inline(statements: &str) -> NamedPolicy {
    named_policy("backup", Source::Inline, statements)
}

/// The backup CronJob's three permissions, the usual way.
const BACKUP: &str = r#"[
  {"Sid": "ReadDbSecret", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
   "Resource": "arn:aws:secretsmanager:us-east-1:111122223333:secret:db-creds-*"},
  {"Sid": "DecryptSecret", "Effect": "Allow", "Action": ["kms:Decrypt"],
   "Resource": ["arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"]},
  {"Sid": "PutBackups", "Effect": "Allow", "Action": "s3:PutObject",
   "Resource": "arn:aws:s3:::acme-backups/db/*"}
]"#;

struct Case {
    why: &'static str,
    identity: Vec<NamedPolicy>,
    boundary: Option<NamedPolicy>,
    action: &'static str,
    resource: &'static str,
    decision: Decision,
    statement: Option<&'static str>,
    policy: Option<&'static str>,
    detail: &'static str,
}

fn case(
    why: &'static str,
    identity: Vec<NamedPolicy>,
    action: &'static str,
    resource: &'static str,
) -> Case {
    Case {
        why,
        identity,
        boundary: None,
        action,
        resource,
        decision: Decision::Allowed,
        statement: None,
        policy: None,
        detail: "",
    }
}

impl Case {
    fn boundary(mut self, b: NamedPolicy) -> Self {
        self.boundary = Some(b);
        self
    }
    fn is(
        mut self,
        d: Decision,
        statement: Option<&'static str>,
        policy: Option<&'static str>,
        detail: &'static str,
    ) -> Self {
        self.decision = d;
        self.statement = statement;
        self.policy = policy;
        self.detail = detail;
        self
    }
}

fn table() -> Vec<Case> {
    use Decision::*;
    let boundary = |s: &str| named_policy("team-boundary", Source::Boundary, s);
    vec![
        // PEL: "an explicit allow in an identity-based policy" allows the request.
        case("allow", vec![inline(BACKUP)], "s3:PutObject", OBJECT)
            .is(Allowed, Some("PutBackups"), Some("backup"), "allowed by statement \"PutBackups\" of inline policy backup"),
        case("allow secret", vec![inline(BACKUP)], "secretsmanager:GetSecretValue", SECRET)
            .is(Allowed, Some("ReadDbSecret"), Some("backup"), "allowed"),
        case("allow key (list fields)", vec![inline(BACKUP)], "kms:Decrypt", KEY)
            .is(Allowed, Some("DecryptSecret"), Some("backup"), "allowed"),
        // PEL: "By default, all requests are implicitly denied" when nothing allows them.
        case("implicit deny: wrong action", vec![inline(r#"[{"Sid": "Read", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::acme-backups/db/*"}]"#)], "s3:PutObject", OBJECT)
            .is(ImplicitDeny, Some("Read"), Some("backup"), "nearest is statement \"Read\" of inline policy backup: Action s3:GetObject does not cover s3:PutObject"),
        case("implicit deny: wrong resource", vec![inline(BACKUP)], "s3:PutObject", "arn:aws:s3:::acme-backups/logs/x")
            .is(ImplicitDeny, Some("PutBackups"), Some("backup"), "Resource arn:aws:s3:::acme-backups/db/* does not cover arn:aws:s3:::acme-backups/logs/x"),
        case("implicit deny: no policies", vec![], "s3:PutObject", OBJECT)
            .is(ImplicitDeny, None, None, "the role has no inline or attached policies"),
        case("implicit deny: only Deny statements", vec![inline(r#"[{"Effect": "Deny", "Action": "iam:*", "Resource": "*"}]"#)], "s3:PutObject", OBJECT)
            .is(ImplicitDeny, None, None, "have no Allow statement"),
        case("nearest prefers the same service", vec![inline(r#"[{"Sid": "Iam", "Effect": "Allow", "Action": "iam:GetRole", "Resource": "*"},
              {"Sid": "Read", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::acme-backups/*"}]"#)], "s3:PutObject", OBJECT)
            .is(ImplicitDeny, Some("Read"), Some("backup"), "Action s3:GetObject does not cover s3:PutObject"),
        // JPE Resource: a request for `*` is not covered by a narrower Resource.
        case("resource * is literal", vec![inline(BACKUP)], "s3:PutObject", "*")
            .is(ImplicitDeny, Some("PutBackups"), Some("backup"), "does not cover *"),
        // PEL: "An explicit deny in any of these policies overrides the allow."
        case("explicit deny", vec![inline(r#"[{"Sid": "All", "Effect": "Allow", "Action": "s3:*", "Resource": "*"},
              {"Sid": "NoWrites", "Effect": "Deny", "Action": ["s3:PutObject", "s3:DeleteObject"], "Resource": "*"}]"#)], "s3:PutObject", OBJECT)
            .is(ExplicitDeny, Some("NoWrites"), Some("backup"), "statement \"NoWrites\" of inline policy backup explicitly denies s3:PutObject on"),
        // JPE NotAction: "matches everything except the specified list of actions".
        case("NotAction allows others", vec![inline(r#"[{"Sid": "AllButIam", "Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]"#)], "s3:PutObject", OBJECT)
            .is(Allowed, Some("AllButIam"), Some("backup"), "allowed"),
        case("NotAction excludes its own", vec![inline(r#"[{"Sid": "AllButIam", "Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]"#)], "iam:GetRole", "*")
            .is(ImplicitDeny, Some("AllButIam"), Some("backup"), "NotAction iam:* excludes iam:GetRole"),
        // JPE NotResource: "matches every resource except those specified".
        case("NotResource deny hits other buckets", vec![inline(r#"[{"Sid": "S3", "Effect": "Allow", "Action": "s3:*", "Resource": "*"},
              {"Sid": "OnlyBackups", "Effect": "Deny", "Action": "s3:*", "NotResource": ["arn:aws:s3:::acme-backups", "arn:aws:s3:::acme-backups/*"]}]"#)], "s3:PutObject", "arn:aws:s3:::elsewhere/x")
            .is(ExplicitDeny, Some("OnlyBackups"), Some("backup"), "explicitly denies"),
        case("NotResource deny spares its own", vec![inline(r#"[{"Sid": "S3", "Effect": "Allow", "Action": "s3:*", "Resource": "*"},
              {"Sid": "OnlyBackups", "Effect": "Deny", "Action": "s3:*", "NotResource": ["arn:aws:s3:::acme-backups", "arn:aws:s3:::acme-backups/*"]}]"#)], "s3:PutObject", OBJECT)
            .is(Allowed, Some("S3"), Some("backup"), "allowed"),
        // JPE Action: "action names are case insensitive"; `*` and `?` are wildcards.
        case("action wildcard, any case", vec![inline(r#"[{"Sid": "Put", "Effect": "Allow", "Action": "S3:put*", "Resource": "arn:aws:s3:::acme-backups/*"}]"#)], "s3:PutObject", OBJECT)
            .is(Allowed, Some("Put"), Some("backup"), "allowed"),
        case("action ? is one character", vec![inline(r#"[{"Sid": "Get", "Effect": "Allow", "Action": "kms:Decryp?", "Resource": "*"}]"#)], "kms:Decrypt", KEY)
            .is(Allowed, Some("Get"), Some("backup"), "allowed"),
        // JPE Resource: wildcards "within any ARN segment"; they do not span segments.
        case("ARN wildcard per segment", vec![inline(r#"[{"Sid": "Keys", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": "arn:aws:kms:us-*:111122223333:key/*"}]"#)], "kms:Decrypt", KEY)
            .is(Allowed, Some("Keys"), Some("backup"), "allowed"),
        case("ARN wildcard does not span segments", vec![inline(r#"[{"Sid": "Keys", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": "arn:aws:kms:*:key/*"}]"#)], "kms:Decrypt", KEY)
            .is(ImplicitDeny, Some("Keys"), Some("backup"), "does not cover"),
        case("key ARN is not an alias ARN", vec![inline(r#"[{"Sid": "Alias", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": "arn:aws:kms:*:111122223333:alias/backup"}]"#)], "kms:Decrypt", KEY)
            .is(ImplicitDeny, Some("Alias"), Some("backup"), "does not cover"),
        // JPE Condition, evaluable: keys the pod knows (the principal).
        case("condition holds", vec![inline(r#"[{"Sid": "Own", "Effect": "Allow", "Action": "s3:PutObject", "Resource": "*",
              "Condition": {"StringEquals": {"aws:PrincipalAccount": "111122223333"}}}]"#)], "s3:PutObject", OBJECT)
            .is(Allowed, Some("Own"), Some("backup"), "allowed"),
        case("condition fails", vec![inline(r#"[{"Sid": "Other", "Effect": "Allow", "Action": "s3:PutObject", "Resource": "*",
              "Condition": {"StringLike": {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/ci-*"}}}]"#)], "s3:PutObject", OBJECT)
            .is(ImplicitDeny, Some("Other"), Some("backup"), "StringLike aws:PrincipalArn expected arn:aws:iam::111122223333:role/ci-*, the request has arn:aws:iam::111122223333:role/backup"),
        // JPE Condition, not evaluable: never a false deny.
        case("unknown key on an Allow", vec![inline(r#"[{"Sid": "Office", "Effect": "Allow", "Action": "s3:PutObject", "Resource": "*",
              "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}}]"#)], "s3:PutObject", OBJECT)
            .is(Unknown, Some("Office"), Some("backup"), "aws:SourceIp"),
        case("unknown service key", vec![inline(r#"[{"Sid": "Prefix", "Effect": "Allow", "Action": "s3:PutObject", "Resource": "*",
              "Condition": {"StringLike": {"s3:prefix": "db/*"}}}]"#)], "s3:PutObject", OBJECT)
            .is(Unknown, Some("Prefix"), Some("backup"), "s3:prefix depends on the call's parameters"),
        case("unknown key on a Deny", vec![inline(BACKUP), named_policy("guard", Source::Managed, r#"[{"Sid": "Tagged", "Effect": "Deny", "Action": "*", "Resource": "*",
              "Condition": {"StringNotEquals": {"aws:RequestTag/team": "db"}}}]"#)], "s3:PutObject", OBJECT)
            .is(Unknown, Some("Tagged"), Some("guard"), "aws:RequestTag/team is the tags each call sends"),
        case("unknown Deny does not change a denial", vec![inline(r#"[{"Sid": "Tagged", "Effect": "Deny", "Action": "*", "Resource": "*",
              "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}, {"Sid": "Read", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]"#)], "s3:PutObject", OBJECT)
            .is(ImplicitDeny, Some("Read"), Some("backup"), "does not cover s3:PutObject"),
        // JPE aws:RequestedRegion: the region the call goes to. A regional ARN names it; the
        // SDK's region serves for `*`; a region-less ARN or a global service is unknown.
        case("region from the ARN", vec![inline(r#"[{"Sid": "UsOnly", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*",
              "Condition": {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}}]"#)], "kms:Decrypt", KEY)
            .is(Allowed, Some("UsOnly"), Some("backup"), "allowed"),
        case("region from the SDK for *", vec![inline(r#"[{"Sid": "EuOnly", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*",
              "Condition": {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}}]"#)], "kms:Decrypt", "*")
            .is(ImplicitDeny, Some("EuOnly"), Some("backup"), "the request has us-east-1"),
        case("region-less ARN: unknown, not the SDK's", vec![inline(r#"[{"Sid": "EuOnly", "Effect": "Allow", "Action": "s3:PutObject", "Resource": "*",
              "Condition": {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}}]"#)], "s3:PutObject", OBJECT)
            .is(Unknown, Some("EuOnly"), Some("backup"), "aws:RequestedRegion is the region s3:PutObject is sent to"),
        case("global service: unknown, not the SDK's", vec![inline(r#"[{"Sid": "Home", "Effect": "Allow", "Action": "iam:GetRole", "Resource": "*",
              "Condition": {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}}]"#)], "iam:GetRole", "*")
            .is(Unknown, Some("Home"), Some("backup"), "aws:RequestedRegion"),
        case("policy variable in Resource", vec![inline(r#"[{"Sid": "Mine", "Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::acme-backups/${aws:PrincipalTag/team}/*"}]"#)], "s3:PutObject", OBJECT)
            .is(Unknown, Some("Mine"), Some("backup"), "policy variables"),
        // PEL, permissions boundaries: effective permissions are the intersection.
        case("boundary cuts", vec![inline(BACKUP)], "s3:PutObject", OBJECT)
            .boundary(boundary(r#"[{"Sid": "SecretsOnly", "Effect": "Allow", "Action": ["secretsmanager:*", "kms:Decrypt"], "Resource": "*"}]"#))
            .is(ImplicitDeny, Some("SecretsOnly"), Some("team-boundary"), "allows it, but the permissions boundary team-boundary does not"),
        case("boundary permits", vec![inline(BACKUP)], "kms:Decrypt", KEY)
            .boundary(boundary(r#"[{"Sid": "SecretsOnly", "Effect": "Allow", "Action": ["secretsmanager:*", "kms:Decrypt"], "Resource": "*"}]"#))
            .is(Allowed, Some("DecryptSecret"), Some("backup"), "within the permissions boundary (statement \"SecretsOnly\""),
        case("boundary alone allows nothing", vec![], "kms:Decrypt", KEY)
            .boundary(boundary(r#"[{"Effect": "Allow", "Action": "*", "Resource": "*"}]"#))
            .is(ImplicitDeny, None, None, "no inline or attached policies"),
        case("boundary deny is explicit", vec![inline(BACKUP)], "s3:PutObject", OBJECT)
            .boundary(boundary(r#"[{"Effect": "Allow", "Action": "*", "Resource": "*"}, {"Sid": "NoS3Writes", "Effect": "Deny", "Action": "s3:Put*", "Resource": "*"}]"#))
            .is(ExplicitDeny, Some("NoS3Writes"), Some("team-boundary"), "of permissions boundary team-boundary explicitly denies"),
        // PEL: every identity policy counts; the one that allows is named.
        case("several policies: the second allows", vec![inline(r#"[{"Sid": "Read", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]"#),
              named_policy("S3Writer", Source::Managed, r#"{"Sid": "Write", "Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}"#)], "s3:PutObject", OBJECT)
            .is(Allowed, Some("Write"), Some("S3Writer"), "managed policy S3Writer"),
        case("several policies: a deny in another wins", vec![named_policy("S3Writer", Source::Managed, r#"{"Sid": "Write", "Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}"#),
              inline(r#"[{"Sid": "Freeze", "Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::acme-backups/*"}]"#)], "s3:PutObject", OBJECT)
            .is(ExplicitDeny, Some("Freeze"), Some("backup"), "explicitly denies"),
    ]
}

#[test]
fn evaluation_table() {
    let caller = Caller {
        role_arn: Some(ROLE),
        region: Some("us-east-1"),
    };
    let mut failures = Vec::new();
    for c in table() {
        let roles = RolePolicies {
            identity: c.identity,
            boundary: c.boundary,
            arn: None,
        };
        let want = ExpectedAccess {
            action: c.action.to_owned(),
            resource: c.resource.to_owned(),
        };
        let got = check(&roles, &caller, &want);
        let ok = got.decision == c.decision
            && got.deciding_statement.as_deref() == c.statement
            && got.policy.as_deref() == c.policy
            && got.detail.contains(c.detail);
        if !ok {
            failures.push(format!(
                "{}: got {:?} {:?} {:?} {:?}; expected {:?} {:?} {:?} ~{:?}",
                c.why,
                got.decision,
                got.deciding_statement,
                got.policy,
                got.detail,
                c.decision,
                c.statement,
                c.policy,
                c.detail
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn identity_grammar() {
    let bad = [
        (
            r#"{"Statement": {"Effect": "Allow", "Action": "s3:*"}}"#,
            "policy statement #0: has no Resource",
        ),
        (
            r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}}"#,
            "may not contain Principal",
        ),
        (
            r#"{"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": [], "NotResource": "x"}}"#,
            "has both Resource and NotResource",
        ),
        (
            r#"{"PolicyVersion": {"Document": {}}}"#,
            "pass .PolicyVersion.Document",
        ),
        ("", "policy is empty"),
    ];
    for (text, fragment) in bad {
        match parse(text, Kind::Identity) {
            Ok(p) => panic!("{text}: parsed {p:?}"),
            Err(e) => assert!(e.to_string().contains(fragment), "{text}: {e}"),
        }
    }
    // IAM returns documents URL-encoded.
    let encoded = "%7B%22Statement%22%3A%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22s3%3APutObject%22%2C%22Resource%22%3A%22*%22%7D%7D";
    match parse(encoded, Kind::Identity) {
        Ok(p) => assert_eq!(p.statements[0].resources, vec!["*".to_owned()]),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn expected_access_entries() {
    let good = [
        ("s3:PutObject", "s3:PutObject", "*"),
        (
            " kms:Decrypt = arn:aws:kms:us-east-1:1:key/k ",
            "kms:Decrypt",
            "arn:aws:kms:us-east-1:1:key/k",
        ),
        (
            "s3:PutObject=arn:aws:s3:::b/p/*",
            "s3:PutObject",
            "arn:aws:s3:::b/p/*",
        ),
    ];
    for (entry, action, resource) in good {
        assert_eq!(
            ExpectedAccess::parse(entry),
            Ok(ExpectedAccess {
                action: action.into(),
                resource: resource.into()
            }),
            "{entry}"
        );
    }
    let bad = [
        ("PutObject", "has no service prefix"),
        (":PutObject", "is not a service prefix"),
        ("s3:Put*", "no wildcards"),
        ("s3:PutObject=bucket/prefix", "is not an ARN"),
        ("s3:PutObject=arn:aws:s3", "is not an ARN"),
        ("s3:PutObject=", "empty resource"),
        ("=arn:aws:s3:::b", "no action"),
    ];
    for (entry, fragment) in bad {
        match ExpectedAccess::parse(entry) {
            Ok(e) => panic!("{entry}: parsed {e:?}"),
            Err(m) => {
                assert!(m.contains(fragment), "{entry}: {m}");
                assert!(!m.contains('\n'), "{entry}: one line");
            }
        }
    }
}

#[test]
fn resource_segments() {
    assert!(resource_matches("*", "*"));
    assert!(resource_matches("arn:aws:s3:::b/*", "arn:aws:s3:::b/x:y"));
    assert!(!resource_matches("arn:aws:s3:::b/*", "arn:aws:s3:::c/x"));
    assert!(resource_matches("arn:aws:kms:*:*:key/*", KEY));
    assert!(!resource_matches("arn:aws:kms:*:key/*", KEY));
    assert!(!resource_matches("arn:aws:s3:::b/*", "*"));
}
