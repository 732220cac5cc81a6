#!/usr/bin/env python3
"""Consistency checks and generators behind scripts/check-ship.

Each subcommand prints what it checked and exits non-zero on the first
problem. Runs with the validation venv's python (PyYAML comes with
kubernetes-validate); stdlib otherwise.

  ship.py rules-in-sync         the PrometheusRule's spec is rules.yml
  ship.py rules-mean RULES JSON the rule file RULES parses to JSON (the mixin's prometheusAlerts)
  ship.py sidecar-twins         the classic sidecar is the native one minus restartPolicy and startupProbe
  ship.py component-targets native|classic F   the built fixture F got the sidecar exactly where expected
  ship.py pod-specs [--examples] F...  every irsa-doctor container in the built manifests F: probes,
                                termination message, CSM loopback, push vs. scrape; --examples: the
                                apps send CSM and a CronJob pushes
  ship.py rbac F SA NS          the built RBAC fixture F grants get on pods and serviceaccounts to SA in NS
  ship.py runbook               every finding code has a section; every runbook_url anchor exists
  ship.py iam-json              the IAM examples are IAM-shaped JSON; the example app's copy is identical
  ship.py dashboard-ts OUT      write the dashboard as a `satisfies Dashboard` literal to OUT
  ship.py dashboard-lint        variables, datasource on every panel, every required panel present
  ship.py exprs                 print every PromQL expression (rules + dashboard) as JSON lines
  ship.py e2e-config ...        used by scripts/e2e-prometheus
"""

import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
MON = ROOT / "manifests" / "monitoring"
RULES = MON / "rules.yml"
PROMRULE = MON / "prometheusrule.yaml"
RUNBOOK = ROOT / "docs" / "runbook.md"
DASHBOARD = ROOT / "dashboards" / "irsa-doctor.json"
RUNBOOK_BASE = "https://github.com/irsa-doctor/irsa-doctor/blob/main/docs/runbook.md#"

# Every finding code with its severity, generated from the binary's Code::ALL and checked
# by a core test (crates/core/src/findings/tests/mod.rs), so this script keeps no copy.
# scripts/e2e-prometheus also requires a section for every code the binary exposes.
FINDINGS_JSON = ROOT / "docs" / "findings.json"
FINDING_CODES = {f["code"]: f["severity"] for f in json.loads(FINDINGS_JSON.read_text())["findings"]}


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def ok(msg):
    print(f"  ok  {msg}")


# --- rules ----------------------------------------------------------------

def cmd_rules_in_sync():
    rules = yaml.safe_load(RULES.read_text())
    pr = yaml.safe_load(PROMRULE.read_text())
    if pr.get("kind") != "PrometheusRule":
        fail("prometheusrule.yaml is not a PrometheusRule")
    # Both are rendered by the mixin (scripts/mixin check compares the bytes);
    # this is the meaning: the Operator and a plain Prometheus load the same rules.
    if pr["spec"] != rules:
        fail("prometheusrule.yaml spec differs from rules.yml: run `scripts/mixin generate`")
    n = sum(len(g["rules"]) for g in rules["groups"])
    ok(f"PrometheusRule spec == rules.yml ({len(rules['groups'])} group, {n} alerts)")


def cmd_rules_mean(rules_path, json_path):
    """The mixin writes its rule files with its own YAML writer: what a YAML
    parser reads back must be the mixin's prometheusAlerts, string for string."""
    got = yaml.safe_load(Path(rules_path).read_text())
    want = json.loads(Path(json_path).read_text())
    if got != want:
        for g, w in zip(got["groups"][0]["rules"], want["groups"][0]["rules"]):
            if g != w:
                fail(f"{rules_path}: {w.get('alert')} reads back as {g!r}, the mixin says {w!r}")
        fail(f"{rules_path} does not read back as the mixin's prometheusAlerts")
    ok(f"{rules_path} reads back as the mixin's prometheusAlerts ({len(want['groups'][0]['rules'])} alerts)")


def alerts():
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "alert" in r]


def rules_lint():
    groups = yaml.safe_load(RULES.read_text())["groups"]
    if len(groups) != 1:
        fail("the rules must be one group")
    for r in alerts():
        name = r["alert"]
        sev = r.get("labels", {}).get("severity")
        if sev not in ("critical", "warning", "info"):
            fail(f"{name}: severity label is {sev!r}")
        for a in ("summary", "description", "runbook_url"):
            if not r.get("annotations", {}).get(a):
                fail(f"{name}: no {a} annotation")
        if "{{" not in r["annotations"]["description"] and name != "IRSADoctorAbsent":
            fail(f"{name}: description uses no labels or values")
    ok(f"{len(alerts())} alerts: one group, severity, summary, description, runbook_url each")


# --- sidecar twins and component targets ------------------------------------

def cmd_sidecar_twins():
    native = yaml.safe_load((ROOT / "manifests/sidecar/sidecar.yaml").read_text())
    classic = yaml.safe_load((ROOT / "manifests/sidecar-classic/sidecar.yaml").read_text())
    n_spec = native["spec"]["template"]["spec"]
    c_spec = classic["spec"]["template"]["spec"]
    (n_c,) = n_spec.pop("initContainers")
    (c_c,) = c_spec.pop("containers")
    check_serve_container("manifests/sidecar", n_c, native_sidecar=True)
    check_serve_container("manifests/sidecar-classic", c_c, native_sidecar=False)
    if n_c.pop("restartPolicy", None) != "Always":
        fail("the native sidecar has no restartPolicy: Always")
    if "restartPolicy" in c_c:
        fail("the classic sidecar has a restartPolicy")
    # The classic sidecar has no start ordering: a startupProbe could not hold
    # the app, only keep the pod unready until credentials work.
    n_c.pop("startupProbe")
    if n_c != c_c or native != classic:
        fail("manifests/sidecar-classic/sidecar.yaml drifted from manifests/sidecar/sidecar.yaml")
    sc = n_c["securityContext"]
    want = {
        "runAsNonRoot": True,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
    }
    for k, v in want.items():
        if sc.get(k) != v:
            fail(f"sidecar securityContext.{k} is {sc.get(k)!r}")
    if sc.get("capabilities", {}).get("drop") != ["ALL"] or sc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        fail("sidecar must drop ALL capabilities and use the RuntimeDefault seccomp profile")
    env = {e["name"]: e for e in n_c["env"]}
    for var, path in (("POD_NAMESPACE", "metadata.namespace"), ("POD_NAME", "metadata.name"),
                      ("SERVICE_ACCOUNT_NAME", "spec.serviceAccountName")):
        if env.get(var, {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") != path:
            fail(f"sidecar env {var} is not the downward API's {path}")
    if [p["name"] for p in n_c["ports"]] != ["irsa-metrics"]:
        fail("sidecar port is not named irsa-metrics")
    if n_c["livenessProbe"]["httpGet"]["path"] != "/healthz" or n_c["readinessProbe"]["httpGet"]["path"] != "/readyz":
        fail("sidecar probes are not /healthz and /readyz")
    ok("classic sidecar == native sidecar minus restartPolicy and startupProbe; securityContext, env, port, probes, "
       "termination message as specified")


# --- every irsa-doctor container the manifests build ---------------------------

IMAGE = "ghcr.io/irsa-doctor/irsa-doctor:"
GATE_TIMEOUT_S = 120   # --startup-gate-timeout's default, 2m
GATE_MARGIN_S = 20     # the kubelet starts probing a moment after the process starts its clock


def duration_s(text):
    """A humantime duration as irsa-doctor's flags take it: 90s, 2m, 1m30s, 1h."""
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text.strip())
    if not text.strip() or not parts:
        fail(f"cannot read the duration {text!r}")
    h, m, sec = (int(x or 0) for x in parts.groups())
    return 3600 * h + 60 * m + sec


def env_of(c):
    return {e["name"]: e.get("value") for e in c.get("env", [])}


def probe_path(c, probe):
    return ((c.get(probe) or {}).get("httpGet") or {}).get("path")


def check_serve_container(where, c, native_sidecar):
    """An irsa-doctor `serve` container, wherever it is."""
    if c.get("terminationMessagePath") != "/dev/termination-log" or \
            c.get("terminationMessagePolicy") != "FallbackToLogsOnError":
        fail(f"{where}: irsa-doctor must set terminationMessagePath /dev/termination-log and "
             f"terminationMessagePolicy FallbackToLogsOnError (the verdict it writes on exit)")
    if probe_path(c, "livenessProbe") != "/healthz" or probe_path(c, "readinessProbe") != "/readyz":
        fail(f"{where}: irsa-doctor serve needs livenessProbe /healthz and readinessProbe /readyz")
    env = env_of(c)
    if native_sidecar:
        sp = c.get("startupProbe") or {}
        if probe_path(c, "startupProbe") != "/startupz" or sp["httpGet"].get("port") != "irsa-metrics":
            fail(f"{where}: the native sidecar's startupProbe must be GET /startupz on irsa-metrics")
        gate = duration_s(env.get("IRSA_DOCTOR_STARTUP_GATE_TIMEOUT") or "2m")
        budget = sp.get("periodSeconds", 10) * sp.get("failureThreshold", 3)
        if budget < gate + GATE_MARGIN_S:
            fail(f"{where}: startupProbe gives up after {budget}s, before the start gate opens by itself "
                 f"({gate}s + {GATE_MARGIN_S}s): the kubelet would kill the sidecar and the app never starts")
    elif "startupProbe" in c:
        fail(f"{where}: a startupProbe on an irsa-doctor that is not a native sidecar holds nothing and "
             f"keeps the pod unready until credentials work")
    csm = env.get("IRSA_DOCTOR_CSM_LISTEN")
    if csm is not None and csm != "off" and not re.match(r"^(127\.\d+\.\d+\.\d+|\[::1\]):\d+$", csm):
        fail(f"{where}: IRSA_DOCTOR_CSM_LISTEN={csm}: client-side monitoring must stay on loopback")
    if any(p.get("containerPort") == 31000 or p.get("protocol") == "UDP" for p in c.get("ports", [])):
        fail(f"{where}: irsa-doctor declares a port for client-side monitoring: it is loopback-only, no port needed")


def pod_templates(docs):
    for d in docs:
        kind, spec = d.get("kind"), d.get("spec") or {}
        if kind == "CronJob":
            yield d, spec["jobTemplate"]["spec"]["template"]
        elif kind in ("Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"):
            yield d, spec["template"]


def cmd_pod_specs(*args):
    examples = "--examples" in args
    files = [a for a in args if a != "--examples"]
    n = pushing = csm_apps = 0
    for f in files:
        for d, tmpl in pod_templates(x for x in yaml.safe_load_all(Path(f).read_text()) if x):
            pod, labels = tmpl["spec"], (tmpl.get("metadata") or {}).get("labels") or {}
            where = f"{Path(f).name}: {d['kind']} {d['metadata']['name']}"
            inits, mains = pod.get("initContainers", []), pod["containers"]
            ours = [(c, c in inits) for c in inits + mains if c.get("image", "").startswith(IMAGE)]
            serving = [(c, init) for c, init in ours if (c.get("args") or ["serve"])[0] == "serve"]
            for c, init in ours:
                if c.get("terminationMessagePath") != "/dev/termination-log" or \
                        c.get("terminationMessagePolicy") != "FallbackToLogsOnError":
                    fail(f"{where}: container {c['name']} must set terminationMessagePath and terminationMessagePolicy")
                n += 1
            for c, init in serving:
                native = init and c.get("restartPolicy") == "Always"
                check_serve_container(f"{where}, container {c['name']}", c, native_sidecar=native)
                push = env_of(c).get("IRSA_DOCTOR_PUSH_GATEWAY")
                if push:
                    if not re.match(r"^https?://[^/@\s]+(:\d+)?/?$", push):
                        fail(f"{where}: IRSA_DOCTOR_PUSH_GATEWAY={push!r} is not a Pushgateway base URL")
                    if labels.get("irsa-doctor/sidecar") == "true":
                        fail(f"{where}: pushes to a Pushgateway and is scraped by the PodMonitor too: "
                             f"one run would raise the live alerts and the last-run alert")
                    pushing += 1
            apps = [c for c in mains if not c.get("image", "").startswith(IMAGE)]
            for c in apps:
                csm = env_of(c).get("AWS_CSM_ENABLED")
                if pod.get("hostNetwork") and csm:
                    fail(f"{where}: AWS_CSM_ENABLED in a hostNetwork pod sends to the node's loopback")
                if examples and serving and not pod.get("hostNetwork"):
                    if csm != "true":
                        fail(f"{where}: the example app container {c['name']} beside irsa-doctor must set "
                             f"AWS_CSM_ENABLED=true (irsa-doctor then sees its own calls)")
                    csm_apps += 1
    if examples and (not pushing or not csm_apps):
        fail(f"the examples must show a pushing CronJob and an app with CSM (pushing {pushing}, CSM apps {csm_apps})")
    ok(f"{n} irsa-doctor containers: termination message; serve: probes (native sidecars: /startupz outlasting "
       f"the start gate), CSM on loopback without a port; {pushing} pushing, none also scraped"
       + (f"; {csm_apps} example app containers send CSM" if examples else ""))


def cmd_rbac(path, sa, ns):
    docs = [d for d in yaml.safe_load_all(Path(path).read_text()) if d]
    roles = [d for d in docs if d["kind"] == "Role"]
    bindings = [d for d in docs if d["kind"] == "RoleBinding"]
    if len(roles) != 1 or len(bindings) != 1:
        fail(f"rbac: want one Role and one RoleBinding, got {len(roles)} and {len(bindings)}")
    (role,), (rb,) = roles, bindings
    grants = {(g, r, v) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]
              for v in rule["verbs"]}
    if grants != {("", "pods", "get"), ("", "serviceaccounts", "get")} or any("resourceNames" in r for r in role["rules"]):
        fail(f"rbac: the Role must grant exactly get on pods and serviceaccounts, not {sorted(grants)}")
    if role["metadata"].get("namespace") != ns or rb["metadata"].get("namespace") != ns:
        fail(f"rbac: Role and RoleBinding must be in the workload's namespace {ns}")
    ref = rb["roleRef"]
    if ref != {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role["metadata"]["name"]}:
        fail(f"rbac: the RoleBinding refers to {ref}, not the Role")
    if rb["subjects"] != [{"kind": "ServiceAccount", "name": sa, "namespace": ns}]:
        fail(f"rbac: the RoleBinding binds {rb['subjects']}, not ServiceAccount {ns}/{sa}")
    if not any(d["kind"] == "ServiceAccount" and d["metadata"]["name"] == sa for d in docs):
        fail(f"rbac: the fixture has no ServiceAccount {sa}")
    ok(f"rbac component: get on pods and serviceaccounts in {ns}, bound to ServiceAccount {sa} "
       f"(name prefix and namespace followed)")


def cmd_component_targets(mode, path):
    """The fixture (scripts/check-ship): web (Deployment), db (StatefulSet),
    agent (DaemonSet), batch (Job), opted-out (Deployment annotated
    irsa-doctor/inject: "false"), nightly (CronJob: not a target)."""
    if mode not in ("native", "classic"):
        fail(f"component-targets: mode is native or classic, not {mode}")
    classic = mode == "classic"
    docs = [d for d in yaml.safe_load_all(Path(path).read_text()) if d]
    want = {"web": True, "db": True, "agent": True, "batch": not classic,
            "opted-out": False, "nightly": False}
    if sorted(d["metadata"]["name"] for d in docs) != sorted(want):
        fail(f"the fixture holds {[d['metadata']['name'] for d in docs]}")
    for d in docs:
        name, spec = d["metadata"]["name"], d["spec"]
        tmpl = spec["jobTemplate"]["spec"]["template"] if d["kind"] == "CronJob" else spec["template"]
        pod = tmpl["spec"]
        in_init = [c for c in pod.get("initContainers", []) if c["name"] == "irsa-doctor"]
        in_main = [c for c in pod["containers"] if c["name"] == "irsa-doctor"]
        has = bool(in_init or in_main)
        if has != want[name]:
            fail(f"{mode} component: {d['kind']} {name} {'got' if has else 'did not get'} the sidecar")
        if not has:
            continue
        if classic and (in_init or len(in_main) != 1):
            fail(f"{name}: the classic sidecar must be one entry of containers")
        if not classic and (in_main or len(in_init) != 1 or in_init[0].get("restartPolicy") != "Always"):
            fail(f"{name}: the native sidecar must be one initContainers entry with restartPolicy: Always")
        if not any(c["name"] == "app" for c in pod["containers"]):
            fail(f"{name}: the application container is gone")
        if (tmpl["metadata"].get("labels") or {}).get("irsa-doctor/sidecar") != "true":
            fail(f"{name}: the pod template lacks the irsa-doctor/sidecar label the PodMonitor selects")
    ok(f"{mode} component patches exactly {sorted(k for k, v in want.items() if v)}, "
       f"not the opted-out Deployment nor the CronJob")


# --- runbook ----------------------------------------------------------------

def github_slug(heading):
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def runbook_anchors():
    anchors = set()
    in_code = False
    for line in RUNBOOK.read_text().splitlines():
        if line.startswith("```"):
            in_code = not in_code
        if in_code:
            continue
        m = re.match(r"^(#{1,6})\s+(.*)$", line)
        if m:
            slug = github_slug(m.group(2))
            if slug in anchors:
                fail(f"runbook: duplicate heading anchor #{slug}")
            anchors.add(slug)
    return anchors


def cmd_runbook():
    anchors = runbook_anchors()
    text = RUNBOOK.read_text()
    for code, sev in FINDING_CODES.items():
        if code.lower() not in anchors:
            fail(f"runbook: no section for finding {code}")
        sect = text.split(f"\n## {code}\n", 1)
        if len(sect) != 2:
            fail(f"runbook: {code} must be a `## {code}` heading")
        body = sect[1].split("\n## ", 1)[0]
        for part in ("**Severity:**", "**Meaning.**", "**Confirm.**", "**Fix.**"):
            if part not in body:
                fail(f"runbook: section {code} has no {part}")
        if f"**Severity:** {sev}" not in body:
            fail(f"runbook: section {code} does not say **Severity:** {sev}")
    n = 0
    for r in alerts():
        url = r["annotations"]["runbook_url"]
        if not url.startswith(RUNBOOK_BASE):
            fail(f"{r['alert']}: runbook_url does not start with {RUNBOOK_BASE}")
        anchor = url[len(RUNBOOK_BASE):]
        if "{{" in anchor:
            if anchor != "{{ $labels.code | toLower }}":
                fail(f"{r['alert']}: unexpected runbook_url template {anchor}")
            # Every code the expression can match, i.e. every code of its severity.
            sev = r["labels"]["severity"]
            excluded = set(re.search(r'code!~"([^"]+)"', r["expr"]).group(1).split("|"))
            targets = [c.lower() for c, s in FINDING_CODES.items() if s == sev and c not in excluded]
        else:
            targets = [anchor]
        for a in targets:
            if a not in anchors:
                fail(f"{r['alert']}: runbook_url anchor #{a} is not a heading in docs/runbook.md")
            n += 1
        if "#" + r["alert"].lower() not in text and r["alert"] not in text:
            fail(f"runbook: alert {r['alert']} is not mentioned")
    ok(f"runbook has a section for each of {len(FINDING_CODES)} codes; {n} runbook_url anchors resolve")


# --- IAM --------------------------------------------------------------------

def cmd_iam_json():
    iam = ROOT / "manifests" / "iam"
    for name in ("trust-policy.json", "permissions-policy.json"):
        doc = json.loads((iam / name).read_text())
        if doc.get("Version") != "2012-10-17" or not isinstance(doc.get("Statement"), list):
            fail(f"{name}: not an IAM policy document (Version 2012-10-17, Statement list)")
        for st in doc["Statement"]:
            if st.get("Effect") not in ("Allow", "Deny") or "Action" not in st:
                fail(f"{name}: statement {st.get('Sid')} lacks Effect/Action")
    tp = json.loads((iam / "trust-policy.json").read_text())
    st = tp["Statement"][0]
    fed = st["Principal"]["Federated"]
    host = fed.split(":oidc-provider/", 1)[1]
    cond = st["Condition"]["StringEquals"]
    if st["Action"] != "sts:AssumeRoleWithWebIdentity" or set(cond) != {f"{host}:sub", f"{host}:aud"}:
        fail("trust-policy.json must allow sts:AssumeRoleWithWebIdentity with StringEquals on <issuer>:sub and <issuer>:aud")
    if cond[f"{host}:aud"] != "sts.amazonaws.com":
        fail("trust-policy.json: aud must be sts.amazonaws.com")
    copy = ROOT / "manifests/examples/app/trust-policy.json"
    if copy.read_text() != (iam / "trust-policy.json").read_text():
        fail("manifests/examples/app/trust-policy.json differs from manifests/iam/trust-policy.json")
    ok("IAM policies are IAM-shaped; trust policy pins :sub and :aud; the example app's copy is identical")


# --- dashboard ----------------------------------------------------------------

def dashboard():
    return json.loads(DASHBOARD.read_text())


def panels(d):
    for p in d["panels"]:
        yield p
        yield from p.get("panels", [])


def dashboard_targets():
    for p in panels(dashboard()):
        for t in p.get("targets", []):
            yield p, t


def cmd_dashboard_ts(out):
    src = DASHBOARD.read_text()
    Path(out).write_text(
        "// Generated by scripts/validate/ship.py from dashboards/irsa-doctor.json.\n"
        "import type { Dashboard } from '@grafana/schema';\n\n"
        "// JSON holds an enum's value, never the enum member: map every string enum\n"
        "// of the schema to the union of its values (`${E}`), and keep the rest.\n"
        "type Json<T> = T extends string ? `${T}`\n"
        "  : T extends number | boolean | null | undefined ? T\n"
        "  : T extends (infer U)[] ? Json<U>[]\n"
        "  : T extends object ? { [K in keyof T]: Json<T[K]> }\n"
        "  : T;\n\n"
        f"export const dashboard = {src.strip()} satisfies Json<Dashboard>;\n"
    )
    ok(f"wrote {out}")


REQUIRED_PANELS = [
    "Pods by status", "Active findings by code", "Token time to expiry", "Token age",
    "STS success ratio", "STS latency", "Credential provider", "Node-role fallback",
    "IMDS reachable", "Expected accesses denied", "Access unverified", "Expected access by pod",
    "Application calls denied", "Application calls by outcome", "Denied calls by action",
    "SDKs and credential sources", "Time since the application's last call",
    "Role changed under the pod", "App containers not injected", "App containers with static keys",
    "Token unreadable by the app", "Pod Identity unsupported here", "Pod spec unreadable",
    "Last run per workload", "Findings of the last run",
    "Active findings",
]

# A live sidecar's series have no workload label; a group a short-lived Job
# pushed to a Pushgateway has one. Every irsa_* query shows exactly one kind,
# as the alerts do, so a finished Job never counts as a pod (and vice versa).
LIVE, PUSHED = 'workload=""', 'workload!=""'



def cmd_dashboard_lint():
    d = dashboard()
    vars_ = {v["name"]: v for v in d["templating"]["list"]}
    if vars_.get("datasource", {}).get("type") != "datasource":
        fail("dashboard: no datasource variable")
    for v in ("cluster", "namespace", "pod", "workload"):
        if vars_.get(v, {}).get("type") != "query":
            fail(f"dashboard: no {v} query variable")
        if vars_[v].get("includeAll") is not True or vars_[v].get("allValue") != ".*":
            fail(f"dashboard: variable {v} must offer All as .* (matches series without the label)")
    titles = [p["title"] for p in panels(d)]
    for want in REQUIRED_PANELS:
        if not any(t.startswith(want) for t in titles):
            fail(f"dashboard: no panel titled {want!r}")
    n = 0
    for p, t in dashboard_targets():
        if p.get("datasource", {}).get("uid") != "${datasource}" or t.get("datasource", {}).get("uid") != "${datasource}":
            fail(f"dashboard: panel {p['title']!r} does not use the datasource variable")
        expr = t["expr"]
        if "irsa_" in expr or "up{" in expr:
            live, pushed = LIVE in expr, PUSHED in expr
            if live == pushed and "irsa_" in expr:
                fail(f"dashboard: panel {p['title']!r} must select live series ({LIVE}) or pushed ones ({PUSHED}): {expr}")
            per = "workload" if pushed else "pod"
            if any(f"=~\"${v}\"" not in expr for v in ("cluster", "namespace", per)):
                fail(f"dashboard: panel {p['title']!r} ignores the cluster/namespace/{per} variables: {expr}")
        n += 1
    ids = [p["id"] for p in panels(d)]
    if len(ids) != len(set(ids)):
        fail("dashboard: duplicate panel ids")
    ok(f"dashboard: datasource/cluster/namespace/pod/workload variables, {len(titles)} panels, {n} queries, "
       "all filtered, each on live or on pushed series")


def all_cluster(expr):
    # What Grafana sends for the cluster variable at its default, All. (The
    # end-to-end check substitutes namespace and pod itself; its demo target
    # has no cluster label, which is the single-cluster case All covers.)
    return expr.replace('=~"$cluster"', '=~".*"')


def expressions():
    """Every PromQL expression: the rules', the dashboard panels' and the variables' selectors."""
    out = []
    for r in alerts():
        out.append({"source": f"rule {r['alert']}", "expr": r["expr"].strip(), "kind": "rule"})
    for p, t in dashboard_targets():
        out.append({"source": f"panel {p['title']!r} [{t['refId']}]", "expr": all_cluster(t["expr"]), "kind": "panel"})
    for v in dashboard()["templating"]["list"]:
        # A hidden variable (cluster, unless the mixin's showMultiCluster) has
        # no values when the series lack its label, by design: it stays All.
        if v["type"] == "query" and v.get("hide") != 2:
            q = all_cluster(v["query"]["query"] if isinstance(v["query"], dict) else v["query"])
            m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", q.strip())
            if not m:
                fail(f"dashboard variable {v['name']}: expected label_values(<selector>, <label>)")
            out.append({"source": f"variable {v['name']}", "expr": m.group(1), "label": m.group(2), "kind": "variable"})
    return out


def cmd_exprs():
    for e in expressions():
        print(json.dumps(e))


def main(argv):
    if not argv:
        print(__doc__)
        return 2
    cmd, args = argv[0], argv[1:]
    fn = {
        "rules-in-sync": lambda: (cmd_rules_in_sync(), rules_lint()),
        "rules-mean": lambda: cmd_rules_mean(*args),
        "sidecar-twins": cmd_sidecar_twins,
        "component-targets": lambda: cmd_component_targets(*args),
        "pod-specs": lambda: cmd_pod_specs(*args),
        "rbac": lambda: cmd_rbac(*args),
        "runbook": cmd_runbook,
        "iam-json": cmd_iam_json,
        "dashboard-ts": lambda: cmd_dashboard_ts(*args),
        "dashboard-lint": cmd_dashboard_lint,
        "exprs": cmd_exprs,
    }.get(cmd)
    if fn is None:
        print(__doc__)
        return 2
    fn()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
