# syntax=docker/dockerfile:1
#
# irsa-doctor sidecar image for registries: built in the official Rust image,
# run FROM scratch on the root filesystem image/rootfs assembles in the builder:
# the binary on PATH, exactly the glibc and libgcc_s it links (taken from the
# builder, so never older than what it was linked against), Debian's CA
# bundle, /etc/passwd with nonroot (65532), dpkg records for image scanners.
#
#   docker build -t irsa-doctor:0.1.0 .
#   docker run --rm irsa-doctor:0.1.0 --version
#
# scripts/image proves this layout offline: it builds the same final stage
# (image/Containerfile) from the same image/rootfs with buildah, runs it under
# the sidecar manifest's securityContext (read-only root, uid 65532, no
# capabilities) and checks --version, `check`, `demo` and the size (< 15 MB).

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
COPY crates ./crates
# A workspace member: cargo reads its manifest even though only the binary is built.
COPY tools ./tools
COPY image/rootfs ./image/rootfs
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin irsa-doctor \
    && image/rootfs target/release/irsa-doctor /rootfs

FROM scratch
COPY --from=build /rootfs /
# On PATH, so `kubectl debug ... -- irsa-doctor check --pid 1` works as typed.
# nonroot is uid/gid 65532; numeric, so the kubelet can verify runAsNonRoot
# without a runAsUser in the pod spec.
USER 65532:65532
EXPOSE 9911
ENTRYPOINT ["/usr/local/bin/irsa-doctor"]
CMD ["serve"]
