#!/usr/bin/env bash
# dnsmasq from pxe/dnsmasq.conf.in: BIOS PXE gets undionly.kpxe, UEFI PXE gets snponly.efi (both fetched by TFTP), iPXE gets the HTTP boot script
#
# The client is busybox udhcpc presenting itself the way firmware does: PXE
# vendor class and client architecture (option 93), or the iPXE user class
# (option 77). QEMU's boot ROMs are iPXE already, so this is where the
# plain-PXE branch of the configuration is exercised.
. "$ROOT/tests/lib.sh"
. "$ROOT/tests/boot/lib-boot.sh"

CLIENT_NS="cpxe-$TEST_ID"

# the client's namespace, joined to the lab bridge by a veth pair
client_up() {
	netns_add "$CLIENT_NS"
	ip link add "vl$TEST_ID" type veth peer name "vc$TEST_ID"
	ip link set "vl$TEST_ID" netns "$BOOT_NS"
	ip link set "vc$TEST_ID" netns "$CLIENT_NS"
	in_ns "$BOOT_NS" ip link set "vl$TEST_ID" master "$BOOT_BR" up
	in_ns "$CLIENT_NS" ip link set "vc$TEST_ID" up
	cat >"$TEST_TMP/lease.sh" <<'SH'
#!/bin/sh
# takes the address and records the offered boot file (BOOTP file field or option 67)
case "$1" in
deconfig) ip -4 addr flush dev "$interface" ;;
bound) ip addr add "$ip/${mask:-24}" dev "$interface" ;;
*) exit 0 ;;
esac
[ "$1" = bound ] || exit 0
echo "ip=$ip siaddr=$siaddr boot_file=$boot_file bootfile=$bootfile" >"$LEASE_OUT"
SH
	chmod +x "$TEST_TMP/lease.sh"
}

# dhcp_ask NAME UDHCPC-OPTIONS..: one DHCP exchange; prints the lease line
dhcp_ask() {
	local name="$1"
	shift
	LEASE_OUT="$TEST_TMP/$name.lease" in_ns "$CLIENT_NS" env LEASE_OUT="$TEST_TMP/$name.lease" \
		busybox udhcpc -i "vc$TEST_ID" -f -q -n -t 5 -T 2 -s "$TEST_TMP/lease.sh" "$@" \
		>"$TEST_TMP/$name.udhcpc.log" 2>&1 || fail "$name: no DHCP lease (see $TEST_TMP/$name.udhcpc.log)"
	cat "$TEST_TMP/$name.lease"
}

# boot_file_of LEASE-LINE: the file the server told the client to boot
boot_file_of() { sed -n 's/.*boot_file=\([^ ]*\).*/\1/p; s/.* bootfile=\([^ ]*\)$/\1/p' <<<"$1" | grep -v '^$' | head -1; }

# tftp_check FILE: fetch FILE from the lab's TFTP server and compare with out/
tftp_check() {
	(cd "$TEST_TMP" && in_ns "$CLIENT_NS" busybox tftp -g -r "$1" -l "$TEST_TMP/tftp.$1" "$BOOT_GW") ||
		fail "TFTP download of $1 failed"
	cmp "$TEST_TMP/tftp.$1" "$OUT/$1" || fail "TFTP served a different $1"
	log "TFTP: $1 ($(stat -c %s "$TEST_TMP/tftp.$1") bytes) identical to $OUT/$1"
}

boot_lab_up
client_up

pxe_vendor=PXEClient:Arch:00000:UNDI:002001
lease=$(dhcp_ask bios -V "$pxe_vendor" -x 0x5d:0000)
log "BIOS PXE firmware (arch 0): $lease"
[ "$(boot_file_of "$lease")" = undionly.kpxe ] || fail "BIOS PXE firmware was not sent undionly.kpxe"
tftp_check undionly.kpxe

lease=$(dhcp_ask uefi -V PXEClient:Arch:00007:UNDI:003016 -x 0x5d:0007)
log "UEFI PXE firmware (arch 7): $lease"
[ "$(boot_file_of "$lease")" = snponly.efi ] || fail "UEFI PXE firmware was not sent snponly.efi"
tftp_check snponly.efi

# iPXE (what undionly.kpxe / snponly.efi become): user class "iPXE"
lease=$(dhcp_ask ipxe -V "$pxe_vendor" -x 0x5d:0000 -x 0x4d:69505845)
log "iPXE (user class iPXE, arch 0): $lease"
[ "$(boot_file_of "$lease")" = "$BOOT_HTTP/boot.ipxe" ] ||
	fail "iPXE was not sent the boot script URL (a chainload loop if it gets an iPXE binary again)"
