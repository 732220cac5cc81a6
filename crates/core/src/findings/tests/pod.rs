//! The pod-spec family: the pod as the Kubernetes API shows it. Healthy configurations
//! that could trip a check come first; every one must raise nothing.

use super::*;
use crate::pod::*;

const TOKEN_DIR: &str = "/var/run/secrets/eks.amazonaws.com/serviceaccount";
const TOKEN: &str = "/var/run/secrets/eks.amazonaws.com/serviceaccount/token";

fn var(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        source: EnvSource::Literal,
        // As the shell keeps them: values only for the two webhook variables.
        value: matches!(name, "AWS_ROLE_ARN" | "AWS_WEB_IDENTITY_TOKEN_FILE").then(|| value.into()),
    }
}

fn from(name: &str, source: EnvSource) -> EnvVar {
    EnvVar {
        name: name.into(),
        source,
        value: None,
    }
}

/// A container as the webhook leaves it: role, token file, region, the token mount.
fn injected(name: &str, kind: ContainerKind) -> ContainerFacts {
    ContainerFacts {
        name: name.into(),
        kind,
        is_self: name == SIDECAR_CONTAINER,
        env: vec![
            var("AWS_STS_REGIONAL_ENDPOINTS", "regional"),
            var("AWS_DEFAULT_REGION", "us-east-1"),
            var("AWS_REGION", "us-east-1"),
            var("AWS_ROLE_ARN", ROLE),
            var("AWS_WEB_IDENTITY_TOKEN_FILE", TOKEN),
        ],
        env_from_unread: vec![],
        mounts: vec![
            (
                "kube-api-access-x2k4p".into(),
                "/var/run/secrets/kubernetes.io/serviceaccount".into(),
            ),
            ("aws-iam-token".into(), TOKEN_DIR.into()),
        ],
        run_as_user: None,
        run_as_group: None,
        run_as_non_root: None,
    }
}

/// A container the webhook never touched.
fn bare(name: &str) -> ContainerFacts {
    ContainerFacts {
        env: vec![],
        mounts: vec![(
            "kube-api-access-x2k4p".into(),
            "/var/run/secrets/kubernetes.io/serviceaccount".into(),
        )],
        ..injected(name, ContainerKind::App)
    }
}

/// The healthy fixture's pod, read from the API: a Deployment's pod with the sidecar
/// (uid 65532, as the shipped manifest runs it) and one app container, both injected.
fn with_spec(f: &mut Fixture) {
    let mut sidecar = injected(SIDECAR_CONTAINER, ContainerKind::Sidecar);
    sidecar.run_as_user = Some(65532);
    sidecar.run_as_non_root = Some(true);
    f.snapshot.pod_spec = PodSpecSnapshot {
        configured: true,
        read_at: Some(at(NOW - 30)),
        error: None,
        pod: Some(PodFacts {
            namespace: "demo".into(),
            name: "web-7d9f8c6b5-x2k4p".into(),
            service_account: "demo-sa".into(),
            node_name: Some("ip-10-0-1-2.ec2.internal".into()),
            host_network: false,
            node_compute_type: None,
            security: PodSecurity::default(),
            skip_containers: vec![],
            webhook_skipped: false,
            containers: vec![sidecar, injected("app", ContainerKind::App)],
            token_volumes: vec![TokenVolume {
                name: "aws-iam-token".into(),
                path: "token".into(),
                audience: Some("sts.amazonaws.com".into()),
                expiration_seconds: Some(86400),
                default_mode: Some(0o644),
            }],
            owner: Some(Owner {
                kind: "ReplicaSet".into(),
                name: "web-7d9f8c6b5".into(),
            }),
            pod_template_hash: Some("7d9f8c6b5".into()),
        }),
        service_account: Some(ServiceAccountFacts {
            name: "demo-sa".into(),
            role_arn_annotation: Some(ROLE.into()),
        }),
        token_file: None,
    };
}

fn pod(f: &mut Fixture) -> &mut PodFacts {
    f.snapshot.pod_spec.pod.as_mut().expect("with_spec first")
}

fn app(f: &mut Fixture) -> &mut ContainerFacts {
    let p = pod(f);
    p.containers
        .iter_mut()
        .find(|c| c.name == "app")
        .expect("app container")
}

/// `with_spec`, then `change`.
fn spec(change: impl FnOnce(&mut Fixture)) -> impl FnOnce(&mut Fixture) {
    move |f| {
        with_spec(f);
        change(f);
    }
}

fn api_error(
    kind: ApiErrorKind,
    resource: &'static str,
    message: &str,
) -> impl FnOnce(&mut Fixture) {
    let message = message.to_owned();
    spec(move |f| {
        f.snapshot.pod_spec.error = Some(ApiError {
            kind,
            object: format!("{resource}/web-7d9f8c6b5-x2k4p in namespace demo"),
            resource,
            message,
        });
    })
}

/// A Pod Identity pod as its webhook leaves it: the agent's variables, no IRSA ones.
fn pod_identity_spec(f: &mut Fixture) {
    pod_identity_only(f);
    with_spec(f);
    for c in &mut pod(f).containers {
        c.env = vec![
            var(
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "http://169.254.170.23/v1/credentials",
            ),
            var(
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token",
            ),
        ];
        c.mounts.retain(|(v, _)| v != "aws-iam-token");
    }
    pod(f).token_volumes.clear();
}

#[test]
fn healthy_configurations_raise_nothing() {
    check("healthy pod, spec read", with_spec, &[]);
    check(
        "a mesh proxy added by a later webhook, no AWS configuration",
        spec(|f| pod(f).containers.push(bare("istio-proxy"))),
        &[],
    );
    check(
        "a container skipped on purpose that does not call AWS",
        spec(|f| {
            pod(f).skip_containers = vec!["log-shipper".into()];
            pod(f).containers.push(bare("log-shipper"));
        }),
        &[],
    );
    check(
        "the annotation is a role name the webhook composes into the ARN",
        spec(|f| {
            f.snapshot
                .pod_spec
                .service_account
                .as_mut()
                .unwrap()
                .role_arn_annotation = Some("demo".into());
        }),
        &[],
    );
    check(
        "roles mapped by the webhook's ConfigMap: ServiceAccount not annotated",
        spec(|f| {
            f.snapshot
                .pod_spec
                .service_account
                .as_mut()
                .unwrap()
                .role_arn_annotation = None
        }),
        &[],
    );
    check(
        "a Pod Identity pod whose ServiceAccount keeps its IRSA annotation (the webhook prefers Pod Identity)",
        pod_identity_spec,
        &[],
    );
    check(
        "fsGroup: the token is 0640 with that group",
        spec(|f| {
            pod(f).security.fs_group = Some(2000);
            app(f).run_as_user = Some(1000);
        }),
        &[],
    );
    check(
        "every container runs as the same user: the token is 0600 and theirs",
        spec(|f| {
            pod(f).security.run_as_user = Some(65532);
            pod(f).token_volumes[0].default_mode = Some(0o600);
        }),
        &[],
    );
    check(
        "an app running as root reads a 0600 token",
        spec(|f| {
            pod(f).token_volumes[0].default_mode = Some(0o600);
            app(f).run_as_user = Some(0);
        }),
        &[],
    );
    check(
        "the image's user, unknown, with a 0600 token: cannot be told, nothing said",
        spec(|f| pod(f).token_volumes[0].default_mode = Some(0o600)),
        &[],
    );
    check(
        "0640 with no fsGroup and no runAsGroup: the image's group may be 0",
        spec(|f| {
            pod(f).token_volumes[0].default_mode = Some(0o640);
            app(f).run_as_user = Some(1000);
        }),
        &[],
    );
    check(
        "AWS_PROFILE when the pod's profile pins web identity",
        spec(|f| {
            f.env.profile_web_identity_role = Some(ROLE.into());
            app(f).env.push(var("AWS_PROFILE", "irsa"));
        }),
        &[],
    );
    check(
        "an IRSA pod with hostNetwork",
        spec(|f| pod(f).host_network = true),
        &[],
    );
    check(
        "a hostNetwork Pod Identity pod the agent answered",
        |f: &mut Fixture| {
            pod_identity_spec(f);
            pod(f).host_network = true;
            f.snapshot.pod_identity.result = StsResult::Success;
        },
        &[],
    );
    check(
        "the API refused a later read: the last good spec still counts, the refusal is info",
        api_error(ApiErrorKind::Forbidden, "pods", "forbidden"),
        &[(Code::KubernetesApiUnavailable, &["get on pods"])],
    );
    check(
        "no API configured: no pod section, nothing raised",
        |f: &mut Fixture| f.snapshot.pod_spec = PodSpecSnapshot::default(),
        &[],
    );
}

#[test]
fn api_unavailable_is_info_and_names_the_permission() {
    let cases: [(ApiErrorKind, &'static str, &[&str]); 6] = [
        (
            ApiErrorKind::Forbidden,
            "serviceaccounts",
            &[
                "RBAC does not allow get on serviceaccounts",
                "get on pods and serviceaccounts",
            ],
        ),
        (
            ApiErrorKind::Unauthorized,
            "pods",
            &["did not accept", "automountServiceAccountToken"],
        ),
        (
            ApiErrorKind::NotFound,
            "pods",
            &["was not found", "POD_NAME and POD_NAMESPACE"],
        ),
        (
            ApiErrorKind::Unreachable,
            "pods",
            &["could not be reached", "NetworkPolicy"],
        ),
        (
            ApiErrorKind::Config,
            "pods",
            &["no usable Kubernetes API configuration", "KUBECONFIG"],
        ),
        (
            ApiErrorKind::Other,
            "pods",
            &["failed reading", "get on pods"],
        ),
    ];
    for (kind, resource, fragments) in cases {
        let mut fx = healthy();
        api_error(kind, resource, "detail from the API")(&mut fx);
        fx.snapshot.pod_spec.pod = None;
        fx.snapshot.pod_spec.service_account = None;
        let got = fx.findings();
        assert_eq!(got.len(), 1, "{kind:?}: {got:#?}");
        assert_eq!(got[0].code, Code::KubernetesApiUnavailable);
        assert_eq!(got[0].severity, Severity::Info, "never above info");
        assert_eq!(Status::of(&got), Status::Ok);
        for frag in fragments {
            let f = &got[0];
            assert!(
                f.message.contains(frag) || f.remediation.contains(frag),
                "{kind:?} lacks {frag}: {f:#?}"
            );
        }
    }
}

#[test]
fn pod_spec_failures() {
    check(
        "the ServiceAccount's role changed under the running pod",
        spec(|f| {
            f.snapshot
                .pod_spec
                .service_account
                .as_mut()
                .unwrap()
                .role_arn_annotation = Some("arn:aws:iam::111122223333:role/other".into());
        }),
        &[(
            Code::RoleAnnotationChanged,
            &[
                "role/other",
                "created with AWS_ROLE_ARN arn:aws:iam::111122223333:role/demo",
                "kubectl rollout restart deployment/web -n demo",
            ],
        )],
    );
    check(
        "never mutated: the pod predates the annotation",
        spec(|f| {
            f.env.role_arn = None;
            f.env.token_file = None;
            f.config.role_arn = None;
            let p = pod(f);
            p.containers = vec![bare(SIDECAR_CONTAINER), bare("app")];
        }),
        &[
            (
                Code::IrsaEnvMissing,
                &[
                    "ServiceAccount demo/demo-sa names role arn:aws:iam::111122223333:role/demo",
                    "recreate the pod: kubectl rollout restart deployment/web",
                ],
            ),
            (Code::RoleAnnotationChanged, &["has no AWS_ROLE_ARN"]),
        ],
    );
    check(
        "one container skipped by annotation, and it calls AWS",
        spec(|f| {
            pod(f).skip_containers = vec!["uploader".into()];
            let mut c = bare("uploader");
            c.env.push(var("AWS_REGION", "us-east-1"));
            pod(f).containers.push(c);
        }),
        &[(
            Code::AppContainerNotInjected,
            &[
                "container uploader lacks AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE, the token mount",
                "eks.amazonaws.com/skip-containers",
                "aws-iam-token",
            ],
        )],
    );
    check(
        "a container that set AWS_ROLE_ARN itself",
        spec(|f| {
            let mut c = bare("worker");
            c.env.push(var("AWS_ROLE_ARN", ROLE));
            c.kind = ContainerKind::Init;
            pod(f).containers.push(c);
        }),
        &[(
            Code::AppContainerNotInjected,
            &[
                "init container worker lacks AWS_WEB_IDENTITY_TOKEN_FILE, the token mount",
                "sets AWS_ROLE_ARN itself",
            ],
        )],
    );
    check(
        "static keys by literal value",
        spec(|f| {
            app(f)
                .env
                .push(from("AWS_ACCESS_KEY_ID", EnvSource::Literal));
            app(f)
                .env
                .push(from("AWS_SECRET_ACCESS_KEY", EnvSource::Literal));
        }),
        &[(
            Code::AppContainerStaticKeys,
            &[
                "container app sets AWS_ACCESS_KEY_ID (from a literal value in the pod spec), AWS_SECRET_ACCESS_KEY",
            ],
        )],
    );
    check(
        "static keys from a Secret (secretKeyRef)",
        spec(|f| {
            app(f).env.push(from(
                "AWS_ACCESS_KEY_ID",
                EnvSource::Secret("aws-creds".into()),
            ))
        }),
        &[(
            Code::AppContainerStaticKeys,
            &["Secret aws-creds (valueFrom.secretKeyRef)"],
        )],
    );
    check(
        "static keys from an envFrom Secret",
        spec(|f| {
            app(f).env.push(from(
                "AWS_SECRET_ACCESS_KEY",
                EnvSource::EnvFromSecret("legacy-keys".into()),
            ))
        }),
        &[(
            Code::AppContainerStaticKeys,
            &["Secret legacy-keys (envFrom)"],
        )],
    );
    check(
        "AWS_PROFILE with no web-identity profile in sight",
        spec(|f| {
            app(f)
                .env
                .push(from("AWS_PROFILE", EnvSource::ConfigMap("aws".into())))
        }),
        &[(Code::AppContainerStaticKeys, &["AWS_PROFILE"])],
    );
    check(
        "token 0600 root, a non-root app, no fsGroup",
        spec(|f| {
            pod(f).token_volumes[0].default_mode = Some(0o600);
            app(f).run_as_user = Some(1000);
            app(f).run_as_group = Some(1000);
        }),
        &[(
            Code::TokenUnreadableByApp,
            &[
                "container app runs as uid 1000 with groups [1000]",
                "0600 uid 0 gid 0 (as the kubelet writes it",
                "fsGroup",
            ],
        )],
    );
    check(
        "runAsNonRoot with the image's user and a 0400 token",
        spec(|f| {
            pod(f).token_volumes[0].default_mode = Some(0o400);
            pod(f).security.run_as_non_root = Some(true);
        }),
        &[(
            Code::TokenUnreadableByApp,
            &["the image's non-root user", "0400 uid 0 gid 0"],
        )],
    );
    check(
        "the mounted file, as the sidecar sees it, is 0600 root",
        spec(|f| {
            f.config.token_file = TOKEN.into();
            f.snapshot.pod_spec.token_file = Some(FileAccess {
                mode: 0o600,
                uid: 0,
                gid: 0,
            });
            app(f).run_as_user = Some(1000);
        }),
        &[(
            Code::TokenUnreadableByApp,
            &["0600 uid 0 gid 0 (as mounted)"],
        )],
    );
    check(
        "Pod Identity on Fargate",
        |f: &mut Fixture| {
            pod_identity_spec(f);
            pod(f).node_compute_type = Some("fargate".into());
        },
        &[(
            Code::PodIdentityUnsupportedHere,
            &["AWS Fargate", "eks.amazonaws.com/role-arn"],
        )],
    );
    check(
        "Pod Identity with hostNetwork",
        |f: &mut Fixture| {
            pod_identity_spec(f);
            pod(f).host_network = true;
        },
        &[(Code::PodIdentityUnsupportedHere, &["hostNetwork: true"])],
    );
}

#[test]
fn kubelet_token_file_rules() {
    let mut fx = healthy();
    with_spec(&mut fx);
    let p = pod(&mut fx).clone();
    let vol = &p.token_volumes[0];
    let unset = TokenVolume {
        default_mode: None,
        ..vol.clone()
    };
    let fa = |mode, uid, gid| FileAccess { mode, uid, gid };
    assert_eq!(
        p.predicted_token_file(&unset),
        fa(0o644, 0, 0),
        "Kubernetes' default mode"
    );
    let mut g = p.clone();
    g.security.fs_group = Some(2000);
    assert_eq!(
        g.predicted_token_file(vol),
        fa(0o640, 0, 2000),
        "fsGroup: 0640 with that group"
    );
    let mut u = p.clone();
    u.containers[0].run_as_user = None;
    u.security.run_as_user = Some(1000);
    assert_eq!(u.fs_user(), Some(1000));
    assert_eq!(
        u.predicted_token_file(vol),
        fa(0o600, 1000, 0),
        "one user for all: 0600, theirs"
    );
    u.containers[0].run_as_user = Some(65532);
    assert_eq!(u.fs_user(), None, "two users: no fsUser");
    assert_eq!(u.predicted_token_file(vol), fa(0o644, 0, 0));
}

#[test]
fn recreate_hint_follows_the_controller() {
    let mut fx = healthy();
    with_spec(&mut fx);
    let mut p = pod(&mut fx).clone();
    let hint = |p: &PodFacts| crate::findings::pod::recreate_hint(p);
    assert_eq!(hint(&p), "kubectl rollout restart deployment/web -n demo");
    p.owner = Some(Owner {
        kind: "StatefulSet".into(),
        name: "kafka".into(),
    });
    assert_eq!(
        hint(&p),
        "kubectl rollout restart statefulset/kafka -n demo"
    );
    p.owner = Some(Owner {
        kind: "Job".into(),
        name: "db-backup-29391840".into(),
    });
    assert!(
        hint(&p).contains("its Job db-backup-29391840 creates a new one"),
        "{}",
        hint(&p)
    );
    p.owner = None;
    assert_eq!(
        hint(&p),
        "delete and recreate pod web-7d9f8c6b5-x2k4p -n demo"
    );
}
