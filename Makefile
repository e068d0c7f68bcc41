# The shop's developer commands. `make` (or `make help`) lists them: every
# target with a `## ` comment is listed, and lines starting with `##` print
# as they are. The work is done by scripts/; this file stays a table of them.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

# Go from PATH, else where the official tarball puts it.
GO ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
GOFMT = $(shell $(GO) env GOROOT)/bin/gofmt
CMD ?= up
export GO

# Tests reach PostgreSQL and Redis through these; set them to use others.
# wing DIR: stop with a clear message when a fork has deleted a wing.
wing = test -d $(1) || { echo "$(1)/ is not in this tree (a fork may delete it); make $@ needs it"; exit 1; }

TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test?sslmode=disable
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
export TEST_DATABASE_URL TEST_REDIS_URL

##The shop: a Go shopping cart that runs as several replicas behind nginx.
##
##Usage: make TARGET [VAR=value ...]
##
##Targets:

.PHONY: help
help: ## list targets and settings
	@awk '/^##/ { sub(/^##/, ""); print; next } \
	     /^[a-zA-Z_-]+:.*## / { split($$0, a, ":.*## "); printf "  %-15s %s\n", a[1], a[2] }' $(MAKEFILE_LIST)

.PHONY: build
build: ## build bin/shop
	$(GO) build -o bin/shop ./cmd/shop

.PHONY: up
up: ## run the shop: PostgreSQL, Redis, REPLICAS replicas, nginx on http://localhost:PORT
	@bash scripts/shop.sh up

.PHONY: down
down: ## stop everything `make up` started (the machine's own services stay up)
	@bash scripts/shop.sh down

.PHONY: restart
restart: ## rebuild and restart the replicas one at a time, without downtime
	@bash scripts/shop.sh restart

.PHONY: ps
ps: ## show each process of the shop: pid, address, state
	@bash scripts/shop.sh ps

.PHONY: logs
logs: ## follow all logs (replicas, nginx, private databases)
	@bash scripts/shop.sh logs

.PHONY: test
test: ## run every test (race detector) against real PostgreSQL and Redis
	@bash scripts/ensure-tools.sh
	@# Not `eval "$$(...)"`: eval of nothing succeeds, hiding a failure.
	@services="$$(bash scripts/ensure-services.sh --test --create-db)" && eval "$$services" && \
		$(GO) test -race -count=1 ./...

.PHONY: check-fork
check-fork: ## prove a fork without workshop/ and bench/ builds, vets and compiles its tests (a copy in /tmp)
	@bash scripts/check-fork.sh

.PHONY: bench
bench: ## measure (bench/bench.sh, ~4 min): Go benchmarks; the floor, shop-redis, shop-postgres under the same load; writes docs/benchmarks.md
	@$(call wing,bench)
	@bash bench/bench.sh

.PHONY: lint
lint: ## gofmt (must list nothing) and go vet; shellcheck when installed
	@out="$$($(GOFMT) -l .)"; \
	if [ -n "$$out" ]; then echo "gofmt would change these files (run make fmt):"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@if command -v shellcheck >/dev/null; then shellcheck -x scripts/*.sh $$(ls workshop/*.sh bench/*.sh 2>/dev/null) .ci/run; \
	else echo "shellcheck not installed; scripts not checked"; fi

.PHONY: fmt
fmt: ## format the Go code (gofmt -w)
	$(GOFMT) -w .

.PHONY: docs
docs: ## regenerate docs/configuration.md from internal/config (a test fails when it is stale)
	$(GO) generate ./internal/config/

.PHONY: migrate
migrate: build ## run bin/shop migrate CMD (up, down, status; default up) on DATABASE_URL
	@services="$$(bash scripts/ensure-services.sh --create-db)" && eval "$$services" && \
		bin/shop migrate $(CMD)

.PHONY: workshop
workshop: ## the workshop (workshop/README.md): run the shop as step STEP needs it
	@$(call wing,workshop)
	@bash workshop/workshop.sh $(STEP)

.PHONY: workshop-check
workshop-check: ## check that the running shop shows what step STEP teaches (workshop/workshop.sh)
	@$(call wing,workshop)
	@bash workshop/workshop.sh check $(STEP)

.PHONY: screenshots
screenshots: ## every page in headless Chromium at phone and desktop widths; refreshes docs/screenshots
	@services="$$(bash scripts/ensure-services.sh --test --create-db)" && eval "$$services" && \
		SHOP_SCREENSHOTS_DIR=docs/screenshots $(GO) test -count=1 -run '^TestBrowser(Mail)?$$/^(Pages|desktop)$$' ./e2e/ && \
		echo "docs/screenshots/ refreshed; every page is in test-artifacts/screenshots/"

##
##Settings (make VAR=value, or the environment):
##  REPLICAS=3          replicas, on 127.0.0.1:9001 upward
##  SESSION_STORE=redis redis, postgres or memory
##  LB=rr               nginx balancing: rr (round robin), ip (ip_hash), cookie (a sticky cookie nginx sets)
##  PORT=8080           nginx's port on 127.0.0.1
##  READY_TIMEOUT=60    seconds `up` and `restart` wait for each /readyz
##  CMD=up              for migrate: up, down or status
##  STEP=1              for workshop and workshop-check: the step, 1 to 8
##  DATABASE_URL, REDIS_URL, LOG_FORMAT, ...: any name in docs/configuration.md
##                      reaches the replicas; `restart` keeps what `up` was given
##  TEST_DATABASE_URL   postgres://postgres@127.0.0.1:5432/test?sslmode=disable
##  TEST_REDIS_URL      redis://127.0.0.1:6379/0
##
##Wings: workshop/ (the workshop: guide, steps, checks, its e2e tests) and
##bench/ (load tool, floor, bench.sh) are not part of the product; a fork may
##delete both, with the targets above that use them. check-fork proves the
##rest builds and its tests compile without them.
##
##PostgreSQL and Redis are started (or installed with apt-get, as root) when
##they do not answer; see scripts/ensure-services.sh. Files: .run/ (logs, pids,
##nginx), bin/.
