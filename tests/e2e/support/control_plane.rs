//! A real control plane: etcd and kube-apiserver on free loopback ports, an admin token, a
//! kubeconfig, and the operator's CRDs installed from `crds/`.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{
    Api, Client, Config,
    api::{Patch, PatchParams},
    config::{KubeConfigOptions, Kubeconfig},
};

use super::{
    binaries::Binaries,
    process::{Process, eventually, free_port},
};

pub const ADMIN_TOKEN: &str = "e2e-admin-token";

pub struct ControlPlane {
    pub etcd: Process,
    pub apiserver: Process,
    pub url: String,
    pub kubeconfig: PathBuf,
    pub client: Client,
    /// `major.minor` of the apiserver, e.g. (1, 34).
    pub version: (u32, u32),
}

impl ControlPlane {
    /// Starts etcd and kube-apiserver under `dir` and waits until the apiserver is ready.
    pub async fn start(bins: &Binaries, dir: &Path) -> Result<Self, String> {
        std::fs::create_dir_all(dir.join("certs")).map_err(|e| e.to_string())?;
        let (client_port, peer_port, secure_port) = (free_port()?, free_port()?, free_port()?);

        let mut etcd = Command::new(&bins.etcd);
        let client_url = format!("http://127.0.0.1:{client_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        etcd.args(["--name", "e2e", "--data-dir"])
            .arg(dir.join("etcd"))
            .args(["--listen-client-urls", &client_url, "--advertise-client-urls", &client_url])
            .args(["--listen-peer-urls", &peer_url, "--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("e2e={peer_url}"), "--unsafe-no-fsync", "--log-level", "warn"]);
        let etcd = Process::spawn("etcd", etcd, &dir.join("etcd.log"))?;

        std::fs::write(dir.join("tokens.csv"), format!("{ADMIN_TOKEN},admin,admin,system:masters\n")).map_err(|e| e.to_string())?;
        service_account_keys(dir)?;
        let mut apiserver = Command::new(&bins.kube_apiserver);
        apiserver
            .arg(format!("--etcd-servers={client_url}"))
            .arg(format!("--cert-dir={}", dir.join("certs").display()))
            .arg(format!("--secure-port={secure_port}"))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--token-auth-file={}", dir.join("tokens.csv").display()))
            .arg("--authorization-mode=RBAC")
            .arg("--service-account-issuer=https://kubernetes.default.svc")
            .arg(format!("--service-account-key-file={}", dir.join("sa.pub").display()))
            .arg(format!("--service-account-signing-key-file={}", dir.join("sa.key").display()))
            .arg("--service-cluster-ip-range=10.0.0.0/24");
        let apiserver = Process::spawn("kube-apiserver", apiserver, &dir.join("kube-apiserver.log"))?;

        let url = format!("https://127.0.0.1:{secure_port}");
        let kubeconfig = dir.join("kubeconfig");
        std::fs::write(&kubeconfig, kubeconfig_yaml(&url, ADMIN_TOKEN)).map_err(|e| e.to_string())?;
        let client = client_from(&kubeconfig).await?;

        let mut plane = Self { etcd, apiserver, url, kubeconfig, client, version: (0, 0) };
        let probe = plane.client.clone();
        let started = std::time::Instant::now();
        let ready = eventually("kube-apiserver /readyz", Duration::from_secs(90), || {
            let probe = probe.clone();
            async move {
                let req = http::Request::get("/readyz").body(Vec::new()).ok()?;
                probe.request_text(req).await.ok().filter(|body| body.trim() == "ok")
            }
        })
        .await;
        if let Err(err) = ready {
            return Err(format!(
                "{err}\n--- etcd log ---\n{}\n--- kube-apiserver log ---\n{}",
                plane.etcd.log_tail(20),
                plane.apiserver.log_tail(40)
            ));
        }
        let info = plane.client.apiserver_version().await.map_err(|e| e.to_string())?;
        plane.version = (parse_number(&info.major), parse_number(&info.minor));
        eprintln!("[e2e] kube-apiserver {} ready in {:.1?} at {}", info.git_version, started.elapsed(), plane.url);
        Ok(plane)
    }

    /// CRD validation rules (CEL) are on by default from Kubernetes 1.25.
    pub fn has_cel(&self) -> bool {
        self.version >= (1, 25)
    }

    /// Applies every `crds/*.yaml` with server-side apply and waits until each is Established.
    pub async fn install_crds(&self) -> Result<Vec<String>, String> {
        let crds: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
        let mut names = Vec::new();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).map_err(|e| e.to_string())?;
            let mut value: serde_json::Value = serde_yaml_ng::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
            if !self.has_cel() {
                // Before 1.25 the CRD schema has no such field, and server-side apply refuses
                // what it does not know; those clusters would ignore the rules anyway.
                strip_key(&mut value, "x-kubernetes-validations");
            }
            let crd: CustomResourceDefinition = serde_json::from_value(value).map_err(|e| format!("{}: {e}", file.display()))?;
            let name = crd.metadata.name.clone().ok_or("a CRD without a name")?;
            crds.patch(&name, &PatchParams::apply("e2e").force(), &Patch::Apply(&crd))
                .await
                .map_err(|e| format!("applying {}: {e}", file.display()))?;
            names.push(name);
        }
        for name in &names {
            let crds = crds.clone();
            eventually(&format!("CRD {name} Established"), Duration::from_secs(30), || {
                let crds = crds.clone();
                async move {
                    let crd = crds.get(name).await.ok()?;
                    let established = crd.status?.conditions?.iter().any(|c| c.type_ == "Established" && c.status == "True");
                    established.then_some(())
                }
            })
            .await?;
        }
        Ok(names)
    }

    pub fn logs(&self) -> String {
        format!(
            "--- kube-apiserver (last lines) ---\n{}\n--- etcd (last lines) ---\n{}",
            self.apiserver.log_tail(30),
            self.etcd.log_tail(10)
        )
    }
}

pub async fn client_from(kubeconfig: &Path) -> Result<Client, String> {
    let kc = Kubeconfig::read_from(kubeconfig).map_err(|e| e.to_string())?;
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await.map_err(|e| e.to_string())?;
    Client::try_from(config).map_err(|e| e.to_string())
}

/// A kubeconfig for the local apiserver. Its serving certificate is self-signed for the test.
pub fn kubeconfig_yaml(url: &str, token: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: e2e\n  cluster:\n    server: {url}\n    insecure-skip-tls-verify: true\n\
         users:\n- name: e2e\n  user:\n    token: {token}\ncontexts:\n- name: e2e\n  context:\n    cluster: e2e\n    user: e2e\n\
         current-context: e2e\n"
    )
}

fn service_account_keys(dir: &Path) -> Result<(), String> {
    let key = dir.join("sa.key");
    let run = |args: &[&str]| -> Result<(), String> {
        let out = Command::new("openssl").args(args).output().map_err(|e| format!("openssl: {e}"))?;
        if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).into_owned()) }
    };
    let key_s = key.display().to_string();
    run(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", &key_s])?;
    run(&["pkey", "-in", &key_s, "-pubout", "-out", &dir.join("sa.pub").display().to_string()])
}

fn strip_key(value: &mut serde_json::Value, key: &str) {
    match value {
        serde_json::Value::Object(map) => {
            map.remove(key);
            map.values_mut().for_each(|v| strip_key(v, key));
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| strip_key(v, key)),
        _ => {}
    }
}

fn parse_number(text: &str) -> u32 {
    text.chars().take_while(char::is_ascii_digit).collect::<String>().parse().unwrap_or(0)
}
