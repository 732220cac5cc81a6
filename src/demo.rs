//! `irsa-doctor demo`: a simulated pod on 127.0.0.1 so a newcomer can curl a
//! working sidecar with no cluster.
//!
//! In-process: an RS256 issuer (with its OIDC discovery and JWKS endpoint)
//! whose short-lived tokens a "kubelet" writes with the atomic writer's
//! symlink swap, the fake STS (which checks expiry,
//! audience, issuer and the trust policy's `sub`) and a fake IMDS. The
//! sidecar itself is this same binary's `serve`, started as a child process
//! with a clean environment aimed at those peers: it runs exactly as in a
//! pod, and the demo never mutates its own environment. A timer walks
//! through failure modes and back to healthy. The fake STS also answers the
//! role's IAM reads, so `--expect-access` shows a policy losing `s3:PutObject`. A fake
//! Pushgateway receives the sidecar's pushes, and while the pod is first healthy a
//! short-lived backup job runs and fails, and its verdict outlives its pod (`job`).
//! A fake Kubernetes API (plain HTTP on loopback, through a generated
//! KUBECONFIG) holds the pod and its ServiceAccount, whose role the demo
//! changes under the running pod.

mod job;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use irsa_doctor_emulator::imds::{FakeImds, ImdsConfig, ImdsMode};
use irsa_doctor_emulator::issuer::{DEFAULT_ISSUER, Issuer, TokenSpec};
use irsa_doctor_emulator::kube_api::{FakeKubeApi, kubeconfig, service_account, webhook_pod};
use irsa_doctor_emulator::kubelet::AtomicWriter;
use irsa_doctor_emulator::oidc::FakeOidc;
use irsa_doctor_emulator::pushgateway::FakePushgateway;
use irsa_doctor_emulator::sts::{FakeSts, StsConfig, StsMode};

/// Lifetime of the demo's tokens: short, so rotation is visible (the kubelet refreshes at 80%).
const TOKEN_TTL_SECS: i64 = 60;
/// The ConfigMap key the demo mounts the role's trust policy under.
const TRUST_POLICY_FILE: &str = "trust-policy.json";
/// The sidecar's probe interval in the demo, so failures show within seconds.
const PROBE_INTERVAL: &str = "15s";
/// How often the sidecar pushes to the demo's Pushgateway.
const PUSH_INTERVAL: &str = "10s";
/// The role's inline policy the demo edits, and what `--expect-access` asks of it.
const POLICY_NAME: &str = "backup";
const EXPECT_ACCESS: &str = "s3:PutObject=arn:aws:s3:::demo-backups/db/*";
/// The pod's name, namespace and ServiceAccount, in its token and in the fake API.
const POD_NAME: &str = "web-7d9f";
const NAMESPACE: &str = "demo";
const SERVICE_ACCOUNT: &str = "demo-sa";
/// The bearer token the demo's fake Kubernetes API accepts.
const KUBE_TOKEN: &str = "demo-kube-api-token";
/// The role the ServiceAccount is re-annotated with in the role-changed step.
const NEW_ROLE: &str = "arn:aws:iam::111122223333:role/demo-v2";

/// The demo role's inline policy; without `put`, it has lost `s3:PutObject`.
fn backup_policy(put: bool) -> serde_json::Value {
    let actions = if put {
        serde_json::json!(["s3:GetObject", "s3:PutObject"])
    } else {
        serde_json::json!("s3:GetObject")
    };
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "Backups",
            "Effect": "Allow",
            "Action": actions,
            "Resource": "arn:aws:s3:::demo-backups/*"
        }]
    })
}

/// Why the demo could not start.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot set up the demo's {what}: {source}")]
    Setup {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot generate the demo's signing key: {0}")]
    Issuer(#[from] irsa_doctor_emulator::issuer::IssuerError),
}

fn setup(what: &'static str) -> impl FnOnce(std::io::Error) -> DemoError {
    move |source| DemoError::Setup { what, source }
}

/// One step of the scripted walk-through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Healthy,
    KubeletStalled,
    WrongServiceAccount,
    WrongAudience,
    StsDown,
    ImdsOpen,
    AccessLost,
    AppDenied,
    RoleChanged,
}

impl Step {
    const CYCLE: [Step; 10] = [
        Step::Healthy,
        Step::KubeletStalled,
        Step::WrongServiceAccount,
        Step::WrongAudience,
        Step::StsDown,
        Step::ImdsOpen,
        Step::AccessLost,
        Step::RoleChanged,
        Step::AppDenied,
        Step::Healthy,
    ];

    fn describe(self) -> &'static str {
        match self {
            Step::Healthy => "healthy: token rotating every 48 s, STS accepts it, IMDS blocked",
            Step::KubeletStalled => {
                "the kubelet stopped refreshing: the token is expired (TOKEN_EXPIRED, STS ExpiredTokenException)"
            }
            Step::WrongServiceAccount => {
                "the pod runs as ServiceAccount default, which the role's trust policy does not allow (TRUST_POLICY_DENIES names the failing condition; STS AccessDenied)"
            }
            Step::WrongAudience => {
                "the projected volume's audience is wrong (AUDIENCE_MISMATCH, STS InvalidIdentityToken)"
            }
            Step::StsDown => {
                "STS is unreachable (STS_UNREACHABLE; probing retries after 10 s, doubling)"
            }
            Step::ImdsOpen => {
                "IMDS is reachable from the pod: node-role credentials exposed (IMDS_REACHABLE)"
            }
            Step::AccessLost => {
                "the role's policy lost s3:PutObject, which --expect-access says the workload needs (ACCESS_NOT_ALLOWED names the nearest statement; irsa_access_allowed 0)"
            }
            Step::AppDenied => {
                "the application's own s3:PutObject to another bucket is denied (its SDK reports it over client-side monitoring): APP_ACCESS_DENIED says the role allows it only on demo-backups; curl /debug/policy"
            }
            Step::RoleChanged => {
                "the ServiceAccount's eks.amazonaws.com/role-arn changed under the running pod, which keeps the old role until recreated (ROLE_ANNOTATION_CHANGED names the restart command)"
            }
        }
    }

    /// Whether the kubelet keeps rotating a healthy token during this step.
    fn rotates(self) -> bool {
        matches!(
            self,
            Step::Healthy
                | Step::StsDown
                | Step::ImdsOpen
                | Step::AccessLost
                | Step::AppDenied
                | Step::RoleChanged
        )
    }
}

/// The simulated pod's peers and its token writer.
struct Pod {
    issuer: Issuer,
    writer: AtomicWriter,
    sts: FakeSts,
    imds: FakeImds,
    oidc: FakeOidc,
    pushgateway: FakePushgateway,
    kube: FakeKubeApi,
    root: PathBuf,
    /// Where the sidecar listens for the simulated application's client-side monitoring.
    csm: SocketAddr,
}

impl Pod {
    async fn start() -> Result<Pod, DemoError> {
        let root = std::env::temp_dir().join(format!("irsa-doctor-demo-{}", std::process::id()));
        let writer = AtomicWriter::new(root.join("eks.amazonaws.com/serviceaccount"))
            .map_err(setup("token directory"))?;
        std::fs::create_dir_all(root.join("home")).map_err(setup("home directory"))?;
        let sts = FakeSts::start(StsConfig::default())
            .await
            .map_err(setup("fake STS"))?;
        // The role's trust policy, mounted like a ConfigMap: the same one the fake STS enforces.
        AtomicWriter::new(root.join("trust-policy"))
            .and_then(|w| {
                w.write(
                    TRUST_POLICY_FILE,
                    sts.config().trust_policy_json().to_string().as_bytes(),
                )
            })
            .map_err(setup("trust policy file"))?;
        let imds = FakeImds::start(ImdsConfig::default())
            .await
            .map_err(setup("fake IMDS"))?;
        imds.set_mode(ImdsMode::Neither);
        sts.set_inline_policy(POLICY_NAME, &backup_policy(true));
        let issuer = Issuer::generate(DEFAULT_ISSUER)?;
        let user = format!("system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}");
        let kube = FakeKubeApi::start(KUBE_TOKEN, &user, None)
            .await
            .map_err(setup("fake Kubernetes API"))?;
        let mut pod = webhook_pod(NAMESPACE, POD_NAME, SERVICE_ACCOUNT, Some(&sts.role_arn()));
        // A Deployment's pod: ReplicaSet web-7d9f of Deployment web.
        pod["metadata"]["labels"]["pod-template-hash"] = "7d9f".into();
        pod["metadata"]["ownerReferences"][0]["name"] = POD_NAME.into();
        kube.put(pod);
        kube.put(service_account(
            NAMESPACE,
            SERVICE_ACCOUNT,
            Some(&sts.role_arn()),
        ));
        std::fs::write(root.join("kube-token"), KUBE_TOKEN)
            .and_then(|()| {
                let config = kubeconfig(&kube.url(), None, &root.join("kube-token"), NAMESPACE);
                std::fs::write(root.join("kubeconfig"), config)
            })
            .map_err(setup("kubeconfig"))?;
        let pushgateway = FakePushgateway::start()
            .await
            .map_err(setup("fake Pushgateway"))?;
        // A free loopback UDP port for the sidecar's --csm-listen.
        let csm = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|s| s.local_addr())
            .map_err(setup("client-side monitoring port"))?;
        Ok(Pod {
            pushgateway,
            csm,
            kube,
            oidc: FakeOidc::start(&issuer)
                .await
                .map_err(setup("fake OIDC issuer"))?,
            issuer,
            writer,
            sts,
            imds,
            root,
        })
    }

    fn write_token(&self, edit: impl FnOnce(&mut TokenSpec)) {
        let mut spec = TokenSpec {
            lifetime: TOKEN_TTL_SECS,
            ..self.issuer.token_spec()
        };
        edit(&mut spec);
        let written = self
            .issuer
            .issue(&spec)
            .map_err(|e| e.to_string())
            .and_then(|t| {
                self.writer
                    .write_token(t.as_bytes())
                    .map_err(|e| e.to_string())
            });
        if let Err(e) = written {
            tracing::error!(error = %e, "demo kubelet could not write the token");
        }
    }

    /// Sets the peers up for `step`; true when the role's policy changed (worth re-reading now).
    fn enter(&self, step: Step, previous: Step) -> bool {
        let policy_changed = (step == Step::AccessLost) != (previous == Step::AccessLost);
        if policy_changed {
            self.sts
                .set_inline_policy(POLICY_NAME, &backup_policy(step != Step::AccessLost));
        }
        self.sts.set_mode(if step == Step::StsDown {
            StsMode::Down
        } else {
            StsMode::Healthy
        });
        let role = if step == Step::RoleChanged {
            NEW_ROLE.to_owned()
        } else {
            self.sts.role_arn()
        };
        self.kube
            .put(service_account(NAMESPACE, SERVICE_ACCOUNT, Some(&role)));
        self.imds.set_mode(if step == Step::ImdsOpen {
            ImdsMode::Both
        } else {
            ImdsMode::Neither
        });
        // Around the access step the token stays as it is (it keeps rotating): a new token's
        // reload triggers a probe that resets the sidecar's 10 s on-demand window and delays
        // the re-read of the edited policy.
        if policy_changed {
            return true;
        }
        match step {
            Step::KubeletStalled => self.write_token(|s| s.issued_at -= TOKEN_TTL_SECS + 30),
            Step::WrongServiceAccount => self.write_token(|s| {
                s.subject = "system:serviceaccount:demo:default".into();
                s.service_account = "default".into();
            }),
            Step::WrongAudience => self.write_token(|s| s.audiences = vec!["api".into()]),
            Step::Healthy
            | Step::StsDown
            | Step::ImdsOpen
            | Step::AccessLost
            | Step::AppDenied
            | Step::RoleChanged => self.write_token(|_| {}),
        }
        false
    }

    /// The child's whole environment: only what a mutated pod would have, aimed at the fakes.
    fn sidecar_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("PATH", crate::host::var("PATH").unwrap_or_default()),
            ("HOME", self.root.join("home").display().to_string()),
            ("AWS_ROLE_ARN", self.sts.role_arn()),
            (
                "AWS_WEB_IDENTITY_TOKEN_FILE",
                self.writer.token_path().display().to_string(),
            ),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_DEFAULT_REGION", "us-east-1".into()),
            ("AWS_STS_REGIONAL_ENDPOINTS", "regional".into()),
            ("AWS_ENDPOINT_URL_STS", self.sts.endpoint()),
            // The fake STS also answers the role's IAM reads.
            ("AWS_ENDPOINT_URL_IAM", self.sts.endpoint()),
            ("IRSA_DOCTOR_EXPECT_ACCESS", EXPECT_ACCESS.into()),
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", self.imds.endpoint()),
            ("IRSA_DOCTOR_OIDC_DISCOVERY_URL", self.oidc.discovery_url()),
            (
                "IRSA_DOCTOR_TRUST_POLICY_FILE",
                self.root
                    .join("trust-policy")
                    .join(TRUST_POLICY_FILE)
                    .display()
                    .to_string(),
            ),
            ("POD_NAMESPACE", NAMESPACE.into()),
            ("SERVICE_ACCOUNT_NAME", SERVICE_ACCOUNT.into()),
            ("POD_NAME", POD_NAME.into()),
            (
                "KUBECONFIG",
                self.root.join("kubeconfig").display().to_string(),
            ),
            ("IRSA_DOCTOR_POD_SPEC_INTERVAL", "5s".into()),
            ("IRSA_DOCTOR_PROBE_INTERVAL", PROBE_INTERVAL.into()),
            ("IRSA_DOCTOR_LOG_FORMAT", "text".into()),
            ("IRSA_DOCTOR_PUSH_GATEWAY", self.pushgateway.endpoint()),
            ("IRSA_DOCTOR_PUSH_INTERVAL", PUSH_INTERVAL.into()),
            ("IRSA_DOCTOR_WORKLOAD", "web".into()),
            ("IRSA_DOCTOR_TERMINATION_LOG", "off".into()),
            ("IRSA_DOCTOR_CSM_LISTEN", self.csm.to_string()),
        ]
    }

    /// What the simulated application's SDK sends for one `s3:PutObject` to a bucket the role
    /// does not cover: the attempt and the call, shaped as botocore's client-side monitoring
    /// writes them (the demo has no Python to run a real SDK).
    fn app_put_denied(&self) -> [String; 2] {
        let ua = "Boto3/1.34.0 md/Botocore#1.34.0 ua/2.1 os/linux#6.1 lang/python#3.11.7 m/h,b Botocore/1.34.0";
        let session = format!(
            "arn:aws:sts::{}:assumed-role/{}/botocore-session-1",
            self.sts.config().account_id,
            self.sts.config().role_name
        );
        let resource = "arn:aws:s3:::demo-archive/db/dump.sql";
        let message = format!(
            "User: {session} is not authorized to perform: s3:PutObject on resource: \"{resource}\" because no identity-based policy allows the s3:PutObject action"
        );
        [
            serde_json::json!({"Version": 1, "ClientId": "", "Type": "ApiCallAttempt", "Service": "S3",
                "Api": "PutObject", "UserAgent": ua, "AccessKey": "ASIADEMOAPPEXAMPLE01", "HttpStatusCode": 403})
            .to_string(),
            serde_json::json!({"Version": 1, "ClientId": "", "Type": "ApiCall", "Service": "S3", "Api": "PutObject",
                "UserAgent": ua, "AttemptCount": 1, "FinalHttpStatusCode": 403,
                "FinalAwsException": "AccessDenied", "FinalAwsExceptionMessage": message})
            .to_string(),
        ]
    }
}

impl Drop for Pod {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Runs the demo until `shutdown` resolves or the sidecar exits; returns the exit code.
pub async fn run(
    port: u16,
    step_duration: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<i32, DemoError> {
    // Resolve port 0 now so the URLs printed are the real ones.
    let addr = std::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        .and_then(|l| l.local_addr())
        .map_err(setup(
            "listen address (is the port in use? try --listen 127.0.0.1:0)",
        ))?;
    let pod = Pod::start().await?;
    pod.enter(Step::Healthy, Step::Healthy);

    let exe = std::env::current_exe().map_err(setup("path of this binary"))?;
    let mut child = tokio::process::Command::new(exe)
        .env_clear()
        .envs(pod.sidecar_env())
        .args(["serve", "--listen", &addr.to_string()])
        .kill_on_drop(true)
        .spawn()
        .map_err(setup("sidecar process"))?;

    let base = format!("http://{addr}");
    println!("irsa-doctor demo: a simulated pod with a rotating token, a local STS and IMDS\n");
    println!("  curl {base}/debug                 the report for humans");
    println!("  curl {base}/debug?format=json     the same as JSON");
    println!("  curl {base}/metrics               Prometheus metrics");
    println!("  curl -X POST {base}/debug/probe   run the live checks now");
    // Not as a `curl` line: scripts read the sidecar's address from those.
    println!(
        "  and the groups pushed to the (fake) Pushgateway: {}/metrics\n",
        pod.pushgateway.endpoint()
    );
    println!("  curl {base}/startupz              the start gate (a startupProbe)\n");
    println!(
        "Every {} the demo breaks something; Ctrl-C stops it.",
        humantime::format_duration(step_duration)
    );

    let script = async {
        let mut since_rotation = Duration::ZERO;
        let refresh_after = Duration::from_secs((TOKEN_TTL_SECS * 4 / 5) as u64);
        let mut previous = Step::Healthy;
        // The sidecar reads IAM at most hourly; after editing the policy, ask it to re-read
        // as an operator would (POST /debug/probe, retried while inside its 10 s window,
        // into the next step if need be).
        let mut reread = false;
        for (i, step) in Step::CYCLE.iter().cycle().enumerate() {
            if i > 0 {
                let policy_changed = pod.enter(*step, previous);
                if !policy_changed {
                    since_rotation = Duration::ZERO;
                }
                reread |= policy_changed;
            }
            previous = *step;
            println!("\n[step {}] {}", i + 1, step.describe());
            // Once, while the pod is healthy: a short-lived job whose failed run outlives it.
            if i == 0 {
                println!("\n[meanwhile] {}", job::DESCRIPTION);
                if let Err(e) = job::run(&pod).await {
                    println!("  the backup job could not run: {e}");
                }
            }
            let mut elapsed = Duration::ZERO;
            let app = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).ok();
            while elapsed < step_duration {
                if *step == Step::AppDenied
                    && let Some(socket) = &app
                {
                    for datagram in pod.app_put_denied() {
                        let _ = socket.send_to(datagram.as_bytes(), pod.csm);
                    }
                }
                if reread {
                    reread = !request_probe(addr).await;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                elapsed += Duration::from_secs(1);
                since_rotation += Duration::from_secs(1);
                if step.rotates() && since_rotation >= refresh_after {
                    pod.write_token(|_| {});
                    since_rotation = Duration::ZERO;
                }
            }
        }
    };

    let code = tokio::select! {
        () = script => 0,
        () = shutdown => {
            // Our terminal sent SIGINT to the child too; make sure it stops either way.
            let _ = child.start_kill();
            let _ = child.wait().await;
            0
        }
        status = child.wait() => match status {
            Ok(s) => {
                eprintln!("irsa-doctor demo: the sidecar exited ({s})");
                s.code().unwrap_or(1)
            }
            Err(e) => {
                eprintln!("irsa-doctor demo: lost the sidecar: {e}");
                1
            }
        },
    };
    Ok(code)
}

/// `POST /debug/probe` on the sidecar; true once it ran a probe (not 429, not unreachable).
async fn request_probe(addr: SocketAddr) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream
            .write_all(
                format!("POST /debug/probe HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await?;
        Ok::<_, std::io::Error>(head.ends_with(b"200"))
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(30), attempt).await,
        Ok(Ok(true))
    )
}
