/* node_guestnet.c -- the guest dnsmasq configuration rendered from pxe/dnsmasq-guests.conf.in */
#include <errno.h>
#include <string.h>

#include "guestnet.h"
#include "unit.h"

TEST(guestnet_dhcp_conf_renders_the_template)
{
	const char *dns[] = { "192.0.2.53", "192.0.2.54" };
	struct buf out = BUF_INIT;
	struct errmsg err = { 0 };

	CHECK_INT(guestnet_dhcp_conf("/run/cloudd/dhcp", "brguest", "198.51.100.1/24", "198.51.100.254", dns, 2,
				     &out, &err), 0);
	CHECK_CONTAINS(out.data, "\ninterface=brguest\n");
	CHECK_CONTAINS(out.data, "\ndhcp-range=198.51.100.0,static,255.255.255.0," GUESTNET_LEASE_TIME "\n");
	CHECK_CONTAINS(out.data, "\ndhcp-hostsfile=/run/cloudd/dhcp/hosts\n");
	CHECK_CONTAINS(out.data, "\ndhcp-leasefile=/run/cloudd/dhcp/leases\n");
	CHECK_CONTAINS(out.data, "\ndhcp-ignore=tag:!known\n");
	CHECK_CONTAINS(out.data, "\ndhcp-option=option:router,198.51.100.254\n");
	CHECK_CONTAINS(out.data, "\ndhcp-option=option:dns-server,192.0.2.53,192.0.2.54\n");
	/* every placeholder filled */
	CHECK(strstr(out.data, "@BRIDGE@") == NULL && strstr(out.data, "@DIR@") == NULL);
	CHECK(strstr(out.data, "@NETWORK@") == NULL && strstr(out.data, "@LEASE_TIME@") == NULL);

	/* without gateway and DNS servers: no options for them */
	CHECK_INT(guestnet_dhcp_conf("/d", "br0", "10.0.0.1/8", NULL, NULL, 0, &out, &err), 0);
	CHECK_CONTAINS(out.data, "\ndhcp-range=10.0.0.0,static,255.0.0.0,");
	CHECK(strstr(out.data, "dhcp-option=") == NULL);
	buf_free(&out);
}

TEST(guestnet_dhcp_conf_refuses_bad_values)
{
	const char *bad_dns[] = { "192.0.2.1", "not-an-address" };
	struct buf out = BUF_INIT;
	struct errmsg err = { 0 };

	CHECK_INT(guestnet_dhcp_conf("/d", "br guest", "198.51.100.1/24", NULL, NULL, 0, &out, &err), -1);
	CHECK_STR(err.field, "network.bridge");
	memset(&err, 0, sizeof(err));
	CHECK_INT(guestnet_dhcp_conf("/d", "brguest", "198.51.100.1", NULL, NULL, 0, &out, &err), -1);
	CHECK_STR(err.field, "network.address");
	memset(&err, 0, sizeof(err));
	CHECK_INT(guestnet_dhcp_conf("/d", "brguest", "198.51.100.1/24", "198.51.100.300", NULL, 0, &out, &err), -1);
	CHECK_STR(err.field, "network.gateway");
	memset(&err, 0, sizeof(err));
	CHECK_INT(guestnet_dhcp_conf("/d", "brguest", "198.51.100.1/24", NULL, bad_dns, 2, &out, &err), -1);
	CHECK_STR(err.field, "network.dns");
	CHECK_INT(errno, EINVAL);
	buf_free(&out);
}
