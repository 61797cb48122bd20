# syntax=docker/dockerfile:1
# Build: docker build -t authgate .
# Run:   docker run -p 4000:4000 -e AUTHGATE__SERVER__LISTEN=0.0.0.0:4000 \
#          -v $PWD/prod.toml:/app/config/prod.toml authgate --config config/prod.toml

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# dependencies first, so that source changes do not rebuild them
COPY Cargo.toml Cargo.lock rust-toolchain.toml ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
 && cargo build --release --locked \
 && rm -rf src
COPY config ./config
COPY schema ./schema
COPY src ./src
RUN touch src/main.rs src/lib.rs && cargo build --release --locked

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home /app authgate
WORKDIR /app
COPY --from=build /src/target/release/authgate /usr/local/bin/authgate
COPY config ./config
COPY schema ./schema
USER authgate
ENV AUTHGATE__SERVER__LISTEN=0.0.0.0:4000 \
    AUTHGATE__TELEMETRY__FORMAT=json
EXPOSE 4000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD curl -fsS http://127.0.0.1:4000/healthz || exit 1
ENTRYPOINT ["authgate"]
CMD ["serve"]
