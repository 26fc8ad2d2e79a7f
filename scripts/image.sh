#!/usr/bin/env bash
# Builds the operator's image. With a Docker daemon: `docker build` and a run of the image.
# Without one (CI machines often have none): the Dockerfile's build stage, step by step — its
# COPY lines into a fresh folder and its RUN lines there — so a Dockerfile that no longer
# builds (a file the build needs but the COPY lines miss, a command that fails) fails here too.
# Then the binary it made is run as the image would run it.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[image] %s\n' "$*" >&2; }

tag="${IMAGE:-dynamo-backup-operator:dev}"
if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  log "docker build -t $tag ."
  docker build -t "$tag" .
  docker run --rm "$tag" --version
  exit 0
fi

log "no Docker daemon: running the Dockerfile's build stage without it"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The release build reuses this checkout's target folder, as a cache mount would.
mkdir -p target
repo=$PWD stage=0 dir="$work" run=""
flush_run() {
  if [ -n "$run" ]; then
    log "RUN $run"
    (cd "$dir" && ln -sfn "$repo/target" target && bash -euo pipefail -c "$run")
    run=""
  fi
}
continuing=0
while IFS= read -r line || [ -n "$line" ]; do
  if [ "$continuing" = 1 ]; then
    run="$run ${line%\\}"
    case "$line" in *\\) ;; *) continuing=0; flush_run ;; esac
    continue
  fi
  case "$line" in
    FROM*) stage=$((stage + 1)); [ "$stage" -gt 1 ] && break ;;
    WORKDIR*) dir="$work${line#WORKDIR }"; mkdir -p "$dir" ;;
    COPY\ --from*) ;;
    COPY*)
      read -r -a parts <<< "${line#COPY }"
      dest="${parts[${#parts[@]}-1]}"
      case "$dest" in /*) target_dir="$work$dest" ;; *) target_dir="$dir/$dest" ;; esac
      for src in "${parts[@]:0:${#parts[@]}-1}"; do
        log "COPY $src $dest"
        if [ -d "$src" ]; then mkdir -p "$target_dir" && cp -r "$src/." "$target_dir/"; else mkdir -p "$target_dir" && cp "$src" "$target_dir"; fi
      done
      ;;
    RUN*)
      run="${line#RUN }"
      case "$line" in *\\) run="${run%\\}"; continuing=1 ;; *) flush_run ;; esac
      ;;
  esac
done < Dockerfile

binary="$dir/target/release/dynamo-backup-operator"
[ -x "$binary" ] || { log "the build stage made no $binary"; exit 1; }
grep -q '^USER 65532:65532$' Dockerfile || { log "the runtime stage must run as a non-root user"; exit 1; }
"$binary" --version
"$binary" crd | grep -c '^kind: CustomResourceDefinition$' | grep -qx 3 || { log "the binary does not print the three CRDs"; exit 1; }
log "built: $(du -h "$binary" | cut -f1) stripped binary; it runs"
