/* node_cloudinit.c -- unit tests for the NoCloud seed: file contents, and the vfat image read back with mtools */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cloudinit.h"
#include "proc.h"
#include "unit.h"

static const char *const keys[] = { "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9x user@host",
				    "ssh-rsa AAAAB3Nza \"quoted\": yes" };
static const char *const dns[] = { "198.51.100.1" };

static struct cloudinit_spec spec(void)
{
	struct cloudinit_spec s = { .instance_id = "i-0001", .hostname = "web-1", .ssh_keys = keys,
				    .n_ssh_keys = 2, .dns = dns, .n_dns = 1, .n_nics = 2 };
	s.nics[0] = (struct cloudinit_nic){ .mac = "52:54:00:12:34:01", .ipv6 = "2001:db8:100::10", .ipv6_prefix = 64 };
	s.nics[1] = (struct cloudinit_nic){ .mac = "52:54:00:12:34:02" };
	return s;
}

TEST(cloudinit_meta_data_names_instance_and_host)
{
	struct cloudinit_spec s = spec();
	struct buf b = BUF_INIT;

	CHECK_INT(cloudinit_meta_data(&s, &b), 0);
	json_t *doc = json_loads(b.data, 0, NULL);
	CHECK(doc != NULL);
	CHECK_STR(json_string_value(json_object_get(doc, "instance-id")), "i-0001");
	CHECK_STR(json_string_value(json_object_get(doc, "local-hostname")), "web-1");
	CHECK_STR(json_string_value(json_array_get(json_object_get(doc, "public-keys"), 1)),
		  "ssh-rsa AAAAB3Nza \"quoted\": yes");
	json_decref(doc);
	buf_free(&b);
}

TEST(cloudinit_default_user_data_is_cloud_config_with_keys)
{
	struct cloudinit_spec s = spec();
	struct buf b = BUF_INIT;

	CHECK_INT(cloudinit_user_data(&s, &b), 0);
	CHECK(strncmp(b.data, "#cloud-config\n", 14) == 0);
	json_t *doc = json_loads(b.data + 14, 0, NULL);
	CHECK(doc != NULL);
	CHECK_STR(json_string_value(json_array_get(json_object_get(doc, "ssh_authorized_keys"), 0)), keys[0]);
	CHECK_INT(json_array_size(json_object_get(doc, "ssh_authorized_keys")), 2);
	json_decref(doc);
	buf_free(&b);

	s.user_data = "#!/bin/sh\necho hello\n";
	CHECK_INT(cloudinit_user_data(&s, &b), 0);
	CHECK_STR(b.data, "#!/bin/sh\necho hello\n");
	buf_free(&b);
}

TEST(cloudinit_network_config_matches_macs)
{
	struct cloudinit_spec s = spec();
	struct buf b = BUF_INIT;

	CHECK_INT(cloudinit_network_config(&s, &b), 0);
	json_t *doc = json_loads(b.data, 0, NULL);
	CHECK(doc != NULL);
	CHECK_INT(json_integer_value(json_object_get(doc, "version")), 2);
	json_t *e0 = json_object_get(json_object_get(doc, "ethernets"), "eth0");
	json_t *e1 = json_object_get(json_object_get(doc, "ethernets"), "eth1");
	CHECK_STR(json_string_value(json_object_get(json_object_get(e0, "match"), "macaddress")), "52:54:00:12:34:01");
	CHECK(json_is_true(json_object_get(e0, "dhcp4")));
	CHECK_STR(json_string_value(json_array_get(json_object_get(e0, "addresses"), 0)), "2001:db8:100::10/64");
	CHECK(json_object_get(e1, "addresses") == NULL);
	CHECK_STR(json_string_value(json_array_get(json_object_get(json_object_get(e1, "nameservers"), "addresses"), 0)),
		  "198.51.100.1");
	json_decref(doc);
	buf_free(&b);
}

/* Reads one file of the image back with mtype. */
static int image_file(const char *img, const char *name, struct buf *out)
{
	char src[64];
	snprintf(src, sizeof(src), "::%s", name);
	char *argv[] = { "mtype", "-i", (char *)img, src, NULL };
	int status;

	return proc_run(argv, NULL, 0, out, 10000, &status) == 0 && status == 0 ? 0 : -1;
}

TEST(cloudinit_seed_image_holds_the_files)
{
	struct cloudinit_spec s = spec();
	struct errmsg err = { 0 };
	char dir[] = "/tmp/node_cloudinit.XXXXXX", img[64], cmd[128];
	struct buf b = BUF_INIT, want = BUF_INIT;
	struct stat st1, st2;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(img, sizeof(img), "%s/seed.img", dir);
	CHECK_INT(cloudinit_build(&s, img, &err), 0);
	CHECK_INT(image_file(img, "meta-data", &b), 0);
	CHECK_INT(cloudinit_meta_data(&s, &want), 0);
	CHECK_STR(b.data, want.data);
	buf_reset(&b);
	buf_reset(&want);
	CHECK_INT(image_file(img, "user-data", &b), 0);
	CHECK_CONTAINS(b.data, "#cloud-config");
	buf_reset(&b);
	CHECK_INT(image_file(img, "network-config", &b), 0);
	CHECK_CONTAINS(b.data, "52:54:00:12:34:02");
	buf_reset(&b);
	/* the volume label NoCloud looks for */
	char *label[] = { "mlabel", "-s", "-i", img, "::", NULL };
	int status;
	CHECK_INT(proc_run(label, NULL, 0, &b, 10000, &status), 0);
	CHECK_CONTAINS(b.data, "CIDATA");
	buf_reset(&b);

	/* unchanged: not rebuilt; changed: rebuilt */
	CHECK_INT(stat(img, &st1), 0);
	CHECK_INT(cloudinit_build(&s, img, &err), 0);
	CHECK_INT(stat(img, &st2), 0);
	CHECK_INT(st1.st_ino, st2.st_ino);
	s.hostname = "web-2";
	CHECK_INT(cloudinit_build(&s, img, &err), 0);
	CHECK_INT(image_file(img, "meta-data", &b), 0);
	CHECK_CONTAINS(b.data, "\"web-2\"");
	CHECK_INT(access(img, F_OK), 0);
	buf_free(&b);
	buf_free(&want);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_INT(system(cmd), 0);
}
