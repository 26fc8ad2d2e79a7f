//! Where the real binaries are: the variables `scripts/testenv.sh` exports, or, when they are
//! not set (a plain `cargo test`), whatever that script provides when run now.

use std::{collections::HashMap, path::PathBuf, process::Command};

pub struct Binaries {
    pub kube_apiserver: PathBuf,
    pub etcd: PathBuf,
    pub kubectl: PathBuf,
    pub helm: PathBuf,
    /// The python of moto's virtualenv: it runs moto with the AWS Backup emulator
    /// (tests/emulators/aws_backup.py).
    pub moto_python: PathBuf,
    pub operator: PathBuf,
}

const VARS: [&str; 5] = ["KUBE_APISERVER_BIN", "ETCD_BIN", "KUBECTL_BIN", "HELM_BIN", "MOTO_PYTHON"];

impl Binaries {
    pub fn find() -> Result<Self, String> {
        let mut found: HashMap<String, String> = VARS.iter().filter_map(|v| std::env::var(v).ok().map(|p| (v.to_string(), p))).collect();
        if found.len() < VARS.len() {
            let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/testenv.sh");
            eprintln!("[e2e] {} not all set; running {}", VARS.join(", "), script.display());
            let out = Command::new("bash")
                .arg(&script)
                .stderr(std::process::Stdio::inherit())
                .output()
                .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
            if !out.status.success() {
                return Err(format!("{} failed ({})", script.display(), out.status));
            }
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                if let Some((key, value)) = line.strip_prefix("export ").and_then(|l| l.split_once('=')) {
                    found.entry(key.to_owned()).or_insert_with(|| unquote(value));
                }
            }
        }
        let get = |v: &str| found.get(v).map(PathBuf::from).ok_or_else(|| format!("{v} is not provided"));
        Ok(Self {
            kube_apiserver: get("KUBE_APISERVER_BIN")?,
            etcd: get("ETCD_BIN")?,
            kubectl: get("KUBECTL_BIN")?,
            helm: get("HELM_BIN")?,
            moto_python: get("MOTO_PYTHON")?,
            operator: PathBuf::from(env!("CARGO_BIN_EXE_dynamo-backup-operator")),
        })
    }
}

/// Undoes bash's `printf %q` for the characters paths in practice contain.
fn unquote(value: &str) -> String {
    let value = value.trim();
    if let Some(inner) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        return inner.to_owned();
    }
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    out
}
