//! (SDK service id, operation) → IAM action, from the one generated table
//! (`iam_actions`, made by `scripts/iam-actions/generate` from botocore's service
//! models and iam-dataset's map). Only the exceptions are in it: for every other
//! operation the action is `<prefix>:<Operation>`.

use super::iam_actions::{IRREGULAR, NO_IDENTITY_POLICY, SERVICES};

/// The IAM side of one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// The IAM prefix (`s3`, `secretsmanager`): the `service` label.
    pub prefix: String,
    /// `prefix:Action`, e.g. `s3:GetObject` for S3 `HeadObject`.
    pub action: String,
    /// False for calls no identity policy governs (`sts:GetCallerIdentity`, the SDK's own
    /// `sts:AssumeRoleWithWebIdentity`, which the trust policy decides).
    pub needs_identity_policy: bool,
}

/// The IAM prefix of an SDK service id: the table's, matched exactly, then ignoring case
/// and spaces (`SecretsManager`, as some SDKs spell it); an unknown service (newer than the
/// table) gets botocore's rule, its id lowercased without spaces.
pub fn prefix(service: &str) -> String {
    known(service).map_or_else(|| squash(service), |(_, p)| p.to_owned())
}

/// The table's `(service id, prefix)` row for `service` (exact, or ignoring case and spaces).
fn known(service: &str) -> Option<(&'static str, &'static str)> {
    if let Ok(i) = SERVICES.binary_search_by(|(id, _)| (*id).cmp(service)) {
        return Some(SERVICES[i]);
    }
    let squashed = squash(service);
    SERVICES
        .iter()
        .find(|(id, _)| squash(id) == squashed)
        .copied()
}

fn squash(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The IAM action an SDK call needs.
pub fn action_for(service: &str, api: &str) -> Action {
    let row = known(service);
    let prefix = row.map_or_else(|| squash(service), |(_, p)| p.to_owned());
    let id = row.map_or(service, |(id, _)| id);
    let irregular = IRREGULAR
        .binary_search_by(|(s, o, _)| (*s, *o).cmp(&(id, api)))
        .ok()
        .map(|i| IRREGULAR[i].2);
    let action = irregular.map_or_else(|| format!("{prefix}:{api}"), str::to_owned);
    let needs_identity_policy = NO_IDENTITY_POLICY
        .binary_search_by(|(s, o)| (*s, *o).cmp(&(id, api)))
        .is_err();
    Action {
        prefix: action
            .split_once(':')
            .map_or(prefix.clone(), |(p, _)| p.to_owned()),
        action,
        needs_identity_policy,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_map_to_their_iam_action() {
        let cases = [
            ("S3", "PutObject", "s3:PutObject", true),
            ("S3", "HeadObject", "s3:GetObject", true),
            ("S3", "ListObjectsV2", "s3:ListBucket", true),
            ("S3", "CreateMultipartUpload", "s3:PutObject", true),
            ("S3", "UploadPart", "s3:PutObject", true),
            ("S3", "CompleteMultipartUpload", "s3:PutObject", true),
            ("S3", "DeleteObjects", "s3:DeleteObject", true),
            (
                "Secrets Manager",
                "GetSecretValue",
                "secretsmanager:GetSecretValue",
                true,
            ),
            (
                "SecretsManager",
                "GetSecretValue",
                "secretsmanager:GetSecretValue",
                true,
            ),
            (
                "CloudWatch",
                "PutMetricData",
                "cloudwatch:PutMetricData",
                true,
            ),
            ("CloudWatch Logs", "PutLogEvents", "logs:PutLogEvents", true),
            (
                "Elastic Load Balancing v2",
                "DescribeTargetGroups",
                "elasticloadbalancing:DescribeTargetGroups",
                true,
            ),
            ("SFN", "StartExecution", "states:StartExecution", true),
            ("Lambda", "Invoke", "lambda:InvokeFunction", true),
            ("DynamoDB", "TransactGetItems", "dynamodb:GetItem", true),
            ("KMS", "Decrypt", "kms:Decrypt", true),
            ("STS", "GetCallerIdentity", "sts:GetCallerIdentity", false),
            (
                "STS",
                "AssumeRoleWithWebIdentity",
                "sts:AssumeRoleWithWebIdentity",
                false,
            ),
            ("STS", "AssumeRole", "sts:AssumeRole", true),
            (
                "Brand New Service",
                "DoThing",
                "brandnewservice:DoThing",
                true,
            ),
        ];
        for (service, api, want, policy) in cases {
            let a = action_for(service, api);
            assert_eq!(a.action, want, "{service} {api}");
            assert_eq!(a.needs_identity_policy, policy, "{service} {api}");
            assert_eq!(a.prefix, want.split(':').next().unwrap(), "{service} {api}");
        }
    }

    /// The generated tables are sorted (binary search), unique, and every action is `prefix:Name`.
    #[test]
    fn iam_actions_tables_are_sorted_and_well_formed() {
        assert!(
            SERVICES.windows(2).all(|w| w[0].0 < w[1].0),
            "SERVICES sorted"
        );
        assert!(
            SERVICES.len() > 300,
            "every botocore service: {}",
            SERVICES.len()
        );
        assert!(
            IRREGULAR
                .windows(2)
                .all(|w| (w[0].0, w[0].1) < (w[1].0, w[1].1)),
            "IRREGULAR sorted"
        );
        assert!(NO_IDENTITY_POLICY.windows(2).all(|w| w[0] < w[1]));
        for (s, o, a) in IRREGULAR {
            let (p, n) = a.split_once(':').expect("prefix:Name");
            assert!(!p.is_empty() && !n.is_empty(), "{s}.{o} -> {a}");
            assert!(SERVICES.iter().any(|(id, _)| id == s), "{s} is a service");
        }
    }
}
