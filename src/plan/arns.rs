//! The parts of the ARNs the operator is handed or told: a native backup's table, an AWS
//! Backup vault's region and name, a recovery point's region, the account of any of them.

/// The ARN of the table a native backup ARN belongs to (`<table ARN>/backup/<id>`).
pub fn table_arn_of(backup_arn: &str) -> Option<String> {
    let (table, id) = backup_arn.rsplit_once("/backup/")?;
    (table.contains(":table/") && !id.is_empty()).then(|| table.to_owned())
}

/// The region and vault name of a vault ARN (`arn:aws:backup:REGION:ACCOUNT:backup-vault:NAME`).
pub fn vault_of(arn: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    match parts.as_slice() {
        [_, _, "backup", region, _, "backup-vault", name] if !region.is_empty() && !name.is_empty() => {
            Some(((*region).to_owned(), (*name).to_owned()))
        }
        _ => None,
    }
}

/// The region of a recovery point ARN (`arn:aws:backup:REGION:ACCOUNT:recovery-point:ID`).
pub fn recovery_point_region(arn: &str) -> Option<String> {
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    match parts.as_slice() {
        [_, _, "backup", region, _, "recovery-point", id] if !region.is_empty() && !id.is_empty() => Some((*region).to_owned()),
        _ => None,
    }
}

/// The account an ARN names (`arn:PARTITION:SERVICE:REGION:ACCOUNT:...`): a table's, a vault's,
/// a recovery point's, a role's.
pub fn account_of(arn: &str) -> Option<String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", _, _, _, account, _] if account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) => Some((*account).to_owned()),
        _ => None,
    }
}

/// Whether two ARNs may be of different accounts: false only when both name one and they differ.
pub fn other_account(a: Option<&str>, b: Option<&str>) -> bool {
    matches!((a.and_then(account_of), b.and_then(account_of)), (Some(x), Some(y)) if x != y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backup_arn_names_its_table() {
        let arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/Orders/backup/01736000000000-abcdef12";
        assert_eq!(table_arn_of(arn).as_deref(), Some("arn:aws:dynamodb:eu-west-1:123456789012:table/Orders"));
        assert_eq!(table_arn_of("arn:aws:dynamodb:eu-west-1:123456789012:table/Orders"), None);
    }

    #[test]
    fn vault_and_recovery_point_arns_name_their_region() {
        assert_eq!(vault_of("arn:aws:backup:eu-central-1:123456789012:backup-vault:dr"), Some(("eu-central-1".into(), "dr".into())));
        assert_eq!(vault_of("arn:aws:backup:eu-central-1:123456789012:recovery-point:abc"), None);
        assert_eq!(recovery_point_region("arn:aws:backup:eu-west-1:123456789012:recovery-point:abc").as_deref(), Some("eu-west-1"));
        assert_eq!(recovery_point_region("arn:aws:dynamodb:eu-west-1:123456789012:table/T"), None);
    }

    #[test]
    fn arns_name_their_account() {
        assert_eq!(account_of("arn:aws:backup:eu-central-1:222222222222:backup-vault:dr").as_deref(), Some("222222222222"));
        assert_eq!(account_of("arn:aws:iam::222222222222:role/dr-restores").as_deref(), Some("222222222222"));
        assert_eq!(account_of("arn:aws:backup:eu-central-1::backup-vault:dr"), None);
        assert_eq!(account_of("Orders"), None);
        let (prod, dr) = ("arn:aws:iam::123456789012:role/backup", "arn:aws:dynamodb:us-east-1:222222222222:table/Orders");
        assert!(other_account(Some(prod), Some(dr)));
        assert!(!other_account(Some(prod), Some("arn:aws:dynamodb:us-east-1:123456789012:table/Orders")));
        assert!(!other_account(None, Some(dr)), "an unknown account is not another");
    }
}
