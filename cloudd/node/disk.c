/* disk.c -- local disks: discovery, the claim policy (use labelled, initialise blank, never foreign), mkfs and mount */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "disk.h"
#include "fsutil.h"
#include "log.h"
#include "proc.h"

const char *disk_action_name(enum disk_action a)
{
	switch (a) {
	case DISK_IGNORE: return "ignore";
	case DISK_USE: return "use";
	case DISK_INIT: return "initialise";
	case DISK_WIPE: return "wipe";
	}
	return "?";
}

static int all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

static void copy_label(char *out, size_t outlen, const unsigned char *src, size_t max)
{
	size_t n = 0;

	while (n < max && n + 1 < outlen && src[n] >= 0x20 && src[n] < 0x7f) {
		out[n] = (char)src[n];
		n++;
	}
	out[n] = '\0';
}

void disk_probe_data(const unsigned char *h, size_t hl, const unsigned char *t, size_t tl, struct disk_info *d)
{
	d->probed = 1;
	d->fstype[0] = d->label[0] = '\0';
	d->blank = all_zero(h, hl) && all_zero(t, tl);
	if (d->blank) {
		snprintf(d->content, sizeof(d->content), "blank");
		return;
	}
	if (hl >= 1144 + 16 && h[1080] == 0x53 && h[1081] == 0xef) {
		snprintf(d->fstype, sizeof(d->fstype), "ext4");
		copy_label(d->label, sizeof(d->label), h + 1144, 16);
		snprintf(d->content, sizeof(d->content), "ext2/3/4 filesystem, label \"%s\"", d->label);
	} else if (hl >= 120 && memcmp(h, "XFSB", 4) == 0) {
		snprintf(d->fstype, sizeof(d->fstype), "xfs");
		copy_label(d->label, sizeof(d->label), h + 108, 12);
		snprintf(d->content, sizeof(d->content), "xfs filesystem, label \"%s\"", d->label);
	} else if (hl >= 520 && memcmp(h + 512, "EFI PART", 8) == 0) {
		snprintf(d->content, sizeof(d->content), "GPT partition table");
	} else if (hl >= 4096 && memcmp(h + 512, "LABELONE", 8) == 0) {
		snprintf(d->content, sizeof(d->content), "LVM physical volume");
	} else if (hl >= 6 && memcmp(h, "LUKS\xba\xbe", 6) == 0) {
		snprintf(d->content, sizeof(d->content), "LUKS encrypted volume");
	} else if (hl >= 4096 && memcmp(h + 4086, "SWAPSPACE2", 10) == 0) {
		snprintf(d->content, sizeof(d->content), "swap space");
	} else if (hl >= 32774 && memcmp(h + 32769, "CD001", 5) == 0) {
		snprintf(d->content, sizeof(d->content), "ISO 9660 filesystem");
	} else if (hl >= 65536 + 72 && memcmp(h + 65536 + 64, "_BHRfS_M", 8) == 0) {
		snprintf(d->content, sizeof(d->content), "btrfs filesystem");
	} else if (hl >= 512 && h[510] == 0x55 && h[511] == 0xaa) {
		snprintf(d->content, sizeof(d->content), "MBR partition table or boot sector");
	} else {
		snprintf(d->content, sizeof(d->content), "unrecognised data (not blank)");
	}
}

/* Reads the first and last DISK_PROBE_BYTES of a device. */
static int disk_probe_dev(struct disk_info *d)
{
	unsigned char *head, *tail;
	size_t len = d->size < DISK_PROBE_BYTES ? (size_t)d->size : DISK_PROBE_BYTES;
	ssize_t r1, r2;
	int fd = open(d->dev, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	head = calloc(1, DISK_PROBE_BYTES);
	tail = calloc(1, DISK_PROBE_BYTES);
	if (head == NULL || tail == NULL) {
		free(head);
		free(tail);
		close(fd);
		errno = ENOMEM;
		return -1;
	}
	r1 = pread(fd, head, len, 0);
	r2 = pread(fd, tail, len, (off_t)(d->size - len));
	close(fd);
	if (r1 != (ssize_t)len || r2 != (ssize_t)len) {
		free(head);
		free(tail);
		errno = EIO;
		return -1;
	}
	disk_probe_data(head, len, tail, len, d);
	free(head);
	free(tail);
	return 0;
}

static int read_small(const char *path, char *out, size_t outlen)
{
	FILE *f = fopen(path, "re");

	if (f == NULL)
		return -1;
	if (fgets(out, (int)outlen, f) == NULL) {
		fclose(f);
		return -1;
	}
	fclose(f);
	out[strcspn(out, "\n")] = '\0';
	return 0;
}

/* Mount points of device numbers, from a mountinfo file. */
struct mount_ent {
	unsigned maj, min;
	char where[PATH_MAX];
};

static size_t read_mounts(const char *mountinfo, struct mount_ent **out)
{
	FILE *f = fopen(mountinfo, "re");
	char line[PATH_MAX * 2];
	size_t n = 0, cap = 0;

	*out = NULL;
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned maj, min;
		char where[PATH_MAX];
		/* id parent maj:min root mountpoint ... */
		if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &maj, &min, where) != 3)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			void *p = realloc(*out, cap * sizeof(**out));
			if (p == NULL)
				break;
			*out = p;
		}
		(*out)[n].maj = maj;
		(*out)[n].min = min;
		snprintf((*out)[n].where, sizeof((*out)[n].where), "%s", where);
		n++;
	}
	fclose(f);
	return n;
}

/* Whether device maj:min (the disk or one of its partitions) is mounted; where. */
static const char *mounted_where(const struct mount_ent *m, size_t nm, unsigned maj, unsigned min)
{
	for (size_t i = 0; i < nm; i++)
		if (m[i].maj == maj && m[i].min == min)
			return m[i].where;
	return NULL;
}

static int dir_nonempty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int found = 0;

	if (d == NULL)
		return 0;
	while (!found && (de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			found = 1;
	closedir(d);
	return found;
}

static int swap_uses(const char *swaps, const char *devdir, const char *name)
{
	FILE *f = fopen(swaps, "re");
	char line[512], want[128];
	size_t wl;
	int found = 0;

	if (f == NULL)
		return 0;
	snprintf(want, sizeof(want), "%s/%s", devdir, name);
	wl = strlen(want);
	while (!found && fgets(line, sizeof(line), f))
		if (strncmp(line, want, wl) == 0)
			found = 1; /* the disk or one of its partitions */
	fclose(f);
	return found;
}

static int disk_virtual(const char *name)
{
	static const char *const prefixes[] = { "ram", "zram", "dm-", "md", "nbd", "sr", "fd", "mtdblock" };

	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
			return 1;
	return 0;
}

int disk_scan(const char *sysfs, const char *devdir, const char *mountinfo, const char *swaps, int probe,
	      struct disk_info **out, size_t *n)
{
	char path[PATH_MAX + 128], val[256];
	struct mount_ent *mounts;
	size_t nm = read_mounts(mountinfo, &mounts), cap = 0;
	struct dirent *de;
	DIR *dir;

	*out = NULL;
	*n = 0;
	snprintf(path, sizeof(path), "%s/block", sysfs);
	dir = opendir(path);
	if (dir == NULL) {
		free(mounts);
		return -1;
	}
	while ((de = readdir(dir)) != NULL) {
		struct disk_info *d;
		unsigned maj, min;
		unsigned long long sectors = 0;

		if (de->d_name[0] == '.' || strlen(de->d_name) >= sizeof(d->name) || disk_virtual(de->d_name))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 8;
			void *p = realloc(*out, cap * sizeof(**out));
			if (p == NULL) {
				closedir(dir);
				free(mounts);
				free(*out);
				*out = NULL;
				*n = 0;
				errno = ENOMEM;
				return -1;
			}
			*out = p;
		}
		d = &(*out)[*n];
		memset(d, 0, sizeof(*d));
		snprintf(d->name, sizeof(d->name), "%.31s", de->d_name);
		snprintf(d->dev, sizeof(d->dev), "%.30s/%.31s", devdir, d->name);
		snprintf(path, sizeof(path), "%s/block/%s/size", sysfs, d->name);
		if (read_small(path, val, sizeof(val)) == 0)
			sectors = strtoull(val, NULL, 10);
		d->size = sectors * 512;
		snprintf(path, sizeof(path), "%s/block/%s/removable", sysfs, d->name);
		d->removable = read_small(path, val, sizeof(val)) == 0 && val[0] == '1';
		snprintf(path, sizeof(path), "%s/block/%s/ro", sysfs, d->name);
		d->readonly = read_small(path, val, sizeof(val)) == 0 && val[0] == '1';
		d->loop = strncmp(d->name, "loop", 4) == 0;
		snprintf(path, sizeof(path), "%s/block/%s/holders", sysfs, d->name);
		if (dir_nonempty(path))
			snprintf(d->in_use, sizeof(d->in_use), "used by another device (holders)");
		if (swap_uses(swaps, devdir, d->name))
			snprintf(d->in_use, sizeof(d->in_use), "used as swap");
		/* the disk itself, then each partition (subdirectories with a dev file) */
		snprintf(path, sizeof(path), "%s/block/%s/dev", sysfs, d->name);
		if (read_small(path, val, sizeof(val)) == 0 && sscanf(val, "%u:%u", &maj, &min) == 2) {
			const char *w = mounted_where(mounts, nm, maj, min);
			if (w)
				snprintf(d->mounted_at, sizeof(d->mounted_at), "%s", w);
		}
		snprintf(path, sizeof(path), "%s/block/%s", sysfs, d->name);
		DIR *sub = opendir(path);
		struct dirent *pe;
		while (sub && (pe = readdir(sub)) != NULL) {
			char ppath[PATH_MAX + 256];
			if (strncmp(pe->d_name, d->name, strlen(d->name)) != 0)
				continue;
			snprintf(ppath, sizeof(ppath), "%.4000s/%.200s/dev", path, pe->d_name);
			if (read_small(ppath, val, sizeof(val)) != 0 || sscanf(val, "%u:%u", &maj, &min) != 2)
				continue;
			const char *w = mounted_where(mounts, nm, maj, min);
			if (w && d->in_use[0] == '\0')
				snprintf(d->in_use, sizeof(d->in_use), "partition %.20s mounted at %.90s", pe->d_name, w);
			else if (d->in_use[0] == '\0')
				snprintf(d->in_use, sizeof(d->in_use), "has partition %.40s", pe->d_name);
		}
		if (sub)
			closedir(sub);
		/* a disk with partitions, holders or swap is never a candidate: not even
		 * read; a mounted whole disk is read (it may be ours, mounted before) */
		if (probe && d->size > 0 && d->in_use[0] == '\0' && disk_probe_dev(d) < 0)
			snprintf(d->content, sizeof(d->content), "unreadable: %s", strerror(errno));
		(*n)++;
	}
	closedir(dir);
	free(mounts);
	/* stable order: by name */
	for (size_t i = 1; i < *n; i++)
		for (size_t k = i; k > 0 && strcmp((*out)[k - 1].name, (*out)[k].name) > 0; k--) {
			struct disk_info t = (*out)[k];
			(*out)[k] = (*out)[k - 1];
			(*out)[k - 1] = t;
		}
	return 0;
}

static int in_list(const char list[][32], size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], name) == 0)
			return 1;
	return 0;
}

void disk_decide(const struct disk_policy *p, struct disk_info *disks, size_t n)
{
	struct disk_info *best_use = NULL, *best_init = NULL;

	for (size_t i = 0; i < n; i++) {
		struct disk_info *d = &disks[i];
		int ours = d->probed && strcmp(d->label, DISK_LABEL) == 0 && d->fstype[0];

		d->action = DISK_IGNORE;
		d->selected = 0;
		if (p->n_include && !in_list(p->include, p->n_include, d->name))
			snprintf(d->reason, sizeof(d->reason), "not in the policy's device list");
		else if (d->loop && !p->allow_loop)
			snprintf(d->reason, sizeof(d->reason), "loop device (the policy does not allow loop devices)");
		else if (d->size < DISK_MIN_BYTES)
			snprintf(d->reason, sizeof(d->reason), "too small (%llu bytes)", d->size);
		else if (d->removable)
			snprintf(d->reason, sizeof(d->reason), "removable media");
		else if (d->readonly)
			snprintf(d->reason, sizeof(d->reason), "read-only");
		else if (d->mounted_at[0] && !(ours && strcmp(d->mounted_at, p->mountpoint) == 0))
			snprintf(d->reason, sizeof(d->reason), "in use: mounted at %.100s (boot media or system disk)",
				 d->mounted_at);
		else if (d->in_use[0])
			snprintf(d->reason, sizeof(d->reason), "in use: %s", d->in_use);
		else if (!d->probed)
			snprintf(d->reason, sizeof(d->reason), "content unknown (not probed)");
		else if (ours) {
			d->action = DISK_USE;
			snprintf(d->reason, sizeof(d->reason), "carries cloudd's label");
		} else if (in_list(p->wipe, p->n_wipe, d->name)) {
			d->action = DISK_WIPE;
			snprintf(d->reason, sizeof(d->reason), "policy says wipe (%s)", d->content);
		} else if (d->blank && p->init == DISK_INIT_BLANK) {
			d->action = DISK_INIT;
			snprintf(d->reason, sizeof(d->reason), "blank; the policy allows initialising it as %s", p->fs);
		} else if (d->blank) {
			snprintf(d->reason, sizeof(d->reason), "blank, but the policy says init=never");
		} else {
			snprintf(d->reason, sizeof(d->reason), "foreign content left alone: %s", d->content);
		}
		struct disk_info **best = d->action == DISK_USE ? &best_use :
					  d->action != DISK_IGNORE ? &best_init : NULL;
		if (best && (*best == NULL || (p->select == DISK_SELECT_LARGEST && d->size > (*best)->size)))
			*best = d;
	}
	/* an existing cloudd disk always wins over making a new one */
	struct disk_info *chosen = best_use ? best_use : best_init;
	if (chosen)
		chosen->selected = 1;
	for (size_t i = 0; i < n; i++) {
		struct disk_info *d = &disks[i];
		if (d->action == DISK_IGNORE || d->selected)
			continue;
		size_t l = strlen(d->reason);
		snprintf(d->reason + l, sizeof(d->reason) - l, "; not selected: %s holds the volumes (select=%s)",
			 chosen->name, p->select == DISK_SELECT_LARGEST ? "largest" : "first");
		d->action = DISK_IGNORE;
	}
}

static int zero_ends(const struct disk_info *d, struct errmsg *err)
{
	unsigned char *z = calloc(1, DISK_PROBE_BYTES);
	size_t len = d->size < DISK_PROBE_BYTES ? (size_t)d->size : DISK_PROBE_BYTES;
	int fd = open(d->dev, O_WRONLY | O_EXCL | O_CLOEXEC), rc = 0;

	if (fd < 0 || z == NULL) {
		errmsg_set(err, "", "%s: %s", d->dev, strerror(errno));
		free(z);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (pwrite(fd, z, len, 0) != (ssize_t)len || pwrite(fd, z, len, (off_t)(d->size - len)) != (ssize_t)len ||
	    fsync(fd) < 0) {
		errmsg_set(err, "", "wiping %s: %s", d->dev, strerror(errno));
		rc = -1;
	}
	close(fd);
	free(z);
	return rc;
}

int disk_apply(const struct disk_policy *p, struct disk_info *disks, size_t n, int *claimed,
	       struct errmsg *err)
{
	struct disk_info *d = NULL;
	char why[512];

	*claimed = 0;
	for (size_t i = 0; i < n; i++)
		if (disks[i].selected)
			d = &disks[i];
	if (d == NULL)
		return 0;
	if (d->action == DISK_INIT || d->action == DISK_WIPE) {
		struct disk_info again = *d;
		/* it must still be what was decided on */
		if (disk_probe_dev(&again) < 0) {
			errmsg_set(err, "", "%s: %s", d->dev, strerror(errno));
			return -1;
		}
		if (d->action == DISK_INIT && !again.blank) {
			errmsg_set(err, "", "%s is no longer blank (%s): not initialised", d->dev, again.content);
			errno = EBUSY;
			return -1;
		}
		if (d->action == DISK_WIPE) {
			log_warn("disk %s: wiping (policy wipe), it held: %s", d->dev, again.content);
			if (zero_ends(d, err) < 0)
				return -1;
		}
		char *ext4[] = { "mkfs.ext4", "-q", "-F", "-L", DISK_LABEL, "-m", "0", d->dev, NULL };
		char *xfs[] = { "mkfs.xfs", "-q", "-f", "-L", DISK_LABEL, d->dev, NULL };
		log_info("disk %s: making an %s filesystem labelled %s", d->dev, p->fs, DISK_LABEL);
		if (proc_run_ok(strcmp(p->fs, "xfs") == 0 ? xfs : ext4, NULL, 0, DISK_MKFS_TIMEOUT_MS, why,
				sizeof(why)) < 0) {
			errmsg_set(err, "", "%s: %s", d->dev, why);
			return -1;
		}
		snprintf(d->fstype, sizeof(d->fstype), "%s", p->fs);
		snprintf(d->label, sizeof(d->label), "%s", DISK_LABEL);
	}
	if (strcmp(d->mounted_at, p->mountpoint) != 0) {
		if (fs_mkdir_p(p->mountpoint, 0755, 0755) < 0) {
			errmsg_set(err, "", "creating %s: %s", p->mountpoint, strerror(errno));
			return -1;
		}
		if (mount(d->dev, p->mountpoint, d->fstype, MS_NOATIME | MS_NODEV | MS_NOSUID, NULL) < 0) {
			errmsg_set(err, "", "mounting %s (%s) at %s: %s", d->dev, d->fstype, p->mountpoint,
				   strerror(errno));
			return -1;
		}
		snprintf(d->mounted_at, sizeof(d->mounted_at), "%s", p->mountpoint);
		log_info("disk %s: mounted at %s", d->dev, p->mountpoint);
	}
	*claimed = 1;
	return 0;
}

int disk_claim(const char *policy_text, const char *sysfs, const char *mountinfo, int dry_run,
	       json_t **report, int *claimed, struct errmsg *err)
{
	struct disk_policy p;
	struct disk_info *disks = NULL;
	size_t n = 0;
	int rc = 0;

	*report = NULL;
	*claimed = 0;
	if (disk_policy_parse(policy_text, &p, err) < 0)
		return -1;
	if (disk_scan(sysfs, "/dev", mountinfo, "/proc/swaps", 1, &disks, &n) < 0) {
		errmsg_set(err, "", "listing block devices in %s/block: %s", sysfs, strerror(errno));
		return -1;
	}
	disk_decide(&p, disks, n);
	if (!dry_run)
		rc = disk_apply(&p, disks, n, claimed, err);
	*report = disk_report(disks, n);
	for (size_t i = 0; i < n; i++)
		log_info("disk %s: %s%s: %s", disks[i].name, disk_action_name(disks[i].action),
			 disks[i].selected ? " (selected)" : "", disks[i].reason);
	free(disks);
	return rc;
}

json_t *disk_report(const struct disk_info *disks, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < n; i++) {
		const struct disk_info *d = &disks[i];
		json_array_append_new(arr, json_pack("{s:s,s:s,s:I,s:b,s:b,s:s,s:s,s:s,s:b,s:s}", "name", d->name,
						     "device", d->dev, "size", (json_int_t)d->size, "removable",
						     d->removable, "loop", d->loop, "content", d->content,
						     "mounted_at", d->mounted_at, "decision", disk_action_name(d->action),
						     "selected", d->selected, "reason", d->reason));
	}
	return arr;
}

static int parse_list(const char *v, char list[][32], size_t *n, struct errmsg *err, const char *key)
{
	const char *p = v;

	*n = 0;
	while (*p) {
		size_t l = strcspn(p, ",");
		if (l == 0 || l >= 32 || *n == DISK_MAX_LIST) {
			errmsg_set(err, key, "bad device list \"%s\"", v);
			errno = EINVAL;
			return -1;
		}
		memcpy(list[*n], p, l);
		list[*n][l] = '\0';
		(*n)++;
		p += l;
		if (*p == ',')
			p++;
	}
	return 0;
}

int disk_policy_parse(const char *text, struct disk_policy *p, struct errmsg *err)
{
	char *copy = strdup(text), *save = NULL, *tok;
	int rc = 0;

	memset(p, 0, sizeof(*p));
	snprintf(p->fs, sizeof(p->fs), "ext4");
	snprintf(p->mountpoint, sizeof(p->mountpoint), "/var/lib/cloudd");
	if (copy == NULL)
		return -1;
	for (tok = strtok_r(copy, " \t\n", &save); tok && rc == 0; tok = strtok_r(NULL, " \t\n", &save)) {
		char *eq = strchr(tok, '=');
		if (eq == NULL) {
			errmsg_set(err, tok, "expected key=value");
			rc = -1;
			break;
		}
		*eq++ = '\0';
		if (strcmp(tok, "init") == 0 && (strcmp(eq, "never") == 0 || strcmp(eq, "blank") == 0))
			p->init = strcmp(eq, "blank") == 0 ? DISK_INIT_BLANK : DISK_INIT_NEVER;
		else if (strcmp(tok, "fs") == 0 && (strcmp(eq, "ext4") == 0 || strcmp(eq, "xfs") == 0))
			snprintf(p->fs, sizeof(p->fs), "%s", eq);
		else if (strcmp(tok, "select") == 0 && (strcmp(eq, "first") == 0 || strcmp(eq, "largest") == 0))
			p->select = strcmp(eq, "largest") == 0 ? DISK_SELECT_LARGEST : DISK_SELECT_FIRST;
		else if (strcmp(tok, "allow_loop") == 0 && (strcmp(eq, "0") == 0 || strcmp(eq, "1") == 0))
			p->allow_loop = eq[0] == '1';
		else if (strcmp(tok, "include") == 0)
			rc = parse_list(eq, p->include, &p->n_include, err, "include");
		else if (strcmp(tok, "wipe") == 0)
			rc = parse_list(eq, p->wipe, &p->n_wipe, err, "wipe");
		else if (strcmp(tok, "mountpoint") == 0 && eq[0] == '/' && strlen(eq) < sizeof(p->mountpoint))
			snprintf(p->mountpoint, sizeof(p->mountpoint), "%s", eq);
		else {
			errmsg_set(err, tok, "unknown key or bad value \"%s\"", eq);
			rc = -1;
		}
	}
	free(copy);
	if (rc < 0)
		errno = EINVAL;
	return rc;
}
