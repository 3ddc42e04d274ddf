// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * floor.bpf.c - the cheapest uprobe program there is, for `make bench`.
 *
 * tools/bench/floor.c attaches it where memtel-bpf attaches its probes
 * (malloc's entry, free+3, optionally malloc's return), so the benchmark can
 * tell the kernel's fixed cost of a uprobe hit (breakpoint trap, instruction
 * emulation, uretprobe trampoline) from what memtel's programs add on top.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("uprobe")
int noop(void *ctx)
{
	return 0;
}
