//! Series read at scrape time rather than kept as counters: seconds since each table's latest
//! restorable time, and the tables of each listed region that no policy protects.

use std::{collections::BTreeMap, sync::Mutex};

use jiff::Timestamp;
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeLabelSet},
    metrics::MetricType,
};

use super::labels::TableLabels;

/// The latest restorable time of each table a policy watches with PITR on, as last read from
/// DynamoDB; a scrape reports how many seconds ago that is. The value grows between reads (a
/// policy reads PITR on every reconcile, at least every 5 minutes), so it is an upper bound of
/// what a restore to the latest restorable time would miss.
#[derive(Debug, Default)]
pub struct LatestRestorable(Mutex<BTreeMap<TableLabels, Timestamp>>);

impl LatestRestorable {
    pub fn set(&self, table: TableLabels, latest: Option<Timestamp>) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match latest {
            Some(latest) => map.insert(table, latest),
            None => map.remove(&table),
        };
    }

    fn snapshot(&self) -> Vec<(TableLabels, Timestamp)> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|(k, v)| (k.clone(), *v)).collect()
    }
}

impl Collector for LatestRestorable {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let tables = self.snapshot();
        if tables.is_empty() {
            return Ok(());
        }
        let now = Timestamp::now();
        let mut metric = encoder.encode_descriptor(
            "seconds_since_latest_restorable_time",
            "Seconds since the latest restorable time of a PITR-protected table, as last read",
            None,
            MetricType::Gauge,
        )?;
        for (labels, latest) in &tables {
            let seconds = now.duration_since(*latest).as_secs_f64().max(0.0);
            metric.encode_family(labels)?.encode_gauge(&seconds)?;
        }
        Ok(())
    }
}

/// The tables of each listed region that no policy protects, from the last listing: a count per
/// region and reason, and one series per table (at most `UNPROTECTED_LISTED` per region).
#[derive(Debug, Default)]
pub struct Unprotected(Mutex<BTreeMap<(String, String), Listed>>);

/// A listing's unprotected tables, each with why.
type Listed = Vec<(String, &'static str)>;

/// Tables listed one by one per region; the counts cover all of them.
pub const UNPROTECTED_LISTED: usize = 500;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UnprotectedLabels {
    account: String,
    region: String,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UnprotectedTableLabels {
    account: String,
    region: String,
    table: String,
    reason: &'static str,
}

impl Unprotected {
    /// The last listing of `account`'s tables in `region`.
    pub fn set(&self, account: &str, region: &str, tables: Vec<(String, &'static str)>) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert((account.to_owned(), region.to_owned()), tables);
    }
}

impl Collector for Unprotected {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let regions = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if regions.is_empty() {
            return Ok(());
        }
        let mut counts = encoder.encode_descriptor(
            "unprotected_tables",
            "Tables of a listed region that no policy covers (NoPolicy) or whose PITR is off (PointInTimeRecoveryOff), within the tenancy file's tables",
            None,
            MetricType::Gauge,
        )?;
        for ((account, region), tables) in &regions {
            for reason in [crate::plan::selector::NO_POLICY, crate::plan::selector::PITR_OFF] {
                let n = i64::try_from(tables.iter().filter(|(_, r)| *r == reason).count()).unwrap_or(i64::MAX);
                let labels = UnprotectedLabels { account: account.clone(), region: region.clone(), reason };
                counts.encode_family(&labels)?.encode_gauge(&n)?;
            }
        }
        let mut each = encoder.encode_descriptor(
            "unprotected_table",
            "1 for each table of unprotected_tables (at most 500 per region)",
            None,
            MetricType::Gauge,
        )?;
        for ((account, region), tables) in &regions {
            for (table, reason) in tables.iter().take(UNPROTECTED_LISTED) {
                let labels = UnprotectedTableLabels { account: account.clone(), region: region.clone(), table: table.clone(), reason };
                each.encode_family(&labels)?.encode_gauge(&1i64)?;
            }
        }
        Ok(())
    }
}
