# verify-proxy: the two commands a newcomer needs are `make run`, then `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

PORT ?= 8080
REDOCLY_CLI := @redocly/cli@2.77.0
DOCKERFILELINT := dockerfilelint@1.8.0
SPECTRAL_CLI := @stoplight/spectral-cli@6.16.3
GO_PACKAGES := ./...
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: all generate build run check-run test e2e lint lint-go lint-openapi lint-dockerfile bench loadtest fraud-sim check-generate \
	image check-container check-deploy check-alerts clean docs check-docs

all: build

## generate: regenerate api/ and internal/apiclient/ from openapi.yaml (never edit *.gen.go by hand)
generate:
	go generate ./api/... ./internal/apiclient/...

## build: the server binary, ./bin/verify-proxy, built exactly as the image's (scripts/build.sh)
build:
	VERSION=$(VERSION) scripts/build.sh bin/verify-proxy

## image: the container image, verify-proxy:$(VERSION) (needs a Docker engine)
image:
	docker build --build-arg VERSION=$(VERSION) -t verify-proxy:$(VERSION) .

## run: build and serve the API with the embedded sandbox backend (no Vonage account needed) and limits
## loosened for one developer; prints the URLs once it answers, metrics on 9090 or the next free port.
## PORT=8090 for another port; any limit set on the command line wins (scripts/run.sh)
run:
	@PORT=$(PORT) scripts/run.sh

## check-run: make run as a newcomer meets it, with 9090 taken: 50 starts for one number from one
## address answered without 429 or 403, the code from its log checked, Ctrl-C leaves no process
check-run:
	scripts/check-run.sh

## test: every Go test, with the race detector. Without redis-server (or redis-cli, redis-sentinel) on
## PATH the Redis tests skip themselves: the last lines then say which and how to install them.
## It fails exactly when go test fails.
test:
	@echo 'go test -race -count=1 $(GO_PACKAGES)'; status=0; go test -race -count=1 $(GO_PACKAGES) || status=$$?; \
	missing=""; for tool in redis-server redis-cli redis-sentinel; do \
	  command -v $$tool >/dev/null 2>&1 || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ]; then \
	  case $$missing in \
	    *redis-server*) what="every Redis test (the Redis store; the server, guard and app on Redis, Redis Cluster, Sentinel)"; uses='redistest\.' ;; \
	    *redis-cli*redis-sentinel*) what="the Redis Cluster and Sentinel tests"; uses='redistest\.Start(Cluster|Sentinel)' ;; \
	    *redis-cli*) what="the Redis Cluster tests"; uses='redistest\.StartCluster' ;; \
	    *) what="the Redis Sentinel tests"; uses='redistest\.StartSentinel' ;; \
	  esac; \
	  echo; echo "NOTE:$$missing not on PATH: $$what did NOT run."; \
	  echo "They skip themselves (their packages may still say ok above; with CI=true they fail instead), in:"; \
	  echo " " $$(grep -rlE --include='*_test.go' "$$uses" internal | sed 's,/[^/]*$$,,' | sort -u); \
	  echo "Install: Debian/Ubuntu: sudo apt-get install redis-server redis-tools redis-sentinel; macOS: brew install redis"; \
	fi; exit $$status

## e2e: the contract end to end against a running sandbox server: generated Kotlin, Swift, TypeScript
## clients, Swagger UI in Debian's chromium, and Schemathesis (installs its own tools; see e2e/run.sh)
e2e:
	bash e2e/run.sh

## bench: speed and memory of the hot paths
bench:
	go test -run='^$$' -bench=. -benchmem $(GO_PACKAGES)

## loadtest: verify-proxy under load beside a bare reverse proxy (the floor), same fake upstream, same
## load; prints throughput, latency, CPU per call, peak memory and the ratios (about 1 minute)
loadtest:
	go run ./internal/loadtest

## fraud-sim: the fraud guard on simulated days of real users and SMS pumping, with the thresholds of
## this environment (FRAUD_*, RATE_LIMIT_*); prints pumping paid for and real users refused, with and
## without it. SEED=n simulates another day.
SEED ?= 1
fraud-sim:
	go run ./internal/fraudsim -seed $(SEED)

## lint: go vet, staticcheck, the OpenAPI linters (Redocly, Spectral) and the Dockerfile linter
lint: lint-go lint-openapi lint-dockerfile

lint-go:
	test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	go vet $(GO_PACKAGES)
	go tool staticcheck $(GO_PACKAGES)

lint-openapi:
	npx --yes $(REDOCLY_CLI) lint --format=stylish openapi.yaml
	npx --yes $(SPECTRAL_CLI) lint --ruleset .spectral.yaml --fail-severity=warn openapi.yaml

lint-dockerfile:
	npx --yes $(DOCKERFILELINT) Dockerfile

## check-container: prove the image (buildah when its base images can be pulled) and the binary
check-container:
	scripts/check-container.sh

## check-deploy: compose.yaml, deploy/kubernetes.yaml and the Dockerfile against their schemas; the
## Grafana dashboard and the alert rules against the metrics the server exports
check-deploy:
	cd deploy && go test -count=1 ./...

## check-alerts: the Prometheus rules of deploy/prometheus: promtool check rules, then their unit tests
## (needs promtool: Debian's prometheus package)
check-alerts:
	promtool check rules deploy/prometheus/rules.yaml
	promtool test rules deploy/prometheus/rules_test.yaml deploy/prometheus/rules_daily_test.yaml

## check-generate: fail when api/ or internal/apiclient/ is not what openapi.yaml generates
check-generate: generate
	git diff --exit-code -- api/ internal/apiclient/ || { echo "api/ or internal/apiclient/ is stale: run make generate and commit"; exit 1; }

## docs: regenerate docs/configuration.md and .env.example from internal/config (never edit them by hand)
docs:
	go run ./internal/config/configdocs

## check-docs: fail when docs/configuration.md or .env.example is not what internal/config generates
check-docs: docs
	git diff --exit-code -- docs/configuration.md .env.example || { echo "docs/configuration.md or .env.example is stale: run make docs and commit"; exit 1; }

clean:
	rm -rf bin e2e/kotlin/target e2e/ts/generated e2e/ts/dist
