/* controller_scheduler.c -- placement: room, overcommit, labels, anti-affinity, roles, and the explanation when nothing fits */
#include <string.h>

#include "controller.h"
#include "unit.h"

static struct sched_node node(const char *id, const char *state, long long cpus, long long mem, long long disk,
			      long long used_mem)
{
	struct sched_node n;

	memset(&n, 0, sizeof(n));
	snprintf(n.id, sizeof(n.id), "%s", id);
	snprintf(n.state, sizeof(n.state), "%s", state);
	snprintf(n.role, sizeof(n.role), "hypervisor");
	n.vcpus = cpus, n.memory_mib = mem, n.disk_gib = disk, n.used_memory_mib = used_mem;
	return n;
}

static struct sched_request req(long long cpus, long long mem, long long disk)
{
	return (struct sched_request){ "hypervisor", cpus, mem, disk, NULL, 1.0, 1.0, 1.0 };
}

TEST(picks_the_node_with_most_free_memory)
{
	struct sched_node n[3] = { node("n-a", "up", 4, 4096, 100, 3000), node("n-b", "up", 4, 8192, 100, 1000),
				   node("n-c", "up", 4, 4096, 100, 0) };
	struct sched_request r = req(1, 512, 10);
	struct buf why = BUF_INIT;
	int ever;

	CHECK_INT(sched_pick(n, 3, &r, &why, &ever), 1);
	CHECK(ever);
	buf_free(&why);
}

TEST(explains_each_node_when_nothing_fits)
{
	struct sched_node n[2] = { node("node-a", "up", 4, 4096, 100, 2048), node("node-b", "down", 4, 8192, 100, 0) };
	struct sched_request r = req(1, 4096, 10);
	struct buf why = BUF_INIT;
	int ever;

	CHECK_INT(sched_pick(n, 2, &r, &why, &ever), -1);
	CHECK(ever); /* both could hold it when empty and up */
	CHECK_STR(why.data, "no node with 4 GiB free: node-a 2 GiB free, node-b down");
	buf_free(&why);
}

TEST(too_big_for_any_node)
{
	struct sched_node n[1] = { node("n-a", "up", 2, 2048, 20, 0) };
	struct sched_request r = req(1, 8192, 10);
	struct buf why = BUF_INIT;
	int ever;

	CHECK_INT(sched_pick(n, 1, &r, &why, &ever), -1);
	CHECK(!ever);
	buf_free(&why);
}

TEST(overcommit_ratios_apply)
{
	struct sched_node n[1] = { node("n-a", "up", 2, 2048, 20, 0) };
	struct sched_request r = req(6, 512, 10);
	struct buf why = BUF_INIT;
	int ever;

	n[0].used_vcpus = 2;
	CHECK_INT(sched_pick(n, 1, &r, &why, &ever), -1);
	CHECK_CONTAINS(why.data, "no node with 6 vCPUs free: n-a 0 vCPUs free");
	r.cpu_overcommit = 4.0; /* 8 vCPUs schedulable, 2 used */
	CHECK_INT(sched_pick(n, 1, &r, &why, &ever), 0);
	r.disk_gib = 30;
	CHECK_INT(sched_pick(n, 1, &r, &why, &ever), -1);
	CHECK_CONTAINS(why.data, "GiB disk free");
	r.disk_overcommit = 2.0;
	CHECK_INT(sched_pick(n, 1, &r, &why, &ever), 0);
	buf_free(&why);
}

TEST(labels_anti_affinity_and_roles)
{
	struct sched_node n[3] = { node("n-a", "up", 4, 4096, 100, 0), node("n-b", "up", 4, 4096, 100, 1000),
				   node("n-c", "up", 4, 8192, 100, 0) };
	struct sched_request r = req(1, 512, 10);
	struct buf why = BUF_INIT;
	json_t *want = json_pack("{s:s}", "rack", "r2");
	int ever;

	n[0].labels = json_pack("{s:s}", "rack", "r1");
	n[1].labels = json_pack("{s:s,s:s}", "rack", "r2", "ssd", "yes");
	snprintf(n[2].role, sizeof(n[2].role), "storage"); /* not a candidate */
	r.labels = want;
	CHECK_INT(sched_pick(n, 3, &r, &why, &ever), 1);
	n[1].has_anti_affinity = 1;
	CHECK_INT(sched_pick(n, 3, &r, &why, &ever), -1);
	CHECK_CONTAINS(why.data, "n-a labels do not match, n-b anti-affinity");
	CHECK(strstr(why.data, "n-c") == NULL);
	json_decref(want);
	json_decref(n[0].labels);
	json_decref(n[1].labels);
	buf_free(&why);
}

TEST(no_nodes)
{
	struct sched_request r = req(1, 512, 10);
	struct buf why = BUF_INIT;
	int ever;

	CHECK_INT(sched_pick(NULL, 0, &r, &why, &ever), -1);
	CHECK_STR(why.data, "no hypervisor node");
	buf_free(&why);
}
