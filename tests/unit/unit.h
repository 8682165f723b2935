/* unit.h -- a small unit test harness: TEST() functions, CHECK macros, one summary line */
#ifndef UNIT_H
#define UNIT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Each test file is one program. TEST(name) defines and registers a test;
 * CHECK* macros record a failure and return from the test. The program prints
 * "ok NAME" or "FAIL NAME: where: what" per test and ends with the line
 * "N passed, N failed"; it exits 1 when anything failed. UNIT_FIXTURES names
 * the fixture directory (tests/unit/fixtures) for tests that read files.
 */

typedef void (*unit_fn)(void);

struct unit_test {
	const char *name;
	unit_fn fn;
};

/* The table grows with the tests registered: none is ever left out. */
static struct unit_test *unit_tests;
static int unit_count, unit_capacity;
static int unit_current_failed;

static inline void unit_register(const char *name, unit_fn fn)
{
	if (unit_count == unit_capacity) {
		int capacity = unit_capacity ? 2 * unit_capacity : 64;
		struct unit_test *t = realloc(unit_tests, (size_t)capacity * sizeof(*t));

		if (t == NULL) {
			fprintf(stderr, "unit.h: out of memory registering test %s (%d registered)\n",
				name, unit_count);
			abort();
		}
		unit_tests = t;
		unit_capacity = capacity;
	}
	unit_tests[unit_count++] = (struct unit_test){ name, fn };
}

#define TEST(name)                                                             \
	static void name(void);                                                \
	__attribute__((constructor)) static void unit_register_##name(void)    \
	{                                                                      \
		unit_register(#name, name);                                    \
	}                                                                      \
	static void name(void)

#define UNIT_FAIL(...)                                                         \
	do {                                                                   \
		printf("FAIL %s: %s:%d: ", unit_tests[unit_index].name,      \
		       __FILE__, __LINE__);                                    \
		printf(__VA_ARGS__);                                           \
		printf("\n");                                                  \
		unit_current_failed = 1;                                       \
		return;                                                        \
	} while (0)

#define CHECK(expr)                                                            \
	do {                                                                   \
		if (!(expr))                                                   \
			UNIT_FAIL("%s", #expr);                                \
	} while (0)

#define CHECK_INT(got, want)                                                   \
	do {                                                                   \
		long long unit_g = (long long)(got), unit_w = (long long)(want); \
		if (unit_g != unit_w)                                          \
			UNIT_FAIL("%s == %lld, want %lld", #got, unit_g, unit_w); \
	} while (0)

#define CHECK_STR(got, want)                                                   \
	do {                                                                   \
		const char *unit_g = (got), *unit_w = (want);                  \
		if (unit_g == NULL || strcmp(unit_g, unit_w) != 0)             \
			UNIT_FAIL("%s == \"%s\", want \"%s\"", #got,          \
				  unit_g ? unit_g : "(null)", unit_w);         \
	} while (0)

/* true when haystack contains needle */
#define CHECK_CONTAINS(haystack, needle)                                       \
	do {                                                                   \
		const char *unit_h = (haystack), *unit_n = (needle);           \
		if (unit_h == NULL || strstr(unit_h, unit_n) == NULL)          \
			UNIT_FAIL("%s = \"%s\" does not contain \"%s\"", #haystack, \
				  unit_h ? unit_h : "(null)", unit_n);         \
	} while (0)

static int unit_index;

/* Path of a fixture file, in a static buffer. */
static inline const char *unit_fixture(const char *rel)
{
	static char path[4096];
	const char *dir = getenv("UNIT_FIXTURES");
	snprintf(path, sizeof(path), "%s/%s", dir ? dir : "tests/unit/fixtures", rel);
	return path;
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0;
	const char *only = argc > 1 ? argv[1] : NULL;

	for (unit_index = 0; unit_index < unit_count; unit_index++) {
		if (only && strcmp(only, unit_tests[unit_index].name) != 0)
			continue;
		unit_current_failed = 0;
		unit_tests[unit_index].fn();
		if (unit_current_failed) {
			failed++;
		} else {
			passed++;
			printf("ok %s\n", unit_tests[unit_index].name);
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	free(unit_tests);
	return failed ? 1 : 0;
}

#endif
