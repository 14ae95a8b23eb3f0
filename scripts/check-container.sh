#!/usr/bin/env bash
# CI's proof of the container image, on machines without a Docker engine.
#
# (`make lint` lints the Dockerfile with dockerfilelint.)
#
# 1. If the Dockerfile's base images can be pulled (probed quickly, with bounded timeouts), build the
#    image from that very Dockerfile with buildah (vfs storage, chroot isolation: no daemon, no
#    privileges beyond root), check its size, and run the binary inside it.
# 2. Whether or not 1 ran: build the binary exactly as the Dockerfile does (scripts/build.sh), prove it
#    is static, stamped and small enough, and run it as the image runs it: as user 65532, from a
#    read-only working directory, with no shell around it. Probes, the healthcheck command, an API
#    call, metrics and a clean SIGTERM shutdown are checked against it.
#
# What this cannot prove without the base images: that the final image starts under a real container
# runtime (the README says so).
set -euo pipefail
cd "$(dirname "$0")/.."

MAX_IMAGE_BYTES=$((30 * 1000 * 1000))
# distroless/static is about 2 MB; what is left of the 30 MB is the binary's budget.
MAX_BINARY_BYTES=$((MAX_IMAGE_BYTES - 2 * 1000 * 1000))
NONROOT=65532 # distroless's nonroot user, the image's USER

say() { printf '  %s\n' "$*"; }
fail() { printf 'check-container: %s\n' "$*" >&2; exit 1; }

work=$(mktemp -d)
server_pid=""
cleanup() {
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then kill "$server_pid"; fi
  rm -rf "$work"
}
trap cleanup EXIT

version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
version=ci-${version}

echo "--- can the base images be pulled?"
go_version=$(sed -n 's/^ARG GO_VERSION=//p' Dockerfile)
mapfile -t bases < <(sed -n 's/^FROM \([^ ]*\).*/\1/p' Dockerfile | sed "s/\${GO_VERSION}/$go_version/")
reachable=true
for image in "${bases[@]}"; do
  host=${image%%/*}
  [[ $image == */* && $host == *.* ]] || host=registry-1.docker.io # a Docker Hub short name
  # Name resolution first: where it fails, nothing is sent at all. Any HTTP answer (401 included)
  # means a registry is there.
  if timeout 5 getent hosts "$host" >/dev/null &&
    curl -sS -o /dev/null --max-time 10 "https://$host/v2/" 2>/dev/null; then
    say "$image: $host answers"
  else
    say "$image: $host cannot be reached from here"
    reachable=false
  fi
done

# free_port prints a loopback port nobody listens on.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# wait_healthy URL PID: until URL/healthz answers, while PID lives, ten seconds at most.
wait_healthy() {
  for _ in $(seq 100); do
    curl -fsS -o /dev/null "$1/healthz" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# bytes_of "19.6 MB": buildah prints sizes in decimal units.
bytes_of() { awk '{u = $2; m = (u == "kB" ? 1e3 : u == "MB" ? 1e6 : u == "GB" ? 1e9 : 1); printf "%d\n", $1 * m}' <<<"$1"; }

# prove_image IMAGE: its size, and that its binary serves and passes its own healthcheck in it.
prove_image() {
  local size ctr got port pid
  size=$(bytes_of "$("${b[@]}" images --noheading --format '{{.Size}}' "$1")")
  say "image size: $size bytes"
  ((size <= MAX_IMAGE_BYTES)) || fail "the image is $size bytes, over $MAX_IMAGE_BYTES"
  ctr=$("${b[@]}" from "$1")
  got=$("${b[@]}" run --isolation chroot "$ctr" -- /verify-proxy version)
  [[ $got == "$version" ]] || fail "the image's binary says version '$got', want '$version'"
  port=$(free_port)
  local env=(--env PORT="$port" --env VERIFY_BACKEND=sandbox --env ADMIN_ADDR=off)
  "${b[@]}" run --isolation chroot "${env[@]}" "$ctr" -- /verify-proxy >"$work/image.log" 2>&1 &
  pid=$!
  wait_healthy "http://127.0.0.1:$port" "$pid" || { cat "$work/image.log"; fail "the image's server never became healthy"; }
  "${b[@]}" run --isolation chroot "${env[@]}" "$ctr" -- /verify-proxy healthcheck >/dev/null ||
    fail "the image's healthcheck command failed against its own server"
  kill "$pid"
  wait "$pid" || true
  "${b[@]}" rm "$ctr" >/dev/null
  say "the image serves, passes its HEALTHCHECK command, and says version $got"
}

if $reachable; then
  echo "--- buildah: the image from the Dockerfile"
  if ! command -v buildah >/dev/null; then
    timeout 300 apt-get install -y -qq --no-install-recommends buildah >/dev/null
  fi
  b=(buildah --storage-driver vfs)
  timeout 1200 "${b[@]}" bud --isolation chroot --build-arg VERSION="$version" -t verify-proxy:ci .
  prove_image verify-proxy:ci
else
  echo "--- no image build: the base images cannot be pulled here; proving the binary instead"
fi

echo "--- the binary, built as the Dockerfile builds it"
VERSION=$version scripts/build.sh "$work/verify-proxy"
bin=$work/verify-proxy
settings=$(go version -m "$bin")
grep -q 'CGO_ENABLED=0' <<<"$settings" || fail "not built with CGO_ENABLED=0"
grep -q -- '-trimpath=true' <<<"$settings" || fail "not built with -trimpath"
if readelf -l "$bin" | grep INTERP >/dev/null; then fail "the binary asks for a dynamic loader: it is not static"; fi
bytes=$(stat -c %s "$bin")
say "static, trimmed; $bytes bytes (budget $MAX_BINARY_BYTES, so the image stays under 30 MB)"
((bytes <= MAX_BINARY_BYTES)) || fail "the binary is $bytes bytes, over its budget of $MAX_BINARY_BYTES"
got=$("$bin" version)
[[ $got == "$version" ]] || fail "version says '$got', want '$version' (the -X stamp)"
say "version: $got"

echo "--- run it as the image does: user $NONROOT, read-only working directory"
app=$work/app
mkdir "$app"
cp "$bin" "$app/verify-proxy"
chmod 0555 "$app/verify-proxy" "$app" "$work"
nonroot=("$(command -v setpriv)" --reuid="$NONROOT" --regid="$NONROOT" --clear-groups --no-new-privs)
if "${nonroot[@]}" touch "$app/probe" 2>/dev/null; then fail "the working directory is writable by $NONROOT"; fi

port=$(free_port)
admin=$(free_port)
log=$work/server.log
# No environment but the server's own, as in the image; the healthcheck command gets the same, as
# HEALTHCHECK runs with the container's environment.
server_env=(PORT="$port" ADMIN_ADDR="127.0.0.1:$admin" VERIFY_BACKEND=sandbox)
(cd "$app" && exec env -i "${server_env[@]}" "${nonroot[@]}" ./verify-proxy >"$log" 2>&1) &
server_pid=$!
base=http://127.0.0.1:$port
wait_healthy "$base" "$server_pid" || { cat "$log"; fail "the server never became healthy"; }
uid=$(awk '/^Uid:/ {print $2}' "/proc/$server_pid/status" 2>/dev/null || true)
say "serving on $base as uid ${uid:-?}"
[[ -z $uid || $uid == "$NONROOT" ]] || fail "the server runs as uid $uid"
ready=$(curl -fsS "$base/readyz") || fail "/readyz is not 200"
[[ $ready == *'"ok"'* ]] || fail "/readyz answered $ready"
(cd "$app" && env -i "${server_env[@]}" "${nonroot[@]}" ./verify-proxy healthcheck >/dev/null) || fail "the healthcheck command failed"
say "/healthz, /readyz and the healthcheck command answer"
answer=$(curl -sS -H 'Content-Type: application/json' -H 'X-Request-ID: ci-check-1' \
  -d '{"number":"+1 415 555 0100"}' "$base/request")
grep -q '"status":"0"' <<<"$answer" || fail "POST /request answered $answer"
metrics=$(curl -fsS "http://127.0.0.1:$admin/metrics") || fail "no metrics on ADMIN_ADDR"
grep -q "^verify_proxy_build_info{go_version=\"[^\"]*\",version=\"$version\"} 1$" <<<"$metrics" ||
  fail "the metrics do not report build_info for $version"
grep -q '^verify_proxy_verifications_total{outcome="started"} 1$' <<<"$metrics" ||
  fail "the metrics did not count the verification started"
grep -q '"req_id":"ci-check-1"' "$log" || fail "no log line names the request id"
if grep -q '14155550100' "$log"; then fail "the log holds a full phone number"; fi
say "an API call, its access line and the metrics are as documented"

kill -TERM "$server_pid"
status=0
wait "$server_pid" || status=$?
server_pid=""
((status == 0)) || { cat "$log"; fail "SIGTERM ended the server with status $status, want 0"; }
grep -q '"msg":"stopped"' "$log" || fail "the server did not log its clean stop"
if (cd "$app" && env -i "${server_env[@]}" "${nonroot[@]}" ./verify-proxy healthcheck >/dev/null 2>&1); then
  fail "the healthcheck command passed with no server"
fi
say "SIGTERM: clean exit 0; the healthcheck command now fails as it should"
echo "--- container checks passed"
