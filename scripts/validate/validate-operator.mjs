// Validates the Prometheus Operator objects in a multi-document YAML stream
// (stdin) against @kubernetes-models/prometheus-operator's schemas, and fails
// unless each kind named on the command line (default: PodMonitor
// PrometheusRule) is there.
// Usage: kubectl kustomize manifests/monitoring | node validate-operator.mjs [KIND...]
import { readFileSync } from "node:fs";
import yaml from "js-yaml";
import { PodMonitor, PrometheusRule, ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";

const models = { PodMonitor, PrometheusRule, ServiceMonitor };
const required = process.argv.length > 2 ? process.argv.slice(2) : ["PodMonitor", "PrometheusRule"];
for (const kind of required) {
  if (!models[kind]) {
    console.error(`FAIL: no model for ${kind}`);
    process.exit(2);
  }
}
const docs = yaml.loadAll(readFileSync(0, "utf8")).filter(Boolean);
const seen = {};
let failed = false;
for (const doc of docs) {
  const Model = models[doc.kind];
  if (!Model || doc.apiVersion !== "monitoring.coreos.com/v1") continue;
  try {
    new Model(doc).validate();
    console.log(`  ok  ${doc.kind}/${doc.metadata.name} validates (@kubernetes-models/prometheus-operator)`);
    seen[doc.kind] = (seen[doc.kind] || 0) + 1;
  } catch (e) {
    failed = true;
    console.error(`FAIL: ${doc.kind}/${doc.metadata?.name}: ${e.message}`);
  }
}
for (const kind of required) {
  if (!seen[kind]) {
    failed = true;
    console.error(`FAIL: no ${kind} in the input`);
  }
}
process.exit(failed ? 1 : 0);
