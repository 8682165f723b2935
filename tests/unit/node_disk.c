/* node_disk.c -- unit tests for disk discovery (fixture /sys tree) and the claim policy (fixture disk headers) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "disk.h"
#include "unit.h"

static unsigned char head[DISK_PROBE_BYTES], tail[DISK_PROBE_BYTES];

/* Loads a recorded disk header (first 4 KiB written by mkfs) into head. */
static int load_header(const char *name)
{
	char rel[128];
	FILE *f;

	memset(head, 0, sizeof(head));
	memset(tail, 0, sizeof(tail));
	snprintf(rel, sizeof(rel), "disk/headers/%s", name);
	f = fopen(unit_fixture(rel), "rb");
	if (f == NULL)
		return -1;
	size_t n = fread(head, 1, 4096, f);
	fclose(f);
	return n == 4096 ? 0 : -1;
}

static struct disk_info *find(struct disk_info *d, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(d[i].name, name) == 0)
			return &d[i];
	return NULL;
}

TEST(disk_probe_recognises_headers)
{
	struct disk_info d = { 0 };

	CHECK_INT(load_header("ext4-cloudd.bin"), 0);
	disk_probe_data(head, sizeof(head), tail, sizeof(tail), &d);
	CHECK(!d.blank);
	CHECK_STR(d.fstype, "ext4");
	CHECK_STR(d.label, "CLOUDD");
	CHECK_INT(load_header("ext4-data.bin"), 0);
	disk_probe_data(head, sizeof(head), tail, sizeof(tail), &d);
	CHECK_STR(d.label, "data");
	CHECK_INT(load_header("xfs-cloudd.bin"), 0);
	disk_probe_data(head, sizeof(head), tail, sizeof(tail), &d);
	CHECK_STR(d.fstype, "xfs");
	CHECK_STR(d.label, "CLOUDD");

	memset(head, 0, sizeof(head));
	disk_probe_data(head, sizeof(head), tail, sizeof(tail), &d);
	CHECK(d.blank);
	CHECK_STR(d.content, "blank");
	/* one byte at the very end (a GPT backup header, say) is not blank */
	tail[sizeof(tail) - 1] = 1;
	disk_probe_data(head, sizeof(head), tail, sizeof(tail), &d);
	CHECK(!d.blank);
	CHECK_CONTAINS(d.content, "unrecognised");
	tail[sizeof(tail) - 1] = 0;
	memcpy(head + 512, "EFI PART", 8);
	head[510] = 0x55;
	head[511] = 0xaa;
	disk_probe_data(head, sizeof(head), tail, sizeof(tail), &d);
	CHECK_STR(d.content, "GPT partition table");
	memset(head + 512, 0, 8);
	disk_probe_data(head, sizeof(head), tail, sizeof(tail), &d);
	CHECK_CONTAINS(d.content, "MBR");
	CHECK_STR(d.fstype, "");
}

static int scan(struct disk_info **d, size_t *n)
{
	char sys[4096], mi[4096], sw[4096];

	snprintf(sys, sizeof(sys), "%s", unit_fixture("disk/sys"));
	snprintf(mi, sizeof(mi), "%s", unit_fixture("disk/mountinfo"));
	snprintf(sw, sizeof(sw), "%s", unit_fixture("disk/swaps"));
	return disk_scan(sys, "/dev", mi, sw, 0, d, n);
}

/* Gives fixture disk `name` the content of a header (or blank). */
static void give(struct disk_info *d, size_t n, const char *name, const char *header)
{
	struct disk_info *x = find(d, n, name);

	if (header)
		load_header(header);
	else {
		memset(head, 0, sizeof(head));
		memset(tail, 0, sizeof(tail));
	}
	if (x)
		disk_probe_data(head, sizeof(head), tail, sizeof(tail), x);
}

TEST(disk_scan_reads_the_sys_tree)
{
	struct disk_info *d = NULL;
	size_t n = 0;

	CHECK_INT(scan(&d, &n), 0);
	/* sr0 is skipped as a virtual/optical device; the rest sorted by name */
	CHECK_INT(n, 7);
	CHECK_STR(d[0].name, "loop0");
	CHECK(find(d, n, "sr0") == NULL);
	struct disk_info *vda = find(d, n, "vda");
	CHECK(vda != NULL);
	CHECK_INT(vda->size, 41943040ULL * 512);
	CHECK_CONTAINS(vda->in_use, "partition vda1 mounted at /");
	CHECK_STR(find(d, n, "vdd")->mounted_at, "/var/lib/cloudd");
	CHECK(find(d, n, "sdx")->removable);
	CHECK(find(d, n, "loop0")->loop);
	CHECK_STR(find(d, n, "vdb")->dev, "/dev/vdb");
	free(d);
}

TEST(disk_policy_blank_disk_initialised_only_when_allowed)
{
	struct disk_info *d = NULL;
	struct disk_policy p;
	struct errmsg err = { 0 };
	size_t n = 0;

	CHECK_INT(disk_policy_parse("init=never", &p, &err), 0);
	CHECK_INT(scan(&d, &n), 0);
	give(d, n, "vdb", NULL);
	give(d, n, "vdc", "ext4-data.bin");
	give(d, n, "vdd", "mbr.bin"); /* no such fixture: stays unprobed below */
	find(d, n, "vdd")->mounted_at[0] = '\0';
	give(d, n, "vdd", NULL);
	find(d, n, "vdd")->probed = 0;
	disk_decide(&p, d, n);
	CHECK_INT(find(d, n, "vdb")->action, DISK_IGNORE);
	CHECK_CONTAINS(find(d, n, "vdb")->reason, "init=never");
	CHECK_INT(find(d, n, "vdc")->action, DISK_IGNORE);
	CHECK_CONTAINS(find(d, n, "vdc")->reason, "foreign content left alone: ext2/3/4 filesystem, label \"data\"");
	CHECK_CONTAINS(find(d, n, "vda")->reason, "in use");
	CHECK_CONTAINS(find(d, n, "sdx")->reason, "removable");
	CHECK_CONTAINS(find(d, n, "loop0")->reason, "loop device");

	CHECK_INT(disk_policy_parse("init=blank fs=xfs", &p, &err), 0);
	disk_decide(&p, d, n);
	CHECK_INT(find(d, n, "vdb")->action, DISK_INIT);
	CHECK(find(d, n, "vdb")->selected);
	CHECK_INT(find(d, n, "vdc")->action, DISK_IGNORE);
	/* the boot disk is never a candidate, whatever the policy */
	CHECK_INT(find(d, n, "vda")->action, DISK_IGNORE);
	free(d);
}

TEST(disk_policy_labelled_disk_wins_and_foreign_needs_wipe)
{
	struct disk_info *d = NULL;
	struct disk_policy p;
	struct errmsg err = { 0 };
	size_t n = 0;

	CHECK_INT(scan(&d, &n), 0);
	give(d, n, "vdb", NULL);
	give(d, n, "vdc", "ext4-data.bin");
	give(d, n, "vdd", "xfs-cloudd.bin");
	CHECK_INT(disk_policy_parse("init=blank select=largest", &p, &err), 0);
	disk_decide(&p, d, n);
	/* vdd carries the label and is mounted at the mountpoint: used as it is */
	CHECK_INT(find(d, n, "vdd")->action, DISK_USE);
	CHECK(find(d, n, "vdd")->selected);
	CHECK_INT(find(d, n, "vdb")->action, DISK_IGNORE);
	CHECK_CONTAINS(find(d, n, "vdb")->reason, "not selected: vdd holds the volumes");

	/* mounted somewhere else: in use, not ours to take */
	snprintf(find(d, n, "vdd")->mounted_at, sizeof(d[0].mounted_at), "/mnt");
	CHECK_INT(disk_policy_parse("init=never wipe=vdc", &p, &err), 0);
	disk_decide(&p, d, n);
	CHECK_INT(find(d, n, "vdd")->action, DISK_IGNORE);
	CHECK_INT(find(d, n, "vdc")->action, DISK_WIPE);
	CHECK(find(d, n, "vdc")->selected);

	/* include list: only the listed devices are considered */
	CHECK_INT(disk_policy_parse("init=blank include=vdc", &p, &err), 0);
	disk_decide(&p, d, n);
	CHECK_CONTAINS(find(d, n, "vdb")->reason, "not in the policy's device list");
	CHECK_INT(find(d, n, "vdc")->action, DISK_IGNORE);
	json_t *rep = disk_report(d, n);
	CHECK_INT(json_array_size(rep), n);
	CHECK(json_is_string(json_object_get(json_array_get(rep, 0), "reason")));
	json_decref(rep);
	free(d);
}

TEST(disk_policy_parse_rejects_bad_values)
{
	struct disk_policy p;
	struct errmsg err = { 0 };

	CHECK_INT(disk_policy_parse("init=always", &p, &err), -1);
	CHECK_STR(err.field, "init");
	memset(&err, 0, sizeof(err));
	CHECK_INT(disk_policy_parse("fs=btrfs", &p, &err), -1);
	memset(&err, 0, sizeof(err));
	CHECK_INT(disk_policy_parse("mountpoint=relative", &p, &err), -1);
	memset(&err, 0, sizeof(err));
	CHECK_INT(disk_policy_parse("init", &p, &err), -1);
	CHECK_INT(disk_policy_parse("init=blank fs=xfs select=largest allow_loop=1 include=loop5,loop6 "
				    "mountpoint=/srv/c", &p, &err), 0);
	CHECK_INT(p.n_include, 2);
	CHECK_STR(p.include[1], "loop6");
	CHECK_STR(p.mountpoint, "/srv/c");
	CHECK_INT(p.select, DISK_SELECT_LARGEST);
}
