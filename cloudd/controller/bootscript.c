/* bootscript.c -- GET /boot.ipxe?mac=: a node's iPXE script rendered from the pxe/ template */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "controller.h"
#include "fsutil.h"
#include "text_template.h"

#define BOOTSCRIPT_MAX_TEMPLATE (64 * 1024) /* bytes of boot.ipxe.in */

/* Used when neither the image nor pxe-dir has a template. */
static const char bootscript_builtin[] =
	"#!ipxe\n"
	"# built-in boot script of cloud-controller (no boot.ipxe.in found)\n"
	"set image @IMAGE_URL@\n"
	"set try:int32 0\n"
	":retry\n"
	"inc try\n"
	"kernel ${image}/vmlinuz initrd=initramfs.img console=ttyS0,115200n8 BOOTIF=01-${netX/mac:hexhyp}"
	" cloud.controller=@CONTROLLER@ cloud.role=@ROLE@ @KERNEL_ARGS@ && initrd ${image}/initramfs.img && boot ||\n"
	"echo cloudd-boot: download failed (attempt ${try} of 5)\n"
	"iseq ${try} 5 && goto failed ||\n"
	"sleep 2\n"
	"goto retry\n"
	":failed\n"
	"echo cloudd-boot: FAILED: cannot download the image from ${image}; rebooting in 60 seconds\n"
	"sleep 60\n"
	"reboot\n";

/* Values end up inside an iPXE script line: no newlines, quotes or settings expansion. */
static int bootscript_value_ok(const char *v)
{
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if (*p < 0x20 || *p == 0x7f || strchr("\"'\\$`{}", *p))
			return 0;
	return 1;
}

int bootscript_render(const char *tmpl, const struct bootscript_vars *v, struct buf *out,
		      struct errmsg *err)
{
	const char *names[] = { "IMAGE_URL", "CONTROLLER", "ROLE", "KERNEL_ARGS" };
	const char *values[] = { v->image_url, v->controller, v->role, v->kernel_args };

	for (size_t i = 0; i < 4; i++) {
		if (!bootscript_value_ok(values[i])) {
			errmsg_set(err, names[i], "contains characters not allowed in an iPXE script");
			errno = EINVAL;
			return -1;
		}
	}
	return template_render(tmpl, names, values, 4, out, err);
}

/* The template for an image version: its own boot.ipxe, then pxe-dir, then built in. */
static int bootscript_template(struct controller *ctrl, const char *version, struct buf *out)
{
	char path[PATH_MAX];

	if (fs_path(path, sizeof(path), "%s/%s/boot.ipxe", ctrl->images_dir, version) == 0 &&
	    fs_read_file(path, BOOTSCRIPT_MAX_TEMPLATE, out) == 0)
		return 0;
	if (fs_path(path, sizeof(path), "%s/boot.ipxe.in", ctrl->cfg.pxe_dir) == 0 &&
	    fs_read_file(path, BOOTSCRIPT_MAX_TEMPLATE, out) == 0)
		return 0;
	buf_reset(out);
	return buf_puts(out, bootscript_builtin);
}

static void bootscript_count(struct controller *ctrl, unsigned long long *counter)
{
	pthread_mutex_lock(&ctrl->counters.lock);
	(*counter)++;
	pthread_mutex_unlock(&ctrl->counters.lock);
}

static int bootscript_text(struct httpd_response *resp, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int bootscript_text(struct httpd_response *resp, const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	return httpd_reply_text(resp, 200, "text/plain", text, strlen(text));
}

/* What bootscript_machine found for a MAC. */
enum bootscript_machine_kind {
	BOOT_MACHINE_IGNORED,  /* unknown, unknown-mac = ignore */
	BOOT_MACHINE_KNOWN,    /* an approved machine */
	BOOT_MACHINE_ENROLLED, /* unknown, made a machine now (unknown-mac = enroll) */
	BOOT_MACHINE_PENDING,  /* a machine awaiting approval (unknown-mac = pending) */
};

/*
 * Finds (or, under unknown-mac = enroll or pending, creates) the machine of
 * mac and its role and image version. Returns its kind, or -1 on error.
 */
static int bootscript_machine(struct controller *ctrl, const char *mac, char *machine_id, size_t idlen,
			      char *role, size_t rolelen, char *version, size_t verlen)
{
	sqlite3_stmt *st;
	int found = 0, pending = 0, rc = -1;

	version[0] = '\0';
	db_lock(&ctrl->db);
	st = db_prepare(&ctrl->db, "SELECT id, role, image_version, state FROM machines WHERE mac = ?");
	if (st == NULL)
		goto out;
	db_bind_text(st, 1, mac);
	if (sqlite3_step(st) == SQLITE_ROW) {
		found = 1;
		snprintf(machine_id, idlen, "%s", db_col_text(st, 0));
		snprintf(role, rolelen, "%s", db_col_text(st, 1));
		if (db_col_text(st, 2))
			snprintf(version, verlen, "%s", db_col_text(st, 2));
		pending = strcmp(db_col_text(st, 3), "pending") == 0;
	}
	sqlite3_finalize(st);
	if (found && pending) {
		rc = BOOT_MACHINE_PENDING;
		goto out;
	}
	if (!found && ctrl->cfg.unknown_mac == UNKNOWN_IGNORE) {
		/* firmware retries: one event per MAC and minute is enough */
		int recent = 0;
		st = db_prepare(&ctrl->db, "SELECT 1 FROM events WHERE subject = ? AND time > ? AND type = 'boot.ignored' LIMIT 1");
		if (st) {
			db_bind_text(st, 1, mac);
			sqlite3_bind_int64(st, 2, (sqlite3_int64)time(NULL) - 60);
			recent = sqlite3_step(st) == SQLITE_ROW;
			sqlite3_finalize(st);
		}
		if (!recent && db_begin(&ctrl->db) == 0) {
			if (db_event(&ctrl->db, "boot.ignored", mac, "boot script asked for unknown MAC %s; ignored"
				     " (unknown-mac = ignore)", mac) < 0)
				db_rollback(&ctrl->db);
			else
				db_commit(&ctrl->db);
		}
		rc = BOOT_MACHINE_IGNORED;
		goto out;
	}
	if (!found) {
		int wait = ctrl->cfg.unknown_mac == UNKNOWN_PENDING;
		const char *p[4];
		if (util_new_id(machine_id, idlen, "m") < 0)
			goto out;
		snprintf(role, rolelen, "%s", ctrl->cfg.default_role);
		p[0] = machine_id, p[1] = mac, p[2] = role, p[3] = wait ? "pending" : "approved";
		if (db_begin(&ctrl->db) < 0)
			goto out;
		if (db_exec(&ctrl->db, "INSERT INTO machines (id, mac, role, state, source, created_at, updated_at)"
				      " VALUES (?, ?, ?, ?, 'auto', strftime('%s','now'), strftime('%s','now'))", 4, p) < 0 ||
		    (wait ? db_event(&ctrl->db, "machine.pending", machine_id, "unknown MAC %s listed as machine %s, awaiting"
				     " approval (unknown-mac = pending; cloudctl machines approve %s)", mac, machine_id, mac)
			  : db_event(&ctrl->db, "machine.enrolled", machine_id, "unknown MAC %s enrolled as machine %s with"
				     " role %s (unknown-mac = enroll)", mac, machine_id, role)) < 0 ||
		    db_commit(&ctrl->db) < 0) {
			db_rollback(&ctrl->db);
			goto out;
		}
		if (wait) {
			rc = BOOT_MACHINE_PENDING;
			goto out;
		}
	}
	if (version[0] == '\0')
		images_default(&ctrl->db, version, verlen);
	rc = found ? BOOT_MACHINE_KNOWN : BOOT_MACHINE_ENROLLED;
out:
	db_unlock(&ctrl->db);
	return rc;
}

static int bootscript_get(struct controller *ctrl, const struct auth_principal *who,
			  struct httpd_request *req, struct httpd_response *resp)
{
	static const char *const allowed[] = { "mac", NULL };
	const char *arg = httpd_query(req, "mac");
	char mac[18], machine_id[40], role[64], version[80], token[65], image_url[512], args[1024];
	struct buf tmpl = BUF_INIT, out = BUF_INIT;
	struct errmsg err = { 0 };
	int kind, rc;

	(void)who;
	if (api_check_query(req, allowed, resp) < 0) {
		bootscript_count(ctrl, &ctrl->counters.boot_bad);
		return 0;
	}
	if (arg == NULL) {
		/* DHCP handed out the bare URL: ask again with the MAC */
		bootscript_count(ctrl, &ctrl->counters.boot_bad);
		return bootscript_text(resp, "#!ipxe\nchain %s/boot.ipxe?mac=${netX/mac}\n", ctrl->cfg.url);
	}
	if (util_mac_parse(arg, mac) < 0) {
		bootscript_count(ctrl, &ctrl->counters.boot_bad);
		return httpd_reply_error(resp, 400, "bad_parameter", "mac: not a unicast MAC address: \"%.32s\"", arg);
	}
	kind = bootscript_machine(ctrl, mac, machine_id, sizeof(machine_id), role, sizeof(role), version,
				  sizeof(version));
	if (kind < 0)
		return -1;
	if (kind == BOOT_MACHINE_IGNORED) {
		bootscript_count(ctrl, &ctrl->counters.boot_ignored);
		return bootscript_text(resp, "#!ipxe\necho cloudd-boot: MAC %s is not registered with the controller"
					     " (unknown-mac = ignore); booting from the next device\nsleep 5\nexit 1\n", mac);
	}
	if (kind == BOOT_MACHINE_PENDING) {
		/* no token: an admin approves the machine first; until then the machine asks again */
		bootscript_count(ctrl, &ctrl->counters.boot_pending);
		rc = bootscript_text(resp, "#!ipxe\necho cloudd-boot: machine %s awaits approval on the controller"
					   " (cloudctl machines approve %s); asking again in %d seconds\nsleep %d\n"
					   "chain %s/boot.ipxe?mac=${netX/mac}\n", mac, mac, CTL_PENDING_RETRY,
				     CTL_PENDING_RETRY, ctrl->cfg.url);
		httpd_add_header(resp, "Cache-Control", "no-store");
		return rc;
	}
	bootscript_count(ctrl, kind == BOOT_MACHINE_ENROLLED ? &ctrl->counters.boot_enrolled : &ctrl->counters.boot_known);
	if (version[0] == '\0')
		return bootscript_text(resp, "#!ipxe\necho cloudd-boot: no image is published on the controller yet;"
					     " retrying in 30 seconds\nsleep 30\nchain %s/boot.ipxe?mac=${netX/mac}\n",
				       ctrl->cfg.url);
	if (nodes_issue_token(ctrl, mac, machine_id, token) < 0)
		return -1;
	if (fs_path(image_url, sizeof(image_url), "%s/images/%s", ctrl->cfg.url, version) < 0 ||
	    fs_path(args, sizeof(args), "cloud.image=%s cloud.token=%s%s%s", version, token,
		    ctrl->cfg.kernel_args[0] ? " " : "", ctrl->cfg.kernel_args) < 0)
		return -1;
	if (bootscript_template(ctrl, version, &tmpl) < 0) {
		buf_free(&tmpl);
		return -1;
	}
	rc = bootscript_render(tmpl.data, &(struct bootscript_vars){ image_url, ctrl->cfg.url, role, args }, &out, &err);
	buf_free(&tmpl);
	if (rc < 0) {
		char msg[600];
		log_error("boot script for %s: %s", mac, errmsg_str(&err, msg, sizeof(msg)));
		buf_free(&out);
		return -1;
	}
	rc = httpd_reply_text(resp, 200, "text/plain", out.data, out.len);
	httpd_add_header(resp, "Cache-Control", "no-store");
	buf_free(&out);
	return rc;
}

/* A GET that writes (tokens, and machines under unknown-mac = enroll or pending): rate-limited like the POSTs. */
int bootscript_register(struct controller *ctrl)
{
	return api_route(ctrl, "GET", "/boot.ipxe", bootscript_get, API_PUBLIC | API_LIMITED,
			 "a node's iPXE script for ?mac= (role, image version, kernel command line with the "
			 "controller URL and a one-time enrollment token)", NULL);
}
