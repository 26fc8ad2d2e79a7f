//! `kubectl dynamobackup`: the command line an engineer reaches for in an incident. It talks to
//! the Kubernetes API only, never to AWS: RBAC and the operator's tenancy file keep their
//! meaning, and what it creates is what a manifest would (the operator does the rest).
//!
//! Here: `main` and the dispatch of a command; the connection to the apiserver is `client`. The
//! command line is in `args`, the exit codes in `failure`; each command has its file (`show`
//! for status, list and describe; `backup`; `restore`; `recover` (with `keys`, its --keys file); `points`; `drill`; `pin`; `suspend`), `--wait`
//! is in `wait`, the names the plugin derives in `names`, and what it prints in `output` and
//! `render`.

mod args;
mod backup;
mod client;
mod drill;
mod failure;
mod keys;
mod names;
mod output;
mod pin;
mod points;
mod recover;
mod render;
mod restore;
mod show;
mod suspend;
mod wait;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

pub use args::Plugin;
pub use failure::Failure;
pub use render::{BackupLine, EventLine, Layout, TableLine, backup_lines, describe_text, list_table, status_lines, status_table};

use self::{args::Command, client::connect, output::print_structured};

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
                format if format.is_human() => println!("kubectl-dynamobackup {} (dynamobackup.io/v1alpha1)", env!("CARGO_PKG_VERSION")),
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
                Command::Recover(args) => recover::recover(&ctx, args).await,
                Command::WriteBack(args) => recover::write_back(&ctx, args).await,
                Command::Points(args) => points::points(&ctx, args).await,
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

#[cfg(test)]
mod tests;
