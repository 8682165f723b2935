/* node_hostguard.c -- the node's input policy towards its guests: the nft script (golden) and the ARP sysctls */
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../cloudd/node/hostguard.h"
#include "buf.h"
#include "fsutil.h"
#include "unit.h"

TEST(hostguard_script_golden)
{
	struct buf out = BUF_INIT, want = BUF_INIT;
	struct errmsg err = { 0 };

	CHECK_INT(hostguard_script("br-guests", &out, &err), 0);
	CHECK_INT(fs_read_file(unit_fixture("hostguard/br-guests.nft"), 65536, &want), 0);
	CHECK_STR(out.data, want.data);
	buf_free(&out);
	buf_free(&want);
}

TEST(hostguard_script_refuses_bad_bridge_names)
{
	const char *const bad[] = { "", "br\"; flush ruleset; \"", "a-name-much-too-long", "br 0", "..", "br/0" };
	struct errmsg err = { 0 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct buf out = BUF_INIT;
		err = (struct errmsg){ 0 };
		CHECK_INT(hostguard_script(bad[i], &out, &err), -1);
		CHECK_STR(err.field, "network.bridge");
		CHECK_INT(out.len, 0);
		buf_free(&out);
	}
}

/* the sysctls go to the bridge's directory; nft is a stand-in that records its input */
TEST(hostguard_apply_sets_arp_sysctls_and_loads_the_table)
{
	char dir[] = "/tmp/hostguard.XXXXXX", path[256], nft[300];
	struct buf got = BUF_INIT;
	struct errmsg err = { 0 };
	FILE *f;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/brg", dir);
	CHECK_INT(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/brg/arp_ignore", dir);
	f = fopen(path, "w");
	CHECK(f != NULL);
	fputs("0\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/brg/arp_announce", dir);
	f = fopen(path, "w");
	CHECK(f != NULL);
	fputs("0\n", f);
	fclose(f);
	snprintf(nft, sizeof(nft), "%s/nft", dir);
	f = fopen(nft, "w");
	CHECK(f != NULL);
	fprintf(f, "#!/bin/sh\ncat >\"%s/script\"\n", dir);
	fclose(f);
	chmod(nft, 0755);
	setenv("CLOUDD_NFT", nft, 1);
	CHECK_INT(hostguard_apply("brg", dir, &err), 0);
	snprintf(path, sizeof(path), "%s/brg/arp_ignore", dir);
	CHECK_INT(fs_read_file(path, 64, &got), 0);
	CHECK_STR(got.data, "1\n");
	buf_free(&got);
	snprintf(path, sizeof(path), "%s/brg/arp_announce", dir);
	CHECK_INT(fs_read_file(path, 64, &got), 0);
	CHECK_STR(got.data, "2\n");
	buf_free(&got);
	snprintf(path, sizeof(path), "%s/script", dir);
	CHECK_INT(fs_read_file(path, 65536, &got), 0);
	CHECK_CONTAINS(got.data, "iifname \"brg\" jump from_guests");
	buf_free(&got);
	/* a bridge without sysctls (no such interface) fails naming the file, and loads nothing */
	unlink(path);
	CHECK_INT(hostguard_apply("brnone", dir, &err), -1);
	CHECK_CONTAINS(err.msg, "brnone/arp_ignore");
	CHECK_INT(access(path, F_OK), -1);
	unsetenv("CLOUDD_NFT");
	{
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		CHECK_INT(system(cmd), 0);
	}
}
