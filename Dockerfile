# Minimal image for now; the container issue completes it (dependency caching, HEALTHCHECK).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --bin ivs-provisioner --bin aws-sim

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 ivsp
COPY --from=build /src/target/release/ivs-provisioner /src/target/release/aws-sim /usr/local/bin/
USER ivsp
ENV BIND_ADDR=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["ivs-provisioner"]
CMD ["serve"]
