//! The pod as Kubernetes sees it, and the start gate, over the real binary: a fake
//! Kubernetes API over HTTPS with its own CA and a bearer token, reached through a
//! generated KUBECONFIG; `kubectl get --raw` checks that the fake speaks as the API server.
#![allow(clippy::disallowed_methods)] // drives the real binary: real clocks, a chosen environment

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::*;
use irsa_doctor_emulator::harness::kube::{Cluster, NAMESPACE, POD, SERVICE_ACCOUNT};
use irsa_doctor_emulator::issuer::TokenSpec;
use irsa_doctor_emulator::kube_api::{KubeMode, secret, service_account, webhook_pod};
use irsa_doctor_emulator::sts::StsMode;
use serde_json::{Value, json};

const DEADLINE: Duration = Duration::from_secs(30);
/// The codes this feature adds: a correctly injected pod raises none of them.
const POD_CODES: &[&str] = &[
    "KUBERNETES_API_UNAVAILABLE",
    "ROLE_ANNOTATION_CHANGED",
    "APP_CONTAINER_NOT_INJECTED",
    "APP_CONTAINER_STATIC_KEYS",
    "TOKEN_UNREADABLE_BY_APP",
    "POD_IDENTITY_UNSUPPORTED_HERE",
];
/// A real-looking secret access key: it must never leave the process.
const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYzPODSPECSECRET";
const ACCESS_KEY: &str = "AKIAPODSPECEXAMPLE77";

fn healthy_pod() -> Pod {
    let pod = Pod::new();
    pod.write_token(&TokenSpec {
        pod: POD.into(),
        ..Default::default()
    });
    pod
}

/// A cluster holding the healthy pod and its annotated ServiceAccount.
fn cluster() -> Cluster {
    let c = Cluster::start();
    c.api
        .put(webhook_pod(NAMESPACE, POD, SERVICE_ACCOUNT, Some(ROLE)));
    c.api
        .put(service_account(NAMESPACE, SERVICE_ACCOUNT, Some(ROLE)));
    c
}

fn env(pod: &Pod, cluster: &Cluster) -> Vec<(String, String)> {
    let mut env = pod.env();
    cluster.env(&mut env);
    env
}

/// The app container of a pod object.
fn app(pod: &mut Value) -> &mut Value {
    &mut pod["spec"]["containers"][0]
}

fn pod_codes(report: &Value) -> BTreeSet<String> {
    codes(report)
        .into_iter()
        .filter(|c| POD_CODES.contains(&c.as_str()))
        .collect()
}

fn set_of(codes: &[&str]) -> BTreeSet<String> {
    codes.iter().map(|c| (*c).to_owned()).collect()
}

fn finding<'a>(report: &'a Value, code: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["code"] == code))
        .unwrap_or_else(|| panic!("{code} not raised: {report:#}"))
}

#[test]
fn kubectl_reads_the_fake_api_as_an_api_server() {
    if std::process::Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_err()
    {
        assert!(
            std::env::var("CI").is_err(),
            "kubectl is required under CI (Debian kubernetes-client)"
        );
        eprintln!("SKIP: kubectl not installed");
        return;
    }
    let c = cluster();
    let kubectl = |path: &str| {
        std::process::Command::new("kubectl")
            .env("KUBECONFIG", c.kubeconfig_path())
            .env("HOME", c.dir.path())
            .args(["get", "--raw", path])
            .output()
            .expect("run kubectl")
    };
    let out = kubectl(&format!("/api/v1/namespaces/{NAMESPACE}/pods/{POD}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pod: Value = serde_json::from_slice(&out.stdout).expect("kubectl prints the pod");
    assert_eq!(pod["kind"], "Pod");
    assert_eq!(pod["spec"]["serviceAccountName"], SERVICE_ACCOUNT);
    let out = kubectl(&format!(
        "/api/v1/namespaces/{NAMESPACE}/serviceaccounts/{SERVICE_ACCOUNT}"
    ));
    let sa: Value = serde_json::from_slice(&out.stdout).expect("kubectl prints the ServiceAccount");
    assert_eq!(
        sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"],
        ROLE
    );
    // Errors as kubectl shows the API server's Status bodies.
    c.api.forbid("pods", true);
    let out = kubectl(&format!("/api/v1/namespaces/{NAMESPACE}/pods/{POD}"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("forbidden")
            && err.contains("cannot get resource \"pods\""),
        "{err}"
    );
    c.api.forbid("pods", false);
    let out = kubectl(&format!("/api/v1/namespaces/{NAMESPACE}/pods/nope"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("NotFound") || err.contains("not found"),
        "{err}"
    );
    c.rotate_token("rotated-token");
    c.api.set_token("something-else");
    let out = kubectl(&format!(
        "/api/v1/namespaces/{NAMESPACE}/serviceaccounts/{SERVICE_ACCOUNT}"
    ));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Unauthorized"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_correctly_injected_pod_raises_none_and_is_reported() {
    let pod = healthy_pod();
    let c = cluster();
    let (exit, report) = check_json(&env(&pod, &c), &[]);
    assert_eq!(codes(&report), Vec::<String>::new(), "{report:#}");
    assert_eq!(exit, 0);
    let p = &report["pod"];
    assert_eq!(p["namespace"], NAMESPACE);
    assert_eq!(p["name"], POD);
    assert_eq!(p["error"], Value::Null);
    assert_eq!(p["service_account"]["name"], SERVICE_ACCOUNT);
    assert_eq!(p["service_account"]["role_arn_annotation"], ROLE);
    assert_eq!(
        p["owner"],
        json!({"kind": "ReplicaSet", "name": "web-7d9f8c6b5"})
    );
    assert_eq!(p["host_network"], false);
    assert_eq!(p["node_compute_type"], Value::Null);
    let containers = p["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 2);
    assert_eq!(containers[0]["name"], "irsa-doctor");
    assert_eq!(containers[0]["is_irsa_doctor"], true);
    assert_eq!(containers[0]["run_as_user"], 65532);
    assert_eq!(containers[1]["irsa_env"], true);
    assert_eq!(containers[1]["token_mounted"], true);
    assert_eq!(containers[1]["static_credential_env"], json!([]));
    let requests = c.api.requests();
    assert!(
        requests.contains(&format!("/api/v1/namespaces/{NAMESPACE}/pods/{POD}")),
        "{requests:?}"
    );
    // Text too.
    let out = run(&env(&pod, &c), &["check"], None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("POD  {NAMESPACE}/{POD}")), "{text}");
    assert!(
        text.contains("sa            demo-sa role arn:aws:iam::111122223333:role/demo"),
        "{text}"
    );
}

/// One row per case: the pod and ServiceAccount as the API holds them, the codes they raise.
#[test]
fn each_pod_spec_code_from_the_real_binary() {
    type Change = fn(&mut Value, &mut Value, &Cluster, &mut Vec<(String, String)>);
    let rows: &[(&str, Change, &[&str])] = &[
        (
            "annotation changed",
            |_, sa, _, _| {
                *sa = service_account(
                    NAMESPACE,
                    SERVICE_ACCOUNT,
                    Some("arn:aws:iam::111122223333:role/other"),
                )
            },
            &["ROLE_ANNOTATION_CHANGED"],
        ),
        (
            "never mutated",
            |p, _, _, env| {
                *p = webhook_pod(NAMESPACE, POD, SERVICE_ACCOUNT, None);
                unset(env, "AWS_ROLE_ARN");
            },
            &["ROLE_ANNOTATION_CHANGED"],
        ),
        (
            "one container skipped, and it calls AWS",
            |p, _, _, _| {
                p["metadata"]["annotations"] =
                    json!({"eks.amazonaws.com/skip-containers": "uploader"});
                let mut c =
                    irsa_doctor_emulator::kube_api::container("uploader", "uploader:1", None);
                c["env"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"name": "AWS_REGION", "value": "us-east-1"}));
                p["spec"]["containers"].as_array_mut().unwrap().push(c);
            },
            &["APP_CONTAINER_NOT_INJECTED"],
        ),
        (
            "a mesh proxy added later, no AWS configuration",
            |p, _, _, _| {
                let c = irsa_doctor_emulator::kube_api::container(
                    "istio-proxy",
                    "istio/proxyv2:1.24",
                    None,
                );
                p["spec"]["containers"].as_array_mut().unwrap().push(c);
            },
            &[],
        ),
        (
            "static keys by secretKeyRef",
            |p, _, _, _| {
                app(p)["env"].as_array_mut().unwrap().push(json!({"name": "AWS_ACCESS_KEY_ID", "valueFrom": {"secretKeyRef": {"name": "aws-creds", "key": "id"}}}));
            },
            &["APP_CONTAINER_STATIC_KEYS"],
        ),
        (
            "static keys by envFrom",
            |p, _, c, _| {
                c.api.put(secret(
                    NAMESPACE,
                    "legacy-keys",
                    &[
                        ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
                        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
                    ],
                ));
                app(p)["envFrom"] = json!([{"secretRef": {"name": "legacy-keys"}}]);
            },
            &["APP_CONTAINER_STATIC_KEYS"],
        ),
        (
            "envFrom a Secret RBAC keeps from us: not checked, not raised",
            |p, _, c, _| {
                c.api.put(secret(
                    NAMESPACE,
                    "legacy-keys",
                    &[("AWS_ACCESS_KEY_ID", ACCESS_KEY)],
                ));
                c.api.forbid("secrets", true);
                app(p)["envFrom"] = json!([{"secretRef": {"name": "legacy-keys"}}]);
            },
            &[],
        ),
        (
            "token 0600 root, a non-root app, no fsGroup",
            |p, _, _, _| {
                p["spec"]["volumes"][0]["projected"]["defaultMode"] = json!(384);
                app(p)["securityContext"] = json!({"runAsUser": 1000, "runAsGroup": 1000});
            },
            &["TOKEN_UNREADABLE_BY_APP"],
        ),
        (
            "token 0640 with fsGroup",
            |p, _, _, _| {
                p["spec"]["volumes"][0]["projected"]["defaultMode"] = json!(384);
                p["spec"]["securityContext"] = json!({"fsGroup": 2000});
                app(p)["securityContext"] = json!({"runAsUser": 1000, "runAsGroup": 1000});
            },
            &[],
        ),
        (
            "IRSA pod with hostNetwork",
            |p, _, _, _| p["spec"]["hostNetwork"] = json!(true),
            &[],
        ),
        (
            "RBAC refuses the ServiceAccount",
            |_, _, c, _| c.api.forbid("serviceaccounts", true),
            &["KUBERNETES_API_UNAVAILABLE"],
        ),
        (
            "RBAC refuses the pod",
            |_, _, c, _| c.api.forbid("pods", true),
            &["KUBERNETES_API_UNAVAILABLE"],
        ),
        (
            "the token is not accepted",
            |_, _, c, _| c.api.set_mode(KubeMode::Unauthorized),
            &["KUBERNETES_API_UNAVAILABLE"],
        ),
        (
            "an object that does not parse, quoting a secret where a bool belongs",
            |p, _, _, _| p["spec"]["hostNetwork"] = json!(SECRET_KEY),
            &["KUBERNETES_API_UNAVAILABLE"],
        ),
        (
            "POD_NAME names another pod",
            |_, _, _, env| set(env, "POD_NAME", "web-7d9f8c6b5-gone1"),
            &["KUBERNETES_API_UNAVAILABLE"],
        ),
        (
            "no API server at the kubeconfig's address",
            |_, _, c, _| {
                let text = std::fs::read_to_string(c.kubeconfig_path())
                    .unwrap()
                    .replace(&c.api.url(), "https://127.0.0.1:9");
                std::fs::write(c.kubeconfig_path(), text).unwrap();
            },
            &["KUBERNETES_API_UNAVAILABLE"],
        ),
    ];
    for (name, change, want) in rows {
        let pod = healthy_pod();
        let c = Cluster::start();
        let mut p = webhook_pod(NAMESPACE, POD, SERVICE_ACCOUNT, Some(ROLE));
        let mut sa = service_account(NAMESPACE, SERVICE_ACCOUNT, Some(ROLE));
        let mut env = env(&pod, &c);
        change(&mut p, &mut sa, &c, &mut env);
        c.api.put(p);
        c.api.put(sa);
        let (_, report) = check_json(&env, &[]);
        assert_eq!(pod_codes(&report), set_of(want), "row {name}: {report:#}");
        if want.contains(&"KUBERNETES_API_UNAVAILABLE") {
            let f = finding(&report, "KUBERNETES_API_UNAVAILABLE");
            assert_eq!(f["severity"], "info", "row {name}: never above info");
        }
        let shown = report.to_string();
        assert!(
            !shown.contains(SECRET_KEY) && !shown.contains(ACCESS_KEY),
            "row {name} leaked a secret"
        );
    }
}

#[test]
fn pod_identity_where_the_agent_does_not_serve() {
    for (name, change) in [
        (
            "Fargate",
            json!({"metadata": {"labels": {"eks.amazonaws.com/fargate-profile": "default"}}}),
        ),
        ("hostNetwork", json!({"spec": {"hostNetwork": true}})),
    ] {
        let pod = healthy_pod();
        let token = pod.tmp.path().join("eks-pod-identity-token");
        let spec = TokenSpec {
            audiences: vec!["pods.eks.amazonaws.com".into()],
            pod: POD.into(),
            ..Default::default()
        };
        std::fs::write(&token, issuer().issue(&spec).unwrap()).unwrap();
        let c = Cluster::start();
        let mut p = webhook_pod(NAMESPACE, POD, SERVICE_ACCOUNT, None);
        for (k, v) in change.as_object().unwrap() {
            for (k2, v2) in v.as_object().unwrap() {
                if let (Some(dst), Some(src)) = (p[k][k2].as_object_mut(), v2.as_object()) {
                    dst.extend(src.clone());
                } else {
                    p[k][k2] = v2.clone();
                }
            }
        }
        c.api.put(p);
        c.api.put(service_account(NAMESPACE, SERVICE_ACCOUNT, None));
        let mut env = env(&pod, &c);
        set_pod_identity(&mut env, "http://127.0.0.1:9/v1/credentials", &token, false);
        let (_, report) = check_json(&env, &[]);
        assert_eq!(
            pod_codes(&report),
            set_of(&["POD_IDENTITY_UNSUPPORTED_HERE"]),
            "{name}: {report:#}"
        );
        let compute = if name == "Fargate" {
            json!("fargate")
        } else {
            Value::Null
        };
        assert_eq!(report["pod"]["node_compute_type"], compute, "{name}");
    }
}

/// Literal keys in the spec: raised by name; the values appear nowhere, at any log level.
#[test]
fn static_keys_by_value_never_leave_the_process() {
    let pod = healthy_pod();
    let c = cluster();
    let mut p = webhook_pod(NAMESPACE, POD, SERVICE_ACCOUNT, Some(ROLE));
    app(&mut p)["env"].as_array_mut().unwrap().extend([
        json!({"name": "AWS_ACCESS_KEY_ID", "value": ACCESS_KEY}),
        json!({"name": "AWS_SECRET_ACCESS_KEY", "value": SECRET_KEY}),
    ]);
    c.api.put(p);
    let server = serve(&env(&pod, &c), &["--log-level", "debug"]);
    let report = wait_for("APP_CONTAINER_STATIC_KEYS", DEADLINE, || {
        let r = server.report();
        pod_codes(&r)
            .contains("APP_CONTAINER_STATIC_KEYS")
            .then_some(r)
    });
    let f = finding(&report, "APP_CONTAINER_STATIC_KEYS");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("AWS_SECRET_ACCESS_KEY (from a literal value in the pod spec)"),
        "{f:#}"
    );
    let everything = format!(
        "{}\n{}\n{}\n{}",
        report,
        server.get("/debug").body,
        server.metrics(),
        server.log_lines().join("\n")
    );
    for secret in [SECRET_KEY, ACCESS_KEY] {
        assert!(!everything.contains(secret), "{secret} left the process");
    }
}

/// The ServiceAccount's role changes under the running pod: raised at the next read, with
/// the controller's restart command; /metrics says so too.
#[test]
fn role_annotation_changes_under_a_running_pod() {
    let pod = healthy_pod();
    let c = cluster();
    let server = serve(&env(&pod, &c), &["--pod-spec-interval", "1s"]);
    wait_for("the first read", DEADLINE, || {
        let r = server.report();
        (r["pod"]["read_at"].is_string() && r["pod"]["error"].is_null()).then_some(())
    });
    assert_eq!(pod_codes(&server.report()), BTreeSet::new());
    c.api.put(service_account(
        NAMESPACE,
        SERVICE_ACCOUNT,
        Some("arn:aws:iam::111122223333:role/renamed"),
    ));
    let report = wait_for("ROLE_ANNOTATION_CHANGED", DEADLINE, || {
        let r = server.report();
        pod_codes(&r)
            .contains("ROLE_ANNOTATION_CHANGED")
            .then_some(r)
    });
    let f = finding(&report, "ROLE_ANNOTATION_CHANGED");
    assert!(
        f["remediation"]
            .as_str()
            .unwrap()
            .contains("kubectl rollout restart deployment/web -n demo"),
        "{f:#}"
    );
    assert_eq!(
        sample(
            &server.metrics(),
            "irsa_finding_active{code=\"ROLE_ANNOTATION_CHANGED\",severity=\"critical\"}"
        ),
        Some(1.0)
    );
}

/// An API server that accepts and never answers delays nothing: /metrics, /debug and the
/// probes answer at once; after the call's timeout it is an info finding.
#[test]
fn a_silent_api_server_delays_nothing() {
    let pod = healthy_pod();
    let c = cluster();
    c.api.set_mode(KubeMode::Silent);
    let server = serve(&env(&pod, &c), &[]);
    server.wait_ready(DEADLINE);
    for path in ["/metrics", "/debug", "/healthz", "/startupz"] {
        let started = Instant::now();
        let r = server.get(path);
        assert_eq!(r.status, 200, "{path}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{path} waited on the API"
        );
    }
    let report = wait_for(
        "KUBERNETES_API_UNAVAILABLE",
        Duration::from_secs(40),
        || {
            let r = server.report();
            pod_codes(&r)
                .contains("KUBERNETES_API_UNAVAILABLE")
                .then_some(r)
        },
    );
    assert_eq!(report["status"], "ok", "{report:#}");
    assert!(
        server
            .log_lines()
            .iter()
            .all(|l| !l.contains("Kubernetes API") || l.contains("\"INFO\""))
    );
}

/// The kubelet rotates the API token: kube-rs re-reads the file and reads go on.
#[test]
fn a_rotated_api_token_is_re_read() {
    let pod = healthy_pod();
    let c = cluster();
    let server = serve(&env(&pod, &c), &["--pod-spec-interval", "1s"]);
    wait_for("the first read", DEADLINE, || {
        server.report()["pod"]["error"]
            .is_null()
            .then_some(())
            .filter(|_| server.report()["pod"]["read_at"].is_string())
    });
    c.rotate_token("rotated-kube-api-token");
    c.api.put(service_account(
        NAMESPACE,
        SERVICE_ACCOUNT,
        Some("arn:aws:iam::111122223333:role/after-rotation"),
    ));
    // kube-rs re-reads a token file a minute after loading it.
    wait_for(
        "a read with the rotated token",
        Duration::from_secs(100),
        || {
            let r = server.report();
            (r["pod"]["error"].is_null()
                && r["pod"]["service_account"]["role_arn_annotation"]
                    == "arn:aws:iam::111122223333:role/after-rotation")
                .then_some(())
        },
    );
}

/// A healthy pod whose role STS refuses to assume.
fn refused_pod() -> Pod {
    let pod = healthy_pod();
    pod.peers.sts.set_mode(StsMode::Error {
        status: 403,
        code: "AccessDenied".into(),
        message: "Not authorized to perform sts:AssumeRoleWithWebIdentity".into(),
    });
    pod
}

/// The start gate over a real daemon: closed while STS refuses, open once it accepts, and
/// latched open when it refuses again.
#[test]
fn start_gate_opens_when_credentials_work_and_stays_open() {
    let pod = refused_pod();
    let server = serve(&pod.env(), &["--probe-interval", "1s"]);
    server.wait_ready(DEADLINE);
    let closed = server.get("/startupz");
    assert_eq!(closed.status, 503, "{}", closed.body);
    assert!(closed.body.contains("closed"));
    assert_eq!(server.get("/readyz").status, 200, "ready is not the gate");
    pod.peers.sts.set_mode(StsMode::Healthy);
    let open = wait_for("the gate to open", DEADLINE, || {
        let r = server.get("/startupz");
        (r.status == 200).then_some(r)
    });
    assert!(open.body.contains("credentials work"), "{}", open.body);
    pod.peers.sts.set_mode(StsMode::Down);
    wait_for("a failing probe", DEADLINE, || {
        server
            .codes()
            .iter()
            .any(|c| c.starts_with("STS_"))
            .then_some(())
    });
    assert_eq!(
        server.get("/startupz").status,
        200,
        "once open, never closed"
    );
    assert!(
        server
            .log_lines()
            .iter()
            .any(|l| l.contains("start gate open"))
    );
}

#[test]
fn start_gate_timeout_opens_it_with_the_failure_in_the_findings() {
    let pod = refused_pod();
    let server = serve(&pod.env(), &["--startup-gate-timeout", "3s"]);
    server.wait_ready(DEADLINE);
    let open = wait_for("the gate to time out", DEADLINE, || {
        let r = server.get("/startupz");
        (r.status == 200).then_some(r)
    });
    assert!(open.body.contains("timeout"), "{}", open.body);
    assert!(server.codes().contains(&"STS_ASSUME_FAILED".to_owned()));
}

/// With the pod's spec read, the pushed group is named after the pod's controller owner:
/// here a Job whose name the pod's own name does not give away.
#[test]
fn the_pushed_group_is_named_after_the_pods_owner() {
    let pod = healthy_pod();
    let c = Cluster::start();
    let mut p = webhook_pod(NAMESPACE, "custom-pod-name", SERVICE_ACCOUNT, Some(ROLE));
    p["metadata"]["labels"] = json!({});
    p["metadata"]["ownerReferences"] = json!([{"apiVersion": "batch/v1", "kind": "Job",
        "name": "nightly-report", "uid": "0b5e8e55-2c5e-4d7e-9a55-8e1f3c1f2a10", "controller": true}]);
    c.api.put(p);
    c.api
        .put(service_account(NAMESPACE, SERVICE_ACCOUNT, Some(ROLE)));
    let pushgateway = c
        .runtime
        .block_on(irsa_doctor_emulator::pushgateway::FakePushgateway::start())
        .expect("start the fake Pushgateway");
    let mut env = env(&pod, &c);
    set(&mut env, "POD_NAME", "custom-pod-name");
    let server = serve(
        &env,
        &[
            "--push-gateway",
            &pushgateway.endpoint(),
            "--push-interval",
            "1s",
        ],
    );
    server.wait_ready(DEADLINE);
    wait_for("a group named after the owner", DEADLINE, || {
        pushgateway
            .group(&[("namespace", NAMESPACE), ("workload", "nightly-report")])
            .map(|_| ())
    });
    assert!(
        pushgateway
            .keys()
            .iter()
            .all(|k| !k.iter().any(|(_, v)| v == "custom-pod-name")),
        "one group, the owner's: {:?}",
        pushgateway.keys()
    );
}
