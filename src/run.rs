//! `dynamo-backup-operator run`: start-up checks, then the controllers until SIGTERM.

use std::{process::ExitCode, sync::Arc};

use kube::runtime::events::{Recorder, Reporter};
use tokio::signal::unix::{SignalKind, signal};
use tracing::{error, info, warn};

use crate::{
    api::GROUP,
    cli::RunArgs,
    context::Context,
    controllers,
    dynamo::{AwsDynamo, Pacer, RegionalClients},
    http::{self, Health},
    metrics::Metrics,
    plan::tenancy::Tenancy,
};

/// The API version the operator serves; the CRDs must be installed before it starts.
const API_VERSION: &str = "dynamobackup.io/v1alpha1";
const PLURALS: [&str; 3] = ["dynamobackups", "dynamorestores", "dynamobackuppolicies"];
pub const FIELD_MANAGER: &str = "dynamo-backup-operator";
/// How long reconciles in flight may take to finish after SIGTERM.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot reach the Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error(
        "the CustomResourceDefinitions of {API_VERSION} are not installed (missing: {}). Install them with \
         `kubectl apply --server-side -f crds/` (or `dynamo-backup-operator crd | kubectl apply --server-side -f -`), \
         or install the Helm chart, then start the operator again",
        .0.join(", ")
    )]
    CrdsMissing(Vec<String>),
    #[error("cannot read the tenancy file {path}: {source}")]
    TenancyRead { path: String, source: std::io::Error },
    #[error("the tenancy file {path} is invalid: {source}")]
    TenancyInvalid { path: String, source: crate::plan::tenancy::TenancyError },
    #[error("cannot serve metrics and probes: {0}")]
    Http(std::io::Error),
}

impl StartupError {
    /// Distinct exit codes let a person (and a test) tell set-up mistakes from crashes.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            StartupError::CrdsMissing(_) => ExitCode::from(3),
            StartupError::TenancyRead { .. } | StartupError::TenancyInvalid { .. } => ExitCode::from(4),
            _ => ExitCode::FAILURE,
        }
    }
}

pub async fn run(args: RunArgs) -> ExitCode {
    match start(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            error!(error = %err, "start-up failed");
            err.exit_code()
        }
    }
}

async fn start(args: RunArgs) -> Result<(), StartupError> {
    // Listen first: a SIGTERM during start-up must end the process cleanly too.
    let stop_signal = tokio::spawn(wait_for_signal());
    let tenancy = load_tenancy(&args)?;
    let client = kube::Client::try_default().await?;
    check_crds(&client).await?;

    let metrics = Arc::new(Metrics::default());
    let health = Health::new(metrics.clone());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut http_stop = stop_rx.clone();
    let server = http::serve(args.metrics_bind_address, health.clone(), async move {
        let _ = http_stop.wait_for(|stop| *stop).await;
    })
    .await
    .map_err(StartupError::Http)?;
    let server = tokio::spawn(server);

    let clients = RegionalClients::load(args.default_region.clone()).await;
    let default_region = clients.default_region().map(str::to_owned);
    match &default_region {
        Some(region) => info!(region, "default region"),
        None => warn!("no default region: every object must name its region or a table ARN"),
    }
    let pacer = Pacer::new(args.list_backups_per_second, args.create_backup_per_second, args.control_plane_per_second);
    let reporter = Reporter { controller: FIELD_MANAGER.into(), instance: std::env::var("POD_NAME").ok() };
    let ctx = Arc::new(Context {
        recorder: Recorder::new(client.clone(), reporter),
        client,
        dynamo: Arc::new(AwsDynamo::new(clients, pacer, metrics.clone())),
        metrics,
        tenancy,
        namespaces: args.watched_namespaces(),
        default_region,
        concurrency: u16::try_from(args.concurrency.get()).unwrap_or(u16::MAX),
        failures: Default::default(),
    });
    info!(namespaces = ?ctx.namespaces, concurrency = ctx.concurrency, "operator started");

    let (ctl_stop_tx, ctl_stop_rx) = tokio::sync::watch::channel(false);
    // A stop that came during start-up ends here, before any controller starts.
    let controllers = (!stop_signal.is_finished()).then(|| tokio::spawn(controllers::run(ctx.clone(), ctl_stop_rx)));
    health.set_ready(true);

    if let Err(err) = stop_signal.await {
        warn!(error = %err, "the signal listener failed; shutting down");
    }
    info!("shutting down");
    health.set_ready(false);
    // Reconciles in flight finish; no new ones start. A controller whose first list has not
    // completed yet never notices a graceful stop, so the wait is bounded.
    let _ = ctl_stop_tx.send(true);
    if let Some(mut controllers) = controllers {
        match tokio::time::timeout(SHUTDOWN_GRACE, &mut controllers).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => warn!(error = %err, "a controller task failed"),
            Err(_) => {
                warn!(grace = ?SHUTDOWN_GRACE, "controllers did not stop in time; stopping them now");
                controllers.abort();
            }
        }
    }
    let _ = stop_tx.send(true);
    match server.await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => warn!(error = %err, "the metrics server stopped with an error"),
        Err(err) => warn!(error = %err, "the metrics server task failed"),
    }
    drop(ctx);
    info!("stopped");
    Ok(())
}

fn load_tenancy(args: &RunArgs) -> Result<Tenancy, StartupError> {
    let Some(path) = &args.tenancy_file else {
        info!("no tenancy file: running single-tenant, every watched namespace may name any table");
        return Ok(Tenancy::SingleTenant);
    };
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| StartupError::TenancyRead { path: shown.clone(), source })?;
    let tenancy = Tenancy::parse(&text).map_err(|source| StartupError::TenancyInvalid { path: shown.clone(), source })?;
    info!(file = %shown, "multi-tenant: requests outside the tenancy file are refused with AccessDenied");
    Ok(tenancy)
}

/// Asks discovery, which every authenticated client may read, whether our kinds are served.
async fn check_crds(client: &kube::Client) -> Result<(), StartupError> {
    let served: Vec<String> = match client.list_api_group_resources(API_VERSION).await {
        Ok(list) => list.resources.into_iter().map(|r| r.name).collect(),
        Err(kube::Error::Api(status)) if status.code == 404 => Vec::new(),
        Err(err) => return Err(err.into()),
    };
    let missing: Vec<String> =
        PLURALS.iter().filter(|p| !served.iter().any(|s| s == *p)).map(|p| format!("{p}.{GROUP}")).collect();
    if missing.is_empty() { Ok(()) } else { Err(StartupError::CrdsMissing(missing)) }
}

async fn wait_for_signal() {
    let (mut term, mut int) = match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(term), Ok(int)) => (term, int),
        _ => {
            warn!("cannot listen for SIGTERM/SIGINT; running until killed");
            return std::future::pending().await;
        }
    };
    tokio::select! {
        _ = term.recv() => info!("SIGTERM received"),
        _ = int.recv() => info!("SIGINT received"),
    }
}
