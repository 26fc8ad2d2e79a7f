//! Test support: one real control plane and one moto per test run, shared by all tests; each
//! test gets its own namespace (and its own operator when it needs one), so tests run in
//! parallel. Logs are kept in the run's folder and shown when a test fails.

pub mod argocd;
pub mod bench;
pub mod binaries;
pub mod chart;
pub mod control_plane;
pub mod kstatus;
pub mod moto;
pub mod objects;
pub mod operator;
pub mod process;
pub mod proxy;
pub mod tables;

use std::{
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use k8s_openapi::api::core::v1::Namespace;
use kube::{
    Api,
    api::{ObjectMeta, PostParams},
};
use libtest_mimic::{Failed, Trial};

pub use self::{binaries::Binaries, control_plane::ControlPlane, moto::Moto, operator::Operator};

pub struct Env {
    pub bins: Binaries,
    pub dir: PathBuf,
    pub plane: ControlPlane,
    /// A kubeconfig with a token of the chart's ServiceAccount: the operators' identity.
    pub operator_kubeconfig: PathBuf,
    pub moto: Moto,
    pub runtime: tokio::runtime::Runtime,
    counter: AtomicUsize,
}

impl Env {
    pub fn start() -> Result<Arc<Self>, String> {
        let bins = Binaries::find()?;
        let dir = tempfile::Builder::new().prefix("dbo-e2e-").tempdir().map_err(|e| e.to_string())?.keep();
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
        let (plane, moto, operator_kubeconfig) = runtime.block_on(async {
            let plane_dir = dir.join("control-plane");
            let (plane, moto) = tokio::join!(ControlPlane::start(&bins, &plane_dir), Moto::start(&bins.moto_python, &dir));
            let plane = plane?;
            plane.install_crds().await?;
            let operator_kubeconfig = chart::install_operator_identity(&bins, &plane, &dir)
                .await
                .map_err(|e| format!("installing the chart's ServiceAccount and RBAC: {e}"))?;
            Ok::<_, String>((plane, moto?, operator_kubeconfig))
        })?;
        Ok(Arc::new(Self { bins, dir, plane, operator_kubeconfig, moto, runtime, counter: AtomicUsize::new(0) }))
    }

    /// A test that runs against this environment in a namespace of its own.
    pub fn trial<F, Fut>(self: &Arc<Self>, name: &'static str, body: F) -> Trial
    where
        F: FnOnce(TestCtx) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), String>> + Send,
    {
        let env = self.clone();
        Trial::test(name, move || {
            let ctx = env.context(name);
            let logs = ctx.operators.clone();
            let result = env.runtime.block_on(async {
                ctx.create_namespace().await?;
                body(ctx).await
            });
            result.map_err(|message| {
                let mut report = format!("{message}\n");
                for log in logs.lock().map(|l| l.clone()).unwrap_or_default() {
                    let text = std::fs::read_to_string(&log).unwrap_or_default();
                    let tail: Vec<&str> = text.lines().rev().take(60).collect();
                    report.push_str(&format!("--- {} (last lines) ---\n", log.display()));
                    report.extend(tail.into_iter().rev().map(|l| format!("{l}\n")));
                }
                report.push_str(&env.plane.logs());
                report.push_str(&format!("\n--- moto (last lines) ---\n{}\n", env.moto.process.log_tail(15)));
                Failed::from(report)
            })
        })
    }

    /// A context with a namespace name of its own (created by `TestCtx::create_namespace`).
    pub fn context(self: &Arc<Self>, name: &str) -> TestCtx {
        let n = self.counter.fetch_add(1, Ordering::SeqCst);
        let slug: String = name.replace('_', "-").chars().take(40).collect();
        let namespace = format!("t{n}-{}", slug.trim_end_matches('-'));
        TestCtx { env: self.clone(), namespace, operators: Arc::new(Mutex::new(Vec::new())) }
    }

    /// Stops every process and removes the run's folder unless a test failed.
    pub fn stop(self: Arc<Self>, keep_logs: bool) {
        if keep_logs {
            eprintln!("[e2e] logs kept in {}", self.dir.display());
            return;
        }
        let dir = self.dir.clone();
        match Arc::try_unwrap(self) {
            Ok(env) => drop(env),
            Err(shared) => {
                // A task left on the runtime still holds the environment: end the shared
                // processes by signal so the folder (etcd's data) can go all the same.
                for process in [&shared.plane.apiserver, &shared.plane.etcd, &shared.moto.process] {
                    process.signal(libc::SIGKILL);
                }
                std::thread::sleep(std::time::Duration::from_millis(300));
            }
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// A benchmark's frame: the environment up, `body` run in it, the environment stopped (its logs
/// kept if `body` failed, or with BENCH_KEEP_LOGS=1), and exit code 1 on any failure. Used by
/// `benches/`.
#[allow(dead_code)]
pub fn run_benchmark<F, Fut>(body: F)
where
    F: FnOnce(Arc<Env>) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let env = match Env::start() {
        Ok(env) => env,
        Err(err) => {
            eprintln!("cannot start the environment: {err}");
            std::process::exit(1);
        }
    };
    let result = env.runtime.block_on(body(env.clone()));
    env.stop(result.is_err() || std::env::var_os("BENCH_KEEP_LOGS").is_some());
    if let Err(err) = result {
        eprintln!("benchmark failed: {err}");
        std::process::exit(1);
    }
}

/// What one test has: the shared environment, its namespace, and its operators' logs.
pub struct TestCtx {
    pub env: Arc<Env>,
    pub namespace: String,
    operators: Arc<Mutex<Vec<PathBuf>>>,
}

impl TestCtx {
    pub fn client(&self) -> kube::Client {
        self.env.plane.client.clone()
    }

    pub async fn create_namespace(&self) -> Result<(), String> {
        create_namespace(self.client(), &self.namespace).await
    }

    /// Starts an operator watching this test's namespace, as the chart's ServiceAccount; its log
    /// is shown if the test fails.
    pub fn start_operator(&self, extra_args: &[&str]) -> Result<Operator, String> {
        self.start_operator_with(&self.env.operator_kubeconfig.clone(), &self.env.moto.url.clone(), extra_args)
    }

    /// The same, talking to DynamoDB through a fault-injecting proxy.
    pub fn start_operator_via(&self, proxy: &proxy::FaultProxy, extra_args: &[&str]) -> Result<Operator, String> {
        self.start_operator_with(&self.env.operator_kubeconfig.clone(), &proxy.url, extra_args)
    }

    pub fn start_operator_with(&self, kubeconfig: &std::path::Path, endpoint: &str, extra_args: &[&str]) -> Result<Operator, String> {
        let mut logs = self.operators.lock().map_err(|_| "log list poisoned")?;
        let name = format!("operator-{}-{}.log", self.namespace, logs.len());
        let op = Operator::start(&self.env, kubeconfig, endpoint, &self.namespace, extra_args, &name)?;
        logs.push(op.process.log.clone());
        Ok(op)
    }

    /// A table name unique to this test (tests share one moto).
    pub fn table(&self, base: &str) -> String {
        format!("{base}-{}", self.namespace)
    }

    pub fn dynamo(&self) -> aws_sdk_dynamodb::Client {
        self.env.moto.client()
    }

    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
    {
        Api::namespaced(self.client(), &self.namespace)
    }
}

/// Creates the namespace `name`.
pub async fn create_namespace(client: kube::Client, name: &str) -> Result<(), String> {
    let api: Api<Namespace> = Api::all(client);
    let ns = Namespace { metadata: ObjectMeta { name: Some(name.to_owned()), ..Default::default() }, ..Default::default() };
    api.create(&PostParams::default(), &ns).await.map(|_| ()).map_err(|e| format!("creating namespace {name}: {e}"))
}

/// Turns a failed condition into a test failure with a message.
pub fn ensure(condition: bool, message: impl FnOnce() -> String) -> Result<(), String> {
    if condition { Ok(()) } else { Err(message()) }
}
