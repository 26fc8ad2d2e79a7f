//! The Helm chart as the tests use it: rendered with the real `helm`, applied with the real
//! `kubectl`, and the operator's identity: the chart's ServiceAccount with the chart's RBAC, so
//! every operator the tests start proves that the chart grants enough, and nothing proves it by
//! running as admin.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use k8s_openapi::api::{
    authentication::v1::{TokenRequest, TokenRequestSpec},
    core::v1::{Namespace, ServiceAccount},
};
use kube::{
    Api,
    api::{ObjectMeta, PostParams},
};
use serde::Deserialize;

use super::{binaries::Binaries, control_plane::ControlPlane, control_plane::kubeconfig_yaml};

/// The release the environment installs the operator's identity from.
pub const RELEASE: &str = "dynamo-backup-operator";
/// Its namespace; the leader election Role (and so every test's Lease) lives here.
pub const RELEASE_NAMESPACE: &str = "dynamo-backup-operator-system";
/// The ServiceAccount the chart makes for that release (its full name).
pub const SERVICE_ACCOUNT: &str = "dynamo-backup-operator";
/// The kinds that make up the operator's identity and permissions.
const IDENTITY_KINDS: [&str; 5] = ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"];

pub fn chart_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/dynamo-backup-operator")
}

/// Runs `helm` with these arguments; its stdout, or stderr as the error.
pub fn helm(bins: &Binaries, args: &[&str]) -> Result<String, String> {
    let out = Command::new(&bins.helm)
        .args(args)
        // No user configuration, repositories or cache of the machine's user get involved.
        .env("HELM_CONFIG_HOME", std::env::temp_dir().join("dbo-e2e-helm/config"))
        .env("HELM_CACHE_HOME", std::env::temp_dir().join("dbo-e2e-helm/cache"))
        .env("HELM_DATA_HOME", std::env::temp_dir().join("dbo-e2e-helm/data"))
        .output()
        .map_err(|e| format!("cannot run {}: {e}", bins.helm.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(format!("helm {} failed ({}):\n{}{stdout}", args.join(" "), out.status, String::from_utf8_lossy(&out.stderr)))
    }
}

/// `helm template` of the chart; `values` (YAML) is written next to the run's logs first.
pub fn render(bins: &Binaries, dir: &Path, release: &str, namespace: &str, values: Option<&str>) -> Result<String, String> {
    let chart = chart_dir().display().to_string();
    let mut args = vec!["template", release, chart.as_str(), "--namespace", namespace];
    let file = values_file(dir, release, values)?;
    let file_arg = file.as_ref().map(|f| f.display().to_string());
    if let Some(f) = &file_arg {
        args.extend(["--values", f.as_str()]);
    }
    helm(bins, &args)
}

/// Writes `values` to a file of its own in `dir`, if given.
pub fn values_file(dir: &Path, name: &str, values: Option<&str>) -> Result<Option<PathBuf>, String> {
    let Some(values) = values else { return Ok(None) };
    let file = dir.join(format!("values-{name}.yaml"));
    std::fs::write(&file, values).map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(Some(file))
}

/// Every document of a multi-document YAML stream, empty ones left out.
pub fn documents(yaml: &str) -> Result<Vec<serde_json::Value>, String> {
    let mut docs = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(yaml) {
        let value = serde_json::Value::deserialize(doc).map_err(|e| format!("rendered YAML: {e}\n{yaml}"))?;
        if !value.is_null() {
            docs.push(value);
        }
    }
    Ok(docs)
}

pub fn kind(doc: &serde_json::Value) -> &str {
    doc["kind"].as_str().unwrap_or_default()
}

/// The documents as one YAML stream, for `kubectl apply -f -`.
pub fn to_yaml(docs: &[&serde_json::Value]) -> Result<String, String> {
    let mut out = String::new();
    for doc in docs {
        out.push_str("---\n");
        out.push_str(&serde_yaml_ng::to_string(doc).map_err(|e| e.to_string())?);
    }
    Ok(out)
}

/// `kubectl apply --server-side` of `yaml` with the admin kubeconfig; kubectl's output.
pub fn kubectl_apply(bins: &Binaries, kubeconfig: &Path, yaml: &str) -> Result<String, String> {
    let mut child = Command::new(&bins.kubectl)
        .arg(format!("--kubeconfig={}", kubeconfig.display()))
        .args(["apply", "--server-side", "--field-manager=e2e", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", bins.kubectl.display()))?;
    child.stdin.take().ok_or("no stdin for kubectl")?.write_all(yaml.as_bytes()).map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(format!("kubectl apply failed ({}):\n{}{stdout}\n--- applied ---\n{yaml}", out.status, String::from_utf8_lossy(&out.stderr)))
    }
}

/// Renders the chart (leader election on, so its Lease Role is there too), applies only the
/// ServiceAccount and RBAC, and writes a kubeconfig with a token of that ServiceAccount:
/// the one every operator of the tests runs with.
pub async fn install_operator_identity(bins: &Binaries, plane: &ControlPlane, dir: &Path) -> Result<PathBuf, String> {
    let namespaces: Api<Namespace> = Api::all(plane.client.clone());
    let ns = Namespace { metadata: ObjectMeta { name: Some(RELEASE_NAMESPACE.into()), ..Default::default() }, ..Default::default() };
    namespaces.create(&PostParams::default(), &ns).await.map_err(|e| format!("creating namespace {RELEASE_NAMESPACE}: {e}"))?;

    let rendered = render(bins, dir, RELEASE, RELEASE_NAMESPACE, Some("leaderElection:\n  enabled: true\n"))?;
    let docs = documents(&rendered)?;
    let identity: Vec<&serde_json::Value> = docs.iter().filter(|d| IDENTITY_KINDS.contains(&kind(d))).collect();
    let applied = kubectl_apply(bins, &plane.kubeconfig, &to_yaml(&identity)?)?;
    eprintln!("[e2e] the operators run as the chart's ServiceAccount:\n{}", applied.trim_end());

    let accounts: Api<ServiceAccount> = Api::namespaced(plane.client.clone(), RELEASE_NAMESPACE);
    let request =
        TokenRequest { spec: TokenRequestSpec { expiration_seconds: Some(2 * 3600), ..Default::default() }, ..Default::default() };
    let token = accounts
        .create_token_request(SERVICE_ACCOUNT, &PostParams::default(), &request)
        .await
        .map_err(|e| format!("a token for ServiceAccount {RELEASE_NAMESPACE}/{SERVICE_ACCOUNT}: {e}"))?
        .status
        .map(|s| s.token)
        .filter(|t| !t.is_empty())
        .ok_or("the TokenRequest came back without a token")?;
    let kubeconfig = dir.join("operator-kubeconfig");
    std::fs::write(&kubeconfig, kubeconfig_yaml(&plane.url, &token)).map_err(|e| e.to_string())?;
    Ok(kubeconfig)
}
