// The irsa-doctor monitoring mixin (https://monitoring.mixins.dev layout):
// _config, prometheusAlerts, grafanaDashboards. Import it and override
// _config; scripts/mixin renders the files shipped in manifests/monitoring/
// and dashboards/ from the defaults.
(import 'config.libsonnet') +
(import 'alerts/alerts.libsonnet') +
(import 'dashboards/dashboards.libsonnet')
