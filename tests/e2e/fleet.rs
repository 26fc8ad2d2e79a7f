//! A fleet of policies at DynamoDB's documented limits (enforced by the proxy): every policy is
//! served, including ones created while the others are busy taking a slot, and every
//! DynamoBackup gets exactly one DynamoDB backup. The bound on a new policy's first status is
//! generous: the test is about being served at all, not about speed (benches/scale.rs measures).

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
    time::Duration,
};

use dynamo_backup_operator::api::{DynamoBackup, DynamoBackupPolicy};
use futures::{StreamExt, TryStreamExt};
use kube::{
    Api, ResourceExt,
    api::{ListParams, PostParams},
};
use libtest_mimic::Trial;

use crate::{
    policy::{every, policy},
    support::{Env, TestCtx, ensure, process::eventually, proxy::FaultProxy, tables::all_backups},
};

const POLICIES: usize = 50;
const TABLES_PER_POLICY: usize = 4;
/// Policies created while the fleet's slot is being taken.
const LATECOMERS: usize = 10;
/// How long a latecomer may wait for its first status: generous on purpose.
const FIRST_STATUS_WITHIN: Duration = Duration::from_secs(90);

pub fn trials(env: &Arc<Env>) -> Vec<Trial> {
    vec![env.trial("fleet_every_policy_is_served_and_each_backup_made_once", fleet)]
}

fn has_status(p: &DynamoBackupPolicy) -> bool {
    p.status.as_ref().is_some_and(|s| s.observed_generation.is_some_and(|g| g >= 1) && !s.conditions.is_empty())
}

fn is_ready(p: &DynamoBackupPolicy) -> bool {
    p.status.as_ref().is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

async fn fleet(ctx: TestCtx) -> Result<(), String> {
    let dynamo = ctx.dynamo();
    let tables: Vec<String> = (0..(POLICIES + LATECOMERS) * TABLES_PER_POLICY).map(|i| ctx.table(&format!("F{i}"))).collect();
    futures::stream::iter(tables.clone().into_iter().map(|table| {
        let dynamo = dynamo.clone();
        async move { crate::support::tables::create_table(&dynamo, &table, &[("o-1", "keyboard")]).await }
    }))
    .buffer_unordered(8)
    .try_collect::<Vec<()>>()
    .await?;
    let proxy = FaultProxy::start(&ctx.env.moto.url).await?;
    proxy.enforce_documented_limits();
    let _op = ctx.start_operator_via(&proxy, &[])?;
    let api: Api<DynamoBackupPolicy> = ctx.api();

    let make = |i: usize| {
        let names: Vec<&str> = tables[i * TABLES_PER_POLICY..(i + 1) * TABLES_PER_POLICY].iter().map(String::as_str).collect();
        let mut p = policy(&format!("p{i}"), &names);
        // Every 20 s: each slot is 200 CreateBackups, 4 s at DynamoDB's 50 per second.
        p.spec.schedule = Some(every("@every 20s"));
        p
    };
    for i in 0..POLICIES {
        api.create(&PostParams::default(), &make(i)).await.map_err(|e| e.to_string())?;
    }
    // The fleet is busy: its first slot's backups are being made.
    let backups: Api<DynamoBackup> = ctx.api();
    eventually("the fleet's first slot under way", Duration::from_secs(120), || {
        let backups = backups.clone();
        async move { backups.list(&ListParams::default()).await.ok().filter(|l| l.items.len() >= POLICIES).map(|_| ()) }
    })
    .await?;
    for i in POLICIES..POLICIES + LATECOMERS {
        api.create(&PostParams::default(), &make(i)).await.map_err(|e| e.to_string())?;
    }
    let latecomers: BTreeSet<String> = (POLICIES..POLICIES + LATECOMERS).map(|i| format!("p{i}")).collect();
    eventually("every latecomer's first status", FIRST_STATUS_WITHIN, || {
        let (api, latecomers) = (api.clone(), latecomers.clone());
        async move {
            let list = api.list(&ListParams::default()).await.ok()?;
            let served = list.items.iter().filter(|p| latecomers.contains(&p.name_any()) && has_status(p)).count();
            (served == LATECOMERS).then_some(())
        }
    })
    .await?;
    println!("all {LATECOMERS} policies created during the burst have a status");

    let all = eventually("every policy Ready with a backup of each table", Duration::from_secs(180), || {
        let api = api.clone();
        async move {
            let list = api.list(&ListParams::default()).await.ok()?;
            let done = list.items.iter().all(|p| {
                is_ready(p)
                    && p.status
                        .as_ref()
                        .is_some_and(|s| s.tables.len() == TABLES_PER_POLICY && s.tables.iter().all(|t| t.last_backup.is_some()))
            });
            (done && list.items.len() == POLICIES + LATECOMERS).then_some(list.items)
        }
    })
    .await?;
    let reconciled = all.iter().filter(|p| has_status(p)).count();
    ensure(reconciled == POLICIES + LATECOMERS, || format!("{reconciled} policies of {} were served", POLICIES + LATECOMERS))?;

    // Exactly one DynamoDB backup per DynamoBackup object: none doubled, none missing.
    let objects = backups.list(&ListParams::default()).await.map_err(|e| e.to_string())?.items;
    let expected: BTreeMap<String, String> = objects
        .iter()
        .filter(|b| b.status.as_ref().is_some_and(|s| s.backup_arn.is_some()))
        .filter_map(|b| Some((b.status.as_ref()?.backup_name.clone()?, b.spec.table_name.clone())))
        .collect();
    let made = all_backups(&dynamo).await?;
    let mut per_name: BTreeMap<&str, usize> = BTreeMap::new();
    for (table, name) in &made {
        if tables.contains(table) {
            *per_name.entry(name.as_str()).or_insert(0) += 1;
        }
    }
    let doubled: Vec<&&str> = per_name.iter().filter(|(_, n)| **n > 1).map(|(name, _)| name).collect();
    println!(
        "{} DynamoBackups, {} DynamoDB backups; calls {:?}; throttled {:?}",
        objects.len(),
        per_name.values().sum::<usize>(),
        proxy.counts(),
        proxy.throttled()
    );
    ensure(doubled.is_empty(), || format!("backups made twice: {doubled:?}"))?;
    let missing: Vec<&String> = expected.keys().filter(|name| !per_name.contains_key(name.as_str())).collect();
    ensure(missing.is_empty(), || format!("DynamoBackups without their DynamoDB backup: {missing:?}"))?;
    ensure(proxy.throttled().is_empty(), || format!("calls throttled by DynamoDB's limits: {:?}", proxy.throttled()))
}
