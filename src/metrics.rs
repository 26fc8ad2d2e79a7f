//! Prometheus metrics. Labels stay bounded: kinds, operations and outcomes, never object UIDs.

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, histogram::Histogram},
    registry::Registry,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub kind: &'static str,
    /// The error's stable label (`Error::metric_label`).
    pub error: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AwsLabels {
    pub operation: &'static str,
    /// ok, throttled, transient or terminal.
    pub outcome: &'static str,
}

pub struct Metrics {
    registry: Registry,
    pub reconciles: Family<KindLabels, Counter>,
    pub reconcile_errors: Family<ErrorLabels, Counter>,
    pub reconcile_duration: Family<KindLabels, Histogram>,
    pub aws_requests: Family<AwsLabels, Counter>,
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
        registry.register("aws_requests", "DynamoDB requests, per operation and outcome", aws_requests.clone());
        Self { registry, reconciles, reconcile_errors, reconcile_duration, aws_requests }
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
        assert!(
            text.contains("dynamo_backup_operator_aws_requests_total{operation=\"CreateBackup\",outcome=\"throttled\"} 1"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"));
    }
}
