//! The `run` command as a user starts it: start-up checks, probes, metrics, logs, shutdown.

use std::{sync::Arc, time::Duration};

use libtest_mimic::Trial;

use dynamo_backup_operator::api::{DeletionPolicy, DynamoBackup, DynamoBackupPolicy, labels};
use k8s_openapi::api::{
    authentication::v1::SelfSubjectReview,
    authorization::v1::{ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec},
    core::v1::Secret,
};
use kube::{
    Api, ResourceExt,
    api::{ListParams, Patch, PatchParams, PostParams},
};

use crate::{
    backup::{WAIT, backup, conditions},
    policy,
    support::{
        ControlPlane, Env, Operator, TestCtx,
        chart::{RELEASE_NAMESPACE, SERVICE_ACCOUNT},
        control_plane::client_from,
        ensure,
        process::eventually,
        proxy::FaultProxy,
        tables::{backups_of, condition, create_table, wait_condition},
    },
};

pub fn trials(env: &Arc<Env>) -> Vec<Trial> {
    vec![
        env.trial("operator_serves_probes_and_metrics_and_stops_on_sigterm", probes_and_sigterm),
        env.trial("operator_logs_json_and_says_it_runs_single_tenant", json_logs),
        env.trial("operator_exits_with_an_install_hint_when_crds_are_missing", missing_crds),
        env.trial("operator_refuses_an_invalid_tenancy_file", bad_tenancy_file),
        env.trial("operator_reads_a_valid_tenancy_file", good_tenancy_file),
        env.trial("operator_assumes_the_role_of_a_tenant", tenant_role),
        env.trial("operator_refuses_what_the_tenancy_file_does_not_allow_without_aws_calls", tenancy_refusals),
        env.trial("operator_leader_election_hands_over_without_doubling", leader_election),
        env.trial("operator_leader_change_doubles_no_slot_and_loses_no_backup", leader_change_slots),
        env.trial("operator_runs_as_the_charts_service_account_with_least_privilege", runs_as_service_account),
    ]
}

pub(crate) async fn get(url: &str) -> Option<(u16, String)> {
    let response = reqwest::get(url).await.ok()?;
    let status = response.status().as_u16();
    Some((status, response.text().await.ok()?))
}

async fn probes_and_sigterm(ctx: TestCtx) -> Result<(), String> {
    let mut op = ctx.start_operator(&[])?;
    let base = op.metrics_url.clone();
    let ready = eventually("/readyz to answer 200", Duration::from_secs(30), || {
        let url = format!("{base}/readyz");
        async move { get(&url).await.filter(|(status, _)| *status == 200) }
    })
    .await?;
    println!("/readyz: {} {}", ready.0, ready.1);
    let health = get(&format!("{base}/healthz")).await.ok_or("no answer from /healthz")?;
    ensure(health.0 == 200, || format!("/healthz: {health:?}"))?;
    let metrics = get(&format!("{base}/metrics")).await.ok_or("no answer from /metrics")?;
    ensure(metrics.0 == 200 && metrics.1.ends_with("# EOF\n"), || format!("/metrics: {metrics:?}"))?;

    let code = op.terminate(Duration::from_secs(15)).ok_or("the operator did not stop within 15 s of SIGTERM")?;
    ensure(code == 0, || format!("exit code {code} after SIGTERM"))?;
    let log = op.process.log_text();
    ensure(log.contains("SIGTERM received") && log.contains("stopped"), || format!("shutdown not logged:\n{log}"))?;
    ensure(get(&format!("{base}/healthz")).await.is_none(), || "the probe port is still open after exit".into())
}

async fn json_logs(ctx: TestCtx) -> Result<(), String> {
    let mut op = ctx.start_operator(&["--log-format", "json"])?;
    let log = eventually("the operator to log that it started", Duration::from_secs(30), || {
        let text = op.process.log_text();
        async move { text.contains("operator started").then_some(text) }
    })
    .await?;
    let code = op.terminate(Duration::from_secs(15));
    ensure(code == Some(0), || format!("exit code {code:?} after SIGTERM"))?;
    let mut single_tenant = false;
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let value: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("not JSON ({e}): {line}"))?;
        ensure(value.get("level").is_some() && value.get("timestamp").is_some(), || format!("no level/timestamp: {line}"))?;
        single_tenant |= value["message"].as_str().is_some_and(|m| m.contains("single-tenant"));
    }
    ensure(single_tenant, || format!("no single-tenant line in:\n{log}"))
}

async fn missing_crds(ctx: TestCtx) -> Result<(), String> {
    // A second, bare control plane: no CRDs installed.
    let dir = ctx.env.dir.join(format!("bare-{}", ctx.namespace));
    let bare = ControlPlane::start(&ctx.env.bins, &dir).await?;
    let mut op = ctx.start_operator_with(&bare.kubeconfig, &ctx.env.moto.url.clone(), &[])?;
    let status = op.process.wait_timeout(Duration::from_secs(30)).ok_or("the operator kept running without its CRDs")?;
    let log = op.process.log_text();
    println!("operator without CRDs exited with {status}; it said:\n{}", op.process.log_tail(3));
    ensure(status.code() == Some(3), || format!("expected exit code 3, got {status}:\n{log}"))?;
    ensure(log.contains("kubectl apply --server-side -f crds/") && log.contains("dynamobackups.dynamobackup.io"), || {
        format!("no install hint in:\n{log}")
    })?;
    ensure(!log.contains("panicked"), || format!("panic in:\n{log}"))
}

async fn bad_tenancy_file(ctx: TestCtx) -> Result<(), String> {
    let file = ctx.env.dir.join(format!("tenancy-bad-{}.yaml", ctx.namespace));
    std::fs::write(&file, "tenants:\n  - namespace: shop\n    tables: ['[Orders']\n").map_err(|e| e.to_string())?;
    let mut op = ctx.start_operator(&[&format!("--tenancy-file={}", file.display())])?;
    let status = op.process.wait_timeout(Duration::from_secs(30)).ok_or("the operator kept running")?;
    let log = op.process.log_text();
    println!("invalid tenancy file: exit {status}: {}", op.process.log_tail(1));
    ensure(status.code() == Some(4), || format!("expected exit code 4, got {status}:\n{log}"))?;
    ensure(log.contains("is not a valid glob"), || format!("no reason in:\n{log}"))
}

async fn good_tenancy_file(ctx: TestCtx) -> Result<(), String> {
    let file = ctx.env.dir.join(format!("tenancy-{}.yaml", ctx.namespace));
    let yaml = format!("tenants:\n  - namespace: {}\n    tables: ['Orders*']\n    regions: [us-east-1]\n", ctx.namespace);
    std::fs::write(&file, yaml).map_err(|e| e.to_string())?;
    let mut op = ctx.start_operator(&[&format!("--tenancy-file={}", file.display())])?;
    eventually("the operator to say it is multi-tenant", Duration::from_secs(30), || {
        let text = op.process.log_text();
        async move { text.contains("multi-tenant").then_some(()) }
    })
    .await?;
    let code = op.terminate(Duration::from_secs(15));
    ensure(code == Some(0), || format!("exit code {code:?} after SIGTERM"))
}

/// A tenant with a roleArn: its DynamoDB calls are signed with the role's credentials, got
/// from STS once (and cached), not with the operator's own.
async fn tenant_role(ctx: TestCtx) -> Result<(), String> {
    const ROLE: &str = "arn:aws:iam::123456789012:role/shop-backups";
    let table = ctx.table("Orders");
    create_table(&ctx.dynamo(), &table, &[("o-1", "keyboard")]).await?;
    let file = ctx.env.dir.join(format!("tenancy-role-{}.yaml", ctx.namespace));
    let yaml = format!("tenants:\n  - namespace: {}\n    tables: ['Orders*']\n    roleArn: {ROLE}\n", ctx.namespace);
    std::fs::write(&file, yaml).map_err(|e| e.to_string())?;
    let proxy = FaultProxy::start(&ctx.env.moto.url).await?;
    let _op = ctx.start_operator_via(&proxy, &[&format!("--tenancy-file={}", file.display())])?;

    let api: Api<DynamoBackup> = ctx.api();
    for name in ["first", "second"] {
        api.create(&PostParams::default(), &backup(name, &table, DeletionPolicy::Retain)).await.map_err(|e| e.to_string())?;
        wait_condition(&api, name, "Ready", WAIT, conditions).await?;
    }
    let assumed = proxy.requests_raw("AssumeRole");
    println!("AssumeRole requests: {assumed:?}");
    ensure(assumed.len() == 1, || format!("expected one AssumeRole (credentials cached), saw {}", assumed.len()))?;
    let encoded_role = ROLE.replace(':', "%3A").replace('/', "%2F");
    ensure(
        assumed[0].contains(&format!("RoleArn={encoded_role}")) && assumed[0].contains("RoleSessionName=dynamo-backup-operator"),
        || format!("AssumeRole asked for something else: {}", assumed[0]),
    )?;
    ensure(proxy.signers("AssumeRole").iter().all(|k| k == "testing"), || "STS was not asked with the operator's own credentials".into())?;
    let signers = proxy.signers("CreateBackup");
    println!("CreateBackup signed by: {signers:?}");
    ensure(signers.len() == 2 && signers.iter().all(|k| !k.is_empty() && k != "testing"), || {
        format!("CreateBackup not signed with the role's credentials: {signers:?}")
    })?;
    let all: Vec<String> = ["ListBackups", "DescribeBackup", "CreateBackup"].iter().flat_map(|op| proxy.signers(op)).collect();
    ensure(all.iter().all(|k| *k == signers[0]), || format!("some DynamoDB call used other credentials: {all:?}"))?;
    ensure(backups_of(&ctx.dynamo(), &table).await?.len() == 2, || "two backups in DynamoDB".into())
}

/// Outside its tenant's tables or regions a request is Stalled/AccessDenied, and DynamoDB is
/// never asked; the namespace's allowed table is still backed up.
async fn tenancy_refusals(ctx: TestCtx) -> Result<(), String> {
    let (orders, payments) = (ctx.table("Orders"), ctx.table("Payments"));
    create_table(&ctx.dynamo(), &payments, &[("p-1", "card")]).await?;
    let file = ctx.env.dir.join(format!("tenancy-refusals-{}.yaml", ctx.namespace));
    let yaml = format!("tenants:\n  - namespace: {}\n    tables: ['Orders*']\n    regions: [us-east-1]\n", ctx.namespace);
    std::fs::write(&file, yaml).map_err(|e| e.to_string())?;
    let proxy = FaultProxy::start(&ctx.env.moto.url).await?;
    let _op = ctx.start_operator_via(&proxy, &[&format!("--tenancy-file={}", file.display())])?;

    let api: Api<DynamoBackup> = ctx.api();
    let mut elsewhere = backup("elsewhere", &orders, DeletionPolicy::Retain);
    elsewhere.spec.region = Some("eu-west-1".into());
    for b in [backup("payments", &payments, DeletionPolicy::Retain), elsewhere] {
        let name = b.metadata.name.clone().unwrap_or_default();
        api.create(&PostParams::default(), &b).await.map_err(|e| e.to_string())?;
        let stalled = wait_condition(&api, &name, "Stalled", WAIT, conditions).await?;
        let cond = condition(&conditions(&stalled), "Stalled").cloned().ok_or("no Stalled condition")?;
        println!("{name}: Stalled {} - {}", cond.reason, cond.message);
        ensure(cond.reason == "AccessDenied", || format!("{name}: {cond:?}"))?;
    }
    ensure(proxy.calls().is_empty(), || format!("DynamoDB was asked: {:?}", proxy.calls()))?;
    ensure(backups_of(&ctx.dynamo(), &payments).await?.is_empty(), || "a backup of a refused table".into())
}

async fn logged(op: &Operator, text: &'static str, timeout: Duration) -> Result<std::time::Instant, String> {
    eventually(&format!("{text:?} in the operator's log"), timeout, || {
        let log = op.process.log_text();
        async move { log.contains(text).then(std::time::Instant::now) }
    })
    .await
}

/// Arguments for replicas that elect a leader with a 4 s lease. The chart's ServiceAccount may
/// hold Leases only in the release namespace; the name keeps this test's Lease apart.
fn election_args(ctx: &TestCtx) -> Vec<String> {
    vec![
        "--leader-election".into(),
        format!("--leader-election-namespace={RELEASE_NAMESPACE}"),
        format!("--leader-election-lease-name={}", ctx.namespace),
        "--leader-election-lease-duration=4s".into(),
    ]
}

/// A table, then two replicas: the first leads, the second stands by.
async fn leader_and_standby(ctx: &TestCtx, args: &[&str]) -> Result<(String, Operator, Operator), String> {
    let table = ctx.table("Orders");
    create_table(&ctx.dynamo(), &table, &[("o-1", "keyboard")]).await?;
    let first = ctx.start_operator(args)?;
    logged(&first, "became the leader", WAIT).await?;
    let second = ctx.start_operator(args)?;
    logged(&second, "standing by", WAIT).await?;
    Ok((table, first, second))
}

async fn leader_election(ctx: TestCtx) -> Result<(), String> {
    let owned = election_args(&ctx);
    let args: Vec<&str> = owned.iter().map(String::as_str).collect();
    let (table, mut first, second) = leader_and_standby(&ctx, &args).await?;

    let api: Api<DynamoBackup> = ctx.api();
    api.create(&PostParams::default(), &backup("before", &table, DeletionPolicy::Retain)).await.map_err(|e| e.to_string())?;
    wait_condition(&api, "before", "Ready", WAIT, conditions).await?;
    ensure(!second.process.log_text().contains("reconciled"), || "the standby reconciled".into())?;

    first.process.signal(libc::SIGKILL);
    let killed = std::time::Instant::now();
    first.process.wait_timeout(Duration::from_secs(10)).ok_or("the leader survived SIGKILL")?;
    let took_over = logged(&second, "became the leader", Duration::from_secs(30)).await?;
    println!("the standby took over {:.1?} after the leader was killed (lease: 4 s)", took_over - killed);
    api.create(&PostParams::default(), &backup("after", &table, DeletionPolicy::Retain)).await.map_err(|e| e.to_string())?;
    wait_condition(&api, "after", "Ready", WAIT, conditions).await?;
    let backups = backups_of(&ctx.dynamo(), &table).await?;
    ensure(backups.len() == 2, || format!("expected one backup per object: {backups:?}"))?;

    // A leader stopped with SIGTERM hands the lease over at once.
    let mut second = second;
    let third = ctx.start_operator(&args)?;
    logged(&third, "standing by", WAIT).await?;
    let stopping = std::time::Instant::now();
    ensure(second.terminate(Duration::from_secs(15)) == Some(0), || "the leader did not stop cleanly".into())?;
    ensure(second.process.log_text().contains("released the lease"), || "the lease was not released".into())?;
    let handed = logged(&third, "became the leader", Duration::from_secs(30)).await?;
    println!("after SIGTERM the next replica led {:.1?} later", handed - stopping);
    Ok(())
}

/// Every operator the tests start runs as the chart's ServiceAccount, so every test of the
/// controllers also proves the chart's RBAC grants enough. This one proves the other half: that
/// identity is not an admin's, and may do only what the chart grants.
async fn runs_as_service_account(ctx: TestCtx) -> Result<(), String> {
    let mut op = ctx.start_operator(&[])?;
    let base = op.metrics_url.clone();
    eventually("/readyz to answer 200", Duration::from_secs(30), || {
        let url = format!("{base}/readyz");
        async move { get(&url).await.filter(|(status, _)| *status == 200) }
    })
    .await?;
    let client = client_from(&op.kubeconfig).await?;

    let expected = format!("system:serviceaccount:{RELEASE_NAMESPACE}:{SERVICE_ACCOUNT}");
    if ctx.env.plane.version >= (1, 28) {
        let review = Api::<SelfSubjectReview>::all(client.clone())
            .create(&PostParams::default(), &SelfSubjectReview::default())
            .await
            .map_err(|e| format!("SelfSubjectReview: {e}"))?;
        let user = review.status.and_then(|s| s.user_info).and_then(|u| u.username).unwrap_or_default();
        ensure(user == expected, || format!("the operator runs as {user:?}, not {expected:?}"))?;
        println!("the operator runs as {user}");
    }

    let ns = ctx.namespace.as_str();
    // (verb, API group, resource or resource/subresource, namespace; None: cluster-wide)
    let allowed = [
        ("create", "dynamobackup.io", "dynamobackups", Some(ns)),
        ("patch", "dynamobackup.io", "dynamorestores/status", Some(ns)),
        ("create", "events.k8s.io", "events", Some(ns)),
        ("watch", "apps", "deployments", Some(ns)),
        ("update", "coordination.k8s.io", "leases", Some(RELEASE_NAMESPACE)),
    ];
    let denied = [
        ("list", "", "secrets", None),
        ("get", "", "configmaps", Some(ns)),
        ("delete", "apps", "deployments", Some(ns)),
        ("patch", "apps", "deployments", Some(ns)),
        ("update", "dynamobackup.io", "dynamobackups", Some(ns)),
        ("create", "coordination.k8s.io", "leases", Some(ns)),
        ("create", "apiextensions.k8s.io", "customresourcedefinitions", None),
    ];
    let reviews: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    for (expected, list) in [(true, &allowed[..]), (false, &denied[..])] {
        for &(verb, group, resource, namespace) in list {
            let granted = may(&reviews, verb, group, resource, namespace).await?;
            let what = format!("{verb} {group}/{resource} in {}", namespace.unwrap_or("the cluster"));
            ensure(granted == expected, || format!("the operator's identity {}: {what}", if granted { "may" } else { "may not" }))?;
        }
    }

    // And the API server acts on it: the operator's credentials cannot read Secrets.
    match Api::<Secret>::all(client).list(&ListParams::default()).await {
        Err(kube::Error::Api(status)) if status.code == 403 => {}
        other => return Err(format!("listing Secrets with the operator's credentials: {other:?}")),
    }
    let code = op.terminate(Duration::from_secs(15));
    ensure(code == Some(0), || format!("exit code {code:?} after SIGTERM"))
}

/// Whether the client's identity may do this, as the API server's authorizer says.
async fn may(
    reviews: &Api<SelfSubjectAccessReview>,
    verb: &str,
    group: &str,
    resource: &str,
    namespace: Option<&str>,
) -> Result<bool, String> {
    let (resource, subresource) = match resource.split_once('/') {
        Some((resource, sub)) => (resource, Some(sub.to_owned())),
        None => (resource, None),
    };
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                group: Some(group.into()),
                resource: Some(resource.into()),
                subresource,
                verb: Some(verb.into()),
                namespace: namespace.map(str::to_owned),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let answer = reviews.create(&PostParams::default(), &review).await.map_err(|e| format!("SelfSubjectAccessReview: {e}"))?;
    Ok(answer.status.is_some_and(|s| s.allowed))
}

/// A policy taking a snapshot every 10 s while its leader is SIGKILLed: every slot has at most
/// one DynamoBackup per table, a slot missing is one the policy reports as skipped, and each
/// DynamoBackup has exactly one backup in DynamoDB.
async fn leader_change_slots(ctx: TestCtx) -> Result<(), String> {
    let owned = election_args(&ctx);
    let args: Vec<&str> = owned.iter().map(String::as_str).collect();
    let (table, mut first, second) = leader_and_standby(&ctx, &args).await?;

    let policies: Api<DynamoBackupPolicy> = ctx.api();
    let mut p = policy::policy("often", &[&table]);
    let mut schedule = policy::every("@every 10s");
    schedule.starting_deadline = Some("1m".into());
    p.spec.schedule = Some(schedule);
    policies.create(&PostParams::default(), &p).await.map_err(|e| e.to_string())?;
    let backups: Api<DynamoBackup> = ctx.api();
    let selector = ListParams::default().labels(&format!("{}=often", labels::POLICY));
    let count = |at_least: usize| {
        let (backups, selector) = (backups.clone(), selector.clone());
        async move { backups.list(&selector).await.ok().map(|l| l.items.len()).filter(|n| *n >= at_least) }
    };
    let before = eventually("two slots taken by the first leader", Duration::from_secs(60), || count(2)).await?;

    first.process.signal(libc::SIGKILL);
    first.process.wait_timeout(Duration::from_secs(10)).ok_or("the leader survived SIGKILL")?;
    logged(&second, "became the leader", Duration::from_secs(30)).await?;
    eventually("two more slots taken by the new leader", Duration::from_secs(60), || count(before + 2)).await?;

    // No further slots, then every backup Ready.
    let suspend = serde_json::json!({"spec": {"schedule": {"suspend": true}}});
    policies.patch("often", &PatchParams::default(), &Patch::Merge(&suspend)).await.map_err(|e| e.to_string())?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let children = eventually("every DynamoBackup of the policy Ready", WAIT, || {
        let (backups, selector) = (backups.clone(), selector.clone());
        async move {
            let list = backups.list(&selector).await.ok()?.items;
            list.iter().all(|b| conditions(b).iter().any(|c| c.type_ == "Ready" && c.status == "True")).then_some(list)
        }
    })
    .await?;
    let mut slots: Vec<jiff::Timestamp> =
        children.iter().filter_map(|b| b.annotations().get(labels::SCHEDULED_TIME).and_then(|t| t.parse().ok())).collect();
    slots.sort();
    println!("slots taken: {:?}", slots.iter().map(|t| t.to_string()).collect::<Vec<_>>());
    ensure(slots.len() == children.len(), || "a policy backup without its slot".into())?;
    let mut distinct = slots.clone();
    distinct.dedup();
    ensure(distinct.len() == slots.len(), || format!("a slot was taken twice: {slots:?}"))?;
    let status = policies.get("often").await.map_err(|e| e.to_string())?.status.unwrap_or_default();
    let skipped: Vec<jiff::Timestamp> = status.skipped_slots.iter().map(|s| s.slot_time.0).collect();
    println!("skipped: {skipped:?}");
    for pair in slots.windows(2) {
        let mut at = pair[0] + jiff::SignedDuration::from_secs(10);
        while at < pair[1] {
            ensure(skipped.contains(&at), || format!("slot {at} was neither taken nor reported skipped"))?;
            at += jiff::SignedDuration::from_secs(10);
        }
    }
    let in_dynamo = backups_of(&ctx.dynamo(), &table).await?;
    ensure(in_dynamo.len() == children.len(), || {
        format!("{} DynamoBackups but {} backups in DynamoDB: {in_dynamo:?}", children.len(), in_dynamo.len())
    })
}
