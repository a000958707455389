# mtcp-sendpkt: the two commands a user needs are `make demo` and `make test`.
# Both install missing system packages first (Debian 12, as root) through `make deps`.

SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c

CARGO   ?= cargo
CC      ?= cc
PROFILE ?= release
LIBDIR  := target/$(PROFILE)
DEMO    := demo-out
# What a C program needs besides libmtcp_sendpkt.a (from `--print native-static-libs`).
STATIC_LIBS = $(shell pkg-config --libs libdpdk) -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc

DEB_PACKAGES := dpdk dpdk-dev libdpdk-dev libclang-dev clang pkg-config libpcap-dev gcc g++ make groff-base iproute2 python3 valgrind tshark

# Another DPDK than the system's: `make test DPDK=/opt/dpdk-25.11` (any target), a prefix holding
# lib/<multiarch>/pkgconfig/libdpdk.pc, such as `make dpdk SERIES=25.11` builds from
# ../shared/dpdk. pkg-config, the loader, the DPDK tools and a target directory of its own then
# follow it.
DPDK ?=
ifneq ($(DPDK),)
DPDK_PC := $(firstword $(wildcard $(DPDK)/lib/*/pkgconfig/libdpdk.pc $(DPDK)/lib/pkgconfig/libdpdk.pc))
ifeq ($(DPDK_PC),)
$(error DPDK=$(DPDK): no lib/*/pkgconfig/libdpdk.pc there (build one with: make dpdk SERIES=25.11))
endif
export PKG_CONFIG_PATH := $(patsubst %/,%,$(dir $(DPDK_PC)))
export LD_LIBRARY_PATH := $(patsubst %/pkgconfig/,%,$(dir $(DPDK_PC)))
export PATH := $(DPDK)/bin:$(PATH)
export CARGO_TARGET_DIR := $(CURDIR)/target/$(notdir $(DPDK))
LIBDIR := $(CARGO_TARGET_DIR)/$(PROFILE)
endif
SERIES ?= 25.11

PREFIX  ?= /usr/local
DESTDIR ?=
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
SONAME  := libmtcp_sendpkt.so.1

.PHONY: all deps dpdk build header check-header lint test smoke loom check-long fuzz bench demo install uninstall clean

all: build

# Installs the Debian packages the build and the tests need, only if something is missing.
deps:
	@missing=; \
	pkg-config --atleast-version=22.11 libdpdk 2>/dev/null || missing="$$missing libdpdk>=22.11"; \
	ls /usr/lib/llvm-*/lib/libclang.so* >/dev/null 2>&1 || missing="$$missing libclang"; \
	for t in clang cc c++ pkg-config groff ip python3 dpdk-testpmd dpdk-telemetry.py valgrind tshark capinfos editcap; do command -v $$t >/dev/null || missing="$$missing $$t"; done; \
	if [ -z "$$missing" ]; then \
	  echo "deps: DPDK $$(pkg-config --modversion libdpdk), libclang and compilers present"; \
	elif [ "$$(id -u)" != 0 ]; then \
	  echo "deps: missing$$missing; as root run: apt-get install $(DEB_PACKAGES)"; exit 1; \
	else \
	  echo "deps: missing$$missing; installing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(DEB_PACKAGES); \
	fi

# Builds DPDK SERIES (23.11, 24.11 or 25.11) from ../shared/dpdk into /opt/dpdk-SERIES, with only
# what the tests and the bench use; a prefix already built is reused.
dpdk:
	scripts/build-dpdk.sh $(SERIES)

build: deps
	$(CARGO) build --release
	ln -sf libmtcp_sendpkt.so $(LIBDIR)/$(SONAME)

# Installs the library (versioned soname, dev symlink, static archive), the header, the
# pkg-config file, the manual pages and the endpoint file of dpdk-telemetry-exporter.py. NO_BUILD=1 installs what $(LIBDIR) already holds.
install: $(if $(NO_BUILD),,build)
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/share/man/man3 \
	  $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(LIBDIR)/libmtcp_sendpkt.so $(DESTDIR)$(PREFIX)/lib/libmtcp_sendpkt.so.$(VERSION)
	ln -sf libmtcp_sendpkt.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(PREFIX)/lib/libmtcp_sendpkt.so
	install -m 644 $(LIBDIR)/libmtcp_sendpkt.a $(DESTDIR)$(PREFIX)/lib/libmtcp_sendpkt.a
	install -m 644 include/mtcp_sendpkt.h $(DESTDIR)$(PREFIX)/include/mtcp_sendpkt.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' mtcp_sendpkt.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/mtcp_sendpkt.pc
	install -m 644 man/mtcp_sendpkt.3 $(DESTDIR)$(PREFIX)/share/man/man3/mtcp_sendpkt.3
	install -m 755 $(LIBDIR)/mtcp-sendpkt $(DESTDIR)$(PREFIX)/bin/mtcp-sendpkt
	install -m 644 man/mtcp-sendpkt.1 $(DESTDIR)$(PREFIX)/share/man/man1/mtcp-sendpkt.1
	install -d $(DESTDIR)$(PREFIX)/share/dpdk/telemetry-endpoints
	install -m 644 telemetry-endpoints/mtcp_sendpkt.py $(DESTDIR)$(PREFIX)/share/dpdk/telemetry-endpoints/mtcp_sendpkt.py
	for f in burst flush init attach init_error config_warnings cores stats tap shutdown reset raw segment; do \
	  echo '.so man3/mtcp_sendpkt.3' > $(DESTDIR)$(PREFIX)/share/man/man3/mtcp_sendpkt_$$f.3; done

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/lib/libmtcp_sendpkt.so* $(DESTDIR)$(PREFIX)/lib/libmtcp_sendpkt.a \
	  $(DESTDIR)$(PREFIX)/include/mtcp_sendpkt.h $(DESTDIR)$(PREFIX)/lib/pkgconfig/mtcp_sendpkt.pc \
	  $(DESTDIR)$(PREFIX)/share/man/man3/mtcp_sendpkt*.3 \
	  $(DESTDIR)$(PREFIX)/bin/mtcp-sendpkt $(DESTDIR)$(PREFIX)/share/man/man1/mtcp-sendpkt.1 \
	  $(DESTDIR)$(PREFIX)/share/dpdk/telemetry-endpoints/mtcp_sendpkt.py

# build.rs regenerates include/mtcp_sendpkt.h with cbindgen on every build.
header:
	$(CARGO) build

check-header: header
	@git diff --exit-code -- include/mtcp_sendpkt.h \
	  || { echo "include/mtcp_sendpkt.h is stale: run 'make header' and commit it"; exit 1; }

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	@for m in man/mtcp_sendpkt.3 man/mtcp-sendpkt.1; do \
	  warnings=$$(LC_ALL=C groff -ww -man -Tutf8 -z $$m 2>&1); \
	  [ -z "$$warnings" ] || { echo "$$m: $$warnings"; exit 1; }; done; echo "man pages: no groff warnings"

# The last line adds up every test binary's "test result" line; a test that could not run here
# (e.g. no network namespaces) says "SKIPPED:" and is counted as skipped, not passed.
# `cargo build` first: the C tests link target/debug/libmtcp_sendpkt.{so,a}, which `cargo test`
# alone does not rebuild (it builds the rlib).
test: deps check-header lint
	@mkdir -p target
	$(CARGO) build
	$(CARGO) test --workspace 2>&1 | tee target/test.log
	$(MAKE) --no-print-directory loom 2>&1 | tee -a target/test.log
	@awk '/^test result:/ { p += $$4; f += $$6 } /^SKIPPED:/ { s++ } \
	  END { printf "summary: %d passed, %d failed, %d skipped\n", p - s, f, s }' target/test.log

# A short check on another DPDK: the build, the frames against mOS's table and the errno contract
# on net_pcap (tests/dpdk_pcap.rs), telemetry and the pcapng tap (tests/observe.rs).
smoke: deps
	@mkdir -p target
	$(CARGO) build
	$(CARGO) test --test dpdk_pcap --test observe 2>&1 | tee target/smoke.log
	@echo "smoke on DPDK $$(pkg-config --modversion libdpdk): $$(awk '/^test result:/ { p += $$4; f += $$6 } \
	  /^SKIPPED:/ { s++ } END { printf "%d passed, %d failed, %d skipped", p - s, f, s }' target/smoke.log)"

# The loom model of the TX protocol (src/core_ctx/model.rs): every interleaving of owner,
# guests, flusher and shutdown up to LOOM_MAX_PREEMPTIONS preemptions. In its own target
# directory, since --cfg loom rebuilds the crate with loom's atomics.
LOOM_MAX_PREEMPTIONS ?= 2
loom:
	LOOM_MAX_PREEMPTIONS=$(LOOM_MAX_PREEMPTIONS) RUSTFLAGS="--cfg loom" RUST_BACKTRACE=0 CARGO_TARGET_DIR=target/loom \
	  $(CARGO) test --release --lib model -- --nocapture

# Longer checks (CI runs them after `make test`): the stress tests at 1M calls per thread in a
# release build, each fuzz target for FUZZ_SECONDS, and the loom model at 3 preemptions.
FUZZ_SECONDS ?= 60
STRESS_CALLS ?= 1000000
check-long: deps fuzz
	$(CARGO) build --release
	MTCP_SENDPKT_STRESS_CALLS=$(STRESS_CALLS) $(CARGO) test --release --test stress -- --nocapture --test-threads=1 2>&1 \
	  | tee target/stress.log | grep -E '^(test |stress:|test result)'
	$(MAKE) --no-print-directory loom LOOM_MAX_PREEMPTIONS=3 2>&1 | tee target/loom.log | grep -E '^(loom:|test result)'

# cargo-fuzz needs nightly-only flags (-Zsanitizer=address); this machine has only a stable
# toolchain, whose sanitizer runtimes are there, so RUSTC_BOOTSTRAP=1 unlocks the flags.
fuzz:
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	@mkdir -p target
	cd fuzz && for t in frame_builder config_parser segment_builder; do \
	  mkdir -p corpus/$$t; \
	  RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run $$t corpus/$$t seeds/$$t -- \
	    -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 > ../target/fuzz-$$t.log 2>&1 \
	    || { tail -40 ../target/fuzz-$$t.log; exit 1; }; \
	  echo "fuzz $$t: $$(grep -o 'number_of_executed_units: *[0-9]*' ../target/fuzz-$$t.log | grep -o '[0-9]*$$') executions in $(FUZZ_SECONDS) s, no crash"; \
	done

# Prints the comparison table (and writes target/bench/bench.md, or target/dpdk-X/bench/bench.md
# with DPDK=), then the frame-builder micro-benchmark.
bench: build
	$(CARGO) bench --bench compare
	$(CARGO) bench --bench frame_builder

demo: build
	@mkdir -p $(DEMO)
	$(CC) -std=c11 -Wall -Wextra -Werror -pedantic -Iinclude examples/middlebox.c \
	  -L$(LIBDIR) -Wl,-rpath,$(CURDIR)/$(LIBDIR) -lmtcp_sendpkt -o $(DEMO)/middlebox
	@rm -f $(DEMO)/out.pcap
	MTCP_SENDPKT_CONF=examples/demo.conf \
	MTCP_SENDPKT_EAL_ARGS="--no-huge -m 256 --no-pci --no-shconf --file-prefix mtcp-demo --log-level=lib.eal:warning --vdev net_pcap0,tx_pcap=$(DEMO)/out.pcap" \
	  $(DEMO)/middlebox
	@$(CARGO) run -q --release --example pcap_summary -- $(DEMO)/out.pcap

clean:
	$(CARGO) clean
	rm -rf $(DEMO)
