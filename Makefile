# vsd — build, run and test. `make help` lists the targets.
GO      ?= go
BIN     := bin
PKGS    := ./...
FUZZTIME ?= 10s

PREFIX  ?= /usr/local
SBIN    ?= /usr/sbin

.PHONY: help deps build install install-ipvsadm run sim test flood vet fmt-check unit race bench-smoke fuzz-smoke bench bench-table bench-datapath soak clean

help:
	@echo "make run          build vsd and run vsd lab: a whole LVS in network namespaces (root; else the simulated one)"
	@echo "make sim          build vsd and run the simulated LVS scenario (vsd sim)"
	@echo "make test         everything CI runs: gofmt, vet, unit + root integration tests with -race, benchmark smoke, short fuzzing"
	@echo "make flood        the SYN flood tests at full size (vsd and nftables: max rate, 1M sources, 60 s) and the testlvs runs (root)"
	@echo "make bench-datapath  the side-by-side datapath benchmark in namespaces (root, ~15 minutes)"
	@echo "make bench        the benchmarks quoted in docs/BENCHMARKS.md (minutes)"
	@echo "make bench-table  connection-table memory and lookup at 10M entries (needs ~8 GiB, minutes)"
	@echo "make install      vsd and vsadm into \$$(PREFIX)/sbin (default /usr/local/sbin)"
	@echo "make install-ipvsadm  also make vsadm answer as ipvsadm, ipvsadm-save, ipvsadm-restore in \$$(SBIN) (for ldirectord)"

build:
	$(GO) build -o $(BIN)/vsd ./cmd/vsd
	$(GO) build -o $(BIN)/vsadm ./cmd/vsadm
	$(GO) build -o $(BIN)/vsflood ./cmd/vsflood

install: build
	install -d $(DESTDIR)$(PREFIX)/sbin
	install -m 0755 $(BIN)/vsd $(BIN)/vsadm $(DESTDIR)$(PREFIX)/sbin/

# ldirectord runs /sbin/ipvsadm or /usr/sbin/ipvsadm, never one found on
# PATH. A real ipvsadm already there is kept as NAME.ipvsadm-orig.
install-ipvsadm: install
	@for n in ipvsadm ipvsadm-save ipvsadm-restore; do \
	  t=$(DESTDIR)$(SBIN)/$$n; \
	  if [ -e "$$t" ] && [ ! -L "$$t" ]; then mv "$$t" "$$t.ipvsadm-orig"; echo "kept the old $$t as $$t.ipvsadm-orig"; fi; \
	  ln -sf $(PREFIX)/sbin/vsadm "$$t"; echo "$$t -> $(PREFIX)/sbin/vsadm"; \
	done

# Debian packages the lab, the root tests and the datapath benchmark use
# (installed only when missing, and only as root).
deps:
	@bash scripts/install-deps.sh

run: deps build
	./$(BIN)/vsd lab

sim: build
	./$(BIN)/vsd sim

test: deps fmt-check vet race bench-smoke fuzz-smoke

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

unit:
	$(GO) test $(PKGS)

race:
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

# One iteration of every benchmark: proves they run (figures come from `make bench`).
bench-smoke:
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 10m $(PKGS)

# Every fuzz target for a few seconds each, on top of its committed seed corpus.
fuzz-smoke:
	@GO=$(GO) FUZZTIME=$(FUZZTIME) bash scripts/fuzz-smoke.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 3 ./internal/packet ./internal/forward ./internal/state ./internal/sched ./internal/director
	$(GO) test -run '^$$' -bench 'Lookup|Insert|Memory1M' -benchmem -count 3 ./internal/conntrack

# The issue #5 flood tests at full size: vsflood at its maximum rate from
# 1,000,000 spoofed sources for 60 s against a NAT service, against vsd
# and against the kernel's nftables DNAT, and the seed's testlvs runs
# watched past their 60 s timeout (root).
flood: deps
	FLOOD=long $(GO) test -run 'TestSYNFlood|TestSeedFloodNS' -count=1 -v -timeout 15m ./internal/lab

bench-datapath: deps build
	$(GO) build -o $(BIN)/vsbench ./cmd/vsbench && ./$(BIN)/vsbench datapath --vsd ./$(BIN)/vsd

bench-table:
	$(GO) test -run '^$$' -bench '10M' -benchmem -benchtime 1x -timeout 60m ./internal/conntrack

clean:
	rm -rf $(BIN)
