//! The checks CEL and the schema make, made again before any AWS call: older clusters skip CEL,
//! and a spec the operator acts on must be known good. A failure is a `Stalled` reason.

use jiff::Timestamp;

use super::{
    names::default_backup_name,
    tables::{TableRef, is_table_name},
};
use crate::api::{AwsBackupSpec, BackupMethod, BillingMode, DeletionPolicy, DynamoBackupSpec, DynamoRestoreSpec};

/// Why a spec cannot be acted on, for `Stalled=True`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Invalid {
    pub reason: &'static str,
    pub message: String,
}

pub fn invalid(message: impl Into<String>) -> Invalid {
    Invalid { reason: "InvalidSpec", message: message.into() }
}

/// A DynamoBackup spec, checked: what to back up, where, under which backup name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupTarget {
    pub table: TableRef,
    pub region: Option<String>,
    pub backup_name: String,
}

pub fn backup(spec: &DynamoBackupSpec, object_name: &str, uid: &str) -> Result<BackupTarget, Invalid> {
    let table = TableRef::parse(&spec.table_name).map_err(|e| invalid(format!("spec.tableName: {e}")))?;
    let region = region_of(&table, spec.region.as_deref(), "spec.tableName")?;
    let backup_name = match &spec.backup_name {
        Some(name) if !is_table_name(name) => {
            return Err(invalid(format!("spec.backupName {name:?} must be 3 to 255 of A-Z a-z 0-9 _ . -")));
        }
        Some(name) => name.clone(),
        None => default_backup_name(object_name, uid),
    };
    aws_backup_settings(spec.method, spec.aws_backup.as_ref(), "spec")?;
    Ok(BackupTarget { table, region, backup_name })
}

/// `awsBackup` goes with method AWSBackup, and its copy destinations are vault ARNs, each once.
pub fn aws_backup_settings(method: BackupMethod, settings: Option<&AwsBackupSpec>, at: &str) -> Result<(), Invalid> {
    match (method, settings) {
        (BackupMethod::AWSBackup, None) => Err(Invalid {
            reason: "AWSBackupSettingsMissing",
            message: format!("{at}.awsBackup (backupVaultName, iamRoleArn) is required with method AWSBackup"),
        }),
        (BackupMethod::DynamoDB, Some(_)) => {
            Err(invalid(format!("{at}.awsBackup is only for method AWSBackup; set {at}.method: AWSBackup or remove it")))
        }
        (_, Some(settings)) => {
            for (i, copy) in settings.copy_to.iter().enumerate() {
                if crate::plan::arns::vault_of(&copy.destination_backup_vault_arn).is_none() {
                    return Err(invalid(format!(
                        "{at}.awsBackup.copyTo[{i}].destinationBackupVaultArn {:?} is not a backup vault ARN (arn:aws:backup:REGION:ACCOUNT:backup-vault:NAME)",
                        copy.destination_backup_vault_arn
                    )));
                }
                if settings.copy_to[..i].iter().any(|c| c.destination_backup_vault_arn == copy.destination_backup_vault_arn) {
                    return Err(invalid(format!(
                        "{at}.awsBackup.copyTo[{i}]: vault {} is listed twice",
                        copy.destination_backup_vault_arn
                    )));
                }
            }
            Ok(())
        }
        (BackupMethod::DynamoDB, None) => Ok(()),
    }
}

/// The region to call for a table: the ARN's, or `spec.region`; the two must agree.
fn region_of(table: &TableRef, spec_region: Option<&str>, field: &str) -> Result<Option<String>, Invalid> {
    if let Some(region) = spec_region
        && !is_region(region)
    {
        return Err(invalid(format!("spec.region {region:?} is not an AWS region code such as eu-west-1")));
    }
    match (&table.region, spec_region) {
        (Some(arn_region), Some(spec)) if arn_region != spec => {
            Err(invalid(format!("spec.region {spec:?} contradicts the region {arn_region:?} of the ARN in {field}; remove one of them")))
        }
        (Some(arn_region), _) => Ok(Some(arn_region.clone())),
        (None, spec) => Ok(spec.map(str::to_owned)),
    }
}

fn is_region(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()))
        && parts.last().is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()))
}

/// Where a checked restore takes its data from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A DynamoBackup of this namespace, by name.
    BackupRef(String),
    /// A native backup; its ARN names its region and table.
    BackupArn { arn: String, region: String, table: String },
    /// A table's PITR window: a moment, or None for the latest restorable time.
    PointInTime { table: TableRef, at: Option<Timestamp> },
    /// An AWS Backup recovery point; its ARN names its region.
    RecoveryPoint { arn: String, region: String },
}

impl Source {
    /// One short line for the `Source` printer column.
    pub fn describe(&self) -> String {
        match self {
            Source::BackupRef(name) => format!("backup/{name}"),
            Source::BackupArn { arn, .. } => arn.clone(),
            Source::PointInTime { table, at: Some(at) } => format!("pitr/{}@{at}", table.name),
            Source::PointInTime { table, at: None } => format!("pitr/{}@latest", table.name),
            Source::RecoveryPoint { arn, .. } => arn.clone(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestoreRequest {
    pub source: Source,
    pub target: String,
    /// The new table's region (None: the operator's default).
    pub region: Option<String>,
}

pub fn restore(spec: &DynamoRestoreSpec) -> Result<RestoreRequest, Invalid> {
    let src = &spec.source;
    let chosen = [src.backup_ref.is_some(), src.backup_arn.is_some(), src.recovery_point_arn.is_some(), src.point_in_time.is_some()]
        .iter()
        .filter(|x| **x)
        .count();
    if chosen != 1 {
        return Err(invalid(
            "exactly one of spec.source.backupRef, spec.source.backupArn, spec.source.recoveryPointArn and spec.source.pointInTime must be set",
        ));
    }
    if !is_table_name(&spec.target_table_name) {
        return Err(invalid(format!("spec.targetTableName {:?} must be 3 to 255 of A-Z a-z 0-9 _ . -", spec.target_table_name)));
    }
    if let Some(region) = &spec.region
        && !is_region(region)
    {
        return Err(invalid(format!("spec.region {region:?} is not an AWS region code such as eu-west-1")));
    }
    if let Some(o) = &spec.overrides {
        let provisioned = o.billing_mode == Some(BillingMode::Provisioned);
        if provisioned != o.provisioned_throughput.is_some() {
            return Err(invalid("spec.overrides.provisionedThroughput goes with billingMode PROVISIONED, and PROVISIONED needs it"));
        }
    }
    if let Some(ttl) = &spec.ttl_after_finished
        && humantime::parse_duration(ttl).is_err()
    {
        return Err(invalid(format!("spec.ttlAfterFinished {ttl:?} is not a duration such as 2h or 30m")));
    }
    if spec.deletion_policy == DeletionPolicy::Delete && spec.after_restore.deletion_protection == Some(true) {
        return Err(invalid(
            "spec.deletionPolicy Delete and spec.afterRestore.deletionProtection true contradict each other: \
             a protected table cannot be dropped; choose one",
        ));
    }
    let source = if let Some(r) = &src.backup_ref {
        Source::BackupRef(r.name.clone())
    } else if let Some(arn) = &src.backup_arn {
        let (region, table) =
            parse_backup_arn(arn).ok_or_else(|| invalid(format!("spec.source.backupArn {arn:?} is not a DynamoDB backup ARN")))?;
        if let Some(target) = spec.region.as_deref().filter(|r| *r != region) {
            return Err(cross_region_needs_aws_backup(&region, target));
        }
        Source::BackupArn { arn: arn.clone(), region, table }
    } else if let Some(arn) = &src.recovery_point_arn {
        let region = crate::plan::arns::recovery_point_region(arn)
            .ok_or_else(|| invalid(format!("spec.source.recoveryPointArn {arn:?} is not an AWS Backup recovery point ARN")))?;
        if spec.aws_backup.is_none() {
            return Err(Invalid { reason: "AWSBackupSettingsMissing", message: ROLE_REQUIRED.into() });
        }
        if let Some(target) = spec.region.as_deref().filter(|r| *r != region) {
            return Err(Invalid {
                reason: "NoCopyInRegion",
                message: format!(
                    "recovery point {arn} is in {region} and restores there, not in {target}; restore the ARN of its copy in {target}, \
                     or a backupRef to its DynamoBackup, whose copies the operator knows"
                ),
            });
        }
        Source::RecoveryPoint { arn: arn.clone(), region }
    } else if let Some(pit) = &src.point_in_time {
        let table = TableRef::parse(&pit.table_name).map_err(|e| invalid(format!("spec.source.pointInTime.tableName: {e}")))?;
        let latest = pit.latest_restorable_time == Some(true);
        match (&pit.restore_time, latest) {
            (Some(at), false) => Source::PointInTime { table, at: Some(at.0) },
            (None, true) => Source::PointInTime { table, at: None },
            _ => {
                return Err(invalid(
                    "exactly one of spec.source.pointInTime.restoreTime and spec.source.pointInTime.latestRestorableTime: true must be set",
                ));
            }
        }
    } else {
        unreachable!("exactly one source was counted above")
    };
    let region = match &source {
        Source::BackupArn { region, .. } | Source::RecoveryPoint { region, .. } => Some(region.clone()),
        _ => spec.region.clone(),
    };
    Ok(RestoreRequest { source, target: spec.target_table_name.clone(), region })
}

/// Why a restore of a recovery point without `spec.awsBackup` stops.
pub const ROLE_REQUIRED: &str = "spec.awsBackup.iamRoleArn is required to restore a recovery point: AWS Backup restores with that role";

/// A native backup asked to restore in another region.
pub fn cross_region_needs_aws_backup(backup_region: &str, target_region: &str) -> Invalid {
    Invalid {
        reason: "CrossRegionNeedsAWSBackup",
        message: format!(
            "the backup is a DynamoDB backup in {backup_region}, which restores only in its own region, not in {target_region}; \
             to restore in {target_region}, back up with method AWSBackup and copyTo a vault there, then restore that backup"
        ),
    }
}

/// (region, table) of `arn:aws:dynamodb:REGION:ACCOUNT:table/TABLE/backup/ID`.
pub fn parse_backup_arn(arn: &str) -> Option<(String, String)> {
    let (table_arn, id) = arn.split_once("/backup/")?;
    if id.is_empty() {
        return None;
    }
    let table = TableRef::parse(table_arn).ok()?;
    Some((table.region?, table.name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{AfterRestore, LocalObjectReference, PointInTimeSource, RestoreOverrides, RestoreSource};

    fn backup_spec(table: &str) -> DynamoBackupSpec {
        DynamoBackupSpec::for_table(table)
    }

    fn restore_spec(source: RestoreSource) -> DynamoRestoreSpec {
        DynamoRestoreSpec {
            source,
            target_table_name: "Orders-restored".into(),
            region: None,
            overrides: None,
            after_restore: AfterRestore::default(),
            deletion_policy: DeletionPolicy::Retain,
            aws_backup: None,
            ttl_after_finished: None,
            verify: None,
            copy_back: None,
        }
    }

    fn no_source() -> RestoreSource {
        RestoreSource { backup_ref: None, backup_arn: None, recovery_point_arn: None, point_in_time: None }
    }

    #[test]
    fn backup_name_defaults_to_name_and_uid() {
        let t = backup(&backup_spec("Orders"), "orders-before-v42", "0123abcd-ffff").expect("valid");
        assert_eq!(t.backup_name, "orders-before-v42-0123abcd");
        assert_eq!(t.region, None);
    }

    #[test]
    fn an_arn_gives_the_region_and_must_agree_with_spec_region() {
        let arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/Orders";
        assert_eq!(backup(&backup_spec(arn), "b", "u").expect("valid").region.as_deref(), Some("eu-west-1"));
        let mut spec = backup_spec(arn);
        spec.region = Some("us-east-1".into());
        assert_eq!(backup(&spec, "b", "u").unwrap_err().reason, "InvalidSpec");
    }

    #[test]
    fn bad_backup_specs_are_invalid() {
        assert!(backup(&backup_spec("my table"), "b", "u").is_err());
        let mut spec = backup_spec("Orders");
        spec.backup_name = Some("a b".into());
        assert!(backup(&spec, "b", "u").is_err());
        spec.backup_name = None;
        spec.region = Some("Europe".into());
        assert!(backup(&spec, "b", "u").is_err());
    }

    #[test]
    fn a_restore_needs_exactly_one_source() {
        assert!(restore(&restore_spec(no_source())).unwrap_err().message.contains("exactly one"));
        let both = RestoreSource {
            backup_ref: Some(LocalObjectReference { name: "b".into() }),
            backup_arn: Some("arn:aws:dynamodb:eu-west-1:123456789012:table/Orders/backup/0173".into()),
            ..no_source()
        };
        assert!(restore(&restore_spec(both)).is_err());
    }

    #[test]
    fn point_in_time_needs_exactly_one_moment() {
        let pit = |restore_time, latest| RestoreSource {
            point_in_time: Some(PointInTimeSource { table_name: "UserProfiles".into(), restore_time, latest_restorable_time: latest }),
            ..no_source()
        };
        let at = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time("2026-01-15T10:14:59Z".parse().expect("timestamp"));
        assert!(restore(&restore_spec(pit(Some(at.clone()), Some(true)))).is_err());
        assert!(restore(&restore_spec(pit(None, Some(false)))).is_err());
        assert!(restore(&restore_spec(pit(None, None))).is_err());
        let ok = restore(&restore_spec(pit(Some(at), Some(false)))).expect("valid");
        assert_eq!(ok.source.describe(), "pitr/UserProfiles@2026-01-15T10:14:59Z");
        let latest = restore(&restore_spec(pit(None, Some(true)))).expect("valid");
        assert_eq!(latest.source.describe(), "pitr/UserProfiles@latest");
    }

    #[test]
    fn a_backup_arn_restores_in_its_own_region() {
        let src =
            RestoreSource { backup_arn: Some("arn:aws:dynamodb:eu-west-1:123456789012:table/Orders/backup/0173-ab".into()), ..no_source() };
        let ok = restore(&restore_spec(src.clone())).expect("valid");
        assert_eq!(ok.region.as_deref(), Some("eu-west-1"));
        let mut spec = restore_spec(src);
        spec.region = Some("us-east-1".into());
        assert!(restore(&spec).is_err());
    }

    #[test]
    fn throughput_goes_with_provisioned_only() {
        let mut spec = restore_spec(RestoreSource { backup_ref: Some(LocalObjectReference { name: "b".into() }), ..no_source() });
        spec.overrides = Some(RestoreOverrides {
            billing_mode: Some(BillingMode::Provisioned),
            provisioned_throughput: None,
            keep_global_secondary_indexes: None,
            keep_local_secondary_indexes: None,
            sse: None,
        });
        assert!(restore(&spec).is_err());
    }

    #[test]
    fn drop_on_delete_and_deletion_protection_contradict() {
        let mut spec = restore_spec(RestoreSource { backup_ref: Some(LocalObjectReference { name: "b".into() }), ..no_source() });
        spec.deletion_policy = DeletionPolicy::Delete;
        spec.after_restore.deletion_protection = Some(true);
        assert!(restore(&spec).is_err());
    }
}
