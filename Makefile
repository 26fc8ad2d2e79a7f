# The two commands of the README, and the chores around them.
.PHONY: demo test bench chaos crds build release image plugin

demo:   ## a local control plane + moto + the operator + the examples
	scripts/demo.sh

test:   ## fmt --check, clippy -D warnings, then every test: unit, property and end-to-end
	scripts/test.sh

bench:  ## figures: DynamoBackup created -> Ready (median of 20), calls per backup; memory; scale at DynamoDB's limits (a fleet with retention too); many accounts and tenants; many operators starting under one identity; a drill's cost; copy-back of 10,000 of 50,000 items against its floor
	eval "$$(scripts/testenv.sh)" && export OPERATOR_RUST_LOG=info && cargo bench --locked --bench backup_ready \
	  && cargo bench --locked --bench memory && cargo bench --locked --bench scale && cargo bench --locked --bench tenants \
	  && cargo bench --locked --bench startup && cargo bench --locked --bench drill && cargo bench --locked --bench copyback

chaos:  ## 50 random SIGKILLs and 5 minutes of 50% throttling over a mixed workload, then every invariant checked (about 15 minutes; not in CI)
	eval "$$(scripts/testenv.sh)" && export OPERATOR_RUST_LOG=info && cargo bench --locked --bench chaos

crds:   ## regenerate crds/ from the Rust types, and the chart's copies of them
	cargo run --quiet -- crd --output-dir crds
	cp crds/*.yaml charts/dynamo-backup-operator/crds/

build:
	cargo build --locked

release:  ## what the Dockerfile builds
	cargo build --release --locked

image:  ## docker build (without a Docker daemon: the Dockerfile's build stage, run here)
	scripts/image.sh

plugin:  ## the kubectl plugin, packaged for Krew: dist/kubectl-dynamobackup_<os>_<arch>.tar.gz and dist/dynamobackup.yaml
	scripts/plugin-release.sh
