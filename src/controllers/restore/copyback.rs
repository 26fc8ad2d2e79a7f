//! `spec.copyBack`, once the new table is ACTIVE and checked: the restored table read chunk by
//! chunk (a Scan, or the spec's keys), each chunk looked up in the live table (BatchGetItem),
//! compared (`plan::copyback`), and what the live table lacks written back. Reads and writes are
//! paced to their budgets from the capacity DynamoDB reports; throttling slows it down. The place
//! and the counts are saved after every chunk, and a chunk's keys before its writes, so a
//! restarted operator resumes where it was and a replayed write finds its key present.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::controller::Action;
use tokio::time::Instant;

use crate::{
    api::{
        CopyBackItems, CopyBackPhase, CopyBackSpec, CopyBackStatus, DynamoRestore,
        facts::{Item, ItemKey, Put, Scope, Table, item_size},
    },
    aws::{AwsError, AwsResult, ErrorClass},
    controllers::{
        Error,
        common::{StatusWriter, publish},
    },
    plan::{
        conditions::{Standing, set_condition},
        copyback::{self as plan, Pace, Write},
        validate::RestoreRequest,
        verify::{key_from_text, key_text},
    },
};

type Writer<'a> = StatusWriter<'a, DynamoRestore>;

/// The condition copy-back reports on.
pub const CONDITION: &str = "CopiedBack";

/// Runs copy-back when it is due. Err: come back with this action (the slice is over, or it
/// stalled).
pub async fn run(w: &mut Writer<'_>, request: &RestoreRequest, scope: &Scope, restored: &Table) -> Result<Result<(), Action>, Error> {
    let Some(spec) = w.obj.spec.copy_back.clone() else { return Ok(Ok(())) };
    let region = w.ctx.region_label(scope.region.as_deref()).to_owned();
    // Checked before any call at the top of the reconcile; checked again here for the keys.
    let keys = match plan::check(&w.obj.spec, request, &region) {
        Ok(keys) => keys,
        Err(refused) => return Ok(Err(refuse(w, refused.reason, refused.message).await?)),
    };
    if let Some(saved) = w.status.copy_back.as_ref().filter(|s| s.dry_run == spec.dry_run && s.phase == Some(CopyBackPhase::Failed)) {
        let message = saved.message.clone().unwrap_or_else(|| "copy-back failed".into());
        return Ok(Err(w.stalled(plan::FAILED, message).await?));
    }
    if !plan::due(Some(&spec), w.status.copy_back.as_ref()) {
        return Ok(Ok(()));
    }
    let account = w.ctx.accounts.of(scope.role_arn.as_deref());
    let into = match plan::into(&spec, w.status.source_table_arn.as_deref(), &region, account.as_deref()) {
        Ok(into) => into,
        Err(refused) => return Ok(Err(refuse(w, refused.reason, refused.message).await?)),
    };
    let namespace = w.obj.metadata.namespace.clone().unwrap_or_default();
    if let Err(denied) = w.ctx.tenancy.check(&namespace, &into, scope.region.as_deref()) {
        return Ok(Err(refuse(w, plan::REFUSED, format!("spec.copyBack.into: {}", denied.0)).await?));
    }
    let Some(live) = w.ctx.dynamo.describe_table(scope, &into).await? else {
        let message = format!(
            "table {into} does not exist in {region}: copy-back writes into an existing table. Create it, or make a new \
             DynamoRestore whose spec.copyBack.into names another"
        );
        return Ok(Err(refuse(w, plan::TARGET_NOT_FOUND, message).await?));
    };
    if plan::key_names(&live.key_schema) != plan::key_names(&restored.key_schema) {
        let message = format!(
            "table {into} is keyed by {:?} and the restored table by {:?}: items cannot be copied between them",
            plan::key_names(&live.key_schema),
            plan::key_names(&restored.key_schema)
        );
        return Ok(Err(refuse(w, plan::REFUSED, message).await?));
    }
    let fresh = w.status.copy_back.as_ref().is_none_or(|s| s.dry_run != spec.dry_run);
    let mut copy = Copy {
        spec: &spec,
        keys,
        scope,
        restored,
        into: &into,
        status: plan::begin(&spec, w.status.copy_back.as_ref(), &into, w.now),
        started: Instant::now(),
        read: Pace::new(spec.max_read_capacity_per_second),
        write: Pace::new(spec.max_write_capacity_per_second),
    };
    if fresh {
        let what = if spec.dry_run { "comparing" } else { "copying back into" };
        publish(&w.ctx.recorder, w.obj, false, "CopyBackStarted", "CopyBack", format!("{what} {into} from {}", restored.name)).await;
        save(w, &copy.status).await?;
    }
    match copy.chunks(w).await {
        Ok(true) => finish(w, &mut copy.status, spec.items).await.map(Ok),
        Ok(false) => {
            let s = &copy.status;
            let message = format!("copying back into {into}: {} compared, {} missing, {} written so far", s.scanned, s.missing, s.written);
            w.write(&Standing::Reconciling { reason: "CopyingBack".into(), message }).await?;
            Ok(Err(Action::requeue(Duration::from_millis(100))))
        }
        Err(Error::Aws(err)) if err.class == ErrorClass::Terminal => Ok(Err(fail(w, &mut copy.status, &err).await?)),
        Err(err) => Err(err),
    }
}

struct Copy<'a> {
    spec: &'a CopyBackSpec,
    keys: Option<Vec<ItemKey>>,
    scope: &'a Scope,
    restored: &'a Table,
    into: &'a str,
    status: CopyBackStatus,
    started: Instant,
    read: Pace,
    write: Pace,
}

impl Copy<'_> {
    /// Chunks until the copy is done (true) or the slice is over (false).
    async fn chunks(&mut self, w: &mut Writer<'_>) -> Result<bool, Error> {
        loop {
            if self.started.elapsed() >= plan::SLICE {
                return Ok(false);
            }
            let done = match self.keys.clone() {
                Some(keys) => self.keys_chunk(w, &keys).await?,
                None => self.scan_page(w).await?,
            };
            if done {
                return Ok(true);
            }
        }
    }

    /// The next chunk of the spec's keys, read from the restored table.
    async fn keys_chunk(&mut self, w: &mut Writer<'_>, keys: &[ItemKey]) -> Result<bool, Error> {
        let from = usize::try_from(self.status.keys_done).unwrap_or(0).min(keys.len());
        let chunk = &keys[from..(from + plan::CHUNK).min(keys.len())];
        if chunk.is_empty() {
            return Ok(true);
        }
        let items = self.read_all(w, &self.restored.name.clone(), chunk).await?;
        let absent = chunk.len() - items.len();
        let whole = self
            .chunk(w, &items, |s| {
                s.keys_done += chunk.len() as i64;
                s.not_in_restored += absent as i64;
            })
            .await?;
        Ok(whole && from + chunk.len() >= keys.len())
    }

    /// The next page of the restored table, chunk by chunk from the saved place.
    async fn scan_page(&mut self, w: &mut Writer<'_>) -> Result<bool, Error> {
        let start = self.status.resume_key.as_deref().and_then(|k| key_from_text(k).ok());
        let restored = self.restored.name.clone();
        let at = self.pace_read().await;
        let page = self.patiently(|| w.ctx.dynamo.scan_items(self.scope, &restored, start.as_ref(), plan::SCAN_PAGE)).await?;
        self.used_read(w, page.consumed, at);
        for chunk in page.items.chunks(plan::CHUNK) {
            let last = chunk.last().and_then(|i| plan::key_of(i, &self.restored.key_schema)).map(|k| key_text(&k));
            let whole = self.chunk(w, chunk, move |s| s.resume_key = last).await?;
            if !whole || self.started.elapsed() >= plan::SLICE {
                return Ok(false);
            }
        }
        Ok(page.next.is_none())
    }

    /// One chunk: compared with the live table (unless its writes were saved as pending before a
    /// restart), written, and the place moved on by `advance`; saved twice around the writes.
    /// false: the slice ended within its writes, the ones left saved as pending.
    async fn chunk(&mut self, w: &mut Writer<'_>, items: &[Item], advance: impl FnOnce(&mut CopyBackStatus)) -> Result<bool, Error> {
        let schema = &self.restored.key_schema;
        let writes = if self.status.pending.is_empty() {
            let keys: Vec<ItemKey> = items.iter().filter_map(|i| plan::key_of(i, schema)).collect();
            let into = self.into;
            let live = self.read_all(w, into, &keys).await?;
            let compared = plan::compare(items, &live, schema);
            plan::record(&mut self.status, items.len(), &compared, schema);
            if self.spec.items == CopyBackItems::Listed && !self.spec.dry_run {
                self.status.skipped += compared.equal as i64;
            }
            let metrics = &w.ctx.metrics.copy_back;
            metrics.items("compared", items.len());
            metrics.items("missing", compared.missing.len());
            metrics.items("differing", compared.differing.len());
            let writes = plan::writes(self.spec.items, self.spec.dry_run, &compared);
            if !writes.is_empty() {
                self.status.pending = writes.iter().filter_map(|wr| plan::key_of(&wr.item, schema)).map(|k| key_text(&k)).collect();
                save(w, &self.status).await?;
            }
            writes
        } else {
            // Written (some of them) before a restart: again, each finding its key present.
            let only_if_absent = self.spec.items == CopyBackItems::Missing;
            items
                .iter()
                .filter(|i| plan::key_of(i, schema).is_some_and(|k| self.status.pending.contains(&key_text(&k))))
                .map(|item| Write { item: item.clone(), only_if_absent })
                .collect()
        };
        for (done, write) in writes.iter().enumerate() {
            self.put(w, write).await?;
            let left = &writes[done + 1..];
            if !left.is_empty() && self.started.elapsed() >= plan::SLICE {
                self.status.pending = left.iter().filter_map(|wr| plan::key_of(&wr.item, schema)).map(|k| key_text(&k)).collect();
                save(w, &self.status).await?;
                return Ok(false);
            }
        }
        self.status.pending.clear();
        advance(&mut self.status);
        save(w, &self.status).await?;
        Ok(true)
    }

    async fn put(&mut self, w: &Writer<'_>, write: &Write) -> Result<(), Error> {
        let names = plan::key_names(&self.restored.key_schema);
        let absent = write.only_if_absent.then_some(names.as_slice());
        let at = self.pace_write().await;
        let into = self.into;
        match self.patiently(|| w.ctx.dynamo.put_item(self.scope, into, &write.item, absent)).await? {
            Put::Written { consumed } => {
                self.status.written += 1;
                self.used_write(w, consumed, at);
                w.ctx.metrics.copy_back.items("written", 1);
            }
            Put::Present => {
                // A refused conditional write is billed too, by the item's size.
                self.status.skipped += 1;
                self.used_write(w, item_size(&write.item).div_ceil(1024).max(1) as f64, at);
                w.ctx.metrics.copy_back.items("skipped", 1);
            }
        }
        Ok(())
    }

    /// Every item of `keys` that `table` holds: BatchGetItem again for what it left unprocessed.
    async fn read_all(&mut self, w: &Writer<'_>, table: &str, keys: &[ItemKey]) -> Result<Vec<Item>, Error> {
        let mut items = Vec::with_capacity(keys.len());
        let mut wanted = keys.to_vec();
        let mut attempt = 0;
        while !wanted.is_empty() {
            let at = self.pace_read().await;
            let read = self.patiently(|| w.ctx.dynamo.batch_get(self.scope, table, &wanted)).await?;
            self.used_read(w, read.consumed, at);
            items.extend(read.items);
            if !read.unprocessed.is_empty() {
                tokio::time::sleep(plan::backoff(attempt)).await;
                attempt += 1;
            }
            wanted = read.unprocessed;
        }
        Ok(items)
    }

    /// A call again after throttling, backing off, until the slice is over.
    async fn patiently<T, F, Fut>(&self, mut call: F) -> AwsResult<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = AwsResult<T>>,
    {
        let mut attempt = 0;
        loop {
            match call().await {
                Err(err) if err.class == ErrorClass::Throttled && self.started.elapsed() < plan::SLICE => {
                    tracing::debug!(error = %err, attempt, "copy-back throttled: backing off");
                    tokio::time::sleep(plan::backoff(attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Waits until the read budget is free; the moment the call is made, to count its units
    /// from (counted from its answer, each call's own time would slow the pace below the budget).
    async fn pace_read(&self) -> Duration {
        tokio::time::sleep(self.read.wait(self.started.elapsed())).await;
        self.started.elapsed()
    }

    async fn pace_write(&self) -> Duration {
        tokio::time::sleep(self.write.wait(self.started.elapsed())).await;
        self.started.elapsed()
    }

    fn used_read(&mut self, w: &Writer<'_>, units: f64, at: Duration) {
        self.read.spend(units, at);
        self.status.consumed_read_capacity += units;
        w.ctx.metrics.copy_back.capacity("read", units);
    }

    fn used_write(&mut self, w: &Writer<'_>, units: f64, at: Duration) {
        self.write.spend(units, at);
        self.status.consumed_write_capacity += units;
        w.ctx.metrics.copy_back.capacity("write", units);
    }
}

async fn save(w: &mut Writer<'_>, status: &CopyBackStatus) -> Result<(), Error> {
    w.status.copy_back = Some(status.clone());
    w.save().await
}

/// Done: Completed, the `CopiedBack` condition, an event. The clock is read again: the copy's
/// end is measured.
async fn finish(w: &mut Writer<'_>, status: &mut CopyBackStatus, items: CopyBackItems) -> Result<(), Error> {
    let now = w.ctx.clock.now();
    status.phase = Some(CopyBackPhase::Completed);
    status.completed_at = Some(Time(now));
    status.resume_key = None;
    let message = plan::summary(status, items);
    status.message = Some(message.clone());
    condition(w, true, if status.dry_run { "Compared" } else { "CopiedBack" }, &message, now);
    save(w, status).await?;
    publish(&w.ctx.recorder, w.obj, false, if status.dry_run { "CopyBackCompared" } else { "CopiedBack" }, "CopyBack", message).await;
    Ok(())
}

/// An AWS refusal that a retry cannot cure: Failed, with what it needs.
async fn fail(w: &mut Writer<'_>, status: &mut CopyBackStatus, err: &AwsError) -> Result<Action, Error> {
    let hint = if err.code.as_deref().is_some_and(|c| c.contains("AccessDenied")) {
        " (copy-back needs dynamodb:Scan and dynamodb:BatchGetItem on the restored table, dynamodb:BatchGetItem and dynamodb:PutItem on the live one)"
    } else {
        ""
    };
    let message = format!("copy-back stopped after {} items written: {err}{hint}", status.written);
    status.phase = Some(CopyBackPhase::Failed);
    status.message = Some(message.clone());
    w.status.copy_back = Some(status.clone());
    let now = w.now;
    condition(w, false, plan::FAILED, &message, now);
    w.stalled(plan::FAILED, message).await
}

/// Refused before anything was read: `CopiedBack=False` and Stalled with the reason.
async fn refuse(w: &mut Writer<'_>, reason: &'static str, message: String) -> Result<Action, Error> {
    let now = w.now;
    condition(w, false, reason, &message, now);
    w.stalled(reason, message).await
}

fn condition(w: &mut Writer<'_>, ok: bool, reason: &str, message: &str, now: Timestamp) {
    let generation = w.obj.metadata.generation;
    w.status.conditions = set_condition(&w.status.conditions, CONDITION, ok, reason, message, generation, &Time(now));
}
