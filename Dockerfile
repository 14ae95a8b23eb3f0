# verify-proxy's image: a static Go binary on distroless/static (CA certificates, /etc/passwd with the
# nonroot user, tzdata; no shell, no package manager). About 27 MB: the binary is ~27 MB (docs/operations.md).
#
#   docker build --build-arg VERSION="$(git describe --tags --always --dirty)" -t verify-proxy .
#   (or: make image)
#
# The build flags live in scripts/build.sh, which `make build` and CI run too.

ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION} AS build
WORKDIR /src
# Modules first: this layer stays cached while only the source changes.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN VERSION=$VERSION sh scripts/build.sh /out/verify-proxy

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/verify-proxy /verify-proxy
# 65532 is distroless's nonroot: never root, even if a runtime ignores the image's user name.
USER 65532:65532
ENV PORT=8080
EXPOSE 8080
# /metrics is served on ADMIN_ADDR, 127.0.0.1:9090 by default (not reachable from outside the
# container); set ADMIN_ADDR=:9090 and publish 9090 to scrape it.
HEALTHCHECK --interval=10s --timeout=5s --retries=3 CMD ["/verify-proxy", "healthcheck"]
ENTRYPOINT ["/verify-proxy"]
