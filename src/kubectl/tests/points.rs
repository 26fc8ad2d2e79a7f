//! Golden tests of `points`: the drawing of fixed objects at a fixed `now`.

use jiff::tz::TimeZone;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::{WIDTHS, at, backup, golden, now, policy};
use crate::{
    api::{BackupMethod, BackupPhase, CopyState, CopyStatus, DynamoBackup},
    kubectl::render::{Canvas, RestorePoints, points_text, restore_points, widest_line},
};

/// A DynamoDB backup of UserProfiles in eu-west-1.
fn native(name: &str, created: &str) -> DynamoBackup {
    let mut b = backup(name, "UserProfiles", BackupPhase::Available, created, "schedule");
    if let Some(status) = b.status.as_mut() {
        status.backup_arn = Some(format!("arn:aws:dynamodb:eu-west-1:123456789012:table/UserProfiles/backup/{name}"));
    }
    b
}

/// An AWS Backup snapshot of UserProfiles in eu-west-1, copied to eu-central-1.
fn vaulted(name: &str, created: &str) -> DynamoBackup {
    let mut b = backup(name, "UserProfiles", BackupPhase::Available, created, "schedule");
    b.spec.method = BackupMethod::AWSBackup;
    if let Some(status) = b.status.as_mut() {
        status.method = Some(BackupMethod::AWSBackup);
        status.recovery_point_arn = Some(format!("arn:aws:backup:eu-west-1:123456789012:recovery-point:{name}"));
        status.copies = vec![CopyStatus {
            destination_backup_vault_arn: "arn:aws:backup:eu-central-1:123456789012:backup-vault:dr".into(),
            region: "eu-central-1".into(),
            copy_job_id: Some("copy-1".into()),
            recovery_point_arn: None,
            state: CopyState::Completed,
            message: None,
        }];
    }
    b
}

fn backups() -> Vec<DynamoBackup> {
    let mut creating = native("userprofiles-now", "2026-01-15T10:29:00Z");
    if let Some(status) = creating.status.as_mut() {
        status.phase = Some(BackupPhase::Creating);
    }
    let mut old = native("userprofiles-2025-11", "2025-11-20T03:00:00Z");
    if let Some(status) = old.status.as_mut() {
        status.created_at = Some(Time(at("2025-11-20T03:00:00Z")));
    }
    vec![
        native("userprofiles-userprofiles-20260115-0300", "2026-01-15T03:00:02Z"),
        native("userprofiles-userprofiles-20260114-0300", "2026-01-14T03:00:02Z"),
        native("userprofiles-userprofiles-20260113-0300", "2026-01-13T03:00:01Z"),
        vaulted("userprofiles-weekly-20260111", "2026-01-11T04:00:00Z"),
        vaulted("userprofiles-weekly-20260104", "2026-01-04T04:00:00Z"),
        native("before-v42", "2025-12-20T16:45:00Z"),
        old,
        creating,
    ]
}

fn points(at_text: Option<&str>) -> RestorePoints {
    restore_points(&[policy()], &backups(), "UserProfiles", at_text.map(at))
}

fn canvas(width: usize, since: Option<&str>, tz: &str) -> Canvas {
    Canvas { now: now(), since: since.map(at), tz: TimeZone::get(tz).unwrap(), width, colour: false }
}

#[test]
fn points_draws_the_window_the_backups_and_the_incident() {
    let drawn = points_text(&points(Some("2026-01-15T09:14:59Z")), &canvas(80, None, "Europe/Berlin"));
    golden("points-80.txt", &drawn);
    assert!(drawn.contains("PITR") && drawn.contains("[===") && drawn.contains("eu-central-1"), "{drawn}");
    assert!(drawn.contains("inside the PITR window") && drawn.contains("userprofiles-userprofiles-20260115-0300"), "{drawn}");
    assert!(drawn.contains("1 not available"), "the backup still being made is counted, not drawn: {drawn}");
    golden("points-120-utc.txt", &points_text(&points(None), &canvas(120, None, "UTC")));
}

#[test]
fn points_since_zooms_in() {
    let drawn = points_text(&points(Some("2026-01-15T09:14:59Z")), &canvas(80, Some("2026-01-14T10:30:00Z"), "UTC"));
    golden("points-since-24h.txt", &drawn);
    assert!(drawn.contains("older than the axis"), "{drawn}");
}

#[test]
fn points_without_a_policy_says_so() {
    let only_backups = restore_points(&[], &backups(), "UserProfiles", Some(at("2025-12-01T00:00:00Z")));
    let drawn = points_text(&only_backups, &canvas(80, None, "UTC"));
    golden("points-no-policy.txt", &drawn);
    assert!(drawn.contains("no policy reports it") && drawn.contains("outside the PITR window"), "{drawn}");
}

#[test]
fn points_fit_the_terminal_and_colour_only_when_asked() {
    let with_incident = points(Some("2026-01-15T09:14:59Z"));
    for width in WIDTHS.into_iter().chain([40, 60]) {
        let drawn = points_text(&with_incident, &canvas(width, None, "Europe/Berlin"));
        assert!(widest_line(&drawn) <= width, "points wraps at {width} columns:\n{drawn}");
        assert!(!drawn.contains('\u{1b}'));
    }
    let coloured = points_text(&with_incident, &Canvas { colour: true, ..canvas(80, None, "UTC") });
    assert!(coloured.contains('\u{1b}') && widest_line(&coloured) <= 80);
}

#[test]
fn points_as_data() {
    let data = serde_json::to_value(points(Some("2026-01-15T09:14:59Z"))).unwrap();
    assert_eq!(data["window"]["earliestRestorableTime"], "2025-12-11T10:30:00Z");
    assert_eq!(data["backups"].as_array().map(Vec::len), Some(8));
    let vaulted = data["backups"].as_array().unwrap().iter().find(|b| b["name"] == "userprofiles-weekly-20260111").unwrap();
    assert_eq!(vaulted["region"], "eu-west-1");
    assert_eq!(vaulted["copies"][0], "eu-central-1");
    assert_eq!(data["at"], "2026-01-15T09:14:59Z");
}

#[test]
fn points_survives_a_window_reported_upside_down() {
    let mut p = points(None);
    if let Some(w) = p.window.as_mut() {
        std::mem::swap(&mut w.earliest_restorable_time, &mut w.latest_restorable_time);
    }
    let drawn = points_text(&p, &canvas(80, None, "UTC"));
    let lane = drawn.lines().find(|l| *l == "PITR" || l.starts_with("PITR ")).unwrap_or_default();
    assert_eq!(lane.trim(), "PITR", "no bar for a window that makes no sense: {drawn}");
}
