#!/usr/bin/env bash
# Runs every test: unit and property tests, then the end-to-end tests against a real
# kube-apiserver + etcd and moto. Installs what is missing first (see scripts/testenv.sh).
# Extra arguments go to `cargo test`, e.g. `scripts/test.sh -- refused` to filter by name.
set -euo pipefail
cd "$(dirname "$0")/.."

# Tools the scripts themselves call, from Debian's packages when a machine lacks them.
missing=()
command -v openssl >/dev/null || missing+=(openssl)
command -v flock >/dev/null || missing+=(util-linux)
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "[test] installing ${missing[*]}" >&2
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi
command -v cargo >/dev/null || { echo "[test] cargo is needed: install Rust (https://rustup.rs)" >&2; exit 1; }

eval "$(scripts/testenv.sh)"
exec cargo test --locked "$@"
