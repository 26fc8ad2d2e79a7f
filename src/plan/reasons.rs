//! The Stalled reason of a request AWS refused for good: one table per service, by what was
//! asked and the error code of the answer, so every controller words a refusal the same way.

/// (what was asked, error code, reason). `Restore` is either of DynamoDB's two restores.
const DYNAMODB: &[(&str, &str, &str)] = &[
    ("CreateBackup", "TableNotFoundException", "TableNotFound"),
    ("CreateBackup", "ResourceNotFoundException", "TableNotFound"),
    ("Restore", "InvalidRestoreTimeException", "RestoreTimeOutsideWindow"),
    ("Restore", "PointInTimeRecoveryUnavailableException", "PointInTimeRecoveryDisabled"),
    ("Restore", "SourceTableNotFoundException", "SourceTableNotFound"),
    ("Restore", "TableNotFoundException", "SourceTableNotFound"),
    ("Restore", "BackupNotFoundException", "SourceBackupNotFound"),
    ("Restore", "AccessDeniedException", "AccessDenied"),
];

/// What a refusal not in the table is called, by what was asked.
const DYNAMODB_OTHERWISE: &[(&str, &str)] = &[("CreateBackup", "CreateBackupFailed"), ("Restore", "RestoreFailed")];

const AWS_BACKUP: &[(&str, &str, &str)] = &[
    ("StartBackupJob", "AccessDeniedException", "AccessDenied"),
    ("StartBackupJob", "ResourceNotFoundException", "VaultNotFound"),
    ("StartRestoreJob", "AccessDeniedException", "AccessDenied"),
    ("StartRestoreJob", "ResourceNotFoundException", "SourceBackupNotFound"),
];

const AWS_BACKUP_OTHERWISE: &[(&str, &str)] = &[("StartBackupJob", "StartBackupJobFailed"), ("StartRestoreJob", "RestoreFailed")];

fn look_up(table: &[(&str, &str, &'static str)], otherwise: &[(&str, &'static str)], asked: &str, code: Option<&str>) -> &'static str {
    table
        .iter()
        .find(|(a, c, _)| *a == asked && Some(*c) == code)
        .map(|(_, _, reason)| *reason)
        .or_else(|| otherwise.iter().find(|(a, _)| *a == asked).map(|(_, reason)| *reason))
        .unwrap_or("Failed")
}

/// The reason of DynamoDB's refusal of `asked` (`CreateBackup`, `Restore`) with `code`.
pub fn dynamodb(asked: &str, code: Option<&str>) -> &'static str {
    look_up(DYNAMODB, DYNAMODB_OTHERWISE, asked, code)
}

/// The reason of AWS Backup's refusal of `asked` (`StartBackupJob`, `StartRestoreJob`) with `code`.
pub fn aws_backup(asked: &str, code: Option<&str>) -> &'static str {
    look_up(AWS_BACKUP, AWS_BACKUP_OTHERWISE, asked, code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_named_by_service_request_and_code() {
        assert_eq!(dynamodb("CreateBackup", Some("ResourceNotFoundException")), "TableNotFound");
        assert_eq!(dynamodb("CreateBackup", Some("ValidationException")), "CreateBackupFailed");
        assert_eq!(dynamodb("Restore", Some("InvalidRestoreTimeException")), "RestoreTimeOutsideWindow");
        assert_eq!(dynamodb("Restore", None), "RestoreFailed");
        assert_eq!(aws_backup("StartBackupJob", Some("ResourceNotFoundException")), "VaultNotFound");
        assert_eq!(aws_backup("StartRestoreJob", Some("ResourceNotFoundException")), "SourceBackupNotFound");
        assert_eq!(aws_backup("StartRestoreJob", Some("Whatever")), "RestoreFailed");
    }

    #[test]
    fn every_reason_is_a_documented_stalled_reason() {
        let documented = include_str!("../../docs/api.md");
        let reasons = DYNAMODB
            .iter()
            .chain(AWS_BACKUP)
            .map(|(_, _, r)| *r)
            .chain(DYNAMODB_OTHERWISE.iter().chain(AWS_BACKUP_OTHERWISE).map(|(_, r)| *r));
        for reason in reasons {
            assert!(documented.contains(&format!("`{reason}`")), "{reason} is not in docs/api.md");
        }
    }
}
