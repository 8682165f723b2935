/* sysinfo.c -- the node's inventory (CPU, memory, disks, NICs, kernel, KVM) from /proc and /sys */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cloudd.h"
#include "fsutil.h"

#define SYSINFO_MAX_FILE (1024 * 1024) /* bytes of one /proc file */

int sysinfo_parse_cpuinfo(const char *text, char *model, size_t modellen, unsigned *count)
{
	const char *p = text;

	*count = 0;
	if (modellen)
		model[0] = '\0';
	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		const char *colon = memchr(p, ':', len);

		if (colon) {
			size_t klen = (size_t)(colon - p);
			while (klen && isspace((unsigned char)p[klen - 1]))
				klen--;
			if (klen == 9 && memcmp(p, "processor", 9) == 0) {
				(*count)++;
			} else if (klen == 10 && memcmp(p, "model name", 10) == 0 && model[0] == '\0') {
				const char *v = colon + 1;
				size_t vlen = len - (size_t)(v - p);
				while (vlen && isspace((unsigned char)*v))
					v++, vlen--;
				if (vlen >= modellen)
					vlen = modellen - 1; /* display only: a long model name is cut */
				memcpy(model, v, vlen);
				model[vlen] = '\0';
			}
		}
		if (eol == NULL)
			break;
		p = eol + 1;
	}
	if (*count == 0) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

int sysinfo_parse_meminfo(const char *text, const char *key, unsigned long long *bytes)
{
	size_t klen = strlen(key);
	const char *p = text;

	while (p && *p) {
		if (strncmp(p, key, klen) == 0 && p[klen] == ':') {
			char *end;
			unsigned long long v;

			errno = 0;
			v = strtoull(p + klen + 1, &end, 10);
			if (errno || end == p + klen + 1)
				break;
			while (*end == ' ')
				end++;
			if (strncmp(end, "kB", 2) == 0)
				v *= 1024;
			*bytes = v;
			return 0;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	errno = ENOENT;
	return -1;
}

/* BOOTIF=01-52-54-00-12-34-56 (set by iPXE/pxelinux) to 52:54:00:12:34:56 */
int sysinfo_bootif_mac(const char *cmdline, char *mac, size_t maclen)
{
	const char *p = cmdline;

	while ((p = strstr(p, "BOOTIF=")) != NULL) {
		const char *v = p + 7;
		if (p == cmdline || isspace((unsigned char)p[-1])) {
			if (strlen(v) >= 20 && v[0] == '0' && v[1] == '1' && v[2] == '-') {
				char out[18];
				for (int i = 0; i < 6; i++) {
					const char *h = v + 3 + i * 3;
					if (!isxdigit((unsigned char)h[0]) || !isxdigit((unsigned char)h[1]) ||
					    (i < 5 && h[2] != '-'))
						goto bad;
					out[i * 3] = (char)tolower((unsigned char)h[0]);
					out[i * 3 + 1] = (char)tolower((unsigned char)h[1]);
					out[i * 3 + 2] = i < 5 ? ':' : '\0';
				}
				if (maclen < sizeof(out)) {
					errno = ENAMETOOLONG;
					return -1;
				}
				memcpy(mac, out, sizeof(out));
				return 0;
			}
		}
bad:
		p = v;
	}
	errno = ENOENT;
	return -1;
}

static int sysinfo_path(char *out, size_t outlen, const char *root, const char *rel)
{
	return fs_path(out, outlen, "%s%s", root && strcmp(root, "/") ? root : "", rel);
}

static int sysinfo_line(const char *root, const char *rel, char *out, size_t outlen)
{
	char path[PATH_MAX];

	if (sysinfo_path(path, sizeof(path), root, rel) < 0)
		return -1;
	return fs_read_line(path, out, outlen);
}

static json_t *sysinfo_str_or_null(const char *s)
{
	return s && s[0] ? json_string(s) : json_null();
}

static int sysinfo_skip_block(const char *name)
{
	static const char *const virtual_prefixes[] = { "loop", "ram", "zram", "nbd", "dm-", "md", NULL };

	for (int i = 0; virtual_prefixes[i]; i++)
		if (strncmp(name, virtual_prefixes[i], strlen(virtual_prefixes[i])) == 0)
			return 1;
	return name[0] == '.';
}

static int sysinfo_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted entry names of a directory (so that the output is stable). */
static int sysinfo_list(const char *dir, char ***names, size_t *count)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **v = NULL;
	size_t n = 0;

	*names = NULL;
	*count = 0;
	if (d == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((de = readdir(d)) != NULL) {
		char **nv;
		if (de->d_name[0] == '.')
			continue;
		nv = realloc(v, (n + 1) * sizeof(*v));
		if (nv == NULL)
			goto err;
		v = nv;
		if ((v[n] = strdup(de->d_name)) == NULL)
			goto err;
		n++;
	}
	closedir(d);
	qsort(v, n, sizeof(*v), sysinfo_cmp);
	*names = v;
	*count = n;
	return 0;
err:
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	closedir(d);
	errno = ENOMEM;
	return -1;
}

static void sysinfo_list_free(char **names, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
}

static json_t *sysinfo_block_devices(const char *root)
{
	char dir[PATH_MAX], path[PATH_MAX], line[256];
	json_t *arr = json_array();
	char **names;
	size_t n;

	if (arr == NULL || sysinfo_path(dir, sizeof(dir), root, "/sys/block") < 0 ||
	    sysinfo_list(dir, &names, &n) < 0) {
		json_decref(arr);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned long long sectors, flag;
		json_t *dev;

		if (sysinfo_skip_block(names[i]))
			continue;
		if (fs_path(path, sizeof(path), "%s/%s/size", dir, names[i]) < 0 ||
		    fs_read_u64(path, &sectors) < 0)
			continue;
		dev = json_pack("{s:s,s:I}", "name", names[i], "size_bytes", (json_int_t)(sectors * 512));
		if (dev == NULL)
			continue;
		if (fs_path(path, sizeof(path), "%s/%s/device/model", dir, names[i]) == 0 &&
		    fs_read_line(path, line, sizeof(line)) == 0)
			json_object_set_new(dev, "model", json_string(line));
		if (fs_path(path, sizeof(path), "%s/%s/queue/rotational", dir, names[i]) == 0 &&
		    fs_read_u64(path, &flag) == 0)
			json_object_set_new(dev, "rotational", json_boolean(flag));
		if (fs_path(path, sizeof(path), "%s/%s/removable", dir, names[i]) == 0 &&
		    fs_read_u64(path, &flag) == 0)
			json_object_set_new(dev, "removable", json_boolean(flag));
		if (fs_path(path, sizeof(path), "%s/%s/ro", dir, names[i]) == 0 &&
		    fs_read_u64(path, &flag) == 0)
			json_object_set_new(dev, "read_only", json_boolean(flag));
		json_array_append_new(arr, dev);
	}
	sysinfo_list_free(names, n);
	return arr;
}

static json_t *sysinfo_nics(const char *root)
{
	char dir[PATH_MAX], path[PATH_MAX], line[256];
	json_t *arr = json_array();
	char **names;
	size_t n;

	if (arr == NULL || sysinfo_path(dir, sizeof(dir), root, "/sys/class/net") < 0 ||
	    sysinfo_list(dir, &names, &n) < 0) {
		json_decref(arr);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned long long v;
		struct stat st;
		json_t *nic;

		if (strcmp(names[i], "lo") == 0)
			continue;
		if (fs_path(path, sizeof(path), "%s/%s/address", dir, names[i]) < 0 ||
		    fs_read_line(path, line, sizeof(line)) < 0)
			continue;
		nic = json_pack("{s:s,s:s}", "name", names[i], "mac", line);
		if (nic == NULL)
			continue;
		if (fs_path(path, sizeof(path), "%s/%s/operstate", dir, names[i]) == 0 &&
		    fs_read_line(path, line, sizeof(line)) == 0)
			json_object_set_new(nic, "link", json_string(line));
		/* reading carrier of a down interface fails with EINVAL: no carrier */
		if (fs_path(path, sizeof(path), "%s/%s/carrier", dir, names[i]) == 0)
			json_object_set_new(nic, "carrier",
					    json_boolean(fs_read_u64(path, &v) == 0 && v == 1));
		if (fs_path(path, sizeof(path), "%s/%s/speed", dir, names[i]) == 0 &&
		    fs_read_u64(path, &v) == 0 && v < 10000000)
			json_object_set_new(nic, "speed_mbps", json_integer((json_int_t)v));
		if (fs_path(path, sizeof(path), "%s/%s/mtu", dir, names[i]) == 0 &&
		    fs_read_u64(path, &v) == 0)
			json_object_set_new(nic, "mtu", json_integer((json_int_t)v));
		if (fs_path(path, sizeof(path), "%s/%s/device", dir, names[i]) == 0)
			json_object_set_new(nic, "physical", json_boolean(stat(path, &st) == 0));
		json_array_append_new(arr, nic);
	}
	sysinfo_list_free(names, n);
	return arr;
}

json_t *sysinfo_kvm_probe(const char *dev)
{
	int fd, vm, version;
	char reason[256];

	fd = open(dev, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(reason, sizeof(reason), "open %s: %s", dev, strerror(errno));
		return json_pack("{s:b,s:s}", "usable", 0, "reason", reason);
	}
	version = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION) {
		snprintf(reason, sizeof(reason), "KVM_GET_API_VERSION: %s",
			 version < 0 ? strerror(errno) : "unexpected version");
		close(fd);
		return json_pack("{s:b,s:s,s:i}", "usable", 0, "reason", reason, "api_version", version);
	}
	vm = ioctl(fd, KVM_CREATE_VM, 0);
	if (vm < 0) {
		snprintf(reason, sizeof(reason), "KVM_CREATE_VM: %s", strerror(errno));
		close(fd);
		return json_pack("{s:b,s:s,s:i}", "usable", 0, "reason", reason, "api_version", version);
	}
	close(vm);
	close(fd);
	return json_pack("{s:b,s:i}", "usable", 1, "api_version", version);
}

static json_t *sysinfo_disks;

void sysinfo_set_disks(json_t *report)
{
	json_decref(sysinfo_disks);
	sysinfo_disks = json_incref(report);
}

json_t *sysinfo_collect(const struct sysinfo_source *src)
{
	char path[PATH_MAX], line[512], model[256], mac[32], bootif[IF_NAMESIZE], image[128];
	const char *root = src->sysroot;
	struct buf text = BUF_INIT;
	unsigned long long v;
	unsigned count = 0;
	json_t *doc, *part;

	doc = json_object();
	if (doc == NULL)
		return NULL;
	json_object_set_new(doc, "cloudd_version", json_string(CLOUDD_VERSION));

	line[0] = '\0';
	sysinfo_line(root, "/proc/sys/kernel/hostname", line, sizeof(line));
	json_object_set_new(doc, "hostname", sysinfo_str_or_null(line));

	/* boot facts: /init's boot.env first, then the kernel command line */
	mac[0] = bootif[0] = image[0] = '\0';
	if (src->boot_env && src->boot_env[0]) {
		if (sysinfo_path(path, sizeof(path), root, src->boot_env) == 0) {
			if (fs_env_get(path, "BOOT_MAC", mac, sizeof(mac)) <= 0)
				mac[0] = '\0';
			if (fs_env_get(path, "BOOT_IF", bootif, sizeof(bootif)) <= 0)
				bootif[0] = '\0';
			if (fs_env_get(path, "IMAGE_VERSION", image, sizeof(image)) <= 0)
				image[0] = '\0';
		}
	}
	if (mac[0] == '\0' && sysinfo_path(path, sizeof(path), root, "/proc/cmdline") == 0 &&
	    fs_read_file(path, 65536, &text) == 0) {
		if (sysinfo_bootif_mac(text.data, mac, sizeof(mac)) < 0)
			mac[0] = '\0';
	}
	for (char *p = mac; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	json_object_set_new(doc, "boot_mac", sysinfo_str_or_null(mac));
	json_object_set_new(doc, "boot_interface", sysinfo_str_or_null(bootif));
	if (image[0] == '\0' && sysinfo_line(root, "/etc/cloudd/image-version", image, sizeof(image)) < 0)
		image[0] = '\0';
	json_object_set_new(doc, "image_version", sysinfo_str_or_null(image));

	model[0] = '\0';
	if (sysinfo_path(path, sizeof(path), root, "/proc/cpuinfo") == 0 &&
	    fs_read_file(path, SYSINFO_MAX_FILE, &text) == 0)
		sysinfo_parse_cpuinfo(text.data, model, sizeof(model), &count);
	json_object_set_new(doc, "cpu", json_pack("{s:o,s:i}", "model", sysinfo_str_or_null(model),
						  "count", (int)count));

	part = json_object();
	if (part && sysinfo_path(path, sizeof(path), root, "/proc/meminfo") == 0 &&
	    fs_read_file(path, SYSINFO_MAX_FILE, &text) == 0) {
		if (sysinfo_parse_meminfo(text.data, "MemTotal", &v) == 0)
			json_object_set_new(part, "total_bytes", json_integer((json_int_t)v));
		if (sysinfo_parse_meminfo(text.data, "MemAvailable", &v) == 0)
			json_object_set_new(part, "available_bytes", json_integer((json_int_t)v));
		if (sysinfo_parse_meminfo(text.data, "HugePages_Total", &v) == 0)
			json_object_set_new(part, "hugepages_total", json_integer((json_int_t)v));
	}
	json_object_set_new(doc, "memory", part ? part : json_null());
	buf_free(&text);

	part = sysinfo_block_devices(root);
	json_object_set_new(doc, "block_devices", part ? part : json_array());
	/* copied: the HTTP and enrollment threads serialise their own documents */
	json_object_set_new(doc, "disks", sysinfo_disks ? json_deep_copy(sysinfo_disks) : json_null());
	part = sysinfo_nics(root);
	json_object_set_new(doc, "nics", part ? part : json_array());

	part = json_object();
	line[0] = '\0';
	sysinfo_line(root, "/proc/sys/kernel/osrelease", line, sizeof(line));
	json_object_set_new(part, "release", sysinfo_str_or_null(line));
	line[0] = '\0';
	sysinfo_line(root, "/proc/sys/kernel/version", line, sizeof(line));
	json_object_set_new(part, "version", sysinfo_str_or_null(line));
	json_object_set_new(doc, "kernel", part);

	line[0] = '\0';
	if (sysinfo_line(root, "/proc/uptime", line, sizeof(line)) == 0)
		json_object_set_new(doc, "uptime_seconds", json_integer(strtoll(line, NULL, 10)));

	json_object_set_new(doc, "kvm", src->kvm ? json_incref(src->kvm) : json_null());
	return doc;
}
