// irsa-doctor's alerting rules. Expects the target labels `namespace` and
// `pod` (the PodMonitor and scrape-config.yml set both); every alert links to
// its section of the runbook.
//
// Two kinds of series, kept apart by the `workload` label. A live sidecar is
// scraped directly: its series have no workload label, and every alert but
// one selects workload="" (absent). A short-lived Job's sidecar pushes its
// verdict to a Pushgateway (--push-gateway), scraped with honor_labels: its
// group keeps job="irsa-doctor" and the grouping labels namespace and
// workload, and stays there after the pod is gone. The live alerts must never
// see it (a finished run's token expires a day later: not an incident), and
// IRSAWorkloadLastRunFinding sees only it, so one problem never alerts twice. Thresholds follow how the kubelet rotates the
// projected token: it refreshes once the token is older than
// min(80% of its lifetime, 24 h), so a healthy pod's token never has less
// than 20% of its lifetime left and is never older than that refresh point
// plus the kubelet's sync delay (a minute or two).
local util = import '../lib/util.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    local multi = c.showMultiCluster,
    local cl = c.clusterLabel,
    local forOf(name) = c.alertFor[name],
    local forWords(name) = util.durationWords(forOf(name)),
    local runbook(anchor) = c.runbookURL + '#' + anchor,
    // A live sidecar's series, never a pushed group's (header above).
    local live = 'workload=""',
    local pushed = '%s, workload!=""' % c.pushedSelector,
    // In a multi-cluster Prometheus the same namespace/pod can exist in two
    // clusters: say which one.
    local summary(s) = if multi then s + ' (cluster {{ $labels.' + cl + ' }})' else s,
    // One claim of the token, looked up from irsa_token_info of the same
    // target (job and instance; and cluster: pod IPs repeat across clusters).
    local claim(label) =
      (if multi
       then '{{ with printf "irsa_token_info{' + cl + '=%q,job=%q,instance=%q}" $labels.' + cl + ' $labels.job $labels.instance | query }}'
       else '{{ with printf "irsa_token_info{job=%q,instance=%q}" $labels.job $labels.instance | query }}')
      + '{{ . | first | label "' + label + '" }}{{ else }}(unknown){{ end }}',
    local alert(name, severity, expr, summaryText, description, anchor) = {
      alert: name,
      expr: expr,
      'for': forOf(name),
      labels: { severity: severity },
      annotations: {
        summary: summary(summaryText),
        description: util.fold(description),
        runbook_url: runbook(anchor),
      },
    },
    // When the alerting group was last pushed, looked up from the same group
    // (and cluster: namespaces and workload names repeat across clusters).
    local lastPush =
      (if multi
       then '{{ with printf "irsa_doctor_last_push_timestamp_seconds{' + cl + '=%q,job=%q,namespace=%q,workload=%q}" $labels.' + cl + ' $labels.job $labels.namespace $labels.workload | query }}'
       else '{{ with printf "irsa_doctor_last_push_timestamp_seconds{job=%q,namespace=%q,workload=%q}" $labels.job $labels.namespace $labels.workload | query }}')
      + 'at {{ . | first | value | humanizeTimestamp }}{{ else }}at an unknown time{{ end }}',
    // A short-lived Job's last verdict, from the Pushgateway: one alert per
    // workload and finding code, at the finding's own severity (two rules of
    // one name, as kubernetes-mixin does for its certificate alerts; info
    // findings never alert). Only pushed groups have a workload label.
    local lastRun(severity) = alert(
      'IRSAWorkloadLastRunFinding',
      severity,
      |||
        irsa_finding_active{%s, severity="%s"} == 1
      ||| % [pushed, severity],
      'The last run of {{ $labels.namespace }}/{{ $labels.workload }} reported {{ $labels.code }}',
      |||
        irsa-doctor's last verdict on {{ $labels.namespace }}/{{ $labels.workload }},
        pushed to the Pushgateway %s, has the %s finding {{ $labels.code }}.
        The run's pod may be gone: the termination message of its irsa-doctor
        container (`kubectl describe pod`) holds the whole verdict, and the
        runbook section of {{ $labels.code }} the fix. The alert clears when a
        later run pushes a verdict without it.
      ||| % [lastPush, severity],
      'irsaworkloadlastrunfinding',
    ),
    // The refresh point min(fraction x lifetime, max) of the kubelet.
    local refreshPoint = 'clamp_max(%s * irsa_token_lifetime_seconds, %d)' % [util.num(c.tokenRefreshFraction), c.tokenRefreshMaxSeconds],
    // Codes with an alert of their own; the catch-all alerts exclude them.
    local ownCritical = 'TOKEN_EXPIRED|AUDIENCE_MISMATCH|SUBJECT_MISMATCH|TRUST_POLICY_DENIES|ISSUER_MISMATCH|NODE_ROLE_FALLBACK|STS_ASSUME_FAILED|STS_UNREACHABLE',
    local ownWarning = 'TOKEN_EXPIRING_SOON|TOKEN_NOT_ROTATED|IMDS_REACHABLE|STATIC_CREDENTIALS_SHADOW',

    groups+: [{
      name: 'irsa-doctor',
      rules: [
        // In the last 10% of its lifetime (at most the last hour): the kubelet
        // replaces it at 80%, so a healthy token never gets here. Raw
        // timestamps against time(), so this holds for every token irsa-doctor
        // watches (label token: irsa, pod_identity, kube_api).
        alert(
          'IRSATokenExpiringSoon',
          'warning',
          |||
            (irsa_token_expiry_timestamp_seconds{%s} - time()) < clamp_max(%s * irsa_token_lifetime_seconds, %d)
            and
            (irsa_token_expiry_timestamp_seconds{%s} - time()) > 0
          ||| % [live, util.num(c.tokenExpiringFraction), c.tokenExpiringMaxSeconds, live],
          'The {{ $labels.token }} token of {{ $labels.namespace }}/{{ $labels.pod }} expires soon',
          |||
            The projected {{ $labels.token }} token of pod {{ $labels.namespace }}/{{ $labels.pod }}
            expires in {{ $value | humanizeDuration }} and the kubelet has not
            replaced it. AWS calls will fail with ExpiredTokenException when it does.
          |||,
          'token_expiring_soon',
        ),
        alert(
          'IRSATokenExpired',
          'critical',
          |||
            time() - irsa_token_expiry_timestamp_seconds{%s} > 0
          ||| % live,
          'The {{ $labels.token }} token of {{ $labels.namespace }}/{{ $labels.pod }} has expired',
          |||
            The projected {{ $labels.token }} token of pod {{ $labels.namespace }}/{{ $labels.pod }}
            expired {{ $value | humanizeDuration }} ago. STS rejects it
            (ExpiredTokenException): the pod has no working AWS identity.
          |||,
          'token_expired',
        ),
        // Older than the kubelet's refresh point, iat + min(0.8 x lifetime, 24 h),
        // by more than 10 minutes (the TOKEN_NOT_ROTATED finding's rule).
        alert(
          'IRSATokenNotRotated',
          'warning',
          |||
            time() - irsa_token_issued_timestamp_seconds{%s}
            > %s + %d
          ||| % [live, refreshPoint, c.tokenRotationGraceSeconds],
          'The {{ $labels.token }} token of {{ $labels.namespace }}/{{ $labels.pod }} is not being rotated',
          |||
            The projected {{ $labels.token }} token of pod {{ $labels.namespace }}/{{ $labels.pod }}
            was issued {{ $value | humanizeDuration }} ago, past the point where
            the kubelet refreshes it (%s of its lifetime, at most %s). Token
            rotation on this node has stalled; the token will expire.
          ||| % [util.percent(c.tokenRefreshFraction), util.secondsShort(c.tokenRefreshMaxSeconds)],
          'token_not_rotated',
        ),
        // The last test-assume failed, continuously for the `for` duration
        // (failed probes are retried after 10 s, doubling, so this is several
        // failures in a row).
        alert(
          'IRSASTSAssumeFailing',
          'critical',
          |||
            irsa_sts_assume_success{%s} == 0
          ||| % live,
          'AssumeRoleWithWebIdentity fails for {{ $labels.namespace }}/{{ $labels.pod }}',
          |||
            Every AssumeRoleWithWebIdentity test-assume by irsa-doctor in pod
            {{ $labels.namespace }}/{{ $labels.pod }} has failed for %s.
            The STS error code is in irsa_sts_assume_errors_total and
            `curl localhost:9911/debug` names the cause.
          ||| % forWords('IRSASTSAssumeFailing'),
          'sts_assume_failed',
        ),
        alert(
          'IRSANodeRoleFallback',
          'critical',
          |||
            irsa_node_role_fallback{%s} == 1
          ||| % live,
          "Pod {{ $labels.namespace }}/{{ $labels.pod }} runs with the node's IAM role",
          |||
            The AWS default credential chain in pod {{ $labels.namespace }}/{{ $labels.pod }}
            resolves the node's instance role through IMDS instead of the IRSA
            role: the app has the node's permissions, not its own.
          |||,
          'node_role_fallback',
        ),
        alert(
          'IRSAIMDSReachable',
          'warning',
          |||
            irsa_imds_reachable{%s} == 1
          ||| % live,
          'Pod {{ $labels.namespace }}/{{ $labels.pod }} can reach the instance metadata service',
          |||
            Pod {{ $labels.namespace }}/{{ $labels.pod }} can reach IMDS, so the
            node's instance-role credentials are available to it (a fallback
            and an escalation path). Block IMDS for pods.
          |||,
          'imds_reachable',
        ),
        alert(
          'IRSAAudienceMismatch',
          'critical',
          |||
            irsa_finding_active{code="AUDIENCE_MISMATCH", %s} == 1
          ||| % live,
          'IRSA token audience is wrong in {{ $labels.namespace }}/{{ $labels.pod }}',
          |||
            The projected token of pod {{ $labels.namespace }}/{{ $labels.pod }}
            has audience %s,
            not the expected one (sts.amazonaws.com by default); STS answers
            InvalidIdentityToken: Incorrect token audience.
          ||| % claim('audience'),
          'audience_mismatch',
        ),
        alert(
          'IRSASubjectMismatch',
          'critical',
          |||
            irsa_finding_active{code="SUBJECT_MISMATCH", %s} == 1
          ||| % live,
          'Pod {{ $labels.namespace }}/{{ $labels.pod }} runs as an unexpected ServiceAccount',
          |||
            The token of pod {{ $labels.namespace }}/{{ $labels.pod }} has subject
            %s,
            instead of the one irsa-doctor expects (from POD_NAMESPACE and
            SERVICE_ACCOUNT_NAME, or IRSA_DOCTOR_EXPECTED_SUBJECT): a trust
            policy pinned to the expected ServiceAccount rejects it.
          ||| % claim('subject'),
          'subject_mismatch',
        ),
        alert(
          'IRSATrustPolicyDenies',
          'critical',
          |||
            irsa_finding_active{code="TRUST_POLICY_DENIES", %s} == 1
          ||| % live,
          "The IAM role's trust policy rejects the token of {{ $labels.namespace }}/{{ $labels.pod }}",
          |||
            Evaluated against the role's trust policy, the token of pod
            {{ $labels.namespace }}/{{ $labels.pod }} is not allowed to
            AssumeRoleWithWebIdentity (STS answers AccessDenied). The statement
            and the failing condition are in `curl localhost:9911/debug`.
          |||,
          'trust_policy_denies',
        ),
        alert(
          'IRSAIssuerMismatch',
          'critical',
          |||
            irsa_finding_active{code="ISSUER_MISMATCH", %s} == 1
          ||| % live,
          "The IAM role trusts another cluster's OIDC issuer ({{ $labels.namespace }}/{{ $labels.pod }})",
          |||
            The federated OIDC provider in the role's trust policy does not
            match the issuer of the token of pod {{ $labels.namespace }}/{{ $labels.pod }},
            %s:
            the policy was written for another cluster.
          ||| % claim('issuer'),
          'issuer_mismatch',
        ),
        alert(
          'IRSAStaticCredentialsShadow',
          'warning',
          |||
            irsa_finding_active{code="STATIC_CREDENTIALS_SHADOW", %s} == 1
          ||| % live,
          'Static AWS credentials shadow IRSA in {{ $labels.namespace }}/{{ $labels.pod }}',
          |||
            Static keys, AWS_PROFILE or a shared credentials file in pod
            {{ $labels.namespace }}/{{ $labels.pod }} come before web identity in
            the AWS default credential chain: the app does not use its IRSA role.
          |||,
          'static_credentials_shadow',
        ),
        // Every other critical finding (webhook did not mutate the pod, token
        // missing/unreadable/malformed/not yet valid/badly signed, wrong role).
        alert(
          'IRSACriticalFinding',
          'critical',
          |||
            irsa_finding_active{severity="critical", code!~"%s", %s} == 1
          ||| % [ownCritical, live],
          'irsa-doctor reports {{ $labels.code }} in {{ $labels.namespace }}/{{ $labels.pod }}',
          |||
            irsa-doctor in pod {{ $labels.namespace }}/{{ $labels.pod }} has
            reported the critical finding {{ $labels.code }} for %s:
            the pod's AWS calls fail or will fail (its identity, or for
            ACCESS_NOT_ALLOWED a permission it needs). `curl localhost:9911/debug`
            has the details and the fix.
          ||| % forWords('IRSACriticalFinding'),
          '{{ $labels.code | toLower }}',
        ),
        // Every other warning finding (STS throttling, clock skew).
        alert(
          'IRSAWarningFinding',
          'warning',
          |||
            irsa_finding_active{severity="warning", code!~"%s", %s} == 1
          ||| % [ownWarning, live],
          'irsa-doctor reports {{ $labels.code }} in {{ $labels.namespace }}/{{ $labels.pod }}',
          |||
            irsa-doctor in pod {{ $labels.namespace }}/{{ $labels.pod }} has
            reported the warning {{ $labels.code }} for %s.
            `curl localhost:9911/debug` has the details and the fix.
          ||| % forWords('IRSAWarningFinding'),
          '{{ $labels.code | toLower }}',
        ),
        lastRun('critical'),
        lastRun('warning'),
        alert(
          'IRSADoctorTargetDown',
          'warning',
          |||
            up{%s} == 0
          ||| % c.jobSelector,
          'Prometheus cannot scrape irsa-doctor in {{ $labels.namespace }}/{{ $labels.pod }}',
          |||
            Scrapes of irsa-doctor at {{ $labels.instance }} (pod
            {{ $labels.namespace }}/{{ $labels.pod }}) have failed for %s:
            the pod's IRSA health is unknown.
          ||| % forWords('IRSADoctorTargetDown'),
          'irsadoctortargetdown',
        ),
        // absent() has no labels to name a cluster by: in a multi-cluster
        // Prometheus this fires only when no cluster has a target left.
        alert(
          'IRSADoctorAbsent',
          'warning',
          |||
            absent(up{%s} == 1)
          ||| % c.jobSelector,
          'No irsa-doctor target is being scraped',
          |||
            Prometheus has had no successfully scraped target with
            %s for %s: the PodMonitor selects no pod,
            or no pod runs the sidecar, so no IRSA alert can fire.
          ||| % [c.jobSelector, forWords('IRSADoctorAbsent')],
          'irsadoctorabsent',
        ) + { annotations+: { summary: 'No irsa-doctor target is being scraped' } },
      ],
    }],
  },
}
