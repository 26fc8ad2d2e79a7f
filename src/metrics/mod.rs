//! Prometheus metrics: the registry and its counters, gauges and histograms here, the series
//! read at scrape time in `collectors` and `standings`. Labels stay bounded: kinds, operations,
//! outcomes and the names of policies and tables, never object UIDs. docs/operations.md lists
//! every series.

mod collectors;
mod copyback;
mod labels;
mod standings;

pub use collectors::{LatestRestorable, UNPROTECTED_LISTED, Unprotected};
pub use copyback::CopyBackMetrics;
pub use labels::{AwsLabels, ErrorLabels, KindLabels, PolicyLabels, PolicyTableLabels, RestoreLabels, TableLabels, VerifyLabels};
pub use standings::{StandingRow, Standings, standing_of};

use std::sync::Arc;

use prometheus_client::{
    encoding::text::encode,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

pub struct Metrics {
    registry: Registry,
    pub reconciles: Family<KindLabels, Counter>,
    pub reconcile_errors: Family<ErrorLabels, Counter>,
    pub reconcile_duration: Family<KindLabels, Histogram>,
    pub aws_requests: Family<AwsLabels, Counter>,
    pub last_successful_backup: Family<PolicyTableLabels, Gauge>,
    pub retention_deletions: Family<PolicyLabels, Counter>,
    pub restore_duration: Family<RestoreLabels, Histogram>,
    pub verifications: Family<VerifyLabels, Counter>,
    pub verification_duration: Histogram,
    pub latest_restorable: Arc<LatestRestorable>,
    pub drill_last_result: Family<PolicyTableLabels, Gauge>,
    pub drill_last_run: Family<PolicyTableLabels, Gauge>,
    pub drill_data_age: Family<PolicyTableLabels, Gauge>,
    pub drill_restore_duration: Family<PolicyLabels, Histogram>,
    pub table_backup_bytes: Family<PolicyTableLabels, Gauge>,
    pub table_size_bytes: Family<TableLabels, Gauge>,
    pub unprotected: Arc<Unprotected>,
    pub standings: Arc<Standings>,
    pub copy_back: CopyBackMetrics,
    pub events_dropped: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("dynamo_backup_operator");
        let reconciles = Family::<KindLabels, Counter>::default();
        registry.register("reconciles", "Reconciles run, per kind", reconciles.clone());
        let reconcile_errors = Family::<ErrorLabels, Counter>::default();
        registry.register("reconcile_errors", "Reconciles that ended in an error, per kind and error", reconcile_errors.clone());
        let reconcile_duration = Family::<KindLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0])
        });
        registry.register("reconcile_duration_seconds", "How long reconciles take, per kind", reconcile_duration.clone());
        let aws_requests = Family::<AwsLabels, Counter>::default();
        registry.register("aws_requests", "AWS requests (DynamoDB and AWS Backup), per operation and outcome", aws_requests.clone());
        let last_successful_backup = Family::<PolicyTableLabels, Gauge>::default();
        registry.register(
            "last_successful_backup_timestamp_seconds",
            "Creation time (Unix seconds) of the newest Available backup a policy holds, per table",
            last_successful_backup.clone(),
        );
        let retention_deletions = Family::<PolicyLabels, Counter>::default();
        registry.register("retention_deletions", "DynamoBackups deleted by a policy's retention", retention_deletions.clone());
        let restore_duration = Family::<RestoreLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0, 14400.0])
        });
        registry.register(
            "restore_duration_seconds",
            "From the restore call (or the DynamoRestore's creation) to the new table ACTIVE with the after-restore steps done",
            restore_duration.clone(),
        );
        let verifications = Family::<VerifyLabels, Counter>::default();
        registry.register("restore_verifications", "Checks of restored tables (spec.verify), per result", verifications.clone());
        let verification_duration = Histogram::new([1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 14400.0]);
        registry.register(
            "restore_verification_duration_seconds",
            "How long the checks of a restored table took (the count, paced, and the keys)",
            verification_duration.clone(),
        );
        let latest_restorable = Arc::new(LatestRestorable::default());
        registry.register_collector(Box::new(latest_restorable.clone()));
        let drill_last_result = Family::<PolicyTableLabels, Gauge>::default();
        registry.register(
            "drill_last_result",
            "The last finished restore drill of each table of a policy: 1 passed, 0 failed",
            drill_last_result.clone(),
        );
        let drill_last_run = Family::<PolicyTableLabels, Gauge>::default();
        registry.register(
            "drill_last_run_timestamp_seconds",
            "When the last finished restore drill of each table started (Unix seconds)",
            drill_last_run.clone(),
        );
        let drill_data_age = Family::<PolicyTableLabels, Gauge>::default();
        registry.register(
            "drill_data_age_seconds",
            "How old the data the last finished drill of each table restored was when it started (RPO at drill time)",
            drill_data_age.clone(),
        );
        let drill_restore_duration = Family::<PolicyLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0, 14400.0])
        });
        registry.register(
            "drill_restore_duration_seconds",
            "Restore drills: from the restore call to the new table usable (RTO measured), per policy",
            drill_restore_duration.clone(),
        );
        let table_backup_bytes = Family::<PolicyTableLabels, Gauge>::default();
        registry.register(
            "backup_bytes",
            "Size of a policy's Available backups of a table, summed (what backup storage is billed on)",
            table_backup_bytes.clone(),
        );
        let table_size_bytes = Family::<TableLabels, Gauge>::default();
        registry.register(
            "table_size_bytes",
            "A protected table's size as DynamoDB reports it (what PITR is billed on; refreshed about every six hours in AWS)",
            table_size_bytes.clone(),
        );
        let unprotected = Arc::new(Unprotected::default());
        registry.register_collector(Box::new(unprotected.clone()));
        let standings = Arc::new(Standings::default());
        registry.register_collector(Box::new(standings.clone()));
        let copy_back = CopyBackMetrics::register(&mut registry);
        let events_dropped = Counter::default();
        registry.register(
            "events_dropped",
            "Events not published because the queue of events waiting for the apiserver was full",
            events_dropped.clone(),
        );
        Self {
            registry,
            reconciles,
            reconcile_errors,
            reconcile_duration,
            aws_requests,
            last_successful_backup,
            retention_deletions,
            restore_duration,
            verifications,
            verification_duration,
            latest_restorable,
            drill_last_result,
            drill_last_run,
            drill_data_age,
            drill_restore_duration,
            table_backup_bytes,
            table_size_bytes,
            unprotected,
            standings,
            copy_back,
            events_dropped,
        }
    }
}

impl Metrics {
    /// The registry in the Prometheus text format.
    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// Every AWS call of the adapters is counted here.
impl crate::aws::CallObserver for Metrics {
    fn call_finished(&self, _service: crate::aws::Service, operation: &'static str, outcome: &'static str) {
        self.aws_requests.get_or_create(&AwsLabels { operation, outcome }).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_registered_families() {
        let metrics = Metrics::default();
        metrics.reconciles.get_or_create(&KindLabels { kind: "DynamoBackup" }).inc();
        metrics.aws_requests.get_or_create(&AwsLabels { operation: "CreateBackup", outcome: "throttled" }).inc();
        let text = metrics.render().expect("encoding to a String cannot fail");
        assert!(text.contains("dynamo_backup_operator_reconciles_total{kind=\"DynamoBackup\"} 1"), "{text}");
        assert!(text.contains("dynamo_backup_operator_aws_requests_total{operation=\"CreateBackup\",outcome=\"throttled\"} 1"), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn reports_seconds_since_the_latest_restorable_time_at_scrape() {
        let metrics = Metrics::default();
        let table = TableLabels { account: "123456789012".into(), region: "eu-west-1".into(), table: "Orders".into() };
        let latest = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(300);
        metrics.latest_restorable.set(table.clone(), Some(latest));
        let text = metrics.render().expect("encoding to a String cannot fail");
        let line = text
            .lines()
            .find(|l| l.starts_with("dynamo_backup_operator_seconds_since_latest_restorable_time{"))
            .unwrap_or_else(|| panic!("no series in {text}"));
        assert!(line.contains("region=\"eu-west-1\",table=\"Orders\""), "{line}");
        let value: f64 = line.rsplit(' ').next().and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{line}"));
        assert!((300.0..360.0).contains(&value), "{line}");

        metrics.latest_restorable.set(table, None);
        let text = metrics.render().expect("encoding to a String cannot fail");
        assert!(!text.contains("seconds_since_latest_restorable_time"), "PITR off: no series\n{text}");
    }
}
