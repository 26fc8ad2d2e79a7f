#!/usr/bin/env bash
# The local demo: a real kube-apiserver + etcd, moto as DynamoDB, the operator, and the
# examples of examples/. Everything runs on 127.0.0.1 and stops when the script ends.
# DEMO_KEEP=1 keeps it all running until Ctrl-C, to explore with kubectl.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

eval "$(scripts/testenv.sh)"
say "building the operator"
cargo build --locked --quiet
OPERATOR="$ROOT/target/debug/dynamo-backup-operator"

WORK=$(mktemp -d -t dbo-demo-XXXXXX)
# shellcheck source=scripts/local-cluster.sh
source scripts/local-cluster.sh
trap 'stop_all; echo "logs: $WORK"' EXIT
kubectl() { "$KUBECTL_BIN" "$@"; }
py() { "$(dirname "$MOTO_SERVER_BIN")/python" "$ROOT/scripts/demo_tables.py" "$@"; }

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

say "starting the operator (log: $WORK/operator.log)"
"$OPERATOR" run --namespaces shop --metrics-bind-address 127.0.0.1:0 >"$WORK/operator.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 60); do grep -q "operator started" "$WORK/operator.log" && break; sleep 0.5; done
grep -q "operator started" "$WORK/operator.log" || { cat "$WORK/operator.log"; exit 1; }

say "applying the examples"
kubectl apply -f examples/00-namespace.yaml -f examples/orders-backup.yaml -f examples/orders-restore.yaml \
  -f examples/ecommerce-policy.yaml
kubectl get dynamobackup -n shop

cat <<NOTE

The backup and restore controllers are not in this build yet: the objects above are stored and
validated by the apiserver, and the operator runs, but nothing reconciles them.
NOTE

if [ "${DEMO_KEEP:-}" = 1 ]; then
  say "running; in another shell:  export KUBECONFIG=$KUBECONFIG  (Ctrl-C stops everything)"
  wait
fi
