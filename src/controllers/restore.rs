//! DynamoRestore: a NEW table from a backup or a point in time, never an overwrite.
//!
//! Pending (source resolved and checked) -> Restoring (table CREATING) -> Finalizing (the
//! after-restore steps, each recorded once done) -> Completed. The intent (start time and
//! source) is written to status before the restore call, so after a crash an existing target
//! that DynamoDB says was restored from our source after that moment is adopted, not refused.

use std::{sync::Arc, time::Duration};

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{ResourceExt, runtime::controller::Action};

use super::{
    Error,
    common::{FINALIZER, Reported, StatusWriter, delete_once, now, publish, set_finalizer},
};
use crate::api::facts::{IndexDef, RestoreFrom, Scope, Table, Tags};
use crate::aws::{AwsError, ErrorClass, Lane};
use crate::plan::arns::recovery_point_region;
use crate::{
    api::{
        BackupMethod, BackupPhase, CopyState, DeletionPolicy, DynamoBackup, DynamoRestore, DynamoRestoreStatus, RestorePhase,
        TimeToLiveMode, VerificationResult,
    },
    awsbackup::{JobState, RestoreJobRequest},
    cluster,
    context::Context,
    metrics::{RestoreLabels, VerifyLabels},
    plan::{
        backup::creating_poll,
        conditions::{self, Standing, set_condition},
        reasons,
        restore::{
            STEP_DELETION_PROTECTION, STEP_PITR, STEP_TAGS, STEP_TTL, Target, check_window, classify_target, expires_in, pitr_source,
            table_overrides,
        },
        tables::TableRef,
        validate::{self, RestoreRequest, Source},
        verify as verifying,
    },
};

pub const KIND: &str = "DynamoRestore";

/// How often a restore waiting for its DynamoBackup looks again.
const WAIT_FOR_BACKUP: Duration = Duration::from_secs(5);

type Writer<'a> = StatusWriter<'a, DynamoRestore>;

impl Reported for DynamoRestore {
    type Status = DynamoRestoreStatus;

    fn current_status(&self) -> DynamoRestoreStatus {
        self.status.clone().unwrap_or_default()
    }

    fn has_status(&self) -> bool {
        self.status.is_some()
    }

    fn conditions(status: &mut DynamoRestoreStatus) -> &mut Vec<Condition> {
        &mut status.conditions
    }

    fn observed_generation(status: &mut DynamoRestoreStatus) -> &mut Option<i64> {
        &mut status.observed_generation
    }

    fn mark_stalled(status: &mut DynamoRestoreStatus) {
        if status.phase != Some(RestorePhase::Completed) {
            status.phase = Some(RestorePhase::Failed);
        }
    }
}

pub async fn reconcile(obj: Arc<DynamoRestore>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = obj.namespace().ok_or(Error::MissingMetadata("namespace"))?;
    let mut w = StatusWriter::new(obj.as_ref(), &ctx);
    match reconcile_with(&mut w, &namespace).await {
        Err(Error::Dynamo(err)) => Err(w.retrying(err).await),
        Ok(action) if obj.metadata.deletion_timestamp.is_none() => expire(&mut w).await.map(|a| a.unwrap_or(action)),
        other => other,
    }
}

/// `ttlAfterFinished`: a finished restore (Completed, or Failed since its Stalled condition)
/// deletes itself once that long has passed, its finalizer dropping the table when
/// `deletionPolicy: Delete`; before then, it is looked at again when it is due.
async fn expire(w: &mut Writer<'_>) -> Result<Option<Action>, Error> {
    let Some(ttl) = w.obj.spec.ttl_after_finished.as_deref().and_then(|t| humantime::parse_duration(t).ok()) else {
        return Ok(None);
    };
    let finished_at = match w.status.phase {
        Some(RestorePhase::Completed) => w.status.completed_at.as_ref().map(|t| t.0),
        Some(RestorePhase::Failed) => conditions::stalled(&w.status.conditions).map(|c| c.last_transition_time.0),
        _ => None,
    };
    let Some(finished_at) = finished_at else { return Ok(None) };
    if let Some(wait) = expires_in(finished_at, ttl, Timestamp::now()) {
        return Ok(Some(Action::requeue(wait)));
    }
    let (name, namespace) = (w.obj.name_any(), w.obj.namespace().unwrap_or_default());
    if !delete_once::<DynamoRestore>(w.ctx.cluster.as_ref(), &namespace, &name).await? {
        return Ok(Some(Action::await_change()));
    }
    let ttl_text = w.obj.spec.ttl_after_finished.clone().unwrap_or_default();
    publish(&w.ctx.recorder, w.obj, false, "Expired", "Delete", format!("finished {ttl_text} ago (ttlAfterFinished): deleted")).await;
    Ok(Some(Action::await_change()))
}

/// Who makes the new table: DynamoDB from a native backup or a PITR window, or AWS Backup
/// from a recovery point.
enum Via {
    Dynamo(RestoreFrom),
    AwsBackup { recovery_point: String },
}

/// The source, resolved: what to pass to DynamoDB or AWS Backup and what to remember of it.
struct Resolved {
    from: Via,
    backup_arn: Option<String>,
    table_arn: Option<String>,
    restore_time: Option<Timestamp>,
    global_indexes: Vec<IndexDef>,
    local_indexes: Vec<IndexDef>,
}

async fn reconcile_with(w: &mut Writer<'_>, namespace: &str) -> Result<Action, Error> {
    let (obj, ctx) = (w.obj, w.ctx);
    let request = validate::restore(&obj.spec);
    if obj.metadata.deletion_timestamp.is_some() {
        return cleanup(w, request.ok()).await;
    }
    let request = match request {
        Ok(request) => request,
        Err(invalid) => return w.stalled(invalid.reason, invalid.message).await,
    };
    if let Err(denied) = check_tenancy(ctx, namespace, &request) {
        return w.stalled("AccessDenied", denied).await;
    }
    set_finalizer(w.ctx.cluster.as_ref(), obj, obj.spec.deletion_policy == DeletionPolicy::Delete).await?;
    w.status.source = Some(request.source.describe());

    if w.status.phase == Some(RestorePhase::Completed) {
        // Done; a later spec change (deletionPolicy, afterRestore) has nothing more to create.
        if w.status.observed_generation != obj.metadata.generation {
            w.write(&Standing::Ready { reason: "Restored".into(), message: completed_message(&request) }).await?;
        }
        return Ok(Action::await_change());
    }

    let scope = w.scope(request.region.clone());
    // A restore by AWS Backup whose table is not recorded yet: the job decides (its token makes
    // a second StartRestoreJob after a crash find the first job).
    if w.status.recovery_point_arn.is_some() && w.status.target_table_id.is_none() && w.status.started_at.is_some() {
        return match w.status.restore_job_id.clone() {
            Some(job_id) => follow_job(w, &request, &scope, &job_id).await,
            None => start_job(w, &request, &scope).await,
        };
    }
    let target = ctx.dynamo.describe_table(&scope, &request.target).await?;
    let source_arn = w.status.source_backup_arn.clone().or_else(|| w.status.source_table_arn.clone());
    let started_at = w.status.started_at.as_ref().map(|t| t.0);
    match classify_target(target.as_ref(), w.status.target_table_id.as_deref(), started_at, source_arn.as_deref()) {
        Target::Taken => {
            let message = format!(
                "table {:?} already exists in {} and was not created by this restore; nothing was touched. \
                 Choose another spec.targetTableName: a restore never overwrites a table",
                request.target,
                ctx.region_label(scope.region.as_deref())
            );
            w.stalled("TargetTableExists", message).await
        }
        // We recorded a table of ours, and it is gone: never restore a second time on our own.
        Target::Free if w.status.target_table_id.is_some() || w.status.target_table_arn.is_some() => {
            let message =
                format!("table {:?}, which this restore created, no longer exists (deleted outside the operator)", request.target);
            w.stalled("TargetTableGone", message).await
        }
        Target::Free => start(w, &request, &scope).await,
        Target::Ours => match target {
            Some(table) => follow(w, &request, &scope, table).await,
            None => Ok(Action::requeue(Duration::from_secs(1))),
        },
    }
}

fn check_tenancy(ctx: &Context, namespace: &str, request: &RestoreRequest) -> Result<(), String> {
    ctx.tenancy.check(namespace, &request.target, request.region.as_deref()).map_err(|d| d.0)?;
    match &request.source {
        Source::BackupArn { region, table, .. } => ctx.tenancy.check(namespace, table, Some(region)).map(|_| ()).map_err(|d| d.0),
        Source::PointInTime { table, .. } => {
            ctx.tenancy.check(namespace, &table.name, table.region_or(request.region.as_deref())).map(|_| ()).map_err(|d| d.0)
        }
        // A DynamoBackup of the namespace was itself checked when it was made; a recovery
        // point's table is not named by its ARN: the target is what the tenancy rules bound.
        Source::BackupRef(_) | Source::RecoveryPoint { .. } => Ok(()),
    }
}

/// Resolves and checks the source, records the intent, and calls DynamoDB.
async fn start(w: &mut Writer<'_>, request: &RestoreRequest, scope: &Scope) -> Result<Action, Error> {
    let resolved = match resolve(w, request).await? {
        Ok(resolved) => resolved,
        Err(action) => return Ok(action),
    };
    let overrides = match table_overrides(w.obj.spec.overrides.as_ref(), &resolved.global_indexes, &resolved.local_indexes) {
        Ok(overrides) => overrides,
        Err(invalid) => return w.stalled(invalid.reason, invalid.message).await,
    };

    // The intent goes to status first: it is what lets a restart adopt the table.
    let started = Timestamp::now();
    w.status.started_at = Some(Time(started));
    w.status.source_backup_arn = resolved.backup_arn.clone();
    w.status.source_table_arn = resolved.table_arn.clone();
    w.status.restore_time = resolved.restore_time.map(Time);
    w.status.phase = Some(RestorePhase::Restoring);
    w.write(&Standing::Reconciling { reason: "Restoring".into(), message: format!("restoring into table {}", request.target) }).await?;

    let from = match resolved.from {
        Via::Dynamo(from) => from,
        Via::AwsBackup { recovery_point } => {
            w.status.recovery_point_arn = Some(recovery_point);
            return start_job(w, request, scope).await;
        }
    };
    match w.ctx.dynamo.restore(scope, &from, &request.target, &overrides).await {
        Ok(table) => {
            publish(
                &w.ctx.recorder,
                w.obj,
                false,
                "RestoreStarted",
                "Restore",
                format!("restoring {} into table {}", request.source.describe(), request.target),
            )
            .await;
            follow(w, request, scope, table).await
        }
        // Someone made the table between our look and our call, or a retry of ours did:
        // look again, and adopt it only if it is ours.
        Err(err) if err.is_code("TableAlreadyExistsException") => Ok(Action::requeue(Duration::from_secs(1))),
        Err(err) if err.class == ErrorClass::Terminal => {
            let (reason, message) = restore_failure(&err);
            w.stalled(reason, message).await
        }
        Err(err) => Err(err.into()),
    }
}

/// StartRestoreJob of the recorded recovery point (its idempotency token is the object's uid: a
/// second call after a crash finds the same job), then the job is followed.
async fn start_job(w: &mut Writer<'_>, request: &RestoreRequest, scope: &Scope) -> Result<Action, Error> {
    let recovery_point = w.status.recovery_point_arn.clone().unwrap_or_default();
    let Some(role) = w.obj.spec.aws_backup.as_ref().map(|a| a.iam_role_arn.clone()) else {
        let message = validate::ROLE_REQUIRED.to_owned();
        return w.stalled("AWSBackupSettingsMissing", message).await;
    };
    let job = RestoreJobRequest {
        recovery_point_arn: recovery_point.clone(),
        role_arn: role,
        target_table: request.target.clone(),
        idempotency_token: format!("{}-restore", w.obj.uid().unwrap_or_default()),
    };
    w.save().await?;
    let job_id = match w.ctx.aws_backup.start_restore_job(scope, &job).await {
        Ok(id) => id,
        Err(err) if err.class == ErrorClass::Terminal => {
            let reason = reasons::aws_backup("StartRestoreJob", err.code.as_deref());
            return w.stalled(reason, format!("AWS Backup refused the restore of {recovery_point}: {err}")).await;
        }
        Err(err) => return Err(err.into()),
    };
    w.status.restore_job_id = Some(job_id.clone());
    w.save().await?;
    publish(
        &w.ctx.recorder,
        w.obj,
        false,
        "RestoreStarted",
        "StartRestoreJob",
        format!("AWS Backup restore job {job_id}: {recovery_point} into table {}", request.target),
    )
    .await;
    follow_job(w, request, scope, &job_id).await
}

/// A restore job of AWS Backup: once it completed, the table it made is followed like any
/// restored table (ACTIVE, then the after-restore steps).
async fn follow_job(w: &mut Writer<'_>, request: &RestoreRequest, scope: &Scope, job_id: &str) -> Result<Action, Error> {
    let job = w.ctx.aws_backup.describe_restore_job(scope, job_id).await?;
    match job.state {
        JobState::Running => {
            w.status.phase = Some(RestorePhase::Restoring);
            let message = format!("AWS Backup restore job {job_id} is {} (into table {})", job.state_name, request.target);
            w.write(&Standing::Reconciling { reason: "RestoreJobRunning".into(), message }).await?;
            let elapsed = w.status.started_at.as_ref().map(|t| Timestamp::now().duration_since(t.0).unsigned_abs()).unwrap_or_default();
            Ok(Action::requeue(crate::plan::awsbackup::job_poll(elapsed)))
        }
        JobState::Failed => {
            let message = job.message.unwrap_or_else(|| "AWS Backup gave no reason".into());
            w.stalled("RestoreJobFailed", format!("AWS Backup restore job {job_id} ended {}: {message}", job.state_name)).await
        }
        JobState::Completed => match w.ctx.dynamo.describe_table(scope, &request.target).await? {
            Some(table) => {
                // The job made it: this table is ours.
                w.status.target_table_id = table.id.clone();
                w.status.target_table_arn = table.arn.clone().or(job.made_arn);
                follow(w, request, scope, table).await
            }
            None => {
                let message = format!("AWS Backup restore job {job_id} completed, but table {:?} does not exist", request.target);
                w.stalled("TargetTableGone", message).await
            }
        },
    }
}

fn restore_failure(err: &AwsError) -> (&'static str, String) {
    (reasons::dynamodb("Restore", err.code.as_deref()), err.to_string())
}

/// Finds what to restore from and checks it, before any write. The inner Err is an answer
/// already reported (waiting, or stalled).
async fn resolve(w: &mut Writer<'_>, request: &RestoreRequest) -> Result<Result<Resolved, Action>, Error> {
    let ctx = w.ctx;
    let target_region = request.region.as_deref().or(ctx.default_region.as_deref()).map(str::to_owned);
    let (backup_arn, backup_region) = match &request.source {
        Source::BackupRef(name) => {
            match cluster::get::<DynamoBackup>(ctx.cluster.as_ref(), &w.obj.namespace().unwrap_or_default(), name).await? {
                Some(backup) => {
                    if backup.spec.method == BackupMethod::AWSBackup {
                        return resolve_recovery_point_of(w, name, &backup, target_region.as_deref()).await;
                    }
                    let status = backup.status.clone().unwrap_or_default();
                    let (Some(BackupPhase::Available), Some(arn)) = (status.phase, status.backup_arn.clone()) else {
                        let phase = status.phase.map(|p| format!("{p:?}")).unwrap_or_else(|| "Pending".into());
                        return waiting(w, format!("DynamoBackup {name} is {phase}, not Available yet")).await;
                    };
                    let region = validate::parse_backup_arn(&arn).map(|(region, _)| region);
                    (arn, region)
                }
                // Resolved before (the intent recorded the backup): the object going away since
                // does not take the snapshot with it; DynamoDB says whether the backup is still there.
                None if w.status.started_at.is_some() && w.status.source_backup_arn.is_some() => {
                    let arn = w.status.source_backup_arn.clone().unwrap_or_default();
                    let region = validate::parse_backup_arn(&arn).map(|(region, _)| region);
                    (arn, region)
                }
                None => return waiting(w, format!("DynamoBackup {name} does not exist (yet)")).await,
            }
        }
        Source::BackupArn { arn, region, .. } => (arn.clone(), Some(region.clone())),
        Source::PointInTime { table, at } => return resolve_point_in_time(w, request, table, *at).await,
        Source::RecoveryPoint { arn, .. } => return resolve_recovery_point(w, arn.clone(), None, None).await,
    };
    if let (Some(backup), Some(target)) = (&backup_region, &target_region)
        && backup != target
    {
        let invalid = validate::cross_region_needs_aws_backup(backup, target);
        return Ok(Err(w.stalled(invalid.reason, invalid.message).await?));
    }
    let scope = w.scope(backup_region);
    let Some(backup) = ctx.dynamo.describe_backup(&scope, &backup_arn).await? else {
        let message = format!("backup {backup_arn} does not exist, or the operator may not read it");
        return Ok(Err(w.stalled("SourceBackupNotFound", message).await?));
    };
    if backup.state != crate::api::facts::BackupState::Available {
        return waiting(w, format!("backup {backup_arn} is {}, not AVAILABLE yet", backup.state.as_str())).await;
    }
    let source = backup.source.unwrap_or_default();
    let (global_indexes, local_indexes) = match source.indexes {
        Some(indexes) => indexes,
        // The answer did not list the source's indexes; the source table, if it is still
        // there, is the next best account of them. Only keep-lists need them.
        None if w
            .obj
            .spec
            .overrides
            .as_ref()
            .is_some_and(|o| o.keep_global_secondary_indexes.is_some() || o.keep_local_secondary_indexes.is_some()) =>
        {
            match ctx.dynamo.describe_table(&scope, &source.table_name).await? {
                Some(table) => (table.global_indexes, table.local_indexes),
                None => {
                    let message = format!(
                        "DynamoDB did not report the indexes of backup {backup_arn}, and its source table {} is gone, so the \
                         index keep-lists cannot be applied; remove them from spec.overrides",
                        source.table_name
                    );
                    return Ok(Err(w.stalled("IndexesUnknown", message).await?));
                }
            }
        }
        None => (Vec::new(), Vec::new()),
    };
    Ok(Ok(Resolved {
        from: Via::Dynamo(RestoreFrom::Backup { arn: backup_arn.clone() }),
        backup_arn: Some(backup_arn),
        table_arn: source.table_arn,
        restore_time: backup.created_at,
        global_indexes,
        local_indexes,
    }))
}

async fn resolve_point_in_time(
    w: &mut Writer<'_>,
    request: &RestoreRequest,
    table: &TableRef,
    at: Option<Timestamp>,
) -> Result<Result<Resolved, Action>, Error> {
    let ctx = w.ctx;
    let source_region = table.region_or(request.region.as_deref()).map(str::to_owned);
    let scope = w.scope(source_region.clone());
    let Some(source) = ctx.dynamo.describe_table(&scope, &table.name).await? else {
        let message = format!("source table {:?} does not exist in {}", table.name, ctx.region_label(source_region.as_deref()));
        return Ok(Err(w.stalled("SourceTableNotFound", message).await?));
    };
    let pitr = ctx.dynamo.describe_pitr(&scope, &table.name, Lane::Now).await?;
    if let Err(invalid) = check_window(&table.name, &pitr, at) {
        return Ok(Err(w.stalled(invalid.reason, invalid.message).await?));
    }
    let target_region = request.region.as_deref().or(ctx.default_region.as_deref());
    let source_table = pitr_source(&table.name, table.region.as_deref(), source.arn.as_deref(), target_region);
    Ok(Ok(Resolved {
        from: Via::Dynamo(RestoreFrom::PointInTime { source_table, at }),
        backup_arn: None,
        table_arn: source.arn.clone(),
        restore_time: at.or(pitr.latest),
        global_indexes: source.global_indexes,
        local_indexes: source.local_indexes,
    }))
}

/// An AWSBackup DynamoBackup: its recovery point in the target's region, the source's own or
/// one of its copies.
async fn resolve_recovery_point_of(
    w: &mut Writer<'_>,
    name: &str,
    backup: &DynamoBackup,
    target_region: Option<&str>,
) -> Result<Result<Resolved, Action>, Error> {
    let status = backup.status.clone().unwrap_or_default();
    let source = status.recovery_point_arn.clone().filter(|_| status.backup_status.as_deref() == Some("COMPLETED"));
    let Some(source) = source else {
        return waiting(w, format!("DynamoBackup {name}: its recovery point is not complete yet")).await;
    };
    let source_region = recovery_point_region(&source);
    if target_region.is_none() || target_region == source_region.as_deref() {
        return resolve_recovery_point(w, source, status.table_arn.clone(), status.created_at.as_ref().map(|t| t.0)).await;
    }
    let target = target_region.unwrap_or_default();
    match status.copies.iter().find(|c| c.region == target) {
        Some(copy) if copy.state == CopyState::Completed && copy.recovery_point_arn.is_some() => {
            let point = copy.recovery_point_arn.clone().unwrap_or_default();
            resolve_recovery_point(w, point, status.table_arn.clone(), status.created_at.as_ref().map(|t| t.0)).await
        }
        Some(copy) if copy.state != CopyState::Failed => {
            waiting(w, format!("DynamoBackup {name}: its copy to {target} is not complete yet")).await
        }
        _ => {
            let mut regions: Vec<String> = source_region.into_iter().collect();
            regions.extend(status.copies.iter().filter(|c| c.state == CopyState::Completed).map(|c| c.region.clone()));
            let message = format!(
                "DynamoBackup {name} has no completed copy in {target}; it can be restored in: {}. Add a copyTo vault in {target} \
                 to the backup's method (a new DynamoBackup), or restore in one of those regions",
                regions.join(", ")
            );
            Ok(Err(w.stalled("NoCopyInRegion", message).await?))
        }
    }
}

/// A recovery point AWS Backup restores with the role of `spec.awsBackup`; `taken` is the
/// snapshot's moment when known.
async fn resolve_recovery_point(
    w: &mut Writer<'_>,
    recovery_point: String,
    table_arn: Option<String>,
    taken: Option<Timestamp>,
) -> Result<Result<Resolved, Action>, Error> {
    if w.obj.spec.aws_backup.is_none() {
        let message = validate::ROLE_REQUIRED.to_owned();
        return Ok(Err(w.stalled("AWSBackupSettingsMissing", message).await?));
    }
    if w.obj.spec.overrides.is_some() {
        let message = "spec.overrides are not available for a restore by AWS Backup (StartRestoreJob takes none); remove them".to_owned();
        return Ok(Err(w.stalled("InvalidSpec", message).await?));
    }
    Ok(Ok(Resolved {
        from: Via::AwsBackup { recovery_point },
        backup_arn: None,
        table_arn,
        restore_time: taken,
        global_indexes: Vec::new(),
        local_indexes: Vec::new(),
    }))
}

async fn waiting(w: &mut Writer<'_>, message: String) -> Result<Result<Resolved, Action>, Error> {
    w.status.phase = Some(RestorePhase::Pending);
    w.write(&Standing::Reconciling { reason: "WaitingForBackup".into(), message }).await?;
    Ok(Err(Action::requeue(WAIT_FOR_BACKUP)))
}

/// The table is ours: wait for it to be ACTIVE, then the after-restore steps, then Completed.
async fn follow(w: &mut Writer<'_>, request: &RestoreRequest, scope: &Scope, table: Table) -> Result<Action, Error> {
    if w.status.target_table_id.is_none() {
        if w.status.target_table_arn.is_none() && w.status.started_at.is_some() && w.status.phase == Some(RestorePhase::Restoring) {
            tracing::info!(table = %request.target, "adopting the restore in flight");
        }
        w.status.target_table_id = table.id.clone();
        w.status.target_table_arn = table.arn.clone();
    }
    w.status.table_status = Some(table.status.clone());
    if !table.is_active() {
        w.status.phase = Some(RestorePhase::Restoring);
        let since = w.status.started_at.as_ref().map(|t| t.0).unwrap_or_else(Timestamp::now);
        let elapsed = Duration::try_from(Timestamp::now().duration_since(since)).unwrap_or_default();
        let message = format!("DynamoDB is restoring table {} ({})", request.target, table.status);
        w.write(&Standing::Reconciling { reason: "Restoring".into(), message }).await?;
        return Ok(Action::requeue(creating_poll(elapsed)));
    }
    if let Source::PointInTime { .. } = request.source
        && let Some(at) = table.restore.as_ref().and_then(|r| r.restored_at)
    {
        // DynamoDB's record of the exact moment restored, also for "latest". A backup's
        // moment is its creation time, recorded when the restore started.
        w.status.restore_time = Some(Time(at));
    }
    w.status.phase = Some(RestorePhase::Finalizing);
    if let Err(action) = after_restore(w, scope, &table).await? {
        return Ok(action);
    }
    if let Err(action) = verify(w, scope, &table).await? {
        return Ok(action);
    }
    let fresh = w.ctx.dynamo.describe_table(scope, &request.target).await?.unwrap_or(table);
    w.status.item_count = fresh.item_count;
    w.status.table_status = Some(fresh.status);
    w.status.completed_at = Some(now());
    w.status.phase = Some(RestorePhase::Completed);
    let began = w.status.started_at.as_ref().or(w.obj.metadata.creation_timestamp.as_ref()).map(|t| t.0);
    if let Some(began) = began {
        let source = if matches!(request.source, Source::PointInTime { .. }) { "pointInTime" } else { "backup" };
        let seconds = Timestamp::now().duration_since(began).as_secs_f64().max(0.0);
        w.ctx.metrics.restore_duration.get_or_create(&RestoreLabels { source }).observe(seconds);
    }
    let mut message = completed_message(request);
    if let Some(v) = &w.status.verification {
        let verdict = v.message.clone().unwrap_or_default();
        match v.result {
            Some(VerificationResult::Passed) => message = format!("{message}; verified: {verdict}"),
            Some(VerificationResult::Failed) => message = format!("{message}; verification FAILED: {verdict}"),
            None => {}
        }
    }
    w.write(&Standing::Ready { reason: "Restored".into(), message: message.clone() }).await?;
    publish(&w.ctx.recorder, w.obj, false, "RestoreCompleted", "Restore", message).await;
    Ok(Action::await_change())
}

fn completed_message(request: &RestoreRequest) -> String {
    format!("table {} restored from {}", request.target, request.source.describe())
}

/// `spec.verify`, once the table is ACTIVE: the count (a paced Scan with Select COUNT, its place
/// saved after every page so a restart resumes it, in slices of `COUNT_SLICE` per reconcile),
/// then the keys; the verdict in `status.verification` and the `Verified` condition. Err: come
/// back with this action.
async fn verify(w: &mut Writer<'_>, scope: &Scope, table: &Table) -> Result<Result<(), Action>, Error> {
    let Some(spec) = w.obj.spec.verify.clone() else { return Ok(Ok(())) };
    if w.status.verification.as_ref().is_some_and(|v| v.result.is_some()) {
        return Ok(Ok(()));
    }
    let keys = match spec.keys.iter().map(verifying::parse_key).collect::<Result<Vec<_>, _>>() {
        Ok(keys) => keys,
        Err(err) => return Ok(Err(w.stalled("InvalidSpec", format!("spec.verify.keys: {err}")).await?)),
    };
    let mut v = w.status.verification.clone().unwrap_or_default();
    if v.started_at.is_none() {
        v.started_at = Some(now());
        v.expected_item_count = expected_item_count(w, scope).await?;
        if spec.item_count.is_some() {
            v.item_count = Some(0);
            v.resume_key = Some(verifying::FROM_THE_START.into());
        }
        w.status.verification = Some(v.clone());
        w.save().await?;
    }
    let max_rcu = spec.max_read_capacity_per_second.unwrap_or(verifying::DEFAULT_MAX_READ_CAPACITY);
    let slice_ends = tokio::time::Instant::now() + verifying::COUNT_SLICE;
    while let Some(resume) = v.resume_key.clone() {
        // A place that no longer parses starts the count again rather than guessing.
        let start = match resume.as_str() {
            verifying::FROM_THE_START => None,
            text => match verifying::key_from_text(text) {
                Ok(key) => Some(key),
                Err(_) => {
                    v.item_count = Some(0);
                    None
                }
            },
        };
        let page = w.ctx.dynamo.count_page(scope, &table.name, start.as_ref(), verifying::PAGE_ITEMS).await?;
        v.item_count = Some(v.item_count.unwrap_or(0) + page.count);
        v.resume_key = page.next.as_ref().map(verifying::key_text);
        w.status.verification = Some(v.clone());
        w.save().await?;
        tokio::time::sleep(verifying::pause_after(page.consumed, max_rcu)).await;
        if v.resume_key.is_some() && tokio::time::Instant::now() >= slice_ends {
            let message = format!("verifying table {}: {} items counted so far", table.name, v.item_count.unwrap_or(0));
            w.write(&Standing::Reconciling { reason: "Verifying".into(), message }).await?;
            return Ok(Err(Action::requeue(Duration::from_secs(1))));
        }
    }
    let mut missing = Vec::new();
    for key in &keys {
        if !w.ctx.dynamo.item_exists(scope, &table.name, key).await? {
            missing.push(verifying::key_text(key));
        }
    }
    let mut problems = Vec::new();
    let mut reason = "Verified";
    if let Some(check) = &spec.item_count
        && let Some(differs) = verifying::count_differs(v.item_count.unwrap_or(0), v.expected_item_count, check.tolerance_percent)
    {
        problems.push(differs);
        reason = "ItemCountMismatch";
    }
    if !missing.is_empty() {
        problems.push(format!("{} of {} keys missing: {}", missing.len(), keys.len(), missing.join(", ")));
        reason = if reason == "Verified" { "KeysMissing" } else { "VerificationFailed" };
    }
    let passed = problems.is_empty();
    let checked = Timestamp::now();
    let took = v.started_at.as_ref().map(|s| checked.duration_since(s.0).unsigned_abs()).unwrap_or_default();
    v.result = Some(if passed { VerificationResult::Passed } else { VerificationResult::Failed });
    v.missing_keys = missing;
    v.checked_at = Some(Time(checked));
    v.duration = Some(humantime::format_duration(Duration::from_secs(took.as_secs())).to_string());
    v.message = Some(if passed {
        let counted = match (spec.item_count.as_ref(), v.item_count, v.expected_item_count) {
            (Some(_), Some(n), Some(m)) => format!("{n} items (the snapshot recorded {m})"),
            (Some(_), Some(n), None) => format!("{n} items (no count recorded for the snapshot to compare)"),
            _ => String::new(),
        };
        let found = if keys.is_empty() { String::new() } else { format!("{} keys found", keys.len()) };
        [counted, found].into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>().join(", ")
    } else {
        problems.join("; ")
    });
    let result_label = if passed { "Passed" } else { "Failed" };
    w.ctx.metrics.verifications.get_or_create(&VerifyLabels { result: result_label }).inc();
    w.ctx.metrics.verification_duration.observe(took.as_secs_f64());
    let message = v.message.clone().unwrap_or_default();
    w.status.conditions =
        set_condition(&w.status.conditions, "Verified", passed, reason, &message, w.obj.metadata.generation, &Time(checked));
    w.status.verification = Some(v);
    w.save().await?;
    publish(&w.ctx.recorder, w.obj, !passed, if passed { "Verified" } else { reason }, "Verify", message).await;
    Ok(Ok(()))
}

/// The count DynamoDB recorded for what is restored: a backup's source table count (DescribeBackup),
/// or the source table's count for a point in time (DescribeTable; refreshed about every six hours).
async fn expected_item_count(w: &Writer<'_>, scope: &Scope) -> Result<Option<i64>, Error> {
    if let Some(arn) = w.status.source_backup_arn.clone() {
        return Ok(w.ctx.dynamo.describe_backup(scope, &arn).await?.and_then(|b| b.source).and_then(|s| s.item_count));
    }
    if w.status.recovery_point_arn.is_none()
        && let Some(source) = w.status.source_table_arn.as_deref().and_then(|arn| TableRef::parse(arn).ok())
    {
        let source_scope = w.scope(source.region.clone().or(scope.region.clone()));
        return Ok(w.ctx.dynamo.describe_table(&source_scope, &source.name).await?.and_then(|t| t.item_count));
    }
    Ok(None)
}

/// The after-restore steps not done yet, each recorded in status as soon as it is done.
async fn after_restore(w: &mut Writer<'_>, scope: &Scope, table: &Table) -> Result<Result<(), Action>, Error> {
    let spec = w.obj.spec.after_restore.clone();
    let ctx = w.ctx;
    let target_arn = table.arn.clone().unwrap_or_default();
    let source = w.status.source_table_arn.as_deref().and_then(|arn| TableRef::parse(arn).ok());
    let source_scope = w.scope(source.as_ref().and_then(|s| s.region.clone()).or(scope.region.clone()));
    // Tags and TTL are copied from the source table only if it still exists: one look, and only
    // when a pending step needs it.
    let pending = |step: &str| !w.status.after_restore_done.iter().any(|done| done == step);
    let needs_source = (spec.copy_tags && pending(STEP_TAGS)) || (spec.time_to_live == TimeToLiveMode::Copy && pending(STEP_TTL));
    let source = match source {
        Some(source) if needs_source && ctx.dynamo.describe_table(&source_scope, &source.name).await?.is_some() => Some(source),
        _ => None,
    };
    for step in [STEP_TAGS, STEP_PITR, STEP_DELETION_PROTECTION, STEP_TTL] {
        if w.status.after_restore_done.iter().any(|done| done == step) {
            continue;
        }
        let result = match step {
            STEP_TAGS => {
                let mut tags = Tags::new();
                if spec.copy_tags
                    && let (Some(_), Some(arn)) = (&source, w.status.source_table_arn.as_deref())
                {
                    tags = ctx.dynamo.list_tags(&source_scope, arn, crate::aws::Lane::Now).await?;
                }
                tags.extend(spec.tags.clone());
                ctx.dynamo.tag(scope, &target_arn, &tags).await
            }
            STEP_PITR => match &spec.point_in_time_recovery {
                Some(pitr) if pitr.enabled => ctx.dynamo.enable_pitr(scope, &table.name, pitr.recovery_period_in_days).await.map(|_| ()),
                _ => Ok(()),
            },
            STEP_DELETION_PROTECTION => match spec.deletion_protection {
                Some(true) => ctx.dynamo.set_deletion_protection(scope, &table.name, true).await,
                _ => Ok(()),
            },
            _ => match (&spec.time_to_live, &source) {
                (TimeToLiveMode::Copy, Some(source)) => match ctx.dynamo.time_to_live(&source_scope, &source.name).await? {
                    Some(attribute) if ctx.dynamo.time_to_live(scope, &table.name).await?.as_deref() != Some(attribute.as_str()) => {
                        ctx.dynamo.enable_time_to_live(scope, &table.name, &attribute).await
                    }
                    _ => Ok(()),
                },
                _ => Ok(()),
            },
        };
        match result {
            Ok(()) => {
                w.status.after_restore_done.push(step.to_owned());
                let message = format!("after restore: {} done", w.status.after_restore_done.join(", "));
                w.write(&Standing::Reconciling { reason: "Finalizing".into(), message }).await?;
            }
            Err(err) if err.class == ErrorClass::Terminal => {
                let message = format!("the table is restored, but after-restore step {step} failed: {err}");
                return Ok(Err(w.stalled("AfterRestoreFailed", message).await?));
            }
            Err(err) => return Err(err.into()),
        }
    }
    Ok(Ok(()))
}

/// The object is being deleted: with `deletionPolicy: Delete`, drop the table this restore
/// created, and no other.
async fn cleanup(w: &mut Writer<'_>, request: Option<RestoreRequest>) -> Result<Action, Error> {
    if !w.obj.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(Action::await_change());
    }
    if w.obj.spec.deletion_policy == DeletionPolicy::Delete
        && let Some(request) = request
    {
        let scope = w.scope(request.region.clone());
        let table = w.ctx.dynamo.describe_table(&scope, &request.target).await?;
        let source_arn = w.status.source_backup_arn.clone().or_else(|| w.status.source_table_arn.clone());
        let started_at = w.status.started_at.as_ref().map(|t| t.0);
        let ours = classify_target(table.as_ref(), w.status.target_table_id.as_deref(), started_at, source_arn.as_deref());
        if ours == Target::Ours {
            w.ctx.dynamo.delete_table(&scope, &request.target).await?;
            publish(
                &w.ctx.recorder,
                w.obj,
                false,
                "TableDeleted",
                "DeleteTable",
                format!("deleted table {}, which this restore created", request.target),
            )
            .await;
        }
    }
    set_finalizer(w.ctx.cluster.as_ref(), w.obj, false).await?;
    Ok(Action::await_change())
}
