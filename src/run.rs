//! `dynamo-backup-operator run`: start-up checks, then the controllers until SIGTERM.

use std::{process::ExitCode, sync::Arc};

use tokio::signal::unix::{SignalKind, signal};
use tracing::{error, info, warn};

use crate::aws::{Pacer, RegionalClients};
use crate::{
    api::GROUP,
    autoscaling::{AutoScalingPort, AwsAutoScaling},
    awsbackup::{AwsBackup, AwsBackupPort},
    cli::RunArgs,
    context::{Context, FIELD_MANAGER, Parts},
    controllers,
    dynamo::{AwsDynamo, DynamoPort},
    events::EventRecorder,
    http::{self, Health},
    leader::{self, LeaderElection, Term},
    metrics::Metrics,
    plan::tenancy::Tenancy,
};

/// The API version the operator serves; the CRDs must be installed before it starts.
const API_VERSION: &str = "dynamobackup.io/v1alpha1";
const PLURALS: [&str; 3] = ["dynamobackups", "dynamorestores", "dynamobackuppolicies"];
/// How long reconciles in flight may take to finish after SIGTERM.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);
/// How long the events still queued after the controllers stopped may take to go out.
const EVENT_FLUSH: std::time::Duration = std::time::Duration::from_secs(3);

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
    #[error("lost the leader lease; exiting so that this replica restarts as a standby")]
    LostLeadership,
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
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        let _ = stop_tx.send(true);
    });
    let tenancy = load_tenancy(&args)?;
    let client = kube::Client::try_default().await?;
    check_crds(&client).await?;

    let metrics = Arc::new(Metrics::default());
    let health = Health::new(metrics.clone());
    let mut http_stop = stop.clone();
    let server = http::serve(args.metrics_bind_address, health.clone(), async move {
        let _ = http_stop.wait_for(|stop| *stop).await;
    })
    .await
    .map_err(StartupError::Http)?;
    let server = tokio::spawn(server);

    let ctx = context(&args, client.clone(), metrics, tenancy).await;
    info!(namespaces = ?ctx.namespaces, concurrency = ctx.concurrency, "operator started");
    // A standby replica is healthy and ready: it serves probes and metrics, and waits.
    health.set_ready(true);

    let term = lead(&args, client, &ctx, &stop, &health).await;
    health.set_ready(false);
    // The metrics server stops with the stop signal; after a lost lease there was none.
    if term == Term::Lost {
        server.abort();
        drop(ctx);
        return Err(StartupError::LostLeadership);
    }
    match server.await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => warn!(error = %err, "the metrics server stopped with an error"),
        Err(err) => warn!(error = %err, "the metrics server task failed"),
    }
    drop(ctx);
    info!("stopped");
    Ok(())
}

/// Asks STS which account the operator's own credentials belong to: its calls made without a
/// tenant role are paced and labelled in that account. Start-up waits for the answer at most
/// `STS_WAIT`, so the first listings are labelled right; a slower or failed answer is asked for
/// again in the background, and until it comes the own calls are paced in buckets of their own.
async fn own_account(sts: RegionalClients<aws_sdk_sts::Client>, pacer: Pacer) {
    const STS_WAIT: std::time::Duration = std::time::Duration::from_secs(5);
    let ask = {
        let pacer = pacer.clone();
        async move {
            for attempt in 0u32.. {
                match sts.client(None, None).await.get_caller_identity().send().await {
                    Ok(identity) => {
                        if let Some(account) = identity.account() {
                            pacer.set_own_account(account);
                            info!(account, "own AWS account: its calls are paced and labelled in it");
                        } else {
                            warn!("STS GetCallerIdentity named no account: own calls are paced per region");
                        }
                        return;
                    }
                    Err(err) => {
                        let err = aws_sdk_sts::error::DisplayErrorContext(err);
                        warn!(error = %err, attempt, "STS GetCallerIdentity failed; asking again in a minute");
                        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                    }
                }
            }
        }
    };
    let mut task = tokio::spawn(ask);
    if tokio::time::timeout(STS_WAIT, &mut task).await.is_err() {
        warn!("STS has not named the operator's own account yet; starting without it");
    }
}

/// The process's Context: the AWS adapters on the SDK's default chain, paced, their calls
/// counted in `metrics`.
async fn context(args: &RunArgs, client: kube::Client, metrics: Arc<Metrics>, tenancy: Tenancy) -> Arc<Context> {
    let clients = RegionalClients::load(args.default_region.clone()).await;
    let default_region = clients.default_region().map(str::to_owned);
    match &default_region {
        Some(region) => info!(region, "default region"),
        None => warn!("no default region: every object must name its region or a table ARN"),
    }
    let pacer = Pacer::new(&args.aws_rate_limits);
    let accounts = pacer.accounts();
    own_account(clients.sibling(), pacer.clone()).await;
    let aws_backup: Arc<dyn AwsBackupPort> = Arc::new(AwsBackup::new(clients.sibling(), pacer.clone(), metrics.clone()));
    let auto_scaling: Arc<dyn AutoScalingPort> = Arc::new(AwsAutoScaling::new(clients.sibling(), pacer.clone(), metrics.clone()));
    let dynamo: Arc<dyn DynamoPort> = Arc::new(AwsDynamo::new(clients, pacer, metrics.clone()));
    let cluster: Arc<dyn crate::cluster::Cluster> = Arc::new(crate::cluster::Kube(client.clone()));
    let instance = std::env::var("POD_NAME").ok();
    let recorder = EventRecorder::queued(cluster.clone(), FIELD_MANAGER, instance, crate::events::QUEUE, metrics.events_dropped.clone());
    let ctx = Context::assemble(Parts {
        client: client.clone(),
        cluster,
        dynamo,
        aws_backup,
        auto_scaling,
        workloads: Arc::new(crate::caches::WorkloadCache::new(client)),
        metrics,
        tenancy,
        namespaces: args.watched_namespaces(),
        default_region,
        accounts,
        concurrency: u16::try_from(args.concurrency.get()).unwrap_or(u16::MAX),
        backup_resync: args.backup_resync_interval,
        pitr_refresh: args.pitr_refresh_interval,
        table_discovery: args.table_discovery_interval,
        recorder,
        clock: Default::default(),
    });
    // The operator's own region is listed for the unprotected-tables metric with or without selectors.
    ctx.discovery.watch(&Default::default());
    ctx
}

/// Runs the controllers while this replica leads (always, without leader election) and until
/// the stop signal; how it ended.
async fn lead(
    args: &RunArgs,
    client: kube::Client,
    ctx: &Arc<Context>,
    stop: &tokio::sync::watch::Receiver<bool>,
    health: &Health,
) -> Term {
    let leader = args.leader_election.then(|| {
        LeaderElection::new(
            client,
            &args.leader_election_namespace,
            &args.leader_election_lease_name,
            leader::identity(),
            args.leader_election_lease_duration,
        )
    });
    let leading = match &leader {
        Some(leader) => leader.acquire(&mut stop.clone()).await,
        None => !*stop.borrow(),
    };
    if !leading {
        info!("shutting down");
        return Term::Stopped;
    }
    let mut controllers = tokio::spawn(controllers::run(ctx.clone(), stop.clone()));
    let term = match &leader {
        Some(leader) => leader.hold(&mut stop.clone()).await,
        None => {
            let _ = stop.clone().wait_for(|s| *s).await;
            Term::Stopped
        }
    };
    if term == Term::Lost {
        // Another replica may lead already: stop at once, reconciles in flight too.
        controllers.abort();
        return term;
    }
    info!("shutting down");
    health.set_ready(false);
    // Reconciles in flight finish; no new ones start. A controller whose first list has not
    // completed yet never notices a graceful stop, so the wait is bounded.
    match tokio::time::timeout(SHUTDOWN_GRACE, &mut controllers).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => warn!(error = %err, "a controller task failed"),
        Err(_) => {
            warn!(grace = ?SHUTDOWN_GRACE, "controllers did not stop in time; stopping them now");
            controllers.abort();
        }
    }
    // The events of the last reconciles are still on their way to the apiserver.
    if !ctx.recorder.flushed(EVENT_FLUSH).await {
        warn!(within = ?EVENT_FLUSH, "events still queued at shutdown were not published");
    }
    if let Some(leader) = &leader {
        leader.release().await;
    }
    term
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
    let missing: Vec<String> = PLURALS.iter().filter(|p| !served.iter().any(|s| s == *p)).map(|p| format!("{p}.{GROUP}")).collect();
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
