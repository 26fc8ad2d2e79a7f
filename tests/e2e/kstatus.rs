//! kstatus conformance with the real operator, for each kind: `status.observedGeneration`
//! follows `metadata.generation` through spec edits, `Reconciling=True` while work is in flight,
//! `Ready=True` at the end, `Stalled=True` for input that passes the schema but cannot work, and
//! a new object reads as in progress before the operator has seen it. Every version of every
//! status seen while polling is checked against the rules (`support::kstatus::invariants`),
//! not only the last one.

use std::{sync::Arc, time::Duration};

use dynamo_backup_operator::api::{DeletionPolicy, DynamoBackup, DynamoBackupPolicy, DynamoRestore};
use kube::{
    Api,
    api::{Patch, PatchParams, PostParams},
};
use libtest_mimic::Trial;
use serde_json::{Value, json};

use crate::{
    backup::{self, WAIT},
    policy, restore,
    support::{
        Env, TestCtx,
        argocd::health,
        ensure,
        kstatus::{Status, Watch, compute},
        objects::{Kind, fetch, generation, is_true, observed_generation, reason, save},
        proxy::{FaultProxy, Rule},
        tables::create_table,
    },
};

pub fn trials(env: &Arc<Env>) -> Vec<Trial> {
    vec![
        env.trial("kstatus_new_objects_are_in_progress_until_the_operator_sees_them", new_objects),
        env.trial("kstatus_backup_reconciling_while_creating_follows_edits_then_ready", backup_lifecycle),
        env.trial("kstatus_restore_reconciling_while_restoring_follows_edits_then_ready", restore_lifecycle),
        env.trial("kstatus_policy_reconciling_on_retry_stalled_on_a_missing_table", policy_lifecycle),
    ]
}

/// Observed for the current generation.
fn observed(obj: &Value) -> bool {
    observed_generation(obj).is_some() && observed_generation(obj) == generation(obj)
}

fn at_generation(n: i64) -> impl Fn(&Value) -> bool {
    move |obj| observed_generation(obj) == Some(n) && generation(obj) == Some(n)
}

async fn merge<K>(api: &Api<K>, name: &str, patch: Value) -> Result<(), String>
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.map(|_| ()).map_err(|e| format!("patching {name}: {e}"))
}

fn standing(obj: &Value) -> String {
    ["Ready", "Reconciling", "Stalled"]
        .iter()
        .map(|t| format!("{t}={}", if is_true(obj, t) { "True" } else { "False" }))
        .collect::<Vec<_>>()
        .join(" ")
}

async fn new_objects(ctx: TestCtx) -> Result<(), String> {
    // No operator runs: what kstatus, Flux and Argo CD see right after `kubectl apply`.
    let backups: Api<DynamoBackup> = ctx.api();
    backups.create(&PostParams::default(), &backup::backup("fresh", "Orders", DeletionPolicy::Retain)).await.map_err(|e| e.to_string())?;
    let restores: Api<DynamoRestore> = ctx.api();
    restores
        .create(&PostParams::default(), &restore::restore("fresh", restore::from_backup("fresh"), "Orders-restored"))
        .await
        .map_err(|e| e.to_string())?;
    let policies: Api<DynamoBackupPolicy> = ctx.api();
    policies.create(&PostParams::default(), &policy::policy("fresh", &["Orders"])).await.map_err(|e| e.to_string())?;
    for kind in Kind::ALL {
        let obj = fetch(&ctx, kind, "fresh").await?;
        let file = save(&ctx, kind, &obj, "new")?;
        let said = health(kind, &obj)?;
        println!("{}: status {} -> kstatus {:?}, Argo CD {said} ({})", kind.name(), obj["status"], compute(&obj), file.display());
        ensure(observed_generation(&obj) == Some(-1) && generation(&obj) == Some(1), || {
            format!("{}: status {}", kind.name(), obj["status"])
        })?;
        ensure(compute(&obj) == Status::InProgress, || format!("{}: kstatus reads a new object as {:?}", kind.name(), compute(&obj)))?;
        ensure(said.status == "Progressing", || format!("{}: Argo CD reads a new object as {said}", kind.name()))?;
    }
    Ok(())
}

async fn backup_lifecycle(ctx: TestCtx) -> Result<(), String> {
    let (orders, ghost) = (ctx.table("Orders"), ctx.table("Ghost"));
    create_table(&ctx.dynamo(), &orders, &[("o-1", "keyboard")]).await?;
    let proxy = FaultProxy::start(&ctx.env.moto.url).await?;
    proxy.add(Rule::BackupCreating { times: 1_000_000 });
    let _op = ctx.start_operator_via(&proxy, &[])?;
    let api: Api<DynamoBackup> = ctx.api();
    api.create(&PostParams::default(), &backup::backup("snap", &orders, DeletionPolicy::Retain)).await.map_err(|e| e.to_string())?;
    api.create(&PostParams::default(), &backup::backup("ghost", &ghost, DeletionPolicy::Retain)).await.map_err(|e| e.to_string())?;

    let mut snap = Watch::new(&ctx, Kind::Backup, "snap");
    let creating = snap.until("to be Reconciling while CREATING", WAIT, |o| observed(o) && is_true(o, "Reconciling")).await?;
    println!("while CREATING: {} ({})", standing(&creating), reason(&creating, "Reconciling"));
    // deletionPolicy is the one field a DynamoBackup lets change.
    merge(&api, "snap", json!({"spec": {"deletionPolicy": "Delete"}})).await?;
    let edited = snap.until("to observe generation 2 while CREATING", WAIT, at_generation(2)).await?;
    ensure(is_true(&edited, "Reconciling") && !is_true(&edited, "Ready"), || {
        format!("generation 2 while CREATING: {}", standing(&edited))
    })?;
    proxy.clear();
    let ready = snap.until("to be Ready", WAIT, |o| observed(o) && is_true(o, "Ready")).await?;
    ensure(!is_true(&ready, "Reconciling") && !is_true(&ready, "Stalled"), || standing(&ready))?;
    println!("snap: {} versions seen, kstatus {:?}", snap.seen.len(), snap.statuses());
    ensure(snap.statuses().ends_with(&[Status::InProgress, Status::Current]), || format!("{:?}", snap.statuses()))?;

    let mut stalled = Watch::new(&ctx, Kind::Backup, "ghost");
    let first = stalled.until("to stall", WAIT, |o| observed(o) && is_true(o, "Stalled")).await?;
    ensure(reason(&first, "Stalled") == "TableNotFound" && reason(&first, "Ready") == "TableNotFound", || standing(&first))?;
    // A stalled object still observes a new spec, and says again where it stands.
    merge(&api, "ghost", json!({"spec": {"deletionPolicy": "Delete"}})).await?;
    let again = stalled.until("to observe generation 2", WAIT, at_generation(2)).await?;
    ensure(is_true(&again, "Stalled") && !is_true(&again, "Reconciling"), || standing(&again))?;
    println!("ghost: {} versions seen, kstatus {:?}", stalled.seen.len(), stalled.statuses());
    ensure(stalled.statuses().last() == Some(&Status::Failed), || format!("{:?}", stalled.statuses()))
}

async fn restore_lifecycle(ctx: TestCtx) -> Result<(), String> {
    let (profiles, clone) = (ctx.table("UserProfiles"), ctx.table("Clone"));
    create_table(&ctx.dynamo(), &profiles, &[("u-1", "ada")]).await?;
    restore::enable_pitr(&ctx, &profiles).await?;
    let proxy = FaultProxy::start(&ctx.env.moto.url).await?;
    proxy.add(Rule::TableCreating { table: clone.clone(), times: 1_000_000 });
    let _op = ctx.start_operator_via(&proxy, &[])?;
    let api: Api<DynamoRestore> = ctx.api();
    api.create(&PostParams::default(), &restore::restore("clone", restore::point_in_time(&profiles, None), &clone))
        .await
        .map_err(|e| e.to_string())?;
    let too_early =
        restore::restore("too-early", restore::point_in_time(&profiles, Some("2020-01-15T10:14:59Z")), &ctx.table("Clone-2020"));
    api.create(&PostParams::default(), &too_early).await.map_err(|e| e.to_string())?;

    let mut watch = Watch::new(&ctx, Kind::Restore, "clone");
    let restoring = watch
        .until("to be Reconciling while the table is CREATING", WAIT, |o| observed(o) && reason(o, "Reconciling") == "Restoring")
        .await?;
    ensure(is_true(&restoring, "Reconciling") && !is_true(&restoring, "Ready"), || standing(&restoring))?;
    // afterRestore and deletionPolicy may change; they take effect once the table is ACTIVE.
    merge(&api, "clone", json!({"spec": {"afterRestore": {"tags": {"team": "shop"}}}})).await?;
    let edited = watch.until("to observe generation 2 while restoring", WAIT, at_generation(2)).await?;
    ensure(is_true(&edited, "Reconciling"), || format!("generation 2 while restoring: {}", standing(&edited)))?;
    proxy.clear();
    let done = watch.until("to be Ready", WAIT, |o| observed(o) && is_true(o, "Ready")).await?;
    ensure(done["status"]["phase"] == "Completed" && !is_true(&done, "Reconciling"), || {
        format!("{} {}", done["status"]["phase"], standing(&done))
    })?;
    // A Completed restore observes an edit too, and stays Ready.
    merge(&api, "clone", json!({"spec": {"deletionPolicy": "Delete"}})).await?;
    let later = watch.until("to observe generation 3 when Completed", WAIT, at_generation(3)).await?;
    ensure(is_true(&later, "Ready"), || standing(&later))?;
    println!("clone: {} versions seen, kstatus {:?}", watch.seen.len(), watch.statuses());
    ensure(watch.statuses().ends_with(&[Status::InProgress, Status::Current]), || format!("{:?}", watch.statuses()))?;

    let mut stalled = Watch::new(&ctx, Kind::Restore, "too-early");
    let out = stalled.until("to stall", WAIT, |o| observed(o) && is_true(o, "Stalled")).await?;
    ensure(reason(&out, "Stalled") == "RestoreTimeOutsideWindow" && !is_true(&out, "Reconciling"), || standing(&out))?;
    println!("too-early: kstatus {:?}", stalled.statuses());
    Ok(())
}

async fn policy_lifecycle(ctx: TestCtx) -> Result<(), String> {
    let (orders, ghost) = (ctx.table("Orders"), ctx.table("Ghost"));
    create_table(&ctx.dynamo(), &orders, &[("o-1", "keyboard")]).await?;
    let proxy = FaultProxy::start(&ctx.env.moto.url).await?;
    // One failed read of the PITR settings: retried with backoff, and said so meanwhile.
    proxy.add(Rule::Fail { operation: "DescribeContinuousBackups", code: "InternalServerError", status: 500, times: 1 });
    let _op = ctx.start_operator_via(&proxy, &[])?;
    let api: Api<DynamoBackupPolicy> = ctx.api();
    api.create(&PostParams::default(), &policy::policy("orders", &[&orders])).await.map_err(|e| e.to_string())?;

    let mut watch = Watch::new(&ctx, Kind::Policy, "orders");
    let retrying = watch
        .until("to be Reconciling on the retried error", WAIT, |o| {
            observed(o) && is_true(o, "Reconciling") && reason(o, "Reconciling") == "TableReadFailed"
        })
        .await?;
    let message = retrying["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Reconciling"))
        .map(|c| c["message"].to_string());
    ensure(message.as_deref().is_some_and(|m| m.contains("InternalServerError")) && !is_true(&retrying, "Ready"), || standing(&retrying))?;
    watch.until("to be Ready", Duration::from_secs(90), |o| observed(o) && is_true(o, "Ready")).await?;

    merge(&api, "orders", json!({"spec": {"retention": {"keepLast": 3}}})).await?;
    let kept = watch.until("to observe generation 2", WAIT, at_generation(2)).await?;
    ensure(is_true(&kept, "Ready"), || standing(&kept))?;
    merge(&api, "orders", json!({"spec": {"tables": [&orders, &ghost]}})).await?;
    let missing = watch.until("to observe generation 3 and stall", WAIT, |o| at_generation(3)(o) && is_true(o, "Stalled")).await?;
    ensure(reason(&missing, "Stalled") == "TableNotFound" && missing["status"]["phase"] == "Degraded", || standing(&missing))?;
    // Fixing the spec is the outside help a stalled object waits for.
    merge(&api, "orders", json!({"spec": {"tables": [&orders]}})).await?;
    let fixed = watch.until("to observe generation 4 and be Ready", WAIT, |o| at_generation(4)(o) && is_true(o, "Ready")).await?;
    ensure(fixed["status"]["phase"] == "Protected", || format!("phase {}", fixed["status"]["phase"]))?;
    println!("orders: {} versions seen, kstatus {:?}", watch.seen.len(), watch.statuses());
    ensure(watch.statuses().contains(&Status::Failed) && watch.statuses().last() == Some(&Status::Current), || {
        format!("{:?}", watch.statuses())
    })
}
