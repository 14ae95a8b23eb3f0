#!/usr/bin/env bash
# `make e2e`: proves openapi.yaml against the real server. It builds the server and starts it three
# times with the sandbox backend, each on a free loopback port with its log in a file (the tests read
# the sandbox's codes from there, as a developer does):
#   - the Verify v1 sandbox that every flow below drives (VERIFY_PROXY_URL, VERIFY_PROXY_LOG);
#   - a Verify v2 sandbox that verifies by silent authentication first, whose check_url answers the
#     code as JSON (VERIFY_PROXY_SILENT_URL, VERIFY_PROXY_SILENT_LOG);
#   - the same with a redirect URL, whose check_url redirects to VERIFY_PROXY_SILENT_APP_PAGE with the
#     code in the fragment (VERIFY_PROXY_SILENT_REDIRECTING_URL, VERIFY_PROXY_SILENT_REDIRECTING_LOG).
# Against them it runs:
#   1. the Kotlin client (OpenAPI Generator, Maven) through the whole flow, the silent one included, its
#      verification_token verified with Nimbus JOSE+JWT as a backend would, and the Swift clients' check
#      (swift6 and swift5); no generator may rename a name of the contract;
#   2. the TypeScript client (@hey-api/openapi-ts) through the same flows, its token verified with jose,
#      and Swagger UI in chromium;
#   3. Schemathesis, which knows only the spec, against the v1 sandbox.
# It installs what it needs: Debian's chromium (apt), node modules (npm ci), a Python venv (pip),
# Maven plugins and libraries (Maven Central). The servers are stopped by pid when the script exits.
# Screenshots are kept in $E2E_ARTIFACTS (a fresh temp dir unless set).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

step() { printf '\n--- e2e: %s (%ss)\n' "$*" "$SECONDS"; }

work=$(mktemp -d -t verify-proxy-e2e.XXXXXX)
export E2E_ARTIFACTS=${E2E_ARTIFACTS:-$(mktemp -d -t verify-proxy-e2e-artifacts.XXXXXX)}
server_pids=()
server_logs=()
stop_servers() {
	local pid
	for pid in "${server_pids[@]}"; do
		if kill -0 "$pid" 2>/dev/null; then
			kill "$pid"
			wait "$pid" 2>/dev/null || true
		fi
	done
	server_pids=()
}
on_exit() {
	local status=$? log
	stop_servers
	if ((status != 0)); then
		for log in "${server_logs[@]}"; do
			[[ -f $log ]] || continue
			echo "--- e2e failed; the log of $(basename "$log" .log) ends with:" >&2
			tail -n 40 "$log" >&2
		done
	fi
	rm -rf "$work"
}
trap on_exit EXIT

# start_server NAME [VARIABLE=value...] starts the server built in $work on a free loopback port with
# the given settings over the ones every server here shares, its log in $work/NAME.log, waits until it
# is healthy, and leaves its URL in $server_url and its log's path in $server_log.
# It runs from $work, so that no .env of the developer's chooses another backend, and the variables that
# tell these servers apart are unset first, so that none leaks in from the developer's shell. The rate
# limits and the fraud guard are off: the fuzzer sends hundreds of requests from one address, many wrong
# codes and cancels to the numbers of its dictionary, and every flow here uses one range of numbers,
# which the guard would rightly pause (its refusals are proven against the contract in internal/server).
# No admin listener: a fixed port could be taken on a shared machine, and nothing here reads it.
start_server() {
	local name=$1 port pid deadline
	shift
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	server_url="http://127.0.0.1:$port"
	server_log="$work/$name.log"
	server_logs+=("$server_log")
	(cd "$work" && exec env -u VONAGE_VERIFY_API -u VERIFY_WORKFLOW -u VERIFY_SILENT_AUTH_REDIRECT_URL \
		VERIFY_BACKEND=sandbox PORT="$port" ADMIN_ADDR=off \
		RATE_LIMIT_IP=off RATE_LIMIT_NUMBER=off RATE_LIMIT_CHECK=off RATE_LIMIT_WRONG_CODES=off \
		RATE_LIMIT_PREFIX=off FRAUD_GUARD=off "$@" \
		./verify-proxy >"$server_log" 2>&1) &
	pid=$!
	server_pids+=("$pid")
	deadline=$((SECONDS + 30))
	until curl -fsS -o /dev/null "$server_url/healthz" 2>/dev/null; do
		kill -0 "$pid" 2>/dev/null || { echo "the server $name stopped while starting" >&2; exit 1; }
		((SECONDS < deadline)) || { echo "the server $name never became healthy" >&2; exit 1; }
		sleep 0.1
	done
	echo "serving $server_url ($name), log in $server_log"
}

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

step "servers"
go build -o "$work/verify-proxy" .
start_server v1
export VERIFY_PROXY_URL=$server_url VERIFY_PROXY_LOG=$server_log
silent=(VONAGE_VERIFY_API=v2 VERIFY_WORKFLOW=silent_auth,sms)
start_server silent "${silent[@]}"
export VERIFY_PROXY_SILENT_URL=$server_url VERIFY_PROXY_SILENT_LOG=$server_log
export VERIFY_PROXY_SILENT_APP_PAGE=https://app.example.com/verified
start_server silent-redirecting "${silent[@]}" VERIFY_SILENT_AUTH_REDIRECT_URL="$VERIFY_PROXY_SILENT_APP_PAGE"
export VERIFY_PROXY_SILENT_REDIRECTING_URL=$server_url VERIFY_PROXY_SILENT_REDIRECTING_LOG=$server_log

step "Kotlin client: generate (Kotlin, Swift 6 and Swift 5), compile, drive the flow"
# -q leaves only errors, plus the generator's own warnings (its logger is set to warn): any line
# left in brackets is a generator warning or an error, and fails the build.
mvn -B -q --no-transfer-progress -f e2e/kotlin/pom.xml \
	-Dorg.slf4j.simpleLogger.log.org.openapitools=warn clean verify 2>&1 | tee "$work/maven.log"
sed 's/\x1b\[[0-9;]*m//g' "$work/maven.log" >"$work/maven.txt"
# Every client keeps the contract's names. OpenAPI Generator 7.25.0 says when it does not, as in
# "Error (reserved word) cannot be used as model name. Renamed to ModelError" (model, method,
# parameter, variable and file names alike; `Renamed to auto-generated operationId` too).
if grep -iE 'renamed to|reserved word|cannot be used as' "$work/maven.txt" >/dev/null; then
	echo "OpenAPI Generator renamed a name of openapi.yaml (above): every client must keep its names" >&2
	exit 1
fi
# Nor any other warning, except the swift5 generator's two lines saying that it is deprecated.
swift5_deprecated="^\[WARNING\] (Generator 'swift5' is considered deprecated\.|IMPORTANT: This generator has been deprecated\. Please use \`swift6\` instead)$"
if grep -E '^\[(WARNING|ERROR)\]' "$work/maven.txt" | grep -vE "$swift5_deprecated" >/dev/null; then
	echo "OpenAPI Generator warned or failed (above): the contract must generate cleanly" >&2
	exit 1
fi
cat e2e/kotlin/target/surefire-reports/*.txt | grep -E '^Tests run'

step "Swift clients (swift6, swift5): names and syntax"
for swift in swift swift5; do
	e2e/.venv/bin/python e2e/swift/check_client.py openapi.yaml "e2e/kotlin/target/generated-sources/$swift"
done

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

stop_servers
step "done; screenshots in $E2E_ARTIFACTS"
