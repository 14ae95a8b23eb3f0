#!/usr/bin/env bash
# `make run`: verify-proxy with its embedded sandbox backend, for trying it on this machine.
#
# Always the sandbox, whatever VERIFY_BACKEND says: nothing here can spend money. It builds
# bin/verify-proxy-run (saying so when the first build must download modules and compile,
# with its progress), starts it with limits fit for one developer re-testing one number, prints the
# URLs once /healthz answers, and on Ctrl-C hands the server one SIGINT so that it shuts down cleanly.
#
#   PORT        the API's port (default 8080); one already in use stops it with a message
#   ADMIN_ADDR  metrics and /fraud/blocks; unset: 127.0.0.1:9090, or the next free port above it
#               when 9090 is taken; off: none
#
# The limits below are the production ones loosened, not removed. Each yields to the same variable set
# in the shell (`make run RATE_LIMIT_NUMBER=3/10m` runs with production's per-number limit).
#
# The repository's .env is not read: it may be a production one (compose reads it), and its
# REDIS_URL would let a developer's sandbox spend production's limits and feed its fraud guard, its
# VERIFICATION_TOKEN_KEY would sign sandbox tokens a production backend accepts. What the shell or
# the make command line sets is a choice; what .env says is not this run's.
#
# Written for bash 3.2 too (macOS's /bin/bash): no mapfile, no associative arrays, no wait -n.
set -euo pipefail
cd "$(dirname "$0")/.."

port=${PORT:-8080}
bin=bin/verify-proxy-run
host=127.0.0.1 # where it is probed; the server listens on every interface

say() { printf '%s\n' "$*"; }
fail() { printf 'make run: %s\n' "$*" >&2; exit 1; }

# answers HOST PORT: something accepts connections there (bash's own /dev/tcp: no curl or nc needed).
answers() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# healthy: the server's own healthcheck command answers: GET /healthz on the address it listens on
# (LISTEN_HOST may be ::1), as the server reads its settings.
healthy() { (cd "$rundir" && "$server" healthcheck) >/dev/null 2>&1; }

port_in_use() {
  local who=""
  if command -v lsof >/dev/null 2>&1; then
    who=$(lsof -nP -iTCP:"$port" -sTCP:LISTEN 2>/dev/null | awk 'NR == 2 {print " by " $1 " (pid " $2 ")"}' || true)
  fi
  fail "port $port is already in use${who}. Stop what listens there, or choose another port: make run PORT=8090"
}

case $port in '' | *[!0-9]*) fail "PORT must be a number, got '$port'" ;; esac
command -v go >/dev/null 2>&1 || fail "Go is not on PATH: install Go 1.26.8 or later (https://go.dev/dl/)"
# Before the build, which may take minutes on a fresh machine, rather than after it.
if answers "$host" "$port"; then port_in_use; fi

# ---- build -------------------------------------------------------------------------------------
# progress WHAT TOTAL: counts the package paths `go build -v` writes, on one line on a terminal and
# every 100 packages otherwise; anything else it writes (compile errors) passes through.
progress() {
  local n=0 line start=$SECONDS
  while IFS= read -r line; do
    case $line in
      *[!A-Za-z0-9._/~-]* | '')
        [ -t 1 ] && printf '\r\033[K'
        printf '%s\n' "$line"
        ;;
      *)
        n=$((n + 1))
        if [ -t 1 ]; then
          printf '\r\033[K  %s: %d of about %d' "$1" "$n" "$2"
        elif [ $((n % 100)) -eq 0 ]; then
          printf '  %s: %d of about %d\n' "$1" "$n" "$2"
        fi
        ;;
    esac
  done
  [ -t 1 ] && printf '\r\033[K'
  printf '  %s: %d packages in %ds\n' "$1" "$n" $((SECONDS - start))
}

# Which packages need compiling, asked with the module proxy off: it fails when a module the server
# needs is not in the module cache yet, which is the one case that downloads.
stale() {
  local out
  out=$(go list -deps -f '{{if .Stale}}x{{end}}' .) || return 1
  out=${out//[!x]/}
  echo ${#out}
}
if ! todo=$(GOPROXY=off stale 2>/dev/null); then
  say "First run: Go downloads the modules verify-proxy needs into $(go env GOMODCACHE) (once; later runs skip this)."
  start=$SECONDS
  # go says "go: downloading MODULE VERSION" as it fetches each.
  go list -deps . 2>&1 >/dev/null | sed 's/^go: downloading /  downloading /' ||
    fail "the modules could not be downloaded (above): check the network or GOPROXY, or that go.mod's Go version is installed"
  say "  modules downloaded in $((SECONDS - start))s"
  todo=$(stale)
fi
mkdir -p bin
if [ "$todo" -gt 20 ]; then
  say "Compiling verify-proxy and what it uses, once (a minute or two; later builds take seconds)."
  go build -v -o "$bin" . 2>&1 | progress compiled "$todo" || fail "the build failed (above)"
else
  go build -o "$bin" . || fail "the build failed (above)"
fi

# ---- settings ----------------------------------------------------------------------------------
export VERIFY_BACKEND=sandbox PORT="$port"
# A production delay would hold Ctrl-C for seconds, for load balancers there are none of.
printenv SHUTDOWN_DELAY >/dev/null || export SHUTDOWN_DELAY=0s
limits=""
# dev NAME VALUE: NAME=VALUE unless the shell set NAME.
dev() {
  printenv "$1" >/dev/null || export "$1=$2"
  limits="$limits $1=$(printenv "$1")"
}
# For one developer hammering one number: 50 starts in a minute pass; a runaway loop still stops.
dev RATE_LIMIT_NUMBER 100/10m         # production 3/10m: starts (and refused concurrent ones) per number
dev RATE_LIMIT_IP 1000/1m             # 30/1m: every call from one address
dev RATE_LIMIT_CHECK 100/10m          # 5/10m: checks of one request_id
dev RATE_LIMIT_WRONG_CODES 100/1h     # 10/24h: wrong codes per number, over all its verifications
dev RATE_LIMIT_PREFIX 1000/1h         # 30/1h: unverified starts per block of 10,000 numbers
dev RATE_LIMIT_COUNTRY off            # off already; a production setting in the shell must not lock you out
dev RATE_LIMIT_GLOBAL off             # off already; likewise
# enforce: one number started again and again and never verified is what SMS pumping looks like;
# shadow logs what enforcing would pause, and refuses nothing.
dev FRAUD_GUARD shadow
# withhold: a second start while one runs answers concurrent_verification without its request_id;
# same_address tells it to the address that started it, so that you can check or cancel that one.
dev CONCURRENT_REQUEST_ID same_address

# ADMIN_ADDR: the shell's, else 9090 or the first port above it that nothing answers on. Something
# may bind it between this look and the server's (or hold it without listening): the start is then
# tried on the next port.
admin_fixed=false
if printenv ADMIN_ADDR >/dev/null; then admin_fixed=true; fi
admin_port=9089
next_admin_port() {
  while [ $((admin_port += 1)) -le 9109 ]; do
    answers "$host" "$admin_port" || { export ADMIN_ADDR="$host:$admin_port"; return 0; }
  done
  export ADMIN_ADDR=off
}
$admin_fixed || next_admin_port

# ---- serve -------------------------------------------------------------------------------------
errors=$(mktemp "${TMPDIR:-/tmp}/verify-proxy-run.XXXXXX")
# The server reads ./.env from its working directory: this one has none (see the top).
rundir=$(mktemp -d "${TMPDIR:-/tmp}/verify-proxy-run.XXXXXX")
server=$PWD/$bin
pid=""
stopping=false
# The server runs in a process group of its own (set -m), so Ctrl-C reaches it only through here:
# once per Ctrl-C. A second one ends its drain at once, as it does for the binary run by hand.
# shellcheck disable=SC2317 # forward and cleanup are called by the traps below
forward() {
  stopping=true
  if [ -n "$pid" ]; then kill -"$1" "$pid" 2>/dev/null || true; fi
}
# shellcheck disable=SC2317
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -f "$errors"
  rm -rf "$rundir"
}
trap cleanup EXIT
trap 'forward INT' INT
trap 'forward TERM' TERM
trap 'forward HUP' HUP

# reap: waits for the server to exit (a trapped signal interrupts wait) and sets status to its exit status.
reap() {
  status=0
  while :; do
    wait "$pid" && status=0 || status=$?
    kill -0 "$pid" 2>/dev/null || break
  done
  # When the signal interrupted wait just as the server exited, wait still holds its true status.
  if wait "$pid" 2>/dev/null; then status=0; else
    s=$?
    [ "$s" -eq 127 ] || status=$s
  fi
  pid=""
}

while :; do
  : >"$errors"
  set -m
  (cd "$rundir" && exec "$server") 2>"$errors" &
  pid=$!
  set +m
  waited=0
  until healthy; do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
    waited=$((waited + 1))
    if [ "$waited" -eq 100 ]; then say "(the server has not answered /healthz in 10s; still waiting: its log is above)"; fi
  done
  if kill -0 "$pid" 2>/dev/null; then break; fi
  reap
  if ! $stopping && ! $admin_fixed && grep -q "ADMIN_ADDR.*address already in use" "$errors"; then
    say "($ADMIN_ADDR turned out to be taken as the server bound it: starting again on the next port)"
    next_admin_port
    continue
  fi
  cat "$errors" >&2
  if $stopping; then exit "$status"; fi
  if grep -q "listen on PORT.*address already in use" "$errors"; then port_in_use; fi
  fail "the server stopped before it answered /healthz (exit status $status; see above)"
done

metrics="off (ADMIN_ADDR=off)"
$admin_fixed || metrics="off: 9090 to 9109 are all taken"
if [ "$ADMIN_ADDR" != off ]; then
  metrics="http://${ADMIN_ADDR/#:/localhost:}/metrics"
  $admin_fixed || [ "$ADMIN_ADDR" = "$host:9090" ] || metrics="$metrics (9090 is taken)"
fi
cat <<EOF

verify-proxy is ready, with the sandbox backend: no Vonage account, no SMS; each code is in this log.
  API:         http://localhost:$port
  Swagger UI:  http://localhost:$port/docs
  metrics:     $metrics
  limits, loosened for one developer (production's are stricter; \`make run NAME=VALUE\` sets one):
$(printf '%s\n' "$limits" | fold -s -w 92 | sed 's/^ */    /; s/ *$//')
Stop with Ctrl-C.

EOF

reap
cat "$errors" >&2
exit "$status"
