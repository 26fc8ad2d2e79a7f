//! Finds what a restore takes its data from and checks it, before any write: a DynamoBackup of
//! the namespace (native, or AWSBackup with its copies), a backup ARN, a table's PITR window, or
//! a recovery point. The rules are the plan's (`plan::restore::source`); this gathers the facts.

use jiff::Timestamp;
use kube::{ResourceExt, runtime::controller::Action};

use crate::{
    api::{
        DynamoBackup, DynamoRestore,
        facts::{BackupState, IndexDef, RestoreFrom},
    },
    aws::Lane,
    cluster,
    controllers::{common::StatusWriter, error::Error},
    plan::{
        conditions::Standing,
        restore::{
            check_window, pitr_source,
            source::{self, Halt, Named},
        },
        tables::TableRef,
        validate::{self, Invalid, RestoreRequest, Source},
    },
};

type Writer<'a> = StatusWriter<'a, DynamoRestore>;

/// How often a restore waiting for its DynamoBackup looks again.
const WAIT_FOR_BACKUP: std::time::Duration = std::time::Duration::from_secs(5);

/// Who makes the new table: DynamoDB from a native backup or a PITR window, or AWS Backup
/// from a recovery point.
pub enum Via {
    Dynamo(RestoreFrom),
    AwsBackup { recovery_point: String },
}

/// The source, resolved: what to pass to DynamoDB or AWS Backup and what to remember of it.
pub struct Resolved {
    pub from: Via,
    pub backup_arn: Option<String>,
    pub table_arn: Option<String>,
    pub restore_time: Option<Timestamp>,
    pub global_indexes: Vec<IndexDef>,
    pub local_indexes: Vec<IndexDef>,
}

impl Resolved {
    fn by_aws_backup(recovery_point: String, backup: Option<&DynamoBackup>) -> Self {
        let status = backup.and_then(|b| b.status.clone()).unwrap_or_default();
        Resolved {
            from: Via::AwsBackup { recovery_point },
            backup_arn: None,
            table_arn: status.table_arn,
            restore_time: status.created_at.map(|t| t.0),
            global_indexes: Vec::new(),
            local_indexes: Vec::new(),
        }
    }
}

/// The resolved source, or the answer already reported (waiting, or stalled).
pub async fn resolve(w: &mut Writer<'_>, request: &RestoreRequest) -> Result<Result<Resolved, Action>, Error> {
    let found = match gather(w, request).await? {
        Ok(resolved) => return Ok(Ok(resolved)),
        Err(halt) => halt,
    };
    Ok(Err(match found {
        Halt::Wait(message) => {
            w.status.phase = Some(crate::api::RestorePhase::Pending);
            w.write(&Standing::Reconciling { reason: "WaitingForBackup".into(), message }).await?;
            Action::requeue(WAIT_FOR_BACKUP)
        }
        Halt::Stall(invalid) => w.stalled(invalid.reason, invalid.message).await?,
    }))
}

async fn gather(w: &mut Writer<'_>, request: &RestoreRequest) -> Result<Result<Resolved, Halt>, Error> {
    let target_region = request.region.as_deref().or(w.ctx.default_region.as_deref()).map(str::to_owned);
    let (arn, region) = match &request.source {
        Source::BackupRef(name) => {
            let namespace = w.obj.namespace().unwrap_or_default();
            let backup = cluster::get::<DynamoBackup>(w.ctx.cluster.as_ref(), &namespace, name).await?;
            let recorded = w.status.source_backup_arn.as_deref().filter(|_| w.status.started_at.is_some());
            match source::backup_ref(name, backup.as_ref(), recorded) {
                Ok(Named::Native { arn, region }) => (arn, region),
                Ok(Named::Vaulted) => {
                    let Some(backup) = backup else { return Ok(Err(Halt::Wait(format!("DynamoBackup {name} does not exist (yet)")))) };
                    // The account this namespace's calls go to: its tenant role's, or the
                    // operator's own (None while STS has not named it: the source's).
                    let account = w.ctx.accounts.of(w.scope(None).role_arn.as_deref());
                    return Ok(source::recovery_point_of(name, &backup, target_region.as_deref(), account.as_deref())
                        .and_then(|point| by_aws_backup(w, point, Some(&backup))));
                }
                Err(halt) => return Ok(Err(halt)),
            }
        }
        Source::BackupArn { arn, region, .. } => (arn.clone(), Some(region.clone())),
        Source::PointInTime { table, at } => return point_in_time(w, request, table, *at).await,
        Source::RecoveryPoint { arn, .. } => {
            let role = w.scope(None).role_arn;
            let account = w.ctx.accounts.of(role.as_deref());
            let checked = source::recovery_point_account(arn, account.as_deref(), role.as_deref()).map_err(Halt::Stall);
            return Ok(checked.and_then(|()| by_aws_backup(w, arn.clone(), None)));
        }
    };
    if let (Some(backup), Some(target)) = (&region, &target_region)
        && backup != target
    {
        return Ok(Err(Halt::Stall(validate::cross_region_needs_aws_backup(backup, target))));
    }
    native_backup(w, arn, region).await
}

fn by_aws_backup(w: &Writer<'_>, point: String, backup: Option<&DynamoBackup>) -> Result<Resolved, Halt> {
    source::by_aws_backup(&w.obj.spec).map_err(Halt::Stall)?;
    Ok(Resolved::by_aws_backup(point, backup))
}

/// A DynamoDB backup: AVAILABLE, with its source's indexes when the spec keeps some by name.
async fn native_backup(w: &Writer<'_>, arn: String, region: Option<String>) -> Result<Result<Resolved, Halt>, Error> {
    let scope = w.scope(region);
    let Some(backup) = w.ctx.dynamo.describe_backup(&scope, &arn).await? else {
        let message = format!("backup {arn} does not exist, or the operator may not read it");
        return Ok(Err(Halt::Stall(Invalid { reason: "SourceBackupNotFound", message })));
    };
    if backup.state != BackupState::Available {
        return Ok(Err(Halt::Wait(format!("backup {arn} is {}, not AVAILABLE yet", backup.state.as_str()))));
    }
    let source = backup.source.unwrap_or_default();
    let (global_indexes, local_indexes) = match source.indexes {
        Some(indexes) => indexes,
        // The answer did not list the source's indexes; the source table, if it is still
        // there, is the next best account of them. Only keep-lists need them.
        None if source::needs_indexes(&w.obj.spec) => match w.ctx.dynamo.describe_table(&scope, &source.table_name).await? {
            Some(table) => (table.global_indexes, table.local_indexes),
            None => {
                let message = format!(
                    "DynamoDB did not report the indexes of backup {arn}, and its source table {} is gone, so the \
                     index keep-lists cannot be applied; remove them from spec.overrides",
                    source.table_name
                );
                return Ok(Err(Halt::Stall(Invalid { reason: "IndexesUnknown", message })));
            }
        },
        None => (Vec::new(), Vec::new()),
    };
    Ok(Ok(Resolved {
        from: Via::Dynamo(RestoreFrom::Backup { arn: arn.clone() }),
        backup_arn: Some(arn),
        table_arn: source.table_arn,
        restore_time: backup.created_at,
        global_indexes,
        local_indexes,
    }))
}

/// A table's PITR window, checked for the moment asked.
async fn point_in_time(
    w: &Writer<'_>,
    request: &RestoreRequest,
    table: &TableRef,
    at: Option<Timestamp>,
) -> Result<Result<Resolved, Halt>, Error> {
    let ctx = w.ctx;
    let source_region = table.region_or(request.region.as_deref()).map(str::to_owned);
    let scope = w.scope(source_region.clone());
    let Some(source) = ctx.dynamo.describe_table(&scope, &table.name).await? else {
        let message = format!("source table {:?} does not exist in {}", table.name, ctx.region_label(source_region.as_deref()));
        return Ok(Err(Halt::Stall(Invalid { reason: "SourceTableNotFound", message })));
    };
    let pitr = ctx.dynamo.describe_pitr(&scope, &table.name, Lane::Now).await?;
    if let Err(invalid) = check_window(&table.name, &pitr, at) {
        return Ok(Err(Halt::Stall(invalid)));
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
