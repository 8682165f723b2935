/* strmap.c -- a set of borrowed strings, each with the index it was first seen at */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "strmap.h"

/* 64-bit FNV-1a */
static unsigned long long strmap_hash(const char *s)
{
	unsigned long long h = 0xcbf29ce484222325ULL;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

static struct strmap_slot *strmap_find(const struct strmap *m, const char *key, unsigned long long h)
{
	size_t mask = m->cap - 1;

	for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
		struct strmap_slot *s = &m->slots[i];
		if (s->key == NULL || (s->hash == h && strcmp(s->key, key) == 0))
			return s;
	}
}

/* Doubles the table (or makes the first one); the load stays at most one half. */
static int strmap_grow(struct strmap *m)
{
	struct strmap bigger = { NULL, m->cap ? m->cap * 2 : 16, 0 };

	if (bigger.cap < m->cap) {
		errno = ENOMEM;
		return -1;
	}
	bigger.slots = calloc(bigger.cap, sizeof(*bigger.slots));
	if (bigger.slots == NULL)
		return -1;
	for (size_t i = 0; i < m->cap; i++) {
		if (m->slots[i].key)
			*strmap_find(&bigger, m->slots[i].key, m->slots[i].hash) = m->slots[i];
	}
	bigger.n = m->n;
	free(m->slots);
	*m = bigger;
	return 0;
}

int strmap_add(struct strmap *m, const char *key, size_t value, size_t *first)
{
	unsigned long long h = strmap_hash(key);
	struct strmap_slot *s;

	if ((m->n + 1) * 2 > m->cap && strmap_grow(m) < 0)
		return -1;
	s = strmap_find(m, key, h);
	if (s->key) {
		if (first)
			*first = s->value;
		return 1;
	}
	s->key = key;
	s->value = value;
	s->hash = h;
	m->n++;
	return 0;
}

int strmap_get(const struct strmap *m, const char *key, size_t *value)
{
	const struct strmap_slot *s;

	if (m->cap == 0)
		return 0;
	s = strmap_find(m, key, strmap_hash(key));
	if (s->key == NULL)
		return 0;
	*value = s->value;
	return 1;
}

void strmap_free(struct strmap *m)
{
	free(m->slots);
	m->slots = NULL;
	m->cap = m->n = 0;
}
