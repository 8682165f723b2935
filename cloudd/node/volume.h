/* volume.h -- guest volumes as files on the claimed filesystem: qcow2 over a template, or raw preallocated */
#ifndef CLOUDD_VOLUME_H
#define CLOUDD_VOLUME_H

#include <stddef.h>

#include "errmsg.h"

#define VOLUME_ID_MAX 64
#define VOLUME_TOOL_TIMEOUT_MS (30 * 60 * 1000) /* qemu-img convert of a large raw copy */

/*
 * Layout: <store>/volumes/<instance>/<disk>.qcow2 or .raw. A volume is made
 * under <store>/volumes/<instance>/.tmp-<disk>.<format> and renamed when
 * complete, so a volume file that exists is always whole.
 */
struct volume_entry {
	char instance[VOLUME_ID_MAX];
	char disk[VOLUME_ID_MAX];
	char format[8];
	unsigned long long bytes; /* allocated on the filesystem */
};

/* <store>/volumes/<instance>/<disk>.<format> */
int volume_path(const char *store, const char *instance, const char *disk, const char *format,
		char *out, size_t outlen);

/*
 * Creates the volume unless it exists (then 0 and nothing is touched).
 * format "qcow2": copy-on-write over template_file (read-only backing file,
 * of template_format), or blank; "raw": preallocated, a full copy of the
 * template when there is one. size_mib must be at least the template's
 * virtual size. On error nothing is left behind and err says why.
 */
int volume_create(const char *store, const char *instance, const char *disk, const char *format,
		  unsigned long long size_mib, const char *template_file, const char *template_format,
		  struct errmsg *err);

/* Removes the volume (either format); the instance directory when it is empty. */
int volume_delete(const char *store, const char *instance, const char *disk, struct errmsg *err);

/* Every complete volume under <store>/volumes (caller frees *out). */
int volume_list(const char *store, struct volume_entry **out, size_t *n);

#endif
