/* scheduler.c -- places an instance on an up node with room, honouring labels and anti-affinity, and says why not */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"

static const char *sched_size(long long mib, char *out, size_t outlen)
{
	if (mib >= 1024 && mib % 1024 == 0)
		snprintf(out, outlen, "%lld GiB", mib / 1024);
	else if (mib >= 1024)
		snprintf(out, outlen, "%.1f GiB", (double)mib / 1024.0);
	else
		snprintf(out, outlen, "%lld MiB", mib);
	return out;
}

static int sched_labels_match(json_t *want, json_t *have)
{
	const char *k;
	json_t *v;

	json_object_foreach(want, k, v) {
		json_t *h = have ? json_object_get(have, k) : NULL;
		if (h == NULL || !json_equal(h, v))
			return 0;
	}
	return 1;
}

int sched_pick(const struct sched_node *nodes, size_t n, const struct sched_request *r, struct buf *why,
	       int *ever_fits)
{
	long long best_free = -1;
	int best = -1, shown = 0;
	char a[32], b[32];
	/* the first shortage decides the headline: memory, then vCPUs, then disk */
	const char *headline = NULL;

	*ever_fits = 0;
	buf_reset(why);
	for (size_t i = 0; i < n; i++) {
		const struct sched_node *s = &nodes[i];
		long long free_mem = (long long)((double)s->memory_mib * r->memory_overcommit) - s->used_memory_mib;
		long long free_cpu = (long long)((double)s->vcpus * r->cpu_overcommit) - s->used_vcpus;
		long long free_disk = (long long)((double)s->disk_gib * r->disk_overcommit) - s->used_disk_gib;
		char reason[160];

		reason[0] = '\0';
		if (r->role && strcmp(s->role, r->role) != 0)
			continue; /* other roles are not candidates at all */
		if ((long long)((double)s->memory_mib * r->memory_overcommit) >= r->memory_mib &&
		    (long long)((double)s->vcpus * r->cpu_overcommit) >= r->vcpus &&
		    (long long)((double)s->disk_gib * r->disk_overcommit) >= r->disk_gib && sched_labels_match(r->labels, s->labels))
			*ever_fits = 1;
		if (strcmp(s->state, "up") != 0)
			snprintf(reason, sizeof(reason), "%s", s->state);
		else if (r->labels && !sched_labels_match(r->labels, s->labels))
			snprintf(reason, sizeof(reason), "labels do not match");
		else if (s->has_anti_affinity)
			snprintf(reason, sizeof(reason), "anti-affinity");
		else if (free_mem < r->memory_mib)
			snprintf(reason, sizeof(reason), "%s free", sched_size(free_mem < 0 ? 0 : free_mem, a, sizeof(a))),
				headline = headline ? headline : "memory";
		else if (free_cpu < r->vcpus)
			snprintf(reason, sizeof(reason), "%lld vCPUs free", free_cpu < 0 ? 0 : free_cpu),
				headline = headline ? headline : "cpu";
		else if (free_disk < r->disk_gib)
			snprintf(reason, sizeof(reason), "%lld GiB disk free", free_disk < 0 ? 0 : free_disk),
				headline = headline ? headline : "disk";
		if (reason[0]) {
			if (shown < 16)
				buf_printf(why, "%s%s %s", shown ? ", " : "", s->id, reason);
			else if (shown == 16)
				buf_puts(why, ", ...");
			shown++;
			continue;
		}
		if (free_mem > best_free) {
			best_free = free_mem;
			best = (int)i;
		}
	}
	if (best >= 0) {
		buf_reset(why);
		return best;
	}
	{
		struct buf text = BUF_INIT;
		if (shown == 0)
			buf_printf(&text, "no %s node", r->role ? r->role : "");
		else if (headline && strcmp(headline, "cpu") == 0)
			buf_printf(&text, "no node with %lld vCPUs free: %s", r->vcpus, why->data);
		else if (headline && strcmp(headline, "disk") == 0)
			buf_printf(&text, "no node with %lld GiB disk free: %s", r->disk_gib, why->data);
		else
			buf_printf(&text, "no node with %s free: %s", sched_size(r->memory_mib, b, sizeof(b)), why->data);
		buf_reset(why);
		if (text.data)
			buf_puts(why, text.data);
		buf_free(&text);
	}
	errno = ENOSPC;
	return -1;
}

/* Disk capacity from sysinfo: the writable, non-removable block devices. */
static long long sched_disk_gib(json_t *sysinfo)
{
	json_t *devs = json_object_get(sysinfo, "block_devices"), *d;
	long long bytes = 0;
	size_t i;

	json_array_foreach(devs, i, d) {
		if (json_is_true(json_object_get(d, "removable")) || json_is_true(json_object_get(d, "read_only")))
			continue;
		bytes += json_integer_value(json_object_get(d, "size_bytes"));
	}
	return bytes >> 30;
}

int sched_load(struct controller *ctrl, const char *anti_affinity, const char *account_id,
	       struct sched_node **out, size_t *n)
{
	/* one pass over the instances for every node's usage (not a subquery per node) */
	sqlite3_stmt *st = db_prepare(&ctrl->db,
		"SELECT n.id, n.state, coalesce(n.role, ''), coalesce(n.cpu_count, 0), coalesce(n.memory_bytes, 0), n.sysinfo,"
		" coalesce(m.labels, '{}'), coalesce(u.vcpus, 0), coalesce(u.mem, 0), coalesce(u.disk, 0), coalesce(u.aa, 0)"
		" FROM nodes n LEFT JOIN machines m ON m.id = n.machine_id LEFT JOIN"
		" (SELECT node_id, sum(vcpus) AS vcpus, sum(memory_mib) AS mem, sum(disk_gib) AS disk,"
		"   sum(?1 IS NOT NULL AND anti_affinity = ?1 AND account_id = ?2) AS aa"
		"   FROM instances WHERE power != 'deleted' AND node_id IS NOT NULL GROUP BY node_id) u ON u.node_id = n.id"
		" ORDER BY n.id");
	struct sched_node *v = NULL;
	size_t cnt = 0, cap = 0;

	*out = NULL;
	*n = 0;
	if (st == NULL)
		return -1;
	db_bind_text(st, 1, anti_affinity);
	db_bind_text(st, 2, account_id);
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct sched_node *s;
		json_t *sys;
		if (cnt == cap) {
			struct sched_node *nv = realloc(v, (cap = cap ? cap * 2 : 16) * sizeof(*v));
			if (nv == NULL) {
				sched_free(v, cnt);
				sqlite3_finalize(st);
				errno = ENOMEM;
				return -1;
			}
			v = nv;
		}
		s = &v[cnt++];
		memset(s, 0, sizeof(*s));
		snprintf(s->id, sizeof(s->id), "%s", db_col_text(st, 0));
		snprintf(s->state, sizeof(s->state), "%s", db_col_text(st, 1));
		snprintf(s->role, sizeof(s->role), "%s", db_col_text(st, 2));
		s->vcpus = sqlite3_column_int64(st, 3);
		s->memory_mib = sqlite3_column_int64(st, 4) >> 20;
		sys = db_col_text(st, 5) ? json_loads(db_col_text(st, 5), 0, NULL) : NULL;
		s->disk_gib = sys ? sched_disk_gib(sys) : 0;
		json_decref(sys);
		s->labels = json_loads(db_col_text(st, 6), 0, NULL);
		s->used_vcpus = sqlite3_column_int64(st, 7);
		s->used_memory_mib = sqlite3_column_int64(st, 8);
		s->used_disk_gib = sqlite3_column_int64(st, 9);
		s->has_anti_affinity = sqlite3_column_int64(st, 10) > 0;
	}
	sqlite3_finalize(st);
	*out = v;
	*n = cnt;
	return 0;
}

void sched_free(struct sched_node *nodes, size_t n)
{
	for (size_t i = 0; i < n; i++)
		json_decref(nodes[i].labels);
	free(nodes);
}
