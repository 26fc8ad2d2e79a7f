//! Golden tests of the plugin's human output: fixed objects and a fixed `now`, compared with the
//! files of `tests/golden/`. A test fails when its output drifts from its file;
//! `UPDATE_GOLDEN=1 cargo test --lib kubectl` writes them anew: read the diff before committing
//! it. `points` has its own file of tests.

mod points;

use std::{collections::BTreeMap, path::PathBuf};

use clap::{CommandFactory, Parser};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use super::{
    Plugin,
    args::Command,
    names::derived_name,
    render::{EventLine, Layout, backup_lines, describe_text, list_table, status_lines, status_table, widest_line},
};
use crate::api::{
    BackupPhase, BackupSchedule, DeletionPolicy, DynamoBackup, DynamoBackupPolicy, DynamoBackupPolicySpec, DynamoBackupPolicyStatus,
    DynamoBackupSpec, DynamoBackupStatus, LastBackup, OnPolicyDelete, PitrStatus, PointInTimeRecoverySpec, PolicyTableStatus, labels,
};

pub(super) fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

pub(super) fn now() -> Timestamp {
    at("2026-01-15T10:30:00Z")
}

pub(super) fn golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(actual, expected, "{name} differs from its golden file (UPDATE_GOLDEN=1 rewrites it)");
}

pub(super) fn cond(type_: &str, status: &str, reason: &str, message: &str) -> Condition {
    Condition {
        type_: type_.into(),
        status: status.into(),
        reason: reason.into(),
        message: message.into(),
        last_transition_time: Time(at("2026-01-15T10:00:00Z")),
        observed_generation: Some(1),
    }
}

pub(super) fn policy() -> DynamoBackupPolicy {
    let mut p = DynamoBackupPolicy::new(
        "userprofiles",
        DynamoBackupPolicySpec {
            tables: vec!["UserProfiles".into(), "Sessions".into()],
            table_selector: None,
            region: None,
            point_in_time_recovery: PointInTimeRecoverySpec::default(),
            schedule: Some(BackupSchedule {
                cron: "0 3 * * *".into(),
                time_zone: None,
                jitter: None,
                starting_deadline: None,
                suspend: false,
            }),
            pre_rollout: None,
            retention: None,
            backup_deletion_policy: DeletionPolicy::Delete,
            on_policy_delete: OnPolicyDelete::Orphan,
            backup: None,
            drill: None,
        },
    );
    p.metadata.namespace = Some("shop".into());
    p.status = Some(DynamoBackupPolicyStatus {
        conditions: vec![cond("Ready", "True", "Protected", "2 tables protected")],
        next_schedule_time: Some(Time(at("2026-01-16T03:00:00Z"))),
        tables: vec![
            PolicyTableStatus {
                name: "UserProfiles".into(),
                table_arn: Some("arn:aws:dynamodb:eu-west-1:123456789012:table/UserProfiles".into()),
                point_in_time_recovery: Some(PitrStatus {
                    status: "ENABLED".into(),
                    recovery_period_in_days: Some(35),
                    earliest_restorable_time: Some(Time(at("2025-12-11T10:30:00Z"))),
                    latest_restorable_time: Some(Time(at("2026-01-15T10:25:00Z"))),
                }),
                last_backup: Some(LastBackup {
                    name: "userprofiles-userprofiles-20260115-0300".into(),
                    created_at: Some(Time(at("2026-01-15T03:00:02Z"))),
                }),
                available_backups: Some(7),
                ..Default::default()
            },
            PolicyTableStatus {
                name: "Sessions".into(),
                table_arn: None,
                point_in_time_recovery: Some(PitrStatus { status: "DISABLED".into(), ..Default::default() }),
                last_backup: None,
                available_backups: Some(0),
                ..Default::default()
            },
        ],
        ..Default::default()
    });
    p
}

pub(super) fn backup(name: &str, table: &str, phase: BackupPhase, created: &str, trigger: &str) -> DynamoBackup {
    let mut b = DynamoBackup::new(name, DynamoBackupSpec::for_table(table));
    b.metadata.namespace = Some("shop".into());
    b.metadata.labels = Some(BTreeMap::from([(labels::TRIGGER.to_owned(), trigger.to_owned())]));
    b.status = Some(DynamoBackupStatus {
        phase: Some(phase),
        size_bytes: Some(52_428_800),
        created_at: Some(Time(at(created))),
        conditions: if phase == BackupPhase::Failed {
            vec![cond("Stalled", "True", "TableNotFound", "table \"Orderz\" does not exist in us-east-1")]
        } else {
            vec![cond("Ready", "True", "Available", "backup is available")]
        },
        ..Default::default()
    });
    b
}

fn backups() -> Vec<DynamoBackup> {
    let mut pinned = backup("orders-before-v42", "Orders", BackupPhase::Available, "2026-01-14T18:00:00Z", "manual");
    pinned.metadata.labels.get_or_insert_default().insert(labels::PINNED.into(), "true".into());
    vec![pinned, backup("orderz-typo", "Orderz", BackupPhase::Failed, "2026-01-15T10:20:00Z", "manual")]
}

#[test]
fn status_output() {
    let lines = status_lines(&[policy()], &backups(), None);
    golden("status.txt", &status_table(&lines, now(), false, Layout::unbounded()));
    golden("status-all-namespaces.txt", &status_table(&lines, now(), true, Layout::unbounded()));
    let only = status_lines(&[policy()], &backups(), Some("UserProfiles"));
    assert_eq!(only.len(), 1);
    let by_policy = status_lines(&[policy()], &backups(), Some("userprofiles"));
    assert_eq!(by_policy.iter().map(|l| l.table.as_str()).collect::<Vec<_>>(), ["Sessions", "UserProfiles"]);
}

#[test]
fn status_flags_what_needs_a_person() {
    let lines = status_lines(&[policy()], &backups(), None);
    let find = |t: &str| lines.iter().find(|l| l.table == t).unwrap();
    assert!(find("Orders").attention[0].starts_with("no policy"), "an unprotected table stands out");
    assert!(find("Sessions").attention[0].contains("PITR is off"));
    assert!(find("Orderz").attention.iter().any(|a| a.contains("Stalled")));
    assert!(find("UserProfiles").attention.is_empty());
}

#[test]
fn list_output() {
    golden("list.txt", &list_table(&backup_lines(&backups(), None), now(), false, Layout::unbounded()));
    assert_eq!(backup_lines(&backups(), Some("Orders")).len(), 1);
}

#[test]
fn describe_output() {
    let b = backups().remove(1);
    let value = serde_json::to_value(&b).unwrap();
    let events = vec![EventLine {
        at: Some(at("2026-01-15T10:20:01Z")),
        warning: true,
        reason: "TableNotFound".into(),
        message: "table \"Orderz\" does not exist in us-east-1".into(),
    }];
    golden("describe-backup.txt", &describe_text("DynamoBackup", &value, &events, now(), Layout::unbounded()));
    let narrow = describe_text("DynamoBackup", &value, &events, now(), Layout { width: Some(80), ..Layout::unbounded() });
    assert!(widest_line(&narrow) <= 80, "{narrow}");
}

#[test]
fn colour_only_when_asked() {
    let lines = status_lines(&[policy()], &backups(), None);
    assert!(!status_table(&lines, now(), false, Layout::unbounded()).contains('\u{1b}'));
    assert!(status_table(&lines, now(), false, Layout { colour: true, ..Layout::unbounded() }).contains('\u{1b}'));
}

/// The terminal widths the tables are checked at: nothing wraps at any of them, colour or not.
pub(super) const WIDTHS: [usize; 3] = [80, 100, 120];

#[test]
fn status_fits_the_terminal() {
    let lines = status_lines(&[policy()], &backups(), None);
    for width in WIDTHS {
        for all_namespaces in [false, true] {
            for colour in [false, true] {
                let layout = Layout { width: Some(width), wide: false, colour };
                let text = status_table(&lines, now(), all_namespaces, layout);
                assert!(widest_line(&text) <= width, "status wraps at {width} columns:\n{text}");
                assert!(text.contains("UserProfiles") && text.contains("on (35d)") && text.contains("PITR is off"), "{text}");
            }
        }
        golden(&format!("status-{width}.txt"), &status_table(&lines, now(), false, Layout { width: Some(width), ..Layout::unbounded() }));
    }
    let wide = status_table(&lines, now(), false, Layout { width: Some(80), wide: true, colour: false });
    assert_eq!(wide, status_table(&lines, now(), false, Layout::unbounded()), "-o wide shows every column, whole");
}

#[test]
fn list_fits_the_terminal() {
    let lines = backup_lines(&backups(), None);
    for width in WIDTHS {
        for all_namespaces in [false, true] {
            let text = list_table(&lines, now(), all_namespaces, Layout { width: Some(width), ..Layout::unbounded() });
            assert!(widest_line(&text) <= width, "list wraps at {width} columns:\n{text}");
            assert!(text.contains("orders-before-v42") && text.contains("Failed"), "{text}");
        }
        golden(&format!("list-{width}.txt"), &list_table(&lines, now(), false, Layout { width: Some(width), ..Layout::unbounded() }));
    }
    let wide = list_table(&lines, now(), false, Layout { width: Some(80), wide: true, colour: false });
    assert!(wide.contains("COPIES") && wide.contains("POLICY"), "{wide}");
}

#[test]
fn every_command_has_help() {
    let mut command = Plugin::command();
    command.build();
    for sub in command.get_subcommands() {
        assert!(sub.get_about().is_some(), "{} has no help", sub.get_name());
        for arg in sub.get_arguments() {
            assert!(
                arg.get_help().is_some() || arg.is_hide_set() || arg.get_id() == "help",
                "{} --{} has no help",
                sub.get_name(),
                arg.get_id()
            );
        }
    }
    golden("help.txt", &Plugin::command().render_long_help().to_string());
}

#[test]
fn the_incident_command_line_parses() {
    let plugin = Plugin::try_parse_from([
        "kubectl-dynamobackup",
        "restore",
        "UserProfiles",
        "--to",
        "10:14:59",
        "--tz",
        "Europe/Berlin",
        "--as",
        "UserProfiles-fixed",
        "--wait",
    ])
    .unwrap();
    let Command::Restore(args) = plugin.command else { panic!("not a restore") };
    assert_eq!(args.target, "UserProfiles-fixed");
    assert!(args.wait && args.to.as_deref() == Some("10:14:59"));
    assert!(Plugin::try_parse_from(["kubectl-dynamobackup", "restore", "T", "--as", "N"]).is_err(), "a source is required");
    assert!(Plugin::try_parse_from(["kubectl-dynamobackup", "restore", "T", "--latest", "--to", "now", "--as", "N"]).is_err());
}

#[test]
fn derived_names_read_like_the_table() {
    assert_eq!(derived_name("UserProfiles-fixed", "20260115-093012"), "userprofiles-fixed-20260115-093012");
    assert_eq!(derived_name("Orders_v2.archive", "manual-20260115-093012"), "orders-v2-archive-manual-20260115-093012");
    assert_eq!(derived_name("___", "x"), "x");
}
