use super::*;

const ISS: &str = "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE";
/// The issuer as provider ARNs and condition keys spell it; `$ID` in the policies below.
const ID: &str = "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE";
const SA: &str = "system:serviceaccount:payments:s3-backup";

/// The trust policy `eksctl`/the EKS user guide create for IRSA.
const STANDARD: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{
    "Sid": "AllowS3Backup",
    "Effect": "Allow",
    "Principal": {"Federated": "arn:aws:iam::111122223333:oidc-provider/$ID"},
    "Action": "sts:AssumeRoleWithWebIdentity",
    "Condition": {"StringEquals": {
      "$ID:sub": "system:serviceaccount:payments:s3-backup",
      "$ID:aud": "sts.amazonaws.com"
    }}
  }]
}"#;

fn token() -> Claims {
    Claims {
        issuer: Some(ISS.to_owned()),
        subject: Some(SA.to_owned()),
        audiences: vec!["sts.amazonaws.com".to_owned()],
        ..Claims::default()
    }
}

/// A policy with one Allow statement for this issuer, `$COND` replaced by `condition`.
fn allow_with(condition: &str) -> String {
    r#"{"Version": "2012-10-17", "Statement": [{
      "Sid": "Irsa", "Effect": "Allow",
      "Principal": {"Federated": "arn:aws:iam::111122223333:oidc-provider/$ID"},
      "Action": "sts:AssumeRoleWithWebIdentity",
      "Condition": $COND
    }]}"#
        .replace("$COND", condition)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum V {
    Allowed,
    ExplicitDeny(&'static str),
    ImplicitDeny,
    Unknown,
}

/// What one case must show; unset fields are not checked.
#[derive(Debug, Clone)]
struct Expect {
    verdict: V,
    issuer_matched: Option<bool>,
    note: Option<&'static str>,
    no_notes: bool,
    explain: Option<&'static str>,
    closest: Option<Option<usize>>,
    account: Option<&'static str>,
}

fn expect(verdict: V) -> Expect {
    Expect {
        verdict,
        issuer_matched: None,
        note: None,
        no_notes: false,
        explain: None,
        closest: None,
        account: None,
    }
}

impl Expect {
    fn issuer(mut self, matched: bool) -> Self {
        self.issuer_matched = Some(matched);
        self
    }
    fn note(mut self, fragment: &'static str) -> Self {
        self.note = Some(fragment);
        self
    }
    fn quiet(mut self) -> Self {
        self.no_notes = true;
        self
    }
    fn explain(mut self, fragment: &'static str) -> Self {
        self.explain = Some(fragment);
        self
    }
    fn closest(mut self, index: Option<usize>) -> Self {
        self.closest = Some(index);
        self
    }
    fn account(mut self, account: &'static str) -> Self {
        self.account = Some(account);
        self
    }
}

fn keep(_: &mut Claims) {}

/// The one helper every table row goes through: parse, evaluate with edited claims, compare.
fn check(policy_json: &str, claims_edits: fn(&mut Claims), expect: &Expect) -> Result<(), String> {
    let policy = parse(&policy_json.replace("$ID", ID)).map_err(|e| format!("parse: {e}"))?;
    let mut claims = token();
    claims_edits(&mut claims);
    let eval = evaluate(&policy, &claims);
    let same = match (expect.verdict, &eval.verdict) {
        (V::Allowed, Verdict::Allowed)
        | (V::ImplicitDeny, Verdict::ImplicitDeny)
        | (V::Unknown, Verdict::Unknown) => true,
        (V::ExplicitDeny(want), Verdict::ExplicitDeny { statement }) => want == statement,
        _ => false,
    };
    let mut problems = Vec::new();
    if !same {
        problems.push(format!(
            "verdict {:?}, expected {:?}",
            eval.verdict, expect.verdict
        ));
    }
    if let Some(m) = expect.issuer_matched
        && m != eval.issuer_matched
    {
        problems.push(format!(
            "issuer_matched {}, expected {m}",
            eval.issuer_matched
        ));
    }
    if let Some(n) = expect.note
        && !eval.notes.iter().any(|x| x.contains(n))
    {
        problems.push(format!("no note containing {n:?}"));
    }
    if expect.no_notes && !eval.notes.is_empty() {
        problems.push("expected no notes".to_owned());
    }
    if let Some(e) = expect.explain
        && !eval.explain().contains(e)
    {
        problems.push(format!("explain() lacks {e:?}"));
    }
    if let Some(c) = expect.closest
        && c != eval.closest
    {
        problems.push(format!("closest {:?}, expected {c:?}", eval.closest));
    }
    if let Some(a) = expect.account
        && !eval
            .statements
            .iter()
            .any(|s| s.principal_account.as_deref() == Some(a))
    {
        problems.push(format!("no statement records account {a}"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}\n    explain: {}\n    notes: {:?}",
            problems.join("; "),
            eval.explain(),
            eval.notes
        ))
    }
}

type Case = (&'static str, String, fn(&mut Claims), Expect);

fn s(text: &str) -> String {
    text.to_owned()
}

#[test]
fn table() {
    use V::*;
    let url_encoded: String = STANDARD
        .replace("$ID", ID)
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();

    let cases: Vec<Case> = vec![
        // --- The policies quoted in the wild -------------------------------------------
        // EKS user guide, "Assign IAM roles to Kubernetes service accounts": StringEquals pins sub and aud.
        ("standard policy allows its own SA", s(STANDARD), keep,
            expect(Allowed).issuer(true).quiet().account("111122223333").closest(None)),
        // Condition operators: "StringEquals — Exact matching, case sensitive".
        ("standard policy, other SA", s(STANDARD),
            |c| c.subject = Some("system:serviceaccount:payments:default".into()),
            expect(ImplicitDeny).issuer(true).closest(Some(0)).explain(
                "statement \"AllowS3Backup\": StringEquals oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE:sub expected system:serviceaccount:payments:s3-backup, token has system:serviceaccount:payments:default")),
        // Condition operators: StringEquals exact matching; the token's aud is not sts.amazonaws.com (a custom audience the OIDC provider does not list: docs/failure-modes.md#wrong-audience).
        ("standard policy, wrong audience", s(STANDARD),
            |c| c.audiences = vec!["api".into()],
            expect(ImplicitDeny).explain(":aud expected sts.amazonaws.com, token has api")),
        // Condition operators: "You must specify wildcards to achieve partial string matches" — StringLike ns:*.
        ("StringLike namespace wildcard", allow_with(r#"{"StringLike": {"$ID:sub": "system:serviceaccount:payments:*"}, "StringEquals": {"$ID:aud": "sts.amazonaws.com"}}"#), keep,
            expect(Allowed).quiet()),
        // Same rule: the wildcard covers one namespace only.
        ("StringLike namespace wildcard, other namespace", allow_with(r#"{"StringLike": {"$ID:sub": "system:serviceaccount:payments:*"}}"#),
            |c| c.subject = Some("system:serviceaccount:billing:s3-backup".into()),
            expect(ImplicitDeny).explain("StringLike")),
        // Research row 8: "StringEquals treats * as a literal; wildcards need StringLike".
        ("StringEquals with * is literal", allow_with(r#"{"StringEquals": {"$ID:sub": "system:serviceaccount:payments:*", "$ID:aud": "sts.amazonaws.com"}}"#), keep,
            expect(ImplicitDeny).note("wildcards are literal in StringEquals")),
        // Condition element: "The Condition element is optional" — with no aud key, any audience passes (advice only).
        ("missing aud condition", allow_with(r#"{"StringEquals": {"$ID:sub": "system:serviceaccount:payments:s3-backup"}}"#), keep,
            expect(Allowed).note("allows any audience; pin oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE:aud to sts.amazonaws.com")),
        // No sub condition: every service account of the cluster may assume the role.
        ("missing sub condition", allow_with(r#"{"StringEquals": {"$ID:aud": "sts.amazonaws.com"}}"#), keep,
            expect(Allowed).note("every service account in the cluster")),
        // Principal element: the Federated principal must be this issuer's provider; another cluster's id does not match.
        ("policy for another cluster", STANDARD.replace("$ID", "oidc.eks.us-east-1.amazonaws.com/id/0123456789ABCDEF0123456789ABCDEF"), keep,
            expect(ImplicitDeny).issuer(false).note("the cluster was recreated").explain("is not this token's issuer")),
        // Research row 8: oidc.REGION.eks typo for oidc.eks.REGION.
        ("oidc.REGION.eks typo", STANDARD.replace("$ID", "oidc.us-east-1.eks.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"), keep,
            expect(ImplicitDeny).issuer(false).note("a typo in the provider ARN")),
        // URL-encoded document, as IAM GetRole returns AssumeRolePolicyDocument (RFC 3986).
        ("URL-encoded standard policy", url_encoded, keep, expect(Allowed).quiet()),

        // --- String operators --------------------------------------------------------
        // Condition operators: StringEquals is case sensitive.
        ("StringEquals is case-sensitive", allow_with(r#"{"StringEquals": {"$ID:sub": "System:ServiceAccount:payments:s3-backup"}}"#), keep,
            expect(ImplicitDeny)),
        // Condition operators: "StringEqualsIgnoreCase — Exact matching, ignoring case".
        ("StringEqualsIgnoreCase", allow_with(r#"{"StringEqualsIgnoreCase": {"$ID:sub": "SYSTEM:SERVICEACCOUNT:PAYMENTS:S3-BACKUP"}}"#), keep,
            expect(Allowed)),
        // Condition operators: "StringNotEquals — Negated matching".
        ("StringNotEquals other value", allow_with(r#"{"StringNotEquals": {"$ID:sub": "system:serviceaccount:payments:default"}}"#), keep,
            expect(Allowed)),
        // Multiple values: "a single negated matching condition operator ... evaluated using a logical NOR".
        ("StringNotEquals list is NOR", allow_with(r#"{"StringNotEquals": {"$ID:sub": ["system:serviceaccount:x:y", "system:serviceaccount:payments:s3-backup"]}}"#), keep,
            expect(ImplicitDeny).explain("expected none of")),
        // Condition operators: "StringNotEqualsIgnoreCase — Negated matching, ignoring case".
        ("StringNotEqualsIgnoreCase", allow_with(r#"{"StringNotEqualsIgnoreCase": {"$ID:sub": "SYSTEM:SERVICEACCOUNT:PAYMENTS:S3-BACKUP"}}"#), keep,
            expect(ImplicitDeny)),
        // Condition operators: StringLike "single-character match wildcards (?)" match exactly one character.
        ("StringLike ? matches one char", allow_with(r#"{"StringLike": {"$ID:sub": "system:serviceaccount:payments:s3-backu?"}}"#), keep,
            expect(Allowed)),
        // Same rule: ? never matches two characters.
        ("StringLike ? is not two chars", allow_with(r#"{"StringLike": {"$ID:sub": "system:serviceaccount:payments:s3-back?"}}"#), keep,
            expect(ImplicitDeny)),
        // Condition operators: "multi-character match wildcards (*)" — including none.
        ("StringLike * matches empty", allow_with(r#"{"StringLike": {"$ID:sub": "system:serviceaccount:payments:s3-backup*"}}"#), keep,
            expect(Allowed)),
        // Condition operators: "StringNotLike — Negated case-sensitive matching".
        ("StringNotLike", allow_with(r#"{"StringNotLike": {"$ID:sub": "system:serviceaccount:kube-system:*"}}"#), keep,
            expect(Allowed)),
        // Same rule, the negated pattern hits.
        ("StringNotLike hits", allow_with(r#"{"StringNotLike": {"$ID:sub": "system:serviceaccount:payments:*"}}"#), keep,
            expect(ImplicitDeny)),

        // --- Combining values, keys and operators ------------------------------------
        // Multiple values: "those values are evaluated using a logical OR".
        ("values are ORed", allow_with(r#"{"StringEquals": {"$ID:sub": ["system:serviceaccount:x:y", "system:serviceaccount:payments:s3-backup"]}}"#), keep,
            expect(Allowed)),
        // Multiple keys: "context keys are evaluated using a logical AND".
        ("keys are ANDed", allow_with(r#"{"StringEquals": {"$ID:sub": "system:serviceaccount:payments:s3-backup", "$ID:aud": "other"}}"#), keep,
            expect(ImplicitDeny).explain(":aud expected other, token has sts.amazonaws.com")),
        // Multiple operators: "the condition operators are evaluated using a logical AND".
        ("operators are ANDed", allow_with(r#"{"StringEquals": {"$ID:aud": "sts.amazonaws.com"}, "StringLike": {"$ID:sub": "system:serviceaccount:billing:*"}}"#), keep,
            expect(ImplicitDeny).explain("StringLike")),
        // Condition element: "Context key names are not case-sensitive".
        ("key names are case-insensitive", allow_with(r#"{"StringEquals": {"OIDC.EKS.US-EAST-1.AMAZONAWS.COM/ID/EXAMPLED539D4633E53DE1B71EXAMPLE:SUB": "system:serviceaccount:payments:s3-backup"}}"#), keep,
            expect(Allowed)),

        // --- Missing keys, IfExists and Null ----------------------------------------
        // Condition operators: "If the key ... is not present in the request context, the values do not match and the condition is false" (amr is absent from Kubernetes tokens).
        ("missing key, positive operator", allow_with(r#"{"StringEquals": {"$ID:amr": "authenticated"}}"#), keep,
            expect(ImplicitDeny).explain("no such key")),
        // Condition operators: "If the policy condition requires that the key is not matched ... and the right key is not present, the condition is true".
        ("missing key, negated operator", allow_with(r#"{"StringNotEquals": {"$ID:amr": "unauthenticated"}}"#), keep,
            expect(Allowed)),
        // Condition operators, ...IfExists: "If the key is not present, evaluate the condition element as true".
        ("IfExists with absent key", allow_with(r#"{"StringEqualsIfExists": {"$ID:amr": "authenticated"}}"#), keep,
            expect(Allowed)),
        // ...IfExists: "If the condition key is present ... process the key as specified in the policy".
        ("IfExists with present key", allow_with(r#"{"StringLikeIfExists": {"$ID:sub": "system:serviceaccount:billing:*"}}"#), keep,
            expect(ImplicitDeny)),
        // Condition operators, Null: "true" means the key must be absent.
        ("Null true on absent key", allow_with(r#"{"Null": {"$ID:amr": "true"}}"#), keep, expect(Allowed)),
        // Null: "false" means the key must be present (JSON booleans accepted too).
        ("Null false on present key", allow_with(r#"{"Null": {"$ID:sub": false}}"#), keep, expect(Allowed)),
        // Null: "true" fails when the key exists.
        ("Null true on present key", allow_with(r#"{"Null": {"$ID:sub": "true"}}"#), keep,
            expect(ImplicitDeny).explain("expected the key absent")),
        // Multiple values are ORed for Null too: ["true", "false"] holds whether or not the key exists.
        ("Null with both values", allow_with(r#"{"Null": {"$ID:sub": ["true", "false"]}}"#), keep, expect(Allowed)),
        // Null: "false" fails when the key is absent.
        ("Null false on absent key", allow_with(r#"{"Null": {"$ID:amr": "false"}}"#), keep, expect(ImplicitDeny)),
        // Missing key rule applies when the token lacks the claim altogether.
        ("token without aud", s(STANDARD), |c| c.audiences.clear(),
            expect(ImplicitDeny).explain("token has no such key (the token has no aud claim)")),
        // A key for another issuer is not in this request's context: missing, so false.
        ("condition keys for another cluster", allow_with(r#"{"StringEquals": {"oidc.eks.us-west-2.amazonaws.com/id/AAAA:sub": "system:serviceaccount:payments:s3-backup"}}"#), keep,
            expect(ImplicitDeny).issuer(true).explain("the key is for issuer oidc.eks.us-west-2.amazonaws.com/id/AAAA")),

        // --- Multivalued aud -----------------------------------------------------------
        // Single-valued operator on a multivalued key: matches when any value matches (see `when_present`).
        ("several audiences, StringEquals", s(STANDARD), |c| c.audiences = vec!["api".into(), "sts.amazonaws.com".into()],
            expect(Allowed)),
        // Negated single-valued operator on a multivalued key: holds only when no value matches.
        ("several audiences, StringNotEquals", allow_with(r#"{"StringNotEquals": {"$ID:aud": "api"}}"#),
            |c| c.audiences = vec!["api".into(), "sts.amazonaws.com".into()],
            expect(ImplicitDeny)),
        // Multivalued context keys: ForAnyValue "returns true if any one of the key values in the request matches".
        ("ForAnyValue:StringEquals", allow_with(r#"{"ForAnyValue:StringEquals": {"$ID:aud": "sts.amazonaws.com"}}"#),
            |c| c.audiences = vec!["api".into(), "sts.amazonaws.com".into()],
            expect(Allowed)),
        // Multivalued context keys: ForAnyValue "returns false" when the key is absent or empty.
        ("ForAnyValue on absent key", allow_with(r#"{"ForAnyValue:StringEquals": {"$ID:amr": "authenticated"}}"#), keep,
            expect(ImplicitDeny)),
        // Multivalued context keys: ForAllValues true only if every request value matches a policy value.
        ("ForAllValues:StringEquals, one stray audience", allow_with(r#"{"ForAllValues:StringEquals": {"$ID:aud": "sts.amazonaws.com"}}"#),
            |c| c.audiences = vec!["api".into(), "sts.amazonaws.com".into()],
            expect(ImplicitDeny).explain("token has [api, sts.amazonaws.com]")),
        // Multivalued context keys: ForAllValues "also returns true if there are no context keys in the request".
        ("ForAllValues on absent key", allow_with(r#"{"ForAllValues:StringEquals": {"$ID:amr": "authenticated"}}"#), keep,
            expect(Allowed)),
        // Multivalued context keys: ForAllValues with StringLike patterns.
        ("ForAllValues:StringLike", allow_with(r#"{"ForAllValues:StringLike": {"$ID:aud": "sts.*"}}"#),
            |c| c.audiences = vec!["sts.amazonaws.com".into(), "sts.example.com".into()],
            expect(Allowed)),
        // ForAnyValue with a negated operator: true when at least one request value matches none of the policy values.
        ("ForAnyValue:StringNotEquals", allow_with(r#"{"ForAnyValue:StringNotEquals": {"$ID:aud": "sts.amazonaws.com"}}"#),
            |c| c.audiences = vec!["sts.amazonaws.com".into(), "api".into()],
            expect(Allowed)),

        // --- Unevaluable keys and operators ---------------------------------------------
        // Unknown keys are not in the token: aws:SourceIp is reported, not guessed.
        ("aws:SourceIp is unevaluable", allow_with(r#"{"StringEquals": {"$ID:sub": "system:serviceaccount:payments:s3-backup"}, "IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}"#), keep,
            expect(Unknown).explain("IpAddress aws:SourceIp")),
        // A definite failure outweighs an unevaluable condition: AND with false is false.
        ("failure beats unevaluable", allow_with(r#"{"StringEquals": {"$ID:sub": "system:serviceaccount:x:y"}, "StringLike": {"sts:RoleSessionName": "app-*"}}"#), keep,
            expect(ImplicitDeny)),
        // Policy variables: in Version 2012-10-17 ${...} is substituted from the request context.
        ("policy variable", allow_with(r#"{"StringEquals": {"$ID:sub": "system:serviceaccount:${aws:PrincipalTag/ns}:app"}}"#), keep,
            expect(Unknown).explain("policy variables")),
        // A valid non-string operator on a present key is not compared offline.
        ("ArnLike on sub is unevaluable", allow_with(r#"{"ArnLike": {"$ID:sub": "arn:*"}}"#), keep, expect(Unknown)),
        // Missing-key rule holds for any operator: a positive ArnLike on an absent key is false.
        ("ArnLike on absent key", allow_with(r#"{"ArnLike": {"$ID:amr": "arn:*"}}"#), keep, expect(ImplicitDeny)),

        // --- Policy logic ------------------------------------------------------------------
        // Policy evaluation logic: an explicit Deny overrides any Allow.
        ("explicit deny wins", s(r#"{"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::111122223333:oidc-provider/$ID"}, "Action": "sts:AssumeRoleWithWebIdentity"},
            {"Sid": "DenyPayments", "Effect": "Deny", "Principal": "*", "Action": "sts:*",
             "Condition": {"StringLike": {"$ID:sub": "system:serviceaccount:payments:*"}}}]}"#), keep,
            expect(ExplicitDeny("DenyPayments")).explain("statement \"DenyPayments\" explicitly denies this token")),
        // A Deny whose condition does not hold does not apply.
        ("deny not applying", s(r#"{"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::111122223333:oidc-provider/$ID"}, "Action": "sts:AssumeRoleWithWebIdentity",
             "Condition": {"StringEquals": {"$ID:aud": "sts.amazonaws.com", "$ID:sub": "system:serviceaccount:payments:s3-backup"}}},
            {"Effect": "Deny", "Principal": "*", "Action": "sts:*",
             "Condition": {"StringLike": {"$ID:sub": "system:serviceaccount:kube-system:*"}}}]}"#), keep,
            expect(Allowed)),
        // A Deny that may apply (unevaluable) leaves an otherwise allowed request unknown.
        ("unevaluable deny over an allow", s(r#"{"Version": "2012-10-17", "Statement": [
            {"Sid": "Irsa", "Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::111122223333:oidc-provider/$ID"}, "Action": "sts:AssumeRoleWithWebIdentity"},
            {"Sid": "DenyOutside", "Effect": "Deny", "Principal": "*", "Action": "*",
             "Condition": {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]}"#), keep,
            expect(Unknown).explain("but Deny statement \"DenyOutside\" may apply")),
        // Without a matching Allow the answer is a deny whatever an unevaluable Deny does; the Deny is noted.
        ("unevaluable deny, nothing allowed", s(r#"{"Statement": [
            {"Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::111122223333:oidc-provider/$ID"}, "Action": "sts:AssumeRoleWithWebIdentity", "Condition": {"StringEquals": {"$ID:sub": "system:serviceaccount:x:y"}}},
            {"Sid": "DenyOutside", "Effect": "Deny", "Principal": "*", "Action": "*", "Condition": {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]}"#), keep,
            expect(ImplicitDeny).closest(Some(0)).note("Deny statement \"DenyOutside\" may also apply")),
        // Action element: NotAction matches every action except those listed.
        ("NotAction excludes another action", s(r#"{"Statement": {"Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::111122223333:oidc-provider/$ID"}, "NotAction": "sts:AssumeRole"}}"#), keep,
            expect(Allowed)),
        // NotAction with a wildcard that covers AssumeRoleWithWebIdentity excludes it.
        ("NotAction excludes web identity", s(r#"{"Statement": {"Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::111122223333:oidc-provider/$ID"}, "NotAction": "sts:AssumeRoleWith*"}}"#), keep,
            expect(ImplicitDeny).explain("NotAction sts:AssumeRoleWith* excludes sts:AssumeRoleWithWebIdentity")),
        // Action element, list form: sts:AssumeRole does not cover AssumeRoleWithWebIdentity.
        ("Action list without web identity", s(r#"{"Statement": [{"Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::111122223333:oidc-provider/$ID"}, "Action": ["sts:AssumeRole", "sts:TagSession"]}]}"#), keep,
            expect(ImplicitDeny).explain("Action sts:AssumeRole, sts:TagSession does not cover")),
        // Action element: action names are case-insensitive and take * wildcards.
        ("Action wildcard, any case", s(r#"{"Statement": [{"Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::111122223333:oidc-provider/$ID"}, "Action": ["STS:assumerolewith*"]}]}"#), keep,
            expect(Allowed)),
        // Action element: sts:* covers every STS action.
        ("Action sts:*", s(r#"{"Statement": [{"Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::111122223333:oidc-provider/$ID"}, "Action": "sts:*"}]}"#), keep,
            expect(Allowed)),
        // Statement element may be a single object instead of a list.
        ("Statement as object", s(r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::111122223333:oidc-provider/$ID"}, "Action": "sts:AssumeRoleWithWebIdentity", "Condition": {"StringEquals": {"$ID:sub": "system:serviceaccount:payments:s3-backup", "$ID:aud": "sts.amazonaws.com"}}}}"#), keep,
            expect(Allowed).quiet()),
        // Evaluation logic: any one matching Allow is enough; the second statement matches.
        ("second statement matches", s(r#"{"Statement": [
            {"Sid": "Web", "Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::111122223333:oidc-provider/$ID"}, "Action": "sts:AssumeRoleWithWebIdentity", "Condition": {"StringEquals": {"$ID:sub": "system:serviceaccount:web:web", "$ID:aud": "sts.amazonaws.com"}}},
            {"Sid": "Backup", "Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::111122223333:oidc-provider/$ID"}, "Action": "sts:AssumeRoleWithWebIdentity", "Condition": {"StringEquals": {"$ID:sub": "system:serviceaccount:payments:s3-backup", "$ID:aud": "sts.amazonaws.com"}}}]}"#), keep,
            expect(Allowed).explain("allowed by statement \"Backup\"")),

        // --- Principals ----------------------------------------------------------------
        // Principal element: "Principal": "*" means everyone.
        ("Principal *", s(r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRoleWithWebIdentity", "Condition": {"StringEquals": {"$ID:sub": "system:serviceaccount:payments:s3-backup", "$ID:aud": "sts.amazonaws.com"}}}}"#), keep,
            expect(Allowed).issuer(true)),
        // Principal element: "For anonymous users, the following elements are equivalent": "*" and {"AWS": "*"}.
        ("AWS * is the wildcard", s(r#"{"Statement": {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRoleWithWebIdentity", "Condition": {"StringEquals": {"$ID:sub": "system:serviceaccount:payments:s3-backup", "$ID:aud": "sts.amazonaws.com"}}}}"#), keep,
            expect(Allowed).issuer(true)),
        // Principal element: an AWS account principal is not a web-identity caller.
        ("AWS principal only", s(r#"{"Statement": {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "sts:AssumeRole"}}"#), keep,
            expect(ImplicitDeny).issuer(false).note("no statement trusts an OIDC provider")),
        // Principal element: a Service principal is not a web-identity caller.
        ("Service principal", s(r#"{"Statement": {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRoleWithWebIdentity"}}"#), keep,
            expect(ImplicitDeny).issuer(false)),
        // Principal element: Federated may be a list; one entry for this issuer is enough.
        ("Federated list", s(r#"{"Statement": {"Effect": "Allow", "Principal": {"Federated": ["arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com", "arn:aws:iam::444455556666:oidc-provider/$ID"]}, "Action": "sts:AssumeRoleWithWebIdentity", "Condition": {"StringEquals": {"$ID:sub": "system:serviceaccount:payments:s3-backup", "$ID:aud": "sts.amazonaws.com"}}}}"#), keep,
            expect(Allowed).account("444455556666")),
        // Host compared case-insensitively, trailing slash ignored.
        ("provider host case and trailing slash", s(STANDARD).replace("oidc-provider/$ID", "oidc-provider/OIDC.EKS.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE/"),
            |c| c.issuer = Some(format!("{ISS}/")),
            expect(Allowed).issuer(true)),
        // NotPrincipal: the statement applies to everyone except the listed principals.
        ("Deny with NotPrincipal for this issuer", s(r#"{"Statement": [
            {"Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::111122223333:oidc-provider/$ID"}, "Action": "sts:AssumeRoleWithWebIdentity", "Condition": {"StringEquals": {"$ID:sub": "system:serviceaccount:payments:s3-backup", "$ID:aud": "sts.amazonaws.com"}}},
            {"Sid": "OnlyIrsa", "Effect": "Deny", "NotPrincipal": {"Federated": "arn:aws:iam::111122223333:oidc-provider/$ID"}, "Action": "sts:*"}]}"#), keep,
            expect(Allowed)),

        // --- Slips worth a note --------------------------------------------------------
        // Research row 8: ":aud used instead of :sub".
        ("aud compared with a subject", allow_with(r#"{"StringEquals": {"$ID:aud": "system:serviceaccount:payments:s3-backup"}}"#), keep,
            expect(ImplicitDeny).note("did you mean oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE:sub")),
        // Condition keys carry no URL scheme.
        ("key with https://", allow_with(r#"{"StringEquals": {"https://$ID:sub": "system:serviceaccount:payments:s3-backup"}}"#), keep,
            expect(ImplicitDeny).note("without https://")),

        // --- closest selection -----------------------------------------------------------
        // Closest: principal first — a matching principal with two failures beats a wrong principal with none.
        ("closest prefers principal", s(r#"{"Statement": [
            {"Sid": "OtherCluster", "Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::111122223333:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/FFFF"}, "Action": "sts:AssumeRoleWithWebIdentity"},
            {"Sid": "ThisCluster", "Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::111122223333:oidc-provider/$ID"}, "Action": "sts:AssumeRoleWithWebIdentity",
             "Condition": {"StringEquals": {"$ID:sub": "system:serviceaccount:x:y", "$ID:aud": "x"}}}]}"#), keep,
            expect(ImplicitDeny).closest(Some(1)).explain("statement \"ThisCluster\": StringEquals")),
        // Closest: then fewest failing conditions; Deny statements are never closest.
        ("closest prefers fewer failures", s(r#"{"Statement": [
            {"Sid": "Deny", "Effect": "Deny", "Principal": {"Federated": "arn:aws:iam::111122223333:oidc-provider/$ID"}, "Action": "sts:*", "Condition": {"StringEquals": {"$ID:sub": "nobody"}}},
            {"Sid": "TwoOff", "Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::111122223333:oidc-provider/$ID"}, "Action": "sts:AssumeRoleWithWebIdentity",
             "Condition": {"StringEquals": {"$ID:sub": "system:serviceaccount:x:y", "$ID:aud": "x"}}},
            {"Sid": "OneOff", "Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::111122223333:oidc-provider/$ID"}, "Action": "sts:AssumeRoleWithWebIdentity",
             "Condition": {"StringEquals": {"$ID:sub": "system:serviceaccount:payments:s3-backup", "$ID:aud": "x"}}}]}"#), keep,
            expect(ImplicitDeny).closest(Some(2)).explain("statement \"OneOff\": StringEquals")),
        // Closest: no Allow statement at all.
        ("only a deny", s(r#"{"Statement": {"Effect": "Deny", "Principal": "*", "Action": "sts:AssumeRole"}}"#), keep,
            expect(ImplicitDeny).closest(None).explain("no Allow statement")),
    ];

    assert!(cases.len() >= 40, "only {} cases", cases.len());
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(name, policy, edit, want)| {
            check(policy, *edit, want)
                .err()
                .map(|e| format!("{name}: {e}"))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// --- explain() and failing_conditions() -------------------------------------------

fn eval(policy: &str, edit: fn(&mut Claims)) -> Evaluation {
    let mut claims = token();
    edit(&mut claims);
    match parse(&policy.replace("$ID", ID)) {
        Ok(p) => evaluate(&p, &claims),
        Err(e) => panic!("test policy does not parse: {e}"),
    }
}

#[test]
fn explain_names_statement_and_every_failing_condition() {
    let e = eval(STANDARD, |c| {
        c.subject = Some("system:serviceaccount:payments:default".into());
        c.audiences = vec!["api".into()];
    });
    // BTreeMap order: aud before sub.
    assert_eq!(
        e.explain(),
        format!(
            "statement \"AllowS3Backup\": StringEquals {ID}:aud expected sts.amazonaws.com, token has api; \
             StringEquals {ID}:sub expected system:serviceaccount:payments:s3-backup, token has system:serviceaccount:payments:default"
        )
    );
    let failing: Vec<&str> = e
        .failing_conditions()
        .iter()
        .map(|c| c.key.as_str())
        .collect();
    assert_eq!(failing, [format!("{ID}:aud"), format!("{ID}:sub")]);
}

#[test]
fn explain_for_allowed_and_no_failures_when_allowed() {
    let e = eval(STANDARD, keep);
    assert_eq!(e.explain(), "allowed by statement \"AllowS3Backup\"");
    assert!(e.failing_conditions().is_empty());
    assert_eq!(e.closest, None);
}

#[test]
fn explain_uses_index_labels_without_sid() {
    let e = eval(
        r#"{"Statement": [{"Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::1:oidc-provider/$ID"}, "Action": "sts:AssumeRoleWithWebIdentity", "Condition": {"StringEquals": {"$ID:sub": ["a", "b"]}}}]}"#,
        keep,
    );
    assert_eq!(
        e.explain(),
        format!("statement #0: StringEquals {ID}:sub expected one of a, b, token has {SA}")
    );
    assert_eq!(e.statements[0].label, "#0");
}

#[test]
fn condition_results_carry_expected_and_actual() {
    let e = eval(STANDARD, |c| c.audiences = vec!["a".into(), "b".into()]);
    let aud = &e.statements[0].conditions[0];
    assert_eq!(aud.operator, "StringEquals");
    assert_eq!(aud.key, format!("{ID}:aud"));
    assert_eq!(aud.expected, ["sts.amazonaws.com"]);
    assert_eq!(aud.actual, Some(vec!["a".to_owned(), "b".to_owned()]));
    assert_eq!(aud.outcome, Outcome::Fail);
    let s = &e.statements[0];
    assert!(s.principal_matches && s.action_matches);
    assert_eq!(
        s.principal,
        [format!("arn:aws:iam::111122223333:oidc-provider/{ID}")]
    );
}

#[test]
fn serializes_with_snake_case_values_and_null_fields() {
    let e = eval(STANDARD, |c| c.audiences.clear());
    let json = serde_json::to_value(&e).unwrap_or_default();
    assert_eq!(json["verdict"]["kind"], "implicit_deny");
    assert_eq!(json["statements"][0]["effect"], "allow");
    assert_eq!(json["statements"][0]["conditions"][0]["outcome"], "fail");
    assert!(json["statements"][0]["conditions"][0]["actual"].is_null());
    assert_eq!(json["closest"], 0);

    let deny = Verdict::ExplicitDeny {
        statement: "D".into(),
    };
    assert_eq!(
        serde_json::to_value(&deny).unwrap_or_default(),
        serde_json::json!({"kind": "explicit_deny", "statement": "D"})
    );
}

#[test]
fn token_without_issuer_matches_no_provider() {
    let e = eval(STANDARD, |c| c.issuer = None);
    assert_eq!(e.verdict, Verdict::ImplicitDeny);
    assert!(!e.issuer_matched);
    assert!(e.notes.iter().any(|n| n.contains("no iss claim")));
}

// --- parse errors -------------------------------------------------------------------

fn parse_err(text: &str) -> String {
    match parse(text) {
        Ok(p) => panic!("expected an error, parsed {p:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn malformed_policies_give_actionable_errors() {
    let cases: [(&str, &str); 15] = [
        ("", "trust policy is empty"),
        ("   \n", "trust policy is empty"),
        (
            "{\"Version\": \"2012-10-17\",",
            "trust policy is not valid JSON: EOF while parsing",
        ),
        ("Version: 2012-10-17\nStatement: []", "YAML is not accepted"),
        (
            "%7B%ZZ",
            "the '%' at byte 4 is not followed by two hex digits",
        ),
        ("%7B%22Version%22%3A", "(after URL-decoding)"),
        (
            "{\"Version\": \"2012-10-17\"}",
            "it has no \"Statement\" element",
        ),
        (
            "{\"Role\": {\"AssumeRolePolicyDocument\": {}}}",
            "pass .Role.AssumeRolePolicyDocument",
        ),
        ("{\"statement\": []}", "write the element as \"Statement\""),
        (
            "{\"Version\": \"2024-01-01\", \"Statement\": []}",
            "Version must be \"2012-10-17\"",
        ),
        ("{\"Statement\": []}", "\"Statement\" is an empty list"),
        ("[{\"Effect\": \"Allow\"}]", "found a JSON array"),
        (
            r#"{"Statement": [{"Sid": "Irsa", "Effect": "allow", "Principal": "*", "Action": "sts:*"}]}"#,
            "trust policy statement \"Irsa\": Effect must be \"Allow\" or \"Deny\" (exactly, capitalised), found \"allow\"",
        ),
        (
            r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sts:*", "Condtion": {}}]}"#,
            "trust policy statement #0: unknown element \"Condtion\"",
        ),
        (
            r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sts:*", "Condition": {"StringEqual": {"k": "v"}}}]}"#,
            "unknown condition operator \"StringEqual\"",
        ),
    ];
    for (text, fragment) in cases {
        let message = parse_err(text);
        assert!(
            message.contains(fragment),
            "for {text:?}: {message:?} lacks {fragment:?}"
        );
    }
}

#[test]
fn statement_grammar_errors() {
    let cases: [(&str, &str); 8] = [
        (
            r#"{"Effect": "Allow", "Action": "sts:*"}"#,
            "has no Principal",
        ),
        (r#"{"Principal": "*", "Action": "sts:*"}"#, "has no Effect"),
        (r#"{"Effect": "Allow", "Principal": "*"}"#, "has no Action"),
        (
            r#"{"Effect": "Allow", "Principal": "*", "Action": "sts:*", "NotAction": "x"}"#,
            "has both Action and NotAction",
        ),
        (
            r#"{"Effect": "Allow", "Principal": "*", "Action": "sts:*", "Resource": "*"}"#,
            "may not contain Resource",
        ),
        (
            r#"{"Effect": "Allow", "Principal": {"Federal": "x"}, "Action": "sts:*"}"#,
            "unknown principal type \"Federal\"",
        ),
        (
            r#"{"Effect": "Allow", "Principal": "*", "Action": "sts:*", "Condition": {"Null": {"k": "maybe"}}}"#,
            "must be \"true\" (key absent) or \"false\"",
        ),
        (
            r#"{"Effect": "Allow", "Principal": "*", "Action": [], "Condition": {}}"#,
            "non-empty list",
        ),
    ];
    for (statement, fragment) in cases {
        let message = parse_err(&format!("{{\"Statement\": [{statement}]}}"));
        assert!(
            message.contains(fragment),
            "for {statement}: {message:?} lacks {fragment:?}"
        );
    }
}

#[test]
fn double_encoded_json_is_explained() {
    let message = parse_err(r#""{\"Version\": \"2012-10-17\"}""#);
    assert!(message.contains("JSON-encoded twice"), "{message}");
}

#[test]
fn plus_is_literal_in_url_encoded_policies() {
    // RFC 3986 (what IAM returns): `+` stays `+`, spaces arrive as %20.
    let encoded = "%7B%22Statement%22%3A%7B%22Sid%22%3A%22a+b%22%2C%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%22*%22%2C%22Action%22%3A%22sts%3A*%22%7D%7D";
    match parse(encoded) {
        Ok(p) => assert_eq!(p.statements[0].sid.as_deref(), Some("a+b")),
        Err(e) => panic!("{e}"),
    }
}

// --- string_like ------------------------------------------------------------------------

#[test]
fn string_like_semantics() {
    let cases: [(&str, &str, bool); 16] = [
        ("", "", true),
        ("*", "", true),
        ("?", "", false),
        ("abc", "abc", true),
        ("abc", "abC", false),
        ("a*c", "abbbc", true),
        ("a*c", "ac", true),
        ("a?c", "abc", true),
        ("a?c", "ac", false),
        ("*:payments:*", "system:serviceaccount:payments:api", true),
        (
            "system:serviceaccount:*:api",
            "system:serviceaccount:payments:web",
            false,
        ),
        ("a*b*c", "axxbyyc", true),
        ("a*b*c", "axxbyy", false),
        ("**", "anything", true),
        ("é?", "éü", true),
        ("*a", "bbbbbab", false),
    ];
    for (pattern, value, want) in cases {
        assert_eq!(
            string_like(pattern, value),
            want,
            "{pattern:?} vs {value:?}"
        );
    }
}

#[test]
fn string_like_is_not_exponential() {
    // A classic backtracking killer: finishes at once with single-star backtracking.
    let pattern = format!("{}b", "a*".repeat(50));
    let value = "a".repeat(5_000);
    assert!(!string_like(&pattern, &value));
}

/// Fuzzer finding (fuzz/slow/trust_policy): a 15,000-character pattern against a 30,000-character
/// `sub` took seconds; past IAM's own policy size only exact equality is honoured.
#[test]
fn string_like_is_bounded_for_oversized_inputs() {
    let pattern = format!("*{}b", "a".repeat(15_000));
    let value = "a".repeat(30_000);
    #[allow(clippy::disallowed_methods)]
    // a generous bound on a pathological input, not a benchmark
    let started = std::time::Instant::now();
    assert!(!string_like(&pattern, &value));
    assert!(
        string_like(&value, &value),
        "equal oversized strings still match"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_millis(100),
        "{:?}",
        started.elapsed()
    );
    assert!(string_like(
        "system:serviceaccount:*",
        &format!("system:serviceaccount:{}", "x".repeat(300))
    ));
}
