# syntax=docker/dockerfile:1
#
# The shop's container image: one static binary, `shop`, run as a non-root user.
#
#     docker build -t the-shop:local .
#     docker run --rm the-shop:local --help
#
# compose.yaml builds this image once and runs it as the migrate job and as
# each replica.
#
# Why the final stage is Alpine, not distroless or scratch: compose decides
# when the replicas are ready (and nginx starts) by running a healthcheck
# *inside* the container against /readyz. distroless and scratch have no shell
# and no HTTP client to do that, and the shop has no self-check subcommand.
# Alpine adds a few MB and brings busybox `wget` and CA certificates; the
# binary is still static (CGO_ENABLED=0) and runs as an unprivileged user with
# nothing writable it needs.

# The build stage runs on the builder's own platform and cross-compiles for
# the target platform, so a multi-platform build (`docker buildx build
# --platform linux/amd64,linux/arm64`) never emulates the Go compiler.
FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS build
WORKDIR /src

# Modules first, in their own layer: editing code does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

COPY . .
ARG TARGETOS TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags="-s -w" -o /out/shop ./cmd/shop

FROM alpine:3.22 AS runtime

ARG VERSION=dev
LABEL org.opencontainers.image.title="the shop" \
      org.opencontainers.image.description="Shopping-cart reference app in Go: identical replicas behind nginx, sessions and carts in Redis or PostgreSQL" \
      org.opencontainers.image.source="https://github.com/the-shop/shop" \
      org.opencontainers.image.version="$VERSION"

COPY --from=build /out/shop /shop

# 65532 is distroless's "nonroot": no passwd entry needed, no home, no shell
# login; the binary reads only its embedded files and the environment.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/shop"]
CMD ["serve"]
