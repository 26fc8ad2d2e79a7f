//! The steps after a restored table is ACTIVE, in order, each recorded in status once done: what
//! a restore does not carry over by itself (tags, PITR, deletion protection, TTL).

use std::collections::BTreeMap;

use crate::api::{AfterRestore, TimeToLiveMode};

/// Steps done after the table is ACTIVE, in order; each is recorded once done.
pub const STEP_TAGS: &str = "tags";
pub const STEP_PITR: &str = "pointInTimeRecovery";
pub const STEP_DELETION_PROTECTION: &str = "deletionProtection";
pub const STEP_TTL: &str = "timeToLive";

/// One step as the spec asks for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AfterStep {
    /// Tag the new table: the source's tags (when `copy` and the source still exists), then these.
    Tags {
        copy: bool,
        extra: BTreeMap<String, String>,
    },
    /// Turn PITR on with this recovery period.
    Pitr {
        days: i32,
    },
    DeletionProtection,
    /// The source's TTL attribute, when the source still exists and has one.
    CopyTtl,
    /// Not asked for: recorded as done with no call.
    Nothing,
}

/// The steps not done yet, in order, by name.
pub fn pending(spec: &AfterRestore, done: &[String]) -> Vec<(&'static str, AfterStep)> {
    [STEP_TAGS, STEP_PITR, STEP_DELETION_PROTECTION, STEP_TTL]
        .into_iter()
        .filter(|step| !done.iter().any(|d| d == step))
        .map(|step| {
            let what = match step {
                STEP_TAGS => AfterStep::Tags { copy: spec.copy_tags, extra: spec.tags.clone() },
                STEP_PITR => match &spec.point_in_time_recovery {
                    Some(pitr) if pitr.enabled => AfterStep::Pitr { days: pitr.recovery_period_in_days },
                    _ => AfterStep::Nothing,
                },
                STEP_DELETION_PROTECTION if spec.deletion_protection == Some(true) => AfterStep::DeletionProtection,
                STEP_TTL if spec.time_to_live == TimeToLiveMode::Copy => AfterStep::CopyTtl,
                _ => AfterStep::Nothing,
            };
            (step, what)
        })
        .collect()
}

/// Whether a pending step reads the source table (so one look tells whether it still exists).
pub fn needs_source(pending: &[(&str, AfterStep)]) -> bool {
    pending.iter().any(|(_, s)| matches!(s, AfterStep::Tags { copy: true, .. } | AfterStep::CopyTtl))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::PointInTimeRecoverySpec;

    #[test]
    fn only_the_steps_not_done_come_and_in_order() {
        let spec = AfterRestore {
            copy_tags: true,
            point_in_time_recovery: Some(PointInTimeRecoverySpec { enabled: true, recovery_period_in_days: 7 }),
            deletion_protection: Some(true),
            ..Default::default()
        };
        let all = pending(&spec, &[]);
        let names: Vec<&str> = all.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, [STEP_TAGS, STEP_PITR, STEP_DELETION_PROTECTION, STEP_TTL]);
        assert_eq!(all[1].1, AfterStep::Pitr { days: 7 });
        assert!(needs_source(&all));
        let rest = pending(&spec, &[STEP_TAGS.to_owned(), STEP_PITR.to_owned()]);
        assert_eq!(rest.iter().map(|(n, _)| *n).collect::<Vec<_>>(), [STEP_DELETION_PROTECTION, STEP_TTL]);
        let plain = pending(&AfterRestore { copy_tags: false, time_to_live: TimeToLiveMode::None, ..Default::default() }, &[]);
        assert!(plain.iter().skip(1).all(|(_, s)| *s == AfterStep::Nothing));
        assert!(!needs_source(&plain));
    }
}
