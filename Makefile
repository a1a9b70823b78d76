# daprshop: `make run` starts the local system, `make test` proves it.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO           ?= go
PROFILE      ?= local
# sqlite (the default, in dapr/config/), mdns or consul: dapr/nameresolution/.
NAMERESOLUTION ?= sqlite
# Every profile `make test-matrix` runs the end-to-end suite on. redis runs
# its state stores on daprshop's own component (pluggable/redisstate; Dapr's
# state.redis does not keep a transaction whole, docs/dapr-notes.md).
# Not mysql, for now: on this machine, on 2026-12-04, TestSagaFigures (100
# checkouts at once) failed on it three times in three runs, 25 to 34 of 100
# completed, the rest cancelled, while catalog's and orders' MariaDB
# transactions timed out; the commit before that day's changes (230f418)
# failed it the same way (28 of 100). The other tests passed on mysql in
# those runs. `make test-e2e PROFILE=mysql` runs it anyway.
PROFILES     := local postgres kafka redis
BIN          := .bin
DAPR_VERSION := 1.18.2
DAPR_COMMIT  := d2dd3747145e38e4d85db4714e26d7569c9c37db
# The race detector needs cgo; use it where a C compiler is installed.
RACE         := $(shell command -v gcc >/dev/null 2>&1 && echo -race)
DAPR_BINS    := $(BIN)/daprd $(BIN)/placement $(BIN)/scheduler $(BIN)/sentry
# Two makes may build the same tool at once (.ci/run builds Consul's and
# Kubernetes' beside the tests, which build them when they reach them): each
# such build holds this lock, and the second, once it has it, finds Go's
# cache warm and the binary up to date.
LOCKED        = mkdir -p $(CURDIR)/$(BIN) && flock $(CURDIR)/$(BIN)/.build.lock

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

.PHONY: tools
tools: $(DAPR_BINS) $(BIN)/nats-server $(BIN)/kafka $(BIN)/redisstate ## build the pinned Dapr runtime, nats-server, the kafka profile's broker and the redis profile's state store into .bin/ (first time ~10 min)

.PHONY: tools-consul
tools-consul: $(BIN)/consul ## build the Consul agent of NAMERESOLUTION=consul into .bin/ (~6 min the first time)

# Rebuilt only when the pins in tools/ change, so a second `make tools` is a
# no-op; skipped when ~/.dapr/bin holds an official install of the version.
$(DAPR_BINS) &: tools/go.mod tools/go.sum tools/build-dapr.sh
	@GO=$(GO) tools/build-dapr.sh $(CURDIR)/$(BIN) $(DAPR_VERSION) $(DAPR_COMMIT)

# The trace backend of `make run OBSERVE=1`: Jaeger v2 (module v1.76.0 is
# Jaeger 2.13.0), pinned in a module of its own, so neither `make tools` nor
# `make test` builds it. Rebuilt only when its pin changes.
JAEGER_VERSION := v2.13.0

.PHONY: observe-tools
observe-tools: $(BIN)/jaeger ## build Jaeger, the trace backend of `make run OBSERVE=1`, into .bin/

$(BIN)/jaeger: tools/observe/go.mod tools/observe/go.sum
	@echo "observe-tools: building jaeger $(JAEGER_VERSION) (a few minutes the first time)..."
	@cd tools/observe && CGO_ENABLED=0 $(GO) build -trimpath \
	  -ldflags "-s -w -X github.com/jaegertracing/jaeger/internal/version.latestVersion=$(JAEGER_VERSION)" \
	  -o ../../$(BIN)/jaeger github.com/jaegertracing/jaeger/cmd/jaeger
	@touch $@

# The local profile's broker, in a module of its own (tools/nats/go.mod
# says why it does not take the version dapr's go.mod names).
$(BIN)/nats-server: tools/nats/go.mod tools/nats/go.sum
	@echo "tools: building nats-server..."
	@cd tools/nats && CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o ../../$(BIN)/nats-server github.com/nats-io/nats-server/v2
	@touch $@

# The broker of the kafka profile (components/kafka/): kfake, franz-go's
# Kafka-protocol broker, behind a small main, in a module of its own
# (tools/kafka/README.md says what it does not implement). About a minute.
$(BIN)/kafka: tools/kafka/go.mod tools/kafka/go.sum tools/kafka/main.go
	@echo "tools: building kafka (kfake)..."
	@cd tools/kafka && CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o ../../$(BIN)/kafka .
	@touch $@

# The redis profile's state store: a pluggable component of our own
# (pluggable/redisstate: Dapr's state.redis transactions are not
# all-or-nothing; docs/dapr-notes.md).
$(BIN)/redisstate: $(wildcard pluggable/redisstate/*.go) pluggable/redisstate/go.mod pluggable/redisstate/go.sum
	@echo "tools: building redisstate..."
	@cd pluggable/redisstate && CGO_ENABLED=0 $(GO) build -trimpath -o ../../$(BIN)/redisstate .
	@touch $@

# The Consul agent of Dapr's consul name resolution (dapr/nameresolution/),
# in a module of its own (tools/consul/go.mod says why it needs no replace
# lines). About 6 minutes the first time on 2 cores; 131 MB.
$(BIN)/consul: tools/consul/go.mod tools/consul/go.sum
	@echo "tools: building consul (a few minutes the first time)..."
	@cd tools/consul && $(LOCKED) env CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o ../../$(BIN)/consul github.com/hashicorp/consul
	@touch $@

# The metric-name extractor of deploy/observability's rules and dashboards
# (tests/metrics_test.go runs it), in a module of its own: Prometheus's
# PromQL parser, and only what that parser imports.
$(BIN)/promql-names: tools/promql/go.mod tools/promql/go.sum tools/promql/main.go
	@echo "tools: building promql-names..."
	@cd tools/promql && CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o ../../$(BIN)/promql-names .

.PHONY: run
run: tools $(if $(OBSERVE),observe-tools) $(if $(filter consul,$(NAMERESOLUTION)),tools-consul) ## start the whole local system (PROFILE=local, NAMERESOLUTION=sqlite; OBSERVE=1 adds Jaeger and Prometheus; TRACING=zipkin has the sidecars export Zipkin); Ctrl-C stops it
	@$(GO) run ./cmd/launcher -f dapr/dapr.yaml -profile $(PROFILE) -nameresolution $(NAMERESOLUTION) $(if $(OBSERVE),-observe) $(if $(TRACING),-tracing $(TRACING))

# The Dapr CLI path: `make infra` starts what `dapr run -f dapr/dapr.yaml`
# leaves to its user (nats-server and its streams, sentry, placement and
# scheduler with TLS), builds the apps' binaries that the run file names, and
# writes the exports the CLI's shell needs to .data/<profile>/dapr-cli.env
# (and, for another PROFILE or NAMERESOLUTION, a copy of the run file).
.PHONY: infra
infra: tools $(if $(filter consul,$(NAMERESOLUTION)),tools-consul) ## for the Dapr CLI: start sentry, placement, scheduler, NATS and its streams (and Consul with NAMERESOLUTION=consul); it prints what to `source` and `dapr run -f`
	@$(GO) run ./cmd/launcher -f dapr/dapr.yaml -infra -profile $(PROFILE) -nameresolution $(NAMERESOLUTION) $(if $(TRACING),-tracing $(TRACING))

.PHONY: apps
apps: ## build every app: the Go apps' binaries into .bin/apps/, the Node.js app with npm (what dapr/dapr.yaml runs; make run and make infra build them too)
	@for app in $(GO_APPS); do $(GO) build -o $(BIN)/apps/$$app ./services/$$app || exit 1; done
	@$(MAKE) --no-print-directory apps-node

# The Node.js apps: dependencies from the lock file (when it is newer than
# the install), then tsc.
.PHONY: apps-node
apps-node:
	@command -v npm >/dev/null 2>&1 || { echo "apps: no npm here, so $(NODE_APPS) is not built (Node.js $(MIN_NODE) or later with npm builds it; the launcher runs the rest without it)"; exit 0; }; \
	for app in $(NODE_APPS); do \
	  [ services/$$app/node_modules/.package-lock.json -nt services/$$app/package-lock.json ] || \
	    npm ci --prefix services/$$app --ignore-scripts --no-audit --no-fund || exit 1; \
	  npm run --prefix services/$$app --silent build || exit 1; \
	done

# The apps on Node.js (a package.json in their folder) and the Go ones.
NODE_APPS := $(patsubst services/%/package.json,%,$(wildcard services/*/package.json))
GO_APPS    = $(filter-out $(NODE_APPS),$(IMAGE_APPS))

# The Node.js app's unit tests (node --test), from its lock file. In CI
# (CI set) they must run; elsewhere, without npm, they are skipped with a line.
.PHONY: test-ts
test-ts: ## the TypeScript app's unit tests (services/recommendations: tsc, then node --test)
	@if ! command -v npm >/dev/null 2>&1 && [ -z "$$CI" ]; then \
	  echo "test-ts: npm is not installed; the TypeScript tests are skipped (Node.js $(MIN_NODE) or later runs them)"; exit 0; fi; \
	for app in $(NODE_APPS); do \
	  [ services/$$app/node_modules/.package-lock.json -nt services/$$app/package-lock.json ] || \
	    npm ci --prefix services/$$app --ignore-scripts --no-audit --no-fund || exit 1; \
	  npm test --prefix services/$$app || exit 1; \
	done
MIN_NODE := 20

.PHONY: test
test: tools vet $(BIN)/promql-names ## vet, unit tests, alert rules, then end-to-end tests against the real system
	$(GO) test $(RACE) -count=1 -timeout 10m $$($(GO) list ./... | grep -Ev '/tests(/k8s)?$$')
	@# The redis profile's state store, a module of its own (its unit tests;
	@# `make test-redis` runs it through daprd against Redis).
	cd pluggable/redisstate && $(GO) vet ./... && $(GO) test $(RACE) -count=1 ./...
	@# The benchmark's own module: its unit tests (the ceiling's settings
	@# are the project's), not its measurements (`make bench`).
	cd bench && $(GO) vet ./... && $(GO) test -count=1 ./...
	@$(MAKE) --no-print-directory test-ts
	@$(MAKE) --no-print-directory check-observability
	@$(MAKE) --no-print-directory check-k8s
	@# A short fuzz run of every decoder of outside input (`make fuzz` runs longer).
	@# A count, not a duration: with a duration the fuzzing engine can fail a
	@# healthy target with "context deadline exceeded" when its time runs out
	@# mid-run on a loaded machine (seen in CI).
	@$(MAKE) --no-print-directory fuzz FUZZTIME=30000x
	@# Alone, so that the running system does not share two cores with the
	@# race-built unit tests.
	@$(MAKE) --no-print-directory test-e2e

.PHONY: test-e2e
test-e2e: tools $(BIN)/promql-names $(if $(filter consul,$(NAMERESOLUTION)),tools-consul) browser-deps ## the end-to-end suite alone, on PROFILE with NAMERESOLUTION (SKIP: a -skip pattern)
	@echo "end-to-end suite: profile $(PROFILE), name resolution $(NAMERESOLUTION)"
	PROFILE=$(PROFILE) NAMERESOLUTION=$(NAMERESOLUTION) $(GO) test -v -count=1 -timeout 15m $(if $(SKIP),-skip '$(SKIP)') ./tests/

# The browser tests' one npm package (playwright-core, pinned by
# tests/browser/package-lock.json), when npm is here: without it
# TestStorefrontInABrowser says why it skipped (and fails in CI).
.PHONY: browser-deps
browser-deps: ## install the browser tests' npm package (playwright-core) into tests/browser/node_modules
	@if command -v npm >/dev/null 2>&1; then \
	  [ tests/browser/node_modules/.package-lock.json -nt tests/browser/package-lock.json ] || \
	  npm ci --prefix tests/browser --no-audit --no-fund; \
	else echo "browser-deps: npm is not installed; the browser tests will be skipped"; fi

# The storefront's screenshots in docs/ (the README shows one), taken by
# the browser tests against a system of their own.
.PHONY: screenshots
screenshots: tools $(BIN)/promql-names browser-deps ## rewrite docs/storefront-*.png by the browser tests (needs chromium)
	SCREENSHOTS=$(CURDIR)/docs $(GO) test -v -count=1 -timeout 15m -run 'TestStorefrontInABrowser' ./tests/

# The profiles other than local need their servers on 127.0.0.1 (Redis,
# PostgreSQL with RabbitMQ, MariaDB with Mosquitto; .ci/run starts them);
# the kafka profile's broker and the Consul agent are run by the launcher.
# The redis profile's state store (pluggable/redisstate) against Dapr's
# contract, through real daprd sidecars and redis-servers of the tests' own
# (Debian's redis-server on PATH): the conformance suite judges it, stock
# state.redis (which must still fail the cases it is known to fail) and
# SQLite; then internal/barrier's and every service's store tests run on it.
.PHONY: test-redis
test-redis: tools ## the state store conformance suite on the redis profile's component, stock state.redis and SQLite, then the store tests on the component (needs redis-server)
	DAPRSHOP_CONFORMANCE=daprshop-redis,stock-redis,sqlite $(GO) test $(RACE) -count=1 -run 'TestStateStoreConformance|TestRedisStateCrashes' -v ./internal/daprdtest/
	DAPRSHOP_TEST_STATE_STORE=daprshop-redis $(GO) test $(RACE) -count=1 ./internal/state/ ./internal/barrier/ ./services/...

# The state layer's contract (internal/state), which the unit tests' memory
# store keeps too, through daprd on the kind of store of every profile:
# SQLite (local, kafka; make test runs it), the redis profile's component
# (test-redis), PostgreSQL and MariaDB (on the machine's servers; .ci/run
# starts them).
.PHONY: test-stores
test-stores: tools ## the state layer's contract on the postgres and mysql profiles' stores (needs PostgreSQL and MariaDB on 127.0.0.1)
	@for kind in postgres mysql; do \
	  echo "test-stores: $$kind"; \
	  DAPRSHOP_TEST_STATE_STORE=$$kind $(GO) test $(RACE) -count=1 -run 'TestDaprStore$$' ./internal/state/ || exit 1; \
	done

# Each stage says how long it took (CI's log has no clock of its own).
STAGE = s=$$(date +%s); $(1) || exit 1; echo "$(2) took $$(( $$(date +%s) - s ))s"

.PHONY: test-matrix
test-matrix: test test-profiles ## make test, then make test-profiles: what CI runs

# On mDNS and Consul the suite leaves out what name resolution plays no part
# in (about 3 of its 8 minutes): pub/sub under faults (events never go
# through it), the throughput figures, and the attacks on the gateway and
# the sidecars' APIs (local sqlite runs them). Every invocation, the sagas and
# the crash and restart scenarios, where a name must resolve to a process
# that came back, run on all three.
NR_SKIP := TestChaosPubSubSubscriberCrashes|TestChaosBrokerRestart|TestSagaFigures|TestSecurityAttacks

# On the other profiles (postgres, kafka, redis: another broker and other
# stores) the suite leaves out what the broker and the stores play no part
# in, which make test has run on local: the throughput figures, the circuit
# breaker of service invocation, and requests with a sidecar on their path
# down. Everything that keeps state or sends an event, the sagas, the
# crash and restart scenarios and the attacks run on every profile.
PROFILE_SKIP := TestSagaFigures|TestCircuitBreakerOpensAndCloses|TestRequestsGoThroughSidecars

# What test-matrix runs after make test. .ci/run runs the two itself, with
# Consul and the Kubernetes tools building beside them at the lowest priority
# until the stage that needs them (the suite on consul, make test-k8s).
.PHONY: test-profiles
test-profiles: ## the redis state store's suites, the state layer's contract on every store, the end-to-end suite on every other profile and name resolution, then make test-k8s
	@$(call STAGE,$(MAKE) --no-print-directory test-redis,test-profiles: test-redis)
	@$(call STAGE,$(MAKE) --no-print-directory test-stores,test-profiles: test-stores)
	@for p in $(filter-out local,$(PROFILES)); do \
	  $(call STAGE,$(MAKE) --no-print-directory test-e2e PROFILE=$$p NAMERESOLUTION=sqlite SKIP='$(PROFILE_SKIP)',test-profiles: the suite on $$p); \
	done
	@for nr in mdns consul; do \
	  $(call STAGE,$(MAKE) --no-print-directory test-e2e PROFILE=local NAMERESOLUTION=$$nr SKIP='$(NR_SKIP)',test-profiles: the suite on local with $$nr); \
	done
	@$(call STAGE,$(MAKE) --no-print-directory test-zipkin,test-profiles: test-zipkin)
	@$(call STAGE,$(MAKE) --no-print-directory test-k8s,test-profiles: test-k8s)

# The Zipkin option (dapr/tracing/zipkin.yaml): a system whose sidecars
# export Zipkin, the apps OTLP, and a checkout still one trace (the tests'
# receiver takes both formats, as Jaeger does).
.PHONY: test-zipkin
test-zipkin: tools $(BIN)/promql-names ## a checkout is one trace with the sidecars exporting Zipkin (TRACING=zipkin)
	TRACING=zipkin $(GO) test -v -count=1 -timeout 10m -run 'TestCheckoutIsOneTrace' ./tests/

# The fault scenarios (tests/chaos_*_test.go, tests/security_test.go) at
# full counts: kill -9 mid-saga of every participant and the control plane,
# 10,000 events with the subscriber killed every 400, SIGTERM under load,
# start order, broker restarts, hostile requests. `make test` runs the same
# scenarios at small counts. Writes the summary table into docs/chaos.md.
CHAOS_RUN := TestChaos|TestSecurity

.PHONY: chaos
chaos: tools $(BIN)/promql-names ## the fault and attack scenarios at full counts (~26 min); writes docs/chaos.md's table
	@echo "chaos: profile $(PROFILE), name resolution $(NAMERESOLUTION)"
	CHAOS=full CHAOS_REPORT=$(CURDIR)/docs/chaos.md PROFILE=$(PROFILE) NAMERESOLUTION=$(NAMERESOLUTION) \
	  $(GO) test -v -count=1 -timeout 60m -run '$(CHAOS_RUN)' ./tests/

.PHONY: test-unit
test-unit: vet ## unit tests only (no sidecars), the TypeScript app's too
	$(GO) test $(RACE) -count=1 -short ./...
	@$(MAKE) --no-print-directory test-ts

# promtool is Debian's `prometheus` package (.ci/run installs it).
.PHONY: check-observability
check-observability: $(BIN)/promql-names ## check the Prometheus config, unit-test the alert rules, parse every dashboard query
	@command -v promtool >/dev/null || { echo "check-observability needs promtool: apt-get install --no-install-recommends prometheus"; exit 1; }
	promtool check config deploy/observability/prometheus.yml
	promtool check rules deploy/observability/rules/*.yml
	promtool test rules deploy/observability/tests/*.yml
	@# Every alert and recording rule has a test of its own.
	@for r in $$(sed -nE 's/^ *- (alert|record): *//p' deploy/observability/rules/*.yml); do \
	  grep -qE "(alertname: |expr: .*)$$r\b" deploy/observability/tests/*.yml || { echo "rule $$r has no promtool test"; exit 1; }; \
	done
	cd tools/promql && $(GO) vet ./... && $(GO) test -count=1 ./...
	$(BIN)/promql-names deploy/observability >/dev/null

.PHONY: vet
vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

# Every decoder of outside input, as package:FuzzTarget. The corpus that
# found a bug stays in the package's testdata/fuzz.
FUZZ_TARGETS := internal/web:FuzzDecode internal/cloudevent:FuzzDecode internal/paging:FuzzParse \
	internal/authtoken:FuzzVerify services/orders:FuzzDecodePlaceOrder services/catalog:FuzzTryRequest \
	services/payments:FuzzChargeOrder

.PHONY: fuzz
fuzz: ## fuzz every decoder of outside input for a while (FUZZTIME=1m)
	@for target in $(FUZZ_TARGETS); do \
	  echo "fuzz $$target"; \
	  $(GO) test ./$${target%%:*} -run '^$$' -fuzz "^$${target##*:}\$$" -fuzztime $${FUZZTIME:-1m}; \
	done

.PHONY: clean-data
clean-data: ## delete the local profiles' data (.data/)
	find .data -mindepth 1 ! -name .gitkeep ! -path .data/local -exec rm -rf {} +

.PHONY: clean
clean: clean-data ## delete data and every built binary
	rm -rf $(BIN)

# ---- bench: docs/benchmarks.md (issue #8); not part of `make test` ----
# bench/ is a module of its own (vegeta, gonum/plot, benchstat stay out of
# the services' go.mod); tools/dtm pins DTM, which part 2 runs the saga's
# participant calls with. Every run holds the end-to-end lock, so that it
# never shares the two cores with an end-to-end run.
BENCHTIME   ?= 5s
BENCH_REPS  ?= 3
BENCH_PARTS ?= invoke,saga,pubsub,micro
BENCH_LOCK  ?= /tmp/daprshop-e2e.lock
# 1: run in a private network namespace holding only loopback (unshare, as
# root), so that no port of the run is reachable from outside: DTM's server
# listens on every interface and has no setting for it. 0: run in the
# host's namespace, without DTM. The default: 1 for root, 0 for anyone else.
# The namespace's loopback carries multicast, for part 1's mDNS hop.
BENCH_NETNS ?= $(if $(filter 0,$(shell id -u)),1,0)

.PHONY: tools-bench
tools-bench: $(BIN)/benchstat $(BIN)/dtm ## build benchstat and DTM (part 2's comparison) into .bin/ (DTM ~3 min the first time)

$(BIN)/benchstat: bench/go.mod bench/go.sum
	@echo "tools-bench: building benchstat..."
	@cd bench && $(GO) build -o ../$(BIN)/benchstat golang.org/x/perf/cmd/benchstat
	@touch $@

$(BIN)/dtm: tools/dtm/go.mod tools/dtm/go.sum
	@echo "tools-bench: building dtm (a few minutes the first time)..."
	@cd tools/dtm && CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o ../../$(BIN)/dtm github.com/dtm-labs/dtm
	@touch $@

.PHONY: bench
bench: tools tools-bench apps-node ## measure and write docs/benchmarks.md + .png (BENCHTIME=5s per run, BENCH_REPS=3, BENCH_PARTS=invoke,saga,pubsub,micro; ~12 min)
	@cd bench && $(GO) vet ./... && $(GO) build -o ../$(BIN)/bench .
	@# The system the saga part starts includes the Node.js app: apps-node
	@# installs its packages first, outside the namespace (no registry in it).
	@# Part 4 runs `go test` offline inside the namespace: fetch what it needs first.
	@$(GO) mod download
	flock $(BENCH_LOCK) $(if $(filter 1,$(BENCH_NETNS)),unshare --net sh -c 'ip link set lo up multicast on && ip route add 224.0.0.0/4 dev lo && exec "$$0" "$$@"') \
	  $(BIN)/bench -root . -benchtime $(BENCHTIME) -reps $(BENCH_REPS) -parts $(BENCH_PARTS) $(if $(filter 1,$(BENCH_NETNS)),-hostnet /proc/$$$$/ns/net)
# ---- end bench ----

# ---- Containers and Kubernetes (deploy/Dockerfile, deploy/k8s/, docs/kubernetes.md) ----
# One image per app of the run file, all from deploy/Dockerfile, named as
# deploy/k8s/base/kustomization.yaml names them (check-k8s holds the two
# equal). A build target that built nothing fails: without a container
# engine, `make images` says so and exits 1.
IMAGE_REGISTRY ?= ghcr.io/daprshop
IMAGE_TAG      ?= 0.1.0
DOCKER         ?= docker
IMAGE_APPS     := $(shell sed -nE 's/^  - appID: *([a-z0-9-]+).*/\1/p' dapr/dapr.yaml)

.PHONY: images
images: ## build every app's image with DOCKER (docker; podman works) as IMAGE_REGISTRY/<app>:IMAGE_TAG; needs a running engine
	@$(DOCKER) info >/dev/null 2>&1 || { \
	  echo "images: no container engine answers '$(DOCKER) info' (is the daemon running, and may you use it?)."; \
	  echo "images: nothing was built. Start one, or run 'make images DOCKER=podman'; deploy/README.md has the commands."; \
	  exit 1; }
	@for app in $(GO_APPS); do \
	  echo "images: $(IMAGE_REGISTRY)/$$app:$(IMAGE_TAG)"; \
	  DOCKER_BUILDKIT=1 $(DOCKER) build -f deploy/Dockerfile --build-arg SERVICE=$$app \
	    -t $(IMAGE_REGISTRY)/$$app:$(IMAGE_TAG) . || exit 1; \
	done
	@for app in $(NODE_APPS); do \
	  echo "images: $(IMAGE_REGISTRY)/$$app:$(IMAGE_TAG)"; \
	  DOCKER_BUILDKIT=1 $(DOCKER) build -t $(IMAGE_REGISTRY)/$$app:$(IMAGE_TAG) services/$$app || exit 1; \
	done
	@# The redis overlay's state store (deploy/k8s/state/redis names this
	@# image in full, in an annotation; check-k8s holds the tag equal).
	@echo "images: $(IMAGE_REGISTRY)/redisstate:$(IMAGE_TAG)"
	@DOCKER_BUILDKIT=1 $(DOCKER) build -t $(IMAGE_REGISTRY)/redisstate:$(IMAGE_TAG) pluggable/redisstate

# A Go module of its own (deploy/k8s/check/go.mod says why): it renders
# every overlay with the Kustomize API and checks it against the run file,
# the local components and the Dapr Configurations. The first run downloads
# and compiles Kubernetes, Kustomize and Dapr's API types (a few minutes on
# two cores); later runs take seconds.
.PHONY: check-k8s
check-k8s: ## render and check every Kubernetes overlay (deploy/k8s)
	cd deploy/k8s/check && $(GO) vet ./... && $(GO) test -count=1 ./...
# A real Kubernetes control plane, built from source in a module of its own
# (tools/k8s/go.mod says how): etcd, kube-apiserver, kube-controller-manager
# and kubectl at $(K8S_VERSION), kube-scheduler, the kubelet and kube-proxy too, Dapr $(DAPR_VERSION)'s
# operator and sidecar injector (from tools/, beside daprd), kwok (tools/kwok)
# and Dapr's CRDs from its Helm chart. The first build took 12 to 27 minutes
# on two cores with cold caches (most of it kube-apiserver, then kwok);
# later ones take seconds.
K8S_VERSION := v1.34.4
K8S_BINS    := $(BIN)/k8s/etcd $(BIN)/k8s/kube-apiserver $(BIN)/k8s/kube-controller-manager $(BIN)/k8s/kube-scheduler $(BIN)/k8s/kubectl \
  $(BIN)/k8s/kubelet $(BIN)/k8s/kube-proxy
# Dapr's operator and sidecar injector, from the module that builds daprd.
DAPR_K8S_BINS := $(BIN)/k8s/operator $(BIN)/k8s/injector
DAPR_LDFLAGS  := -s -w -X github.com/dapr/dapr/pkg/buildinfo.version=$(DAPR_VERSION) \
  -X github.com/dapr/dapr/pkg/buildinfo.gitcommit=$(DAPR_COMMIT) -X github.com/dapr/dapr/pkg/buildinfo.gitversion=v$(DAPR_VERSION) \
  -X github.com/dapr/kit/logger.DaprVersion=$(DAPR_VERSION)
K8S_LDFLAGS := -s -w $(foreach p,k8s.io/component-base/version k8s.io/client-go/pkg/version,\
  -X $(p).gitVersion=$(K8S_VERSION) -X $(p).gitMajor=1 -X $(p).gitMinor=34 -X $(p).gitTreeState=clean)

.PHONY: k8s-tools
k8s-tools: $(K8S_BINS) $(DAPR_K8S_BINS) $(BIN)/k8s/kwok $(BIN)/k8s/coredns $(BIN)/k8s/dapr-crds/.done $(BIN)/k8s/traefik-crds/.done ## build etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, the kubelet, kube-proxy, kwok, CoreDNS and Dapr's operator and injector into .bin/k8s/ (12-27 min the first time)

$(K8S_BINS) &: tools/k8s/go.mod tools/k8s/go.sum tools/k8s/etcd/main.go
	@echo "k8s-tools: building etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, the kubelet and kube-proxy $(K8S_VERSION) (10 to 25 minutes the first time)..."
	@mkdir -p $(BIN)/k8s
	@cd tools/k8s && $(LOCKED) env CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(K8S_LDFLAGS)" -o ../../$(BIN)/k8s/ \
	  ./etcd k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
	  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl \
	  k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy

$(DAPR_K8S_BINS) &: tools/go.mod tools/go.sum
	@echo "k8s-tools: building Dapr $(DAPR_VERSION)'s operator and sidecar injector..."
	@mkdir -p $(BIN)/k8s
	@cd tools && $(LOCKED) env CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(DAPR_LDFLAGS)" -o ../$(BIN)/k8s/ \
	  github.com/dapr/dapr/cmd/operator github.com/dapr/dapr/cmd/injector

# kwok (L3's simulated kubelets) and its "fast" stages, from its module.
KWOK_STAGES := node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
  pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml
$(BIN)/k8s/kwok $(BIN)/k8s/kwok-stages.yaml &: tools/kwok/go.mod tools/kwok/go.sum
	@echo "k8s-tools: building kwok (a few minutes the first time)..."
	@mkdir -p $(BIN)/k8s
	@cd tools/kwok && $(LOCKED) env CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o ../../$(BIN)/k8s/kwok sigs.k8s.io/kwok/cmd/kwok
	@dir="$$(cd tools/kwok && $(GO) list -m -f '{{.Dir}}' sigs.k8s.io/kwok)/kustomize/stage"; \
	  for f in $(KWOK_STAGES); do cat "$$dir/$$f"; echo "---"; done > $(BIN)/k8s/kwok-stages.yaml

# CoreDNS (L4's cluster DNS) with the plugins the cluster's Corefile uses
# (tools/coredns/main.go).
COREDNS_VERSION := v1.13.2
$(BIN)/k8s/coredns: tools/coredns/go.mod tools/coredns/go.sum tools/coredns/main.go
	@echo "k8s-tools: building CoreDNS $(COREDNS_VERSION) (a few minutes the first time)..."
	@mkdir -p $(BIN)/k8s
	@cd tools/coredns && $(LOCKED) env CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o ../../$(BIN)/k8s/coredns .

# Dapr's CRDs, as its Helm chart installs them, from the module tools/ pins.
$(BIN)/k8s/dapr-crds/.done: tools/go.mod
	@mkdir -p $(BIN)/k8s/dapr-crds
	@cp "$$(cd tools && $(GO) list -m -f '{{.Dir}}' github.com/dapr/dapr)"/charts/dapr/crds/*.yaml $(BIN)/k8s/dapr-crds/
	@chmod u+w $(BIN)/k8s/dapr-crds/*.yaml && touch $@

# Traefik's Middleware CRD, as its documentation publishes it, from the
# Traefik module of this version (the Go module proxy serves it; the module
# is downloaded only, outside any of ours, for this one file): make
# test-k8s has the API server validate overlays/traefik's Middlewares.
TRAEFIK_VERSION := v3.6.2
$(BIN)/k8s/traefik-crds/.done: Makefile
	@mkdir -p $(BIN)/k8s/traefik-crds
	@dir="$$(cd $$(mktemp -d) && GOFLAGS=-mod=mod $(GO) mod download -json github.com/traefik/traefik/v3@$(TRAEFIK_VERSION) | sed -n 's/^\t"Dir": "\(.*\)",$$/\1/p')"; \
	  cp "$$dir/docs/content/reference/dynamic-configuration/traefik.io_middlewares.yaml" $(BIN)/k8s/traefik-crds/
	@chmod u+w $(BIN)/k8s/traefik-crds/*.yaml && touch $@

# The images the manifests name, built without a container engine or a
# registry by mkimage (tools/image): each app's and the state store's by
# doing what deploy/Dockerfile and pluggable/redisstate/Dockerfile say (the
# build stage runs here with this machine's Go, which must be their
# GO_VERSION; an instruction mkimage does not know fails the build), Redis
# from Debian's redis-server and its libraries (uid 999, as the manifest
# runs it), daprd's, CoreDNS's, and the pause image from Kubernetes' pause.c. Every archive is
# reproducible (SOURCE_DATE_EPOCH, else time 0) and `ctr images import`
# reads it. Always rebuilt: the Go builds are cached.
K8S_IMAGES := $(BIN)/k8s/images
PAUSE_TAG  := 3.10.1
NODE_LIBS   = $(shell ldd "$$(command -v node)" 2>/dev/null | awk '$$2 == "=>" {print $$3} $$1 ~ /^\// {print $$1}' | sort -u)
REDIS_LIBS  = $(shell ldd /usr/bin/redis-server 2>/dev/null | awk '$$2 == "=>" {print $$3} $$1 ~ /^\// {print $$1}' | sort -u)
.PHONY: k8s-images
k8s-images: $(DAPR_BINS) $(BIN)/k8s/coredns ## build every image the Kubernetes manifests run (and daprd's) into .bin/k8s/images/ (tools/image; no engine or registry needed)
	@mkdir -p $(K8S_IMAGES)
	@cd tools/image && CGO_ENABLED=0 $(GO) build -trimpath -o ../../$(BIN)/k8s/mkimage .
	@for app in $(GO_APPS); do \
	  printf 'k8s-images: %s ' "$(IMAGE_REGISTRY)/$$app:$(IMAGE_TAG)"; \
	  $(BIN)/k8s/mkimage -dockerfile deploy/Dockerfile -context . -build-arg SERVICE=$$app \
	    -tag $(IMAGE_REGISTRY)/$$app:$(IMAGE_TAG) -o $(K8S_IMAGES)/$$app.tar || exit 1; \
	done
	@# A Node.js app (services/<app>/Dockerfile): what its Dockerfile's two
	@# stages make, from files: the app compiled here, its production
	@# dependencies from its lock file, and this machine's node with its
	@# libraries on the static base (its nonroot user 65532), where
	@# distroless "nodejs20" keeps node (/nodejs/bin/node).
	@command -v node >/dev/null || { echo "k8s-images: the Node.js apps' images are made from this machine's node: install Node.js $(MIN_NODE) or later"; exit 1; }
	@for app in $(NODE_APPS); do \
	  stage=$(K8S_IMAGES)/$$app.stage; rm -rf $$stage && mkdir -p $$stage && \
	  cp services/$$app/package.json services/$$app/package-lock.json $$stage/ && \
	  npm ci --prefix $$stage --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null && \
	  $(MAKE) --no-print-directory apps-node NODE_APPS=$$app && \
	  printf 'k8s-images: %s ' "$(IMAGE_REGISTRY)/$$app:$(IMAGE_TAG)" && \
	  $(BIN)/k8s/mkimage -base static -user 65532:65532 -entrypoint "/nodejs/bin/node /app/dist/src/main.js" \
	    -add /nodejs/bin/node=$$(command -v node) $(foreach l,$(NODE_LIBS),-add $(l)=$(l)) \
	    -add /app/package.json=$$stage/package.json -add /app/node_modules=$$stage/node_modules \
	    -add /app/dist/src=services/$$app/dist/src \
	    -tag $(IMAGE_REGISTRY)/$$app:$(IMAGE_TAG) -o $(K8S_IMAGES)/$$app.tar || exit 1; \
	done
	@printf 'k8s-images: %s ' "$(IMAGE_REGISTRY)/redisstate:$(IMAGE_TAG)"
	@$(BIN)/k8s/mkimage -dockerfile pluggable/redisstate/Dockerfile -context pluggable/redisstate \
	  -tag $(IMAGE_REGISTRY)/redisstate:$(IMAGE_TAG) -o $(K8S_IMAGES)/redisstate.tar
	@command -v redis-server >/dev/null || { echo "k8s-images: the Redis image is made from Debian's redis-server: apt-get install redis-server"; exit 1; }
	@printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'redis:x:999:999:redis:/data:/sbin/nologin' > $(K8S_IMAGES)/redis.passwd
	@printf '%s\n' 'root:x:0:' 'redis:x:999:' > $(K8S_IMAGES)/redis.group
	@printf 'k8s-images: %s ' "docker.io/library/redis:7.4-alpine (Debian's $$(redis-server --version | cut -d' ' -f3))"
	@$(BIN)/k8s/mkimage -base scratch -user 999:999 -entrypoint /usr/local/bin/redis-server \
	  -add /usr/local/bin/redis-server=/usr/bin/redis-server -add /etc/passwd=$(K8S_IMAGES)/redis.passwd \
	  -add /etc/group=$(K8S_IMAGES)/redis.group $(foreach l,$(REDIS_LIBS),-add $(l)=$(l)) \
	  -tag docker.io/library/redis:7.4-alpine -o $(K8S_IMAGES)/redis.tar
	@# The sidecar the injector adds (tests/k8s/dapr.go names it): the daprd
	@# that make tools built (or the official one it found), on the static
	@# base, as Dapr's own image holds it.
	@daprd=$(BIN)/daprd; [ -x "$$daprd" ] || daprd=$$HOME/.dapr/bin/daprd; \
	  printf 'k8s-images: %s ' "ghcr.io/dapr/daprd:$(DAPR_VERSION) ($$daprd)"; \
	  $(BIN)/k8s/mkimage -base static -add /daprd=$$daprd -entrypoint /daprd \
	    -tag ghcr.io/dapr/daprd:$(DAPR_VERSION) -o $(K8S_IMAGES)/daprd.tar
	@printf 'k8s-images: %s ' "registry.k8s.io/coredns/coredns:$(COREDNS_VERSION)"
	@$(BIN)/k8s/mkimage -base static -add /coredns=$(BIN)/k8s/coredns -entrypoint /coredns \
	  -tag registry.k8s.io/coredns/coredns:$(COREDNS_VERSION) -o $(K8S_IMAGES)/coredns.tar
	@src="$$(cd tools/k8s && $(GO) mod download k8s.io/kubernetes && $(GO) list -m -f '{{.Dir}}' k8s.io/kubernetes)/build/pause/linux/pause.c"; \
	  $${CC:-gcc} -Os -Wall -Werror -static -DVERSION=v$(PAUSE_TAG) -o $(K8S_IMAGES)/pause "$$src" && strip $(K8S_IMAGES)/pause
	@printf 'k8s-images: %s ' "registry.k8s.io/pause:$(PAUSE_TAG)"
	@$(BIN)/k8s/mkimage -base scratch -user 65535:65535 -entrypoint /pause -add /pause=$(K8S_IMAGES)/pause \
	  -tag registry.k8s.io/pause:$(PAUSE_TAG) -o $(K8S_IMAGES)/pause.tar

# Needs root: the cluster runs in a network namespace of its own (unshare).
.PHONY: test-k8s
test-k8s: tools k8s-tools k8s-images ## the manifests against a real API server, the real Dapr injector, then a scheduler and kwok nodes, every image in a real containerd, and the shop on a real kubelet's node, in a private network namespace (needs root; tests/k8s)
	cd tools/image && $(GO) vet ./... && $(GO) test -count=1 ./...
	$(GO) test -v -count=1 -timeout 20m ./tests/k8s/
# ---- end containers and Kubernetes ----
