/* cloudinit.c -- NoCloud seed for a guest: meta-data, user-data, network-config on a vfat image labelled CIDATA */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cloudinit.h"
#include "log.h"
#include "proc.h"

static int cloudinit_dump(json_t *doc, const char *prefix, struct buf *out)
{
	char *text;
	int rc = 0;

	if (doc == NULL) {
		errno = ENOMEM;
		return -1;
	}
	text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(doc);
	if (text == NULL) {
		errno = ENOMEM;
		return -1;
	}
	if ((prefix && buf_puts(out, prefix) < 0) || buf_puts(out, text) < 0 || buf_puts(out, "\n") < 0)
		rc = -1;
	free(text);
	return rc;
}

static json_t *cloudinit_keys(const struct cloudinit_spec *s)
{
	json_t *keys = json_array();

	for (size_t i = 0; keys && i < s->n_ssh_keys; i++)
		json_array_append_new(keys, json_string(s->ssh_keys[i]));
	return keys;
}

int cloudinit_meta_data(const struct cloudinit_spec *s, struct buf *out)
{
	json_t *doc = json_object();

	json_object_set_new(doc, "instance-id", json_string(s->instance_id));
	json_object_set_new(doc, "local-hostname", json_string(s->hostname ? s->hostname : s->instance_id));
	if (s->n_ssh_keys)
		json_object_set_new(doc, "public-keys", cloudinit_keys(s));
	return cloudinit_dump(doc, NULL, out);
}

int cloudinit_user_data(const struct cloudinit_spec *s, struct buf *out)
{
	json_t *doc;

	if (s->user_data)
		return buf_puts(out, s->user_data);
	doc = json_object();
	json_object_set_new(doc, "hostname", json_string(s->hostname ? s->hostname : s->instance_id));
	json_object_set_new(doc, "ssh_authorized_keys", cloudinit_keys(s));
	return cloudinit_dump(doc, "#cloud-config\n", out);
}

int cloudinit_network_config(const struct cloudinit_spec *s, struct buf *out)
{
	json_t *doc = json_object(), *eths = json_object();

	json_object_set_new(doc, "version", json_integer(2));
	for (size_t i = 0; i < s->n_nics; i++) {
		char name[32];
		json_t *eth = json_pack("{s:{s:s},s:s,s:b}", "match", "macaddress", s->nics[i].mac, "set-name",
					"", "dhcp4", 1);
		snprintf(name, sizeof(name), "eth%zu", i);
		json_object_set_new(eth, "set-name", json_string(name));
		if (s->nics[i].ipv6 && s->nics[i].ipv6[0]) {
			char addr[80];
			snprintf(addr, sizeof(addr), "%s/%d", s->nics[i].ipv6, s->nics[i].ipv6_prefix);
			json_object_set_new(eth, "addresses", json_pack("[s]", addr));
		}
		if (s->n_dns) {
			json_t *ns = json_array();
			for (size_t k = 0; k < s->n_dns; k++)
				json_array_append_new(ns, json_string(s->dns[k]));
			json_object_set_new(eth, "nameservers", json_pack("{s:o}", "addresses", ns));
		}
		json_object_set_new(eths, name, eth);
	}
	json_object_set_new(doc, "ethernets", eths);
	return cloudinit_dump(doc, NULL, out);
}

static int write_all(const char *path, const struct buf *b)
{
	FILE *f = fopen(path, "we");
	int rc = 0;

	if (f == NULL)
		return -1;
	if (b->len && fwrite(b->data, 1, b->len, f) != b->len)
		rc = -1;
	if (fclose(f) != 0)
		rc = -1;
	return rc;
}

/* 1 when the file holds exactly b. */
static int same_content(const char *path, const struct buf *b)
{
	FILE *f = fopen(path, "re");
	char chunk[4096];
	size_t off = 0, r;
	int same = 1;

	if (f == NULL)
		return 0;
	while (same && (r = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (off + r > b->len || memcmp(b->data + off, chunk, r) != 0)
			same = 0;
		off += r;
	}
	fclose(f);
	return same && off == b->len;
}

int cloudinit_build(const struct cloudinit_spec *s, const char *path, struct errmsg *err)
{
	static const char *const names[] = { "meta-data", "user-data", "network-config" };
	struct buf files[3] = { BUF_INIT, BUF_INIT, BUF_INIT }, all = BUF_INIT;
	char tmp[PATH_MAX], dir[PATH_MAX], fpath[PATH_MAX + 32], sum[PATH_MAX + 8], why[512], kib[32];
	size_t total = 0;
	int rc = -1, n;

	if (cloudinit_meta_data(s, &files[0]) < 0 || cloudinit_user_data(s, &files[1]) < 0 ||
	    cloudinit_network_config(s, &files[2]) < 0) {
		errmsg_set(err, "", "cloud-init seed for %s: out of memory", s->instance_id);
		goto out;
	}
	for (size_t i = 0; i < 3; i++) {
		buf_printf(&all, "%s %zu\n", names[i], files[i].len);
		buf_append(&all, files[i].data ? files[i].data : "", files[i].len);
		total += files[i].len;
	}
	/* the seed's content next to it: an unchanged seed is not rebuilt */
	n = snprintf(sum, sizeof(sum), "%s.content", path);
	if (n < 0 || (size_t)n >= sizeof(sum) || snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp) ||
	    snprintf(dir, sizeof(dir), "%s.d", path) >= (int)sizeof(dir)) {
		errmsg_set(err, "", "cloud-init seed path too long");
		errno = ENAMETOOLONG;
		goto out;
	}
	if (access(path, F_OK) == 0 && same_content(sum, &all)) {
		rc = 0;
		goto out;
	}
	unlink(tmp);
	/* FAT12 with room to spare: 1 MiB plus twice the content, in KiB */
	snprintf(kib, sizeof(kib), "%zu", (size_t)1024 + total * 2 / 1024);
	char *mkfs[] = { "mkfs.fat", "-C", "-n", "CIDATA", "-i", "c10dda7a", tmp, kib, NULL };
	if (proc_run_ok(mkfs, NULL, 0, CLOUDINIT_TOOL_TIMEOUT_MS, why, sizeof(why)) < 0) {
		errmsg_set(err, "", "cloud-init seed for %s: %s", s->instance_id, why);
		goto err_tmp;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		errmsg_set(err, "", "creating %s: %s", dir, strerror(errno));
		goto err_tmp;
	}
	for (size_t i = 0; i < 3; i++) {
		snprintf(fpath, sizeof(fpath), "%s/%s", dir, names[i]);
		if (write_all(fpath, &files[i]) < 0) {
			errmsg_set(err, "", "writing %s: %s", fpath, strerror(errno));
			goto err_dir;
		}
	}
	char f0[PATH_MAX + 32], f1[PATH_MAX + 32], f2[PATH_MAX + 32];
	snprintf(f0, sizeof(f0), "%s/%s", dir, names[0]);
	snprintf(f1, sizeof(f1), "%s/%s", dir, names[1]);
	snprintf(f2, sizeof(f2), "%s/%s", dir, names[2]);
	char *mcopy[] = { "mcopy", "-o", "-i", tmp, f0, f1, f2, "::", NULL };
	if (proc_run_ok(mcopy, NULL, 0, CLOUDINIT_TOOL_TIMEOUT_MS, why, sizeof(why)) < 0) {
		errmsg_set(err, "", "cloud-init seed for %s: %s", s->instance_id, why);
		goto err_dir;
	}
	if (rename(tmp, path) < 0) {
		errmsg_set(err, "", "renaming %s: %s", tmp, strerror(errno));
		goto err_dir;
	}
	if (write_all(sum, &all) < 0)
		unlink(sum);
	rc = 0;
err_dir:
	for (size_t i = 0; i < 3; i++) {
		snprintf(fpath, sizeof(fpath), "%s/%s", dir, names[i]);
		unlink(fpath);
	}
	rmdir(dir);
err_tmp:
	if (rc < 0)
		unlink(tmp);
out:
	for (size_t i = 0; i < 3; i++)
		buf_free(&files[i]);
	buf_free(&all);
	return rc;
}
