//! Leader election with a coordination.k8s.io Lease, for more than one replica: only the
//! holder runs the controllers. Writes are optimistic (resourceVersion), so two replicas never
//! both believe they took the lease.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::MicroTime,
};
use kube::{
    Api,
    api::{ObjectMeta, PostParams},
};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::plan::lease::{LeaseState, may_hold};

pub struct LeaderElection {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration: Duration,
}

/// How a term of leadership ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Term {
    /// The stop signal came; the caller stops its work, then `release`s the lease.
    Stopped,
    /// Renewing failed for longer than the lease lasts, or another replica holds it now.
    Lost,
}

impl LeaderElection {
    pub fn new(client: kube::Client, namespace: &str, name: &str, identity: String, duration: Duration) -> Self {
        Self { api: Api::namespaced(client, namespace), name: name.to_owned(), identity, duration }
    }

    fn retry_every(&self) -> Duration {
        (self.duration / 5).max(Duration::from_millis(500))
    }

    fn renew_every(&self) -> Duration {
        (self.duration / 3).max(Duration::from_millis(500))
    }

    /// Waits until this replica holds the lease. False when `stop` came first.
    pub async fn acquire(&self, stop: &mut watch::Receiver<bool>) -> bool {
        let mut waiting_logged = false;
        loop {
            match self.try_hold().await {
                Ok(true) => {
                    info!(lease = %self.name, identity = %self.identity, "became the leader");
                    return true;
                }
                Ok(false) if !waiting_logged => {
                    info!(lease = %self.name, "another replica leads; standing by");
                    waiting_logged = true;
                }
                Ok(false) => {}
                Err(err) => warn!(error = %err, lease = %self.name, "cannot read or take the lease"),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.retry_every()) => {}
                _ = stop.wait_for(|s| *s) => return false,
            }
        }
    }

    /// Renews the lease until `stop` or until it is lost.
    pub async fn hold(&self, stop: &mut watch::Receiver<bool>) -> Term {
        let mut last_renewed = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.renew_every()) => {}
                _ = stop.wait_for(|s| *s) => return Term::Stopped,
            }
            match self.try_hold().await {
                Ok(true) => last_renewed = tokio::time::Instant::now(),
                Ok(false) => {
                    warn!(lease = %self.name, "another replica took the lease");
                    return Term::Lost;
                }
                Err(err) => {
                    warn!(error = %err, lease = %self.name, "cannot renew the lease");
                    if last_renewed.elapsed() >= self.duration {
                        return Term::Lost;
                    }
                }
            }
        }
    }

    /// One attempt to take or renew the lease. Ok(false): another replica holds it.
    async fn try_hold(&self) -> Result<bool, kube::Error> {
        let now = Timestamp::now();
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            let lease =
                Lease { metadata: ObjectMeta { name: Some(self.name.clone()), ..Default::default() }, spec: Some(self.spec(None, now)) };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
                Err(err) => Err(err),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let state = LeaseState {
            holder: spec.holder_identity.clone(),
            renewed: spec.renew_time.as_ref().map(|t| t.0),
            duration: spec.lease_duration_seconds.and_then(|s| u64::try_from(s).ok()).map(Duration::from_secs),
        };
        if !may_hold(&state, &self.identity, now) {
            return Ok(false);
        }
        lease.spec = Some(self.spec(Some(&spec), now));
        match self.api.replace(&self.name, &PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            // Someone wrote it since we read it: they may have taken it. Look again next time.
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(err) => Err(err),
        }
    }

    fn spec(&self, previous: Option<&LeaseSpec>, now: Timestamp) -> LeaseSpec {
        let ours = previous.and_then(|p| p.holder_identity.as_deref()) == Some(self.identity.as_str());
        let transitions = previous.and_then(|p| p.lease_transitions).unwrap_or(0);
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: i32::try_from(self.duration.as_secs().max(1)).ok(),
            acquire_time: if ours { previous.and_then(|p| p.acquire_time.clone()) } else { Some(MicroTime(now)) },
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(if ours || previous.is_none() { transitions } else { transitions + 1 }),
            ..Default::default()
        }
    }

    /// Gives the lease up so a standby replica takes over without waiting for it to expire.
    pub async fn release(&self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.name).await else { return };
        let Some(spec) = lease.spec.as_mut() else { return };
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.renew_time = None;
        match self.api.replace(&self.name, &PostParams::default(), &lease).await {
            Ok(_) => info!(lease = %self.name, "released the lease"),
            Err(err) => warn!(error = %err, lease = %self.name, "cannot release the lease; it expires by itself"),
        }
    }
}

/// This replica's name in the lease: the pod's name when it has one.
pub fn identity() -> String {
    let host = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok().map(|h| h.trim().to_owned()))
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "dynamo-backup-operator".into());
    format!("{host}_{}", std::process::id())
}
