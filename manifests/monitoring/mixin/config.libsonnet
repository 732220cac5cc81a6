// The knobs of the irsa-doctor mixin. Override them with
//   (import 'mixin.libsonnet') + { _config+:: { jobSelector: 'job="kube-system/irsa-doctor"' } }
// The defaults generate exactly the rules and dashboard shipped in
// manifests/monitoring/ and dashboards/ (scripts/mixin check).
{
  _config+:: {
    // Selects irsa-doctor's scrape targets in `up` (target down / absent
    // alerts, the dashboard's "not scraped" count). The irsa_* series need no
    // selector: only irsa-doctor exports them.
    jobSelector: 'job="irsa-doctor"',

    // Selects the groups short-lived sidecars push to a Pushgateway
    // (--push-gateway), as Prometheus stores them when it scrapes the
    // Pushgateway with honor_labels: true: the group's job, which irsa-doctor
    // always pushes as "irsa-doctor", whatever the scrape job is called. They
    // also carry the grouping labels namespace and workload; live sidecars'
    // series never have a workload label, which is what keeps the live alerts
    // and IRSAWorkloadLastRunFinding apart (see alerts/alerts.libsonnet).
    pushedSelector: 'job="irsa-doctor"',

    // IRSATokenExpiringSoon: fires once a token has less than
    // min(tokenExpiringFraction x lifetime, tokenExpiringMaxSeconds) left.
    // The kubelet replaces it at tokenRefreshFraction, so a healthy token
    // never gets this close (the dashboard draws the max as its red line).
    tokenExpiringFraction: 0.1,
    tokenExpiringMaxSeconds: 3600,

    // The kubelet's refresh point for a projected token:
    // iat + min(tokenRefreshFraction x lifetime, tokenRefreshMaxSeconds).
    // These describe the kubelet, not a preference: change them only for a
    // kubelet that rotates differently.
    tokenRefreshFraction: 0.8,
    tokenRefreshMaxSeconds: 86400,
    // IRSATokenNotRotated: the token is older than the refresh point by more
    // than this (the kubelet's sync delay is a minute or two).
    tokenRotationGraceSeconds: 600,

    // `for` of each alert, by alert name. Durations that appear in an
    // alert's description follow these.
    alertFor: {
      IRSATokenExpiringSoon: '5m',
      IRSATokenExpired: '1m',
      IRSATokenNotRotated: '5m',
      IRSASTSAssumeFailing: '10m',
      IRSANodeRoleFallback: '5m',
      IRSAIMDSReachable: '15m',
      IRSAAudienceMismatch: '5m',
      IRSASubjectMismatch: '5m',
      IRSATrustPolicyDenies: '5m',
      IRSAIssuerMismatch: '5m',
      IRSAStaticCredentialsShadow: '15m',
      IRSACriticalFinding: '5m',
      IRSAWarningFinding: '15m',
      IRSADoctorTargetDown: '10m',
      IRSADoctorAbsent: '15m',
      // A pushed group is replaced by every push (every 30 s during a run,
      // once more at its end): a finding that shows only mid-run and is gone
      // from the final push does not fire; one in the last run's verdict does.
      IRSAWorkloadLastRunFinding: '5m',
    },

    // Every alert's runbook_url is this plus #<section>; the dashboard links
    // to it. Point it at your own copy of docs/runbook.md if you keep one.
    runbookURL: 'https://github.com/irsa-doctor/irsa-doctor/blob/main/docs/runbook.md',

    // The label that tells clusters apart when one Prometheus (Thanos,
    // Mimir, a global view) holds several. With showMultiCluster the alerts
    // name the cluster, their label lookups match on it, the dashboard shows
    // its cluster variable and groups per-pod series by it. Without it the
    // variable is hidden but still filters (All, i.e. =~".*", which also
    // matches series that have no such label).
    clusterLabel: 'cluster',
    showMultiCluster: false,

    dashboardUid: 'irsa-doctor',
  },
}
