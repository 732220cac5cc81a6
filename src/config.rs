//! Command line and resolved configuration (docs/reference.md#flags is generated from it).
//!
//! Every flag also reads an environment variable. `Cli` is what clap parses;
//! `Config` is the validated, plain-data result the rest of the crate uses.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Parser, Subcommand, ValueEnum};

pub use irsa_doctor_core::config::*;
use irsa_doctor_core::policy::access::ExpectedAccess;

/// irsa-doctor: diagnose AWS EKS IAM Roles for Service Accounts from inside the pod.
#[derive(Debug, Parser)]
#[command(name = "irsa-doctor", version, about, long_about = None)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Flags shared by every subcommand.
    #[command(flatten)]
    pub opts: Opts,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the sidecar: watch the token, probe, serve HTTP (the default).
    Serve,
    /// Run every check once, print the report; exit 0 ok, 1 warning, 2 critical.
    Check {
        /// Report format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Diagnose another process (e.g. the app container, with `kubectl debug --target`): its environment and its view of the file system.
        #[arg(long, value_name = "PID")]
        pid: Option<u32>,
        /// Internal: this process already runs in the target's environment (set by `--pid`).
        #[arg(long, hide = true, requires = "pid")]
        in_target_env: bool,
    },
    /// Run `serve` against a simulated pod on 127.0.0.1 (rotating token, local STS and IMDS).
    Demo {
        /// How long each scripted step lasts; above 12s, since probes run at most every 10 s.
        #[arg(long, value_name = "DURATION", default_value = "45s", value_parser = parse_duration)]
        step: Duration,
    },
    /// Print a token's header and claims as JSON (never its signature).
    Decode {
        /// Token file, or `-` for standard input; the configured token file when omitted.
        file: Option<String>,
    },
}

/// Output format of `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned text for humans.
    Text,
    /// The JSON report (docs/reference.md#report).
    Json,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line (for log pipelines).
    Json,
    /// Human-readable lines.
    Text,
}

/// Log verbosity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    /// Only errors.
    Error,
    /// Errors and warnings.
    Warn,
    /// State changes (the default).
    Info,
    /// Every event.
    Debug,
}

/// Flags shared by every subcommand (global, so they may come before or after it).
#[derive(Debug, clap::Args)]
pub struct Opts {
    /// A token to watch, `[NAME=]PATH`; repeatable [env: AWS_WEB_IDENTITY_TOKEN_FILE] [default: /var/run/secrets/eks.amazonaws.com/serviceaccount/token].
    /// Unnamed paths are `irsa`, or `kube_api` / `pod_identity` for those tokens' paths.
    // Read from the environment in `from_opts`, not by clap, so `check --pid` can use the target's.
    #[arg(long, global = true, action = ArgAction::Append, value_name = "[NAME=]PATH")]
    pub token_file: Vec<String>,
    /// The IAM role the pod should assume [env: AWS_ROLE_ARN].
    #[arg(long, global = true, value_name = "ARN")]
    pub role_arn: Option<String>,
    /// The EKS Pod Identity agent URI [default: $AWS_CONTAINER_CREDENTIALS_FULL_URI].
    #[arg(
        long,
        global = true,
        env = "IRSA_DOCTOR_POD_IDENTITY_ENDPOINT",
        value_name = "URI"
    )]
    pub pod_identity_endpoint: Option<String>,
    /// The audience the token must carry.
    #[arg(
        long,
        global = true,
        env = "IRSA_DOCTOR_EXPECTED_AUDIENCE",
        value_name = "AUDIENCE",
        default_value = "sts.amazonaws.com"
    )]
    pub expected_audience: String,
    /// The subject the token must carry [default: system:serviceaccount:$POD_NAMESPACE:$SERVICE_ACCOUNT_NAME when both are set].
    #[arg(
        long,
        global = true,
        env = "IRSA_DOCTOR_EXPECTED_SUBJECT",
        value_name = "SUBJECT"
    )]
    pub expected_subject: Option<String>,
    /// The role's trust policy as JSON (raw, or URL-encoded as IAM returns it; e.g. a mounted ConfigMap), judged against the token and re-read on change.
    #[arg(
        long,
        global = true,
        env = "IRSA_DOCTOR_TRUST_POLICY_FILE",
        value_name = "FILE"
    )]
    pub trust_policy_file: Option<PathBuf>,
    /// Also read the role's trust policy with iam:GetRole, hourly, with the test-assumed credentials (a --trust-policy-file wins).
    #[arg(long, global = true, env = "IRSA_DOCTOR_FETCH_TRUST_POLICY", default_value_t = false,
          action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub fetch_trust_policy: bool,
    /// Access the workload needs, `ACTION[=RESOURCE]` (RESOURCE defaults to *; e.g. `s3:PutObject=arn:aws:s3:::bucket/prefix/*`), checked against the role's own policies; repeatable, comma-separated in the env var.
    #[arg(long, global = true, env = "IRSA_DOCTOR_EXPECT_ACCESS", value_delimiter = ',',
          action = ArgAction::Append, value_name = "ACTION[=RESOURCE]")]
    pub expect_access: Vec<String>,
    /// Where the issuer's OIDC discovery document is, e.g. a private mirror [default: <iss>/.well-known/openid-configuration].
    #[arg(
        long,
        global = true,
        env = "IRSA_DOCTOR_OIDC_DISCOVERY_URL",
        value_name = "URL"
    )]
    pub oidc_discovery_url: Option<String>,
    /// Address the HTTP server listens on.
    #[arg(
        long,
        global = true,
        env = "IRSA_DOCTOR_LISTEN",
        value_name = "ADDR",
        default_value = "0.0.0.0:9911"
    )]
    pub listen: SocketAddr,
    /// How often to test-assume the role (±10% jitter).
    #[arg(long, global = true, env = "IRSA_DOCTOR_PROBE_INTERVAL", value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub probe_interval: Duration,
    /// How long one STS probe may take [default: 10s, or the probe interval when shorter].
    // No clap default: an absent timeout follows the interval (Prometheus' scrape_timeout rule).
    #[arg(long, global = true, env = "IRSA_DOCTOR_PROBE_TIMEOUT", value_name = "DURATION", value_parser = parse_duration)]
    pub probe_timeout: Option<Duration>,
    /// Warn when the token expires within this long.
    #[arg(long, global = true, env = "IRSA_DOCTOR_EXPIRY_WARNING", value_name = "DURATION", default_value = "1h", value_parser = parse_duration)]
    pub expiry_warning: Duration,
    /// Check whether the pod can reach IMDS (node-role credentials).
    #[arg(long, global = true, env = "IRSA_DOCTOR_IMDS_CHECK", default_value_t = true,
          action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub imds_check: bool,
    /// How long `/startupz` holds (503) without working credentials before it opens anyway.
    #[arg(long, global = true, env = "IRSA_DOCTOR_STARTUP_GATE_TIMEOUT", value_name = "DURATION", default_value = "2m", value_parser = parse_duration)]
    pub startup_gate_timeout: Duration,
    /// How often the pod's own Pod and ServiceAccount are re-read from the Kubernetes API.
    #[arg(long, global = true, env = "IRSA_DOCTOR_POD_SPEC_INTERVAL", value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub pod_spec_interval: Duration,
    /// Do not check IMDS reachability.
    #[arg(long, global = true, action = ArgAction::SetTrue, overrides_with = "imds_check")]
    pub no_imds_check: bool,
    /// Log format: `json` for log pipelines, `text` for humans.
    #[arg(long, global = true, env = "IRSA_DOCTOR_LOG_FORMAT", value_name = "FORMAT", value_enum, default_value_t = LogFormat::Json)]
    pub log_format: LogFormat,
    /// Log level.
    #[arg(long, global = true, env = "IRSA_DOCTOR_LOG_LEVEL", value_name = "LEVEL", value_enum, default_value_t = LogLevel::Info)]
    pub log_level: LogLevel,
    /// Where to receive the application's client-side monitoring (loopback `ADDR:PORT`, or `off`).
    #[arg(long, global = true, env = "IRSA_DOCTOR_CSM_LISTEN", default_value = "127.0.0.1:31000",
          value_name = "ADDR|off", value_parser = parse_flag)]
    pub csm_listen: Listen,
    // --- web config hook (src/web_config/); loaded by `serve` only, so not in `Config`.
    /// TLS and basic auth for the HTTP server, in the Prometheus exporter-toolkit web configuration format.
    #[arg(
        long,
        global = true,
        env = "IRSA_DOCTOR_WEB_CONFIG_FILE",
        value_name = "FILE"
    )]
    pub web_config_file: Option<PathBuf>,
    // --- verdict hook (src/verdict.rs): where `serve` leaves its verdict; not in `Config`.
    /// Where `serve` writes its verdict when it stops (Kubernetes' terminationMessagePath), or `off` [default: /dev/termination-log].
    #[arg(
        long,
        global = true,
        env = "IRSA_DOCTOR_TERMINATION_LOG",
        value_name = "PATH|off"
    )]
    pub termination_log: Option<String>,
    /// A Prometheus Pushgateway to push the irsa_* series to; user info (https://USER:PASSWORD@HOST) is sent as basic auth.
    #[arg(long, global = true, env = "IRSA_DOCTOR_PUSH_GATEWAY", value_name = "URL",
          hide_env_values = true, value_parser = SecretUrl::new)]
    pub push_gateway: Option<SecretUrl>,
    /// How often to push to the Pushgateway (±10% jitter), and once more on exit.
    #[arg(long, global = true, env = "IRSA_DOCTOR_PUSH_INTERVAL", default_value = "30s", value_name = "DURATION", value_parser = parse_duration)]
    pub push_interval: Duration,
    /// The workload's name in the pushed group [default: the pod's owner, else POD_NAME without its generated suffixes].
    #[arg(long, global = true, env = "IRSA_DOCTOR_WORKLOAD", value_name = "NAME")]
    pub workload: Option<String>,
}

/// `--push-gateway` as given: it may carry a password, so its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(String);

impl SecretUrl {
    /// For clap: any text; `push::Target::parse` validates it (and its errors never repeat it).
    pub fn new(s: &str) -> Result<SecretUrl, std::convert::Infallible> {
        Ok(SecretUrl(s.to_owned()))
    }

    /// The URL itself, user info and all.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretUrl(..)")
    }
}

/// The probe timeout when none is given: Prometheus' `scrape_timeout` default.
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Prometheus' `scrape_timeout` rule: an absent timeout is 10 s or the interval, whichever is
/// shorter; only an explicit timeout longer than the interval is an error.
pub fn probe_timeout(
    explicit: Option<Duration>,
    interval: Duration,
) -> Result<Duration, ConfigError> {
    match explicit {
        None => Ok(DEFAULT_PROBE_TIMEOUT.min(interval)),
        Some(timeout) if timeout > interval => Err(ConfigError::TimeoutAboveInterval {
            timeout: humantime::format_duration(timeout).to_string(),
            interval: humantime::format_duration(interval).to_string(),
        }),
        Some(timeout) => Ok(timeout),
    }
}

/// `--csm-listen`: a loopback address, or `None` for `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listen(pub Option<std::net::SocketAddr>);

/// clap's parser for `--csm-listen`.
pub fn parse_flag(value: &str) -> Result<Listen, String> {
    parse_listen(value).map(Listen)
}

/// Parses `--csm-listen`: `off`, or a loopback `ADDR:PORT`.
pub fn parse_listen(value: &str) -> Result<Option<std::net::SocketAddr>, String> {
    if value.trim().eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let addr: std::net::SocketAddr = value
        .trim()
        .parse()
        .map_err(|e| format!("{value:?} is not ADDR:PORT or off ({e})"))?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "{addr} is not a loopback address: client-side monitoring is unauthenticated and carries session tokens, so it is only ever received on the pod's loopback (127.0.0.1:31000, the SDKs' default)"
        ));
    }
    Ok(Some(addr))
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{e} (examples: 30s, 5m, 1h30m)"))?;
    if d.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(d)
}

/// A configuration that parses but cannot work.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("--probe-timeout ({timeout}) must not be longer than --probe-interval ({interval})")]
    TimeoutAboveInterval { timeout: String, interval: String },
    #[error("--expected-audience must not be empty")]
    EmptyAudience,
    #[error(
        "--token-file {value}: a second unnamed token; name it, e.g. --token-file other={value}"
    )]
    UnnamedToken { value: String },
    #[error("--token-file {value}: token name {name} is used twice")]
    DuplicateToken { value: String, name: String },
    /// An `--expect-access` entry that names no action or resource IAM could check.
    #[error("{0}")]
    BadExpectAccess(String),
}

/// Validates parsed flags. `lookup` reads an environment variable (injected for tests).
pub fn from_opts(
    opts: &Opts,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    for_target(opts, lookup, None)
}

/// Like `from_opts`, for the process `pid` whose environment `lookup` reads: file paths
/// are resolved through `/proc/PID/root`, so they are that process's files.
pub fn for_target(
    opts: &Opts,
    lookup: impl Fn(&str) -> Option<String>,
    pid: Option<u32>,
) -> Result<Config, ConfigError> {
    let probe_timeout = probe_timeout(opts.probe_timeout, opts.probe_interval)?;
    if opts.expected_audience.trim().is_empty() {
        return Err(ConfigError::EmptyAudience);
    }
    let expect_access = opts
        .expect_access
        .iter()
        // `a,,b` or a trailing comma in the env var is not an entry.
        .filter(|e| !e.trim().is_empty())
        .map(|e| ExpectedAccess::parse(e).map_err(ConfigError::BadExpectAccess))
        .collect::<Result<Vec<_>, _>>()?;
    let non_empty = |k: &str| lookup(k).filter(|v| !v.is_empty());
    let expected_subject = opts
        .expected_subject
        .clone()
        .filter(|s| !s.is_empty())
        .or_else(|| {
            Some(format!(
                "system:serviceaccount:{}:{}",
                non_empty("POD_NAMESPACE")?,
                non_empty("SERVICE_ACCOUNT_NAME")?
            ))
        });
    let in_target = |path: &str| -> PathBuf {
        match pid {
            Some(pid) => {
                PathBuf::from(format!("/proc/{pid}/root")).join(path.trim_start_matches('/'))
            }
            None => PathBuf::from(path),
        }
    };
    let pod_identity_token = non_empty("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    let pod_identity = match (
        opts.pod_identity_endpoint
            .clone()
            .filter(|s| !s.is_empty())
            .or_else(|| non_empty("AWS_CONTAINER_CREDENTIALS_FULL_URI")),
        &pod_identity_token,
    ) {
        (Some(endpoint), Some(token)) => Some(PodIdentityConfig {
            endpoint,
            token_file: in_target(token),
        }),
        _ => None,
    };

    // Name every --token-file; the env var stands in for an absent flag, as for every other flag.
    let given: Vec<String> = if opts.token_file.is_empty() {
        non_empty("AWS_WEB_IDENTITY_TOKEN_FILE")
            .into_iter()
            .collect()
    } else {
        opts.token_file.clone()
    };
    let mut irsa_path: Option<String> = None;
    let mut extra_tokens: Vec<NamedToken> = Vec::new();
    for value in &given {
        let (name, path) = match value.split_once('=') {
            Some((n, p))
                if !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
            {
                (Some(n.to_owned()), p.to_owned())
            }
            _ => (None, value.clone()),
        };
        let name = match name {
            Some(n) => n,
            None if path == KUBE_API_TOKEN_FILE => KUBE_API.into(),
            None if pod_identity_token.as_deref() == Some(path.as_str()) => POD_IDENTITY.into(),
            None if irsa_path.is_none() => IRSA.into(),
            None => {
                return Err(ConfigError::UnnamedToken {
                    value: value.clone(),
                });
            }
        };
        let taken =
            (name == IRSA && irsa_path.is_some()) || extra_tokens.iter().any(|t| t.name == name);
        if taken {
            return Err(ConfigError::DuplicateToken {
                value: value.clone(),
                name,
            });
        }
        if name == IRSA {
            irsa_path = Some(path);
        } else {
            extra_tokens.push(NamedToken {
                expected_audience: (name == POD_IDENTITY).then(|| POD_IDENTITY_AUDIENCE.to_owned()),
                name,
                path: in_target(&path),
            });
        }
    }
    if let Some(pi) = &pod_identity
        && !extra_tokens.iter().any(|t| t.name == POD_IDENTITY)
    {
        extra_tokens.push(NamedToken {
            name: POD_IDENTITY.into(),
            path: pi.token_file.clone(),
            expected_audience: Some(POD_IDENTITY_AUDIENCE.into()),
        });
    }
    // A pod using Pod Identity alone has no IRSA token to miss.
    let irsa_token = irsa_path.is_some() || pod_identity.is_none();
    let token_file = in_target(irsa_path.as_deref().unwrap_or(DEFAULT_TOKEN_FILE));

    Ok(Config {
        token_file,
        irsa_token,
        extra_tokens,
        pod_identity,
        target_pid: pid,
        role_arn: opts
            .role_arn
            .clone()
            .filter(|s| !s.is_empty())
            .or_else(|| non_empty("AWS_ROLE_ARN")),
        expected_audience: opts.expected_audience.clone(),
        expected_subject,
        trust_policy_file: opts.trust_policy_file.clone(),
        fetch_trust_policy: opts.fetch_trust_policy,
        expect_access,
        oidc_discovery_url: opts.oidc_discovery_url.clone().filter(|s| !s.is_empty()),
        listen: opts.listen,
        probe_interval: opts.probe_interval,
        probe_timeout,
        expiry_warning: opts.expiry_warning,
        imds_check: opts.imds_check && !opts.no_imds_check,
        startup_gate_timeout: opts.startup_gate_timeout,
        pod_spec_interval: opts.pod_spec_interval,
    })
}

#[cfg(test)]
mod tests;
