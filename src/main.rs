use std::{io::Write, process::ExitCode};

use clap::Parser;
use dynamo_backup_operator::{
    api,
    cli::{Cli, Command, CrdArgs},
    run, telemetry,
};

/// jemalloc: thousands of small cached objects cost less than with glibc's malloc, which puts a
/// header on every allocation (see docs/operations.md#resources).
#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read once at start-up (its `malloc_conf`, under the crate's symbol
/// prefix): one arena, since a reconciler on two worker threads gains nothing from more and
/// each arena keeps its own part-used pages; and a background thread that returns freed pages
/// to the system while the operator is idle (without it, pages are purged only when allocation
/// goes on, so a burst's pages stay resident at rest).
#[cfg(target_os = "linux")]
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static MALLOC_CONF: &[u8; 33] = b"narenas:1,background_thread:true\0";

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd(args) => print_crds(args),
        Command::Run(args) => {
            // kube and the AWS SDK both use rustls; pick aws-lc-rs once for the whole process.
            if rustls::crypto::aws_lc_rs::default_provider().install_default().is_err() {
                eprintln!("a TLS crypto provider was already installed; using it");
            }
            telemetry::init(args.log_format);
            run::run(*args).await
        }
    }
}

fn print_crds(args: CrdArgs) -> ExitCode {
    for (file, crd) in api::all_crds() {
        let yaml = match api::crd_yaml(&crd) {
            Ok(yaml) => yaml,
            Err(err) => {
                eprintln!("cannot render the {file} CRD: {err}");
                return ExitCode::FAILURE;
            }
        };
        match &args.output_dir {
            Some(dir) => {
                let path = dir.join(format!("{file}.yaml"));
                if let Err(err) = std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&path, &yaml)) {
                    eprintln!("cannot write {}: {err}", path.display());
                    return ExitCode::FAILURE;
                }
            }
            None => {
                // A closed pipe (`crd | head`) is the reader's choice, not a failure worth a panic.
                if write!(std::io::stdout().lock(), "---\n{yaml}").is_err() {
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    ExitCode::SUCCESS
}
