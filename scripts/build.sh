#!/bin/sh
# The one place verify-proxy's release build flags live: `make build`, the Dockerfile and CI all run
# this script, so the binary CI proves is built exactly as the image's is.
#
#   scripts/build.sh [OUTPUT]        (default bin/verify-proxy)
#
# VERSION stamps the binary (what `verify-proxy version` and the build_info metric report); without it,
# `git describe` of the working tree, or "dev" outside a git checkout (an image build's context).
# GOOS and GOARCH pass through, for cross-building an image for another platform.
set -eu

out=${1:-bin/verify-proxy}
version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
case $version in
  '' | *[!A-Za-z0-9._+-]*)
    echo "build.sh: VERSION '$version' must be letters, digits and . _ + - only" >&2
    exit 2
    ;;
esac

# CGO_ENABLED=0: a static binary that runs on distroless/static or scratch (no libc).
# -trimpath: no build machine paths in the binary. -s -w: no symbol table or DWARF (stack traces
# still work; the image is smaller). -X: the version.
CGO_ENABLED=0 exec go build -trimpath -ldflags "-s -w -X main.version=$version" -o "$out" .
