/* lib_strmap.c -- the string map that uniqueness checks use: first index kept, growth, lookups */
#include <stdio.h>

#include "strmap.h"
#include "unit.h"

TEST(first_value_is_kept)
{
	struct strmap m = STRMAP_INIT;
	size_t first = 99, v;

	CHECK_INT(strmap_get(&m, "a", &v), 0);
	CHECK_INT(strmap_add(&m, "a", 0, &first), 0);
	CHECK_INT(first, 99);
	CHECK_INT(strmap_add(&m, "b", 1, NULL), 0);
	CHECK_INT(strmap_add(&m, "a", 2, &first), 1);
	CHECK_INT(first, 0);
	CHECK_INT(strmap_get(&m, "a", &v), 1);
	CHECK_INT(v, 0);
	CHECK_INT(strmap_get(&m, "b", &v), 1);
	CHECK_INT(v, 1);
	CHECK_INT(strmap_get(&m, "", &v), 0);
	CHECK_INT(strmap_add(&m, "", 3, NULL), 0);
	CHECK_INT(strmap_get(&m, "", &v), 1);
	CHECK_INT(v, 3);
	CHECK_INT((int)m.n, 3);
	strmap_free(&m);
	CHECK_INT(strmap_get(&m, "a", &v), 0);
}

TEST(many_keys_survive_growth)
{
	static char keys[5000][16];
	struct strmap m = STRMAP_INIT;
	size_t v, first;

	for (size_t i = 0; i < 5000; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k-%zu", i);
		CHECK_INT(strmap_add(&m, keys[i], i, NULL), 0);
	}
	CHECK_INT((int)m.n, 5000);
	CHECK(m.cap >= 10000);
	for (size_t i = 0; i < 5000; i++) {
		CHECK_INT(strmap_get(&m, keys[i], &v), 1);
		CHECK_INT((int)v, (int)i);
	}
	/* an equal string at another address is the same key */
	CHECK_INT(strmap_add(&m, "k-4321", 7, &first), 1);
	CHECK_INT((int)first, 4321);
	CHECK_INT(strmap_get(&m, "k-5000", &v), 0);
	strmap_free(&m);
}
