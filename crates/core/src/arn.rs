//! Amazon Resource Names, split once for everyone who reads them.

/// The six colon-separated fields of an ARN: `arn:partition:service:region:account:resource`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arn<'a> {
    /// `aws`, `aws-cn`, `aws-us-gov`.
    pub partition: &'a str,
    /// `iam`, `sts`, ...
    pub service: &'a str,
    /// Empty for global services such as IAM.
    pub region: &'a str,
    /// The 12-digit account.
    pub account: &'a str,
    /// Everything after the fifth colon (`role/path/name`, `assumed-role/name/session`, ...).
    pub resource: &'a str,
}

/// Splits an ARN; `None` when it does not start with `arn:` or has fewer than six fields.
pub fn parse(arn: &str) -> Option<Arn<'_>> {
    let mut parts = arn.splitn(6, ':');
    if parts.next()? != "arn" {
        return None;
    }
    Some(Arn {
        partition: parts.next()?,
        service: parts.next()?,
        region: parts.next()?,
        account: parts.next()?,
        resource: parts.next()?,
    })
}

/// `(account, role name)` of a role ARN (`arn:aws:iam::A:role/path/N`) or assumed-role ARN (`arn:aws:sts::A:assumed-role/N/S`).
pub fn role_identity(arn: &str) -> Option<(&str, &str)> {
    let a = parse(arn)?;
    let name = match a.service {
        "iam" => a.resource.strip_prefix("role/")?.rsplit('/').next()?,
        "sts" => a
            .resource
            .strip_prefix("assumed-role/")?
            .split('/')
            .next()?,
        _ => return None,
    };
    Some((a.account, name))
}

/// The role ARN behind an assumed-role ARN: `arn:P:sts::A:assumed-role/N/S` is
/// `arn:P:iam::A:role/N` (a role's path is not in the session ARN; `iam:GetRole` has it).
pub fn role_of_session(arn: &str) -> Option<String> {
    let a = parse(arn)?;
    let name = a
        .resource
        .strip_prefix("assumed-role/")?
        .split('/')
        .next()?;
    (a.service == "sts" && !name.is_empty())
        .then(|| format!("arn:{}:iam::{}:role/{name}", a.partition, a.account))
}

/// The session name of an assumed-role ARN.
pub fn session_name(arn: &str) -> Option<&str> {
    arn.split_once(":assumed-role/")?
        .1
        .split_once('/')
        .map(|(_, s)| s)
}

/// Whether an ARN is an EC2 instance-profile session (`.../i-0abc...`), i.e. the node role.
pub fn is_node_role_session(arn: &str) -> bool {
    session_name(arn).is_some_and(|s| {
        s.strip_prefix("i-")
            .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_the_six_fields() {
        let a =
            parse("arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/X")
                .unwrap();
        assert_eq!(
            (a.partition, a.service, a.region, a.account),
            ("aws", "iam", "", "111122223333")
        );
        assert_eq!(
            a.resource,
            "oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/X"
        );
        assert_eq!(
            parse("arn:aws:sts::1:assumed-role/r/s").unwrap().resource,
            "assumed-role/r/s"
        );
        assert_eq!(parse("nonsense"), None);
        assert_eq!(parse("urn:aws:iam::1:role/r"), None);
    }

    #[test]
    fn role_and_session_helpers() {
        let role = "arn:aws:iam::111122223333:role/demo";
        assert_eq!(role_identity(role), Some(("111122223333", "demo")));
        assert_eq!(role_identity("arn:aws:iam::1:role/a/b/c"), Some(("1", "c")));
        assert_eq!(
            role_identity("arn:aws:sts::1:assumed-role/c/sess"),
            Some(("1", "c"))
        );
        assert_eq!(role_identity("arn:aws:sts::1:user/moto"), None);
        assert_eq!(role_identity("nonsense"), None);
        assert_eq!(
            session_name("arn:aws:sts::1:assumed-role/c/sess"),
            Some("sess")
        );
        assert!(is_node_role_session(
            "arn:aws:sts::1:assumed-role/n/i-0123abcd"
        ));
        assert!(!is_node_role_session(
            "arn:aws:sts::1:assumed-role/n/irsa-doctor-web"
        ));
        assert!(!is_node_role_session("arn:aws:sts::1:assumed-role/n/i-"));
        let roles = [
            (
                "arn:aws:sts::1:assumed-role/pi/eks-demo-web",
                Some("arn:aws:iam::1:role/pi"),
            ),
            (
                "arn:aws-cn:sts::1:assumed-role/pi/s",
                Some("arn:aws-cn:iam::1:role/pi"),
            ),
            ("arn:aws:iam::1:role/pi", None),
            ("arn:aws:sts::1:federated-user/bob", None),
            ("arn:aws:sts::1:assumed-role//s", None),
        ];
        for (session, role) in roles {
            assert_eq!(role_of_session(session).as_deref(), role, "{session}");
        }
    }
}
