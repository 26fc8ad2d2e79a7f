#!/usr/bin/env bash
# The local demo: a real kube-apiserver + etcd, moto as DynamoDB (with the AWS Backup emulator
# of tests/emulators/), the operator, and the examples of examples/. Everything runs on 127.0.0.1 and stops when the script ends.
# DEMO_KEEP=1 keeps it all running until Ctrl-C, to explore with kubectl.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

eval "$(scripts/testenv.sh)"
say "building the operator"
cargo build --locked --quiet
OPERATOR="$ROOT/target/debug/dynamo-backup-operator"
# kubectl finds its plugin kubectl-dynamobackup on PATH.
export PATH="$ROOT/target/debug:$PATH"

WORK=$(mktemp -d -t dbo-demo-XXXXXX)
# shellcheck source=scripts/local-cluster.sh
source scripts/local-cluster.sh
trap 'stop_all; echo "logs: $WORK"' EXIT
kubectl() { "$KUBECTL_BIN" "$@"; }
py() { "$MOTO_PYTHON" "$ROOT/scripts/demo_tables.py" "$@"; }

say "starting etcd, kube-apiserver and moto on 127.0.0.1"
start_cluster
start_moto
kubectl version 2>/dev/null | sed 's/^/  /'

say "installing the CRDs"
kubectl apply --server-side -f crds/
kubectl wait --for condition=established --timeout=60s \
  crd/dynamobackups.dynamobackup.io crd/dynamorestores.dynamobackup.io crd/dynamobackuppolicies.dynamobackup.io

say "a DynamoDB table Orders with three orders"
py seed Orders
py items Orders

say "starting the operator for namespaces shop and dr, tenancy in examples/tenancy.yaml (log: $WORK/operator.log)"
"$OPERATOR" run --namespaces shop,dr --tenancy-file examples/tenancy.yaml --metrics-bind-address 127.0.0.1:0 \
  >"$WORK/operator.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 60); do grep -q "operator started" "$WORK/operator.log" && break; sleep 0.5; done
grep -q "operator started" "$WORK/operator.log" || { cat "$WORK/operator.log"; exit 1; }

say "an on-demand snapshot of Orders (examples/orders-backup.yaml)"
kubectl apply -f examples/00-namespace.yaml -f examples/orders-backup.yaml
kubectl wait -n shop --for=condition=Ready --timeout=120s dynamobackup/orders-before-v42
kubectl get dynamobackup -n shop

say "after the snapshot, someone deletes order-2 and adds order-4"
py change Orders
py items Orders

say "restoring the snapshot into a NEW table, Orders-restored (examples/orders-restore.yaml)"
kubectl apply -f examples/orders-restore.yaml
kubectl wait -n shop --for=condition=Ready --timeout=120s dynamorestore/orders-restore
kubectl get dynamobackup -n shop

say "Orders-restored holds exactly the snapshot"
py items Orders-restored
say "and Orders is untouched"
py items Orders

say "status of the restore"
kubectl get dynamorestore -n shop orders-restore -o jsonpath='{.status}' | python3 -m json.tool

say "repairing Orders in place: the snapshot restored again, what Orders lacks compared first (examples/orders-repair.yaml, a dry run)"
kubectl apply -f examples/orders-repair.yaml
kubectl wait -n shop --for=condition=CopiedBack --timeout=120s dynamorestore/orders-repair
kubectl get dynamorestore -n shop orders-repair -o jsonpath='{.status.copyBack}' | python3 -m json.tool
say "the dry run found order-2 missing: write it back (kubectl dynamobackup write-back orders-repair --wait)"
kubectl dynamobackup write-back orders-repair --wait -n shop
say "Orders is whole again: order-2 is back, and order-4, written after the snapshot, is still there"
py items Orders

say "a DynamoBackupPolicy: PITR on Orders, a snapshot every 20 s, the last two kept (examples/demo-policy.yaml)"
kubectl apply -f examples/demo-policy.yaml
kubectl wait -n shop --for=condition=Ready --timeout=60s dynamobackuppolicy/orders-demo
echo "  point-in-time recovery of Orders, as the policy reports it:"
kubectl get dynamobackuppolicy -n shop orders-demo -o jsonpath='{.status.tables[0].pointInTimeRecovery}' | python3 -m json.tool
echo "  waiting for three slots, so that retention has something to delete (about a minute)..."
for _ in $(seq 1 60); do
  deleted=$(kubectl get dynamobackuppolicy -n shop orders-demo -o jsonpath='{.status.retention.deleted}' 2>/dev/null || true)
  left=$(kubectl get dynamobackup -n shop -l dynamobackup.io/policy=orders-demo -o name | wc -l)
  [ "${deleted:-0}" -ge 1 ] && [ "$left" -eq 2 ] && break
  sleep 2
done
kubectl get dynamobackuppolicy -n shop
kubectl get dynamobackup -n shop -l dynamobackup.io/policy=orders-demo -L dynamobackup.io/trigger
echo "  retention: $(kubectl get dynamobackuppolicy -n shop orders-demo -o jsonpath='{.status.retention}')"

say "the command line: kubectl dynamobackup status (PITR window, last backup and its age, next slot)"
kubectl dynamobackup status -n shop
say "kubectl dynamobackup restore Orders --latest --as Orders-latest --wait"
kubectl dynamobackup restore Orders --latest --as Orders-latest --wait -n shop
py items Orders-latest
kubectl dynamobackup list -n shop

say "a restore drill: the newest backup restored into a new table, counted, timed, deleted 10 min later"
kubectl dynamobackup drill orders-demo --wait -n shop
kubectl get dynamobackuppolicy -n shop orders-demo -o jsonpath='{.status.drills}' | python3 -m json.tool

DR_ROLE=arn:aws:iam::222222222222:role/dynamo-dr-restores
say "disaster recovery: AWS Backup vault prod-dynamodb (us-east-1), and dr (eu-central-1) in the DR account 222222222222, open to copies from this account"
py vault prod-dynamodb us-east-1
py vault dr eu-central-1 "$DR_ROLE"

say "a snapshot kept by AWS Backup, copied to the DR account in eu-central-1 (examples/orders-dr-backup.yaml)"
kubectl apply -f examples/orders-dr-backup.yaml
kubectl wait -n shop --for=condition=Ready --timeout=180s dynamobackup/orders-dr
kubectl get ddbbackup -n shop orders-dr -o jsonpath='{.status.recoveryPointArn}{"\n"}'
kubectl get ddbbackup -n shop orders-dr -o jsonpath='{.status.copies}' | python3 -m json.tool
echo "  the copy in the DR account's vault:"
py points dr eu-central-1 "$DR_ROLE"

say "the production account is lost: the copy restored as Orders in the DR account, from namespace dr (examples/orders-dr-restore.yaml)"
COPY=$(kubectl get ddbbackup -n shop orders-dr -o jsonpath='{.status.copies[0].recoveryPointArn}')
sed "s|arn:aws:backup:[^ ]*:recovery-point:THE-COPY|$COPY|" examples/orders-dr-restore.yaml | kubectl apply -f -
kubectl wait -n dr --for=condition=Ready --timeout=180s dynamorestore/orders-in-frankfurt
kubectl get dynamorestore -n dr
echo "  Orders in the DR account, eu-central-1:"
py items Orders eu-central-1 "$DR_ROLE"

say "events"
kubectl get events -A -o custom-columns=NAMESPACE:.metadata.namespace,OBJECT:.involvedObject.name,REASON:.reason,MESSAGE:.message

if [ "${DEMO_KEEP:-}" = 1 ]; then
  say "running; in another shell:  export KUBECONFIG=$KUBECONFIG  (Ctrl-C stops everything)"
  wait
fi
