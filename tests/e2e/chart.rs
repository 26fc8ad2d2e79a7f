//! The Helm chart with the real `helm`: it lints strictly, renders what the operator needs (a
//! hardened pod, probes, its flags as env, the tenancy file, a ServiceMonitor), its schema
//! refuses typos, its RBAC is exactly the least-privilege set, and the API server accepts it.

use std::{collections::BTreeSet, path::Path, sync::Arc};

use libtest_mimic::Trial;

use dynamo_backup_operator::plan::tenancy::Tenancy;
use k8s_openapi::api::core::v1::Namespace;
use kube::{
    Api,
    api::{ObjectMeta, PostParams},
};
use serde_json::{Value, json};

use crate::support::{
    Env, TestCtx,
    chart::{chart_dir, documents, helm, kind, kubectl_apply, render, to_yaml, values_file},
    ensure,
};

pub fn trials(env: &Arc<Env>) -> Vec<Trial> {
    vec![
        env.trial("chart_lints_strictly_with_default_and_custom_values", lints),
        env.trial("chart_renders_a_hardened_operator_from_default_values", default_values),
        env.trial("chart_renders_custom_values_into_env_tenancy_rbac_and_servicemonitor", custom_values),
        env.trial("chart_schema_refuses_typos_and_wrong_types", schema_refuses),
        env.trial("chart_refuses_replicas_without_leader_election", replicas_need_leader_election),
        env.trial("chart_mounts_an_existing_tenancy_configmap", existing_tenancy),
        env.trial("chart_manifests_are_accepted_by_the_apiserver", accepted_by_the_apiserver),
        env.trial("chart_renders_networkpolicy_digest_pdb_antiaffinity_and_alerts", hardening),
        env.trial("chart_passes_the_linters_checks_with_every_values_file", linter_checks),
    ]
}

/// (API group, resource, verb): what the operator does with the Kubernetes API, and no more.
/// The same list is in the chart's README; the code is in `src/controllers/` and `src/leader.rs`.
const OPERATOR_RULES: &[(&str, &str, &[&str])] = &[
    ("dynamobackup.io", "dynamobackups", &["get", "list", "watch", "create", "patch", "delete"]),
    ("dynamobackup.io", "dynamorestores", &["get", "list", "watch", "create", "patch", "delete"]),
    ("dynamobackup.io", "dynamobackuppolicies", &["list", "watch", "patch"]),
    ("dynamobackup.io", "dynamobackups/status", &["patch"]),
    ("dynamobackup.io", "dynamorestores/status", &["patch"]),
    ("dynamobackup.io", "dynamobackuppolicies/status", &["patch"]),
    ("events.k8s.io", "events", &["create", "patch"]),
    ("apps", "deployments", &["get", "list", "watch"]),
    ("apps", "statefulsets", &["get", "list", "watch"]),
];
const LEASE_RULES: &[(&str, &str, &[&str])] = &[("coordination.k8s.io", "leases", &["get", "create", "update"])];

type Grants = BTreeSet<(String, String, String)>;

fn expected(rules: &[(&str, &str, &[&str])]) -> Grants {
    rules
        .iter()
        .flat_map(|(group, resource, verbs)| verbs.iter().map(move |v| (group.to_string(), resource.to_string(), v.to_string())))
        .collect()
}

/// Every (group, resource, verb) a Role or ClusterRole grants; a rule with anything beyond
/// apiGroups, resources and verbs (resourceNames, nonResourceURLs, wildcards) is an error.
fn grants(role: &Value) -> Result<Grants, String> {
    let mut out = Grants::new();
    for rule in role["rules"].as_array().ok_or_else(|| format!("no rules in {role}"))? {
        let keys: BTreeSet<&str> = rule.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
        ensure(keys == BTreeSet::from(["apiGroups", "resources", "verbs"]), || format!("unexpected rule shape: {rule}"))?;
        let list = |key: &str| -> Vec<String> {
            rule[key].as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()).unwrap_or_default()
        };
        for group in list("apiGroups") {
            for resource in list("resources") {
                for verb in list("verbs") {
                    ensure(!group.contains('*') && !resource.contains('*') && !verb.contains('*'), || format!("a wildcard in {rule}"))?;
                    out.insert((group.clone(), resource.clone(), verb));
                }
            }
        }
    }
    Ok(out)
}

fn only<'a>(docs: &'a [Value], wanted: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| kind(d) == wanted).collect()
}

fn one<'a>(docs: &'a [Value], wanted: &str) -> Result<&'a Value, String> {
    match only(docs, wanted).as_slice() {
        [doc] => Ok(doc),
        other => Err(format!("expected one {wanted}, rendered {}", other.len())),
    }
}

fn env_var<'a>(container: &'a Value, name: &str) -> Option<&'a Value> {
    container["env"].as_array()?.iter().find(|e| e["name"] == name)
}

fn env_value(container: &Value, name: &str) -> Option<String> {
    env_var(container, name).and_then(|e| e["value"].as_str()).map(str::to_owned)
}

fn operator_container(deployment: &Value) -> Result<&Value, String> {
    let containers = deployment["spec"]["template"]["spec"]["containers"].as_array().ok_or("no containers")?;
    ensure(containers.len() == 1, || format!("expected one container: {containers:?}"))?;
    Ok(&containers[0])
}

/// Values a real installation might use: none of them the default.
fn custom(watch: &[String]) -> String {
    let namespaces: Vec<String> = watch.iter().map(|n| format!("\"{n}\"")).collect();
    format!(
        r#"replicaCount: 2
leaderElection:
  enabled: true
  leaseDuration: 20s
watchNamespaces: [{namespaces}]
aws:
  region: eu-west-1
  endpointUrl: http://dynamodb.example.internal:8000
  stsEndpointUrl: http://sts.example.internal:8000
  backupEndpointUrl: http://backup.example.internal:8000
  autoScalingEndpointUrl: http://autoscaling.example.internal:8000
  rateLimits:
    ListBackups: 2
    CreateBackup: 25
logFormat: json
logLevel: info,dynamo_backup_operator=debug
serviceAccount:
  annotations:
    eks.amazonaws.com/role-arn: arn:aws:iam::123456789012:role/dynamo-backup-operator
tenancy:
  tenants:
    - namespace: shop
      tables: ["Orders", "Order*"]
      regions: [eu-west-1]
      roleArn: arn:aws:iam::123456789012:role/shop-backups
    - namespace: payments
      tables: ["Payments"]
serviceMonitor:
  enabled: true
  interval: 15s
  labels:
    release: kube-prometheus-stack
podAnnotations:
  example.com/team: storage
extraEnv:
  - name: AWS_STS_REGIONAL_ENDPOINTS
    value: regional
"#,
        namespaces = namespaces.join(", ")
    )
}

async fn lints(ctx: TestCtx) -> Result<(), String> {
    let chart = chart_dir().display().to_string();
    let out = helm(&ctx.env.bins, &["lint", "--strict", &chart])?;
    println!("{}", out.trim_end());
    let file = values_file(&ctx.env.dir, &ctx.namespace, Some(&custom(&["shop".into(), "payments".into()])))?
        .ok_or("no values file")?
        .display()
        .to_string();
    let out = helm(&ctx.env.bins, &["lint", "--strict", &chart, "--values", &file])?;
    ensure(out.contains("0 chart(s) failed"), || format!("helm lint:\n{out}"))
}

async fn default_values(ctx: TestCtx) -> Result<(), String> {
    let docs = documents(&render(&ctx.env.bins, &ctx.env.dir, "dbo", "operators", None)?)?;
    let kinds: BTreeSet<&str> = docs.iter().map(kind).collect();
    let want = BTreeSet::from([
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "Service",
        "Deployment",
        "FlowSchema",
        "PriorityLevelConfiguration",
    ]);
    ensure(kinds == want, || format!("rendered kinds {kinds:?}, expected {want:?}"))?;
    // The operator's ServiceAccount, and only it, in a priority level of its own.
    let schema = one(&docs, "FlowSchema")?;
    let level = one(&docs, "PriorityLevelConfiguration")?;
    ensure(schema["apiVersion"] == "flowcontrol.apiserver.k8s.io/v1", || format!("FlowSchema apiVersion {}", schema["apiVersion"]))?;
    ensure(schema["spec"]["priorityLevelConfiguration"]["name"] == level["metadata"]["name"], || format!("FlowSchema {schema}"))?;
    ensure(
        schema["spec"]["rules"][0]["subjects"]
            == json!([{"kind": "ServiceAccount", "serviceAccount": {"name": "dbo-dynamo-backup-operator", "namespace": "operators"}}]),
        || format!("FlowSchema subjects: {}", schema["spec"]["rules"][0]["subjects"]),
    )?;
    ensure(schema["spec"]["matchingPrecedence"].as_u64().is_some_and(|p| p < 9000), || "behind service-accounts (9000)".into())?;

    let deployment = one(&docs, "Deployment")?;
    let pod = &deployment["spec"]["template"]["spec"];
    let container = operator_container(deployment)?;
    ensure(pod["serviceAccountName"] == "dbo-dynamo-backup-operator", || format!("serviceAccountName: {}", pod["serviceAccountName"]))?;
    ensure(pod["securityContext"]["runAsNonRoot"] == true, || format!("pod securityContext: {}", pod["securityContext"]))?;
    ensure(pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", || "no RuntimeDefault seccomp profile".into())?;
    let security = &container["securityContext"];
    ensure(
        security["readOnlyRootFilesystem"] == true
            && security["allowPrivilegeEscalation"] == false
            && security["runAsNonRoot"] == true
            && security["capabilities"]["drop"] == json!(["ALL"])
            && security["seccompProfile"]["type"] == "RuntimeDefault",
        || format!("container securityContext: {security}"),
    )?;
    ensure(container["args"] == json!(["run"]), || format!("args: {}", container["args"]))?;
    ensure(container["image"] == "dynamo-backup-operator:0.1.0", || format!("image: {}", container["image"]))?;
    ensure(container["ports"] == json!([{"name": "metrics", "containerPort": 8080, "protocol": "TCP"}]), || {
        format!("ports: {}", container["ports"])
    })?;
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        let get = &container[probe]["httpGet"];
        ensure(get["path"] == path && get["port"] == "metrics", || format!("{probe}: {}", container[probe]))?;
    }
    for key in ["requests", "limits"] {
        let r = &container["resources"][key];
        ensure(r["cpu"].is_string() && r["memory"].is_string(), || format!("resources.{key}: {}", container["resources"]))?;
    }

    let expect_env = [
        ("LOG_FORMAT", "json"),
        ("METRICS_BIND_ADDRESS", "0.0.0.0:8080"),
        ("RECONCILE_CONCURRENCY", "16"),
        ("PITR_REFRESH_INTERVAL", "40m"),
        ("BACKUP_RESYNC_INTERVAL", "1h"),
        ("LEADER_ELECTION", "true"),
        ("LEADER_ELECTION_LEASE_NAME", "dbo-dynamo-backup-operator"),
        ("LEADER_ELECTION_LEASE_DURATION", "15s"),
    ];
    for (name, value) in expect_env {
        ensure(env_value(container, name).as_deref() == Some(value), || format!("{name}: {:?}", env_var(container, name)))?;
    }
    for (name, field) in [("POD_NAMESPACE", "metadata.namespace"), ("POD_NAME", "metadata.name")] {
        let from = env_var(container, name).map(|e| &e["valueFrom"]["fieldRef"]["fieldPath"]);
        ensure(from.is_some_and(|f| f == field), || format!("{name} is not the downward API's {field}: {:?}", env_var(container, name)))?;
    }
    for name in [
        "WATCH_NAMESPACES",
        "DEFAULT_REGION",
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_ENDPOINT_URL_STS",
        "AWS_ENDPOINT_URL_BACKUP",
        "AWS_ENDPOINT_URL_APPLICATION_AUTO_SCALING",
        "AWS_RATE_LIMITS",
        "TENANCY_FILE",
    ] {
        ensure(env_var(container, name).is_none(), || format!("{name} is set by default: {:?}", env_var(container, name)))?;
    }
    ensure(deployment["spec"]["strategy"]["type"] == "RollingUpdate", || "a rolling update with leader election".into())?;

    let service = one(&docs, "Service")?;
    ensure(service["spec"]["ports"][0]["name"] == "metrics" && service["spec"]["ports"][0]["port"] == 8080, || {
        format!("service: {service}")
    })?;
    let cluster_role = one(&docs, "ClusterRole")?;
    let granted = grants(cluster_role)?;
    ensure(granted == expected(OPERATOR_RULES), || {
        format!("ClusterRole grants {granted:?}\nexpected exactly {:?}", expected(OPERATOR_RULES))
    })?;
    let binding = one(&docs, "ClusterRoleBinding")?;
    ensure(
        binding["subjects"] == json!([{"kind": "ServiceAccount", "name": "dbo-dynamo-backup-operator", "namespace": "operators"}]),
        || format!("ClusterRoleBinding subjects: {}", binding["subjects"]),
    )?;
    let lease_role = one(&docs, "Role")?;
    ensure(lease_role["metadata"]["namespace"] == "operators", || format!("the lease Role is not in the release namespace: {lease_role}"))?;
    let granted = grants(lease_role)?;
    ensure(granted == expected(LEASE_RULES), || format!("lease Role grants {granted:?}"))
}

async fn custom_values(ctx: TestCtx) -> Result<(), String> {
    let values = custom(&["shop".into(), "payments".into()]);
    let file = values_file(&ctx.env.dir, &ctx.namespace, Some(&values))?.ok_or("no values file")?;
    let chart = chart_dir().display().to_string();
    let file = file.display().to_string();
    let rendered = helm(&ctx.env.bins, &["template", "dbo", &chart, "--namespace", "operators", "--values", &file])?;
    let docs = documents(&rendered)?;

    let deployment = one(&docs, "Deployment")?;
    let container = operator_container(deployment)?;
    ensure(deployment["spec"]["replicas"] == 2, || format!("replicas: {}", deployment["spec"]["replicas"]))?;
    let expect_env = [
        ("WATCH_NAMESPACES", "shop,payments"),
        ("DEFAULT_REGION", "eu-west-1"),
        ("AWS_ENDPOINT_URL_DYNAMODB", "http://dynamodb.example.internal:8000"),
        ("AWS_ENDPOINT_URL_STS", "http://sts.example.internal:8000"),
        ("AWS_ENDPOINT_URL_BACKUP", "http://backup.example.internal:8000"),
        ("AWS_ENDPOINT_URL_APPLICATION_AUTO_SCALING", "http://autoscaling.example.internal:8000"),
        ("AWS_RATE_LIMITS", "CreateBackup=25,ListBackups=2"),
        ("LOG_FORMAT", "json"),
        ("RUST_LOG", "info,dynamo_backup_operator=debug"),
        ("LEADER_ELECTION", "true"),
        ("LEADER_ELECTION_LEASE_DURATION", "20s"),
        ("TENANCY_FILE", "/etc/dynamo-backup-operator/tenancy/tenancy.yaml"),
        ("AWS_STS_REGIONAL_ENDPOINTS", "regional"),
    ];
    for (name, value) in expect_env {
        ensure(env_value(container, name).as_deref() == Some(value), || format!("{name}: {:?}", env_var(container, name)))?;
    }
    let template = &deployment["spec"]["template"];
    ensure(template["metadata"]["annotations"]["example.com/team"] == "storage", || "podAnnotations not on the pod".into())?;
    ensure(template["metadata"]["annotations"]["checksum/tenancy"].is_string(), || "no checksum of the tenancy file".into())?;

    // The tenancy file: a ConfigMap, mounted read-only where TENANCY_FILE points, that the
    // operator's own parser accepts and reads as the values say.
    let config_map = one(&docs, "ConfigMap")?;
    let name = config_map["metadata"]["name"].as_str().ok_or("a ConfigMap without a name")?;
    let mount = container["volumeMounts"].as_array().and_then(|m| m.iter().find(|m| m["name"] == "tenancy")).ok_or("no tenancy mount")?;
    ensure(mount["readOnly"] == true && mount["mountPath"] == "/etc/dynamo-backup-operator/tenancy", || format!("mount: {mount}"))?;
    let volume =
        template["spec"]["volumes"].as_array().and_then(|v| v.iter().find(|v| v["name"] == "tenancy")).ok_or("no tenancy volume")?;
    ensure(volume["configMap"]["name"] == name, || format!("volume: {volume}"))?;
    let file = config_map["data"]["tenancy.yaml"].as_str().ok_or("no tenancy.yaml in the ConfigMap")?;
    let tenancy = Tenancy::parse(file).map_err(|e| format!("the operator refuses the rendered tenancy file: {e}\n{file}"))?;
    ensure(tenancy.check("shop", "Orders-2026", Some("eu-west-1")).is_ok(), || format!("shop may not back up Orders-2026:\n{file}"))?;
    ensure(tenancy.check("shop", "Payments", Some("eu-west-1")).is_err(), || format!("shop may back up Payments:\n{file}"))?;
    ensure(tenancy.check("payments", "Payments", None).is_ok(), || format!("payments may not back up Payments:\n{file}"))?;

    let monitor = one(&docs, "ServiceMonitor")?;
    ensure(monitor["apiVersion"] == "monitoring.coreos.com/v1", || format!("ServiceMonitor: {monitor}"))?;
    ensure(monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack", || {
        format!("ServiceMonitor labels: {}", monitor["metadata"])
    })?;
    let endpoint = &monitor["spec"]["endpoints"][0];
    ensure(endpoint["port"] == "metrics" && endpoint["path"] == "/metrics" && endpoint["interval"] == "15s", || {
        format!("endpoint: {endpoint}")
    })?;
    let service = one(&docs, "Service")?;
    ensure(monitor["spec"]["selector"]["matchLabels"] == service["spec"]["selector"], || {
        "the ServiceMonitor does not select the Service".into()
    })?;

    let account = one(&docs, "ServiceAccount")?;
    ensure(
        account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == "arn:aws:iam::123456789012:role/dynamo-backup-operator",
        || format!("ServiceAccount: {account}"),
    )?;

    // Watched namespaces: a Role and RoleBinding in each, nothing cluster-wide.
    ensure(only(&docs, "ClusterRole").is_empty() && only(&docs, "ClusterRoleBinding").is_empty(), || {
        "cluster-wide RBAC with watchNamespaces".into()
    })?;
    let roles = only(&docs, "Role");
    let mut seen = BTreeSet::new();
    for role in &roles {
        let namespace = role["metadata"]["namespace"].as_str().unwrap_or_default();
        let want = if namespace == "operators" { expected(LEASE_RULES) } else { expected(OPERATOR_RULES) };
        let granted = grants(role)?;
        ensure(granted == want, || format!("Role in {namespace} grants {granted:?}, expected {want:?}"))?;
        seen.insert(namespace.to_owned());
    }
    let want = BTreeSet::from(["operators".to_owned(), "payments".to_owned(), "shop".to_owned()]);
    ensure(seen == want, || format!("Roles in {seen:?}"))?;
    let bindings: BTreeSet<String> =
        only(&docs, "RoleBinding").iter().filter_map(|b| b["metadata"]["namespace"].as_str().map(str::to_owned)).collect();
    ensure(bindings == want, || format!("RoleBindings in {bindings:?}"))
}

async fn schema_refuses(ctx: TestCtx) -> Result<(), String> {
    let cases = [
        ("typo", "replicas: 2\n", "replicas"),
        ("nested-typo", "serviceAccount:\n  anotations: {}\n", "anotations"),
        ("wrong-type", "replicaCount: two\n", "replicaCount"),
        ("not-an-option", "logFormat: yaml\n", "logFormat"),
        ("tenant-typo", "tenancy:\n  tenants:\n    - namespace: shop\n      table: [Orders]\n", "table"),
        ("rate-not-a-number", "aws:\n  rateLimits:\n    ListBackups: fast\n", "ListBackups"),
    ];
    for (name, values, mentioned) in cases {
        let result = render(&ctx.env.bins, &ctx.env.dir, &format!("schema-{name}"), "operators", Some(values));
        let err = match result {
            Ok(out) => return Err(format!("values {values:?} were accepted:\n{out}")),
            Err(err) => err,
        };
        ensure(err.contains("values don't meet the specifications of the schema") && err.contains(mentioned), || {
            format!("values {values:?}: not refused by the schema, or without naming {mentioned:?}:\n{err}")
        })?;
        println!("{name}: refused");
    }
    Ok(())
}

async fn replicas_need_leader_election(ctx: TestCtx) -> Result<(), String> {
    let values = "replicaCount: 3\nleaderElection:\n  enabled: false\n";
    let err = match render(&ctx.env.bins, &ctx.env.dir, &ctx.namespace, "operators", Some(values)) {
        Ok(out) => return Err(format!("3 replicas without leader election were rendered:\n{out}")),
        Err(err) => err,
    };
    ensure(err.contains("needs leaderElection.enabled"), || format!("no reason given:\n{err}"))?;
    // One replica without leader election: no Lease Role, and never two pods side by side.
    let docs = documents(&render(
        &ctx.env.bins,
        &ctx.env.dir,
        &format!("{}-one", ctx.namespace),
        "operators",
        Some("leaderElection:\n  enabled: false\n"),
    )?)?;
    ensure(only(&docs, "Role").is_empty(), || "a lease Role without leader election".into())?;
    let deployment = one(&docs, "Deployment")?;
    ensure(deployment["spec"]["strategy"]["type"] == "Recreate", || format!("strategy: {}", deployment["spec"]["strategy"]))?;
    ensure(env_var(operator_container(deployment)?, "LEADER_ELECTION").is_none(), || "LEADER_ELECTION set".into())
}

async fn existing_tenancy(ctx: TestCtx) -> Result<(), String> {
    let values = "tenancy:\n  existingConfigMap: platform-tenants\n  existingConfigMapKey: tenants.yaml\n";
    let docs = documents(&render(&ctx.env.bins, &ctx.env.dir, "existing-tenancy", "operators", Some(values))?)?;
    ensure(only(&docs, "ConfigMap").is_empty(), || "a ConfigMap rendered next to an existing one".into())?;
    let deployment = one(&docs, "Deployment")?;
    let container = operator_container(deployment)?;
    let file = env_value(container, "TENANCY_FILE");
    ensure(file.as_deref() == Some("/etc/dynamo-backup-operator/tenancy/tenants.yaml"), || format!("TENANCY_FILE: {file:?}"))?;
    let volumes = &deployment["spec"]["template"]["spec"]["volumes"];
    let want =
        json!([{"name": "tenancy", "configMap": {"name": "platform-tenants", "items": [{"key": "tenants.yaml", "path": "tenants.yaml"}]}}]);
    ensure(*volumes == want, || format!("volumes: {volumes}"))?;

    let both = "tenancy:\n  existingConfigMap: platform-tenants\n  tenants:\n    - {namespace: shop, tables: [Orders]}\n";
    match render(&ctx.env.bins, &ctx.env.dir, "both-tenancies", "operators", Some(both)) {
        Ok(out) => Err(format!("inline tenants and an existing ConfigMap were both accepted:\n{out}")),
        Err(err) => ensure(err.contains("either tenants or existingConfigMap"), || format!("no reason given:\n{err}")),
    }
}

/// Applies the rendered chart into this test's namespace as the release namespace. No kubelet
/// or scheduler runs, so no pod starts; what counts is that every object is accepted.
async fn accepted_by_the_apiserver(ctx: TestCtx) -> Result<(), String> {
    let env = &ctx.env;
    // Release names are unique per test, so cluster-wide objects never clash with the
    // environment's own release.
    let release = format!("{}-defaults", ctx.namespace.chars().take(30).collect::<String>().trim_end_matches('-'));
    let docs = documents(&render(&env.bins, &env.dir, &release, &ctx.namespace, None)?)?;
    let out = kubectl_apply(&env.bins, &env.plane.kubeconfig, &to_yaml(&docs.iter().collect::<Vec<_>>())?)?;
    println!("default values:\n{}", out.trim_end());
    ensure(out.lines().count() == docs.len(), || format!("{} objects rendered, kubectl said:\n{out}", docs.len()))?;

    // Custom values: the watched namespaces must exist first.
    let watched: Vec<String> = ["a", "b"].iter().map(|s| format!("{}-{s}", ctx.namespace)).collect();
    let namespaces: Api<Namespace> = Api::all(ctx.client());
    for name in &watched {
        let ns = Namespace { metadata: ObjectMeta { name: Some(name.clone()), ..Default::default() }, ..Default::default() };
        namespaces.create(&PostParams::default(), &ns).await.map_err(|e| format!("creating namespace {name}: {e}"))?;
    }
    let release = format!("{}-custom", ctx.namespace.chars().take(30).collect::<String>().trim_end_matches('-'));
    let docs = documents(&render(&env.bins, &env.dir, &release, &ctx.namespace, Some(&custom(&watched)))?)?;
    // The test apiserver has no Prometheus operator, so no ServiceMonitor kind to accept one;
    // its content is checked in chart_renders_custom_values_into_env_tenancy_rbac_and_servicemonitor.
    let applied: Vec<&Value> = docs.iter().filter(|d| kind(d) != "ServiceMonitor").collect();
    ensure(applied.len() + 1 == docs.len(), || "no ServiceMonitor rendered".into())?;
    let out = kubectl_apply(&env.bins, &env.plane.kubeconfig, &to_yaml(&applied)?)?;
    println!("custom values:\n{}", out.trim_end());
    ensure(out.lines().count() == applied.len(), || format!("{} objects applied, kubectl said:\n{out}", applied.len()))
}

/// What a reviewer's hardening asks of the chart, beyond the defaults.
const HARDENING: &str = r#"replicaCount: 3
image:
  repository: registry.example.com/dynamo-backup-operator
  digest: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
networkPolicy:
  enabled: true
  apiServer:
    cidrs: [10.96.0.1/32, 172.20.0.0/16]
prometheusRule:
  enabled: true
  labels:
    release: kube-prometheus-stack
  backupStaleAfterHours: 30
"#;

/// The network policy, a digest-pinned image, a PDB and a soft anti-affinity with more than one
/// replica, and the alerts, rendered field by field; the API server accepts all but the
/// PrometheusRule (its CRD is the Prometheus operator's).
async fn hardening(ctx: TestCtx) -> Result<(), String> {
    let docs = documents(&render(&ctx.env.bins, &ctx.env.dir, "dbo", "operators", Some(HARDENING))?)?;
    let deployment = one(&docs, "Deployment")?;
    let container = operator_container(deployment)?;
    let image = "registry.example.com/dynamo-backup-operator@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    ensure(container["image"] == image, || format!("image: {}", container["image"]))?;

    let np = one(&docs, "NetworkPolicy")?;
    let spec = &np["spec"];
    ensure(spec["policyTypes"] == json!(["Ingress", "Egress"]), || format!("policyTypes: {}", spec["policyTypes"]))?;
    ensure(spec["podSelector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"], || "not the operator's pods".into())?;
    let ingress = spec["ingress"].as_array().ok_or("no ingress")?;
    ensure(
        ingress.len() == 1
            && ingress[0]["ports"] == json!([{"port": "metrics", "protocol": "TCP"}])
            && ingress[0]["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] == "monitoring",
        || format!("ingress: {ingress:?}"),
    )?;
    let egress = spec["egress"].as_array().ok_or("no egress")?;
    let ports = |rule: &Value| -> Vec<(i64, String)> {
        rule["ports"]
            .as_array()
            .map(|p| p.iter().map(|p| (p["port"].as_i64().unwrap_or(0), p["protocol"].as_str().unwrap_or_default().to_owned())).collect())
            .unwrap_or_default()
    };
    ensure(egress.len() == 3, || format!("egress: {egress:?}"))?;
    ensure(ports(&egress[0]) == [(53, "UDP".into()), (53, "TCP".into())], || format!("DNS: {}", egress[0]))?;
    ensure(ports(&egress[1]) == [(443, "TCP".into()), (6443, "TCP".into())], || format!("API server: {}", egress[1]))?;
    ensure(egress[1]["to"] == json!([{"ipBlock": {"cidr": "10.96.0.1/32"}}, {"ipBlock": {"cidr": "172.20.0.0/16"}}]), || {
        format!("API server peers: {}", egress[1])
    })?;
    ensure(ports(&egress[2]) == [(443, "TCP".into())] && egress[2].get("to").is_none(), || format!("AWS: {}", egress[2]))?;

    let pdb = one(&docs, "PodDisruptionBudget")?;
    ensure(pdb["spec"]["maxUnavailable"] == 1 && pdb["spec"]["selector"] == deployment["spec"]["selector"], || format!("{pdb}"))?;
    let anti = &deployment["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0];
    ensure(
        anti["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
            && anti["podAffinityTerm"]["labelSelector"] == deployment["spec"]["selector"],
        || format!("anti-affinity: {anti}"),
    )?;

    let rule = one(&docs, "PrometheusRule")?;
    ensure(rule["metadata"]["labels"]["release"] == "kube-prometheus-stack", || format!("labels: {}", rule["metadata"]["labels"]))?;
    let alerts = rule["spec"]["groups"][0]["rules"].as_array().ok_or("no rules")?;
    let names: BTreeSet<&str> = alerts.iter().filter_map(|a| a["alert"].as_str()).collect();
    for wanted in [
        "DynamoTableBackupStale",
        "DynamoBackupFailing",
        "DynamoTablePitrOff",
        "DynamoBackupPolicyNotReady",
        "DynamoBackupOperatorReconcileErrors",
    ] {
        ensure(names.contains(wanted), || format!("no alert {wanted}: {names:?}"))?;
    }
    let stale = alerts.iter().find(|a| a["alert"] == "DynamoTableBackupStale").ok_or("no stale alert")?;
    ensure(stale["expr"].as_str().is_some_and(|e| e.ends_with("> 108000")), || format!("stale: {}", stale["expr"]))?;
    // Every series an alert reads is one the operator exports (docs/operations.md lists them).
    let documented =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/operations.md")).map_err(|e| e.to_string())?;
    for alert in alerts {
        let expr = alert["expr"].as_str().unwrap_or_default();
        for series in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| w.starts_with("dynamo_backup_operator_")) {
            let name = series.trim_start_matches("dynamo_backup_operator_");
            let listed = name.strip_suffix("_total").unwrap_or(name);
            ensure(documented.contains(&format!("`{listed}")), || {
                format!("{} reads {series}, which docs/operations.md does not list", alert["alert"])
            })?;
        }
    }

    // One replica: no PDB, no anti-affinity; a digest in image.tag is refused by the schema.
    let single = documents(&render(&ctx.env.bins, &ctx.env.dir, "dbo-single", "operators", Some("replicaCount: 1\n"))?)?;
    ensure(only(&single, "PodDisruptionBudget").is_empty(), || "a PDB for one replica".into())?;
    ensure(one(&single, "Deployment")?["spec"]["template"]["spec"].get("affinity").is_none(), || "affinity for one replica".into())?;
    let refused = render(&ctx.env.bins, &ctx.env.dir, "dbo-tag", "operators", Some("image:\n  tag: \"sha256:0123\"\n"));
    ensure(refused.as_ref().is_err_and(|e| e.contains("/image/tag")), || format!("a digest in image.tag: {refused:?}"))?;

    // The API server takes all of it but the PrometheusRule.
    let release = format!("{}-hardened", ctx.namespace.chars().take(30).collect::<String>().trim_end_matches('-'));
    let docs = documents(&render(&ctx.env.bins, &ctx.env.dir, &release, &ctx.namespace, Some(HARDENING))?)?;
    let applied: Vec<&Value> = docs.iter().filter(|d| kind(d) != "PrometheusRule").collect();
    let out = kubectl_apply(&ctx.env.bins, &ctx.env.plane.kubeconfig, &to_yaml(&applied)?)?;
    println!("{}", out.trim_end());
    ensure(out.lines().count() == applied.len(), || format!("{} objects, kubectl said:\n{out}", applied.len()))
}

/// What kube-linter, kube-score and checkov check of a workload, asserted on the renders of the
/// default, custom and hardening values (kube-linter itself is not served as a Go module here):
/// non-root, read-only root filesystem, no privilege escalation, no capabilities, seccomp,
/// probes, requests and limits (ephemeral storage too, as kube-score asks), no host namespaces, a
/// pinned image, no wildcard RBAC, no access to Secrets, a PDB that lets a drain evict an unhealthy
/// replica and an anti-affinity with more than one replica.
async fn linter_checks(ctx: TestCtx) -> Result<(), String> {
    let sets = [("default", None), ("custom", Some(custom(&["shop".into()]))), ("hardening", Some(HARDENING.to_owned()))];
    for (name, values) in sets {
        let docs = documents(&render(&ctx.env.bins, &ctx.env.dir, &format!("lint-{name}"), "operators", values.as_deref())?)?;
        let deployment = one(&docs, "Deployment")?;
        let pod = &deployment["spec"]["template"]["spec"];
        let problem = |what: &str| format!("{name} values: {what}");
        for host in ["hostNetwork", "hostPID", "hostIPC"] {
            ensure(pod.get(host).is_none_or(|v| v == false), || problem(host))?;
        }
        ensure(pod["automountServiceAccountToken"] == true && pod["serviceAccountName"].is_string(), || problem("service account"))?;
        for container in pod["containers"].as_array().ok_or("no containers")? {
            let sc = &container["securityContext"];
            ensure(sc["runAsNonRoot"] == true || pod["securityContext"]["runAsNonRoot"] == true, || problem("runs as root"))?;
            ensure(sc["readOnlyRootFilesystem"] == true, || problem("writable root filesystem"))?;
            ensure(sc["allowPrivilegeEscalation"] == false && sc.get("privileged").is_none_or(|p| p == false), || problem("privileged"))?;
            ensure(sc["capabilities"]["drop"] == json!(["ALL"]) && sc["capabilities"].get("add").is_none(), || problem("capabilities"))?;
            ensure(sc["seccompProfile"]["type"] == "RuntimeDefault", || problem("seccomp"))?;
            ensure(container["livenessProbe"].is_object() && container["readinessProbe"].is_object(), || problem("probes"))?;
            for key in ["requests", "limits"] {
                for resource in ["cpu", "memory", "ephemeral-storage"] {
                    ensure(container["resources"][key][resource].is_string(), || problem(&format!("no {key}.{resource}")))?;
                }
            }
            let image = container["image"].as_str().unwrap_or_default();
            ensure(!image.ends_with(":latest") && (image.contains('@') || image.contains(':')), || problem(&format!("image {image}")))?;
        }
        for role in only(&docs, "ClusterRole").into_iter().chain(only(&docs, "Role")) {
            let granted = grants(role)?;
            ensure(!granted.iter().any(|(_, resource, _)| resource == "secrets"), || problem("access to Secrets"))?;
        }
        let replicas = deployment["spec"]["replicas"].as_i64().unwrap_or(1);
        if replicas > 1 {
            let pdbs = only(&docs, "PodDisruptionBudget");
            ensure(!pdbs.is_empty(), || problem("no PodDisruptionBudget"))?;
            // kube-linter's pdb-unhealthy-pod-eviction-policy.
            ensure(pdbs.iter().all(|p| p["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"), || {
                problem("unhealthyPodEvictionPolicy")
            })?;
            ensure(pod["affinity"]["podAntiAffinity"].is_object(), || problem("no anti-affinity"))?;
        }
        println!("{name} values: every check passes");
    }
    Ok(())
}
