# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Benchmark programs for `make bench` (included by the top-level Makefile,
# which runs tools/bench/run.sh): the malloc/free workload and the "floor"
# loader that attaches an empty BPF program where memtel-bpf probes; the
# CPU-bound workload and the CPU-time recorder of the CPU benchmarks.

BENCH_DIR := $(OUTPUT)/bench
BENCH_BINS := $(BENCH_DIR)/mallocbench $(BENCH_DIR)/floor $(BENCH_DIR)/cpubench \
	$(BENCH_DIR)/cputime
# Built like distribution code, as the workloads are.
BENCH_WL_CFLAGS := -O2 -g -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -MMD -MP

.PHONY: bench-bins
bench-bins: $(BENCH_BINS)

bench: bench-bins

$(BENCH_DIR):
	$(Q)mkdir -p $@

$(BENCH_DIR)/floor.bpf.o: tools/bench/floor.bpf.c $(VMLINUX) | $(BENCH_DIR)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BENCH_DIR)/floor.skel.h: $(BENCH_DIR)/floor.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name floor_bpf > $@

$(BENCH_DIR)/floor: tools/bench/floor.c $(BENCH_DIR)/floor.skel.h
	$(call msg,CC-BENCH,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -I$(BENCH_DIR) $(ALL_LDFLAGS) $< $(LDLIBS) -o $@

$(BENCH_DIR)/mallocbench: tools/bench/mallocbench.c | $(BENCH_DIR)
	$(call msg,CC-BENCH,$@)
	$(Q)$(CC) $(BENCH_WL_CFLAGS) $< -o $@

# No frame pointers, as the workloads of the tests (perf -g walks them).
$(BENCH_DIR)/cpubench: tools/bench/cpubench.c | $(BENCH_DIR)
	$(call msg,CC-BENCH,$@)
	$(Q)$(CC) $(BENCH_WL_CFLAGS) -fomit-frame-pointer $< -o $@

$(BENCH_DIR)/cputime: tools/bench/cputime.c | $(BENCH_DIR)
	$(call msg,CC-BENCH,$@)
	$(Q)$(CC) $(BENCH_WL_CFLAGS) $< -o $@

-include $(wildcard $(BENCH_DIR)/*.d)
