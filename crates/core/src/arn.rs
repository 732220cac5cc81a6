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
}
