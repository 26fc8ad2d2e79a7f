//! The real `dynamo-backup-operator` binary, started as a user starts it.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use super::{
    Env,
    process::{Process, free_port},
};

pub struct Operator {
    pub process: Process,
    pub metrics_url: String,
    /// The kubeconfig it talks to the API server with.
    pub kubeconfig: PathBuf,
}

impl Operator {
    /// Starts `run` watching `namespace`, against `kubeconfig` and moto.
    pub fn start(
        env: &Env,
        kubeconfig: &Path,
        endpoint: &str,
        namespace: &str,
        extra_args: &[&str],
        log_name: &str,
    ) -> Result<Self, String> {
        let port = free_port()?;
        let mut cmd = Command::new(&env.bins.operator);
        cmd.arg("run")
            .args(["--namespaces", namespace])
            .arg(format!("--metrics-bind-address=127.0.0.1:{port}"))
            .args(extra_args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("KUBECONFIG", kubeconfig)
            // Benchmarks log less (OPERATOR_RUST_LOG=info): debug lines would cost them CPU.
            .env("RUST_LOG", std::env::var("OPERATOR_RUST_LOG").unwrap_or_else(|_| "info,dynamo_backup_operator=debug".into()))
            .env("RUST_BACKTRACE", "1");
        for (key, value) in env.moto.operator_env() {
            cmd.env(key, value);
        }
        cmd.env("AWS_ENDPOINT_URL_DYNAMODB", endpoint);
        // AWS Backup on the same endpoint: the proxy counts and faults its calls too.
        cmd.env("AWS_ENDPOINT_URL_BACKUP", endpoint);
        // Application Auto Scaling (a restore's autoScaling step) is moto's too.
        cmd.env("AWS_ENDPOINT_URL_APPLICATION_AUTO_SCALING", endpoint);
        // moto serves STS on the same port: a tenant's roleArn is assumed there.
        cmd.env("AWS_ENDPOINT_URL_STS", endpoint);
        let process = Process::spawn("operator", cmd, &env.dir.join(log_name))?;
        Ok(Self { process, metrics_url: format!("http://127.0.0.1:{port}"), kubeconfig: kubeconfig.to_owned() })
    }

    /// SIGTERM, then the exit code if it ends within `timeout`.
    pub fn terminate(&mut self, timeout: Duration) -> Option<i32> {
        self.process.signal(libc::SIGTERM);
        self.process.wait_timeout(timeout).map(|s| s.code().unwrap_or(-1))
    }
}
