//! The CRDs against a real apiserver: installed and Established, the examples apply, bad
//! manifests are refused with a message that names the field.

use std::{path::Path, sync::Arc};

use dynamo_backup_operator::api::{DynamoBackup, DynamoBackupPolicy, DynamoRestore};
use k8s_openapi::api::core::v1::Namespace;
use kube::{
    Api, Client, Resource,
    api::{ApiResource, DynamicObject, Patch, PatchParams, PostParams},
    discovery::Discovery,
};
use libtest_mimic::Trial;
use serde_json::{Value, json};

use crate::support::{Env, TestCtx, ensure};

pub fn trials(env: &Arc<Env>) -> Vec<Trial> {
    let mut trials = vec![
        env.trial("crds_are_established_with_names_and_category", crds_are_established),
        env.trial("examples_apply_with_server_side_apply", examples_apply),
        env.trial("kubectl_lists_all_kinds_by_category_and_short_name", kubectl_category),
    ];
    for case in bad_manifests() {
        let needs_cel = case.needs_cel;
        let trial = env.trial(case.name, move |ctx| refused(ctx, case));
        if needs_cel && !env.plane.has_cel() {
            eprintln!(
                "[e2e] skipping {}: kube-apiserver {}.{} has no CRD validation rules (CEL arrived in 1.25)",
                trial.name(),
                env.plane.version.0,
                env.plane.version.1
            );
            trials.push(trial.with_ignored_flag(true));
        } else {
            trials.push(trial);
        }
    }
    trials
}

fn resource_of(kind: &str) -> Option<ApiResource> {
    match kind {
        "DynamoBackup" => Some(ApiResource::erase::<DynamoBackup>(&())),
        "DynamoRestore" => Some(ApiResource::erase::<DynamoRestore>(&())),
        "DynamoBackupPolicy" => Some(ApiResource::erase::<DynamoBackupPolicy>(&())),
        _ => None,
    }
}

fn dynamic(client: Client, namespace: &str, kind: &str) -> Result<Api<DynamicObject>, String> {
    let ar = resource_of(kind).ok_or_else(|| format!("not one of our kinds: {kind}"))?;
    Ok(Api::namespaced_with(client, namespace, &ar))
}

async fn crds_are_established(ctx: TestCtx) -> Result<(), String> {
    let discovery = Discovery::new(ctx.client()).run().await.map_err(|e| e.to_string())?;
    let group = discovery.get("dynamobackup.io").ok_or("group dynamobackup.io is not served")?;
    for (kind, plural, short) in [
        ("DynamoBackup", "dynamobackups", "ddbbackup"),
        ("DynamoRestore", "dynamorestores", "ddbrestore"),
        ("DynamoBackupPolicy", "dynamobackuppolicies", "ddbpolicy"),
    ] {
        let (ar, caps) =
            group.recommended_resources().into_iter().find(|(ar, _)| ar.kind == kind).ok_or_else(|| format!("{kind} is not served"))?;
        ensure(ar.plural == plural && ar.version == "v1alpha1", || format!("{kind}: {ar:?}"))?;
        ensure(caps.subresources.iter().any(|(sub, _)| sub.plural == "status"), || format!("{kind} has no status subresource"))?;
        let crd_name = format!("{plural}.dynamobackup.io");
        let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
            Api::all(ctx.client());
        let crd = crds.get(&crd_name).await.map_err(|e| e.to_string())?;
        ensure(crd.spec.names.short_names.as_deref() == Some(&[short.to_owned()][..]), || format!("{kind} short names"))?;
        ensure(crd.spec.names.categories.as_deref() == Some(&["dynamobackup".to_owned()][..]), || format!("{kind} categories"))?;
        println!("{crd_name}: Established, short name {short}, category dynamobackup");
    }
    Ok(())
}

/// Every manifest of `examples/`, applied as `kubectl apply --server-side` would, into this
/// test's namespace, then read back through the Rust types.
async fn examples_apply(ctx: TestCtx) -> Result<(), String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut files: Vec<_> = std::fs::read_dir(&dir).map_err(|e| e.to_string())?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    let mut applied = 0;
    for file in files.iter().filter(|f| f.extension().is_some_and(|x| x == "yaml")) {
        let text = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
        let docs: Vec<Value> = serde_yaml_ng::Deserializer::from_str(&text)
            .map(|doc| serde::Deserialize::deserialize(doc).map_err(|e| format!("{}: {e}", file.display())))
            .collect::<Result<_, _>>()?;
        for mut value in docs {
            // The tenancy file is the operator's (`--tenancy-file`), not the apiserver's.
            if value.get("kind").is_none() && value.get("tenants").is_some() {
                continue;
            }
            let kind = value["kind"].as_str().unwrap_or_default().to_owned();
            let name = value["metadata"]["name"].as_str().unwrap_or_default().to_owned();
            let params = PatchParams::apply("e2e-examples");
            if kind == "Namespace" {
                let api: Api<Namespace> = Api::all(ctx.client());
                api.patch(&name, &params, &Patch::Apply(&value)).await.map_err(|e| format!("{}: {e}", file.display()))?;
            } else {
                value["metadata"]["namespace"] = json!(ctx.namespace);
                let api = dynamic(ctx.client(), &ctx.namespace, &kind)?;
                api.patch(&name, &params, &Patch::Apply(&value)).await.map_err(|e| format!("{}: {e}", file.display()))?;
            }
            println!("applied {} {kind}/{name}", file.file_name().map(|f| f.to_string_lossy()).unwrap_or_default());
            applied += 1;
        }
    }
    ensure(applied >= 5, || format!("only {applied} example objects"))?;

    // The apiserver's defaults and the Rust types agree: every object reads back typed.
    let backups: Api<DynamoBackup> = Api::namespaced(ctx.client(), &ctx.namespace);
    let backup = backups.get("orders-before-v42").await.map_err(|e| e.to_string())?;
    ensure(backup.spec.table_name == "Orders", || format!("{:?}", backup.spec))?;
    let policies: Api<DynamoBackupPolicy> = Api::namespaced(ctx.client(), &ctx.namespace);
    let policy = policies.get("ecommerce").await.map_err(|e| e.to_string())?;
    ensure(policy.spec.point_in_time_recovery.recovery_period_in_days == 35, || format!("{:?}", policy.spec))?;
    ensure(policy.spec.retention.as_ref().is_some_and(|r| r.min_available == 1), || "retention".into())?;
    let restores: Api<DynamoRestore> = Api::namespaced(ctx.client(), &ctx.namespace);
    let restore = restores.get("orders-restore").await.map_err(|e| e.to_string())?;
    ensure(restore.spec.after_restore.time_to_live == dynamo_backup_operator::api::TimeToLiveMode::Copy, || {
        "afterRestore.timeToLive defaults to Copy".into()
    })?;
    let latest = restores.get("userprofiles-latest").await.map_err(|e| e.to_string())?;
    ensure(latest.spec.after_restore.copy_tags, || "afterRestore.copyTags defaults to true".into())?;
    Ok(())
}

async fn kubectl_category(ctx: TestCtx) -> Result<(), String> {
    let backups = dynamic(ctx.client(), &ctx.namespace, "DynamoBackup")?;
    backups
        .create(&PostParams::default(), &object(DynamoBackup::kind(&()).as_ref(), "b1", json!({"tableName": "Orders"}))?)
        .await
        .map_err(|e| e.to_string())?;
    let policies = dynamic(ctx.client(), &ctx.namespace, "DynamoBackupPolicy")?;
    policies
        .create(&PostParams::default(), &object("DynamoBackupPolicy", "p1", json!({"tables": ["Orders"]}))?)
        .await
        .map_err(|e| e.to_string())?;
    let restores = dynamic(ctx.client(), &ctx.namespace, "DynamoRestore")?;
    restores
        .create(
            &PostParams::default(),
            &object("DynamoRestore", "r1", json!({"source": {"backupRef": {"name": "b1"}}, "targetTableName": "Orders-r1"}))?,
        )
        .await
        .map_err(|e| e.to_string())?;

    let kubectl = |args: &[&str]| -> Result<String, String> {
        let out = std::process::Command::new(&ctx.env.bins.kubectl)
            .arg(format!("--kubeconfig={}", ctx.env.plane.kubeconfig.display()))
            .args(["-n", &ctx.namespace])
            .args(args)
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!("kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr)))
        }
    };
    let all = kubectl(&["get", "dynamobackup", "-o", "name"])?;
    println!("kubectl get dynamobackup -o name:\n{all}");
    for expected in ["dynamobackup.dynamobackup.io/b1", "dynamobackuppolicy.dynamobackup.io/p1", "dynamorestore.dynamobackup.io/r1"] {
        ensure(all.lines().any(|l| l == expected), || format!("{expected} missing from:\n{all}"))?;
    }
    let table = kubectl(&["get", "ddbbackup"])?;
    println!("kubectl get ddbbackup:\n{table}");
    ensure(table.starts_with("NAME") && table.contains("TABLE") && table.contains("PHASE") && table.contains("Orders"), || {
        format!("printer columns missing:\n{table}")
    })?;
    let table = kubectl(&["get", "ddbpolicy"])?;
    ensure(table.contains("SCHEDULE") && table.contains("READY"), || format!("printer columns missing:\n{table}"))?;
    let table = kubectl(&["get", "ddbrestore"])?;
    ensure(table.contains("TARGET") && table.contains("Orders-r1"), || format!("printer columns missing:\n{table}"))?;
    Ok(())
}

fn object(kind: &str, name: &str, spec: Value) -> Result<DynamicObject, String> {
    serde_json::from_value(json!({
        "apiVersion": "dynamobackup.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": name},
        "spec": spec,
    }))
    .map_err(|e| e.to_string())
}

/// A manifest the apiserver must refuse, and what its message must name.
pub struct BadManifest {
    name: &'static str,
    kind: &'static str,
    spec: Value,
    /// For update cases: the valid spec created first; `spec` is then applied over it.
    before: Option<Value>,
    expect: &'static str,
    needs_cel: bool,
}

fn bad_manifests() -> Vec<BadManifest> {
    let bad = |name, kind, spec, expect, needs_cel| BadManifest { name, kind, spec, before: None, expect, needs_cel };
    vec![
        bad(
            "refused_restore_with_two_sources",
            "DynamoRestore",
            json!({"source": {"backupRef": {"name": "b"}, "backupArn": "arn:aws:dynamodb:eu-west-1:123456789012:table/Orders/backup/01736"}, "targetTableName": "Orders-r"}),
            "exactly one of spec.source.backupRef, spec.source.backupArn, spec.source.recoveryPointArn and spec.source.pointInTime",
            true,
        ),
        bad(
            "refused_restore_without_source",
            "DynamoRestore",
            json!({"source": {}, "targetTableName": "Orders-r"}),
            "exactly one of spec.source.backupRef, spec.source.backupArn, spec.source.recoveryPointArn and spec.source.pointInTime",
            true,
        ),
        bad(
            "refused_restore_time_and_latest_together",
            "DynamoRestore",
            json!({"source": {"pointInTime": {"tableName": "UserProfiles", "restoreTime": "2026-01-15T10:14:59Z", "latestRestorableTime": true}}, "targetTableName": "UserProfiles-r"}),
            "spec.source.pointInTime.restoreTime",
            true,
        ),
        bad(
            "refused_recovery_period_of_36_days",
            "DynamoBackupPolicy",
            json!({"tables": ["Orders"], "pointInTimeRecovery": {"enabled": true, "recoveryPeriodInDays": 36}}),
            "spec.pointInTimeRecovery.recoveryPeriodInDays",
            false,
        ),
        bad(
            "refused_backup_name_with_spaces",
            "DynamoBackup",
            json!({"tableName": "Orders", "backupName": "orders v42"}),
            "spec.backupName",
            false,
        ),
        BadManifest {
            name: "refused_change_of_table_name",
            kind: "DynamoBackup",
            before: Some(json!({"tableName": "Orders"})),
            spec: json!({"tableName": "OrderItems"}),
            expect: "spec.tableName is immutable",
            needs_cel: true,
        },
        bad(
            "refused_provisioned_without_throughput",
            "DynamoRestore",
            json!({"source": {"backupRef": {"name": "b"}}, "targetTableName": "Orders-r", "overrides": {"billingMode": "PROVISIONED"}}),
            "spec.overrides.billingMode",
            true,
        ),
        bad(
            "refused_throughput_without_provisioned",
            "DynamoRestore",
            json!({"source": {"backupRef": {"name": "b"}}, "targetTableName": "Orders-r", "overrides": {"provisionedThroughput": {"readCapacityUnits": 5, "writeCapacityUnits": 5}}}),
            "spec.overrides.provisionedThroughput",
            true,
        ),
        bad(
            "refused_negative_keep_daily",
            "DynamoBackupPolicy",
            json!({"tables": ["Orders"], "retention": {"keepDaily": -1}}),
            "spec.retention.keepDaily",
            false,
        ),
        bad(
            "refused_unknown_deletion_policy",
            "DynamoBackup",
            json!({"tableName": "Orders", "deletionPolicy": "Destroy"}),
            "spec.deletionPolicy",
            false,
        ),
        bad("refused_empty_tables_list", "DynamoBackupPolicy", json!({"tables": []}), "select them with spec.tableSelector", true),
        bad("refused_empty_table_selector", "DynamoBackupPolicy", json!({"tableSelector": {}}), "needs names, tags or both", true),
        bad("refused_duplicate_tables", "DynamoBackupPolicy", json!({"tables": ["Orders", "Orders"]}), "spec.tables[1]", false),
        bad("refused_table_name_with_spaces", "DynamoBackup", json!({"tableName": "my orders"}), "spec.tableName", false),
        bad(
            "refused_cron_that_is_not_cron",
            "DynamoBackupPolicy",
            json!({"tables": ["Orders"], "schedule": {"cron": "every day"}}),
            "spec.schedule.cron",
            false,
        ),
        bad(
            "refused_workload_by_name_and_selector",
            "DynamoBackupPolicy",
            json!({"tables": ["Orders"], "preRollout": {"workloads": [{"kind": "Deployment", "name": "api", "selector": {"matchLabels": {"app": "api"}}}]}}),
            "exactly one of name and selector",
            true,
        ),
        BadManifest {
            name: "refused_change_of_restore_target",
            kind: "DynamoRestore",
            before: Some(json!({"source": {"backupRef": {"name": "b"}}, "targetTableName": "Orders-r"})),
            spec: json!({"source": {"backupRef": {"name": "b"}}, "targetTableName": "Orders-other"}),
            expect: "spec.targetTableName is immutable",
            needs_cel: true,
        },
        bad(
            "refused_aws_backup_method_without_its_settings",
            "DynamoBackup",
            json!({"tableName": "Orders", "method": "AWSBackup"}),
            "spec.awsBackup is required with method AWSBackup",
            true,
        ),
        bad(
            "refused_aws_backup_settings_with_the_dynamodb_method",
            "DynamoBackup",
            json!({"tableName": "Orders", "awsBackup": {"backupVaultName": "prod", "iamRoleArn": "arn:aws:iam::123456789012:role/backup"}}),
            "spec.awsBackup is required with method AWSBackup and refused with method DynamoDB",
            true,
        ),
        bad(
            "refused_copy_to_a_vault_twice",
            "DynamoBackup",
            json!({"tableName": "Orders", "method": "AWSBackup", "awsBackup": {"backupVaultName": "prod", "iamRoleArn": "arn:aws:iam::123456789012:role/backup",
                "copyTo": [{"destinationBackupVaultArn": "arn:aws:backup:eu-central-1:123456789012:backup-vault:dr"},
                           {"destinationBackupVaultArn": "arn:aws:backup:eu-central-1:123456789012:backup-vault:dr"}]}}),
            "Duplicate value",
            false,
        ),
        bad(
            "refused_lifecycle_shorter_than_cold_storage_allows",
            "DynamoBackup",
            json!({"tableName": "Orders", "method": "AWSBackup", "awsBackup": {"backupVaultName": "prod", "iamRoleArn": "arn:aws:iam::123456789012:role/backup",
                "lifecycle": {"moveToColdStorageAfterDays": 30, "deleteAfterDays": 60}}}),
            "moveToColdStorageAfterDays + 90",
            true,
        ),
        bad(
            "refused_copy_back_listed_without_keys",
            "DynamoRestore",
            json!({"source": {"backupRef": {"name": "b"}}, "targetTableName": "Orders-r", "copyBack": {"items": "Listed"}}),
            "spec.copyBack.items Listed needs spec.copyBack.keys",
            true,
        ),
        bad(
            "refused_copy_back_into_the_restored_table",
            "DynamoRestore",
            json!({"source": {"backupRef": {"name": "b"}}, "targetTableName": "Orders-r", "copyBack": {"into": "Orders-r"}}),
            "spec.copyBack.into names the restored table itself",
            true,
        ),
        BadManifest {
            name: "refused_copy_back_dry_run_turned_back_on",
            kind: "DynamoRestore",
            before: Some(json!({"source": {"backupRef": {"name": "b"}}, "targetTableName": "Orders-r", "copyBack": {"dryRun": false}})),
            spec: json!({"source": {"backupRef": {"name": "b"}}, "targetTableName": "Orders-r", "copyBack": {"dryRun": true}}),
            expect: "spec.copyBack is immutable, but for dryRun going from true to false",
            needs_cel: true,
        },
        BadManifest {
            name: "refused_copy_back_added_after_creation",
            kind: "DynamoRestore",
            before: Some(json!({"source": {"backupRef": {"name": "b"}}, "targetTableName": "Orders-r"})),
            spec: json!({"source": {"backupRef": {"name": "b"}}, "targetTableName": "Orders-r", "copyBack": {"dryRun": true}}),
            expect: "spec.copyBack cannot be added or removed after creation",
            needs_cel: true,
        },
        bad(
            "refused_recovery_point_restore_without_a_role",
            "DynamoRestore",
            json!({"source": {"recoveryPointArn": "arn:aws:backup:us-east-1:123456789012:recovery-point:abc"}, "targetTableName": "Orders-r"}),
            "spec.awsBackup.iamRoleArn is required",
            true,
        ),
    ]
}

/// Creates (or, for update cases, creates and then patches) as `kubectl create` / `kubectl
/// apply` would, and expects 422 Invalid with a message that names the field.
async fn refused(ctx: TestCtx, case: BadManifest) -> Result<(), String> {
    let api = dynamic(ctx.client(), &ctx.namespace, case.kind)?;
    let name = "bad";
    let result = match &case.before {
        Some(before) => {
            api.create(&PostParams::default(), &object(case.kind, name, before.clone())?)
                .await
                .map_err(|e| format!("the valid object was refused: {e}"))?;
            api.patch(name, &PatchParams::default(), &Patch::Merge(json!({"spec": case.spec}))).await
        }
        None => api.create(&PostParams::default(), &object(case.kind, name, case.spec.clone())?).await,
    };
    match result {
        Ok(_) => Err(format!("{}: the apiserver accepted {}", case.name, case.spec)),
        Err(kube::Error::Api(status)) => {
            println!("{}: refused ({}): {}", case.name, status.code, status.message);
            ensure(status.code == 422, || format!("expected 422 Invalid, got {}: {}", status.code, status.message))?;
            ensure(status.message.contains(case.expect), || format!("the message does not name {:?}: {}", case.expect, status.message))
        }
        Err(other) => Err(format!("unexpected error: {other}")),
    }
}
