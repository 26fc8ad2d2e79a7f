#!/usr/bin/env bash
# Runs every test: formatting (cargo fmt --check) and lints (clippy, warnings denied) first, then
# the self-test of the AWS Backup emulator (tests/emulators/), then unit and property tests, then
# the end-to-end tests against a real kube-apiserver + etcd and moto. Installs what is missing
# first (see scripts/testenv.sh).
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
for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    command -v rustup >/dev/null || { echo "[test] cargo $component is needed: install the Rust component $component" >&2; exit 1; }
    echo "[test] installing the Rust component $component" >&2
    rustup component add "$component" >&2
  fi
done

# A one-off build (CI) gains nothing from incremental state, and it costs disk.
if [ "${CI:-}" = true ]; then export CARGO_INCREMENTAL=0; fi

echo "[test] cargo fmt --check" >&2
cargo fmt --all -- --check
echo "[test] cargo clippy, warnings denied" >&2
cargo clippy --locked --all-targets -- -D warnings

eval "$(scripts/testenv.sh)"
echo "[test] the AWS Backup emulator's self-test" >&2
"$MOTO_PYTHON" tests/emulators/test_aws_backup.py
exec cargo test --locked "$@"
