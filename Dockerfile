# syntax=docker/dockerfile:1
#
# The flexiWAN GitOps reconciler as a small, non-root container image.
#
#   docker build -t flexiwan-reconciler \
#     --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg REVISION=$(git rev-parse HEAD) \
#     --build-arg CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ) .
#   docker run -v $PWD/reconciler.yaml:/etc/reconciler/reconciler.yaml:ro \
#     -v /path/to/secrets:/run/secrets:ro -p 8080:8080 flexiwan-reconciler
#
# The default command is `serve --config /etc/reconciler/reconciler.yaml`
# (see examples/reconciler.yaml; in a container set `listen: 0.0.0.0:8080`,
# the default 127.0.0.1:8080 is unreachable from outside). Any other command
# works too: `docker run --rm IMAGE plan --dir /src ...`.
#
# BuildKit (the default builder since Docker 23) is assumed: the builder
# stage runs on the build host and cross-compiles for the target platform,
# so `docker buildx build --platform linux/amd64,linux/arm64 .` works.

ARG GO_VERSION=1.26

# --- build: a static binary -------------------------------------------------
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
ARG TARGETOS
ARG TARGETARCH
WORKDIR /src

# Modules first, in their own layer: it is rebuilt only when go.mod or
# go.sum change, not on every source edit.
COPY go.mod go.sum ./
RUN go mod download && go mod verify

COPY . .
# CGO off: a static binary that runs on distroless/static (no libc).
# -trimpath drops local paths, -s -w the symbol table and DWARF.
# -buildvcs=false: .git is not in the build context (.dockerignore).
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -buildvcs=false -ldflags "-s -w" -o /out/reconciler ./cmd/reconciler

# The state directory (git cache, journal), created here because the final
# image has no shell: COPY --chown gives it to the non-root user.
RUN install -d -m 0700 /out/state

# --- final: distroless, no shell, CA certificates, user nonroot (65532) -----
FROM gcr.io/distroless/static-debian12:nonroot

ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="flexiwan-reconciler" \
      org.opencontainers.image.description="GitOps reconciler for flexiWAN SD-WAN: keeps flexiManage equal to a git repository" \
      org.opencontainers.image.source="https://github.com/flexiwan-gitops/reconciler" \
      org.opencontainers.image.url="https://github.com/flexiwan-gitops/reconciler" \
      org.opencontainers.image.documentation="https://github.com/flexiwan-gitops/reconciler#running-the-daemon" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="gcr.io/distroless/static-debian12:nonroot"

COPY --from=build /out/reconciler /usr/local/bin/reconciler
COPY --from=build --chown=65532:65532 /out/state /var/lib/reconciler

# distroless sets this PATH already; stated so that ENTRYPOINT ["reconciler"]
# does not depend on it.
ENV PATH=/usr/local/bin:/usr/bin:/bin
USER 65532:65532
WORKDIR /var/lib/reconciler
VOLUME ["/var/lib/reconciler"]
EXPOSE 8080

# No shell and no curl here: the binary checks itself. It GETs
# http://127.0.0.1:8080/healthz (3 s timeout) and exits 0 or 1; give
# --url when the config listens on another port.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["reconciler", "healthcheck"]

ENTRYPOINT ["reconciler"]
CMD ["serve", "--config", "/etc/reconciler/reconciler.yaml"]
