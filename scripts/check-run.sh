#!/usr/bin/env bash
# make check-run: `make run` as a newcomer meets it, on a machine where 9090 is already taken.
#
# 1. Takes 127.0.0.1:9090 with a listener, and binds 127.0.0.1:9091 without listening (a look at
#    it says free; only the bind finds it taken), unless something else holds them already.
# 2. Starts `make run` on a free port as a terminal does: in a session of its own, SIGINT not ignored.
# 3. Waits for the URLs it prints, then from one address, for one number: 50 POST /request, each
#    but the last cancelled; a wrong code and then the right one (read from the log) for the last;
#    a cancel of it, which is refused as verified. Any 429, 403 or 5xx fails, as does any answer
#    other than the expected one.
# 4. Sends SIGINT to the process group, as Ctrl-C does, and checks that the server stopped cleanly
#    and that no process it started is left.
# Meanwhile a production .env sits in the repository (when there is none of the developer's): make
# run must not read it. Were it read, its unreachable Redis would refuse every start, its log level
# would hide the codes, and its per-number limit would answer 429.
#
# Seconds once the binary is built (the first build compiles it: a minute or two).
set -euo pipefail
cd "$(dirname "$0")/.."

NUMBER=+14155550123
STARTS=50

fail() { printf 'check-run: %s\n' "$*" >&2; exit 1; }
say() { printf '  %s\n' "$*"; }
show_log() { echo "--- the last lines of make run's output:" >&2; tail -n 30 "$log" >&2; }

for tool in python3 curl; do command -v "$tool" >/dev/null || fail "$tool is needed"; done
work=$(mktemp -d)
log=$work/run.log
blocker=""
group=""
cleanup() {
  # Only what this script started: its blocker, and the session make run runs in.
  if [[ -n $group ]]; then kill -TERM -- "-$group" 2>/dev/null || true; fi
  for p in "${descendants[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  if [[ -n $blocker ]]; then kill "$blocker" 2>/dev/null || true; fi
  if $planted_env; then rm -f .env; fi
  rm -rf "$work"
}
planted_env=false
descendants=()
trap cleanup EXIT

# ---- 1. the ports make run must not need --------------------------------------------------------
python3 - >"$work/blocker" 2>&1 <<'EOF' &
import socket, sys, time
held = []
for port, listen in ((9090, True), (9091, False)):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        print(f"{port} taken by another process", flush=True)
        continue
    if listen:
        s.listen()
    held.append(s)
    print(f"{port} {'listening' if listen else 'bound'}", flush=True)
print("ready", flush=True)
time.sleep(600)
EOF
blocker=$!
for _ in $(seq 50); do grep -q ready "$work/blocker" && break; sleep 0.1; done
grep -q ready "$work/blocker" || fail "the blocker did not start: $(cat "$work/blocker")"
if ! grep -q "9090 listening" "$work/blocker"; then
  # Someone else holds it: what matters is that make run cannot have it.
  (exec 3<>/dev/tcp/127.0.0.1/9090) 2>/dev/null || say "note: 9090 is held, but not listening on 127.0.0.1"
fi
say "9090 already taken: $(sed -n 1p "$work/blocker"); $(sed -n 2p "$work/blocker")"

# ---- a production .env, which make run must not read ----------------------------------------------
if [[ -e .env ]]; then
  say "note: this checkout has a .env of its own; it is left alone, and none is planted"
else
  planted_env=true
  printf '%s\n' VERIFY_BACKEND=vonage VONAGE_API_KEY=production-key VONAGE_API_SECRET=production-secret \
    VERIFY_BRAND=Production REDIS_URL=redis://127.0.0.1:1/0 RATE_LIMIT_NUMBER=3/10m LOG_LEVEL=warn >.env
  say "a production .env planted in the checkout (unreachable Redis, LOG_LEVEL=warn, 3 starts per number)"
fi

# ---- 2. make run ---------------------------------------------------------------------------------
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# A session of its own, as a terminal gives a job, and SIGINT at its default (a background job of a
# script has it ignored, which would make the Ctrl-C below a no-op).
python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.setsid()
os.execvp("make", ["make", "run", "PORT=" + sys.argv[1]])' "$port" >"$log" 2>&1 &
make_pid=$!
group=$make_pid
start=$SECONDS

# descendants_of PID: every process below PID, now.
descendants_of() {
  ps -eo pid=,ppid= | awk -v root="$1" '
    { parent[$1] = $2 }
    END { for (p in parent) { q = p; while (q in parent && q != root && q > 1) q = parent[q]; if (q == root && p != root) print p } }'
}

# The build may take a while on a cold cache; the banner comes once /healthz answers.
until grep -q "Stop with Ctrl-C" "$log"; do
  kill -0 "$make_pid" 2>/dev/null || { show_log; fail "make run exited before printing its URLs"; }
  ((SECONDS - start < 600)) || { show_log; fail "make run printed no URLs in 10 minutes"; }
  sleep 0.2
done
while IFS= read -r p; do descendants+=("$p"); done < <(descendants_of "$make_pid")
say "make run ready in $((SECONDS - start))s on port $port; processes: make ${make_pid}, ${descendants[*]}"

url_of() { sed -n "s|^  $1: *\(http://[^ ]*\).*|\1|p" "$log" | head -1; }
api=$(url_of API)
docs=$(url_of "Swagger UI")
metrics=$(url_of metrics)
[[ $api == "http://localhost:$port" ]] || { show_log; fail "the API URL printed is '$api', want http://localhost:$port"; }
[[ $docs == "$api/docs" ]] || fail "the Swagger UI URL printed is '$docs'"
[[ -n $metrics ]] || { show_log; fail "no metrics URL printed"; }
while read -r held how; do
  [[ $how == listening || $how == bound ]] || continue
  [[ $metrics != *":$held/"* ]] || fail "metrics on $metrics, a port this script holds"
done <"$work/blocker"
if grep -q "9091 bound" "$work/blocker"; then
  grep -q "turned out to be taken" "$log" || fail "9091 looked free but was bound: make run should have found so and moved on"
fi
curl -fsS -o /dev/null "$docs" || fail "Swagger UI at $docs does not answer"
# Read whole before grep: grep -q stops at the first match, and curl, still writing, fails the pipe.
scraped=$(curl -fsS "$metrics") || fail "metrics at $metrics do not answer"
grep -q '^verify_proxy_' <<<"$scraped" || fail "no verify-proxy metrics at $metrics"
say "URLs printed: $api, $docs, $metrics (answering)"

# The README shows this output as a newcomer sees it (port 8080, metrics on 9090): it must not drift.
printed=$(sed -n '/^verify-proxy is ready/,/^Stop with Ctrl-C/p' "$log" |
  sed "s|localhost:$port|localhost:8080|g; s|$metrics.*|http://127.0.0.1:9090/metrics|")
shown=$(awk '/once it answers prints:/ {f = 1; next} f && /^```text/ {on = 1; next} on && /^```/ {exit} on' README.md)
[[ $printed == "$shown" ]] || {
  diff <(printf '%s\n' "$shown") <(printf '%s\n' "$printed") >&2 || true
  fail "make run's output differs from the README's (above: < README, > printed)"
}
say "the output matches the README's"

# ---- 3. one developer, one number ------------------------------------------------------------------
# call PATH BODY WANT: POST it, and fail unless the status is WANT; the body is left in $work/body.
call() {
  local got
  got=$(curl -sS -o "$work/body" -w '%{http_code}' -H 'Content-Type: application/json' -d "$2" "$api$1") ||
    fail "POST $1: curl failed"
  case $got in
    429 | 403 | 5??) fail "POST $1 $2 answered $got: $(cat "$work/body")" ;;
  esac
  [[ $got == "$3" ]] || fail "POST $1 $2 answered $got, want $3: $(cat "$work/body")"
}
# field NAME: a string field of the last answer (flat JSON, as the contract's answers are).
field() {
  local re="\"$1\":\"([^\"]*)\""
  if [[ $(<"$work/body") =~ $re ]]; then printf '%s' "${BASH_REMATCH[1]}"; fi
}

for i in $(seq "$STARTS"); do
  call /request "{\"number\": \"$NUMBER\"}" 200
  id=$(field request_id)
  [[ -n $id ]] || fail "start $i answered no request_id: $(cat "$work/body")"
  if ((i < STARTS)); then call /cancel "{\"request_id\": \"$id\"}" 200; fi
done
code=""
for _ in $(seq 50); do
  code=$(grep "\"request_id\":\"$id\"" "$log" | sed -n 's/.*"code":"\([0-9]*\)".*/\1/p' | head -1)
  [[ -n $code ]] && break
  sleep 0.1
done
[[ -n $code ]] || fail "the code of $id is not in make run's log"
wrong=$(printf '%0*d' "${#code}" $(((10#$code + 1) % 10 ** ${#code})))
call /check "{\"request_id\": \"$id\", \"code\": \"$wrong\"}" 400
[[ $(field error) == code_mismatch ]] || fail "a wrong code answered $(cat "$work/body")"
call /check "{\"request_id\": \"$id\", \"code\": \"$code\"}" 200
[[ -n $(field verification_token) ]] || fail "the right code answered no verification_token: $(cat "$work/body")"
call /cancel "{\"request_id\": \"$id\"}" 400
[[ $(field error) == not_found ]] || fail "a cancel after the check answered $(cat "$work/body")"
say "$STARTS starts for $NUMBER from one address ($((STARTS - 1)) cancelled), a wrong code, the right one, a cancel: no 429, 403 or 5xx"
# The proof that the fraud guard watched and let them through: enforcing, it would have paused them.
if grep -q 'fraud guard (shadow): this start would have been refused' "$log"; then
  say "the fraud guard (shadow) logged that enforcing would have refused some of them"
fi

# ---- 4. Ctrl-C ---------------------------------------------------------------------------------
kill -INT -- "-$group"
stopped=$SECONDS
while kill -0 "$make_pid" 2>/dev/null; do
  ((SECONDS - stopped < 30)) || { show_log; fail "make run still running 30s after SIGINT"; }
  sleep 0.1
done
wait "$make_pid" || true # make ends by SIGINT itself, as under a terminal's Ctrl-C
group=""
for p in "${descendants[@]}"; do
  if kill -0 "$p" 2>/dev/null; then
    ps -o pid,pgid,stat,args -p "$p" >&2 || true
    fail "process $p, started by make run, outlived it"
  fi
done
grep -q '"msg":"stopped"' "$log" || { show_log; fail "the server did not log a clean stop"; }
if grep -q '^make run:\|\] Error' "$log"; then show_log; fail "make run failed (above)"; fi
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then fail "port $port still answers after make run stopped"; fi
say "SIGINT: the server stopped cleanly in $((SECONDS - stopped))s; no process left"
descendants=()
echo "check-run: ok"
