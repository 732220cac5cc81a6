// The irsa-doctor Grafana dashboard, plain JSON model (no grafonnet: the
// mixin has no dependencies). Checked against @grafana/schema's Dashboard
// type by scripts/check-ship.
local util = import '../lib/util.libsonnet';

{
  grafanaDashboards+:: {
    local c = $._config,
    local multi = c.showMultiCluster,
    local cl = c.clusterLabel,

    // Every irsa_* query filters by the variables. The cluster matcher
    // is there even when its variable is hidden: All sends =~".*", which also
    // matches series without the label, so single-cluster setups lose nothing.
    // Live sidecars' series have no workload label (workload=""); the groups
    // short-lived Jobs push to a Pushgateway have one, and only the
    // "Short-lived workloads" row shows them (psel), as the alerts keep the
    // two apart.
    local sel = '%s=~"$cluster", namespace=~"$namespace", pod=~"$pod", workload=""' % cl,
    local psel = '%s=~"$cluster", namespace=~"$namespace", workload=~"$workload", %s, workload!=""' % [cl, c.pushedSelector],
    // Per-pod grouping and legends: a pod is only unique with its cluster.
    local podBy = if multi then '%s, namespace, pod' % cl else 'namespace, pod',
    local workloadBy = if multi then '%s, namespace, workload' % cl else 'namespace, workload',
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
    local severityColors = byName('severity', [
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
    // The pod-spec checks (read through the Kubernetes API): code, panel
    // title, description, colour when any pod has it.
    local podChecks = [
      ['ROLE_ANNOTATION_CHANGED', 'Role changed under the pod', "Pods whose ServiceAccount's eks.amazonaws.com/role-arn differs from the role the pod was created with (or was added later): the webhook mutates pods only at creation, so they keep the old role or none. Fix: kubectl rollout restart.", 'red'],
      ['APP_CONTAINER_NOT_INJECTED', 'App containers not injected', 'Pods with an application container that lacks the IRSA variables or token mount the others have (eks.amazonaws.com/skip-containers, or a container that set AWS_ROLE_ARN itself).', 'red'],
      ['APP_CONTAINER_STATIC_KEYS', 'App containers with static keys', 'Pods with an application container whose spec sets AWS_ACCESS_KEY_ID, AWS_PROFILE or AWS_SHARED_CREDENTIALS_FILE (env or envFrom): they win over web identity in that container.', 'red'],
      ['TOKEN_UNREADABLE_BY_APP', 'Token unreadable by the app', "Pods where an application container's user and groups (runAsUser, runAsGroup, fsGroup, supplementalGroups) cannot read the projected token file.", 'red'],
      ['POD_IDENTITY_UNSUPPORTED_HERE', 'Pod Identity unsupported here', 'Pods using EKS Pod Identity on Fargate or with hostNetwork: true, which the Pod Identity agent does not serve.', 'red'],
      ['KUBERNETES_API_UNAVAILABLE', 'Pod spec unreadable', 'Pods whose irsa-doctor cannot read its own Pod or ServiceAccount (no API, or RBAC refuses: see manifests/rbac). Info only: the checks above are then not made for them.', 'blue'],
    ],
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
      description: "EKS IAM Roles for Service Accounts health from the irsa-doctor sidecar: tokens, STS test-assumes, credential chain, expected access, the application's own AWS calls, the pod's spec, short-lived Jobs' last runs and findings.",
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
                   'label_values(irsa_doctor_build_info{%s=~"$cluster", namespace=~"$namespace", workload=""}, pod)' % cl),
          variable('workload',
                   'Workload',
                   'Short-lived workloads whose irsa-doctor pushes its verdict to a Pushgateway (the "Short-lived workloads" row)',
                   'label_values(irsa_doctor_last_push_timestamp_seconds{%s=~"$cluster", namespace=~"$namespace", %s}, workload)' % [cl, c.pushedSelector]),
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

        // The application's own calls, from the SDKs' client-side monitoring
        // (AWS_CSM_ENABLED=true in the app's container): only pods whose app
        // sends it have these series.
        row(23, "Application's AWS calls (SDK client-side monitoring)", 41),
        countStat(24,
                  'Application calls denied (1h)',
                  "Calls the applications made themselves (not irsa-doctor's probes) that AWS denied over the last hour (APP_ACCESS_DENIED names the action and explains it against the role's policies).",
                  [4, 6, 0, 42],
                  'sum(increase(irsa_app_api_calls_total{outcome="denied", %s}[1h])) or vector(0)' % sel,
                  'red',
                  'calls') + { fieldConfig+: { defaults+: { decimals: 0 } } },
        countStat(25,
                  'SDK datagrams rejected (1h)',
                  'Client-side monitoring datagrams irsa-doctor refused over the last hour: malformed, oversized (over 8 KiB), or dropped beyond its label caps. Something other than an AWS SDK is sending to its port, or a flood.',
                  [4, 6, 0, 46],
                  'sum(increase(irsa_app_events_total{result=~"malformed|oversized|dropped", %s}[1h])) or vector(0)' % sel,
                  'orange',
                  'datagrams') + { fieldConfig+: { defaults+: { decimals: 0 } } },
        panel(26,
              'timeseries',
              'Application calls by outcome',
              "The applications' AWS API calls per second (one per call, retries not counted) by outcome: success, denied, throttled, credentials_expired, client_error, server_error, sdk_error.",
              [8, 9, 6, 42],
              [
                target('A', 'sum by (outcome) (rate(irsa_app_api_calls_total{%s}[5m]))' % sel, '{{outcome}}'),
              ]) + {
          fieldConfig: {
            defaults: { unit: 'reqps', thresholds: thresholds([['green', null]]), custom: lines(10), min: 0 },
            overrides: [
              byName('success', [fixedColor('green')]),
              byName('denied', [fixedColor('red')]),
              byName('credentials_expired', [fixedColor('purple')]),
              byName('throttled', [fixedColor('orange')]),
            ],
          },
          options: timeseriesOptions,
        },
        panel(27,
              'bargauge',
              'Denied calls by action (1h)',
              "IAM actions the applications were denied over the last hour, by count. `curl localhost:9911/debug` in the pod explains each against the role's identity policies and permissions boundary, and GET /debug/policy drafts the least-privilege policy.",
              [8, 9, 15, 42],
              [
                // A series first seen within the hour counts whole (its counter started at
                // the pod's first such call): increase() alone sees 0 for a counter that
                // appears already at 2, and would miss every new action's first denials.
                target('A', 'sort_desc(sum by (action) ((irsa_app_api_calls_total{outcome="denied", %(s)s} unless irsa_app_api_calls_total{outcome="denied", %(s)s} offset 1h) or increase(irsa_app_api_calls_total{outcome="denied", %(s)s}[1h])) > 0)' % { s: sel }, '{{action}}', instant=true),
              ]) + {
          fieldConfig: {
            defaults: {
              unit: 'short',
              decimals: 0,
              thresholds: thresholds([['red', null]]),
              noValue: 'no denied calls',
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
        panel(28,
              'table',
              'SDKs and credential sources',
              "Each AWS SDK heard per pod, its version and where its credentials come from. web_identity (IRSA) and pod_identity are the pod's own identity; imds is the node's role, environment and profile are static keys (APP_NOT_USING_POD_IDENTITY). An SDK older than AWS's minimum for web identity or Pod Identity raises APP_SDK_TOO_OLD.",
              [7, 16, 0, 50],
              [
                tableTarget('max by (%s, sdk, version, credential_source) (irsa_app_sdk_info{%s})' % [podBy, sel]),
              ]) + {
          fieldConfig: {
            defaults: {
              thresholds: thresholds([['green', null]]),
              noValue: 'no SDK heard: set AWS_CSM_ENABLED=true in the application container (Go v2, Java v2, JavaScript v3 and Rust SDKs cannot send it)',
              custom: tableCustom,
            },
            overrides: [
              byName('credential_source', [
                { id: 'custom.cellOptions', value: { type: 'color-text' } },
                {
                  id: 'mappings',
                  value: [{
                    type: 'value',
                    options: {
                      web_identity: { color: 'green', index: 0 },
                      pod_identity: { color: 'green', index: 1 },
                      imds: { color: 'red', index: 2 },
                      environment: { color: 'red', index: 3 },
                      profile: { color: 'red', index: 4 },
                    },
                  }],
                },
              ]),
            ],
          },
          options: tableOptions,
          transformations: [organize(['namespace', 'pod', 'sdk', 'version', 'credential_source'])],
        },
        panel(29,
              'timeseries',
              "Time since the application's last call",
              "Per pod, how long ago irsa-doctor last heard from the application's SDK. A line that only grows: the app makes no AWS calls, or stopped sending client-side monitoring (a new image without AWS_CSM_ENABLED).",
              [7, 8, 16, 50],
              [
                target('A', 'time() - max by (%s) (irsa_app_last_event_timestamp_seconds{%s})' % [podBy, sel], podLegend),
              ]) + {
          fieldConfig: {
            defaults: { unit: 's', thresholds: thresholds([['green', null]]), custom: lines(), min: 0 },
            overrides: [],
          },
          options: timeseriesOptions,
        },

        // What irsa-doctor reads from the Kubernetes API (optional RBAC,
        // manifests/rbac): one count of pods per finding code.
        row(30, 'Pod spec (Kubernetes API)', 57),
      ] + [
        countStat(31 + i,
                  podChecks[i][1],
                  podChecks[i][2],
                  [4, 4, 4 * i, 58],
                  'sum(irsa_finding_active{code="%s", %s}) or vector(0)' % [podChecks[i][0], sel],
                  podChecks[i][3])
        for i in std.range(0, std.length(podChecks) - 1)
      ] + [

        // Short-lived Jobs push their verdict to a Pushgateway
        // (--push-gateway): one group per namespace and workload, replaced by
        // every push, so these rows show each workload's last run.
        row(37, 'Short-lived workloads (Pushgateway)', 62),
        panel(38,
              'table',
              'Last run per workload',
              "Each workload whose irsa-doctor pushes to a Pushgateway (a CronJob's Jobs, with --push-gateway): how long ago its last run pushed, and that run's verdict (its worst finding at warning or above). A critical or warning last run fires IRSAWorkloadLastRunFinding; the run's pod, if still there, has the whole verdict as its irsa-doctor container's termination message.",
              [7, 12, 0, 63],
              [
                tableTarget('time() - max by (%s) (irsa_doctor_last_push_timestamp_seconds{%s})' % [workloadBy, psel]),
                tableTarget('max by (%(by)s) (2 * irsa_finding_active{%(sel)s, severity="critical"} or irsa_finding_active{%(sel)s, severity="warning"})' % { by: workloadBy, sel: psel }) + { refId: 'B' },
              ]) + {
          fieldConfig: {
            defaults: {
              thresholds: thresholds([['green', null]]),
              noValue: 'no pushed groups: no sidecar runs with --push-gateway, or the Pushgateway is not scraped with honor_labels',
              custom: tableCustom,
            },
            overrides: [
              byName('last push', [{ id: 'unit', value: 's' }, { id: 'decimals', value: 0 }]),
              byName('last run', [
                { id: 'custom.cellOptions', value: { type: 'color-text' } },
                {
                  id: 'mappings',
                  value: [{
                    type: 'value',
                    options: {
                      '0': { text: 'ok', color: 'green', index: 0 },
                      '1': { text: 'warning', color: 'orange', index: 1 },
                      '2': { text: 'critical', color: 'red', index: 2 },
                    },
                  }],
                },
              ]),
            ],
          },
          options: tableOptions { sortBy: [{ displayName: 'last run', desc: true }] },
          transformations: [
            { id: 'merge', options: {} },
            {
              id: 'organize',
              options: {
                excludeByName: { Time: true },
                local cols = (if multi then [cl] else []) + ['namespace', 'workload', 'Value #A', 'Value #B'],
                indexByName: { [cols[i]]: i for i in std.range(0, std.length(cols) - 1) },
                renameByName: { 'Value #A': 'last push', 'Value #B': 'last run' },
              },
            },
          ],
        },
        panel(39,
              'table',
              'Findings of the last run',
              "The warning and critical findings in each workload's last pushed verdict, one row per code (the runbook has a section per code).",
              [7, 12, 12, 63],
              [
                tableTarget('max by (%s, code, severity) (irsa_finding_active{%s, severity=~"critical|warning"}) == 1' % [workloadBy, psel]),
              ]) + {
          fieldConfig: {
            defaults: {
              thresholds: thresholds([['green', null]]),
              noValue: 'no findings in the last runs',
              custom: tableCustom,
            },
            overrides: [severityColors],
          },
          options: tableOptions { sortBy: [{ displayName: 'severity', desc: false }] },
          transformations: [organize(['namespace', 'workload', 'severity', 'code'])],
        },

        row(16, 'Findings', 70),
        panel(17,
              'table',
              'Active findings',
              'Every finding raised right now, per pod. `curl localhost:9911/debug` in the pod explains it; the runbook has a section per code.',
              [8, 24, 0, 71],
              [
                tableTarget('max by (%s, code, severity) (irsa_finding_active{%s}) == 1' % [podBy, sel]),
              ]) + {
          fieldConfig: {
            defaults: {
              thresholds: thresholds([['green', null]]),
              noValue: 'no active findings',
              custom: tableCustom,
            },
            overrides: [severityColors],
          },
          options: tableOptions { sortBy: [{ displayName: 'severity', desc: false }] },
          transformations: [organize(['namespace', 'pod', 'severity', 'code'])],
        },
        panel(18,
              'table',
              'Tokens',
              "The claims of each pod's current token.",
              [7, 24, 0, 79],
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
