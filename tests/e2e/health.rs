//! The Argo CD health checks the chart ships, run by a real Lua interpreter on objects the real
//! operator drove into each state: every object checked is saved in the run's folder (kept when
//! a test fails) and named in the output, so a failing check can be run again on it.

use std::sync::Arc;

use dynamo_backup_operator::api::{DeletionPolicy, DynamoBackup, DynamoBackupPolicy, DynamoRestore};
use kube::{Api, api::PostParams};
use libtest_mimic::Trial;
use serde_json::{Value, json};

use crate::{
    backup::{self, WAIT},
    policy, restore,
    support::{
        Env, TestCtx,
        argocd::{Health, health, run, script_path},
        ensure,
        objects::{Kind, fetch, save},
        proxy::{FaultProxy, Rule},
        tables::{create_table, wait_condition},
    },
};

pub fn trials(env: &Arc<Env>) -> Vec<Trial> {
    vec![
        env.trial("health_of_backups_new_creating_stalled_and_available", backups),
        env.trial("health_of_restores_new_waiting_stalled_and_completed", restores),
        env.trial("health_of_policies_new_protected_degraded_and_suspended", policies),
        env.trial("health_checks_on_odd_statuses_in_argo_cds_lua_and_as_documented", odd_statuses),
    ]
}

/// Fetches the object, saves it, runs the shipped check on it, and expects `status` with a
/// message that holds each of `words`.
async fn expect(ctx: &TestCtx, kind: Kind, name: &str, label: &str, status: &str, words: &[&str]) -> Result<Health, String> {
    let obj = fetch(ctx, kind, name).await?;
    let file = save(ctx, kind, &obj, label)?;
    let said = health(kind, &obj)?;
    println!("checked {}: {said}", file.display());
    ensure(said.status == status && words.iter().all(|w| said.message.contains(w)), || {
        format!("{} {name} ({label}): expected {status} saying {words:?}, got {said}; the object is in {}", kind.name(), file.display())
    })?;
    Ok(said)
}

async fn backups(ctx: TestCtx) -> Result<(), String> {
    let (orders, ghost) = (ctx.table("Orders"), ctx.table("Ghost"));
    create_table(&ctx.dynamo(), &orders, &[("o-1", "keyboard")]).await?;
    let api: Api<DynamoBackup> = ctx.api();
    api.create(&PostParams::default(), &backup::backup("slow", &orders, DeletionPolicy::Retain)).await.map_err(|e| e.to_string())?;
    api.create(&PostParams::default(), &backup::backup("missing", &ghost, DeletionPolicy::Retain)).await.map_err(|e| e.to_string())?;
    expect(&ctx, Kind::Backup, "slow", "new", "Progressing", &["observe generation 1"]).await?;

    // DynamoDB keeps saying CREATING until the proxy is told otherwise.
    let proxy = FaultProxy::start(&ctx.env.moto.url).await?;
    proxy.add(Rule::BackupCreating { times: 1_000_000 });
    let _op = ctx.start_operator_via(&proxy, &[])?;
    wait_condition(&api, "slow", "Reconciling", WAIT, backup::conditions).await?;
    expect(&ctx, Kind::Backup, "slow", "creating", "Progressing", &["Creating"]).await?;
    wait_condition(&api, "missing", "Stalled", WAIT, backup::conditions).await?;
    expect(&ctx, Kind::Backup, "missing", "stalled", "Degraded", &["TableNotFound", &ghost]).await?;

    proxy.clear();
    wait_condition(&api, "slow", "Ready", WAIT, backup::conditions).await?;
    expect(&ctx, Kind::Backup, "slow", "available", "Healthy", &["Available"]).await?;
    Ok(())
}

async fn restores(ctx: TestCtx) -> Result<(), String> {
    let (orders, existing, target) = (ctx.table("Orders"), ctx.table("Existing"), ctx.table("Orders-restored"));
    create_table(&ctx.dynamo(), &orders, &[("o-1", "keyboard")]).await?;
    create_table(&ctx.dynamo(), &existing, &[("e-1", "precious")]).await?;
    let api: Api<DynamoRestore> = ctx.api();
    let create = |name: &'static str, target: String| {
        let api = api.clone();
        async move {
            api.create(&PostParams::default(), &restore::restore(name, restore::from_backup("snap"), &target))
                .await
                .map_err(|e| e.to_string())
        }
    };
    create("waiting", target.clone()).await?;
    create("clash", existing.clone()).await?;
    expect(&ctx, Kind::Restore, "waiting", "new", "Progressing", &["observe generation 1"]).await?;

    let _op = ctx.start_operator(&[])?;
    // The DynamoBackup it restores from does not exist yet.
    wait_condition(&api, "waiting", "Reconciling", WAIT, restore::conditions).await?;
    expect(&ctx, Kind::Restore, "waiting", "waiting", "Progressing", &["WaitingForBackup", "snap"]).await?;
    wait_condition(&api, "clash", "Stalled", WAIT, restore::conditions).await?;
    expect(&ctx, Kind::Restore, "clash", "stalled", "Degraded", &["TargetTableExists", &existing]).await?;

    let backups: Api<DynamoBackup> = ctx.api();
    backups.create(&PostParams::default(), &backup::backup("snap", &orders, DeletionPolicy::Retain)).await.map_err(|e| e.to_string())?;
    wait_condition(&api, "waiting", "Ready", WAIT, restore::conditions).await?;
    expect(&ctx, Kind::Restore, "waiting", "completed", "Healthy", &["Restored", &target]).await?;
    Ok(())
}

async fn policies(ctx: TestCtx) -> Result<(), String> {
    let (orders, ghost) = (ctx.table("Orders"), ctx.table("Ghost"));
    create_table(&ctx.dynamo(), &orders, &[("o-1", "keyboard")]).await?;
    let api: Api<DynamoBackupPolicy> = ctx.api();
    api.create(&PostParams::default(), &policy::policy("protected", &[&orders])).await.map_err(|e| e.to_string())?;
    expect(&ctx, Kind::Policy, "protected", "new", "Progressing", &["observe generation 1"]).await?;

    let _op = ctx.start_operator(&[])?;
    api.create(&PostParams::default(), &policy::policy("partial", &[&orders, &ghost])).await.map_err(|e| e.to_string())?;
    let mut paused = policy::policy("paused", &[&orders]);
    paused.spec.schedule = Some(dynamo_backup_operator::api::BackupSchedule { suspend: true, ..policy::every("@every 1h") });
    api.create(&PostParams::default(), &paused).await.map_err(|e| e.to_string())?;

    wait_condition(&api, "protected", "Ready", WAIT, policy::conditions).await?;
    expect(&ctx, Kind::Policy, "protected", "protected", "Healthy", &["Protected"]).await?;
    wait_condition(&api, "partial", "Stalled", WAIT, policy::conditions).await?;
    expect(&ctx, Kind::Policy, "partial", "table-missing", "Degraded", &["TableNotFound", &ghost, "the others are protected"]).await?;
    wait_condition(&api, "paused", "Ready", WAIT, policy::conditions).await?;
    expect(&ctx, Kind::Policy, "paused", "suspended", "Healthy", &["Protected", "scheduled snapshots are suspended"]).await?;
    Ok(())
}

fn object(kind: Kind, generation: i64, status: Option<Value>) -> Value {
    let mut obj = json!({
        "apiVersion": "dynamobackup.io/v1alpha1",
        "kind": kind.name(),
        "metadata": {"name": "odd", "namespace": "shop", "generation": generation},
        "spec": {},
    });
    if let Some(status) = status {
        obj["status"] = status;
    }
    obj
}

fn standing(on: &str, reason: &str, message: &str, generation: i64) -> Value {
    let c = |t: &str| {
        let status = if t == on { "True" } else { "False" };
        json!({"type": t, "status": status, "reason": reason, "message": message, "observedGeneration": generation,
               "lastTransitionTime": "2026-01-15T10:00:00Z"})
    };
    json!([c("Ready"), c("Reconciling"), c("Stalled")])
}

/// Statuses the operator does not write but a check must still read sensibly (an older CRD
/// without the status default, a spec edited a moment ago, a hand-made status), the scripts'
/// language (Argo CD runs Lua 5.1 with no string or math library), and the snippet in the docs.
async fn odd_statuses(_ctx: TestCtx) -> Result<(), String> {
    type Case = (&'static str, i64, Option<Value>, &'static str, &'static str);
    let cases: Vec<Case> = vec![
        ("no status at all", 1, None, "Progressing", "observe generation 1"),
        (
            "a status for the previous spec",
            3,
            Some(json!({"observedGeneration": 2, "conditions": standing("Ready", "Available", "ok", 2)})),
            "Progressing",
            "observe generation 3",
        ),
        (
            "Ready written for an older spec",
            3,
            Some(json!({"observedGeneration": 3, "conditions": standing("Ready", "Available", "ok", 2)})),
            "Progressing",
            "Available",
        ),
        (
            "Reconciling and Stalled both True (kstatus reads Reconciling first)",
            1,
            Some(json!({"observedGeneration": 1, "conditions": [
                {"type": "Reconciling", "status": "True", "reason": "Creating", "message": "busy"},
                {"type": "Stalled", "status": "True", "reason": "AccessDenied", "message": "no"}]})),
            "Progressing",
            "Creating: busy",
        ),
        ("no conditions yet", 1, Some(json!({"observedGeneration": 1})), "Progressing", "report conditions"),
        (
            "Stalled with a reason and no message",
            1,
            Some(json!({"observedGeneration": 1, "conditions": standing("Stalled", "AccessDenied", "", 1)})),
            "Degraded",
            "AccessDenied",
        ),
    ];
    for kind in Kind::ALL {
        for (what, generation, status, expected, words) in &cases {
            let said = health(kind, &object(kind, *generation, status.clone()))?;
            println!("{} with {what}: {said}", kind.name());
            ensure(said.status == *expected && said.message.contains(words), || {
                format!("{} with {what}: expected {expected} saying {words:?}, got {said}", kind.name())
            })?;
        }
    }

    // Argo CD's sandbox: a script that calls into the string library fails there, and here.
    let probe = run("probe", "return {status = string.format('%s', 'Healthy')}", &json!({}));
    ensure(probe.is_err(), || format!("the string library is reachable: {probe:?}"))?;
    for kind in Kind::ALL {
        let path = script_path(kind);
        let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
        let code: String = text.lines().map(|l| l.split("--").next().unwrap_or_default()).collect::<Vec<_>>().join("\n");
        // Lua 5.2+ syntax that Argo CD's Lua 5.1 refuses, and libraries its sandbox leaves out.
        for token in
            ["goto", "//", "<const>", "<close>", "<<", ">>", "string.", "math.", "utf8.", "io.", "os.", ":format(", ":find(", ":sub("]
        {
            ensure(!code.contains(token), || format!("{} uses {token:?}, which Argo CD's Lua sandbox does not offer", path.display()))?;
        }
    }

    // The ready-to-apply snippet in the docs carries exactly the tested files.
    let doc_path = script_path(Kind::Backup).parent().and_then(|p| p.parent()).map(|p| p.join("argocd.md")).ok_or("no docs folder")?;
    let doc = std::fs::read_to_string(&doc_path).map_err(|e| format!("{}: {e}", doc_path.display()))?;
    let snippet = doc
        .split("```yaml\n")
        .skip(1)
        .filter_map(|block| block.split("```").next())
        .find(|block| block.contains("resource.customizations.health.dynamobackup.io_DynamoBackup:"))
        .ok_or_else(|| format!("{}: no yaml block with the health checks", doc_path.display()))?;
    let patch: Value = serde_yaml_ng::from_str(snippet).map_err(|e| format!("{}: {e}", doc_path.display()))?;
    for kind in Kind::ALL {
        let key = format!("resource.customizations.health.dynamobackup.io_{}", kind.name());
        let file = std::fs::read_to_string(script_path(kind)).map_err(|e| e.to_string())?;
        ensure(patch["data"][&key].as_str() == Some(file.as_str()), || {
            format!("{}: {key} differs from {}", doc_path.display(), script_path(kind).display())
        })?;
    }
    println!("{} carries the three tested scripts", doc_path.display());
    Ok(())
}
