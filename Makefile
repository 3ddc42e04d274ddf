# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# memtel-bpf build. `make` builds ./memtel-bpf; `make ASAN=1` builds an
# ASan+UBSan variant into its own output directory; `make test`, `make demo`,
# `make bench` are described in README.md.

.DELETE_ON_ERROR:
.SUFFIXES:
# generated headers and objects stay after a build (they are not throwaway
# intermediates: deleting them would rebuild everything next time)
.SECONDARY:

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

CC ?= cc
CLANG ?= clang
BPFTOOL ?= bpftool
PROTOC_C ?= protoc-c
PKG_CONFIG ?= pkg-config
prefix ?= /usr/local
DESTDIR ?=

ARCH_RAW := $(shell uname -m)
ifeq ($(ARCH_RAW),x86_64)
ARCH := x86
else
$(error unsupported architecture '$(ARCH_RAW)': memtel-bpf supports x86_64 only)
endif

VERSION := 0.1.0

ifeq ($(FUZZ),1)
# libFuzzer build (`make fuzzers`, `make fuzz`): clang, coverage for
# libFuzzer plus ASan+UBSan, in its own output directory.
OUTPUT := .output-fuzz
CC := $(CLANG)
SAN_FLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined
BIN := $(OUTPUT)/memtel-bpf
else ifeq ($(ASAN),1)
OUTPUT := .output-asan
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
BIN := $(OUTPUT)/memtel-bpf
else
OUTPUT := .output
SAN_FLAGS :=
BIN := memtel-bpf
endif

VMLINUX := vmlinux/$(ARCH)/vmlinux.h
LIBS_PKG := libbpf libelf libdw libprotobuf-c zlib capstone libcurl libcrypto libmicrohttpd
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(LIBS_PKG) 2>/dev/null)
PKG_LIBS := $(shell $(PKG_CONFIG) --libs $(LIBS_PKG) 2>/dev/null)

CFLAGS ?= -O2 -g
ALL_CFLAGS := $(CFLAGS) -std=gnu11 -Wall -Wextra -Werror -Wno-missing-field-initializers \
	-D_GNU_SOURCE -DMEMTEL_VERSION='"$(VERSION)"' \
	-Iinclude -Isrc -I$(OUTPUT) -I$(OUTPUT)/proto $(PKG_CFLAGS) $(SAN_FLAGS) -MMD -MP
ALL_LDFLAGS := $(LDFLAGS) $(SAN_FLAGS)
LDLIBS := $(PKG_LIBS) -lstdc++ -lpthread -lm

# clang's own system include dirs, so BPF code sees e.g. <stddef.h> only from
# clang and never the host's asm/ headers.
CLANG_BPF_SYS_INCLUDES := $(shell $(CLANG) -v -E - </dev/null 2>&1 \
	| sed -n '/<...> search starts here:/,/End of search list./{ s| \(/.*\)|-idirafter \1|p }')
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
	-Iinclude -Ivmlinux/$(ARCH) $(CLANG_BPF_SYS_INCLUDES) -MMD -MP

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.bpf.o,$(BPF_SRCS))
SKELS := $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.skel.h,$(BPF_SRCS))

PROTOS := $(wildcard proto/*.proto)
PROTO_SRCS := $(patsubst proto/%.proto,$(OUTPUT)/proto/%.pb-c.c,$(PROTOS))
PROTO_HDRS := $(PROTO_SRCS:.c=.h)
PROTO_OBJS := $(PROTO_SRCS:.c=.o)

# src/<stage>/*.c (and src/sinks/<kind>/*.c): the folders name the data path.
SRCS := $(shell find src -name '*.c' | LC_ALL=C sort)
OBJS := $(patsubst src/%.c,$(OUTPUT)/src/%.o,$(SRCS))
# Assets (the flame graph's script and style) are real files in src/,
# embedded at build time: src/sinks/file/flamegraph.js becomes the
# NUL-terminated `const char asset_flamegraph_js[]`.
ASSETS := $(shell find src -name '*.js' -o -name '*.css' | LC_ALL=C sort)
ASSET_OBJS := $(patsubst src/%,$(OUTPUT)/assets/%.o,$(ASSETS))
OBJS += $(ASSET_OBJS)
LIB_OBJS := $(filter-out $(OUTPUT)/src/main.o,$(OBJS)) $(PROTO_OBJS)

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(OUTPUT)/tests/%,$(UNIT_SRCS))

# Workloads are built like distribution code: -O2, no frame pointers.
WL_CFLAGS := -O2 -g -fomit-frame-pointer -Wall -Wextra -Werror -D_GNU_SOURCE
WL_DIR := $(OUTPUT)/workloads
WL_LIB_SRCS := $(wildcard tools/workloads/lib*.c)
WL_LIBS := $(patsubst tools/workloads/%.c,$(WL_DIR)/%.so,$(WL_LIB_SRCS))
WL_SRCS := $(filter-out $(WL_LIB_SRCS),$(wildcard tools/workloads/*.c))
WL_BINS := $(patsubst tools/workloads/%.c,$(WL_DIR)/%,$(WL_SRCS))

.PHONY: all
all: $(BIN) sampler workloads unit-tests

$(OUTPUT) $(OUTPUT)/src $(OUTPUT)/proto $(OUTPUT)/tests $(WL_DIR):
	$(Q)mkdir -p $@

# --- BPF ------------------------------------------------------------------
$(OUTPUT)/%.bpf.o: bpf/%.bpf.c $(VMLINUX) | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUTPUT)/%.skel.h: $(OUTPUT)/%.bpf.o | $(OUTPUT)
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

# vmlinux.h is committed; regenerate it from the running kernel's BTF with
# `make vmlinux` (only needed for new kernel features).
.PHONY: vmlinux
vmlinux:
	$(call msg,GEN,$(VMLINUX))
	$(Q)mkdir -p vmlinux/$(ARCH)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $(VMLINUX).tmp
	$(Q)mv $(VMLINUX).tmp $(VMLINUX)

# --- protobuf ---------------------------------------------------------------
$(OUTPUT)/proto/%.pb-c.c $(OUTPUT)/proto/%.pb-c.h: proto/%.proto | $(OUTPUT)/proto
	$(call msg,PROTOC,$<)
	$(Q)$(PROTOC_C) --proto_path=proto --c_out=$(OUTPUT)/proto $<

$(OUTPUT)/proto/%.pb-c.o: $(OUTPUT)/proto/%.pb-c.c $(PROTO_HDRS)
	$(call msg,CC,$@)
	$(Q)$(CC) $(filter-out -Werror,$(ALL_CFLAGS)) -c $< -o $@

# --- userspace ---------------------------------------------------------------
$(OUTPUT)/src/%.o: src/%.c $(SKELS) $(PROTO_HDRS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

# The bytes as a C array: od prints them in hex, sed makes them initializers.
# They land in a CDATA section, which "]]>" would end: refused here.
$(OUTPUT)/assets/%.c: src/%
	$(call msg,EMBED,$<)
	$(Q)mkdir -p $(@D)
	$(Q)if grep -qF ']]>' $<; then echo "$<: contains ']]>'" >&2; exit 1; fi
	$(Q){ echo 'const char asset_$(subst .,_,$(notdir $<))[] = {'; \
	  od -An -v -tx1 $< | sed 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	  echo '0 };'; } > $@

$(OUTPUT)/assets/%.o: $(OUTPUT)/assets/%.c
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BIN): $(OBJS) $(PROTO_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) $^ $(LDLIBS) -o $@

# --- unit tests --------------------------------------------------------------
.PHONY: unit-tests
unit-tests: $(UNIT_BINS)

$(OUTPUT)/tests/%: tests/unit/%.c $(LIB_OBJS) | $(OUTPUT)/tests
	$(call msg,CC-TEST,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) $< $(LIB_OBJS) $(LDLIBS) -lcmocka -o $@

# --- fuzzers -----------------------------------------------------------------
# tests/fuzz/fuzz_NAME.c: one libFuzzer harness per parser of untrusted bytes,
# built with FUZZ=1 against the same objects as the loader.
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(OUTPUT)/fuzz/%,$(FUZZ_SRCS))

.PHONY: fuzz-bins fuzzers fuzz
fuzz-bins: $(FUZZ_BINS)

$(OUTPUT)/fuzz/%: tests/fuzz/%.c $(LIB_OBJS)
	$(call msg,CC-FUZZ,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -fsanitize=fuzzer $< $(LIB_OBJS) $(LDLIBS) -o $@

fuzzers:
	$(Q)$(MAKE) --no-print-directory FUZZ=1 fuzz-bins

# Longer runs on demand: FUZZ_SECONDS per harness (default 60).
fuzz: deps fuzzers
	$(Q)tests/fuzz/run.sh $(or $(FUZZ_SECONDS),60)

# --- workloads ---------------------------------------------------------------
.PHONY: workloads
workloads: $(WL_LIBS) $(WL_BINS)

$(WL_DIR)/%.so: tools/workloads/%.c | $(WL_DIR)
	$(call msg,CC-SO,$@)
	$(Q)$(CC) $(WL_CFLAGS) -fPIC -shared $< -o $@

$(WL_DIR)/%: tools/workloads/%.c $(WL_LIBS) | $(WL_DIR)
	$(call msg,CC-WL,$@)
	$(Q)$(CC) $(WL_CFLAGS) -Itools/workloads $< -o $@ -L$(WL_DIR) -Wl,--as-needed \
		$(patsubst $(WL_DIR)/lib%.so,-l%,$(WL_LIBS)) -Wl,-rpath,'$$ORIGIN' -lpthread -lm

# --- in-process sampler --------------------------------------------------------
# libmemtel-sampler.so (tools/sampler/): LD_PRELOAD-ed into programs, so it is
# never built with the sanitizers (they must come first in a process).
SAMPLER := $(OUTPUT)/libmemtel-sampler.so
.PHONY: sampler
sampler: $(SAMPLER)

$(SAMPLER): tools/sampler/memtel_sampler.c tools/sampler/sampler_core.h | $(OUTPUT)
	$(call msg,CC-SO,$@)
	$(Q)$(CC) -O2 -g -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -fPIC -shared \
		-fvisibility=hidden -ftls-model=initial-exec $< -o $@ -ldl -lm

# --- top-level jobs ------------------------------------------------------------
.PHONY: deps
deps:
	$(Q)tools/deps.sh

.PHONY: test
test: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(MAKE) --no-print-directory ASAN=1 all
	$(Q)$(MAKE) --no-print-directory fuzzers
	$(Q)tests/run.sh

.PHONY: test-fast
test-fast: all
	$(Q)MEMTEL_SKIP_ASAN=1 tests/run.sh

.PHONY: demo
demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tools/demo.sh

.PHONY: bench
bench: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tools/bench/run.sh

.PHONY: install
install: $(BIN)
	install -D -m 0755 $(BIN) $(DESTDIR)$(prefix)/bin/memtel-bpf
	install -D -m 0755 $(SAMPLER) $(DESTDIR)$(prefix)/lib/libmemtel-sampler.so

.PHONY: clean
clean:
	$(call msg,CLEAN,)
	$(Q)rm -rf .output .output-asan .output-fuzz memtel-bpf

# benchmark programs (tools/bench/bench.mk defines bench-bins)
-include tools/bench/bench.mk

-include $(wildcard $(OUTPUT)/*.d $(OUTPUT)/tests/*.d $(OUTPUT)/proto/*.d) \
	$(patsubst %.o,%.d,$(OBJS))
