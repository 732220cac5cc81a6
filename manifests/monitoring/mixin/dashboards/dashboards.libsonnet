// The irsa-doctor Grafana dashboard, plain JSON model (no grafonnet: the
// mixin has no dependencies). Checked against @grafana/schema's Dashboard
// type by scripts/check-ship.
local util = import '../lib/util.libsonnet';

{
  grafanaDashboards+:: {
    local c = $._config,
    local multi = c.showMultiCluster,
    local cl = c.clusterLabel,

    // Every irsa_* query filters by the three variables. The cluster matcher
    // is there even when its variable is hidden: All sends =~".*", which also
    // matches series without the label, so single-cluster setups lose nothing.
    local sel = '%s=~"$cluster", namespace=~"$namespace", pod=~"$pod"' % cl,
    // Per-pod grouping and legends: a pod is only unique with its cluster.
    local podBy = if multi then '%s, namespace, pod' % cl else 'namespace, pod',
    local podLegend = if multi then '{{%s}} {{namespace}}/{{pod}}' % cl else '{{namespace}}/{{pod}}',

    local ds = { type: 'prometheus', uid: '${datasource}' },
    local target(refId, expr, legend, instant=false) = {
      datasource: ds,
      refId: refId,
      expr: expr,
      legendFormat: legend,
      range: !instant,
      instant: instant,
      editorMode: 'code',
    },
    local tableTarget(expr) = target('A', expr, '__auto', instant=true) + { format: 'table' },
    local thresholds(steps) = {
      mode: 'absolute',
      steps: [{ color: s[0], value: s[1] } for s in steps],
    },
    local reduce = { calcs: ['lastNotNull'], fields: '', values: false },
    local fixedColor(color) = { id: 'color', value: { mode: 'fixed', fixedColor: color } },
    local byName(name, props) = { matcher: { id: 'byName', options: name }, properties: props },

    local row(id, title, y) = {
      id: id,
      type: 'row',
      title: title,
      collapsed: false,
      gridPos: { h: 1, w: 24, x: 0, y: y },
      panels: [],
    },
    local panel(id, type, title, description, grid, targets) = {
      id: id,
      type: type,
      title: title,
      description: description,
      datasource: ds,
      gridPos: { h: grid[0], w: grid[1], x: grid[2], y: grid[3] },
      targets: targets,
    },
    local lines(fill=0) = {
      drawStyle: 'line',
      lineWidth: 1,
      fillOpacity: fill,
      showPoints: 'never',
      spanNulls: false,
    },
    local timeseriesOptions = {
      legend: { displayMode: 'table', placement: 'right', showLegend: true, calcs: ['lastNotNull'] },
      tooltip: { mode: 'multi', sort: 'none' },
    },
    local countStat(id, title, description, grid, expr, color, legend='pods') =
      panel(id, 'stat', title, description, grid, [target('A', expr, legend)]) + {
        fieldConfig: {
          defaults: { unit: 'short', thresholds: thresholds([['green', null], [color, 1]]) },
          overrides: [],
        },
        options: {
          reduceOptions: reduce,
          colorMode: 'background',
          graphMode: 'area',
          textMode: 'value',
          justifyMode: 'auto',
          orientation: 'auto',
        },
      },
    local tableOptions = {
      showHeader: true,
      cellHeight: 'sm',
      footer: { show: false, reducer: ['sum'], fields: '' },
    },
    local tableCustom = { align: 'auto', cellOptions: { type: 'auto' }, inspect: false },
    // Columns in this order, cluster first when there are several.
    local organize(columns) = {
      id: 'organize',
      options: {
        excludeByName: { Time: true, Value: true },
        local cols = (if multi then [cl] else []) + columns,
        indexByName: { [cols[i]]: i for i in std.range(0, std.length(cols) - 1) },
        renameByName: {},
      },
    },
    local refresh = '%s * irsa_token_lifetime_seconds{token="irsa", %s}' % [util.num(c.tokenRefreshFraction), sel],
    local stsQuantile(refId, q, legend) = target(
      refId,
      'histogram_quantile(%s, sum by (le) (increase(irsa_sts_assume_duration_seconds_bucket{%s}[1h])))' % [q, sel],
      legend,
    ),
    local variable(name, label, description, query) = {
      name: name,
      label: label,
      type: 'query',
      description: description,
      datasource: ds,
      query: query,
      refresh: 2,
      regex: '',
      sort: 1,
      multi: true,
      includeAll: true,
      allValue: '.*',
      current: { selected: true, text: ['All'], value: ['$__all'] },
      options: [],
      hide: 0,
    },

    'irsa-doctor.json': {
      title: 'irsa-doctor: IRSA health',
      uid: c.dashboardUid,
      description: 'EKS IAM Roles for Service Accounts health from the irsa-doctor sidecar: tokens, STS test-assumes, credential chain, expected access and findings.',
      tags: ['irsa-doctor', 'aws', 'eks', 'irsa'],
      timezone: 'browser',
      editable: true,
      graphTooltip: 1,
      schemaVersion: 39,
      version: 1,
      refresh: '1m',
      time: { from: 'now-6h', to: 'now' },
      timepicker: {},
      fiscalYearStartMonth: 0,
      liveNow: false,
      links: [{
        title: 'Runbook',
        type: 'link',
        url: c.runbookURL,
        icon: 'doc',
        targetBlank: true,
        asDropdown: false,
        includeVars: false,
        keepTime: false,
        tags: [],
        tooltip: 'What each finding means and how to fix it',
      }],
      annotations: {
        list: [{
          builtIn: 1,
          datasource: { type: 'grafana', uid: '-- Grafana --' },
          enable: true,
          hide: true,
          iconColor: 'rgba(0, 211, 255, 1)',
          name: 'Annotations & Alerts',
          type: 'dashboard',
        }],
      },
      templating: {
        list: [
          {
            name: 'datasource',
            label: 'Data source',
            type: 'datasource',
            query: 'prometheus',
            refresh: 1,
            regex: '',
            hide: 0,
            multi: false,
            includeAll: false,
            options: [],
          },
          // hide 2 = hidden: single-cluster setups keep All.
          variable('cluster',
                   'Cluster',
                   'Clusters with irsa-doctor pods (the %s label)' % cl,
                   'label_values(irsa_doctor_build_info, %s)' % cl)
          + { hide: if multi then 0 else 2 },
          variable('namespace',
                   'Namespace',
                   'Namespaces with irsa-doctor pods',
                   'label_values(irsa_doctor_build_info{%s=~"$cluster"}, namespace)' % cl),
          variable('pod',
                   'Pod',
                   'Pods running irsa-doctor',
                   'label_values(irsa_doctor_build_info{%s=~"$cluster", namespace=~"$namespace"}, pod)' % cl),
        ],
      },
      panels: [
        row(1, 'Fleet', 0),
        panel(2,
              'stat',
              'Pods by status',
              'Pods running irsa-doctor, by their worst active finding: ok (none, or info only), warning, critical; and sidecars Prometheus cannot scrape.',
              [6, 8, 0, 1],
              [
                target('A', 'count(max by (%s) (irsa_finding_active{severity=~"critical|warning", %s}) == 0) or vector(0)' % [podBy, sel], 'ok'),
                target('B', 'count((max by (%(by)s) (irsa_finding_active{severity="warning", %(sel)s}) == 1) unless on (%(by)s) (max by (%(by)s) (irsa_finding_active{severity="critical", %(sel)s}) == 1)) or vector(0)' % { by: podBy, sel: sel }, 'warning'),
                target('C', 'count(max by (%s) (irsa_finding_active{severity="critical", %s}) == 1) or vector(0)' % [podBy, sel], 'critical'),
                target('D', 'count(up{%s, %s} == 0) or vector(0)' % [c.jobSelector, sel], 'not scraped'),
              ]) + {
          fieldConfig: {
            defaults: { unit: 'short', thresholds: thresholds([['green', null]]) },
            overrides: [
              byName('ok', [fixedColor('green')]),
              byName('warning', [fixedColor('orange')]),
              byName('critical', [fixedColor('red')]),
              byName('not scraped', [fixedColor('purple')]),
            ],
          },
          options: {
            reduceOptions: reduce,
            colorMode: 'background',
            graphMode: 'none',
            textMode: 'value_and_name',
            justifyMode: 'auto',
            orientation: 'horizontal',
          },
        },
        panel(3,
              'bargauge',
              'Active findings by code',
              'How many pods report each finding code right now. Each code has a section in the runbook (dashboard link above).',
              [6, 8, 8, 1],
              [
                target('A', 'sort_desc(sum by (code) (irsa_finding_active{%s}) > 0)' % sel, '{{code}}', instant=true),
              ]) + {
          fieldConfig: {
            defaults: {
              unit: 'short',
              thresholds: thresholds([['orange', null]]),
              noValue: 'no active findings',
              min: 0,
            },
            overrides: [],
          },
          options: {
            reduceOptions: reduce,
            displayMode: 'basic',
            orientation: 'horizontal',
            showUnfilled: true,
            valueMode: 'color',
            namePlacement: 'left',
          },
        },
        panel(4,
              'piechart',
              'Credential provider',
              "Which provider the AWS default credential chain resolves in each pod: WebIdentityToken is IRSA; EnvironmentVariable or ProfileFile means static credentials shadow it; IMDSv2 means the node's role.",
              [6, 8, 16, 1],
              [
                target('A', 'count by (provider) (irsa_credential_provider_info{%s})' % sel, '{{provider}}', instant=true),
              ]) + {
          fieldConfig: {
            defaults: { unit: 'short', thresholds: thresholds([['green', null]]) },
            overrides: [],
          },
          options: {
            reduceOptions: reduce,
            pieType: 'donut',
            legend: { displayMode: 'table', placement: 'right', showLegend: true, values: ['value'] },
            tooltip: { mode: 'single', sort: 'none' },
          },
        },

        row(5, 'Token', 7),
        panel(6,
              'timeseries',
              'Token time to expiry',
              "exp - now of each pod's projected token. Healthy: a sawtooth that never drops below %s of the lifetime (the kubelet refreshes at %s). Below the red line (%s) the token is about to expire."
              % [util.percent(1 - c.tokenRefreshFraction), util.percent(c.tokenRefreshFraction), util.secondsShort(c.tokenExpiringMaxSeconds)],
              [8, 12, 0, 8],
              [
                target('A', 'irsa_token_expiry_timestamp_seconds{token="irsa", %s} - time()' % sel, podLegend),
              ]) + {
          fieldConfig: {
            defaults: {
              unit: 's',
              thresholds: thresholds([['green', null], ['red', c.tokenExpiringMaxSeconds]]),
              custom: lines() + { thresholdsStyle: { mode: 'line' } },
            },
            overrides: [],
          },
          options: timeseriesOptions,
        },
        panel(7,
              'timeseries',
              'Token age',
              "now - iat of each pod's token, and the kubelet's refresh point min(%s of lifetime, %s): age should drop back to zero shortly after it crosses the refresh point."
              % [util.percent(c.tokenRefreshFraction), util.secondsShort(c.tokenRefreshMaxSeconds)],
              [8, 12, 12, 8],
              [
                target('A', 'time() - irsa_token_issued_timestamp_seconds{token="irsa", %s}' % sel, podLegend),
                target('B', 'clamp_max(%s, %d)' % [refresh, c.tokenRefreshMaxSeconds], 'refresh point ' + podLegend),
              ]) + {
          fieldConfig: {
            defaults: {
              unit: 's',
              thresholds: thresholds([['green', null]]),
              custom: lines(),
            },
            overrides: [{
              matcher: { id: 'byFrameRefID', options: 'B' },
              properties: [
                { id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } },
                fixedColor('orange'),
              ],
            }],
          },
          options: timeseriesOptions,
        },

        row(8, 'STS test-assume', 16),
        panel(9,
              'timeseries',
              'STS success ratio (1h)',
              'Share of AssumeRoleWithWebIdentity test-assumes that succeeded over the last hour, per pod (a healthy pod probes every 5 min).',
              [8, 8, 0, 17],
              [
                target('A', '1 - (sum by (%(by)s) (increase(irsa_sts_assume_errors_total{%(sel)s}[1h])) / sum by (%(by)s) (increase(irsa_sts_assume_attempts_total{%(sel)s}[1h])))' % { by: podBy, sel: sel }, podLegend),
              ]) + {
          fieldConfig: {
            defaults: {
              unit: 'percentunit',
              thresholds: thresholds([['red', null], ['green', 0.99]]),
              custom: lines(),
              min: 0,
              max: 1,
            },
            overrides: [],
          },
          options: timeseriesOptions,
        },
        panel(10,
              'timeseries',
              'STS latency quantiles (1h)',
              'p50, p90 and p99 of AssumeRoleWithWebIdentity latency across the selected pods, over the last hour.',
              [8, 8, 8, 17],
              [
                stsQuantile('A', '0.5', 'p50'),
                stsQuantile('B', '0.9', 'p90'),
                stsQuantile('C', '0.99', 'p99'),
              ]) + {
          fieldConfig: {
            defaults: { unit: 's', thresholds: thresholds([['green', null]]), custom: lines() },
            overrides: [],
          },
          options: timeseriesOptions,
        },
        panel(11,
              'timeseries',
              'STS errors by code (1h)',
              'Failed test-assumes over the last hour by STS error code (AccessDenied, InvalidIdentityToken, ExpiredTokenException, Unreachable, Timeout, ...).',
              [8, 8, 16, 17],
              [
                target('A', 'sum by (code) (increase(irsa_sts_assume_errors_total{%s}[1h])) > 0' % sel, '{{code}}'),
              ]) + {
          fieldConfig: {
            defaults: { unit: 'short', thresholds: thresholds([['green', null]]), custom: lines(20), min: 0 },
            overrides: [],
          },
          options: timeseriesOptions,
        },

        row(12, 'Credential chain', 25),
        countStat(13,
                  'Node-role fallback',
                  "Pods whose default credential chain resolves the node's instance role instead of the IRSA role.",
                  [6, 6, 0, 26],
                  'sum(irsa_node_role_fallback{%s}) or vector(0)' % sel,
                  'red'),
        countStat(14,
                  'IMDS reachable',
                  'Pods that can reach the instance metadata service (IMDSv2 or v1), so node-role credentials are available to them.',
                  [6, 6, 6, 26],
                  'sum(irsa_imds_reachable{%s}) or vector(0)' % sel,
                  'orange'),
        panel(15,
              'state-timeline',
              'Node-role fallback and IMDS by pod',
              "Per pod: 1 while the chain falls back to the node's role, or IMDS is reachable.",
              [6, 12, 12, 26],
              [
                target('A', 'max by (%s) (irsa_node_role_fallback{%s})' % [podBy, sel], 'fallback ' + podLegend),
                target('B', 'max by (%s) (irsa_imds_reachable{%s})' % [podBy, sel], 'IMDS ' + podLegend),
              ]) + {
          fieldConfig: {
            defaults: {
              thresholds: thresholds([['green', null], ['red', 1]]),
              mappings: [{
                type: 'value',
                options: {
                  '0': { text: 'no', color: 'green' },
                  '1': { text: 'yes', color: 'red' },
                },
              }],
            },
            overrides: [],
          },
          options: {
            showValue: 'never',
            mergeValues: true,
            alignValue: 'left',
            rowHeight: 0.9,
            legend: { displayMode: 'list', placement: 'bottom', showLegend: false },
            tooltip: { mode: 'single', sort: 'none' },
          },
        },

        // Only pods run with --expect-access have irsa_access_allowed; a
        // decision irsa-doctor cannot make (policies unread or unreadable, a
        // condition the pod cannot know) has no series at all, never a 0.
        // min by: a pod shows DENIED if any of its series says so.
        row(19, 'Access (--expect-access)', 32),
        countStat(20,
                  'Expected accesses denied',
                  "--expect-access entries (per pod, action and resource) that the role's identity policies and permissions boundary do not allow (ACCESS_NOT_ALLOWED, critical). Unknown decisions are not counted.",
                  [4, 6, 0, 33],
                  'count(min by (%s, action, resource) (irsa_access_allowed{%s}) == 0) or vector(0)' % [podBy, sel],
                  'red',
                  'accesses'),
        countStat(21,
                  'Access unverified',
                  "Pods run with --expect-access whose role's policies could not be read (IAM denied or unreachable: ACCESS_UNVERIFIED, info): their expected access is unknown, not denied, and has no rows in the table.",
                  [4, 6, 0, 37],
                  'sum(irsa_finding_active{code="ACCESS_UNVERIFIED", %s}) or vector(0)' % sel,
                  'blue'),
        panel(22,
              'table',
              'Expected access by pod',
              "Each --expect-access ACTION=RESOURCE entry, per pod. allowed: the role's identity policies and permissions boundary allow the action on the resource; DENIED: they do not (ACCESS_NOT_ALLOWED, critical; `curl localhost:9911/debug` names the deciding statement). Service control policies, resource policies (bucket, key), session policies and VPC endpoint policies are invisible from the pod, so allowed does not promise the call succeeds. A missing entry is unknown: the policies are not read yet or could not be (ACCESS_UNVERIFIED), or the decision needs a condition the pod cannot know.",
              [8, 18, 6, 33],
              [
                tableTarget('min by (%s, action, resource) (irsa_access_allowed{%s})' % [podBy, sel]),
              ]) + {
          fieldConfig: {
            defaults: {
              thresholds: thresholds([['green', null]]),
              noValue: 'no decisions: no pod runs with --expect-access, or none is known yet',
              custom: tableCustom,
            },
            overrides: [
              byName('Value', [
                { id: 'displayName', value: 'access' },
                { id: 'custom.cellOptions', value: { type: 'color-text' } },
                {
                  id: 'mappings',
                  value: [{
                    type: 'value',
                    options: {
                      '0': { text: 'DENIED', color: 'red', index: 0 },
                      '1': { text: 'allowed', color: 'green', index: 1 },
                    },
                  }],
                },
              ]),
            ],
          },
          options: tableOptions { sortBy: [{ displayName: 'access', desc: false }] },
          transformations: [
            organize(['namespace', 'pod', 'action', 'resource', 'Value'])
            + { options+: { excludeByName: { Time: true } } },
          ],
        },

        row(16, 'Findings', 41),
        panel(17,
              'table',
              'Active findings',
              'Every finding raised right now, per pod. `curl localhost:9911/debug` in the pod explains it; the runbook has a section per code.',
              [8, 24, 0, 42],
              [
                tableTarget('max by (%s, code, severity) (irsa_finding_active{%s}) == 1' % [podBy, sel]),
              ]) + {
          fieldConfig: {
            defaults: {
              thresholds: thresholds([['green', null]]),
              noValue: 'no active findings',
              custom: tableCustom,
            },
            overrides: [
              byName('severity', [
                { id: 'custom.cellOptions', value: { type: 'color-text' } },
                {
                  id: 'mappings',
                  value: [{
                    type: 'value',
                    options: {
                      critical: { color: 'red', index: 0 },
                      warning: { color: 'orange', index: 1 },
                      info: { color: 'blue', index: 2 },
                    },
                  }],
                },
              ]),
            ],
          },
          options: tableOptions { sortBy: [{ displayName: 'severity', desc: false }] },
          transformations: [organize(['namespace', 'pod', 'severity', 'code'])],
        },
        panel(18,
              'table',
              'Tokens',
              "The claims of each pod's current token.",
              [7, 24, 0, 50],
              [
                tableTarget('max by (%s, service_account, subject, audience, issuer) (irsa_token_info{token="irsa", %s})' % [podBy, sel]),
              ]) + {
          fieldConfig: {
            defaults: { thresholds: thresholds([['green', null]]), custom: tableCustom },
            overrides: [],
          },
          options: tableOptions,
          transformations: [organize(['namespace', 'pod', 'service_account', 'subject', 'audience', 'issuer'])],
        },
      ],
    },
  },
}
