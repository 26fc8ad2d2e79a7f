#!/usr/bin/env bash
# Packages the kubectl plugin for Krew: a release build of kubectl-dynamobackup for this
# machine's platform, dist/kubectl-dynamobackup_<os>_<arch>.tar.gz, and dist/dynamobackup.yaml,
# the Krew manifest naming that archive with its sha256. RELEASE_URL is where the archive will
# be published (the manifest's uri); until then, install from the files themselves:
#
#     kubectl krew install --manifest=dist/dynamobackup.yaml --archive=dist/kubectl-dynamobackup_linux_amd64.tar.gz
#
# Without Krew, copying the binary onto PATH is enough: kubectl finds plugins by name.
set -euo pipefail
cd "$(dirname "$0")/.."

version="v$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)"
os=$(uname -s | tr '[:upper:]' '[:lower:]')
case "$(uname -m)" in
  x86_64 | amd64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) arch=$(uname -m) ;;
esac
release_url="${RELEASE_URL:-https://releases.invalid/dynamo-backup-operator/$version}"

cargo build --release --locked --bin kubectl-dynamobackup
mkdir -p dist
archive="kubectl-dynamobackup_${os}_${arch}.tar.gz"
tar -C target/release -czf "dist/$archive" kubectl-dynamobackup
sha=$(sha256sum "dist/$archive" | cut -d' ' -f1)

cat >dist/dynamobackup.yaml <<MANIFEST
apiVersion: krew.googlecontainertools.github.com/v1alpha2
kind: Plugin
metadata:
  name: dynamobackup
spec:
  version: $version
  shortDescription: Back up and restore DynamoDB tables with dynamo-backup-operator
  description: |
    The command line of dynamo-backup-operator: per-table protection status (PITR window, last
    backup and its age, next slot), snapshots now, restores into a new table from a moment, the
    latest moment or a backup, with the moment checked against the PITR window first. It talks
    to the Kubernetes API only; the operator does the AWS side.
  platforms:
    - selector:
        matchLabels:
          os: $os
          arch: $arch
      uri: $release_url/$archive
      sha256: $sha
      bin: kubectl-dynamobackup
      files:
        - from: kubectl-dynamobackup
          to: .
MANIFEST
echo "dist/$archive (sha256 $sha) and dist/dynamobackup.yaml" >&2
