# Multi-stage build: compile in the Rust image, run from a minimal Debian image as a non-root user.
# Secrets are never passed as build arguments or baked into layers: give the server its config,
# TLS key and seal key file at run time (volumes or orchestrator secrets, *_FILE variables).
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock rustfmt.toml clippy.toml ./
COPY src ./src
COPY migrations ./migrations
COPY benches ./benches
COPY config ./config
RUN cargo build --release --locked --bin coffer && strip target/release/coffer

FROM debian:bookworm-slim
RUN groupadd --system --gid 10001 coffer \
 && useradd --system --uid 10001 --gid coffer --home-dir /var/lib/coffer --shell /usr/sbin/nologin coffer \
 && mkdir -p /var/lib/coffer /etc/coffer \
 && chown coffer:coffer /var/lib/coffer \
 && chmod 0700 /var/lib/coffer
COPY --from=build /src/target/release/coffer /usr/local/bin/coffer
COPY config/coffer.example.toml /etc/coffer/coffer.example.toml
USER 10001:10001
VOLUME ["/var/lib/coffer"]
EXPOSE 8200
# Exec form: no shell, so nothing is expanded or logged by one.
ENTRYPOINT ["/usr/local/bin/coffer"]
CMD ["server", "--config", "/etc/coffer/coffer.toml"]
