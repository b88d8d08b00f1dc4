# jobplan-hub: see README.md. `make demo` and `make test` are the two
# commands a fresh clone needs.
GO ?= go
BIN := bin/jobplan-hub

.PHONY: build test test-deps demo bench fuzz lint golden-update clean

build:
	$(GO) build -o $(BIN) ./cmd/jobplan-hub

test: test-deps
	$(GO) vet ./...
	$(GO) test -count=1 ./...

# Installs what the tests need from Debian when missing: OpenSSH's
# sftp-server (the transport test against the real server), Chromium
# (the HTML report is checked as a browser renders it), systemd's tools
# (systemd-analyze verify of the units in deploy/, sysusers and tmpfiles
# applied to a scratch root), zsh and fish (their completion scripts run
# in them). CI runs as root.
TEST_PACKAGES := openssh-sftp-server chromium fonts-liberation systemd zsh fish
test-deps:
	@missing=""; \
	[ -x /usr/lib/openssh/sftp-server ] || [ -x /usr/lib/sftp-server ] || missing="$$missing openssh-sftp-server"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium fonts-liberation"; \
	[ -x /usr/bin/systemd-analyze ] || missing="$$missing systemd"; \
	[ -x /usr/bin/zsh ] || missing="$$missing zsh"; \
	[ -x /usr/bin/fish ] || missing="$$missing fish"; \
	if [ -n "$$missing" ]; then \
		echo "installing for the tests:$$missing"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

# Converts every bundled sample with its mapping into ./out. Exit status 1
# (some plans rejected) is expected: the samples hold bad rows on purpose.
demo: build
	@rm -rf out && mkdir -p out
	@for dir in samples/*/; do \
		name=$$(basename $$dir); \
		[ -f mappings/$$name.yaml ] || continue; \
		for input in $$dir*.*; do \
			case $$input in *.md) continue;; esac; \
			./$(BIN) convert --mapping mappings/$$name.yaml --out out $$input; \
			status=$$?; [ $$status -le 1 ] || exit $$status; \
		done; \
	done
	@echo; echo "outputs in ./out:"; ls out
	@echo; echo "reconciliation of the accepted plans with samples/payroll:"
	@./$(BIN) reconcile --payroll samples/payroll/input/payroll-2026-04.csv \
		--payroll-mapping samples/payroll/input/payroll-mapping.yaml \
		--out out/reconcile out/*.jobplans.jsonl; \
	status=$$?; [ $$status -le 1 ] || exit $$status

# Speed and memory targets live here, never in unit tests: a 1,000,000-row
# export of layout (a) (about 190 MB) converted end to end.
# lint: go vet and staticcheck (a pinned version, fetched by the Go proxy).
lint:
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

# The hub's benchmark runs first: it is bound by the disk's cache flushes,
# and the convert benchmark leaves about a gigabyte being written back.
bench: build
	$(GO) run ./internal/bench/cmd/benchhub
	$(MAKE) --no-print-directory bench-hub-bulk
	$(GO) run ./internal/bench/cmd/benchdelivery
	$(GO) run ./internal/bench/cmd/benchconvert -rows 1000000
	$(GO) run ./internal/bench/cmd/benchxlsx -rows 100000
	$(GO) run ./internal/bench/cmd/benchreconcile -plans 1000000 -payroll 1000000
	$(GO) test ./transform -run '^$$' -bench . -benchtime 5x
	$(GO) test ./transform/record -run '^$$' -bench .

# Every golden set: the samples' outputs (mappings), the staff-check
# outputs (transform/reference), the reconciliation (transform/reconcile),
# and the command's: config check and status outputs (testdata/hub) and
# the expected files inside the scripts (testdata/*/*.txtar). A test in
# internal/testutil fails if a package with golden files is missing here.
GOLDEN_PACKAGES := ./mappings ./transform/mapping ./transform/reference ./transform/reconcile ./cmd/jobplan-hub
golden-update:
	$(GO) test -count=1 $(GOLDEN_PACKAGES) -update

# Go minimises every new interesting input for up to a minute by default,
# which in a 10-second run stops the fuzzing after a few dozen inputs
# (FuzzLoad sat at 46 executions); a short minimisation keeps it fuzzing.
FUZZ_FLAGS := -fuzzminimizetime 200x
fuzz:
	$(GO) test ./transform/decode -run '^$$' -fuzz '^FuzzCSV$$' -fuzztime 10s $(FUZZ_FLAGS)
	$(GO) test ./transform/decode -run '^$$' -fuzz '^FuzzCSVNoQuotes$$' -fuzztime 10s $(FUZZ_FLAGS)
	$(GO) test ./transform/decode -run '^$$' -fuzz '^FuzzJSON$$' -fuzztime 10s $(FUZZ_FLAGS)
	$(GO) test ./transform/decode -run '^$$' -fuzz '^FuzzXLSX$$' -fuzztime 10s $(FUZZ_FLAGS)
	$(GO) test ./transform/decode -run '^$$' -fuzz '^FuzzXLSXSheet$$' -fuzztime 10s $(FUZZ_FLAGS)
	$(GO) test ./transform/mapping -run '^$$' -fuzz '^FuzzDate$$' -fuzztime 10s $(FUZZ_FLAGS)
	$(GO) test ./transform/decimal -run '^$$' -fuzz '^FuzzParse$$' -fuzztime 5s $(FUZZ_FLAGS)
	$(GO) test ./transform/record -run '^$$' -fuzz '^FuzzCanonicalJSON$$' -fuzztime 5s $(FUZZ_FLAGS)
	$(GO) test ./transform/decimal -run '^$$' -fuzz '^FuzzArithmetic$$' -fuzztime 10s $(FUZZ_FLAGS)
	$(GO) test ./transform/mapping -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime 10s $(FUZZ_FLAGS)
	$(GO) test ./transform/mapping -run '^$$' -fuzz '^FuzzInfer$$' -fuzztime 10s $(FUZZ_FLAGS)
	$(GO) test ./internal/lint -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime 5s $(FUZZ_FLAGS)
	$(GO) test ./internal/hubconfig -run '^$$' -fuzz '^FuzzParse$$' -fuzztime 5s $(FUZZ_FLAGS)
	$(GO) test ./transform/reference -run '^$$' -fuzz '^FuzzParseConfig$$' -fuzztime 5s $(FUZZ_FLAGS)
	$(GO) test ./transform/reconcile -run '^$$' -fuzz '^FuzzParseConfig$$' -fuzztime 5s $(FUZZ_FLAGS)
	$(GO) test ./transport/relay -run '^$$' -fuzz '^FuzzNameProblem$$' -fuzztime 5s $(FUZZ_FLAGS)
	$(GO) test ./transport/localdir -run '^$$' -fuzz '^FuzzParseEvents$$' -fuzztime 5s $(FUZZ_FLAGS)
	$(GO) test ./transport/httpsink -run '^$$' -fuzz '^FuzzShape$$' -fuzztime 10s $(FUZZ_FLAGS)
	$(GO) test ./transport/httpsink -run '^$$' -fuzz '^FuzzPointer$$' -fuzztime 5s $(FUZZ_FLAGS)
	$(GO) test ./transform/reconcile -run '^$$' -fuzz '^FuzzReportReading$$' -fuzztime 5s $(FUZZ_FLAGS)
	$(GO) test ./internal/hubconfig -run '^$$' -fuzz '^FuzzParseFileMode$$' -fuzztime 5s $(FUZZ_FLAGS)
	$(GO) test ./transport/observe -run '^$$' -fuzz '^FuzzPageQuery$$' -fuzztime 5s $(FUZZ_FLAGS)
	$(GO) test ./transport/observe -run '^$$' -fuzz '^FuzzReadCounts$$' -fuzztime 5s $(FUZZ_FLAGS)
	$(GO) test ./internal/cliconv -run '^$$' -fuzz '^FuzzRead$$' -fuzztime 5s $(FUZZ_FLAGS)
	$(GO) test ./transform/reconcile -run '^$$' -fuzz '^FuzzPlanRecord$$' -fuzztime 10s $(FUZZ_FLAGS)
	$(GO) test ./internal/extsort -run '^$$' -fuzz '^FuzzSort$$' -fuzztime 5s $(FUZZ_FLAGS)

clean:
	rm -rf bin out .bench

# demo-hub: a local stand-in for the ESR API (internal/demo/receiver) and
# `jobplan-hub watch` on a temporary drop folder. The sard-wide samples are
# copied in; once status shows every file done and nothing pending, it
# prints the receiver's counts and the status, then stops both.
.PHONY: demo-hub bench-hub bench-delivery bench-reconcile
.PHONY: demo-hub bench-hub bench-hub-bulk bench-delivery
demo-hub: build
	@set -e; tmp=$$(mktemp -d); rpid=; hpid=; \
	trap 'test -z "$$hpid" || kill $$hpid 2>/dev/null || true; test -z "$$rpid" || kill $$rpid 2>/dev/null || true; wait; echo "demo folders kept in $$tmp"' EXIT; \
	$(GO) build -o $$tmp/receiver ./internal/demo/receiver; \
	mkdir -p $$tmp/drop; \
	$$tmp/receiver -addr 127.0.0.1:0 -addr-file $$tmp/addr 2>$$tmp/receiver.log & rpid=$$!; \
	for i in $$(seq 100); do test -s $$tmp/addr && break; sleep 0.1; done; \
	addr=$$(cat $$tmp/addr); echo "receiver listening on http://$$addr"; \
	$(BIN) watch --mapping mappings/sard-wide.yaml --forward http://$$addr/jobplans --out $$tmp/out \
		--state $$tmp/state --settle-time 300ms --listen 127.0.0.1:0 $$tmp/drop 2>$$tmp/hub.log & hpid=$$!; \
	for i in $$(seq 100); do test -e $$tmp/state/ledger.db && break; sleep 0.1; done; \
	n=0; for f in samples/sard-wide/*.csv; do cp "$$f" $$tmp/drop/; n=$$((n+1)); done; \
	echo "dropped $$n file(s) into $$tmp/drop; waiting for delivery"; \
	$(BIN) status --state $$tmp/state --wait 60s --min-files $$n >/dev/null; \
	printf 'receiver holds: '; $$tmp/receiver -count $$addr; echo; \
	$(BIN) status --state $$tmp/state; echo; \
	echo "archive:"; ls $$tmp/drop/archive | sed 's/^/  /'; \
	echo "outbox:"; ls $$tmp/out | sed 's/^/  /'; \
	kill $$hpid; wait $$hpid; hpid=; \
	echo; echo "hub log:"; sed 's/^/  /' $$tmp/hub.log

# bench-hub: 1,000 small files (5 plans each) dropped at once into a folder
# watched by the built binary; times them until every record is delivered
# to a loopback receiver and marked so in the (durable) ledger.
bench-hub: build
	$(GO) run ./internal/bench/cmd/benchhub

# bench-reconcile: 1,000,000 job plans against 1,000,000 payroll rows
# (generated once into .bench), through the built binary; time and peak RSS.
bench-reconcile: build
	$(GO) run ./internal/bench/cmd/benchreconcile
# bench-hub-bulk: one 100,000-plan export (a trust's bulk load) through the
# same hub: the time until its records are queued is conversion and the
# ledger's one transaction; then delivery, 64 in flight.
bench-hub-bulk: build
	$(GO) run ./internal/bench/cmd/benchhub -files 1 -plans 100000 -runs 1 -concurrency 64

# bench-delivery: the dispatcher against a loopback receiver that is down
# for 40 s (attempts and log lines during the outage, drain time after it,
# with the breaker and without), then against one that ignores
# Idempotency-Key and loses answers (re-sends it holds).
bench-delivery:
	$(GO) run ./internal/bench/cmd/benchdelivery
