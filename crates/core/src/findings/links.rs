//! Public documentation the remediations point at, each URL written once.
//!
//! Only pages a user can open (AWS documentation, AWS Knowledge Center, Kubernetes
//! documentation); `docs/failure-modes.md` carries the upstream issues behind each mode.

/// EKS: assign an IAM role to a ServiceAccount (annotation, trust policy).
pub(super) const IRSA_ASSIGN_ROLE: &str =
    "https://docs.aws.amazon.com/eks/latest/userguide/associate-service-account-role.html";
/// EKS: the IAM OIDC provider of a cluster.
pub(super) const IRSA_OIDC_PROVIDER: &str =
    "https://docs.aws.amazon.com/eks/latest/userguide/enable-iam-roles-for-service-accounts.html";
/// EKS: what the webhook adds to a pod (variables, projected token volume).
pub(super) const IRSA_POD_CONFIGURATION: &str =
    "https://docs.aws.amazon.com/eks/latest/userguide/pod-configuration.html";
/// EKS: the STS endpoint a ServiceAccount's pods use.
pub(super) const IRSA_STS_ENDPOINT: &str =
    "https://docs.aws.amazon.com/eks/latest/userguide/configure-sts-endpoint.html";
/// EKS: IRSA with the AWS SDKs (minimum versions; earlier credentials in the chain win).
pub(super) const IRSA_SDK: &str = "https://docs.aws.amazon.com/eks/latest/userguide/iam-roles-for-service-accounts-minimum-sdk.html";
/// EKS: the signing keys that verify service-account tokens.
pub(super) const IRSA_SIGNING_KEYS: &str =
    "https://docs.aws.amazon.com/eks/latest/userguide/irsa-fetch-keys.html";
/// AWS Knowledge Center: troubleshooting IRSA errors (AccessDenied, audience, provider).
pub(super) const IRSA_TROUBLESHOOTING: &str =
    "https://repost.aws/knowledge-center/eks-troubleshoot-irsa-errors";
/// EKS: service-account tokens, their extended expiry and the 90-day limit.
pub(super) const SERVICE_ACCOUNT_TOKENS: &str =
    "https://docs.aws.amazon.com/eks/latest/userguide/service-accounts.html#service-account-tokens";
/// EKS best practices: keep pods off the node's instance profile (IMDS).
pub(super) const RESTRICT_IMDS: &str =
    "https://docs.aws.amazon.com/eks/latest/best-practices/identity-and-access-management.html";
/// EKS Pod Identity: what it is, and where it does not work (Fargate, hostNetwork).
pub(super) const POD_IDENTITIES: &str =
    "https://docs.aws.amazon.com/eks/latest/userguide/pod-identities.html";
/// EKS Pod Identity: associations.
pub(super) const POD_ID_ASSOCIATION: &str =
    "https://docs.aws.amazon.com/eks/latest/userguide/pod-id-association.html";
/// EKS Pod Identity: the role's trust policy.
pub(super) const POD_ID_ROLE: &str =
    "https://docs.aws.amazon.com/eks/latest/userguide/pod-id-role.html";
/// EKS Pod Identity: the agent, its addresses, the node role and EKS Auth.
pub(super) const POD_ID_AGENT: &str =
    "https://docs.aws.amazon.com/eks/latest/userguide/pod-id-agent-setup.html";
/// EKS Pod Identity: how the webhook, token and agent work together.
pub(super) const POD_ID_HOW_IT_WORKS: &str =
    "https://docs.aws.amazon.com/eks/latest/userguide/pod-id-how-it-works.html";
/// IAM: activating and deactivating STS in a Region.
pub(super) const STS_REGIONS: &str =
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_temp_enable-regions.html";
/// IAM: an interface VPC endpoint for STS (private clusters).
pub(super) const STS_VPC_ENDPOINT: &str =
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sts_vpc_endpoint_create.html";
/// STS API reference: AssumeRoleWithWebIdentity and its errors.
pub(super) const STS_API: &str =
    "https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithWebIdentity.html";
/// IAM: the thumbprint of an OIDC identity provider.
pub(super) const OIDC_THUMBPRINT: &str = "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_create_oidc_verify-thumbprint.html";
/// AWS SDKs and Tools: where an SDK finds its Region.
pub(super) const SDK_REGION: &str =
    "https://docs.aws.amazon.com/sdkref/latest/guide/feature-region.html";
/// EC2: time synchronisation (Amazon Time Sync Service).
pub(super) const TIME_SYNC: &str =
    "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/set-time.html";
/// Kubernetes: the projected serviceAccountToken source (lifetime, kubelet refresh).
pub(super) const K8S_PROJECTED_TOKEN: &str =
    "https://kubernetes.io/docs/concepts/storage/projected-volumes/#serviceaccounttoken";
/// Kubernetes: who owns and may read projected files (runAsUser, fsGroup).
pub(super) const K8S_PROJECTED_PERMISSIONS: &str =
    "https://kubernetes.io/docs/concepts/storage/projected-volumes/#securitycontext-interactions";
