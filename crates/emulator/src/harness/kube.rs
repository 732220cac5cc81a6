//! A cluster's API server for the daemon: the fake Kubernetes API over HTTPS with a CA of
//! its own, a bearer token in a file, and a generated `KUBECONFIG` naming all three, as
//! kubectl and the client libraries read it.

use std::path::PathBuf;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

use crate::kube_api::{FakeKubeApi, ServerTls, kubeconfig};

/// The namespace and names the fixtures use.
pub const NAMESPACE: &str = "demo";
/// The pod's name (a Deployment's: `<replicaset>-<suffix>`).
pub const POD: &str = "web-7d9f8c6b5-x2k4p";
/// Its ServiceAccount.
pub const SERVICE_ACCOUNT: &str = "demo-sa";
/// The bearer token the fake accepts first.
pub const TOKEN: &str = "kube-api-token-0123456789";

/// The fake API with its CA, token file and kubeconfig in a directory of their own.
pub struct Cluster {
    /// The API server.
    pub api: FakeKubeApi,
    /// Holds `ca.crt`, `token` and `kubeconfig`.
    pub dir: tempfile::TempDir,
    /// Runs the server; declared last so the server drops first.
    pub runtime: tokio::runtime::Runtime,
}

impl Default for Cluster {
    fn default() -> Self {
        Cluster::start()
    }
}

impl Cluster {
    /// Generates a CA and a certificate for 127.0.0.1, starts the API over HTTPS.
    pub fn start() -> Cluster {
        let dir = tempfile::tempdir().expect("a temp dir for the cluster");
        let (ca_pem, tls) = certificates();
        std::fs::write(dir.path().join("ca.crt"), ca_pem).expect("write ca.crt");
        std::fs::write(dir.path().join("token"), TOKEN).expect("write the token");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime for the fake API");
        let user = format!("system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}");
        let api = runtime
            .block_on(FakeKubeApi::start(TOKEN, &user, Some(tls)))
            .expect("start the fake Kubernetes API");
        let cluster = Cluster { api, dir, runtime };
        let ca = cluster.dir.path().join("ca.crt");
        let config = kubeconfig(
            &cluster.api.url(),
            Some(&ca),
            &cluster.token_path(),
            NAMESPACE,
        );
        std::fs::write(cluster.kubeconfig_path(), config).expect("write the kubeconfig");
        cluster
    }

    /// The bearer token file (the kubelet's projected `token`).
    pub fn token_path(&self) -> PathBuf {
        self.dir.path().join("token")
    }

    /// The generated kubeconfig.
    pub fn kubeconfig_path(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// Points the daemon at this cluster and names its pod, as the sidecar manifest does.
    pub fn env(&self, env: &mut Vec<(String, String)>) {
        super::set(
            env,
            "KUBECONFIG",
            &self.kubeconfig_path().display().to_string(),
        );
        super::set(env, "POD_NAMESPACE", NAMESPACE);
        super::set(env, "POD_NAME", POD);
        super::set(env, "SERVICE_ACCOUNT_NAME", SERVICE_ACCOUNT);
    }

    /// Rotates the bearer token: the file gets `token` and the API accepts only it.
    pub fn rotate_token(&self, token: &str) {
        let tmp = self.dir.path().join("token.tmp");
        std::fs::write(&tmp, token).expect("write the new token");
        std::fs::rename(&tmp, self.token_path()).expect("swap the token in");
        self.api.set_token(token);
    }
}

/// (CA PEM, server certificate and key for 127.0.0.1 and localhost).
fn certificates() -> (String, ServerTls) {
    let ca_key = KeyPair::generate().expect("a CA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params
        .distinguished_name
        .push(DnType::CommonName, "fake kubernetes CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_pem = params.self_signed(&ca_key).expect("self-sign the CA").pem();
    let issuer = Issuer::new(params, ca_key);
    let key = KeyPair::generate().expect("a server key");
    let mut server = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .expect("server params");
    server
        .distinguished_name
        .push(DnType::CommonName, "kube-apiserver");
    let cert = server
        .signed_by(&key, &issuer)
        .expect("sign the server certificate");
    (
        ca_pem,
        ServerTls {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        },
    )
}
