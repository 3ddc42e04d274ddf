/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * uprobe_multi_compat.h - the one place that knows libbpf 1.1 lacks
 * uprobe_multi links (kernel 6.6+) and the uprobe session attach type
 * (kernel 6.12+). With libbpf >= 1.5 (bpf_program__attach_uprobe_multi
 * with or without .session, SEC("uprobe.multi"), SEC("uprobe.session"))
 * this file's body becomes a call into libbpf.
 */
#ifndef MEMTEL_UPROBE_MULTI_COMPAT_H
#define MEMTEL_UPROBE_MULTI_COMPAT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <bpf/libbpf.h>

/* Mark prog to be loaded as a uprobe session program (call before load). */
void uprobe_multi_compat__set_session(struct bpf_program *prog);

/* Mark prog to be loaded as a (plain, entry) uprobe_multi program. */
void uprobe_multi_compat__set_multi(struct bpf_program *prog);

/* Does the running kernel take a uprobe session link? Creates a link on
 * an offset the kernel must reject and tells the answers apart: 0 if
 * sessions work, -EOPNOTSUPP (or the errno seen) if not. prog must be
 * loaded as a session program. */
int uprobe_multi_compat__probe(struct bpf_program *prog);

/* Attach prog at cnt file offsets of path in process pid (0: any) as one
 * uprobe session link, cookies[i] for offs[i]. A link fd, or -errno. */
int uprobe_multi_compat__attach_session(struct bpf_program *prog, pid_t pid,
					const char *path,
					const uint64_t *offs,
					const uint64_t *cookies, size_t cnt);

/* The same as one plain uprobe_multi link (entry only): prog must be
 * loaded with uprobe_multi_compat__set_multi(). */
int uprobe_multi_compat__attach(struct bpf_program *prog, pid_t pid,
				const char *path, const uint64_t *offs,
				const uint64_t *cookies, size_t cnt);

#endif /* MEMTEL_UPROBE_MULTI_COMPAT_H */
