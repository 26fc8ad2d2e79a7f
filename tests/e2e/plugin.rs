//! `kubectl dynamobackup` through kubectl's own plugin discovery: the plugin binary on PATH,
//! kubectl running it against the real apiserver, the operator doing the work.

use std::{path::Path, process::Command, sync::Arc, time::Duration};

use dynamo_backup_operator::api::{CopyBackItems, DrillResult, DynamoBackup, DynamoBackupPolicy, DynamoRestore, labels};
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
        tables::{create_table, delete, items, put, table_exists, wait_condition},
    },
};

pub fn trials(env: &Arc<Env>) -> Vec<Trial> {
    vec![
        env.trial("plugin_walks_an_incident_through_kubectl", incident),
        env.trial("plugin_every_command_has_help", help),
        env.trial("plugin_points_draws_the_window_and_the_backups", points),
        env.trial("plugin_recover_creates_a_copy_back_restore", recover),
        env.trial("plugin_recover_and_write_back_repair_the_live_table", recover_and_write_back),
    ]
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
    let commands = [
        "status",
        "backup",
        "list",
        "restore",
        "recover",
        "points",
        "describe",
        "pin",
        "unpin",
        "suspend",
        "resume",
        "drill",
        "completion",
        "version",
    ];
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

/// `points`: a table with a policy (PITR on) and two snapshots, drawn on one axis.
async fn points(ctx: TestCtx) -> Result<(), String> {
    let table = ctx.table("Points");
    create_table(&ctx.dynamo(), &table, &[("u-1", "ada")]).await?;
    let _op = ctx.start_operator(&[])?;
    let policies: Api<DynamoBackupPolicy> = ctx.api();
    policies.create(&PostParams::default(), &policy("points", &[&table])).await.map_err(|e| e.to_string())?;
    let latest = eventually("the policy to report the PITR window", WAIT, || {
        let policies = policies.clone();
        async move { policies.get("points").await.ok()?.status?.tables.first()?.point_in_time_recovery.clone()?.latest_restorable_time }
    })
    .await?;
    for name in ["points-first", "points-second"] {
        ok(&kubectl(&ctx, &["backup", &table, "--name", name, "--wait"])?)?;
    }

    let drawn = kubectl(&ctx, &["points", &table, "--at", &latest.0.to_string(), "--tz", "UTC"])?;
    ok(&drawn)?;
    let text = &drawn.stdout;
    ensure(text.starts_with(&format!("{table}\nwhat it can be restored to (times in UTC)")), || text.clone())?;
    let lane = |label: &str| text.lines().find(|l| l.starts_with(label)).map(str::to_owned);
    ensure(lane("PITR").is_some_and(|l| l.contains('|') || l.contains(']')), || format!("no PITR window drawn:\n{text}"))?;
    ensure(text.lines().any(|l| !l.starts_with("PITR") && l.contains('D') && !l.contains("DynamoDB")), || {
        format!("no backup marks:\n{text}")
    })?;
    ensure(text.contains("backups: 2 restorable") && text.contains("inside the PITR window"), || text.clone())?;
    ensure(text.lines().all(|l| l.chars().count() <= 80), || format!("wider than 80 columns into a pipe:\n{text}"))?;

    let data = kubectl(&ctx, &["points", &table, "-o", "json"])?;
    ok(&data)?;
    let parsed: serde_json::Value = serde_json::from_str(&data.stdout).map_err(|e| format!("points -o json: {e}"))?;
    ensure(parsed["window"]["status"] == "ENABLED", || data.stdout.clone())?;
    let names: Vec<&str> = parsed["backups"].as_array().map(|a| a.iter().filter_map(|b| b["name"].as_str()).collect()).unwrap_or_default();
    ensure(names == ["points-first", "points-second"], || data.stdout.clone())?;

    let nothing = kubectl(&ctx, &["points", &ctx.table("NoSuchTable")])?;
    ensure(nothing.code == Some(3) && nothing.stderr.contains("no policy reports"), || nothing.stderr.clone())
}

/// `recover`: the DynamoRestore it creates carries the copy-back the flags ask for; a bad keys
/// file is refused before anything is created. No operator runs: what the controller does
/// with spec.copyBack is tested with the controller.
async fn recover(ctx: TestCtx) -> Result<(), String> {
    let table = ctx.table("Profiles");
    let restores: Api<DynamoRestore> = ctx.api();
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let bad = dir.path().join("bad-keys.json");
    std::fs::write(&bad, "{\"id\":{\"S\":\"user-7\"}}\n{\"id\":\"user-8\"}\n").map_err(|e| e.to_string())?;
    let good = dir.path().join("keys.json");
    std::fs::write(&good, "[{\"id\":{\"S\":\"user-7\"}}, {\"id\":{\"S\":\"user-8\"}}]").map_err(|e| e.to_string())?;
    let path = |p: &std::path::Path| p.display().to_string();

    let refused = kubectl(&ctx, &["recover", &table, "--to", "5m ago", "--keys", &path(&bad)])?;
    ensure(refused.code == Some(3) && refused.stderr.contains("line 2"), || format!("{:?}: {}", refused.code, refused.stderr))?;
    let usage = kubectl(&ctx, &["recover", &table, "--to", "5m ago"])?;
    ensure(usage.code == Some(2), || format!("recover without --missing-items or --keys is a usage error: {:?}", usage.code))?;
    ensure(restores.list(&Default::default()).await.map_err(|e| e.to_string())?.items.is_empty(), || "a restore was created".into())?;

    // Missing items from a moment, compared only.
    let to = (jiff::Timestamp::now() - jiff::SignedDuration::from_mins(5)).round(jiff::Unit::Second).map_err(|e| e.to_string())?;
    let missing = kubectl(&ctx, &["recover", &table, "--to", &to.to_string(), "--missing-items", "--dry-run", "--name", "fix-missing"])?;
    ok(&missing)?;
    let made = restores.get("fix-missing").await.map_err(|e| e.to_string())?;
    let pit = made.spec.source.point_in_time.clone().ok_or("no pointInTime source")?;
    ensure(pit.table_name == table && pit.restore_time.map(|t| t.0) == Some(to), || format!("{:?}", made.spec.source))?;
    ensure(made.spec.target_table_name.starts_with(&format!("{table}-recover-")), || made.spec.target_table_name.clone())?;
    let copy = made.spec.copy_back.clone().ok_or("no copyBack")?;
    ensure(
        copy.into.as_deref() == Some(table.as_str()) && copy.items == CopyBackItems::Missing && copy.dry_run && copy.keys.is_none(),
        || format!("{copy:?}"),
    )?;

    // Listed keys from a snapshot of the table, into a named table; the manifest alone first.
    let mut before = DynamoBackup::new("profiles-before", dynamo_backup_operator::api::DynamoBackupSpec::for_table(&table));
    before.metadata.namespace = Some(ctx.namespace.clone());
    ctx.api::<DynamoBackup>().create(&PostParams::default(), &before).await.map_err(|e| e.to_string())?;
    let fixed = ctx.table("Fixed");
    let args = ["recover", &table, "--backup", "profiles-before", "--keys", &path(&good), "--target", &fixed, "--name", "fix-keys"];
    let manifest = kubectl(&ctx, &[&args[..], &["--manifest"]].concat())?;
    ok(&manifest)?;
    ensure(manifest.stdout.contains("kind: DynamoRestore") && manifest.stdout.contains("copyBack"), || manifest.stdout.clone())?;
    ensure(restores.get_opt("fix-keys").await.map_err(|e| e.to_string())?.is_none(), || "--manifest created it".into())?;
    ok(&kubectl(&ctx, &args)?)?;
    let made = restores.get("fix-keys").await.map_err(|e| e.to_string())?;
    ensure(
        made.spec.source.backup_ref.as_ref().is_some_and(|b| b.name == "profiles-before") && made.spec.target_table_name == fixed,
        || format!("{:?}", made.spec),
    )?;
    let copy = made.spec.copy_back.clone().ok_or("no copyBack")?;
    let ids: Vec<String> = copy.keys.iter().flatten().filter_map(|k| k.get("id")?.get("S").cloned()).collect();
    ensure(copy.items == CopyBackItems::Listed && !copy.dry_run && ids == ["user-7", "user-8"], || format!("{copy:?}"))?;

    // A snapshot of another table is refused.
    let other = kubectl(&ctx, &["recover", &ctx.table("Other"), "--backup", "profiles-before", "--missing-items"])?;
    ensure(other.code == Some(3) && other.stderr.contains("is of table"), || other.stderr.clone())?;
    ensure(restores.list(&Default::default()).await.map_err(|e| e.to_string())?.items.len() == 2, || "a third restore was created".into())
}

/// The incident through kubectl with the operator at work: `recover --dry-run --wait` reports
/// what is missing and writes nothing; `write-back --wait` writes it, the application's new
/// and changed items untouched.
async fn recover_and_write_back(ctx: TestCtx) -> Result<(), String> {
    let _op = ctx.start_operator(&[])?;
    let table = ctx.table("Users");
    let rows: Vec<(String, String)> = (0..40).map(|i| (format!("u-{i:02}"), format!("user {i}"))).collect();
    let rows: Vec<(&str, &str)> = rows.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    create_table(&ctx.dynamo(), &table, &rows).await?;
    let before = items(&ctx.dynamo(), &table).await?;
    ok(&kubectl(&ctx, &["backup", &table, "--name", "users-before", "--wait"])?)?;
    for i in 0..10 {
        delete(&ctx.dynamo(), &table, &format!("u-{i:02}")).await?;
    }
    put(&ctx.dynamo(), &table, "u-99", "new user").await?;
    put(&ctx.dynamo(), &table, "u-20", "changed").await?;
    let after_bug = items(&ctx.dynamo(), &table).await?;

    let args =
        ["recover", &table, "--backup", "users-before", "--missing-items", "--dry-run", "--name", "repair", "--wait", "--timeout", "3m"];
    let dry = kubectl(&ctx, &args)?;
    println!("{}", dry.stdout);
    ok(&dry)?;
    ensure(dry.stdout.contains("compared (a dry run: nothing was written)") && dry.stdout.contains("write-back repair"), || {
        dry.stdout.clone()
    })?;
    ensure(dry.stdout.lines().any(|l| l.trim_start().starts_with("missing") && l.contains(" 10 ")), || dry.stdout.clone())?;
    ensure(items(&ctx.dynamo(), &table).await? == after_bug, || "the dry run wrote".into())?;

    let written = kubectl(&ctx, &["write-back", "repair", "--wait", "--timeout", "3m"])?;
    println!("{}", written.stdout);
    ok(&written)?;
    ensure(
        written.stdout.contains("completed") && written.stdout.lines().any(|l| l.trim_start().starts_with("written") && l.contains(" 10")),
        || written.stdout.clone(),
    )?;
    let now = items(&ctx.dynamo(), &table).await?;
    for (id, item) in &before {
        let expected = if id == "u-20" { "changed" } else { item.as_str() };
        ensure(now.get(id).map(String::as_str) == Some(expected), || format!("{id}: {:?}", now.get(id)))?;
    }
    ensure(now.get("u-99").map(String::as_str) == Some("new user"), || "the new user is gone".into())?;
    let restores: Api<DynamoRestore> = ctx.api();
    wait_condition(&restores, "repair", "Ready", WAIT, crate::restore::conditions).await?;
    let again = kubectl(&ctx, &["write-back", "nothing-here"])?;
    ensure(again.code == Some(3), || format!("write-back of a missing restore: {:?} {}", again.code, again.stderr))
}
