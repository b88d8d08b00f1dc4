# jobplan-hub: see README.md. `make demo` and `make test` are the two
# commands a fresh clone needs.
GO ?= go
BIN := bin/jobplan-hub

.PHONY: build test test-deps demo bench fuzz golden-update lint clean

build:
	$(GO) build -o $(BIN) ./cmd/jobplan-hub

test: test-deps
	$(GO) vet ./...
	$(GO) test -count=1 ./...

# Installs OpenSSH's sftp-server for the transport tests against the real
# server (Debian; CI runs as root). Skipped when it is already present.
test-deps:
	@if [ ! -x /usr/lib/openssh/sftp-server ] && [ ! -x /usr/lib/sftp-server ]; then \
		echo "installing openssh-sftp-server for the real-server SFTP test"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq openssh-sftp-server >/dev/null; \
	fi

fuzz:
	$(GO) test ./transform/decode -run '^$$' -fuzz '^FuzzCSV$$' -fuzztime 10s
	$(GO) test ./transform/decode -run '^$$' -fuzz '^FuzzJSON$$' -fuzztime 10s
	$(GO) test ./transform/decimal -run '^$$' -fuzz '^FuzzParse$$' -fuzztime 5s

clean:
	rm -rf bin out .bench
