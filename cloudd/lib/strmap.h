/* strmap.h -- a set of borrowed strings, each with the index it was first seen at */
#ifndef CLOUDD_STRMAP_H
#define CLOUDD_STRMAP_H

#include <stddef.h>

/*
 * Open addressing over a power-of-two table. The map borrows each key: the
 * string must outlive the map. It is what checks "unique across the
 * document" take, instead of comparing every pair: a document with a
 * thousand instances checks its ids, MACs and addresses in linear time.
 */
struct strmap {
	struct strmap_slot {
		const char *key; /* NULL: empty */
		size_t value;
		unsigned long long hash;
	} *slots;
	size_t cap; /* slots; a power of two, or 0 before the first insert */
	size_t n;
};

#define STRMAP_INIT { NULL, 0, 0 }

/*
 * Adds key with value unless the map has it: returns 0 when added, 1 when the
 * key was there (then *first, if not NULL, is the value it was added with),
 * -1 with ENOMEM.
 */
int strmap_add(struct strmap *m, const char *key, size_t value, size_t *first);
/* 1 with *value when the map has key, else 0. */
int strmap_get(const struct strmap *m, const char *key, size_t *value);
void strmap_free(struct strmap *m);

#endif
