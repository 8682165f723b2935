/* node_sysinfo.c -- the node inventory parsed from a fixture /proc and /sys tree */
#include "../../cloudd/node/cloudd.h"
#include "unit.h"

TEST(sysinfo_cpuinfo_and_meminfo_parsers)
{
	char model[64];
	unsigned count;
	unsigned long long bytes;

	CHECK_INT(sysinfo_parse_cpuinfo("processor\t: 0\nmodel name\t: CPU A\n\nprocessor\t: 1\nmodel name\t: CPU A\n",
					model, sizeof(model), &count), 0);
	CHECK_STR(model, "CPU A");
	CHECK_INT(count, 2);
	CHECK_INT(sysinfo_parse_cpuinfo("garbage\n", model, sizeof(model), &count), -1);
	CHECK_INT(sysinfo_parse_meminfo("MemTotal: 1024 kB\nMemFree: 10 kB\n", "MemFree", &bytes), 0);
	CHECK_INT(bytes, 10240);
	CHECK_INT(sysinfo_parse_meminfo("MemTotal: 1024 kB\n", "MemAvailable", &bytes), -1);
	CHECK_INT(sysinfo_parse_meminfo("MemTotal: kB\n", "MemTotal", &bytes), -1);
}

TEST(sysinfo_bootif)
{
	char mac[18];

	CHECK_INT(sysinfo_bootif_mac("quiet BOOTIF=01-52-54-00-AB-CD-EF x", mac, sizeof(mac)), 0);
	CHECK_STR(mac, "52:54:00:ab:cd:ef");
	CHECK_INT(sysinfo_bootif_mac("XBOOTIF=01-52-54-00-AB-CD-EF", mac, sizeof(mac)), -1);
	CHECK_INT(sysinfo_bootif_mac("BOOTIF=01-52-54-00-AB-CD", mac, sizeof(mac)), -1);
	CHECK_INT(sysinfo_bootif_mac("BOOTIF=01-52-54-00-AB-CD-ZZ", mac, sizeof(mac)), -1);
}

TEST(sysinfo_fixture_tree)
{
	char root[4096];
	struct sysinfo_source src = { .sysroot = root, .boot_env = "/run/cloudd/boot.env" };
	json_t *doc, *v;

	snprintf(root, sizeof(root), "%s", unit_fixture("sysinfo/node1"));
	doc = sysinfo_collect(&src);
	CHECK(doc != NULL);
	CHECK_STR(json_string_value(json_object_get(doc, "hostname")), "node-a1");
	/* no BOOT_MAC in boot.env: taken from BOOTIF= on the kernel command line */
	CHECK_STR(json_string_value(json_object_get(doc, "boot_mac")), "52:54:00:aa:bb:01");
	CHECK_STR(json_string_value(json_object_get(doc, "boot_interface")), "eno1");
	CHECK_STR(json_string_value(json_object_get(doc, "image_version")), "v0.1-3-gabc");
	v = json_object_get(doc, "cpu");
	CHECK_STR(json_string_value(json_object_get(v, "model")), "Intel(R) Xeon(R) Gold 6138 CPU @ 2.00GHz");
	CHECK_INT(json_integer_value(json_object_get(v, "count")), 4);
	v = json_object_get(doc, "memory");
	CHECK_INT(json_integer_value(json_object_get(v, "total_bytes")), 65842312LL * 1024);
	CHECK_INT(json_integer_value(json_object_get(v, "available_bytes")), 61234567LL * 1024);

	v = json_object_get(doc, "block_devices");
	CHECK_INT(json_array_size(v), 2); /* loop0 left out */
	CHECK_STR(json_string_value(json_object_get(json_array_get(v, 0), "name")), "nvme0n1");
	CHECK_INT(json_integer_value(json_object_get(json_array_get(v, 0), "size_bytes")), 3750748848LL * 512);
	CHECK_STR(json_string_value(json_object_get(json_array_get(v, 0), "model")), "INTEL SSDPE2KX020T8");
	CHECK_STR(json_string_value(json_object_get(json_array_get(v, 1), "name")), "sda");
	CHECK(json_is_false(json_object_get(json_array_get(v, 1), "rotational")));

	v = json_object_get(doc, "nics");
	CHECK_INT(json_array_size(v), 3); /* lo left out */
	CHECK_STR(json_string_value(json_object_get(json_array_get(v, 0), "name")), "brguest");
	CHECK(json_is_false(json_object_get(json_array_get(v, 0), "physical")));
	CHECK_STR(json_string_value(json_object_get(json_array_get(v, 1), "name")), "eno1");
	CHECK_STR(json_string_value(json_object_get(json_array_get(v, 1), "mac")), "52:54:00:aa:bb:01");
	CHECK_STR(json_string_value(json_object_get(json_array_get(v, 1), "link")), "up");
	CHECK(json_is_true(json_object_get(json_array_get(v, 1), "carrier")));
	CHECK(json_is_true(json_object_get(json_array_get(v, 1), "physical")));
	CHECK_INT(json_integer_value(json_object_get(json_array_get(v, 1), "speed_mbps")), 10000);
	CHECK_INT(json_integer_value(json_object_get(json_array_get(v, 1), "mtu")), 9000);
	CHECK_STR(json_string_value(json_object_get(json_array_get(v, 2), "link")), "down");
	CHECK(json_is_false(json_object_get(json_array_get(v, 2), "carrier")));
	CHECK(json_object_get(json_array_get(v, 2), "speed_mbps") == NULL); /* unknown speed */

	v = json_object_get(doc, "kernel");
	CHECK_STR(json_string_value(json_object_get(v, "release")), "6.1.0-27-amd64");
	CHECK_INT(json_integer_value(json_object_get(doc, "uptime_seconds")), 1234);
	CHECK(json_is_null(json_object_get(doc, "kvm")));
	json_decref(doc);
}

TEST(sysinfo_boot_env_mac_wins_over_cmdline)
{
	char root[4096];
	struct sysinfo_source src = { .sysroot = root, .boot_env = "/run/cloudd/boot-mac.env" };
	json_t *doc;

	snprintf(root, sizeof(root), "%s", unit_fixture("sysinfo/node1"));
	doc = sysinfo_collect(&src);
	CHECK(doc != NULL);
	CHECK_STR(json_string_value(json_object_get(doc, "boot_mac")), "52:54:00:aa:bb:99");
	CHECK_STR(json_string_value(json_object_get(doc, "boot_interface")), "eno2");
	json_decref(doc);
}

TEST(sysinfo_empty_root_reports_nulls)
{
	struct sysinfo_source src = { .sysroot = "/nonexistent-root", .boot_env = "/run/cloudd/boot.env" };
	json_t *doc = sysinfo_collect(&src);

	CHECK(doc != NULL);
	CHECK(json_is_null(json_object_get(doc, "hostname")));
	CHECK_INT(json_array_size(json_object_get(doc, "nics")), 0);
	CHECK_INT(json_integer_value(json_object_get(json_object_get(doc, "cpu"), "count")), 0);
	json_decref(doc);
}

TEST(sysinfo_kvm_probe_reports_missing_device)
{
	json_t *k = sysinfo_kvm_probe("/nonexistent/kvm");

	CHECK(json_is_false(json_object_get(k, "usable")));
	CHECK_CONTAINS(json_string_value(json_object_get(k, "reason")), "No such file");
	json_decref(k);
}
