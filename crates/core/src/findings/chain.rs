//! The pod's environment and the default credential chain: IRSA variables, static
//! credentials, the node role, IMDS, a proxy, both mechanisms, the global STS endpoint.

use super::links::{
    IRSA_ASSIGN_ROLE, IRSA_SDK, IRSA_STS_ENDPOINT, POD_ID_ASSOCIATION, RESTRICT_IMDS, SDK_REGION,
};
use super::{Check, Code, Finding, Inputs, iam_arn, partition_known};
use crate::arn::is_node_role_session;
use crate::partition::Partition;

/// Runs first: whether the webhook mutated the pod at all.
pub(super) const ENV_CHECKS: &[Check] = &[irsa_env, region];

pub(super) const CHECKS: &[Check] = &[
    static_credentials,
    global_sts_endpoint,
    node_role_fallback,
    imds_reachable,
    both_identity_mechanisms,
    proxy_intercepts_credentials,
];

fn irsa_env(ctx: &Inputs<'_>, out: &mut Vec<Finding>) {
    // A pod using EKS Pod Identity alone is not missing anything.
    if ctx.env.uses_pod_identity() && !ctx.env.uses_irsa() {
        return;
    }
    let mut unset = Vec::new();
    if ctx.env.role_arn.is_none() {
        unset.push("AWS_ROLE_ARN");
    }
    if ctx.env.token_file.is_none() {
        unset.push("AWS_WEB_IDENTITY_TOKEN_FILE");
    }
    if unset.is_empty() {
        return;
    }
    // Half the Pod Identity variables (or --pod-identity-token-file) say what the pod is meant for.
    let meant_for_pod_identity = !ctx.env.uses_irsa()
        && (ctx.env.container_credentials_uri.is_some()
            || ctx.env.container_token_file.is_some()
            || ctx.config.pod_identity.is_some());
    let mut message = format!(
        "{} not set: the EKS pod-identity webhook did not mutate this pod, so AWS SDKs skip web identity and fall through to the node's instance role",
        unset.join(" and ")
    );
    if ctx.config.role_arn.is_some() && ctx.env.role_arn.is_none() {
        message.push_str(" (--role-arn was given to irsa-doctor, but the application's SDK reads the environment)");
    }
    // With the pod's spec read: which role the ServiceAccount names, and how to recreate the pod.
    let (sa_note, recreate) = super::pod::service_account_role(ctx).unwrap_or_default();
    message.push_str(&sa_note);
    let remediation = if meant_for_pod_identity {
        message.push_str("; the pod has only part of EKS Pod Identity's variables (AWS_CONTAINER_CREDENTIALS_FULL_URI and AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE)");
        format!(
            "this pod looks meant for EKS Pod Identity: create the association for its namespace and ServiceAccount (aws eks create-pod-identity-association), check the eks-pod-identity-agent add-on runs, then recreate the pod: the webhook injects both variables only at creation, so a pod older than its association has neither; see {POD_ID_ASSOCIATION}"
        )
    } else if !recreate.is_empty() {
        format!(
            "{recreate}the webhook mutates pods only at creation and ignores its own failures (failurePolicy: Ignore); check that it runs (kubectl get mutatingwebhookconfiguration pod-identity-webhook) and that the pod is not labelled {}",
            crate::pod::SKIP_WEBHOOK_LABEL
        )
    } else {
        format!(
            "annotate the pod's ServiceAccount with eks.amazonaws.com/role-arn: {}role/<name> (check the key's spelling: eks.amazon.com/role-arn, a common typo, is silently ignored), then recreate the pod: the webhook mutates pods only at creation and ignores its own failures (failurePolicy: Ignore); check spec.serviceAccountName and that the webhook runs (kubectl get mutatingwebhookconfiguration pod-identity-webhook); if the pod is meant for EKS Pod Identity instead, create a Pod Identity association for its ServiceAccount; see {IRSA_ASSIGN_ROLE}",
            iam_arn(ctx, "<account>")
        )
    };
    out.push(Finding::new(Code::IrsaEnvMissing, message, remediation));
}

/// No region anywhere the SDK looks: not `AWS_REGION`/`AWS_DEFAULT_REGION`, not the profile,
/// not IMDS (as the probe's SDK configuration resolved it). Only an IRSA pod needs one here.
pub(super) fn region_missing(ctx: &Inputs<'_>) -> bool {
    ctx.env.role_arn.is_some()
        && ctx.env.region.is_none()
        && ctx.snapshot.region.checked
        && ctx.snapshot.region.region.is_none()
}

fn region(ctx: &Inputs<'_>, out: &mut Vec<Finding>) {
    if !region_missing(ctx) {
        return;
    }
    out.push(Finding::new(
        Code::RegionMissing,
        "no region: AWS_REGION and AWS_DEFAULT_REGION are unset, the profile sets none and IMDS gave none, so the SDK cannot choose its regional STS endpoint (SDKs fail with \"Missing Region\" or send AssumeRoleWithWebIdentity to the wrong place)",
        format!("set AWS_REGION (and AWS_DEFAULT_REGION) in the pod spec, or run a self-managed pod-identity webhook with --aws-default-region so it injects them (EKS's managed webhook does), then recreate the pod; pods that cannot reach IMDS (hop limit 1, Fargate) get no region from it; see {SDK_REGION}"),
    ));
}

fn static_credentials(ctx: &Inputs<'_>, out: &mut Vec<Finding>) {
    // `static_sources` holds only what the SDK's chain really answers with before web
    // identity (a region-only or web-identity profile is not there); and with no web identity or
    // Pod Identity configured there is nothing to shadow (IRSA_ENV_MISSING says what is wrong).
    if ctx.env.static_sources.is_empty() || !(ctx.env.uses_irsa() || ctx.env.uses_pod_identity()) {
        return;
    }
    let profile_keys = ctx.env.static_sources.iter().any(|s| {
        matches!(s, crate::environment::StaticSource::ProfileKeys { keys, .. }
            if !keys.iter().any(|k| k == "role_arn"))
    });
    let sources: Vec<String> = ctx
        .env
        .static_sources
        .iter()
        .map(ToString::to_string)
        .collect();
    let role = ctx
        .env
        .role_arn
        .as_deref()
        .or(ctx.config.role_arn.as_deref())
        .unwrap_or("the IRSA role");
    out.push(Finding::new(
        Code::StaticCredentialsShadow,
        format!(
            "{}: the default credential chain reads these before web identity, so the app may run as that identity instead of {role}{}",
            sources.join("; "),
            if profile_keys && ctx.env.uses_irsa() {
                " (SDKs differ here: aws-config (Rust) reads the shared profile first; botocore reads AWS_ROLE_ARN/AWS_WEB_IDENTITY_TOKEN_FILE first unless the profile chains a role)"
            } else {
                ""
            }
        ),
        format!("remove the static credentials from the container (env vars, envFrom Secrets, mounted ~/.aws files) so the SDK reaches web identity; every SDK's default chain checks environment keys and the shared profile first; see {IRSA_SDK}"),
    ));
}

fn global_sts_endpoint(ctx: &Inputs<'_>, out: &mut Vec<Finding>) {
    // Only meaningful for a pod that uses IRSA at all.
    if ctx.env.role_arn.is_none() {
        return;
    }
    let value = ctx.env.sts_regional_endpoints.as_deref();
    if value.is_some_and(|v| v.eq_ignore_ascii_case("regional")) {
        return;
    }
    // Only the aws partition has a global STS endpoint (sts.amazonaws.com).
    let Some(global) = partition_known(ctx).and_then(Partition::global_sts_host) else {
        return;
    };
    let shown = value
        .map(|v| format!("is {v}"))
        .unwrap_or_else(|| "is not set".into());
    out.push(Finding::new(
        Code::GlobalStsEndpoint,
        format!("AWS_STS_REGIONAL_ENDPOINTS {shown}: SDKs that default to the global endpoint (botocore before 1.40, CLI v1) send AssumeRoleWithWebIdentity to the global endpoint {global} in us-east-1 (the Rust SDK is always regional)"),
        format!("set AWS_STS_REGIONAL_ENDPOINTS=regional: ServiceAccount annotation eks.amazonaws.com/sts-regional-endpoints: \"true\", or the webhook's --sts-regional-endpoint flag; see {IRSA_STS_ENDPOINT}"),
    ));
}

fn node_role_fallback(ctx: &Inputs<'_>, out: &mut Vec<Finding>) {
    let chain = &ctx.snapshot.chain;
    let from_imds = chain
        .provider
        .as_deref()
        .is_some_and(|p| matches!(p, "IMDSv2" | "IMDS" | "Ec2InstanceMetadata"));
    let node_session = chain
        .caller_arn
        .as_deref()
        .is_some_and(is_node_role_session);
    if !from_imds && !node_session {
        return;
    }
    let caller = chain.caller_arn.as_deref().unwrap_or("an unknown identity");
    let provider = chain.provider.as_deref().unwrap_or("unknown");
    out.push(Finding::new(
        Code::NodeRoleFallback,
        format!("the default credential chain resolved {caller} through provider {provider}: the app runs with the node's instance role, not IRSA"),
        format!("fix IRSA for this pod (see IRSA_ENV_MISSING and the token findings), and block pods from node credentials: IMDSv2 with http_put_response_hop_limit=1 and http_tokens=required on the node group, or a NetworkPolicy denying 169.254.169.254; see {RESTRICT_IMDS}"),
    ));
}

fn imds_reachable(ctx: &Inputs<'_>, out: &mut Vec<Finding>) {
    let chain = &ctx.snapshot.chain;
    if chain.imds_reachable() != Some(true) {
        return;
    }
    let show = |v: Option<bool>| match v {
        Some(true) => "reachable",
        Some(false) => "not reachable",
        None => "not checked",
    };
    out.push(Finding::new(
        Code::ImdsReachable,
        format!(
            "the pod can reach IMDS (IMDSv2 token PUT: {}; IMDSv1 credentials GET: {}), so the node role's credentials are available to it",
            show(chain.imds_v2_reachable),
            show(chain.imds_v1_reachable)
        ),
        format!("on the node group set metadata http_tokens=required and http_put_response_hop_limit=1 (blocks IMDSv1 and IMDSv2 from pods), or deny 169.254.169.254 with a NetworkPolicy; see {RESTRICT_IMDS}"),
    ));
}

fn both_identity_mechanisms(ctx: &Inputs<'_>, out: &mut Vec<Finding>) {
    if !(ctx.env.uses_irsa() && ctx.env.uses_pod_identity()) {
        return;
    }
    let role = ctx
        .env
        .role_arn
        .as_deref()
        .unwrap_or("(AWS_ROLE_ARN unset)");
    out.push(Finding::new(
        Code::BothIdentityMechanisms,
        format!(
            "IRSA (AWS_ROLE_ARN={role}) and EKS Pod Identity (AWS_CONTAINER_CREDENTIALS_FULL_URI) are both configured: every SDK's default chain tries web identity before the container provider, so the app gets the IRSA role, not the Pod Identity association's"
        ),
        "keep one: remove the eks.amazonaws.com/role-arn annotation from the ServiceAccount, or delete the Pod Identity association, then recreate the pod (both webhooks mutate only at creation)",
    ));
}

fn proxy_intercepts_credentials(ctx: &Inputs<'_>, out: &mut Vec<Finding>) {
    use crate::no_proxy;
    if ctx.env.proxy_vars.is_empty() {
        return;
    }
    // Only the endpoints this pod's SDK really calls: a proxy in front of one it never uses is no problem.
    let endpoints = no_proxy::credential_endpoints(&no_proxy::EndpointUse {
        pod_identity_uri: ctx
            .env
            .container_credentials_uri
            .as_deref()
            .filter(|_| ctx.env.chain_reaches_container()),
        imds_for_credentials: ctx.env.chain_reaches_imds(),
        imds_for_region: ctx.env.region_from_imds(),
        imds_disabled: ctx.env.imds_disabled,
        imds_endpoint: &ctx.env.imds_endpoint,
    });
    let proxy = no_proxy::ProxyEnv {
        proxy_vars: ctx.env.proxy_vars.clone(),
        no_proxy: ctx.env.no_proxy.clone(),
        no_proxy_var: None,
    };
    let hit = no_proxy::intercepted(&endpoints, &proxy);
    if hit.is_empty() {
        return;
    }
    let mut vars: Vec<&str> = Vec::new();
    for v in hit.iter().flat_map(|i| i.proxy_vars.iter().copied()) {
        if !vars.contains(&v) {
            vars.push(v);
        }
    }
    let shown: Vec<String> = hit
        .iter()
        .map(|i| format!("{} ({})", i.endpoint.purpose, i.endpoint.url))
        .collect();
    let hosts: Vec<String> = hit
        .iter()
        .flat_map(|i| no_proxy::entries_for(&i.endpoint.host))
        .collect();
    let no_proxy = ctx.env.no_proxy.as_deref().unwrap_or("");
    out.push(Finding::new(
        Code::ProxyInterceptsCredentials,
        format!(
            "{} set, and NO_PROXY ({}) does not cover {}: the SDK sends these plain-http credential requests through the proxy, which times out or answers for the wrong host",
            vars.join(" and "),
            if no_proxy.is_empty() { "unset" } else { no_proxy },
            shown.join(", ")
        ),
        format!(
            "add {} to both NO_PROXY and no_proxy in the pod spec: Go and Rust read NO_PROXY first, Python no_proxy; list the addresses themselves (IPv6 both bare and bracketed), since botocore ignores CIDR blocks and hyper-util's * skips IP addresses",
            hosts.join(",")
        ),
    ));
}
