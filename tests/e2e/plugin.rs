//! `kubectl dynamobackup` through kubectl's own plugin discovery: the plugin binary on PATH,
//! kubectl running it against the real apiserver, the operator doing the work.

use std::{path::Path, process::Command, sync::Arc, time::Duration};

use dynamo_backup_operator::api::{DrillResult, DynamoBackup, DynamoBackupPolicy, DynamoRestore, labels};
use kube::{
    Api,
    api::{Patch, PatchParams, PostParams},
};
use libtest_mimic::Trial;

use crate::{
    backup::WAIT,
    policy::{every, policy},
    support::{
        Env, TestCtx, ensure,
        process::eventually,
        tables::{create_table, items, table_exists},
    },
};

pub fn trials(env: &Arc<Env>) -> Vec<Trial> {
    vec![env.trial("plugin_walks_an_incident_through_kubectl", incident), env.trial("plugin_every_command_has_help", help)]
}

pub(crate) struct Out {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// `kubectl dynamobackup ARGS` in the test's namespace, as an engineer would run it.
pub(crate) fn kubectl(ctx: &TestCtx, args: &[&str]) -> Result<Out, String> {
    let plugin = Path::new(env!("CARGO_BIN_EXE_kubectl-dynamobackup"));
    let plugin_dir = plugin.parent().ok_or("no plugin directory")?;
    let kubectl_dir = ctx.env.bins.kubectl.parent().ok_or("no kubectl directory")?;
    let path = format!("{}:{}:{}", plugin_dir.display(), kubectl_dir.display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new(&ctx.env.bins.kubectl)
        .arg("dynamobackup")
        .args(args)
        .args(["-n", &ctx.namespace])
        .env("PATH", path)
        .env("KUBECONFIG", &ctx.env.plane.kubeconfig)
        .env("NO_COLOR", "1")
        .output()
        .map_err(|e| format!("running kubectl: {e}"))?;
    let out = Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    println!("$ kubectl dynamobackup {}\n{}{}[exit {:?}]", args.join(" "), out.stdout, out.stderr, out.code);
    Ok(out)
}

fn ok(out: &Out) -> Result<(), String> {
    ensure(out.code == Some(0), || format!("exit {:?}: {}", out.code, out.stderr))
}

async fn incident(ctx: TestCtx) -> Result<(), String> {
    let table = ctx.table("UserProfiles");
    create_table(&ctx.dynamo(), &table, &[("u-1", "ada"), ("u-2", "grace")]).await?;
    let _op = ctx.start_operator(&[])?;
    let mut p = policy("profiles", &[&table]);
    p.spec.schedule = Some(every("@every 1h"));
    let policies: Api<DynamoBackupPolicy> = ctx.api();
    policies.create(&PostParams::default(), &p).await.map_err(|e| e.to_string())?;
    let window = eventually("the policy to report the PITR window", WAIT, || {
        let policies = policies.clone();
        async move {
            let p = policies.get("profiles").await.ok()?;
            let pitr = p.status?.tables.first()?.point_in_time_recovery.clone()?;
            Some((pitr.earliest_restorable_time?.0, pitr.latest_restorable_time?.0))
        }
    })
    .await?;

    // Where do we stand?
    let status = kubectl(&ctx, &["status"])?;
    ok(&status)?;
    ensure(status.stdout.contains(&table) && status.stdout.contains("on (35d)") && status.stdout.contains("profiles"), || {
        status.stdout.clone()
    })?;

    // A snapshot now, waited for.
    let backup = kubectl(&ctx, &["backup", &table, "--name", "before-fix", "--wait"])?;
    ok(&backup)?;
    ensure(backup.stderr.contains("is Ready"), || backup.stderr.clone())?;
    let list = kubectl(&ctx, &["list", &table])?;
    ok(&list)?;
    ensure(list.stdout.contains("before-fix") && list.stdout.contains("Available") && list.stdout.contains("manual"), || {
        list.stdout.clone()
    })?;
    let json = kubectl(&ctx, &["list", "-o", "json"])?;
    let parsed: serde_json::Value = serde_json::from_str(&json.stdout).map_err(|e| format!("list -o json: {e}"))?;
    ensure(parsed.as_array().is_some_and(|a| a.iter().any(|b| b["name"] == "before-fix")), || json.stdout.clone())?;

    // A moment before the window: refused before anything is created, the window printed.
    let before = (window.0 - jiff::SignedDuration::from_hours(1)).to_string();
    let outside = kubectl(&ctx, &["restore", &table, "--to", &before, "--as", &ctx.table("Never")])?;
    ensure(outside.code == Some(3) && outside.stderr.contains("outside the point-in-time window"), || outside.stderr.clone())?;
    let restores: Api<DynamoRestore> = ctx.api();
    ensure(restores.list(&Default::default()).await.map_err(|e| e.to_string())?.items.is_empty(), || "a restore was created".into())?;

    // For GitOps: the manifest, not the object.
    let inside = window.1.to_string();
    let dry = kubectl(&ctx, &["restore", &table, "--to", &inside, "--as", &ctx.table("Fixed"), "--dry-run"])?;
    ok(&dry)?;
    ensure(dry.stdout.contains("kind: DynamoRestore") && dry.stdout.contains("restoreTime"), || dry.stdout.clone())?;
    ensure(restores.list(&Default::default()).await.map_err(|e| e.to_string())?.items.is_empty(), || "--dry-run created it".into())?;

    // The restore itself.
    let fixed = ctx.table("Fixed");
    let restore = kubectl(&ctx, &["restore", &table, "--latest", "--as", &fixed, "--wait", "--timeout", "2m"])?;
    ok(&restore)?;
    ensure(table_exists(&ctx.dynamo(), &fixed).await && items(&ctx.dynamo(), &fixed).await?.len() == 2, || {
        "the new table lacks its items".into()
    })?;

    // From the snapshot, and the whole picture across namespaces as JSON.
    let from_backup = ctx.table("FromBackup");
    ok(&kubectl(&ctx, &["restore", "--from-backup", "before-fix", "--as", &from_backup, "--wait", "--timeout", "2m"])?)?;
    ensure(items(&ctx.dynamo(), &from_backup).await?.len() == 2, || "the table restored from the snapshot lacks its items".into())?;
    let everywhere = kubectl(&ctx, &["status", "-A", "-o", "json"])?;
    let parsed: serde_json::Value = serde_json::from_str(&everywhere.stdout).map_err(|e| format!("status -A -o json: {e}"))?;
    ensure(parsed.as_array().is_some_and(|a| a.iter().any(|l| l["table"] == table.as_str() && l["pitr"] == "ENABLED")), || {
        everywhere.stdout.clone()
    })?;

    // Look closer, keep the snapshot, pause the schedule.
    let describe = kubectl(&ctx, &["describe", "backup/before-fix"])?;
    ok(&describe)?;
    ensure(describe.stdout.contains("Conditions:") && describe.stdout.contains("BackupAvailable"), || describe.stdout.clone())?;
    ensure(kubectl(&ctx, &["describe", "backup/no-such"])?.code == Some(3), || "a missing object is exit 3".into())?;
    ok(&kubectl(&ctx, &["pin", "before-fix"])?)?;
    let backups: Api<DynamoBackup> = ctx.api();
    let pinned = backups.get("before-fix").await.map_err(|e| e.to_string())?;
    ensure(pinned.metadata.labels.as_ref().and_then(|l| l.get(labels::PINNED)).map(String::as_str) == Some("true"), || {
        "not pinned".into()
    })?;
    ok(&kubectl(&ctx, &["unpin", "before-fix"])?)?;
    let unpinned = backups.get("before-fix").await.map_err(|e| e.to_string())?;
    ensure(unpinned.metadata.labels.as_ref().is_none_or(|l| !l.contains_key(labels::PINNED)), || "still pinned".into())?;
    ok(&kubectl(&ctx, &["suspend", "profiles"])?)?;
    let suspended = policies.get("profiles").await.map_err(|e| e.to_string())?;
    ensure(suspended.spec.schedule.as_ref().is_some_and(|s| s.suspend), || "not suspended".into())?;
    ok(&kubectl(&ctx, &["resume", "profiles"])?)?;
    let resumed = policies.get("profiles").await.map_err(|e| e.to_string())?;
    ensure(resumed.spec.schedule.as_ref().is_some_and(|s| !s.suspend), || "not resumed".into())?;

    // Every table of the policy, now.
    let all = kubectl(&ctx, &["backup", "--policy", "profiles", "--wait"])?;
    ok(&all)?;
    let made = backups.list(&Default::default()).await.map_err(|e| e.to_string())?.items;
    ensure(
        made.iter().any(|b| {
            let l = b.metadata.labels.clone().unwrap_or_default();
            l.get(labels::POLICY).map(String::as_str) == Some("profiles") && l.get(labels::TRIGGER).map(String::as_str) == Some("manual")
        }),
        || "no manual snapshot labelled with the policy".into(),
    )?;

    // A restore drill now: refused while the policy has no spec.drill, then run and waited for;
    // the policy follows it in its status like one of its own.
    let refused = kubectl(&ctx, &["drill", "profiles"])?;
    ensure(refused.code == Some(3) && refused.stderr.contains("no spec.drill"), || refused.stderr.clone())?;
    let drill = serde_json::json!({"spec": {"drill": {"schedule": {"cron": "@yearly"}, "ttlAfterFinished": "1m"}}});
    policies.patch("profiles", &PatchParams::default(), &Patch::Merge(&drill)).await.map_err(|e| e.to_string())?;
    let drilled = kubectl(&ctx, &["drill", "profiles", "--wait", "--timeout", "2m"])?;
    ok(&drilled)?;
    ensure(drilled.stderr.contains("passed") && drilled.stderr.contains("-drill-"), || drilled.stderr.clone())?;
    eventually("the policy to report the drill", WAIT, || {
        let policies = policies.clone();
        let table = table.clone();
        async move {
            let p = policies.get("profiles").await.ok()?;
            p.status?.drills.iter().any(|d| d.table == table && d.result == DrillResult::Passed).then_some(())
        }
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(10)).await;
    Ok(())
}

async fn help(ctx: TestCtx) -> Result<(), String> {
    let commands =
        ["status", "backup", "list", "restore", "describe", "pin", "unpin", "suspend", "resume", "drill", "completion", "version"];
    let top = kubectl(&ctx, &["--help"])?;
    ok(&top)?;
    for command in commands {
        ensure(top.stdout.contains(command), || format!("{command} missing from --help"))?;
        let out = kubectl(&ctx, &[command, "--help"])?;
        ok(&out)?;
        ensure(out.stdout.contains("Usage:"), || format!("{command} --help: {}", out.stdout))?;
    }
    let completion = kubectl(&ctx, &["completion", "bash"])?;
    ok(&completion)?;
    ensure(completion.stdout.contains("complete"), || "no bash completion".into())?;
    let version = kubectl(&ctx, &["version"])?;
    ok(&version)?;
    ensure(version.stdout.contains(env!("CARGO_PKG_VERSION")), || version.stdout.clone())?;
    let usage = kubectl(&ctx, &["restore", "T", "--as", "N"])?;
    ensure(usage.code == Some(2), || format!("a missing source is a usage error: {:?}", usage.code))
}
