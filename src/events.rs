//! Events: what the operator tells `kubectl describe` and `kubectl events` of its objects.
//!
//! An event is a report of a transition the status already records, so it never holds up a
//! reconcile. The operator's own process queues them (`EventRecorder::queued`) and a few senders
//! post them in the background, as client-go's event broadcaster does: a burst of thousands of
//! backups has its status written as fast as the apiserver takes it, and the events follow. The
//! queue is bounded; what does not fit is dropped and counted
//! (`dynamo_backup_operator_events_dropped_total`), never waited for. The in-memory tests
//! publish inline, so an event is there when the reconcile returns.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use futures::StreamExt;
use k8s_openapi::{
    api::{core::v1::ObjectReference, events::v1::Event},
    apimachinery::pkg::apis::meta::v1::MicroTime,
};
use kube::api::ObjectMeta;
use prometheus_client::metrics::counter::Counter;
use tokio::sync::mpsc;

use crate::cluster::Cluster;

/// Events waiting for a sender, at most (each about a kilobyte).
pub const QUEUE: usize = 4096;
/// Events posted at once.
const SENDERS: usize = 4;

/// Publishes events.k8s.io Events, one object per occurrence. kube's own Recorder keeps every
/// event of the last six minutes in memory to count repeats into a series, and prunes that
/// cache only when it publishes again: after a burst of thousands of backups it held tens of
/// megabytes. The operator's events are transitions, each published once, so a series buys
/// nothing and nothing is kept.
pub struct EventRecorder {
    controller: String,
    instance: String,
    sink: Sink,
}

enum Sink {
    /// Posted by the reconcile itself.
    Inline(Arc<dyn Cluster>),
    Queued(Queue),
}

struct Queue {
    tx: mpsc::Sender<Event>,
    /// Queued or being posted.
    pending: Arc<AtomicUsize>,
    dropped: Counter,
}

impl EventRecorder {
    /// Posts each event before `publish` returns. `instance`: this replica (the pod's name); the
    /// controller's name when unknown.
    pub fn inline(cluster: Arc<dyn Cluster>, controller: &str, instance: Option<String>) -> Self {
        Self::with(controller, instance, Sink::Inline(cluster))
    }

    /// Queues each event (at most `capacity`, the rest counted in `dropped`) for senders that
    /// post them in the background; needs a tokio runtime.
    pub fn queued(cluster: Arc<dyn Cluster>, controller: &str, instance: Option<String>, capacity: usize, dropped: Counter) -> Self {
        let (tx, rx) = mpsc::channel::<Event>(capacity.max(1));
        let pending = Arc::new(AtomicUsize::new(0));
        let sent = pending.clone();
        let events = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|event| (event, rx)) });
        tokio::spawn(events.for_each_concurrent(SENDERS, move |event| {
            let (cluster, sent) = (cluster.clone(), sent.clone());
            async move {
                let reason = event.reason.clone().unwrap_or_default();
                if let Err(err) = cluster.publish(event).await {
                    tracing::warn!(error = %err, reason, "cannot publish an event");
                }
                sent.fetch_sub(1, Ordering::AcqRel);
            }
        }));
        Self::with(controller, instance, Sink::Queued(Queue { tx, pending, dropped }))
    }

    fn with(controller: &str, instance: Option<String>, sink: Sink) -> Self {
        Self { controller: controller.to_owned(), instance: instance.unwrap_or_else(|| controller.to_owned()), sink }
    }

    /// Publishes (or queues) one event about `regarding`.
    pub async fn publish(
        &self,
        regarding: ObjectReference,
        warning: bool,
        reason: &str,
        action: &str,
        note: String,
    ) -> Result<(), kube::Error> {
        let event = self.event(regarding, warning, reason, action, note);
        match &self.sink {
            Sink::Inline(cluster) => cluster.publish(event).await,
            Sink::Queued(queue) => {
                queue.pending.fetch_add(1, Ordering::AcqRel);
                if queue.tx.try_send(event).is_err() {
                    queue.pending.fetch_sub(1, Ordering::AcqRel);
                    let dropped = queue.dropped.inc() + 1;
                    if dropped == 1 || dropped % 1000 == 0 {
                        tracing::warn!(dropped, queue = queue.tx.max_capacity(), "event queue full: events dropped");
                    }
                }
                Ok(())
            }
        }
    }

    /// Waits until every queued event was posted (or failed), at most `within`; whether it did.
    pub async fn flushed(&self, within: Duration) -> bool {
        let Sink::Queued(queue) = &self.sink else { return true };
        let deadline = tokio::time::Instant::now() + within;
        while queue.pending.load(Ordering::Acquire) > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }

    fn event(&self, regarding: ObjectReference, warning: bool, reason: &str, action: &str, note: String) -> Event {
        let now = jiff::Timestamp::now();
        let namespace = regarding.namespace.clone().unwrap_or_else(|| "default".to_owned());
        let name = format!("{}.{:x}", regarding.name.as_deref().unwrap_or(&self.controller), now.as_nanosecond());
        Event {
            metadata: ObjectMeta { name: Some(name), namespace: Some(namespace), ..Default::default() },
            action: Some(action.to_owned()),
            reason: Some(reason.to_owned()),
            note: Some(note),
            type_: Some(if warning { "Warning" } else { "Normal" }.to_owned()),
            event_time: Some(MicroTime(now)),
            regarding: Some(regarding),
            reporting_controller: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone()),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::memory::MemoryCluster;

    fn about(name: &str) -> ObjectReference {
        ObjectReference { name: Some(name.into()), namespace: Some("shop".into()), ..Default::default() }
    }

    #[tokio::test]
    async fn queued_events_are_posted_in_the_background() {
        let cluster = Arc::new(MemoryCluster::default());
        let recorder = EventRecorder::queued(cluster.clone(), "op", None, 16, Counter::default());
        for reason in ["BackupRequested", "BackupAvailable"] {
            recorder.publish(about("orders"), false, reason, "CreateBackup", "note".into()).await.ok();
        }
        assert!(recorder.flushed(Duration::from_secs(5)).await);
        let mut reasons = cluster.event_reasons();
        reasons.sort();
        assert_eq!(reasons, ["BackupAvailable", "BackupRequested"]);
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_counts_instead_of_waiting() {
        let cluster = Arc::new(MemoryCluster::default());
        let dropped = Counter::default();
        let recorder = EventRecorder::queued(cluster.clone(), "op", None, 1, dropped.clone());
        // On this single-threaded runtime the sender does not run before the first await that
        // yields: the first event fills the queue, the other two find it full.
        for n in 0..3 {
            recorder.publish(about(&format!("b{n}")), false, "BackupRequested", "CreateBackup", "note".into()).await.ok();
        }
        assert_eq!(dropped.get(), 2);
        assert!(recorder.flushed(Duration::from_secs(5)).await);
        assert_eq!(cluster.event_reasons(), ["BackupRequested"]);
    }

    #[tokio::test]
    async fn inline_events_are_there_when_publish_returns() {
        let cluster = Arc::new(MemoryCluster::default());
        let recorder = EventRecorder::inline(cluster.clone(), "op", Some("op-0".into()));
        recorder.publish(about("orders"), true, "TableNotFound", "Reconcile", "note".into()).await.ok();
        assert_eq!(cluster.event_reasons(), ["TableNotFound"]);
    }
}
