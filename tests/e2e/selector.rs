//! Tables by selector (`spec.tableSelector`), what is unprotected, and what protection costs,
//! with the real binary, apiserver and moto; the discovery interval is 3 s here.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use aws_sdk_dynamodb::types::Tag;
use dynamo_backup_operator::api::{DynamoBackup, DynamoBackupPolicy, PointInTimeRecoverySpec, TableSelector};
use k8s_openapi::api::events::v1::Event;
use kube::{
    Api,
    api::{DeleteParams, ListParams, PostParams},
};
use libtest_mimic::Trial;

use crate::{
    backup::WAIT,
    operator::get,
    policy::{conditions, labelled_backup, policy},
    support::{
        Env, TestCtx, ensure,
        process::eventually,
        tables::{create_table, wait_condition},
    },
};

const DISCOVERY: &str = "--table-discovery-interval=3s";

pub fn trials(env: &Arc<Env>) -> Vec<Trial> {
    vec![
        env.trial("selector_protects_a_table_tagged_later_and_releases_one_untagged", tagged_then_untagged),
        env.trial("selector_matches_only_what_the_tenancy_file_allows", tenancy),
        env.trial("selector_and_a_named_table_in_two_policies_both_protect_it", two_policies),
        env.trial("selector_cost_figures_match_the_backups_and_unprotected_tables_are_counted", cost_and_unprotected),
    ]
}

async fn table_arn(ctx: &TestCtx, table: &str) -> Result<String, String> {
    let out = ctx.dynamo().describe_table().table_name(table).send().await.map_err(|e| e.to_string())?;
    out.table().and_then(|t| t.table_arn().map(str::to_owned)).ok_or_else(|| format!("{table} has no ARN"))
}

pub async fn tag(ctx: &TestCtx, table: &str, key: &str, value: &str) -> Result<(), String> {
    let arn = table_arn(ctx, table).await?;
    let tag = Tag::builder().key(key).value(value).build().map_err(|e| e.to_string())?;
    ctx.dynamo().tag_resource().resource_arn(arn).tags(tag).send().await.map(|_| ()).map_err(|e| format!("TagResource: {e}"))
}

async fn untag(ctx: &TestCtx, table: &str, key: &str) -> Result<(), String> {
    let arn = table_arn(ctx, table).await?;
    ctx.dynamo().untag_resource().resource_arn(arn).tag_keys(key).send().await.map(|_| ()).map_err(|e| format!("UntagResource: {e}"))
}

async fn pitr_enabled(ctx: &TestCtx, table: &str) -> Result<bool, String> {
    let out = ctx.dynamo().describe_continuous_backups().table_name(table).send().await.map_err(|e| e.to_string())?;
    let status = out
        .continuous_backups_description()
        .and_then(|d| d.point_in_time_recovery_description())
        .and_then(|p| p.point_in_time_recovery_status())
        .map(|s| s.as_str().to_owned());
    Ok(status.as_deref() == Some("ENABLED"))
}

fn by_tag(key: &str, value: &str) -> TableSelector {
    TableSelector { names: Vec::new(), tags: BTreeMap::from([(key.to_owned(), value.to_owned())]) }
}

/// The names of the tables a policy's status lists, once `done` holds for them.
async fn listed(api: &Api<DynamoBackupPolicy>, name: &str, done: impl Fn(&[String]) -> bool) -> Result<Vec<String>, String> {
    eventually(&format!("policy {name} to list the tables wanted"), WAIT, || async {
        let p = api.get(name).await.ok()?;
        let names: Vec<String> = p.status?.tables.iter().map(|t| t.name.clone()).collect();
        done(&names).then_some(names)
    })
    .await
}

/// A table tagged after the policy is protected within the discovery interval (PITR on); a
/// table whose tag is removed is released: gone from status, an event, its PITR left on.
async fn tagged_then_untagged(ctx: TestCtx) -> Result<(), String> {
    let (first, later) = (ctx.table("Carts"), ctx.table("Wishlists"));
    create_table(&ctx.dynamo(), &first, &[("c-1", "apple")]).await?;
    create_table(&ctx.dynamo(), &later, &[("w-1", "bike")]).await?;
    let value = ctx.namespace.clone();
    tag(&ctx, &first, "backup", &value).await?;
    let _op = ctx.start_operator(&[DISCOVERY])?;
    let api: Api<DynamoBackupPolicy> = ctx.api();
    let mut p = policy("tagged", &[]);
    p.spec.table_selector = Some(by_tag("backup", &value));
    api.create(&PostParams::default(), &p).await.map_err(|e| e.to_string())?;
    listed(&api, "tagged", |t| t == [first.clone()]).await?;
    let ready = wait_condition(&api, "tagged", "Ready", WAIT, conditions).await?;
    let status = ready.status.clone().unwrap_or_default();
    ensure(status.matched_tables == Some(1) && status.tables.iter().all(|t| t.selected), || format!("{status:?}"))?;
    ensure(pitr_enabled(&ctx, &first).await?, || "PITR not on for the selected table".into())?;

    tag(&ctx, &later, "backup", &value).await?;
    let both = listed(&api, "tagged", |t| t.contains(&later) && t.contains(&first)).await?;
    println!("after tagging {later}: {both:?}");
    eventually("PITR on for the table tagged later", WAIT, || async { pitr_enabled(&ctx, &later).await.ok()?.then_some(()) }).await?;

    untag(&ctx, &first, "backup").await?;
    listed(&api, "tagged", |t| t == [later.clone()]).await?;
    ensure(pitr_enabled(&ctx, &first).await?, || "the released table's PITR was turned off".into())?;
    let events: Api<Event> = ctx.api();
    let released = eventually("a TableReleased event", WAIT, || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items.into_iter().find(|e| e.reason.as_deref() == Some("TableReleased")).and_then(|e| e.note)
    })
    .await?;
    println!("{released}");
    ensure(released.contains(&first) && released.contains("no longer matches"), || released.clone())
}

/// Tables outside the namespace's tenancy globs are never selected, whatever their tags.
async fn tenancy(ctx: TestCtx) -> Result<(), String> {
    let (allowed, other) = (ctx.table("Allowed"), ctx.table("Elsewhere"));
    let value = ctx.namespace.clone();
    for table in [&allowed, &other] {
        create_table(&ctx.dynamo(), table, &[("a-1", "x")]).await?;
        tag(&ctx, table, "backup", &value).await?;
    }
    let file = ctx.env.dir.join(format!("tenancy-selector-{}.yaml", ctx.namespace));
    std::fs::write(&file, format!("tenants:\n  - namespace: {}\n    tables: ['Allowed-*']\n", ctx.namespace)).map_err(|e| e.to_string())?;
    let _op = ctx.start_operator(&[DISCOVERY, &format!("--tenancy-file={}", file.display())])?;
    let api: Api<DynamoBackupPolicy> = ctx.api();
    let mut p = policy("fenced", &[]);
    p.spec.table_selector = Some(by_tag("backup", &value));
    api.create(&PostParams::default(), &p).await.map_err(|e| e.to_string())?;
    listed(&api, "fenced", |t| t == [allowed.clone()]).await?;
    wait_condition(&api, "fenced", "Ready", WAIT, conditions).await?;
    // Listed again a few times: still only the allowed one.
    tokio::time::sleep(Duration::from_secs(7)).await;
    listed(&api, "fenced", |t| t == [allowed.clone()]).await?;
    ensure(!pitr_enabled(&ctx, &other).await?, || "PITR turned on for a table outside the tenancy file".into())
}

/// One policy names the table, another selects it: both report it and stay Ready; deleting the
/// selecting one changes nothing for the other, and nothing is turned off.
async fn two_policies(ctx: TestCtx) -> Result<(), String> {
    let shared = ctx.table("Shared");
    create_table(&ctx.dynamo(), &shared, &[("s-1", "x")]).await?;
    tag(&ctx, &shared, "backup", &ctx.namespace).await?;
    let _op = ctx.start_operator(&[DISCOVERY])?;
    let api: Api<DynamoBackupPolicy> = ctx.api();
    api.create(&PostParams::default(), &policy("named", &[&shared])).await.map_err(|e| e.to_string())?;
    let mut selecting = policy("selecting", &[]);
    selecting.spec.table_selector = Some(by_tag("backup", &ctx.namespace));
    api.create(&PostParams::default(), &selecting).await.map_err(|e| e.to_string())?;
    for name in ["named", "selecting"] {
        listed(&api, name, |t| t == [shared.clone()]).await?;
        wait_condition(&api, name, "Ready", WAIT, conditions).await?;
    }
    api.delete("selecting", &DeleteParams::default()).await.map_err(|e| e.to_string())?;
    tokio::time::sleep(Duration::from_secs(4)).await;
    wait_condition(&api, "named", "Ready", WAIT, conditions).await?;
    ensure(pitr_enabled(&ctx, &shared).await?, || "PITR turned off when a policy went".into())
}

/// status.backupBytes per table and per policy is the sum of the Available backups' sizes; the
/// table's size is reported; a table no policy covers, and one whose PITR a policy leaves off,
/// are counted unprotected; `kubectl dynamobackup status --unprotected` lists the second.
async fn cost_and_unprotected(ctx: TestCtx) -> Result<(), String> {
    let (orders, lonely, plain) = (ctx.table("Orders"), ctx.table("Lonely"), ctx.table("Plain"));
    create_table(&ctx.dynamo(), &orders, &[("o-1", "keyboard"), ("o-2", "monitor")]).await?;
    create_table(&ctx.dynamo(), &lonely, &[("l-1", "x")]).await?;
    create_table(&ctx.dynamo(), &plain, &[("p-1", "x")]).await?;
    let op = ctx.start_operator(&[DISCOVERY])?;
    labelled_backup(&ctx, "orders-a", &orders, "costed").await?;
    labelled_backup(&ctx, "orders-b", &orders, "costed").await?;
    let api: Api<DynamoBackupPolicy> = ctx.api();
    api.create(&PostParams::default(), &policy("costed", &[&orders])).await.map_err(|e| e.to_string())?;
    let mut off = policy("pitr-off", &[&plain]);
    off.spec.point_in_time_recovery = PointInTimeRecoverySpec { enabled: false, recovery_period_in_days: 35 };
    api.create(&PostParams::default(), &off).await.map_err(|e| e.to_string())?;
    let ready = wait_condition(&api, "costed", "Ready", WAIT, conditions).await?;
    let status = ready.status.clone().unwrap_or_default();
    let backups: Api<DynamoBackup> = ctx.api();
    let mut sizes = 0;
    for name in ["orders-a", "orders-b"] {
        sizes += backups.get(name).await.map_err(|e| e.to_string())?.status.and_then(|s| s.size_bytes).ok_or("no sizeBytes")?;
    }
    let line = status.tables.first().cloned().ok_or("no table line")?;
    println!("sizes: backups {sizes}, line {:?}/{:?}, policy {:?}", line.backup_bytes, line.table_size_bytes, status.backup_bytes);
    ensure(line.backup_bytes == Some(sizes) && status.backup_bytes == Some(sizes), || format!("{line:?} {:?}", status.backup_bytes))?;
    ensure(line.table_size_bytes.is_some(), || "no tableSizeBytes".into())?;

    let url = format!("{}/metrics", op.metrics_url);
    let wanted = [
        format!(
            "dynamo_backup_operator_unprotected_table{{account=\"123456789012\",region=\"us-east-1\",table=\"{lonely}\",reason=\"NoPolicy\"}} 1"
        ),
        format!(
            "dynamo_backup_operator_unprotected_table{{account=\"123456789012\",region=\"us-east-1\",table=\"{plain}\",reason=\"PointInTimeRecoveryOff\"}} 1"
        ),
        format!("dynamo_backup_operator_backup_bytes{{namespace=\"{}\",policy=\"costed\",table=\"{orders}\"}} {sizes}", ctx.namespace),
    ];
    let text = eventually("the unprotected and cost series", WAIT, || {
        let (url, wanted) = (url.clone(), wanted.clone());
        async move {
            let (_, text) = get(&url).await?;
            wanted.iter().all(|w| text.contains(w.as_str())).then_some(text)
        }
    })
    .await?;
    ensure(!text.contains(&format!("table=\"{orders}\",reason=")), || format!("{orders} counted unprotected"))?;
    let cli = crate::plugin::kubectl(&ctx, &["status", "--unprotected"])?;
    ensure(cli.code == Some(0) && cli.stdout.contains(&plain) && !cli.stdout.contains(&orders), || cli.stdout.clone())
}
