use super::*;

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("irsa-doctor").chain(args.iter().copied()))
}

fn config(args: &[&str], env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let cli = parse(args).expect("flags parse");
    from_opts(&cli.opts, |k| {
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
    assert_eq!(c.expected_subject, None);
    let opts = parse(&[]).expect("flags parse").opts;
    assert_eq!(
        (opts.log_format, opts.log_level),
        (LogFormat::Json, LogLevel::Info)
    );
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
fn token_files_are_named() {
    let c = config(
        &[
            "--token-file",
            "/a",
            "--token-file",
            "extra=/b",
            "--token-file",
            KUBE_API_TOKEN_FILE,
        ],
        &[],
    )
    .unwrap();
    assert_eq!(c.token_file, PathBuf::from("/a"));
    assert!(c.irsa_token);
    let names: Vec<(&str, &str)> = c
        .extra_tokens
        .iter()
        .map(|t| (t.name.as_str(), t.path.to_str().unwrap()))
        .collect();
    assert_eq!(
        names,
        vec![("extra", "/b"), ("kube_api", KUBE_API_TOKEN_FILE)]
    );
    assert_eq!(
        config(&["--token-file", "/a", "--token-file", "/b"], &[]),
        Err(ConfigError::UnnamedToken { value: "/b".into() })
    );
    assert_eq!(
        config(&["--token-file", "x=/a", "--token-file", "x=/b"], &[]),
        Err(ConfigError::DuplicateToken {
            value: "x=/b".into(),
            name: "x".into()
        })
    );
    let from_env = config(
        &[],
        &[
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/env/token"),
            ("AWS_ROLE_ARN", "arn:aws:iam::1:role/r"),
        ],
    )
    .unwrap();
    assert_eq!(from_env.token_file, PathBuf::from("/env/token"));
    assert_eq!(from_env.role_arn.as_deref(), Some("arn:aws:iam::1:role/r"));
}

#[test]
fn pod_identity_from_env() {
    let env = [
        (
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "http://169.254.170.23/v1/credentials",
        ),
        (
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token",
        ),
    ];
    let c = config(&[], &env).unwrap();
    let pi = c.pod_identity.as_ref().unwrap();
    assert_eq!(pi.endpoint, "http://169.254.170.23/v1/credentials");
    assert!(!c.irsa_token, "Pod Identity alone: no IRSA token to watch");
    assert_eq!(c.extra_tokens[0].name, POD_IDENTITY);
    assert_eq!(
        c.extra_tokens[0].expected_audience.as_deref(),
        Some(POD_IDENTITY_AUDIENCE)
    );
    let both = config(&["--token-file", "/irsa"], &env).unwrap();
    assert!(both.irsa_token);
    let overridden = config(
        &[
            "--pod-identity-endpoint",
            "http://127.0.0.1:9/v1/credentials",
        ],
        &env,
    )
    .unwrap();
    assert_eq!(
        overridden.pod_identity.unwrap().endpoint,
        "http://127.0.0.1:9/v1/credentials"
    );
}

#[test]
fn pid_resolves_paths_through_the_target_root() {
    let cli = parse(&["check", "--pid", "42"]).unwrap();
    let env = [
        ("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/t"),
        ("AWS_ROLE_ARN", "arn:aws:iam::1:role/app"),
    ];
    let c = for_target(
        &cli.opts,
        |k| {
            env.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        },
        Some(42),
    )
    .unwrap();
    assert_eq!(c.token_file, PathBuf::from("/proc/42/root/var/run/t"));
    assert_eq!(c.role_arn.as_deref(), Some("arn:aws:iam::1:role/app"));
    assert_eq!(c.target_pid, Some(42));
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
            format: Format::Json,
            pid: None,
            in_target_env: false
        })
    ));
    assert_eq!(cli.opts.token_file, vec!["/t".to_owned()]);
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
        Err(ConfigError::TimeoutAboveInterval {
            timeout: "10s".into(),
            interval: "5s".into()
        })
    );
}

#[test]
fn probe_timeout_follows_prometheus_scrape_timeout_rule() {
    let s = Duration::from_secs;
    let ms = Duration::from_millis;
    // (explicit timeout, interval, resolved timeout or None for an error)
    let cases = [
        (None, s(300), Some(s(10))),
        (None, s(10), Some(s(10))),
        (None, s(3), Some(s(3))),
        (None, ms(500), Some(ms(500))),
        (Some(s(2)), s(3), Some(s(2))),
        (Some(s(3)), s(3), Some(s(3))),
        (Some(s(30)), s(300), Some(s(30))),
        (Some(s(4)), s(3), None),
        (Some(s(10)), s(5), None),
    ];
    for (explicit, interval, want) in cases {
        let got = probe_timeout(explicit, interval);
        assert_eq!(got.ok(), want, "{explicit:?} with interval {interval:?}");
    }
    assert_eq!(
        probe_timeout(Some(s(4)), s(3)).unwrap_err().to_string(),
        "--probe-timeout (4s) must not be longer than --probe-interval (3s)"
    );
}

#[test]
fn probe_timeout_from_flags_and_env() {
    let c = config(&["--probe-interval", "3s"], &[]).unwrap();
    assert_eq!(c.probe_timeout, Duration::from_secs(3));
    let c = config(&["--probe-interval", "1m"], &[]).unwrap();
    assert_eq!(c.probe_timeout, DEFAULT_PROBE_TIMEOUT);
    let c = config(&["--probe-interval", "1m", "--probe-timeout", "20s"], &[]).unwrap();
    assert_eq!(c.probe_timeout, Duration::from_secs(20));
    assert!(config(&["--probe-interval", "3s", "--probe-timeout", "4s"], &[]).is_err());
}

#[test]
fn web_config_file_flag() {
    let cli = parse(&["--web-config-file", "/etc/irsa-doctor/web.yml"]).unwrap();
    assert_eq!(
        cli.opts.web_config_file,
        Some(PathBuf::from("/etc/irsa-doctor/web.yml"))
    );
    assert_eq!(parse(&[]).unwrap().opts.web_config_file, None);
}

#[test]
fn expect_access_entries() {
    type Case<'a> = (&'a [&'a str], Result<&'a [(&'a str, &'a str)], &'a str>);
    let cases: &[Case<'_>] = &[
        (&[], Ok(&[])),
        (
            &[
                "--expect-access",
                "s3:PutObject=arn:aws:s3:::b/p/*",
                "--expect-access",
                "kms:Decrypt",
            ],
            Ok(&[("s3:PutObject", "arn:aws:s3:::b/p/*"), ("kms:Decrypt", "*")]),
        ),
        // The env var's form: comma-separated, an empty entry is no entry.
        (
            &[
                "--expect-access",
                "s3:GetObject,,kms:Decrypt=arn:aws-cn:kms:cn-north-1:1:key/k,",
            ],
            Ok(&[
                ("s3:GetObject", "*"),
                ("kms:Decrypt", "arn:aws-cn:kms:cn-north-1:1:key/k"),
            ]),
        ),
        (&["--expect-access", "PutObject"], Err("no service prefix")),
        (
            &["--expect-access", "s3:PutObject=my-bucket"],
            Err("is not an ARN"),
        ),
    ];
    for (args, want) in cases {
        let got = config(args, &[]);
        match (want, got) {
            (Ok(want), Ok(c)) => {
                let got: Vec<(&str, &str)> = c
                    .expect_access
                    .iter()
                    .map(|e| (e.action.as_str(), e.resource.as_str()))
                    .collect();
                assert_eq!(&got, want, "{args:?}");
            }
            (Err(fragment), Err(ConfigError::BadExpectAccess(m))) => {
                assert!(m.contains(fragment), "{args:?}: {m}")
            }
            (want, got) => panic!("{args:?}: want {want:?}, got {got:?}"),
        }
    }
}
