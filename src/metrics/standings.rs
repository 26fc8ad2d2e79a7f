//! Where each object stands, in kstatus terms, read from the watch caches at scrape time: how
//! many objects of each kind are Ready, Reconciling or Stalled, each stalled object with its
//! reason, and each policy's Ready, for alerts.

use std::{collections::BTreeMap, sync::Mutex};

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeLabelSet},
    metrics::MetricType,
};

use super::labels::PolicyLabels;

/// Where each watched object stands by its kstatus conditions, read from the watch caches at
/// scrape time (so a deleted object is gone at once): counts per kind and state, each Stalled
/// object, and each policy's Ready.
#[derive(Default)]
pub struct Standings(Mutex<Vec<(&'static str, Box<StandingSource>)>>);

/// One object's (namespace, name, state, reason), state one of Ready, Reconciling, Stalled,
/// Unknown.
pub type StandingRow = (String, String, &'static str, String);
type StandingSource = dyn Fn() -> Vec<StandingRow> + Send + Sync;

impl std::fmt::Debug for Standings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Standings")
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindStateLabels {
    kind: &'static str,
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StalledLabels {
    kind: &'static str,
    namespace: String,
    name: String,
    reason: String,
}

impl Standings {
    /// A watch cache of `kind` to read at each scrape.
    pub fn add(&self, kind: &'static str, source: impl Fn() -> Vec<StandingRow> + Send + Sync + 'static) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push((kind, Box::new(source)));
    }
}

impl Collector for Standings {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let sources = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let rows: Vec<(&'static str, StandingRow)> =
            sources.iter().flat_map(|(kind, source)| source().into_iter().map(move |row| (*kind, row))).collect();
        drop(sources);
        let mut counts: BTreeMap<(&'static str, &'static str), i64> = BTreeMap::new();
        for (kind, (_, _, state, _)) in &rows {
            *counts.entry((*kind, *state)).or_insert(0) += 1;
        }
        let mut objects = encoder.encode_descriptor(
            "objects",
            "Objects the operator watches, per kind and kstatus state (Ready, Reconciling, Stalled, Unknown)",
            None,
            MetricType::Gauge,
        )?;
        for ((kind, state), n) in &counts {
            objects.encode_family(&KindStateLabels { kind, state })?.encode_gauge(n)?;
        }
        let mut stalled = encoder.encode_descriptor(
            "stalled_object",
            "1 for each object whose Stalled condition is True, with its reason",
            None,
            MetricType::Gauge,
        )?;
        for (kind, (namespace, name, state, reason)) in &rows {
            if *state == "Stalled" {
                let labels = StalledLabels { kind, namespace: namespace.clone(), name: name.clone(), reason: reason.clone() };
                stalled.encode_family(&labels)?.encode_gauge(&1i64)?;
            }
        }
        let mut ready = encoder.encode_descriptor(
            "policy_ready",
            "1 when a DynamoBackupPolicy's Ready condition is True, else 0",
            None,
            MetricType::Gauge,
        )?;
        for (kind, (namespace, name, state, _)) in &rows {
            if *kind == "DynamoBackupPolicy" {
                let labels = PolicyLabels { namespace: namespace.clone(), policy: name.clone() };
                ready.encode_family(&labels)?.encode_gauge(&i64::from(*state == "Ready"))?;
            }
        }
        Ok(())
    }
}

/// Where an object stands by its conditions: Stalled (with its reason) before Ready before
/// Reconciling; Unknown when it has none yet.
pub fn standing_of(conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition]) -> (&'static str, String) {
    let is = |kind: &str| crate::plan::conditions::holds(conditions, kind);
    if let Some(c) = is("Stalled") {
        ("Stalled", c.reason.clone())
    } else if let Some(c) = is("Ready") {
        ("Ready", c.reason.clone())
    } else if let Some(c) = is("Reconciling") {
        ("Reconciling", c.reason.clone())
    } else {
        ("Unknown", String::new())
    }
}
