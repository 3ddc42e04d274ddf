/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * targets.h - the processes a session has seen, by pid, each opened
 * (struct target) the first time a sample from it arrives. A pid that
 * cannot be opened (it exited first) is remembered as such and its frames
 * stay unsymbolized addresses.
 */
#ifndef MEMTEL_TARGETS_H
#define MEMTEL_TARGETS_H

#include <stddef.h>
#include <sys/types.h>

#include "process/target.h"

struct targets;

/* max: how many processes may be open at once (memory bound). */
struct targets *targets__new(size_t max);
void targets__free(struct targets *tg);
/* The target for pid, opened on first use; NULL if it cannot be. */
struct target *targets__get(struct targets *tg, pid_t pid);
/* The image number of pid's open target: a new one (>= 1) at every
 * opening, so a pid that exec'd or was reused has another; 0 when none is
 * open (never opened, failed, forgotten or reaped). */
uint32_t targets__image(const struct targets *tg, pid_t pid);
/* Only look: NULL if pid was never opened. */
struct target *targets__find(struct targets *tg, pid_t pid);
/* Close the targets of processes that have exited (except keep_pid, the
 * session's own target, whose files the summary still reads); a later
 * sample from a reused pid opens it afresh. Returns how many closed. */
size_t targets__reap(struct targets *tg, pid_t keep_pid);
/* Drop what is known of pid (it exec'd a new image): the next
 * targets__get() opens it afresh. */
void targets__forget(struct targets *tg, pid_t pid);
/* Hand an already opened target to the registry (which then owns it). */
int targets__add(struct targets *tg, struct target *t);

#endif /* MEMTEL_TARGETS_H */
