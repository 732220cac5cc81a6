//! Gathers the pod's `EnvFacts` the way its AWS SDK would see them: the
//! variables, and the shared config/credentials files through aws-config's own
//! profile loader. Gathered once at start-up (the webhook only mutates pods at
//! creation, so the environment never changes under us). Only variable *names*
//! and profile key *names* are kept: values of credentials are never read.

use std::borrow::Cow;

use aws_types::os_shim_internal::{Env, Fs};

pub use irsa_doctor_core::environment::*;

/// Variables through which SDK HTTP clients pick up a proxy.
const PROXY_VARS: [&str; 4] = ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"];

const ENV_KEY_VARS: [&str; 2] = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"];

/// Profile keys that make the SDK's profile provider answer instead of falling through to web identity.
const PROFILE_CREDENTIAL_KEYS: [&str; 5] = [
    "aws_access_key_id",
    "credential_process",
    "role_arn",
    "sso_session",
    "sso_start_url",
];

/// Another process's environment, its shared files read through its root (`/proc/PID/root`).
pub async fn for_process(vars: &[(String, String)], root: std::path::PathBuf) -> EnvFacts {
    let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    gather(&Env::from_slice(&pairs), &Fs::from_test_dir(root, "/")).await
}

/// Reads the real process environment and shared AWS files.
pub async fn from_process() -> EnvFacts {
    gather(&Env::real(), &Fs::real()).await
}

/// Gathers facts through the SDK's environment and file-system shims (fakes in tests).
pub async fn gather(env: &Env, fs: &Fs) -> EnvFacts {
    let var = |k: &str| env.get(k).ok().filter(|v| !v.is_empty());
    let mut static_sources = Vec::new();
    let keys: Vec<&'static str> = ENV_KEY_VARS
        .into_iter()
        .filter(|k| var(k).is_some())
        .collect();
    if !keys.is_empty() {
        static_sources.push(StaticSource::EnvKeys(keys));
    }
    if let Some(p) = var("AWS_PROFILE") {
        static_sources.push(StaticSource::EnvProfile(p));
    }
    if let Some(src) = profile_source(env, fs).await {
        static_sources.push(src);
    }
    EnvFacts {
        role_arn: var("AWS_ROLE_ARN"),
        token_file: var("AWS_WEB_IDENTITY_TOKEN_FILE"),
        region: var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")),
        sts_regional_endpoints: var("AWS_STS_REGIONAL_ENDPOINTS"),
        static_sources,
        container_credentials_uri: var("AWS_CONTAINER_CREDENTIALS_FULL_URI"),
        container_token_file: var("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
        proxy_vars: PROXY_VARS
            .into_iter()
            .filter(|k| var(k).is_some())
            .collect(),
        no_proxy: var("NO_PROXY").or_else(|| var("no_proxy")),
    }
}

/// Loads the shared files exactly as the SDK does and reports the selected profile if it yields credentials.
async fn profile_source(env: &Env, fs: &Fs) -> Option<StaticSource> {
    let files = aws_runtime::env_config::file::EnvConfigFiles::default();
    let set = match aws_config::profile::load(fs, env, &files, None::<Cow<'static, str>>).await {
        Ok(set) => set,
        Err(e) => {
            // A broken file makes the SDK's chain fail too; worth a log line, not a guess.
            tracing::warn!(error = %e, "could not parse the shared AWS config/credentials files");
            return None;
        }
    };
    let name = set.selected_profile();
    let profile = set.get_profile(name)?;
    let keys: Vec<String> = PROFILE_CREDENTIAL_KEYS
        .into_iter()
        .filter(|k| profile.get(k).is_some())
        .map(str::to_owned)
        .collect();
    (!keys.is_empty()).then(|| StaticSource::ProfileKeys {
        profile: name.to_owned(),
        keys,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn facts(vars: &[(&str, &str)], files: &[(&str, &str)]) -> EnvFacts {
        let mut all: Vec<(&str, &str)> = vec![("HOME", "/home/app")];
        all.extend_from_slice(vars);
        let env = Env::from_slice(&all);
        let fs = Fs::from_slice(files);
        gather(&env, &fs).await
    }

    #[tokio::test]
    async fn mutated_pod() {
        let f = facts(
            &[
                ("AWS_ROLE_ARN", "arn:aws:iam::111122223333:role/demo"),
                (
                    "AWS_WEB_IDENTITY_TOKEN_FILE",
                    "/var/run/secrets/eks.amazonaws.com/serviceaccount/token",
                ),
                ("AWS_DEFAULT_REGION", "eu-west-1"),
                ("AWS_STS_REGIONAL_ENDPOINTS", "regional"),
            ],
            &[],
        )
        .await;
        assert_eq!(
            f.role_arn.as_deref(),
            Some("arn:aws:iam::111122223333:role/demo")
        );
        assert_eq!(f.region.as_deref(), Some("eu-west-1"));
        assert_eq!(f.sts_regional_endpoints.as_deref(), Some("regional"));
        assert!(f.static_sources.is_empty());
        assert!(!f.static_keys_in_env());
    }

    /// One row per way static credentials can shadow web identity.
    #[tokio::test]
    async fn static_source_table() {
        /// (name, variables, files, expected sources)
        type Row<'a> = (
            &'a str,
            Vec<(&'a str, &'a str)>,
            Vec<(&'a str, &'a str)>,
            Vec<StaticSource>,
        );
        let cases: Vec<Row> = vec![
            (
                "env keys",
                vec![
                    ("AWS_ACCESS_KEY_ID", "AKIA"),
                    ("AWS_SECRET_ACCESS_KEY", "s"),
                ],
                vec![],
                vec![StaticSource::EnvKeys(vec![
                    "AWS_ACCESS_KEY_ID",
                    "AWS_SECRET_ACCESS_KEY",
                ])],
            ),
            (
                "empty env keys are unset",
                vec![("AWS_ACCESS_KEY_ID", "")],
                vec![],
                vec![],
            ),
            (
                "profile in env",
                vec![("AWS_PROFILE", "dev")],
                vec![],
                vec![StaticSource::EnvProfile("dev".into())],
            ),
            (
                "default profile keys in ~/.aws/credentials",
                vec![],
                vec![(
                    "/home/app/.aws/credentials",
                    "[default]\naws_access_key_id = AKIA\naws_secret_access_key = s\n",
                )],
                vec![StaticSource::ProfileKeys {
                    profile: "default".into(),
                    keys: vec!["aws_access_key_id".into()],
                }],
            ),
            (
                "credential_process in ~/.aws/config",
                vec![],
                vec![(
                    "/home/app/.aws/config",
                    "[default]\ncredential_process = /bin/creds\n",
                )],
                vec![StaticSource::ProfileKeys {
                    profile: "default".into(),
                    keys: vec!["credential_process".into()],
                }],
            ),
            (
                "AWS_SHARED_CREDENTIALS_FILE honoured",
                vec![("AWS_SHARED_CREDENTIALS_FILE", "/etc/aws/creds")],
                vec![("/etc/aws/creds", "[default]\naws_access_key_id = AKIA\n")],
                vec![StaticSource::ProfileKeys {
                    profile: "default".into(),
                    keys: vec!["aws_access_key_id".into()],
                }],
            ),
            (
                "keys only in an unselected profile",
                vec![],
                vec![(
                    "/home/app/.aws/credentials",
                    "[other]\naws_access_key_id = AKIA\n",
                )],
                vec![],
            ),
            (
                "region-only profile falls through",
                vec![],
                vec![("/home/app/.aws/config", "[default]\nregion = us-east-1\n")],
                vec![],
            ),
            (
                "AWS_PROFILE selects the file profile",
                vec![("AWS_PROFILE", "ops")],
                vec![(
                    "/home/app/.aws/config",
                    "[profile ops]\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = base\n",
                )],
                vec![
                    StaticSource::EnvProfile("ops".into()),
                    StaticSource::ProfileKeys {
                        profile: "ops".into(),
                        keys: vec!["role_arn".into()],
                    },
                ],
            ),
        ];
        for (name, vars, files, want) in cases {
            let f = facts(&vars, &files).await;
            assert_eq!(f.static_sources, want, "case: {name}");
        }
    }
}
