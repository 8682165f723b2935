/* specs.c -- the start spec and reboot generation of each guest, kept in <run_dir>/specs across restarts of cloudd */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "converge_internal.h"
#include "fsutil.h"
#include "log.h"

void conv_spec_save(struct converge *c, const char *id, const char *hash)
{
	char path[PATH_MAX];

	if (fs_path(path, sizeof(path), "%s/%s.spec", c->spec_dir, id) < 0 ||
	    fs_write_atomic(path, hash, strlen(hash), 0644) < 0)
		log_warn("converge: saving the start spec of %s: %s", id, strerror(errno));
}

int conv_spec_load(struct converge *c, const char *id, char out[17])
{
	char path[PATH_MAX];

	if (fs_path(path, sizeof(path), "%s/%s.spec", c->spec_dir, id) < 0)
		return -1;
	return fs_read_line(path, out, 17);
}

void conv_spec_remove(struct converge *c, const char *id)
{
	char path[PATH_MAX];

	if (fs_path(path, sizeof(path), "%s/%s.spec", c->spec_dir, id) == 0)
		unlink(path);
	if (fs_path(path, sizeof(path), "%s/%s.reboot", c->spec_dir, id) == 0)
		unlink(path);
}

void conv_reboot_save(struct converge *c, const char *id, long long gen)
{
	char path[PATH_MAX], text[32];
	int len = snprintf(text, sizeof(text), "%lld\n", gen);

	if (fs_path(path, sizeof(path), "%s/%s.reboot", c->spec_dir, id) < 0 ||
	    fs_write_atomic(path, text, (size_t)len, 0644) < 0)
		log_warn("converge: saving the reboot generation of %s: %s", id, strerror(errno));
}

int conv_reboot_load(struct converge *c, const char *id, long long *gen)
{
	char path[PATH_MAX], text[32], *end;

	if (fs_path(path, sizeof(path), "%s/%s.reboot", c->spec_dir, id) < 0 ||
	    fs_read_line(path, text, sizeof(text)) < 0)
		return -1;
	errno = 0;
	*gen = strtoll(text, &end, 10);
	if (errno || end == text || *gen < 0) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}
