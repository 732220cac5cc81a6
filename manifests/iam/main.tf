# IRSA for one ServiceAccount: the cluster's IAM OIDC provider and a role
# whose trust policy matches what irsa-doctor checks (the token's issuer as Federated principal, its sub and aud pinned):
# Federated principal = this cluster's OIDC provider, and the conditions pin
# <issuer host/path>:sub to the ServiceAccount and <issuer host/path>:aud to
# sts.amazonaws.com with StringEquals (exact values: StringEquals treats `*`
# literally; use StringLike only for a deliberate wildcard).
#
# trust-policy.json and permissions-policy.json beside this file are what this
# renders for cluster issuer oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE,
# account 111122223333, ServiceAccount demo/demo-sa and role name "demo".
#
# Then annotate the ServiceAccount with the role (see
# ../examples/app/serviceaccount.yaml) and recreate its pods.

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
    tls = {
      source  = "hashicorp/tls"
      version = ">= 4.0"
    }
  }
}

variable "cluster_name" {
  type        = string
  description = "EKS cluster whose OIDC issuer signs the pods' tokens"
}

variable "namespace" {
  type    = string
  default = "demo"
}

variable "service_account" {
  type    = string
  default = "demo-sa"
}

variable "role_name" {
  type    = string
  default = "demo"
}

variable "create_oidc_provider" {
  type        = bool
  default     = true
  description = "false when the cluster's IAM OIDC provider already exists (one per issuer per account)"
}

data "aws_eks_cluster" "this" {
  name = var.cluster_name
}

locals {
  issuer      = data.aws_eks_cluster.this.identity[0].oidc[0].issuer
  issuer_host = trimprefix(local.issuer, "https://")
  provider_arn = var.create_oidc_provider ? aws_iam_openid_connect_provider.eks[0].arn : (
    "arn:aws:iam::${data.aws_caller_identity.current.account_id}:oidc-provider/${local.issuer_host}"
  )
}

data "aws_caller_identity" "current" {}

data "tls_certificate" "issuer" {
  count = var.create_oidc_provider ? 1 : 0
  url   = local.issuer
}

# The audience sts.amazonaws.com must be in the provider's client IDs, or STS
# answers "InvalidIdentityToken: Incorrect token audience" (AUDIENCE_MISMATCH).
resource "aws_iam_openid_connect_provider" "eks" {
  count           = var.create_oidc_provider ? 1 : 0
  url             = local.issuer
  client_id_list  = ["sts.amazonaws.com"]
  thumbprint_list = [data.tls_certificate.issuer[0].certificates[0].sha1_fingerprint]
}

data "aws_iam_policy_document" "trust" {
  statement {
    sid     = "AllowServiceAccount"
    effect  = "Allow"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.issuer_host}:sub"
      values   = ["system:serviceaccount:${var.namespace}:${var.service_account}"]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.issuer_host}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "irsa" {
  name               = var.role_name
  assume_role_policy = data.aws_iam_policy_document.trust.json
}

# Only for irsa-doctor's --fetch-trust-policy: read this role's own trust
# policy. AssumeRoleWithWebIdentity and GetCallerIdentity need no permission.
# Attach the application's own permissions alongside.
resource "aws_iam_role_policy" "irsa_doctor_read_trust_policy" {
  name = "irsa-doctor-read-own-trust-policy"
  role = aws_iam_role.irsa.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "IrsaDoctorReadOwnTrustPolicy"
      Effect   = "Allow"
      Action   = "iam:GetRole"
      Resource = aws_iam_role.irsa.arn
    }]
  })
}

variable "read_own_policies" {
  type        = bool
  default     = false
  description = "true for irsa-doctor's --expect-access: read this role's inline and attached policies and its permissions boundary"
}

# Only for irsa-doctor's --expect-access (irsa-doctor-read-own-policies.json):
# the role's inline policies, its attached managed policies' default versions
# and its boundary. GetPolicy/GetPolicyVersion cannot be scoped to the policies
# attached to one role, so they cover the account's and AWS's managed policies
# (documents only: no policy grants anything by being read).
resource "aws_iam_role_policy" "irsa_doctor_read_own_policies" {
  count = var.read_own_policies ? 1 : 0
  name  = "irsa-doctor-read-own-policies"
  role  = aws_iam_role.irsa.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "IrsaDoctorReadOwnRole"
        Effect   = "Allow"
        Action   = ["iam:GetRole", "iam:ListRolePolicies", "iam:GetRolePolicy", "iam:ListAttachedRolePolicies"]
        Resource = aws_iam_role.irsa.arn
      },
      {
        Sid    = "IrsaDoctorReadAttachedPolicies"
        Effect = "Allow"
        Action = ["iam:GetPolicy", "iam:GetPolicyVersion"]
        Resource = [
          "arn:aws:iam::${data.aws_caller_identity.current.account_id}:policy/*",
          "arn:aws:iam::aws:policy/*",
        ]
      },
    ]
  })
}

output "role_arn" {
  value       = aws_iam_role.irsa.arn
  description = "kubectl -n <namespace> annotate sa <service_account> eks.amazonaws.com/role-arn=<this>"
}
