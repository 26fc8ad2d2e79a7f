//! Copy-back (`DynamoRestore.spec.copyBack`) as decisions: whether one is due, the live table it
//! writes into, what a page of the restored table lacks in the live one and which of it is
//! written, how the counts grow, how reads and writes are paced to their budgets, and what the
//! condition says at the end.

use std::{collections::BTreeMap, time::Duration};

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::{
    tables::TableRef,
    validate::{Invalid, RestoreRequest, Source},
    verify::{key_text, parse_key},
};
use crate::api::{
    CopyBackItems, CopyBackPhase, CopyBackSpec, CopyBackStatus, DynamoRestoreSpec,
    facts::{Item, ItemKey, KeyRole},
};

/// Items per Scan page of the restored table (a page reads at most 1 MB anyway).
pub const SCAN_PAGE: i32 = 1000;

/// Keys per BatchGetItem (DynamoDB's maximum), and so per step saved in status.
pub const CHUNK: usize = 100;

/// How long one reconcile copies before it saves its place and yields its slot.
pub const SLICE: Duration = Duration::from_secs(20);

/// Keys kept in `sampleMissing` and `sampleDiffering`.
pub const SAMPLE: usize = 20;

pub const REFUSED: &str = "CopyBackRefused";
pub const TARGET_NOT_FOUND: &str = "CopyBackTargetNotFound";
pub const FAILED: &str = "CopyBackFailed";

fn refused(message: String) -> Invalid {
    Invalid { reason: REFUSED, message }
}

/// A copy-back spec, checked before any AWS call: the keys parse, `Listed` has keys, and the
/// live table named (or implied by the source) is in the restore's region.
pub fn check(spec: &DynamoRestoreSpec, request: &RestoreRequest, region: &str) -> Result<Option<Vec<ItemKey>>, Invalid> {
    let Some(copy) = &spec.copy_back else { return Ok(None) };
    let keys = match &copy.keys {
        Some(keys) => Some(
            keys.iter()
                .enumerate()
                .map(|(i, k)| parse_key(k).map_err(|e| refused(format!("spec.copyBack.keys[{i}]: {e}"))))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        None => None,
    };
    if copy.into.as_deref() == Some(spec.target_table_name.as_str()) {
        return Err(refused(format!(
            "spec.copyBack.into names the restored table {} itself: name the live table to write into",
            spec.target_table_name
        )));
    }
    if copy.items == CopyBackItems::Listed && keys.as_ref().is_none_or(Vec::is_empty) {
        return Err(refused("spec.copyBack.items Listed overwrites exactly spec.copyBack.keys, and there are none: list them".into()));
    }
    if copy.into.is_none()
        && let Some((table, Some(source_region))) = source_table(request)
        && source_region != region
    {
        return Err(refused(format!(
            "the source table {table} is in {source_region}, and copy-back writes only within the restore's region {region}; \
             restore into {source_region}, or name spec.copyBack.into"
        )));
    }
    Ok(keys)
}

/// The source table as the spec names it, with its region when the spec says.
fn source_table(request: &RestoreRequest) -> Option<(String, Option<String>)> {
    match &request.source {
        Source::PointInTime { table, .. } => Some((table.name.clone(), table.region.clone())),
        Source::BackupArn { region, table, .. } => Some((table.clone(), Some(region.clone()))),
        Source::BackupRef(_) | Source::RecoveryPoint { .. } => None,
    }
}

/// The live table to write into: `into`, else the source table as the restore recorded it,
/// which must be in the restore's region and in the account its calls go to (`account`, when
/// known): a restore of another account's copy names `into`.
pub fn into(copy: &CopyBackSpec, source_table_arn: Option<&str>, region: &str, account: Option<&str>) -> Result<String, Invalid> {
    if let Some(into) = &copy.into {
        return Ok(into.clone());
    }
    let Some(source) = source_table_arn.and_then(|arn| TableRef::parse(arn).ok()) else {
        return Err(refused("the source table of this restore is not known (a recovery point names none): name spec.copyBack.into".into()));
    };
    match (source.region.as_deref(), source.account.as_deref()) {
        (Some(r), _) if r != region => Err(refused(format!(
            "the source table {} is in {r}, and copy-back writes only within the restore's region {region}: name spec.copyBack.into",
            source.name
        ))),
        (_, Some(a)) if account.is_some_and(|ours| ours != a) => Err(refused(format!(
            "the source table {} is in account {a}, and this restore's calls go to account {}: copy-back writes only there; \
             name spec.copyBack.into",
            source.name,
            account.unwrap_or_default()
        ))),
        _ => Ok(source.name),
    }
}

/// Whether copy-back has work: asked for, and not finished for the spec's `dryRun`.
pub fn due(spec: Option<&CopyBackSpec>, status: Option<&CopyBackStatus>) -> bool {
    match (spec, status) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(spec), Some(status)) => {
            status.dry_run != spec.dry_run || !matches!(status.phase, Some(CopyBackPhase::Completed | CopyBackPhase::Failed))
        }
    }
}

/// The status a run starts from: the saved one when it is this `dryRun`'s, else a fresh one
/// (a dry run's figures give way to the writing run's).
pub fn begin(spec: &CopyBackSpec, saved: Option<&CopyBackStatus>, into: &str, now: Timestamp) -> CopyBackStatus {
    match saved {
        Some(saved) if saved.dry_run == spec.dry_run && saved.started_at.is_some() => saved.clone(),
        _ => CopyBackStatus {
            phase: Some(if spec.dry_run { CopyBackPhase::Comparing } else { CopyBackPhase::Writing }),
            dry_run: spec.dry_run,
            into: Some(into.to_owned()),
            started_at: Some(Time(now)),
            ..Default::default()
        },
    }
}

/// An item's primary key under `key_schema`; None when the item lacks it.
pub fn key_of(item: &Item, key_schema: &[(String, KeyRole)]) -> Option<ItemKey> {
    key_schema.iter().map(|(name, _)| Some((name.clone(), item.get(name)?.as_key()?))).collect()
}

/// The key attributes' names, for the condition that a key is absent.
pub fn key_names(key_schema: &[(String, KeyRole)]) -> Vec<String> {
    key_schema.iter().map(|(name, _)| name.clone()).collect()
}

/// What a chunk of the restored table is, against the live table.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Compared {
    /// In the restored table, not in the live one.
    pub missing: Vec<Item>,
    /// In both, with other values (the restored one).
    pub differing: Vec<Item>,
    /// In both, the same.
    pub equal: usize,
}

pub fn compare(restored: &[Item], live: &[Item], key_schema: &[(String, KeyRole)]) -> Compared {
    let live: BTreeMap<String, &Item> = live.iter().filter_map(|i| Some((key_text(&key_of(i, key_schema)?), i))).collect();
    let mut out = Compared::default();
    for item in restored {
        let Some(key) = key_of(item, key_schema) else { continue };
        match live.get(&key_text(&key)) {
            None => out.missing.push(item.clone()),
            Some(now) if *now != item => out.differing.push(item.clone()),
            Some(_) => out.equal += 1,
        }
    }
    out
}

/// One write of a copy-back: the item, and whether only where its key is absent.
#[derive(Clone, Debug, PartialEq)]
pub struct Write {
    pub item: Item,
    pub only_if_absent: bool,
}

/// The writes a compared chunk makes: none on a dry run; the missing items, each only where its
/// key is still absent, for `Missing`; for `Listed`, missing and differing, overwriting.
pub fn writes(items: CopyBackItems, dry_run: bool, compared: &Compared) -> Vec<Write> {
    if dry_run {
        return Vec::new();
    }
    let missing = compared.missing.iter().map(|item| Write { item: item.clone(), only_if_absent: items == CopyBackItems::Missing });
    match items {
        CopyBackItems::Missing => missing.collect(),
        CopyBackItems::Listed => {
            missing.chain(compared.differing.iter().map(|item| Write { item: item.clone(), only_if_absent: false })).collect()
        }
    }
}

/// Adds a compared chunk of `read` items to the counts and samples.
pub fn record(status: &mut CopyBackStatus, read: usize, compared: &Compared, key_schema: &[(String, KeyRole)]) {
    status.scanned += read as i64;
    status.missing += compared.missing.len() as i64;
    status.differing += compared.differing.len() as i64;
    sample(&mut status.sample_missing, &compared.missing, key_schema);
    sample(&mut status.sample_differing, &compared.differing, key_schema);
}

fn sample(into: &mut Vec<String>, items: &[Item], key_schema: &[(String, KeyRole)]) {
    let room = SAMPLE.saturating_sub(into.len());
    into.extend(items.iter().filter_map(|i| key_of(i, key_schema)).take(room).map(|k| key_text(&k)));
}

/// Paces one kind of capacity to `per_second`: each use moves the moment the budget is free
/// again, and a call waits until then. Moments are measured from the start of the slice.
#[derive(Clone, Debug, PartialEq)]
pub struct Pace {
    per_second: f64,
    free_at: Duration,
}

impl Pace {
    pub fn new(per_second: u32) -> Self {
        Self { per_second: f64::from(per_second.max(1)), free_at: Duration::ZERO }
    }

    /// How long a call made at `elapsed` waits for the budget.
    pub fn wait(&self, elapsed: Duration) -> Duration {
        self.free_at.saturating_sub(elapsed)
    }

    /// `units` of capacity used at `elapsed`.
    pub fn spend(&mut self, units: f64, elapsed: Duration) {
        let cost = Duration::from_secs_f64((units.max(0.0) / self.per_second).min(3600.0));
        self.free_at = self.free_at.max(elapsed) + cost;
    }
}

/// The pause before trying again after DynamoDB throttled (or left keys unprocessed) `attempt`
/// times in a row: doubling from 100 ms, at most 10 s. Throttling slows a copy-back; it does
/// not fail it.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1u64 << attempt.min(7))).min(Duration::from_secs(10))
}

/// What the `CopiedBack` condition and the events say once it is done.
pub fn summary(status: &CopyBackStatus, items: CopyBackItems) -> String {
    let into = status.into.as_deref().unwrap_or("the live table");
    let listed = if status.not_in_restored > 0 {
        format!("; {} listed keys are not in the restored table", status.not_in_restored)
    } else {
        String::new()
    };
    if status.dry_run {
        let fix = match items {
            CopyBackItems::Missing => "set spec.copyBack.dryRun: false to write the missing ones",
            CopyBackItems::Listed => "set spec.copyBack.dryRun: false to overwrite the listed ones",
        };
        return format!(
            "dry run: {} items compared, {} missing from {into}, {} differing; nothing written{listed}. {fix}",
            status.scanned, status.missing, status.differing
        );
    }
    let left = match items {
        CopyBackItems::Missing => format!(", {} differing left as they are", status.differing),
        CopyBackItems::Listed => String::new(),
    };
    format!(
        "wrote {} items into {into} ({} items compared, {} missing{left}, {} skipped: present by the time of the write){listed}",
        status.written, status.scanned, status.missing, status.skipped
    )
}

#[cfg(test)]
mod tests;
