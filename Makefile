# The commands the README names. `make test` is what CI runs (.ci/run).

.PHONY: test fuzz bench loadbench

# Format check, vet, then every test with the race detector, over the three
# modules (the root, pgstore/ and cmd/powersync-auth/, tied by go.work). The
# interop tests need the Node package of interop/ (jose 4.15.9, PowerSync's
# version). The PostgreSQL tests (pgstore's, and the ready server's against
# PostgreSQL) need POWERSYNC_JWKS_TEST_DATABASE_URL (see scripts/postgres),
# or initdb on the PATH; without either they skip.
test: interop/node_modules/.package-lock.json
	@unformatted=$$(gofmt -l .); if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	go vet ./... ./pgstore/... ./cmd/powersync-auth/...
	go test -race ./... ./pgstore/... ./cmd/powersync-auth/...

# Each fuzz target for FUZZTIME (default 10s), one at a time, after its seed
# corpus (testdata/fuzz/); CI runs it after the tests, 6s each. Look harder with
# make fuzz FUZZTIME=10m, or one target: FUZZTIME=1h scripts/fuzz FuzzVerifyMutated.
fuzz:
	scripts/fuzz

interop/node_modules/.package-lock.json: interop/package.json interop/package-lock.json
	cd interop && npm ci --no-audit --no-fund

# Library against the standard-library floor, medians of 6 runs and ratios.
bench:
	scripts/bench

# The endpoints over HTTP against the original example's functions on Node,
# side by side (scripts/loadbench: about 14 minutes; a smoke run:
# make loadbench DURATION=1 PAIRS=1). Installs wrk and interop/node_modules
# when missing.
loadbench:
	@scripts/loadbench
