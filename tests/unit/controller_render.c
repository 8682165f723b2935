/* controller_render.c -- boot script and dnsmasq configuration rendering from the pxe/ templates */
#include <stdlib.h>

#include "controller.h"
#include "fsutil.h"
#include "unit.h"

static int read_pxe(const char *name, struct buf *out)
{
	char path[4200];

	/* fixtures are tests/unit/fixtures; the templates are in pxe/ at the top */
	snprintf(path, sizeof(path), "%s/../../../pxe/%s", unit_fixture(""), name);
	return fs_read_file(path, 65536, out);
}

TEST(bootscript_from_pxe_template)
{
	struct buf tmpl = BUF_INIT, out = BUF_INIT;
	struct errmsg err = { 0 };
	struct bootscript_vars v = { "http://192.0.2.1:8080/images/v1", "http://192.0.2.1:8080", "hypervisor",
				     "cloud.image=v1 cloud.token=abc123" };

	CHECK_INT(read_pxe("boot.ipxe.in", &tmpl), 0);
	CHECK_INT(bootscript_render(tmpl.data, &v, &out, &err), 0);
	CHECK(strncmp(out.data, "#!ipxe\n", 7) == 0);
	CHECK_CONTAINS(out.data, "set image http://192.0.2.1:8080/images/v1\n");
	CHECK_CONTAINS(out.data, "cloud.controller=http://192.0.2.1:8080 cloud.role=hypervisor cloud.image=v1 cloud.token=abc123");
	CHECK(strstr(out.data, "@ROLE@") == NULL);
	buf_free(&tmpl);
	buf_free(&out);
}

TEST(bootscript_refuses_script_injection)
{
	struct buf out = BUF_INIT;
	struct errmsg err = { 0 };
	struct bootscript_vars v = { "http://h/images/v1", "http://h", "hypervisor\nshell", "" };

	CHECK_INT(bootscript_render("@ROLE@", &v, &out, &err), -1);
	v.role = "x";
	v.kernel_args = "${evil}";
	CHECK_INT(bootscript_render("@KERNEL_ARGS@", &v, &out, &err), -1);
	buf_free(&out);
}

TEST(dnsmasq_dhcp_mode)
{
	struct ctl_config cfg = { 0 };
	struct buf tmpl = BUF_INIT, out = BUF_INIT;
	struct errmsg err = { 0 };

	snprintf(cfg.url, sizeof(cfg.url), "http://192.0.2.1:8080");
	snprintf(cfg.interface, sizeof(cfg.interface), "prov0");
	snprintf(cfg.dhcp_range, sizeof(cfg.dhcp_range), "192.0.2.100,192.0.2.200,255.255.255.0");
	snprintf(cfg.ipxe_dir, sizeof(cfg.ipxe_dir), "/usr/lib/ipxe");
	cfg.netboot = NETBOOT_DHCP;
	CHECK_INT(read_pxe("dnsmasq.conf.in", &tmpl), 0);
	CHECK_INT(netboot_render(&cfg, tmpl.data, "/var/lib/cc/dnsmasq/hosts", &out, &err), 0);
	CHECK_CONTAINS(out.data, "interface=prov0\n");
	CHECK_CONTAINS(out.data, "dhcp-range=192.0.2.100,192.0.2.200,255.255.255.0");
	CHECK_CONTAINS(out.data, "tftp-root=/usr/lib/ipxe\n");
	CHECK_CONTAINS(out.data, "dhcp-boot=tag:ipxe,http://192.0.2.1:8080/boot.ipxe?mac=${netX/mac}\n");
	CHECK_CONTAINS(out.data, "dhcp-boot=tag:!ipxe,tag:bios,undionly.kpxe\n");
	CHECK_CONTAINS(out.data, "snponly.efi");
	CHECK_CONTAINS(out.data, "dhcp-leasefile=/var/lib/cc/dnsmasq/dnsmasq.leases\n");
	CHECK_CONTAINS(out.data, "dhcp-hostsfile=/var/lib/cc/dnsmasq/hosts\n");
	CHECK(strstr(out.data, "@INTERFACE@") == NULL && strstr(out.data, "@BOOT_URL@") == NULL);
	buf_free(&tmpl);
	buf_free(&out);
}

TEST(dnsmasq_proxy_mode)
{
	struct ctl_config cfg = { 0 };
	struct buf tmpl = BUF_INIT, out = BUF_INIT;
	struct errmsg err = { 0 };

	snprintf(cfg.url, sizeof(cfg.url), "http://192.0.2.1:8080");
	snprintf(cfg.interface, sizeof(cfg.interface), "prov0");
	snprintf(cfg.dhcp_range, sizeof(cfg.dhcp_range), "192.0.2.0");
	snprintf(cfg.ipxe_dir, sizeof(cfg.ipxe_dir), "/usr/lib/ipxe");
	cfg.netboot = NETBOOT_PROXY;
	CHECK_INT(read_pxe("dnsmasq-proxy.conf.in", &tmpl), 0);
	CHECK_INT(netboot_render(&cfg, tmpl.data, "/d/hosts", &out, &err), 0);
	CHECK_CONTAINS(out.data, "dhcp-range=192.0.2.0,proxy");
	CHECK_CONTAINS(out.data, "undionly.kpxe");
	CHECK_CONTAINS(out.data, "http://192.0.2.1:8080/boot.ipxe?mac=${netX/mac}");
	CHECK(strstr(out.data, "dhcp-authoritative") == NULL);
	buf_free(&tmpl);
	buf_free(&out);
}

TEST(range_parsing)
{
	unsigned long long s, l;

	CHECK_INT(images_parse_range("bytes=0-99", 1000, &s, &l), 0);
	CHECK_INT(s, 0);
	CHECK_INT(l, 100);
	CHECK_INT(images_parse_range("bytes=900-", 1000, &s, &l), 0);
	CHECK_INT(s, 900);
	CHECK_INT(l, 100);
	CHECK_INT(images_parse_range("bytes=-10", 1000, &s, &l), 0);
	CHECK_INT(s, 990);
	CHECK_INT(l, 10);
	CHECK_INT(images_parse_range("bytes=990-5000", 1000, &s, &l), 0);
	CHECK_INT(l, 10);
	CHECK_INT(images_parse_range("bytes=1000-", 1000, &s, &l), -1);
	CHECK_INT(images_parse_range("bytes=-0", 1000, &s, &l), -1);
	CHECK_INT(images_parse_range("bytes=5-1", 1000, &s, &l), 1);
	CHECK_INT(images_parse_range("bytes=0-1,5-6", 1000, &s, &l), 1);
	CHECK_INT(images_parse_range("items=0-1", 1000, &s, &l), 1);
	CHECK_INT(images_parse_range("bytes=x-1", 1000, &s, &l), 1);
	CHECK_INT(images_parse_range("bytes=99999999999999999999999-", 1000, &s, &l), 1);
}

TEST(sha256sums_lookup)
{
	const char *sums = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  vmlinuz\n"
			   "0000000000000000000000000000000000000000000000000000000000000001 *initramfs.img\n"
			   "zz  broken\n";
	char hex[65];

	CHECK_INT(images_sums_lookup(sums, "vmlinuz", hex), 0);
	CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	CHECK_INT(images_sums_lookup(sums, "initramfs.img", hex), 0);
	CHECK_STR(hex, "0000000000000000000000000000000000000000000000000000000000000001");
	CHECK_INT(images_sums_lookup(sums, "vmlinu", hex), -1);
	CHECK_INT(images_sums_lookup(sums, "broken", hex), -1);
}

/* dnsmasq's lease file: "EXPIRY MAC ADDRESS HOSTNAME CLIENT-ID"; IPv6 leases after "duid". */
TEST(lease_binds_mac_to_address)
{
	const char *leases = "1700000100 52:54:00:c2:00:01 192.0.2.51 node-200 01:52:54:00:c2:00:01\n"
			     "1700000100 52:54:00:c2:00:02 192.0.2.52 * *\n"
			     "1600000000 52:54:00:c2:00:03 192.0.2.53 * *\n"	   /* expired */
			     "0 52:54:00:C2:00:04 192.0.2.54 * *\n"		   /* never expires, upper case */
			     "1700000100 52:54:00:c2:00:05 192.0.2.55 * *\n"
			     "1700000100 52:54:00:c2:00:05 192.0.2.56 * 01:52:54:00:c2:00:05\n" /* iPXE and Linux */
			     "garbage\n"
			     "duid 00:01:00:01:2c:00:00:00:52:54:00:00:00:01\n"
			     "1700000100 1234 2001:db8::5 * 00:01\n";
	char leased[64];

	CHECK_INT(netboot_lease_matches(leases, "52:54:00:c2:00:01", "192.0.2.51", 1700000000, leased, sizeof(leased)), 1);
	CHECK_INT(netboot_lease_matches(leases, "52:54:00:c2:00:01", "::ffff:192.0.2.51", 1700000000, leased,
					sizeof(leased)), 1);
	/* another address: refused, naming the leased one */
	CHECK_INT(netboot_lease_matches(leases, "52:54:00:c2:00:01", "192.0.2.52", 1700000000, leased, sizeof(leased)), 0);
	CHECK_STR(leased, "192.0.2.51");
	/* the address of another MAC's lease */
	CHECK_INT(netboot_lease_matches(leases, "52:54:00:c2:00:02", "192.0.2.51", 1700000000, leased, sizeof(leased)), 0);
	CHECK_STR(leased, "192.0.2.52");
	/* an expired lease is none */
	CHECK_INT(netboot_lease_matches(leases, "52:54:00:c2:00:03", "192.0.2.53", 1700000000, leased, sizeof(leased)), 0);
	CHECK_STR(leased, "");
	CHECK_INT(netboot_lease_matches(leases, "52:54:00:c2:00:04", "192.0.2.54", 1700000000, leased, sizeof(leased)), 1);
	/* two leases of one MAC: either address */
	CHECK_INT(netboot_lease_matches(leases, "52:54:00:c2:00:05", "192.0.2.56", 1700000000, leased, sizeof(leased)), 1);
	CHECK_INT(netboot_lease_matches(leases, "52:54:00:c2:00:05", "192.0.2.55", 1700000000, leased, sizeof(leased)), 1);
	/* no lease at all, and an empty file */
	CHECK_INT(netboot_lease_matches(leases, "52:54:00:c2:00:99", "192.0.2.51", 1700000000, leased, sizeof(leased)), 0);
	CHECK_STR(leased, "");
	CHECK_INT(netboot_lease_matches("", "52:54:00:c2:00:01", "192.0.2.51", 1700000000, leased, sizeof(leased)), 0);
}
