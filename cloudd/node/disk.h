/* disk.h -- local disks: discovery, the claim policy (use labelled, initialise blank, never foreign), mkfs and mount */
#ifndef CLOUDD_DISK_H
#define CLOUDD_DISK_H

#include <limits.h>
#include <stddef.h>

#include <jansson.h>

#include "errmsg.h"

#define DISK_LABEL "CLOUDD"		/* filesystem label of cloudd's own disk */
#define DISK_PROBE_BYTES (1024 * 1024)	/* read at the start and at the end of a disk */
#define DISK_MIN_BYTES (64ULL << 20)	/* smaller disks are ignored */
#define DISK_MKFS_TIMEOUT_MS (10 * 60 * 1000)
#define DISK_MAX_LIST 32

/*
 * Policy (from the role): which disks cloudd may claim and how.
 * One disk holds the volumes; combining several disks (striping, LVM) is
 * out of scope: `select` says which one of the eligible disks is used.
 */
enum disk_init { DISK_INIT_NEVER, DISK_INIT_BLANK };
enum disk_select { DISK_SELECT_FIRST, DISK_SELECT_LARGEST };

struct disk_policy {
	enum disk_init init;	  /* blank disks: leave, or make a filesystem on them */
	char fs[8];		  /* "ext4" or "xfs" */
	char mountpoint[PATH_MAX];/* where the claimed disk is mounted (/var/lib/cloudd) */
	enum disk_select select;
	int allow_loop;		  /* consider loop devices (tests) */
	char include[DISK_MAX_LIST][32]; /* only these devices ("vdb"); none = all */
	size_t n_include;
	char wipe[DISK_MAX_LIST][32];	 /* may be wiped and initialised whatever they hold */
	size_t n_wipe;
};

enum disk_action { DISK_IGNORE, DISK_USE, DISK_INIT, DISK_WIPE };

struct disk_info {
	char name[32];		  /* "vdb" */
	char dev[64];		  /* "/dev/vdb" */
	unsigned long long size;  /* bytes */
	int removable, readonly, loop;
	char in_use[160];	  /* "" or why it is busy ("mounted at /", "has holders", "swap") */
	char mounted_at[PATH_MAX];/* where it (the whole disk) is mounted, "" = not */
	/* from the first and last MiB */
	int probed;
	int blank;		  /* every probed byte is zero */
	char content[96];	  /* "blank", "ext4 filesystem, label \"CLOUDD\"", "MBR partition table", ... */
	char fstype[8];		  /* "ext4" / "xfs" when recognised */
	char label[20];
	/* the decision */
	enum disk_action action;
	int selected;		  /* the disk that holds the volumes */
	char reason[160];
};

/* Parses the first and last bytes of a disk (pure; for tests from fixture headers). */
void disk_probe_data(const unsigned char *head, size_t head_len, const unsigned char *tail, size_t tail_len,
		     struct disk_info *d);

/*
 * Lists the block devices under <sysfs>/block and what uses them (mounts
 * from mountinfo, swaps, holders, partitions), and probes their content
 * through <devdir>/<name> when probe is set.
 */
int disk_scan(const char *sysfs, const char *devdir, const char *mountinfo, const char *swaps, int probe,
	      struct disk_info **out, size_t *n);

/* Decides for every disk (pure): action, reason, and which one is selected. */
void disk_decide(const struct disk_policy *p, struct disk_info *disks, size_t n);

/*
 * Carries out the decision for the selected disk: mkfs (INIT after checking
 * again that it is still blank; WIPE after zeroing its first and last MiB),
 * then mounts it at the policy's mountpoint unless it is mounted there.
 * Returns 0 when a disk is mounted (or none was selected: *claimed = 0), -1 with err.
 */
int disk_apply(const struct disk_policy *p, struct disk_info *disks, size_t n, int *claimed,
	       struct errmsg *err);

/*
 * All of it at start-up: parses the policy text (disk_policy_parse), scans
 * <sysfs>/block (probing through /dev), decides, and applies unless
 * dry_run. *report (caller decrefs) lists every disk and its decision for
 * sysinfo, also on error when the scan got that far; *claimed says whether a
 * disk is mounted at the policy's mountpoint.
 */
int disk_claim(const char *policy_text, const char *sysfs, const char *mountinfo, int dry_run,
	       json_t **report, int *claimed, struct errmsg *err);

/* The disks and decisions as a JSON array for sysinfo. */
json_t *disk_report(const struct disk_info *disks, size_t n);

/* Parses "init=blank fs=ext4 select=largest allow_loop=1 include=vdb,vdc wipe=vdd mountpoint=/x". */
int disk_policy_parse(const char *text, struct disk_policy *p, struct errmsg *err);

const char *disk_action_name(enum disk_action a);

#endif
