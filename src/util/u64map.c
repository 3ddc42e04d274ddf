// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * u64map.c - linear-probing hash map with tombstones; grows at 70% load
 * (counting tombstones) and rehashes away the tombstones as it grows.
 */
#include <errno.h>
#include <stdlib.h>

#include "util/hash.h"
#include "util/u64map.h"

void u64map__free(struct u64map *m)
{
	if (!m)
		return;
	free(m->keys);
	free(m->vals);
	free(m->state);
	m->keys = m->vals = NULL;
	m->state = NULL;
	m->cap = m->len = m->used = 0;
}

static int rehash(struct u64map *m, size_t cap)
{
	struct u64map n = { .cap = cap };
	size_t i;

	n.keys = malloc(cap * sizeof(*n.keys));
	n.vals = malloc(cap * sizeof(*n.vals));
	n.state = calloc(cap, 1);
	if (!n.keys || !n.vals || !n.state) {
		u64map__free(&n);
		return -ENOMEM;
	}
	for (i = 0; i < m->cap; i++) {
		size_t j;

		if (m->state[i] != 1)
			continue;
		j = hash__mix(m->keys[i]) & (cap - 1);
		while (n.state[j])
			j = (j + 1) & (cap - 1);
		n.state[j] = 1;
		n.keys[j] = m->keys[i];
		n.vals[j] = m->vals[i];
		n.len++;
	}
	n.used = n.len;
	u64map__free(m);
	*m = n;
	return 0;
}

int u64map__set(struct u64map *m, uint64_t key, uint64_t val)
{
	size_t i, tomb = (size_t)-1;

	if ((m->used + 1) * 10 >= m->cap * 7) {
		size_t cap = m->cap ? m->cap : 64;

		while ((m->len + 1) * 10 >= cap * 5)
			cap <<= 1;
		if (rehash(m, cap))
			return -ENOMEM;
	}
	i = hash__mix(key) & (m->cap - 1);
	while (m->state[i]) {
		if (m->state[i] == 1 && m->keys[i] == key) {
			m->vals[i] = val;
			return 0;
		}
		if (m->state[i] == 2 && tomb == (size_t)-1)
			tomb = i;
		i = (i + 1) & (m->cap - 1);
	}
	if (tomb != (size_t)-1)
		i = tomb;
	else
		m->used++;
	m->state[i] = 1;
	m->keys[i] = key;
	m->vals[i] = val;
	m->len++;
	return 0;
}

static size_t find(const struct u64map *m, uint64_t key)
{
	size_t i;

	if (!m->cap)
		return (size_t)-1;
	i = hash__mix(key) & (m->cap - 1);
	while (m->state[i]) {
		if (m->state[i] == 1 && m->keys[i] == key)
			return i;
		i = (i + 1) & (m->cap - 1);
	}
	return (size_t)-1;
}

uint64_t *u64map__get(const struct u64map *m, uint64_t key)
{
	size_t i = find(m, key);

	return i == (size_t)-1 ? NULL : &m->vals[i];
}

bool u64map__del(struct u64map *m, uint64_t key, uint64_t *val)
{
	size_t i = find(m, key);

	if (i == (size_t)-1)
		return false;
	if (val)
		*val = m->vals[i];
	m->state[i] = 2;
	m->len--;
	return true;
}

bool u64map__next(const struct u64map *m, size_t *it, uint64_t *key,
		  uint64_t *val)
{
	while (*it < m->cap) {
		size_t i = (*it)++;

		if (m->state[i] == 1) {
			if (key)
				*key = m->keys[i];
			if (val)
				*val = m->vals[i];
			return true;
		}
	}
	return false;
}
