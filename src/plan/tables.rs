//! Table references: a plain name, or an ARN that also carries region and account.

use std::fmt;

/// A table as a spec names it, split into its parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableRef {
    pub name: String,
    /// From an ARN; otherwise the spec's region or the operator's default applies.
    pub region: Option<String>,
    pub account: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TableRefError {
    #[error("{0:?} is not a DynamoDB table name: use 3 to 255 of A-Z a-z 0-9 _ . -")]
    BadName(String),
    #[error("{0:?} is not a DynamoDB table ARN (arn:aws:dynamodb:REGION:ACCOUNT:table/NAME)")]
    BadArn(String),
}

impl TableRef {
    pub fn parse(text: &str) -> Result<Self, TableRefError> {
        if let Some(rest) = text.strip_prefix("arn:") {
            let bad = || TableRefError::BadArn(text.to_owned());
            let mut parts = rest.splitn(5, ':');
            let (partition, service, region, account, resource) = (parts.next(), parts.next(), parts.next(), parts.next(), parts.next());
            let (Some(partition), Some("dynamodb"), Some(region), Some(account), Some(resource)) =
                (partition, service, region, account, resource)
            else {
                return Err(bad());
            };
            let name = resource.strip_prefix("table/").ok_or_else(bad)?;
            let region_ok = !region.is_empty() && region.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            let account_ok = account.len() == 12 && account.chars().all(|c| c.is_ascii_digit());
            if !partition.starts_with("aws") || !region_ok || !account_ok || !is_table_name(name) {
                return Err(bad());
            }
            return Ok(Self { name: name.to_owned(), region: Some(region.to_owned()), account: Some(account.to_owned()) });
        }
        if is_table_name(text) {
            Ok(Self { name: text.to_owned(), region: None, account: None })
        } else {
            Err(TableRefError::BadName(text.to_owned()))
        }
    }

    /// The region to call: the ARN's, else the spec's, else the operator's default (None).
    pub fn region_or<'a>(&'a self, spec_region: Option<&'a str>) -> Option<&'a str> {
        self.region.as_deref().or(spec_region)
    }
}

impl fmt::Display for TableRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// 3 to 255 of `[A-Za-z0-9_.-]`, as DynamoDB names tables and backups.
pub fn is_table_name(text: &str) -> bool {
    (3..=255).contains(&text.len()) && text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_has_no_region() {
        let t = TableRef::parse("Orders").expect("valid name");
        assert_eq!((t.name.as_str(), t.region.as_deref()), ("Orders", None));
        assert_eq!(t.region_or(Some("eu-west-1")), Some("eu-west-1"));
    }

    #[test]
    fn an_arn_carries_region_and_account() {
        let t = TableRef::parse("arn:aws:dynamodb:eu-west-1:123456789012:table/UserProfiles").expect("valid ARN");
        assert_eq!(t.name, "UserProfiles");
        assert_eq!(t.region.as_deref(), Some("eu-west-1"));
        assert_eq!(t.account.as_deref(), Some("123456789012"));
        assert_eq!(t.region_or(Some("us-east-1")), Some("eu-west-1"), "the ARN's region wins");
    }

    #[test]
    fn bad_references_are_refused_with_a_reason() {
        assert!(matches!(TableRef::parse("my table"), Err(TableRefError::BadName(_))));
        assert!(matches!(TableRef::parse("ab"), Err(TableRefError::BadName(_))));
        assert!(matches!(TableRef::parse("arn:aws:s3:::bucket"), Err(TableRefError::BadArn(_))));
        assert!(matches!(TableRef::parse("arn:aws:dynamodb:eu-west-1:123:table/Orders"), Err(TableRefError::BadArn(_))));
    }
}
