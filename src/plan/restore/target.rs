//! Whether the target table name is free, the table this restore made (recorded, or found after
//! a crash and adopted), or someone else's, which is never touched.

use std::time::Duration;

use jiff::Timestamp;

use crate::api::facts::Table;

/// What the target table name stands for right now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// No table of that name: a restore may create it.
    Free,
    /// The table this restore created (recorded, or found after a crash and adopted).
    Ours,
    /// Someone else's table: never touched.
    Taken,
}

/// Clock skew tolerated between our clock (`started_at`) and DynamoDB's (`created_at`).
const SKEW: Duration = Duration::from_secs(120);

/// `recorded_id`: the table id in status. `started_at`: when this restore recorded its intent
/// to call DynamoDB (written before the call). `source_arn`: the backup or table restored from.
pub fn classify_target(
    table: Option<&Table>,
    recorded_id: Option<&str>,
    started_at: Option<Timestamp>,
    source_arn: Option<&str>,
) -> Target {
    let Some(table) = table else { return Target::Free };
    if recorded_id.is_some() && table.id.as_deref() == recorded_id {
        return Target::Ours;
    }
    if recorded_id.is_some() {
        // We had a table of that name, and this is another one.
        return Target::Taken;
    }
    let (Some(started), Some(restore)) = (started_at, &table.restore) else { return Target::Taken };
    let from_our_source = match source_arn {
        Some(arn) => restore.source_backup_arn.as_deref() == Some(arn) || restore.source_table_arn.as_deref() == Some(arn),
        None => false,
    };
    let created_after_intent = table.created_at.is_some_and(|c| c.as_second() + (SKEW.as_secs() as i64) >= started.as_second());
    if from_our_source && created_after_intent { Target::Ours } else { Target::Taken }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::facts::RestoreSummary;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn table(id: &str, created: &str, source_backup: Option<&str>) -> Table {
        Table {
            name: "Orders-restored".into(),
            arn: None,
            id: Some(id.into()),
            status: "ACTIVE".into(),
            item_count: None,
            size_bytes: None,
            created_at: Some(ts(created)),
            global_indexes: vec![],
            local_indexes: vec![],
            restore: source_backup.map(|b| RestoreSummary {
                source_backup_arn: Some(b.into()),
                source_table_arn: None,
                restored_at: None,
                in_progress: false,
            }),
            deletion_protection: None,
            ..Default::default()
        }
    }

    #[test]
    fn the_recorded_table_is_ours() {
        let t = table("id-1", "2026-01-10T12:00:00Z", Some("arn:b"));
        assert_eq!(classify_target(Some(&t), Some("id-1"), None, None), Target::Ours);
        assert_eq!(classify_target(Some(&t), Some("id-0"), None, Some("arn:b")), Target::Taken);
        assert_eq!(classify_target(None, Some("id-1"), None, None), Target::Free);
    }

    #[test]
    fn a_restore_in_flight_after_a_crash_is_adopted() {
        let t = table("id-1", "2026-01-10T12:00:05Z", Some("arn:b"));
        let started = Some(ts("2026-01-10T12:00:04Z"));
        assert_eq!(classify_target(Some(&t), None, started, Some("arn:b")), Target::Ours);
        assert_eq!(classify_target(Some(&t), None, started, Some("arn:other")), Target::Taken, "another source");
        assert_eq!(classify_target(Some(&t), None, None, Some("arn:b")), Target::Taken, "we never started");
        let old = table("id-1", "2026-01-09T00:00:00Z", Some("arn:b"));
        assert_eq!(classify_target(Some(&old), None, started, Some("arn:b")), Target::Taken, "made before we started");
        let plain = table("id-1", "2026-01-10T12:00:05Z", None);
        assert_eq!(classify_target(Some(&plain), None, started, Some("arn:b")), Target::Taken, "not a restored table");
    }
}
