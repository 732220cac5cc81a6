//! The demo's short-lived job: a backup CronJob's pod runs as a ServiceAccount the role's
//! trust policy does not allow, fails, and ends. Its sidecar (this binary's `serve`, as in
//! the main walk-through) leaves its verdict behind: the termination message
//! `kubectl describe pod` would show, and the group it pushed to the (fake) Pushgateway.

use std::time::Duration;

use irsa_doctor_emulator::issuer::TokenSpec;
use irsa_doctor_emulator::kubelet::AtomicWriter;

use super::Pod;

/// What the demo says the job is.
pub(super) const DESCRIPTION: &str = "a backup CronJob's pod runs as a ServiceAccount the role does not trust, fails and ends; its verdict outlives it (termination message, Pushgateway)";

/// The job's pod, as the CronJob and Job controllers name it.
const POD_NAME: &str = "db-backup-29391840-7kq2m";
/// Its ServiceAccount, which the demo role's trust policy does not name.
const SERVICE_ACCOUNT: &str = "db-backup";
/// How long the job's sidecar may take to push its first verdict.
const FIRST_PUSH: Duration = Duration::from_secs(20);

/// Runs the job to its end and prints what it left behind.
pub(super) async fn run(pod: &Pod) -> Result<(), String> {
    let pushgateway = &pod.pushgateway;
    let dir = pod.root.join("db-backup");
    let writer = AtomicWriter::new(dir.join("eks.amazonaws.com/serviceaccount"))
        .map_err(|e| format!("cannot make the job's token volume: {e}"))?;
    let token = pod
        .issuer
        .issue(&TokenSpec {
            subject: format!("system:serviceaccount:demo:{SERVICE_ACCOUNT}"),
            service_account: SERVICE_ACCOUNT.into(),
            pod: POD_NAME.into(),
            ..pod.issuer.token_spec()
        })
        .map_err(|e| format!("cannot sign the job's token: {e}"))?;
    writer
        .write_token(token.as_bytes())
        .map_err(|e| format!("cannot write the job's token: {e}"))?;
    let termination_log = dir.join("termination-log");

    // The main sidecar's environment, as this pod's: its own token, name and
    // ServiceAccount, no --expect-access, and the workload named from POD_NAME.
    let mut env: Vec<(&str, String)> = pod
        .sidecar_env()
        .into_iter()
        .filter(|(k, _)| {
            !matches!(
                *k,
                "AWS_WEB_IDENTITY_TOKEN_FILE"
                    | "POD_NAME"
                    | "SERVICE_ACCOUNT_NAME"
                    | "IRSA_DOCTOR_EXPECT_ACCESS"
                    | "IRSA_DOCTOR_WORKLOAD"
                    | "IRSA_DOCTOR_TERMINATION_LOG"
                    | "IRSA_DOCTOR_CSM_LISTEN"
            )
        })
        .collect();
    env.extend([
        (
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            writer.token_path().display().to_string(),
        ),
        ("POD_NAME", POD_NAME.into()),
        ("SERVICE_ACCOUNT_NAME", SERVICE_ACCOUNT.into()),
        (
            "IRSA_DOCTOR_TERMINATION_LOG",
            termination_log.display().to_string(),
        ),
        // The main sidecar has the demo's client-side monitoring port.
        ("IRSA_DOCTOR_CSM_LISTEN", "off".into()),
    ]);
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    let mut child = tokio::process::Command::new(exe)
        .env_clear()
        .envs(env)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start the job's sidecar: {e}"))?;

    // The job runs until its sidecar has a verdict to push (its first probe), then ends.
    let group = [("job", "irsa-doctor"), ("workload", "db-backup")];
    let started = crate::host::instant();
    while pushgateway.group(&group).is_none() {
        if started.elapsed() > FIRST_PUSH {
            return Err("the job's sidecar pushed nothing".into());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("the job's sidecar exited early ({status})"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .and_then(rustix::process::Pid::from_raw)
        .ok_or("the job's sidecar has no process id")?;
    let stopping = crate::host::instant();
    rustix::process::kill_process(pid, rustix::process::Signal::Term)
        .map_err(|e| format!("cannot stop the job's sidecar: {e}"))?;
    let status = tokio::time::timeout(Duration::from_secs(5), child.wait())
        .await
        .map_err(|_| "the job's sidecar did not stop within 5 s of SIGTERM".to_owned())?
        .map_err(|e| format!("lost the job's sidecar: {e}"))?;
    let took = stopping.elapsed();

    let message = std::fs::read_to_string(&termination_log)
        .map_err(|e| format!("no termination message: {e}"))?;
    println!(
        "  the job's pod {POD_NAME} ended; its sidecar stopped {} ms after SIGTERM ({status})",
        took.as_millis()
    );
    println!("  kubectl describe pod {POD_NAME} would show, under the sidecar:");
    println!("    Last State:  Terminated");
    let mut lines = message.lines();
    if let Some(first) = lines.next() {
        println!("      Message:   {first}");
    }
    for line in lines {
        println!("                 {line}");
    }
    let pushed = pushgateway.group(&group).unwrap_or_default();
    println!(
        "  and the Pushgateway keeps group job=irsa-doctor namespace=demo workload=db-backup (at {}/metrics):",
        pushgateway.endpoint()
    );
    for line in pushed.lines().filter(|l| worth_showing(l)) {
        println!("    {line}");
    }
    Ok(())
}

/// The pushed samples that tell the story: active findings, the STS verdict, the push time.
fn worth_showing(line: &str) -> bool {
    (line.starts_with("irsa_finding_active{") && line.ends_with(" 1"))
        || line.starts_with("irsa_sts_assume_success ")
        || line.starts_with("irsa_doctor_last_push_timestamp_seconds ")
}
