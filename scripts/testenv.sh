#!/usr/bin/env bash
# Provides what the end-to-end tests and the demo need — kube-apiserver, etcd, kubectl, helm,
# moto's server and the python of moto's virtualenv (which runs tests/emulators/aws_backup.py,
# moto with AWS Backup's jobs and recovery points) — and prints `export` lines that point at them:
#
#     eval "$(scripts/testenv.sh)"
#
# Each binary is looked for in this order:
#   1. an explicit variable (KUBE_APISERVER_BIN, ETCD_BIN, KUBECTL_BIN, HELM_BIN,
#      MOTO_SERVER_BIN, MOTO_PYTHON) or a KUBEBUILDER_ASSETS folder holding kube-apiserver, etcd
#      and kubectl; without MOTO_PYTHON, the python next to MOTO_SERVER_BIN, else the one its
#      first line names;
#   2. the cache, ${XDG_CACHE_HOME:-$HOME/.cache}/dynamo-backup-operator/;
#   3. a build from Go modules (k8s.io/kubernetes, go.etcd.io/etcd and helm.sh/helm/v3 at pinned
#      versions);
#   4. for the control plane only, when the Go route fails: Debian's kubernetes 1.20 source
#      package (with Debian's reflect2 1.0.2 over the vendored 1.0.1, which crashes under the
#      Go that builds it) and Debian's etcd-server 3.4. No CEL validation there: the CEL
#      tests skip and say so.
# Progress goes to stderr; only the export lines go to stdout.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.34.4}"
ETCD_VERSION="${ETCD_VERSION:-3.6.16}"
MOTO_VERSION="${MOTO_VERSION:-5.2.5}"
# Helm 3.19 asks for Go 1.24 (what kube-apiserver 1.34 needs too) and uses the Kubernetes 1.34
# libraries, the control plane's minor.
HELM_VERSION="${HELM_VERSION:-3.19.5}"
CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/dynamo-backup-operator"

log() { printf '[testenv] %s\n' "$*" >&2; }
die() { printf '[testenv] error: %s\n' "$*" >&2; exit 1; }

mkdir -p "$CACHE_ROOT"
# One provisioning at a time per cache (parallel test runs share it).
exec 9>"$CACHE_ROOT/.lock"
flock 9

# The module whose packages we build, and the minor version the staging modules carry.
k8s_minor() { local v="$1"; echo "${v#*.}" | cut -d. -f1; }

build_kubernetes() {
  local out="$1" v="$K8S_VERSION" work
  command -v go >/dev/null || { log "go not found"; return 1; }
  work="$CACHE_ROOT/build/k8s-$v"
  rm -rf "$work" && mkdir -p "$work" "$out"
  log "building kube-apiserver and kubectl v$v from Go modules (several minutes, once)"
  (
    cd "$work"
    export GOFLAGS=-mod=mod CGO_ENABLED=0
    go mod download -json "k8s.io/kubernetes@v$v" > download.json
    local gomod
    gomod=$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p' download.json)
    [ -f "$gomod" ] || { log "no go.mod for k8s.io/kubernetes@v$v"; exit 1; }
    {
      echo "module dynamo-backup-operator.test/k8s-build"
      echo
      echo "go 1.24"
      echo
      echo "require k8s.io/kubernetes v$v"
      echo
      echo "replace ("
      # k8s.io/kubernetes points its staging modules at local folders; point each at its release.
      grep -E '^[[:space:]]*k8s\.io/[a-z0-9-]+ => \./staging/' "$gomod" \
        | awk -v minor="0.$(k8s_minor "$v").${v##*.}" '{print "\t" $1 " => " $1 " v" minor}'
      echo ")"
    } > go.mod
    go get "k8s.io/kubernetes/cmd/kube-apiserver@v$v" "k8s.io/kubernetes/cmd/kubectl@v$v" >&2
    local ld="-s -w -X k8s.io/component-base/version.gitVersion=v$v"
    ld="$ld -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(k8s_minor "$v")"
    ld="$ld -X k8s.io/client-go/pkg/version.gitVersion=v$v"
    go build -trimpath -ldflags "$ld" -o "$out/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver >&2
    go build -trimpath -ldflags "$ld" -o "$out/kubectl" k8s.io/kubernetes/cmd/kubectl >&2
  )
}

build_etcd() {
  local out="$1" v="$ETCD_VERSION" work
  command -v go >/dev/null || { log "go not found"; return 1; }
  work="$CACHE_ROOT/build/etcd-$v"
  rm -rf "$work" && mkdir -p "$work" "$out"
  log "building etcd v$v from Go modules"
  (
    cd "$work"
    export GOFLAGS=-mod=mod CGO_ENABLED=0
    printf 'module dynamo-backup-operator.test/etcd-build\n\ngo 1.24\n\nrequire go.etcd.io/etcd/server/v3 v%s\n' "$v" > go.mod
    go get "go.etcd.io/etcd/server/v3@v$v" >&2
    go build -trimpath -ldflags "-s -w" -o "$out/etcd" go.etcd.io/etcd/server/v3 >&2
  )
}

# Source packages come from the same places as the machine's binary packages: its own `deb`
# entries, copied as `deb-src` (one-line and deb822 formats), unless it already has some.
add_source_entries() {
  local dir=/etc/apt/sources.list.d
  if grep -rqsE '^(deb-src[[:space:]]|Types:.*deb-src)' /etc/apt/sources.list "$dir"; then return; fi
  local lines
  lines=$({ grep -hsE '^deb[[:space:]]' /etc/apt/sources.list "$dir"/*.list || true; } | sed 's/^deb\([[:space:]]\)/deb-src\1/')
  [ -z "$lines" ] || printf '%s\n' "$lines" > "$dir/dynamo-backup-operator-src.list"
  local f
  for f in "$dir"/*.sources; do
    [ -e "$f" ] || continue
    case "$f" in *dynamo-backup-operator-src*) continue ;; esac
    sed 's/^Types:[[:space:]]*deb[[:space:]]*$/Types: deb-src/' "$f" > "$dir/dynamo-backup-operator-src-$(basename "$f")"
  done
}

# Fallback: Kubernetes 1.20.2 from Debian's source package and etcd 3.4 from Debian.
build_debian_fallback() {
  local out="$1" work="$CACHE_ROOT/build/debian-kubernetes"
  log "Go route failed; falling back to Debian's kubernetes source package (1.20.2, no CEL)"
  command -v apt-get >/dev/null || { log "apt-get not found"; return 1; }
  add_source_entries
  apt-get update -qq >&2
  # reflect2 1.0.1, which Kubernetes 1.20 vendors, crashes under Go 1.18 and later; Debian's
  # 1.0.2 replaces it before the build.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go rsync etcd-server golang-github-modern-go-reflect2-dev >&2
  rm -rf "$work" && mkdir -p "$work" "$out"
  (
    cd "$work"
    apt-get source -qq kubernetes >&2
    cd "$(find . -maxdepth 1 -type d -name 'kubernetes-*' | head -n1)"
    rm -rf vendor/github.com/modern-go/reflect2
    cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 vendor/github.com/modern-go/reflect2
    mkdir -p .go/src/k8s.io
    ln -sfn "$PWD" .go/src/k8s.io/kubernetes
    cd .go/src/k8s.io/kubernetes
    PATH="/usr/lib/go/bin:$PATH" GOPATH="$PWD/../../.." GO111MODULE=off \
      make WHAT="cmd/kube-apiserver cmd/kubectl" >&2
    cp _output/local/bin/linux/*/kube-apiserver _output/local/bin/linux/*/kubectl "$out/"
  )
  ln -sf "$(command -v etcd)" "$out/etcd"
}

provide_control_plane() {
  local assets="${KUBEBUILDER_ASSETS:-}"
  if [ -z "${KUBE_APISERVER_BIN:-}" ] && [ -n "$assets" ] && [ -x "$assets/kube-apiserver" ]; then
    KUBE_APISERVER_BIN="$assets/kube-apiserver"
  fi
  if [ -z "${ETCD_BIN:-}" ] && [ -n "$assets" ] && [ -x "$assets/etcd" ]; then ETCD_BIN="$assets/etcd"; fi
  if [ -z "${KUBECTL_BIN:-}" ] && [ -n "$assets" ] && [ -x "$assets/kubectl" ]; then KUBECTL_BIN="$assets/kubectl"; fi

  local k8s_dir="$CACHE_ROOT/k8s-$K8S_VERSION" etcd_dir="$CACHE_ROOT/etcd-$ETCD_VERSION"
  local fallback_dir="$CACHE_ROOT/k8s-debian-1.20.2"
  if [ -z "${KUBE_APISERVER_BIN:-}" ] || [ -z "${KUBECTL_BIN:-}" ]; then
    if [ ! -x "$k8s_dir/kube-apiserver" ] || [ ! -x "$k8s_dir/kubectl" ]; then
      if ! build_kubernetes "$k8s_dir.tmp"; then
        rm -rf "$k8s_dir.tmp"
        if [ ! -x "$fallback_dir/kube-apiserver" ]; then
          build_debian_fallback "$fallback_dir.tmp" || die "could not provide kube-apiserver"
          mv "$fallback_dir.tmp" "$fallback_dir"
        fi
        k8s_dir="$fallback_dir"
        etcd_dir="$fallback_dir"
      else
        mv "$k8s_dir.tmp" "$k8s_dir"
      fi
    fi
    KUBE_APISERVER_BIN="${KUBE_APISERVER_BIN:-$k8s_dir/kube-apiserver}"
    KUBECTL_BIN="${KUBECTL_BIN:-$k8s_dir/kubectl}"
  fi
  if [ -z "${ETCD_BIN:-}" ]; then
    if [ ! -x "$etcd_dir/etcd" ]; then
      if build_etcd "$etcd_dir.tmp"; then
        mv "$etcd_dir.tmp" "$etcd_dir"
      else
        rm -rf "$etcd_dir.tmp"
        die "could not build etcd v$ETCD_VERSION from Go modules"
      fi
    fi
    ETCD_BIN="$etcd_dir/etcd"
  fi
}

build_helm() {
  local out="$1" v="$HELM_VERSION" gomod client_go
  command -v go >/dev/null || { log "go not found: it is needed to build helm"; return 1; }
  log "building helm v$v from Go modules (a few minutes, once)"
  mkdir -p "$out"
  # The Kubernetes version `helm template` and `helm lint` assume without a cluster is the one of
  # the client-go it is built with, as in Helm's own release builds.
  gomod=$(go mod download -json "helm.sh/helm/v3@v$v" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
  [ -f "$gomod" ] || { log "no go.mod for helm.sh/helm/v3@v$v"; return 1; }
  client_go=$(awk '$1 == "k8s.io/client-go" {print $2; exit}' "$gomod")
  local minor
  minor=$(echo "${client_go#v0.}" | cut -d. -f1)
  local ld="-s -w -X helm.sh/helm/v3/internal/version.version=v$v"
  if [ -n "$minor" ]; then
    ld="$ld -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor"
    ld="$ld -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$minor"
  fi
  GOBIN="$out" CGO_ENABLED=0 go install -trimpath -ldflags "$ld" "helm.sh/helm/v3/cmd/helm@v$v" >&2
}

provide_helm() {
  if [ -n "${HELM_BIN:-}" ]; then return; fi
  local dir="$CACHE_ROOT/helm-$HELM_VERSION"
  if [ ! -x "$dir/helm" ]; then
    rm -rf "$dir.tmp"
    if ! build_helm "$dir.tmp"; then
      rm -rf "$dir.tmp"
      die "could not build helm v$HELM_VERSION from Go modules (Go 1.24 or newer is needed); or name one with HELM_BIN"
    fi
    mv "$dir.tmp" "$dir"
  fi
  HELM_BIN="$dir/helm"
}

# The python that runs moto's server is the one that can import moto: the venv's, next to
# moto_server, or else the interpreter moto_server's first line names.
moto_python() {
  local dir interpreter; dir=$(dirname "$MOTO_SERVER_BIN")
  if [ -x "$dir/python" ]; then echo "$dir/python"; return; fi
  interpreter=$(head -n1 "$MOTO_SERVER_BIN" | sed -n 's/^#![[:space:]]*//p')
  case "$interpreter" in */env\ *) interpreter=${interpreter#* } ;; esac
  command -v "${interpreter%% *}" || true
}

provide_moto() {
  if [ -n "${MOTO_SERVER_BIN:-}" ]; then MOTO_PYTHON="${MOTO_PYTHON:-$(moto_python)}"; return; fi
  local venv="$CACHE_ROOT/moto-$MOTO_VERSION"
  # A venv records its own path, so it is built where it lives; `.complete` marks a whole install.
  if [ ! -f "$venv/.complete" ]; then
    log "installing moto[server]==$MOTO_VERSION into a virtualenv"
    rm -rf "$venv"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q --disable-pip-version-check "moto[server]==$MOTO_VERSION" >&2
    touch "$venv/.complete"
  fi
  MOTO_SERVER_BIN="$venv/bin/moto_server"
  MOTO_PYTHON="${MOTO_PYTHON:-$venv/bin/python}"
}

provide_control_plane
provide_helm
provide_moto

for v in KUBE_APISERVER_BIN ETCD_BIN KUBECTL_BIN HELM_BIN MOTO_SERVER_BIN MOTO_PYTHON; do
  [ -x "${!v}" ] || die "$v=${!v} is not an executable"
  printf 'export %s=%q\n' "$v" "${!v}"
done
log "kube-apiserver: $("$KUBE_APISERVER_BIN" --version 2>&1 | head -n1); etcd: $("$ETCD_BIN" --version 2>&1 | head -n1); helm: $("$HELM_BIN" version --short 2>&1 | head -n1)"
