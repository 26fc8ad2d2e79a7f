//! `kubectl dynamobackup`: the command line an engineer reaches for in an incident. It talks to
//! the Kubernetes API only, never to AWS: RBAC and the operator's tenancy file keep their
//! meaning, and what it creates is what a manifest would (the operator does the rest).
//!
//! Here: `main`, the dispatch of a command, and the connection to the apiserver (`Ctx`). The
//! command line is in `args`, the exit codes in `failure`; each command has its file (`show`
//! for status, list and describe; `backup`; `restore`; `drill`; `pin`; `suspend`), `--wait`
//! is in `wait`, the names the plugin derives in `names`, and what it prints in `output` and
//! `render`.

mod args;
mod backup;
mod drill;
mod failure;
mod names;
mod output;
mod pin;
mod render;
mod restore;
mod show;
mod suspend;
mod wait;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use kube::{Api, Client, Config, Resource, api::ListParams, config::KubeConfigOptions};
use serde::de::DeserializeOwned;

pub use args::Plugin;
pub use failure::Failure;
pub use render::{BackupLine, EventLine, TableLine, backup_lines, describe_text, list_table, status_lines, status_table};

use self::{
    args::{Command, Format, Global},
    failure::api_failed,
    output::print_structured,
};

pub fn main() -> ExitCode {
    let plugin = Plugin::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start: {err}");
            return ExitCode::FAILURE;
        }
    };
    if rustls::crypto::aws_lc_rs::default_provider().install_default().is_err() {
        // Another provider is in place already: kube uses it.
    }
    match runtime.block_on(run(plugin)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

/// What every command that reaches the apiserver works with: the client, the namespace and the
/// global flags.
struct Ctx {
    client: Client,
    namespace: String,
    global: Global,
}

impl Ctx {
    fn api<K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>>(&self) -> Api<K> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    fn list_api<K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>>(&self) -> Api<K> {
        if self.global.all_namespaces { Api::all(self.client.clone()) } else { self.api() }
    }
}

/// The client of the kubeconfig context (`--context`, else the current one, else in-cluster).
async fn connect(global: &Global) -> Result<Ctx, Failure> {
    let options = KubeConfigOptions { context: global.context.clone(), ..Default::default() };
    let config = match Config::from_kubeconfig(&options).await {
        Ok(config) => config,
        Err(_) if global.context.is_none() => Config::infer().await.map_err(|e| Failure {
            code: 1,
            message: format!("no Kubernetes configuration: {e}; set KUBECONFIG or run inside a cluster"),
        })?,
        Err(e) => return Err(Failure { code: 1, message: format!("kubeconfig context {:?}: {e}", global.context) }),
    };
    let namespace = global.namespace.clone().unwrap_or_else(|| config.default_namespace.clone());
    let client = Client::try_from(config).map_err(|e| Failure { code: 1, message: format!("cannot reach the apiserver: {e}") })?;
    Ok(Ctx { client, namespace, global: global.clone() })
}

/// Runs the command line's command.
async fn run(plugin: Plugin) -> Result<(), Failure> {
    match plugin.command {
        Command::Completion { shell } => {
            let mut command = Plugin::command();
            clap_complete::generate(shell, &mut command, "kubectl-dynamobackup", &mut std::io::stdout());
            Ok(())
        }
        Command::Version => {
            let version = serde_json::json!({"plugin": env!("CARGO_PKG_VERSION"), "api": "dynamobackup.io/v1alpha1"});
            match plugin.global.output {
                Format::Table => println!("kubectl-dynamobackup {} (dynamobackup.io/v1alpha1)", env!("CARGO_PKG_VERSION")),
                format => print_structured(format, &version)?,
            }
            Ok(())
        }
        command => {
            let ctx = connect(&plugin.global).await?;
            match command {
                Command::Status { target, unprotected } => show::status(&ctx, target.as_deref(), unprotected).await,
                Command::List { table } => show::list(&ctx, table.as_deref()).await,
                Command::Backup(args) => backup::backup(&ctx, args).await,
                Command::Restore(args) => restore::restore(&ctx, args).await,
                Command::Describe { object } => show::describe(&ctx, &object).await,
                Command::Pin { backup } => pin::pin(&ctx, &backup, true).await,
                Command::Unpin { backup } => pin::pin(&ctx, &backup, false).await,
                Command::Suspend { policy } => suspend::suspend(&ctx, &policy, true).await,
                Command::Resume { policy } => suspend::suspend(&ctx, &policy, false).await,
                Command::Drill(args) => drill::drill(&ctx, args).await,
                Command::Completion { .. } | Command::Version => Ok(()),
            }
        }
    }
}

/// Every object `api` lists; `what` names them if the apiserver fails.
async fn list_all<K>(api: &Api<K>, what: &str) -> Result<Vec<K>, Failure>
where
    K: Clone + DeserializeOwned + std::fmt::Debug,
{
    api.list(&ListParams::default()).await.map(|l| l.items).map_err(|e| api_failed(&format!("listing {what}"), e))
}

/// Where the command looked, for messages: `namespace NAME` or `any namespace`.
fn where_(ctx: &Ctx) -> String {
    if ctx.global.all_namespaces { "any namespace".into() } else { format!("namespace {}", ctx.namespace) }
}

#[cfg(test)]
mod tests;
