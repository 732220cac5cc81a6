//! AWS partition facts from a role ARN and/or a region (pure, std only), so
//! endpoints, ARNs and remediation texts follow the pod's partition.
//!
//! Source for the facts below: the SDKs' shared endpoint model (botocore
//! `data/endpoints.json`, the same model every SDK generates from): `aws`
//! (`dnsSuffix` `amazonaws.com`, regions `us|eu|ap|sa|ca|me|af|il|mx-*`),
//! `aws-cn` (`amazonaws.com.cn`, `cn-*`), `aws-us-gov` (`amazonaws.com`,
//! `us-gov-*`). Only `aws` gives `sts` a `partitionEndpoint`, `aws-global`
//! with hostname `sts.amazonaws.com`; `aws-cn` and `aws-us-gov` have regional
//! STS endpoints only, so "the global endpoint" does not exist there.
//! The isolated partitions (`us-iso-*`, `us-isob-*`, `eu-isoe-*`, ...) are
//! not modelled: for their regions `from_region` answers `None` rather than guess.

/// An AWS partition this tool knows the endpoints of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Partition {
    /// Commercial regions.
    Aws,
    /// China (Beijing, Ningxia).
    AwsCn,
    /// AWS GovCloud (US).
    AwsUsGov,
}

impl Partition {
    /// The partition's name as it appears in ARNs.
    pub fn name(self) -> &'static str {
        match self {
            Partition::Aws => "aws",
            Partition::AwsCn => "aws-cn",
            Partition::AwsUsGov => "aws-us-gov",
        }
    }

    /// From a partition name (`aws`, `aws-cn`, `aws-us-gov`).
    pub fn from_name(name: &str) -> Option<Partition> {
        match name {
            "aws" => Some(Partition::Aws),
            "aws-cn" => Some(Partition::AwsCn),
            "aws-us-gov" => Some(Partition::AwsUsGov),
            _ => None,
        }
    }

    /// From any ARN's second field (`arn:aws-cn:iam::…` is `aws-cn`).
    pub fn from_arn(arn: &str) -> Option<Partition> {
        let mut parts = arn.trim().splitn(3, ':');
        (parts.next()? == "arn")
            .then(|| parts.next())
            .flatten()
            .and_then(Partition::from_name)
    }

    /// From a region name: `cn-*` is `aws-cn`, `us-gov-*` is `aws-us-gov`, the
    /// isolated partitions' prefixes are unknown, anything else with a region shape is `aws`.
    pub fn from_region(region: &str) -> Option<Partition> {
        let r = region.trim().to_ascii_lowercase();
        if r.is_empty() {
            None
        } else if r.starts_with("cn-") {
            Some(Partition::AwsCn)
        } else if r.starts_with("us-gov-") {
            Some(Partition::AwsUsGov)
        } else if ["us-iso", "eu-iso", "eusc-"]
            .iter()
            .any(|p| r.starts_with(p))
        {
            None
        } else {
            Some(Partition::Aws)
        }
    }

    /// The role ARN's partition, else the region's (the ARN is what STS and IAM judge).
    pub fn of(role_arn: Option<&str>, region: Option<&str>) -> Option<Partition> {
        role_arn
            .and_then(Partition::from_arn)
            .or_else(|| region.and_then(Partition::from_region))
    }

    /// The DNS suffix of the partition's endpoints.
    pub fn dns_suffix(self) -> &'static str {
        match self {
            Partition::Aws | Partition::AwsUsGov => "amazonaws.com",
            Partition::AwsCn => "amazonaws.com.cn",
        }
    }

    /// The regional STS host, `sts.REGION.<suffix>`.
    pub fn sts_host(self, region: &str) -> String {
        format!("sts.{region}.{}", self.dns_suffix())
    }

    /// The EKS OIDC issuer host, `oidc.eks.REGION.<suffix>` (its path is `/id/<cluster id>`).
    pub fn oidc_issuer_host(self, region: &str) -> String {
        format!("oidc.eks.{region}.{}", self.dns_suffix())
    }

    /// `arn:<partition>:iam::`, the start of every IAM ARN (roles, OIDC providers).
    pub fn iam_arn_prefix(self) -> String {
        format!("arn:{}:iam::", self.name())
    }

    /// IAM's endpoint host: IAM is one global endpoint per partition.
    pub fn iam_host(self) -> &'static str {
        match self {
            Partition::Aws => "iam.amazonaws.com",
            Partition::AwsCn => "iam.cn-north-1.amazonaws.com.cn",
            Partition::AwsUsGov => "iam.us-gov.amazonaws.com",
        }
    }

    /// The global STS endpoint's host, which exists only in `aws` (`sts.amazonaws.com`).
    pub fn global_sts_host(self) -> Option<&'static str> {
        match self {
            Partition::Aws => Some("sts.amazonaws.com"),
            Partition::AwsCn | Partition::AwsUsGov => None,
        }
    }
}

impl std::fmt::Display for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (region, partition, suffix, STS host, issuer host, IAM ARN prefix, global STS host, IAM host)
    #[test]
    fn facts_per_partition() {
        type Row = (
            &'static str,
            Partition,
            &'static str,
            &'static str,
            &'static str,
            &'static str,
            Option<&'static str>,
            &'static str,
        );
        let cases: &[Row] = &[
            (
                "us-east-1",
                Partition::Aws,
                "amazonaws.com",
                "sts.us-east-1.amazonaws.com",
                "oidc.eks.us-east-1.amazonaws.com",
                "arn:aws:iam::",
                Some("sts.amazonaws.com"),
                "iam.amazonaws.com",
            ),
            (
                "cn-north-1",
                Partition::AwsCn,
                "amazonaws.com.cn",
                "sts.cn-north-1.amazonaws.com.cn",
                "oidc.eks.cn-north-1.amazonaws.com.cn",
                "arn:aws-cn:iam::",
                None,
                "iam.cn-north-1.amazonaws.com.cn",
            ),
            (
                "us-gov-west-1",
                Partition::AwsUsGov,
                "amazonaws.com",
                "sts.us-gov-west-1.amazonaws.com",
                "oidc.eks.us-gov-west-1.amazonaws.com",
                "arn:aws-us-gov:iam::",
                None,
                "iam.us-gov.amazonaws.com",
            ),
        ];
        for (region, p, suffix, sts, oidc, iam, global, iam_host) in cases {
            assert_eq!(p.iam_host(), *iam_host, "{region}");
            assert_eq!(Partition::from_region(region), Some(*p), "{region}");
            assert_eq!(p.dns_suffix(), *suffix, "{region}");
            assert_eq!(p.sts_host(region), *sts, "{region}");
            assert_eq!(p.oidc_issuer_host(region), *oidc, "{region}");
            assert_eq!(p.iam_arn_prefix(), *iam, "{region}");
            assert_eq!(p.global_sts_host(), *global, "{region}");
            assert_eq!(Partition::from_name(p.name()), Some(*p), "{region}");
        }
    }

    #[test]
    fn partition_from_arn_region_or_both() {
        let cases: &[(Option<&str>, Option<&str>, Option<Partition>)] = &[
            (
                Some("arn:aws:iam::111122223333:role/demo"),
                None,
                Some(Partition::Aws),
            ),
            (
                Some("arn:aws-cn:iam::111122223333:role/demo"),
                None,
                Some(Partition::AwsCn),
            ),
            (
                Some("arn:aws-us-gov:iam::111122223333:role/demo"),
                None,
                Some(Partition::AwsUsGov),
            ),
            (
                Some("arn:aws-cn:sts::1:assumed-role/r/s"),
                None,
                Some(Partition::AwsCn),
            ),
            // The ARN decides: it is what STS checks the trust policy against.
            (
                Some("arn:aws-cn:iam::1:role/r"),
                Some("us-east-1"),
                Some(Partition::AwsCn),
            ),
            (
                Some("not an arn"),
                Some("cn-northwest-1"),
                Some(Partition::AwsCn),
            ),
            (
                Some("arn:aws-iso:iam::1:role/r"),
                Some("us-gov-east-1"),
                Some(Partition::AwsUsGov),
            ),
            (None, Some("eu-west-1"), Some(Partition::Aws)),
            (None, Some("US-GOV-EAST-1"), Some(Partition::AwsUsGov)),
            (None, Some("us-iso-east-1"), None),
            (None, Some("us-isob-east-1"), None),
            (None, Some(""), None),
            (None, None, None),
        ];
        for (arn, region, want) in cases {
            assert_eq!(Partition::of(*arn, *region), *want, "{arn:?} {region:?}");
        }
    }
}
