# syntax=docker/dockerfile:1
# Build: a release binary of the operator.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY tests tests
COPY benches benches
RUN cargo build --release --locked --bin dynamo-backup-operator \
 && strip target/release/dynamo-backup-operator

# Run: glibc and CA certificates only, as a non-root user.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/dynamo-backup-operator /usr/local/bin/dynamo-backup-operator
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/dynamo-backup-operator"]
CMD ["run"]
