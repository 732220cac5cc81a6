// A _config unlike the defaults in every knob, for custom.test.yml:
// scripts/check-ship renders the mixin with it (scripts/mixin render DIR
// this-file) and runs promtool's unit tests on the result.
{
  jobSelector: 'job="kube-system/irsa-doctor", env="prod"',
  pushedSelector: 'job="irsa-doctor", env="prod"',
  tokenExpiringFraction: 0.2,
  tokenExpiringMaxSeconds: 7200,
  tokenRotationGraceSeconds: 1800,
  alertFor+: {
    IRSATokenExpiringSoon: '2m',
    IRSATokenNotRotated: '3m',
    IRSAAudienceMismatch: '1m',
    IRSADoctorTargetDown: '3m',
    IRSADoctorAbsent: '20m',
    IRSAWorkloadLastRunFinding: '2m',
  },
  runbookURL: 'https://runbooks.example.com/irsa-doctor.md',
  clusterLabel: 'k8s_cluster',
  showMultiCluster: true,
}
