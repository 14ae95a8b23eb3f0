#!/usr/bin/env bash
# `make e2e`: proves openapi.yaml against the real server. It builds the server, starts it with the
# sandbox backend on a free loopback port with its log in a file (the tests read the sandbox's codes
# from there, as a developer does), and runs, against it:
#   1. the Kotlin client (OpenAPI Generator, Maven) through the whole flow, its verification_token
#      verified with Nimbus JOSE+JWT as a backend would, and the Swift client's check;
#   2. the TypeScript client (@hey-api/openapi-ts) through the same flow, its token verified with jose,
#      and Swagger UI in chromium;
#   3. Schemathesis, which knows only the spec.
# It installs what it needs: Debian's chromium (apt), node modules (npm ci), a Python venv (pip),
# Maven plugins and libraries (Maven Central). The server is stopped by pid when the script exits.
# Screenshots are kept in $E2E_ARTIFACTS (a fresh temp dir unless set).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

step() { printf '\n--- e2e: %s (%ss)\n' "$*" "$SECONDS"; }

work=$(mktemp -d -t verify-proxy-e2e.XXXXXX)
export E2E_ARTIFACTS=${E2E_ARTIFACTS:-$(mktemp -d -t verify-proxy-e2e-artifacts.XXXXXX)}
server_pid=
stop_server() {
	if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
		kill "$server_pid"
		wait "$server_pid" 2>/dev/null || true
	fi
	server_pid=
}
on_exit() {
	local status=$?
	stop_server
	if ((status != 0)) && [[ -f $work/server.log ]]; then
		echo "--- e2e failed; the server's log ends with:" >&2
		tail -n 40 "$work/server.log" >&2
	fi
	rm -rf "$work"
}
trap on_exit EXIT

step "tools"
if ! command -v chromium >/dev/null; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
export CHROMIUM=${CHROMIUM:-$(command -v chromium)}
"$CHROMIUM" --version 2>/dev/null # Debian's launcher script complains on stderr about nothing that matters
python3 -m venv e2e/.venv
e2e/.venv/bin/pip install --quiet --disable-pip-version-check -r e2e/requirements.txt
(cd e2e/ts && npm ci --no-audit --no-fund --loglevel=error)

step "server"
go build -o "$work/verify-proxy" .
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export VERIFY_PROXY_URL="http://127.0.0.1:$port"
export VERIFY_PROXY_LOG="$work/server.log"
# Run from $work, so that no .env of the developer's chooses another backend. The rate limits and
# the fraud guard are off: the fuzzer sends hundreds of requests from one address, many wrong codes
# and cancels to the numbers of its dictionary, and every flow here uses one range of numbers, which
# the guard would rightly pause (its refusals are proven against the contract in internal/server).
# No admin listener: a fixed port could be taken on a shared machine, and nothing here reads it.
(cd "$work" && exec env VERIFY_BACKEND=sandbox PORT="$port" ADMIN_ADDR=off \
	RATE_LIMIT_IP=off RATE_LIMIT_NUMBER=off RATE_LIMIT_CHECK=off RATE_LIMIT_WRONG_CODES=off \
	RATE_LIMIT_PREFIX=off FRAUD_GUARD=off \
	./verify-proxy >"$VERIFY_PROXY_LOG" 2>&1) &
server_pid=$!
deadline=$((SECONDS + 30))
until curl -fsS -o /dev/null "$VERIFY_PROXY_URL/healthz" 2>/dev/null; do
	kill -0 "$server_pid" 2>/dev/null || { echo "the server stopped while starting" >&2; exit 1; }
	((SECONDS < deadline)) || { echo "the server never became healthy" >&2; exit 1; }
	sleep 0.1
done
echo "serving $VERIFY_PROXY_URL (sandbox), log in $VERIFY_PROXY_LOG"

step "Kotlin client: generate (Kotlin and Swift), compile, drive the flow"
# -q leaves only errors, plus the generator's own warnings (its logger is set to warn): any line
# left in brackets is a generator warning or an error, and fails the build.
mvn -B -q --no-transfer-progress -f e2e/kotlin/pom.xml \
	-Dorg.slf4j.simpleLogger.log.org.openapitools=warn clean verify 2>&1 | tee "$work/maven.log"
if sed 's/\x1b\[[0-9;]*m//g' "$work/maven.log" | grep -E '^\[(WARNING|ERROR)\]' >/dev/null; then
	echo "OpenAPI Generator warned or failed (above): the contract must generate cleanly" >&2
	exit 1
fi
cat e2e/kotlin/target/surefire-reports/*.txt | grep -E '^Tests run'

step "Swift client: names and syntax"
e2e/.venv/bin/python e2e/swift/check_client.py openapi.yaml e2e/kotlin/target/generated-sources/swift

step "TypeScript client: generate, type-check, drive the flow; Swagger UI in chromium"
(
	cd e2e/ts
	rm -rf generated dist
	npm run --silent generate -- --silent
	npm run --silent build # tsc: type-checks the client and the tests, then compiles them for node
	npm test
)

step "Schemathesis"
(
	cd e2e/schemathesis
	../.venv/bin/schemathesis --config-file schemathesis.toml run ../../openapi.yaml \
		--url "$VERIFY_PROXY_URL" --no-color
)

stop_server
step "done; screenshots in $E2E_ARTIFACTS"
