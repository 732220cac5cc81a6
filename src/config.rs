//! Command line and resolved configuration (SPEC section 2).
//!
//! Every flag also reads an environment variable. `Cli` is what clap parses;
//! `Config` is the validated, plain-data result the rest of the crate uses.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Parser, Subcommand, ValueEnum};

/// Where the EKS pod-identity webhook mounts the token by default.
pub const DEFAULT_TOKEN_FILE: &str = "/var/run/secrets/eks.amazonaws.com/serviceaccount/token";

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
    },
    /// Run `serve` against a simulated pod on 127.0.0.1 (rotating token, local STS and IMDS).
    Demo {
        /// How long each scripted step (healthy, expired token, wrong audience, STS down, IMDS open) lasts.
        #[arg(long, default_value = "45s", value_parser = parse_duration)]
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
    /// The SPEC section 4 JSON document.
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
    /// The projected service-account token to watch.
    #[arg(long, global = true, env = "AWS_WEB_IDENTITY_TOKEN_FILE", default_value = DEFAULT_TOKEN_FILE)]
    pub token_file: PathBuf,
    /// The IAM role the pod should assume.
    #[arg(long, global = true, env = "AWS_ROLE_ARN")]
    pub role_arn: Option<String>,
    /// The audience the token must carry.
    #[arg(
        long,
        global = true,
        env = "IRSA_DOCTOR_EXPECTED_AUDIENCE",
        default_value = "sts.amazonaws.com"
    )]
    pub expected_audience: String,
    /// The subject the token must carry [default: system:serviceaccount:$POD_NAMESPACE:$SERVICE_ACCOUNT_NAME when both are set].
    #[arg(long, global = true, env = "IRSA_DOCTOR_EXPECTED_SUBJECT")]
    pub expected_subject: Option<String>,
    /// A JSON trust policy to evaluate offline.
    #[arg(long, global = true, env = "IRSA_DOCTOR_TRUST_POLICY_FILE")]
    pub trust_policy_file: Option<PathBuf>,
    /// Also read the role's trust policy with iam:GetRole (with the test-assumed credentials).
    #[arg(long, global = true, env = "IRSA_DOCTOR_FETCH_TRUST_POLICY", default_value_t = false,
          action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub fetch_trust_policy: bool,
    /// Where the issuer's OIDC discovery document is [default: <iss>/.well-known/openid-configuration].
    #[arg(long, global = true, env = "IRSA_DOCTOR_OIDC_DISCOVERY_URL")]
    pub oidc_discovery_url: Option<String>,
    /// Address the HTTP server listens on.
    #[arg(
        long,
        global = true,
        env = "IRSA_DOCTOR_LISTEN",
        default_value = "0.0.0.0:9911"
    )]
    pub listen: SocketAddr,
    /// How often to test-assume the role (±10% jitter).
    #[arg(long, global = true, env = "IRSA_DOCTOR_PROBE_INTERVAL", default_value = "5m", value_parser = parse_duration)]
    pub probe_interval: Duration,
    /// How long one STS probe may take.
    #[arg(long, global = true, env = "IRSA_DOCTOR_PROBE_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub probe_timeout: Duration,
    /// Warn when the token expires within this long.
    #[arg(long, global = true, env = "IRSA_DOCTOR_EXPIRY_WARNING", default_value = "1h", value_parser = parse_duration)]
    pub expiry_warning: Duration,
    /// Check whether the pod can reach IMDS (node-role credentials).
    #[arg(long, global = true, env = "IRSA_DOCTOR_IMDS_CHECK", default_value_t = true,
          action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub imds_check: bool,
    /// Do not check IMDS reachability.
    #[arg(long, global = true, action = ArgAction::SetTrue, overrides_with = "imds_check")]
    pub no_imds_check: bool,
    /// Log format.
    #[arg(long, global = true, env = "IRSA_DOCTOR_LOG_FORMAT", value_enum, default_value_t = LogFormat::Json)]
    pub log_format: LogFormat,
    /// Log level.
    #[arg(long, global = true, env = "IRSA_DOCTOR_LOG_LEVEL", value_enum, default_value_t = LogLevel::Info)]
    pub log_level: LogLevel,
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
    #[error("--probe-timeout ({timeout}) must be shorter than --probe-interval ({interval})")]
    TimeoutNotBelowInterval { timeout: String, interval: String },
    #[error("--expected-audience must not be empty")]
    EmptyAudience,
}

/// The validated configuration: plain data, no I/O.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Token file to watch.
    pub token_file: PathBuf,
    /// Role the pod should assume.
    pub role_arn: Option<String>,
    /// Audience the token must carry.
    pub expected_audience: String,
    /// Subject the token must carry, when known.
    pub expected_subject: Option<String>,
    /// Trust policy JSON to evaluate offline.
    pub trust_policy_file: Option<PathBuf>,
    /// Whether to read the trust policy with iam:GetRole.
    pub fetch_trust_policy: bool,
    /// Override of the OIDC discovery document's URL.
    pub oidc_discovery_url: Option<String>,
    /// HTTP listen address.
    pub listen: SocketAddr,
    /// Probe interval.
    pub probe_interval: Duration,
    /// Probe timeout.
    pub probe_timeout: Duration,
    /// Expiry warning window.
    pub expiry_warning: Duration,
    /// Whether to probe IMDS.
    pub imds_check: bool,
    /// Log format.
    pub log_format: LogFormat,
    /// Log level.
    pub log_level: LogLevel,
}

impl Config {
    /// Validates parsed flags. `lookup` reads an environment variable (injected for tests).
    pub fn from_opts(
        opts: &Opts,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        if opts.probe_timeout >= opts.probe_interval {
            return Err(ConfigError::TimeoutNotBelowInterval {
                timeout: humantime::format_duration(opts.probe_timeout).to_string(),
                interval: humantime::format_duration(opts.probe_interval).to_string(),
            });
        }
        if opts.expected_audience.trim().is_empty() {
            return Err(ConfigError::EmptyAudience);
        }
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
        Ok(Config {
            token_file: opts.token_file.clone(),
            role_arn: opts.role_arn.clone().filter(|s| !s.is_empty()),
            expected_audience: opts.expected_audience.clone(),
            expected_subject,
            trust_policy_file: opts.trust_policy_file.clone(),
            fetch_trust_policy: opts.fetch_trust_policy,
            oidc_discovery_url: opts.oidc_discovery_url.clone().filter(|s| !s.is_empty()),
            listen: opts.listen,
            probe_interval: opts.probe_interval,
            probe_timeout: opts.probe_timeout,
            expiry_warning: opts.expiry_warning,
            imds_check: opts.imds_check && !opts.no_imds_check,
            log_format: opts.log_format,
            log_level: opts.log_level,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("irsa-doctor").chain(args.iter().copied()))
    }

    fn config(args: &[&str], env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let cli = parse(args).expect("flags parse");
        Config::from_opts(&cli.opts, |k| {
            env.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn defaults_follow_the_spec() {
        let c = config(&[], &[]).unwrap();
        assert_eq!(c.token_file, PathBuf::from(DEFAULT_TOKEN_FILE));
        assert_eq!(c.expected_audience, "sts.amazonaws.com");
        assert_eq!(c.listen, "0.0.0.0:9911".parse().unwrap());
        assert_eq!(c.probe_interval, Duration::from_secs(300));
        assert_eq!(c.probe_timeout, Duration::from_secs(10));
        assert_eq!(c.expiry_warning, Duration::from_secs(3600));
        assert!(c.imds_check);
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.expected_subject, None);
    }

    #[test]
    fn subject_defaults_from_downward_api() {
        let env = [
            ("POD_NAMESPACE", "payments"),
            ("SERVICE_ACCOUNT_NAME", "s3-backup"),
        ];
        let c = config(&[], &env).unwrap();
        assert_eq!(
            c.expected_subject.as_deref(),
            Some("system:serviceaccount:payments:s3-backup")
        );
        let c = config(&[], &env[..1]).unwrap();
        assert_eq!(c.expected_subject, None, "needs both variables");
        let c = config(&["--expected-subject", "system:serviceaccount:a:b"], &env).unwrap();
        assert_eq!(
            c.expected_subject.as_deref(),
            Some("system:serviceaccount:a:b")
        );
    }

    #[test]
    fn imds_check_switches() {
        assert!(!config(&["--no-imds-check"], &[]).unwrap().imds_check);
        assert!(!config(&["--imds-check=false"], &[]).unwrap().imds_check);
        assert!(config(&["--imds-check"], &[]).unwrap().imds_check);
    }

    #[test]
    fn subcommands_and_global_flags() {
        let cli = parse(&["check", "--format", "json", "--token-file", "/t"]).unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Check {
                format: Format::Json
            })
        ));
        assert_eq!(cli.opts.token_file, PathBuf::from("/t"));
        let cli = parse(&["--listen", "127.0.0.1:0"]).unwrap();
        assert!(cli.command.is_none(), "no subcommand means serve");
        let cli = parse(&["decode", "-"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Decode { file: Some(ref f) }) if f == "-"));
    }

    #[test]
    fn bad_values_are_rejected() {
        for args in [
            &["--probe-interval", "soon"][..],
            &["--probe-interval", "0s"],
            &["--listen", "nowhere"],
            &["check", "--format", "yaml"],
            &["--imds-check=maybe"],
        ] {
            let err = parse(args).expect_err(&format!("{args:?} must fail"));
            assert_eq!(err.exit_code(), 2, "{args:?}");
        }
        assert_eq!(
            config(&["--probe-interval", "5s", "--probe-timeout", "10s"], &[]),
            Err(ConfigError::TimeoutNotBelowInterval {
                timeout: "10s".into(),
                interval: "5s".into()
            })
        );
    }
}
