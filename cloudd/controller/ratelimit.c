/* ratelimit.c -- per-address token buckets for the unsigned routes, in a table of fixed size */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"

/*
 * The table is set-associative: an address hashes to one set of
 * RATELIMIT_WAYS buckets and, when it has none there, takes the set's least
 * recently used one. Memory is fixed whatever the callers do, a lookup costs
 * RATELIMIT_WAYS comparisons, and a flood of new addresses evicts only
 * buckets of its own sets. An evicted address starts again with a full
 * bucket: the table bounds memory, not what a patient crowd of addresses
 * gets (the HTTP connection limit does that).
 */
struct ratelimit_bucket {
	char key[RATELIMIT_KEY_MAX];
	double tokens;
	double last;		 /* seconds (the caller's clock) of the last refill */
	unsigned long long used; /* for LRU within the set */
};

struct ratelimit {
	pthread_mutex_t lock;
	double rate, burst;
	unsigned long long clock, limited;
	struct ratelimit_bucket buckets[RATELIMIT_SETS * RATELIMIT_WAYS];
};

struct ratelimit *ratelimit_new(double rate, double burst)
{
	struct ratelimit *rl;

	if (!(rate > 0) || burst < 1) {
		errno = EINVAL;
		return NULL;
	}
	if ((rl = calloc(1, sizeof(*rl))) == NULL)
		return NULL;
	pthread_mutex_init(&rl->lock, NULL);
	rl->rate = rate;
	rl->burst = burst;
	return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
	if (rl == NULL)
		return;
	pthread_mutex_destroy(&rl->lock);
	free(rl);
}

/* FNV-1a: spreads addresses that differ in their last digits over the sets. */
static size_t ratelimit_set(const char *key)
{
	unsigned h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 16777619u;
	return (h % RATELIMIT_SETS) * RATELIMIT_WAYS;
}

unsigned ratelimit_take(struct ratelimit *rl, const char *key, double now)
{
	struct ratelimit_bucket *set, *b = NULL, *victim;
	unsigned wait = 0;

	pthread_mutex_lock(&rl->lock);
	set = &rl->buckets[ratelimit_set(key)];
	victim = set;
	for (size_t i = 0; i < RATELIMIT_WAYS; i++) {
		if (set[i].used && strncmp(set[i].key, key, sizeof(set[i].key) - 1) == 0) {
			b = &set[i];
			break;
		}
		if (set[i].used < victim->used)
			victim = &set[i];
	}
	if (b == NULL) {
		b = victim;
		snprintf(b->key, sizeof(b->key), "%s", key);
		b->tokens = rl->burst;
		b->last = now;
	} else if (now > b->last) {
		/* a clock that goes back (a test's, or a jump) refills nothing */
		b->tokens += (now - b->last) * rl->rate;
		if (b->tokens > rl->burst)
			b->tokens = rl->burst;
		b->last = now;
	}
	b->used = ++rl->clock;
	if (b->tokens >= 1) {
		b->tokens -= 1;
	} else {
		/* whole seconds (Retry-After), rounded up: a token is there by then */
		double seconds = (1 - b->tokens) / rl->rate;
		wait = seconds >= 3600 ? 3600 : (unsigned)seconds + ((double)(unsigned)seconds < seconds);
		if (wait == 0)
			wait = 1;
		rl->limited++;
	}
	pthread_mutex_unlock(&rl->lock);
	return wait;
}

size_t ratelimit_tracked(struct ratelimit *rl)
{
	size_t n = 0;

	pthread_mutex_lock(&rl->lock);
	for (size_t i = 0; i < RATELIMIT_SETS * RATELIMIT_WAYS; i++)
		n += rl->buckets[i].used != 0;
	pthread_mutex_unlock(&rl->lock);
	return n;
}

unsigned long long ratelimit_limited(struct ratelimit *rl)
{
	unsigned long long n;

	pthread_mutex_lock(&rl->lock);
	n = rl->limited;
	pthread_mutex_unlock(&rl->lock);
	return n;
}
