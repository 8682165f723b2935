#!/usr/bin/env bash
# e1000 NIC (SeaBIOS + QEMU's iPXE ROM) netboots the image over dnsmasq + HTTP; cloudd's /health answers anyone, /v1/sysinfo a request signed with its registered key, with the VM's MAC; syslog reaches the controller host
#
# Which path this exercises: QEMU's e1000 boot ROM (ipxe-qemu) is itself iPXE,
# built from the same iPXE source as Debian's undionly.kpxe and announcing the
# same user class, feature options (175.x) and vendor class, so no DHCP option
# tells them apart: dnsmasq (correctly) hands it the HTTP boot script
# directly. The plain-PXE branch (option 93 -> undionly.kpxe / snponly.efi by
# TFTP) is checked by 030-dhcp-chainload with a real DHCP client that presents
# itself as PXE firmware.
# timeout: 420
. "$ROOT/tests/lib.sh"
. "$ROOT/tests/boot/lib-boot.sh"

boot_lab_up
boot_stub_controller
boot_render_ipxe hypervisor cloud.token=boot-test
boot_syslog_sink
boot_and_check e1000 e1000 52:54:00:c1:0e:10
# the iPXE path: the boot script and both image files came over HTTP
grep -q 'bootfile-name  http://192.0.2.1:8080/boot.ipxe' "$TEST_TMP/dnsmasq.log" ||
	fail "dnsmasq did not hand the iPXE ROM the boot script URL"
for f in /boot.ipxe /image/vmlinuz /image/initramfs.img; do
	grep -q "url:$f" "$TEST_TMP/httpd.log" || fail "the HTTP server log shows no GET $f"
done
# the node's syslogd forwards to the controller host: cloudd's start-up line arrives
wait_for 60 "cloudd's log line at the controller host's syslog port" grep -q 'cloudd.*serving HTTP' "$TEST_TMP/syslog.remote"
log "remote syslog: $(grep -m1 'cloudd.*serving HTTP' "$TEST_TMP/syslog.remote")"
