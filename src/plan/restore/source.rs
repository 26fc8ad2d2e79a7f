//! Where a restore takes its data from, checked before any write: the PITR window, the index
//! keep-lists as full overrides, how the PITR source is named, and which recovery point of an
//! AWSBackup DynamoBackup serves the target's region.

use jiff::Timestamp;

use crate::{
    api::facts::{IndexDef, Pitr, TableOverrides},
    api::{BackupMethod, BackupPhase, BillingMode, CopyState, CopyStatus, DynamoBackup, DynamoRestoreSpec, RestoreOverrides},
    plan::{
        arns::{account_of, recovery_point_region},
        validate::{self, Invalid},
    },
};

/// Why a source cannot be restored from now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Halt {
    /// It will be, by itself: say so, look again shortly (phase Pending).
    Wait(String),
    /// Not without a new spec or outside help.
    Stall(Invalid),
}

/// What a `backupRef` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Named {
    /// A DynamoDB backup, by ARN, in the region the ARN names.
    Native { arn: String, region: Option<String> },
    /// An AWSBackup DynamoBackup: its recovery points decide (`recovery_point_of`).
    Vaulted,
}

/// The DynamoBackup `name` (None: not found) as a restore's source. `recorded`: the backup ARN
/// this restore's intent recorded, if it started: the object going away since does not take
/// the snapshot with it.
pub fn backup_ref(name: &str, backup: Option<&DynamoBackup>, recorded: Option<&str>) -> Result<Named, Halt> {
    let Some(backup) = backup else {
        return match recorded {
            Some(arn) => Ok(Named::Native { arn: arn.to_owned(), region: validate::parse_backup_arn(arn).map(|(region, _)| region) }),
            None => Err(Halt::Wait(format!("DynamoBackup {name} does not exist (yet)"))),
        };
    };
    if backup.spec.method == BackupMethod::AWSBackup {
        return Ok(Named::Vaulted);
    }
    let status = backup.status.clone().unwrap_or_default();
    match (status.phase, status.backup_arn) {
        (Some(BackupPhase::Available), Some(arn)) => {
            let region = validate::parse_backup_arn(&arn).map(|(region, _)| region);
            Ok(Named::Native { arn, region })
        }
        (phase, _) => {
            let phase = phase.map(|p| format!("{p:?}")).unwrap_or_else(|| "Pending".into());
            Err(Halt::Wait(format!("DynamoBackup {name} is {phase}, not Available yet")))
        }
    }
}

/// The recovery point of the AWSBackup DynamoBackup `name` that serves `target_region` (None:
/// the source's region) in `account` (None: the source's): the source's own, or a completed copy
/// there. `account` is the restoring namespace's, its tenant role's: a copy in a vault of
/// another account is restored by that account's role only.
pub fn recovery_point_of(name: &str, backup: &DynamoBackup, target_region: Option<&str>, account: Option<&str>) -> Result<String, Halt> {
    let status = backup.status.clone().unwrap_or_default();
    let source = status.recovery_point_arn.clone().filter(|_| status.backup_status.as_deref() == Some("COMPLETED"));
    let Some(source) = source else {
        return Err(Halt::Wait(format!("DynamoBackup {name}: its recovery point is not complete yet")));
    };
    let source_place = Place { region: recovery_point_region(&source), account: account_of(&source) };
    let wanted = Place {
        region: target_region.map(str::to_owned).or(source_place.region.clone()),
        account: account.map(str::to_owned).or(source_place.account.clone()),
    };
    if wanted == source_place {
        return Ok(source);
    }
    let place_of = |c: &CopyStatus| Place { region: Some(c.region.clone()), account: account_of(&c.destination_backup_vault_arn) };
    let target = wanted.describe(&source_place);
    match status.copies.iter().find(|c| place_of(c) == wanted) {
        Some(copy) if copy.state == CopyState::Completed && copy.recovery_point_arn.is_some() => {
            Ok(copy.recovery_point_arn.clone().unwrap_or_default())
        }
        Some(copy) if copy.state != CopyState::Failed => {
            Err(Halt::Wait(format!("DynamoBackup {name}: its copy to {target} is not complete yet")))
        }
        _ => {
            let mut places = vec![source_place.describe(&source_place)];
            places.extend(status.copies.iter().filter(|c| c.state == CopyState::Completed).map(|c| place_of(c).describe(&source_place)));
            let (reason, fix) = if wanted.region != source_place.region {
                ("NoCopyInRegion", "Add a copyTo vault there to the backup's method (a new DynamoBackup), or restore in one of those")
            } else {
                ("NoCopyInAccount", "a copy in another account is restored from a namespace whose tenant role is in that account")
            };
            let message =
                format!("DynamoBackup {name} has no completed copy in {target}; it can be restored in: {}. {fix}", places.join(", "));
            Err(Halt::Stall(Invalid { reason, message }))
        }
    }
}

/// Where a recovery point is: its region and account.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Place {
    region: Option<String>,
    account: Option<String>,
}

impl Place {
    /// The region, and the account when it is not the source's.
    fn describe(&self, source: &Place) -> String {
        let region = self.region.clone().unwrap_or_else(|| "the default region".into());
        match &self.account {
            Some(account) if self.account != source.account => format!("{region} of account {account}"),
            _ => region,
        }
    }
}

/// A recovery point named by ARN is restored by its own account: a namespace whose calls go to
/// another `account` (its tenant role's, `role_arn`, or without one the operator's own; None
/// while STS has not named it) would not find it.
pub fn recovery_point_account(arn: &str, account: Option<&str>, role_arn: Option<&str>) -> Result<(), Invalid> {
    let point = account_of(arn).unwrap_or_default();
    let Some(calls) = account.filter(|a| !point.is_empty() && *a != point) else { return Ok(()) };
    let whose = match role_arn {
        Some(role) => format!("tenant role {role}"),
        None => "the operator's own credentials".to_owned(),
    };
    let message = format!(
        "recovery point {arn} is in account {point}, and this namespace's calls go to account {calls} ({whose}); \
         restore it from a namespace whose tenant role is in account {point}"
    );
    Err(Invalid { reason: "NoCopyInAccount", message })
}

/// A recovery point is restored by AWS Backup with the role of `spec.awsBackup`, and takes no
/// overrides.
pub fn by_aws_backup(spec: &DynamoRestoreSpec) -> Result<(), Invalid> {
    if spec.aws_backup.is_none() {
        return Err(Invalid { reason: "AWSBackupSettingsMissing", message: validate::ROLE_REQUIRED.to_owned() });
    }
    if spec.overrides.is_some() {
        let message = "spec.overrides are not available for a restore by AWS Backup (StartRestoreJob takes none); remove them";
        return Err(validate::invalid(message));
    }
    Ok(())
}

/// Whether the spec keeps some indexes by name, so the source's indexes must be known.
pub fn needs_indexes(spec: &DynamoRestoreSpec) -> bool {
    spec.overrides.as_ref().is_some_and(|o| o.keep_global_secondary_indexes.is_some() || o.keep_local_secondary_indexes.is_some())
}

/// A restore of `at` (None: latest) from a table with this PITR state may go ahead.
pub fn check_window(table: &str, pitr: &Pitr, at: Option<Timestamp>) -> Result<(), Invalid> {
    if !pitr.enabled {
        return Err(Invalid {
            reason: "PointInTimeRecoveryDisabled",
            message: format!(
                "point-in-time recovery is off for table {table:?}, so it has no window to restore from; \
                 turn it on (a DynamoBackupPolicy does) or restore from a backup"
            ),
        });
    }
    let Some(at) = at else { return Ok(()) };
    let (Some(earliest), Some(latest)) = (pitr.earliest, pitr.latest) else {
        return Err(Invalid {
            reason: "PointInTimeRecoveryDisabled",
            message: format!("table {table:?} reports no restorable window yet; try again once PITR is fully enabled"),
        });
    };
    if at < earliest || at > latest {
        return Err(Invalid {
            reason: "RestoreTimeOutsideWindow",
            message: format!(
                "restoreTime {at} is outside the point-in-time window of table {table:?}: from {earliest} to {latest}; \
                 choose a moment inside it or use latestRestorableTime: true"
            ),
        });
    }
    Ok(())
}

/// The overrides DynamoDB needs, built from the spec and the source's indexes. A keep-list
/// becomes the full definitions of the kept indexes; an index it names that the source does
/// not have makes the spec invalid.
pub fn table_overrides(
    spec: Option<&RestoreOverrides>,
    source_gsis: &[IndexDef],
    source_lsis: &[IndexDef],
) -> Result<TableOverrides, Invalid> {
    let Some(spec) = spec else { return Ok(TableOverrides::default()) };
    let throughput = spec.provisioned_throughput.as_ref().map(|t| (t.read_capacity_units, t.write_capacity_units));
    let billing_mode = spec.billing_mode.map(|m| match m {
        BillingMode::PayPerRequest => "PAY_PER_REQUEST".to_owned(),
        BillingMode::Provisioned => "PROVISIONED".to_owned(),
    });
    // Index throughput must follow the table's billing mode when it is overridden.
    let index_throughput = |source: Option<(i64, i64)>| match spec.billing_mode {
        Some(BillingMode::PayPerRequest) => None,
        Some(BillingMode::Provisioned) => source.or(throughput),
        None => source,
    };
    let mut global_indexes = match &spec.keep_global_secondary_indexes {
        Some(keep) => Some(kept("global", keep, source_gsis)?),
        None if spec.billing_mode.is_some() && !source_gsis.is_empty() => Some(source_gsis.to_vec()),
        None => None,
    };
    if let Some(indexes) = &mut global_indexes {
        for index in indexes.iter_mut() {
            index.throughput = index_throughput(index.throughput);
        }
    }
    let local_indexes = match &spec.keep_local_secondary_indexes {
        Some(keep) => Some(kept("local", keep, source_lsis)?),
        None => None,
    };
    let sse = spec.sse.as_ref().map(|s| (s.enabled, s.kms_key_id.clone()));
    Ok(TableOverrides { billing_mode, throughput, global_indexes, local_indexes, sse })
}

fn kept(kind: &str, keep: &[String], source: &[IndexDef]) -> Result<Vec<IndexDef>, Invalid> {
    keep.iter()
        .map(|name| {
            source.iter().find(|i| &i.name == name).cloned().ok_or_else(|| Invalid {
                reason: "InvalidSpec",
                message: format!(
                    "keep{}SecondaryIndexes names {name:?}, which the source does not have (it has: {})",
                    if kind == "global" { "Global" } else { "Local" },
                    if source.is_empty() {
                        "none".to_owned()
                    } else {
                        source.iter().map(|i| i.name.as_str()).collect::<Vec<_>>().join(", ")
                    }
                ),
            })
        })
        .collect()
}

/// How RestoreTableToPointInTime names its source: by name in the target's own region, by
/// ARN across regions (the call is made in the target's region).
pub fn pitr_source(table_name: &str, table_region: Option<&str>, table_arn: Option<&str>, target_region: Option<&str>) -> String {
    let cross_region = table_region.is_some() && table_region != target_region;
    match (table_arn, cross_region) {
        (Some(arn), true) => arn.to_owned(),
        _ => table_name.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ProvisionedThroughput, facts::KeyRole};

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn pitr(earliest: &str, latest: &str) -> Pitr {
        Pitr { enabled: true, recovery_period_in_days: Some(35), earliest: Some(ts(earliest)), latest: Some(ts(latest)) }
    }

    #[test]
    fn a_moment_inside_the_window_is_fine() {
        let p = pitr("2026-01-01T00:00:00Z", "2026-01-15T10:25:00Z");
        assert!(check_window("UserProfiles", &p, Some(ts("2026-01-15T10:14:59Z"))).is_ok());
        assert!(check_window("UserProfiles", &p, None).is_ok());
    }

    #[test]
    fn a_moment_outside_the_window_names_the_window() {
        let p = pitr("2026-01-01T00:00:00Z", "2026-01-15T10:25:00Z");
        let err = check_window("UserProfiles", &p, Some(ts("2025-12-31T23:59:59Z"))).unwrap_err();
        assert_eq!(err.reason, "RestoreTimeOutsideWindow");
        assert!(err.message.contains("2026-01-01T00:00:00Z") && err.message.contains("2026-01-15T10:25:00Z"), "{}", err.message);
        assert!(check_window("UserProfiles", &p, Some(ts("2026-01-15T10:25:01Z"))).is_err());
    }

    #[test]
    fn pitr_off_is_its_own_reason() {
        let p = Pitr { enabled: false, recovery_period_in_days: None, earliest: None, latest: None };
        assert_eq!(check_window("T", &p, None).unwrap_err().reason, "PointInTimeRecoveryDisabled");
    }

    fn gsi(name: &str, throughput: Option<(i64, i64)>) -> IndexDef {
        IndexDef {
            name: name.into(),
            key_schema: vec![(format!("{name}Key"), KeyRole::Hash)],
            projection_type: Some("ALL".into()),
            non_key_attributes: vec![],
            throughput,
        }
    }

    #[test]
    fn a_keep_list_becomes_full_definitions() {
        let spec = RestoreOverrides {
            billing_mode: None,
            provisioned_throughput: None,
            keep_global_secondary_indexes: Some(vec!["byEmail".into()]),
            keep_local_secondary_indexes: None,
            sse: None,
        };
        let o = table_overrides(Some(&spec), &[gsi("byEmail", None), gsi("byName", None)], &[]).expect("valid");
        assert_eq!(o.global_indexes, Some(vec![gsi("byEmail", None)]));
        assert_eq!(o.local_indexes, None, "no keep-list: the source's LSIs stay");
        let empty = RestoreOverrides { keep_global_secondary_indexes: Some(vec![]), ..spec.clone() };
        assert_eq!(table_overrides(Some(&empty), &[gsi("byEmail", None)], &[]).expect("valid").global_indexes, Some(vec![]));
        let unknown = RestoreOverrides { keep_global_secondary_indexes: Some(vec!["nope".into()]), ..spec };
        let err = table_overrides(Some(&unknown), &[gsi("byEmail", None)], &[]).unwrap_err();
        assert!(err.message.contains("byEmail"), "{}", err.message);
    }

    #[test]
    fn switching_billing_mode_rewrites_index_throughput() {
        let to_provisioned = RestoreOverrides {
            billing_mode: Some(BillingMode::Provisioned),
            provisioned_throughput: Some(ProvisionedThroughput { read_capacity_units: 5, write_capacity_units: 7 }),
            keep_global_secondary_indexes: None,
            keep_local_secondary_indexes: None,
            sse: None,
        };
        let o = table_overrides(Some(&to_provisioned), &[gsi("byEmail", None)], &[]).expect("valid");
        assert_eq!(o.global_indexes, Some(vec![gsi("byEmail", Some((5, 7)))]));
        let to_on_demand =
            RestoreOverrides { billing_mode: Some(BillingMode::PayPerRequest), provisioned_throughput: None, ..to_provisioned };
        let o = table_overrides(Some(&to_on_demand), &[gsi("byEmail", Some((1, 1)))], &[]).expect("valid");
        assert_eq!(o.global_indexes, Some(vec![gsi("byEmail", None)]));
    }

    #[test]
    fn a_source_in_another_region_goes_by_arn() {
        let arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/UserProfiles";
        assert_eq!(pitr_source("UserProfiles", Some("eu-west-1"), Some(arn), Some("us-east-1")), arn);
        assert_eq!(pitr_source("UserProfiles", Some("eu-west-1"), Some(arn), Some("eu-west-1")), "UserProfiles");
        assert_eq!(pitr_source("UserProfiles", None, Some(arn), Some("us-east-1")), "UserProfiles", "a plain name is local");
    }

    const SOURCE: &str = "arn:aws:backup:us-east-1:123456789012:recovery-point:A";
    const SAME_ACCOUNT_COPY: &str = "arn:aws:backup:eu-central-1:123456789012:recovery-point:B";
    const DR_COPY: &str = "arn:aws:backup:us-east-1:222222222222:recovery-point:C";

    /// An AWSBackup DynamoBackup, complete, with a copy to eu-central-1 and one to account
    /// 222222222222 (in the same region) in the states given.
    fn vaulted(dr_state: &str) -> DynamoBackup {
        let copy = |vault: &str, region: &str, state: &str, arn: &str| serde_json::json!({"destinationBackupVaultArn": vault, "region": region, "state": state, "recoveryPointArn": arn});
        serde_json::from_value(serde_json::json!({
            "apiVersion": "dynamobackup.io/v1alpha1", "kind": "DynamoBackup",
            "metadata": {"name": "orders-dr", "namespace": "prod"},
            "spec": {"tableName": "Orders", "method": "AWSBackup",
                     "awsBackup": {"backupVaultName": "prod", "iamRoleArn": "arn:aws:iam::123456789012:role/backup"}},
            "status": {"recoveryPointArn": SOURCE, "backupStatus": "COMPLETED", "copies": [
                copy("arn:aws:backup:eu-central-1:123456789012:backup-vault:dr", "eu-central-1", "Completed", SAME_ACCOUNT_COPY),
                copy("arn:aws:backup:us-east-1:222222222222:backup-vault:dr", "us-east-1", dr_state, DR_COPY),
            ]}
        }))
        .expect("a DynamoBackup")
    }

    #[test]
    fn the_recovery_point_of_the_restoring_account_and_region_is_chosen() {
        let b = vaulted("Completed");
        assert_eq!(recovery_point_of("orders-dr", &b, None, None), Ok(SOURCE.to_owned()));
        assert_eq!(recovery_point_of("orders-dr", &b, Some("us-east-1"), Some("123456789012")), Ok(SOURCE.to_owned()));
        assert_eq!(recovery_point_of("orders-dr", &b, Some("eu-central-1"), None), Ok(SAME_ACCOUNT_COPY.to_owned()));
        assert_eq!(recovery_point_of("orders-dr", &b, Some("us-east-1"), Some("222222222222")), Ok(DR_COPY.to_owned()));
        assert_eq!(recovery_point_of("orders-dr", &b, None, Some("222222222222")), Ok(DR_COPY.to_owned()), "the source's region");
    }

    #[test]
    fn a_copy_to_another_account_is_waited_for_or_missing() {
        let running = vaulted("Running");
        assert!(matches!(recovery_point_of("orders-dr", &running, None, Some("222222222222")), Err(Halt::Wait(_))));
        let Err(Halt::Stall(invalid)) = recovery_point_of("orders-dr", &running, None, Some("333333333333")) else {
            panic!("no copy in account 333333333333")
        };
        assert_eq!(invalid.reason, "NoCopyInAccount");
        assert!(invalid.message.contains("us-east-1 of account 333333333333"), "{}", invalid.message);
        let Err(Halt::Stall(invalid)) = recovery_point_of("orders-dr", &vaulted("Completed"), Some("eu-central-1"), Some("222222222222"))
        else {
            panic!("no copy in eu-central-1 of account 222222222222")
        };
        assert_eq!(invalid.reason, "NoCopyInRegion");
        assert!(invalid.message.contains("us-east-1 of account 222222222222"), "the places that can: {}", invalid.message);
    }

    #[test]
    fn a_recovery_point_arn_is_restored_by_its_own_account() {
        let dr_role = "arn:aws:iam::222222222222:role/dr-restores";
        assert!(recovery_point_account(DR_COPY, Some("222222222222"), Some(dr_role)).is_ok());
        assert!(recovery_point_account(DR_COPY, None, None).is_ok(), "the operator's own account not known yet: AWS will say");
        let own = recovery_point_account(DR_COPY, Some("123456789012"), None).unwrap_err();
        assert_eq!(own.reason, "NoCopyInAccount", "the operator's own account, from STS, is another one");
        assert!(own.message.contains("the operator's own credentials"), "{}", own.message);
        let err = recovery_point_account(DR_COPY, Some("123456789012"), Some("arn:aws:iam::123456789012:role/shop")).unwrap_err();
        assert_eq!(err.reason, "NoCopyInAccount");
        assert!(err.message.contains("222222222222"), "{}", err.message);
    }
}
