//! Copy-back's series: items by what became of them, and the capacity it used, by kind.

use std::sync::atomic::AtomicU64;

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family},
    registry::Registry,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CopyBackItemLabels {
    /// compared, missing, differing, written or skipped.
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CapacityLabels {
    /// read or write.
    pub kind: &'static str,
}

#[derive(Clone, Default)]
pub struct CopyBackMetrics {
    pub items: Family<CopyBackItemLabels, Counter>,
    pub capacity: Family<CapacityLabels, Counter<f64, AtomicU64>>,
}

impl CopyBackMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "copy_back_items",
            "Items of restored tables that copy-back compared, found missing or differing, wrote, or skipped",
            metrics.items.clone(),
        );
        registry.register(
            "copy_back_capacity_units",
            "Capacity units copy-back consumed, as DynamoDB reported them: read (both tables) and write (the live table)",
            metrics.capacity.clone(),
        );
        metrics
    }

    pub fn items(&self, result: &'static str, n: usize) {
        self.items.get_or_create(&CopyBackItemLabels { result }).inc_by(n as u64);
    }

    pub fn capacity(&self, kind: &'static str, units: f64) {
        self.capacity.get_or_create(&CapacityLabels { kind }).inc_by(units.max(0.0));
    }
}
