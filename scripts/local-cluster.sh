# Sourced by scripts/demo.sh: starts etcd, kube-apiserver and moto on free loopback ports under
# $WORK, writes $WORK/kubeconfig, and stops them all when the calling shell exits. moto runs
# inside tests/emulators/aws_backup.py, which adds AWS Backup's jobs and recovery points to it.
# Needs the variables scripts/testenv.sh exports.

LOCAL_CLUSTER_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

PIDS=()
stop_all() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}

start_cluster() {
  local etcd_port peer_port api_port
  etcd_port=$(free_port); peer_port=$(free_port); api_port=$(free_port)
  mkdir -p "$WORK/certs"
  "$ETCD_BIN" --name demo --data-dir "$WORK/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "demo=http://127.0.0.1:$peer_port" --unsafe-no-fsync --log-level warn \
    >"$WORK/etcd.log" 2>&1 &
  PIDS+=($!)

  local token; token=$(openssl rand -hex 16)
  echo "$token,admin,admin,system:masters" >"$WORK/tokens.csv"
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$WORK/sa.key" 2>/dev/null
  openssl pkey -in "$WORK/sa.key" -pubout -out "$WORK/sa.pub"
  "$KUBE_APISERVER_BIN" --etcd-servers="http://127.0.0.1:$etcd_port" --cert-dir="$WORK/certs" \
    --secure-port="$api_port" --bind-address=127.0.0.1 --token-auth-file="$WORK/tokens.csv" \
    --authorization-mode=RBAC --service-account-issuer=https://kubernetes.default.svc \
    --service-account-key-file="$WORK/sa.pub" --service-account-signing-key-file="$WORK/sa.key" \
    --service-cluster-ip-range=10.0.0.0/24 >"$WORK/kube-apiserver.log" 2>&1 &
  PIDS+=($!)

  cat >"$WORK/kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:$api_port
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    token: $token
contexts:
- name: local
  context: {cluster: local, user: admin}
current-context: local
KUBECONFIG
  export KUBECONFIG="$WORK/kubeconfig"
  for _ in $(seq 1 120); do
    "$KUBECTL_BIN" get --raw /readyz >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "kube-apiserver did not become ready; see $WORK/kube-apiserver.log" >&2
  return 1
}

start_moto() {
  local port; port=$(free_port)
  # The AWS Backup emulator's organization: the operator's account (moto's default) and a
  # disaster-recovery account, with cross-account backup on.
  AWS_BACKUP_EMULATOR_ORGANIZATION="${AWS_BACKUP_EMULATOR_ORGANIZATION:-123456789012,222222222222}" \
    "${MOTO_PYTHON:-$(dirname "$MOTO_SERVER_BIN")/python}" "$LOCAL_CLUSTER_ROOT/tests/emulators/aws_backup.py" \
    -H 127.0.0.1 -p "$port" >"$WORK/moto.log" 2>&1 &
  PIDS+=($!)
  export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$port"
  export AWS_ENDPOINT_URL_BACKUP="http://127.0.0.1:$port"
  export AWS_ENDPOINT_URL_APPLICATION_AUTO_SCALING="http://127.0.0.1:$port"
  # moto's STS: the operator asks it who it is, and assumes tenants' roles there.
  export AWS_ENDPOINT_URL_STS="http://127.0.0.1:$port"
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
  for _ in $(seq 1 120); do
    curl -s -o /dev/null "$AWS_ENDPOINT_URL_DYNAMODB/moto-api/" && return 0
    sleep 0.5
  done
  echo "moto did not start; see $WORK/moto.log" >&2
  return 1
}
