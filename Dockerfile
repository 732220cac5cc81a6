# syntax=docker/dockerfile:1
#
# irsa-doctor sidecar image: built in the official Rust image, run on
# distroless cc (glibc, libgcc, CA roots, /etc/passwd with nonroot; no shell).
#
#   docker build -t irsa-doctor:0.1.0 .
#   docker run --rm irsa-doctor:0.1.0 --version
#
# The builder is Debian 12 (bookworm), the same release as the runtime: the
# binary links glibc dynamically (libc, libm, libgcc_s) and must not need a
# newer glibc than the runtime's 2.36.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin irsa-doctor \
    && cp target/release/irsa-doctor /irsa-doctor

FROM gcr.io/distroless/cc-debian12:nonroot
# On PATH, so `kubectl debug ... -- irsa-doctor check --pid 1` works as typed.
COPY --from=build /irsa-doctor /usr/local/bin/irsa-doctor
# nonroot is uid/gid 65532; numeric, so the kubelet can verify runAsNonRoot
# without a runAsUser in the pod spec.
USER 65532:65532
EXPOSE 9911
ENTRYPOINT ["/usr/local/bin/irsa-doctor"]
CMD ["serve"]
