# syntax=docker/dockerfile:1
#
# ivs-provisioner and the aws-sim simulator in one slim image.
#
#   docker build -t ivs-provisioner .
#   docker run --rm -p 8080:8080 -e DATABASE_URL=postgres://... ivs-provisioner            # serve
#   docker run --rm -p 4566:4566 --entrypoint aws-sim ivs-provisioner --host 0.0.0.0 --port 4566
#
# Dependency caching: cargo-chef. `cargo chef prepare` reduces the workspace to its manifests and
# lock file (recipe.json); `cargo chef cook` builds every dependency from that recipe in its own
# layer, which stays cached until Cargo.toml or Cargo.lock change. Chosen over the
# copy-the-manifests-and-build-a-dummy-main trick because this is a two-member workspace
# (root package + crates/aws-sim, a path dependency of the root, with a lib, a bin, examples and
# tests): the dummy trick would need hand-written stubs for every target of both crates and
# breaks silently when a target is added; cargo-chef derives them from the manifests.
#
# Not exercised on the project's build machines (no container engine there): see docs/operations.md.

ARG RUST_VERSION=1.95
ARG CARGO_CHEF_VERSION=0.1.78

FROM rust:${RUST_VERSION}-bookworm AS chef
ARG CARGO_CHEF_VERSION
RUN cargo install cargo-chef --locked --version ${CARGO_CHEF_VERSION}
WORKDIR /src

# Only the manifests matter for the recipe; a source change does not change recipe.json.
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS build
# The queries are checked at run time (sqlx::query, not query!), so no database is needed to build;
# SQLX_OFFLINE makes sure a future query! macro fails loudly here instead of trying to connect.
ENV SQLX_OFFLINE=true CARGO_TERM_COLOR=never
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --workspace --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked --workspace --bins \
    && install -D -m 0755 target/release/ivs-provisioner target/release/aws-sim -t /out/

FROM debian:bookworm-slim AS runtime
# ca-certificates: TLS to AWS and to a TLS Postgres. curl: the HEALTHCHECK below.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 ivsp \
    && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
       --shell /usr/sbin/nologin ivsp
COPY --from=build /out/ivs-provisioner /out/aws-sim /usr/local/bin/
USER 10001:10001
ENV BIND_ADDR=0.0.0.0:8080 \
    LOG_FORMAT=json
EXPOSE 8080
# /readyz is 200 when the database answers, 503 otherwise. Only meaningful for `serve` and `dev`
# (a `worker` or an `aws-sim` container serves no /readyz: disable or override the check there).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD curl -fsS -o /dev/null http://127.0.0.1:8080/readyz || exit 1
ENTRYPOINT ["ivs-provisioner"]
CMD ["serve"]
