//! Gathers the pod's `EnvFacts` the way its AWS SDK would see them: the
//! variables, and the shared config/credentials files through aws-config's own
//! profile loader. Only variable *names* and profile key *names* are kept:
//! values of credentials are never read.

use std::borrow::Cow;

use aws_types::os_shim_internal::{Env, Fs};

pub use irsa_doctor_core::environment::*;

const ENV_KEY_VARS: [&str; 2] = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"];

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
    let profile = selected_profile(env, fs).await;
    let mut profile_web_identity_role = None;
    match profile.credentials {
        ProfileCredentials::Credentials(keys) => static_sources.push(StaticSource::ProfileKeys {
            profile: profile.name,
            keys,
        }),
        ProfileCredentials::Missing => static_sources.push(StaticSource::EnvProfile(profile.name)),
        ProfileCredentials::WebIdentity { role_arn } => profile_web_identity_role = Some(role_arn),
        ProfileCredentials::NotConfigured | ProfileCredentials::NoCredentials => {}
    }
    let proxy = irsa_doctor_core::no_proxy::read_proxy_env(|k| env.get(k).ok());
    EnvFacts {
        role_arn: var("AWS_ROLE_ARN"),
        token_file: var("AWS_WEB_IDENTITY_TOKEN_FILE"),
        region: var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")),
        sts_regional_endpoints: var("AWS_STS_REGIONAL_ENDPOINTS"),
        static_sources,
        container_credentials_uri: var("AWS_CONTAINER_CREDENTIALS_FULL_URI"),
        container_token_file: var("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
        proxy_vars: proxy.proxy_vars,
        no_proxy: proxy.no_proxy,
        profile_region: profile.region,
        profile_web_identity_role,
        imds_endpoint: imds_endpoint(|k| env.get(k).ok()),
        imds_disabled: var("AWS_EC2_METADATA_DISABLED")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true")),
    }
}

/// The selected profile as the SDK's profile provider sees it.
struct SelectedProfile {
    name: String,
    credentials: ProfileCredentials,
    region: Option<String>,
}

/// Loads the shared files exactly as the SDK does (`AWS_CONFIG_FILE`, `AWS_SHARED_CREDENTIALS_FILE`,
/// `AWS_PROFILE`, `HOME`) and classifies the selected profile.
async fn selected_profile(env: &Env, fs: &Fs) -> SelectedProfile {
    let files = aws_runtime::env_config::file::EnvConfigFiles::default();
    let set = match aws_config::profile::load(fs, env, &files, None::<Cow<'static, str>>).await {
        Ok(set) => set,
        Err(e) => {
            // A broken file makes the SDK's chain fail too; worth a log line, not a guess.
            tracing::warn!(error = %e, "could not parse the shared AWS config/credentials files");
            return SelectedProfile {
                name: String::new(),
                credentials: ProfileCredentials::NotConfigured,
                region: None,
            };
        }
    };
    let name = set.selected_profile();
    let profile = set.get_profile(name);
    let credentials = classify_profile(name, profile.map(|p| |k: &str| p.get(k)));
    SelectedProfile {
        name: name.to_owned(),
        credentials,
        region: profile
            .and_then(|p| p.get("region"))
            .filter(|r| !r.is_empty())
            .map(str::to_owned),
    }
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
                "AWS_PROFILE without any shared files: botocore fails, aws-config falls through",
                vec![("AWS_PROFILE", "dev")],
                vec![],
                vec![StaticSource::EnvProfile("dev".into())],
            ),
            (
                "AWS_PROFILE naming an undefined profile fails the chain",
                vec![("AWS_PROFILE", "dev")],
                vec![(
                    "/home/app/.aws/config",
                    "[profile other]\nregion = eu-west-1\n",
                )],
                vec![StaticSource::EnvProfile("dev".into())],
            ),
            (
                "AWS_PROFILE with only a region shadows nothing",
                vec![("AWS_PROFILE", "dev")],
                vec![(
                    "/home/app/.aws/config",
                    "[profile dev]\nregion = eu-west-1\noutput = json\n",
                )],
                vec![],
            ),
            (
                "AWS_PROFILE pinning web identity is not shadowing",
                vec![("AWS_PROFILE", "irsa")],
                vec![(
                    "/home/app/.aws/config",
                    "[profile irsa]\nrole_arn = arn:aws:iam::1:role/x\nweb_identity_token_file = /var/run/secrets/eks.amazonaws.com/serviceaccount/token\n",
                )],
                vec![],
            ),
            (
                "AWS_PROFILE with static keys",
                vec![("AWS_PROFILE", "dev")],
                vec![(
                    "/home/app/.aws/credentials",
                    "[dev]\naws_access_key_id = AKIA\naws_secret_access_key = s\n",
                )],
                vec![StaticSource::ProfileKeys {
                    profile: "dev".into(),
                    keys: vec!["aws_access_key_id".into(), "aws_secret_access_key".into()],
                }],
            ),
            (
                "SSO profile",
                vec![("AWS_PROFILE", "sso")],
                vec![(
                    "/home/app/.aws/config",
                    "[profile sso]\nsso_session = corp\nsso_account_id = 1\nsso_role_name = r\n",
                )],
                vec![StaticSource::ProfileKeys {
                    profile: "sso".into(),
                    keys: vec!["sso_session".into(), "sso_account_id".into()],
                }],
            ),
            (
                "AWS_CONFIG_FILE honoured",
                vec![("AWS_CONFIG_FILE", "/etc/aws/config")],
                vec![(
                    "/etc/aws/config",
                    "[default]\ncredential_process = /bin/creds\n",
                )],
                vec![StaticSource::ProfileKeys {
                    profile: "default".into(),
                    keys: vec!["credential_process".into()],
                }],
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
                    keys: vec!["aws_access_key_id".into(), "aws_secret_access_key".into()],
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
                "a secret key alone: aws-config fails the chain",
                vec![],
                vec![(
                    "/home/app/.aws/credentials",
                    "[default]\naws_secret_access_key = s\n",
                )],
                vec![StaticSource::ProfileKeys {
                    profile: "default".into(),
                    keys: vec!["aws_secret_access_key".into()],
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
                vec![StaticSource::ProfileKeys {
                    profile: "ops".into(),
                    keys: vec!["role_arn".into(), "source_profile".into()],
                }],
            ),
        ];
        for (name, vars, files, want) in cases {
            let f = facts(&vars, &files).await;
            assert_eq!(f.static_sources, want, "case: {name}");
        }
    }

    #[tokio::test]
    async fn profile_region_web_identity_and_imds_facts() {
        let f = facts(
            &[("AWS_PROFILE", "irsa"), ("AWS_EC2_METADATA_DISABLED", "TRUE")],
            &[(
                "/home/app/.aws/config",
                "[profile irsa]\nregion = cn-north-1\nrole_arn = arn:aws-cn:iam::1:role/x\nweb_identity_token_file = /t\n",
            )],
        )
        .await;
        assert_eq!(f.profile_region.as_deref(), Some("cn-north-1"));
        assert_eq!(
            f.profile_web_identity_role.as_deref(),
            Some("arn:aws-cn:iam::1:role/x")
        );
        assert!(f.imds_disabled);
        assert_eq!(f.imds_endpoint, "http://169.254.169.254");
        assert!(
            !f.chain_reaches_imds(),
            "the profile's web identity answers"
        );
        assert!(!f.region_from_imds());

        let bare = facts(
            &[
                ("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9/"),
                ("no_proxy", "169.254.0.0/16"),
                ("http_proxy", "http://proxy:3128"),
            ],
            &[],
        )
        .await;
        assert!(bare.chain_reaches_imds() && bare.region_from_imds());
        assert!(!bare.imds_disabled);
        assert_eq!(bare.imds_endpoint, "http://127.0.0.1:9");
        assert_eq!(bare.proxy_vars, vec!["http_proxy"]);
        assert_eq!(bare.no_proxy.as_deref(), Some("169.254.0.0/16"));
    }
}
