//! Names the operator derives: DynamoDB backup names, and Kubernetes names and label values
//! made from table names. Deterministic, so a retry finds what the first attempt made.

use sha2::{Digest, Sha256};

/// Kubernetes label values hold at most 63 characters.
pub const LABEL_VALUE_MAX: usize = 63;
/// Kubernetes object names (DNS-1123 subdomains) hold at most 253 characters.
pub const OBJECT_NAME_MAX: usize = 253;
/// DynamoDB backup names hold at most 255 characters.
pub const BACKUP_NAME_MAX: usize = 255;

/// The first 8 hex digits of SHA-256: short, stable, and enough to keep `Orders` and `orders` apart.
pub fn short_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

/// A DNS-1123 label-shaped form of a table name that fits in `max` characters: lowercased, with
/// `_` and `.` made `-`. Whenever that form is not the table name itself (case or characters
/// changed) or had to be cut, a hash of the exact name is appended, so two tables never share it.
pub fn table_slug(table: &str, max: usize) -> String {
    let plain: String = table
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
        .collect::<String>()
        .trim_matches('-')
        .to_owned();
    if plain == table && !plain.is_empty() && plain.len() <= max {
        return plain;
    }
    let hash = short_hash(table);
    let room = max.saturating_sub(hash.len() + 1);
    let head = cut(&plain, room);
    if head.is_empty() { hash } else { format!("{head}-{hash}") }
}

/// The value of the `dynamobackup.io/table` label for a table.
pub fn table_label_value(table: &str) -> String {
    table_slug(table, LABEL_VALUE_MAX)
}

/// A label value for any name: itself when it fits 63 characters, else cut and hashed.
pub fn label_value(name: &str) -> String {
    table_slug(name, LABEL_VALUE_MAX)
}

/// The name of the DynamoBackup a policy makes for one table and one occasion (`suffix`: a slot
/// time such as `20260115-0300`, or `pre-<template hash>`): `<policy>-<table>-<suffix>`, within
/// the 253 characters of an object name, and the same every time for the same inputs.
pub fn child_backup_name(policy: &str, table: &str, suffix: &str) -> String {
    let table = table_slug(table, LABEL_VALUE_MAX);
    let room = OBJECT_NAME_MAX - table.len() - suffix.len() - 2;
    let policy = if policy.len() <= room {
        policy.to_owned()
    } else {
        let hash = short_hash(policy);
        format!("{}-{hash}", cut(policy, room - hash.len() - 1))
    };
    format!("{policy}-{table}-{suffix}")
}

/// The DynamoDB backup name of a DynamoBackup without `spec.backupName`: its object name and the
/// start of its uid, so a re-created object with the same name never adopts an older backup.
pub fn default_backup_name(object_name: &str, uid: &str) -> String {
    let uid_part: String = uid.chars().filter(char::is_ascii_alphanumeric).take(8).collect();
    let room = BACKUP_NAME_MAX - uid_part.len() - 1;
    format!("{}-{uid_part}", cut(object_name, room))
}

/// `text` cut to at most `max` characters, never ending in `-` or `.`.
fn cut(text: &str, max: usize) -> String {
    let mut out: String = text.chars().take(max).collect();
    while out.ends_with(['-', '.']) {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_plain_lowercase_name_stays_as_it_is() {
        assert_eq!(table_label_value("orders"), "orders");
    }

    #[test]
    fn case_never_collides() {
        let upper = table_label_value("Orders");
        assert_ne!(upper, table_label_value("orders"));
        assert!(upper.starts_with("orders-"), "{upper}");
    }

    #[test]
    fn a_long_name_is_cut_and_hashed() {
        let long = "a".repeat(200);
        let value = table_label_value(&long);
        assert_eq!(value.len(), LABEL_VALUE_MAX);
        assert_ne!(value, table_label_value(&format!("{long}b")));
    }

    #[test]
    fn default_backup_name_is_deterministic_and_valid() {
        let name = default_backup_name("orders-before-v42", "5f0c7a1e-8b2d-4c3e-9f10-1234567890ab");
        assert_eq!(name, "orders-before-v42-5f0c7a1e");
        let long = default_backup_name(&"x".repeat(253), "5f0c7a1e-8b2d");
        assert!(long.len() <= BACKUP_NAME_MAX);
    }

    #[test]
    fn child_names_are_deterministic_and_fit() {
        assert_eq!(child_backup_name("orders", "Orders", "20260115-0300"), format!("orders-orders-{}-20260115-0300", short_hash("Orders")));
        assert_eq!(child_backup_name("orders", "orders", "pre-5f7c9d"), "orders-orders-pre-5f7c9d");
        let long = child_backup_name(&"p".repeat(253), &"T".repeat(255), "20260115-0300");
        assert!(long.len() <= OBJECT_NAME_MAX, "{}", long.len());
        assert_ne!(long, child_backup_name(&format!("{}q", "p".repeat(252)), &"T".repeat(255), "20260115-0300"));
    }

    proptest! {
        #[test]
        fn slugs_are_valid_label_values(table in "[A-Za-z0-9_.-]{3,255}") {
            let value = table_label_value(&table);
            prop_assert!(!value.is_empty() && value.len() <= LABEL_VALUE_MAX);
            prop_assert!(value.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
            prop_assert!(!value.starts_with('-') && !value.ends_with('-'));
        }

        #[test]
        fn different_tables_get_different_slugs(a in "[A-Za-z0-9_.-]{3,80}", b in "[A-Za-z0-9_.-]{3,80}") {
            prop_assume!(a != b);
            prop_assert_ne!(table_label_value(&a), table_label_value(&b));
        }
    }
}
