#!/usr/bin/env bash
# boots broken on purpose stop with the failed stage named: missing initramfs (iPXE [initrd]), unknown role (/init [services], reported to the controller)
# timeout: 420
. "$ROOT/tests/lib.sh"
. "$ROOT/tests/boot/lib-boot.sh"

boot_lab_up

# 1. the HTTP server has no initramfs: iPXE retries, then names the stage
rm "$BOOT_WWW/image/initramfs.img"
boot_vm noinitrd virtio-net-pci 52:54:00:c1:0b:01
boot_wait_console 240 noinitrd 'cloudd-boot: \[[a-z]+\] FAILED'
stage=$(boot_last_stage noinitrd)
log "noinitrd: $stage"
case "$stage" in
*"[initrd] FAILED: cannot download initramfs.img"*) ;;
*) fail "expected the [initrd] stage to fail naming initramfs.img, got: $stage" ;;
esac
[ "$(grep -ac 'cloudd-boot: \[initrd\] initramfs.img: attempt ./5 failed' "$TEST_TMP/noinitrd.console")" -eq 5 ] ||
	fail "iPXE did not retry the initramfs download 5 times"
! console_has noinitrd 'Linux version' || fail "a kernel started although the initramfs was missing"
kill -9 "$BOOT_VM_PID"

# 2. the image is complete but the role does not exist: /init stops in
# [services], reports to the controller and leaves a shell on the console
ln -s "$OUT/initramfs.img" "$BOOT_WWW/image/initramfs.img"
boot_render_ipxe no-such-role ""
boot_vm norole virtio-net-pci 52:54:00:c1:0b:02
boot_wait_console 300 norole "boot stopped in stage 'services'"
stage=$(grep -aoE 'cloudd-init: \[services\] FAILED.*' "$TEST_TMP/norole.console" | tr -d '\r')
log "norole: $stage"
[ -n "$stage" ] || fail "no [services] FAILED line on the console"
console_has norole "no such role 'no-such-role'" || fail "the console does not say why [services] failed"
wait_for 30 "a POST /v1/boot-failures on the controller's HTTP server" grep -q 'url:/v1/boot-failures' "$TEST_TMP/httpd.log"
! console_has norole 'starting runsvdir' || fail "/init went on past the failed stage"
log "norole: failure reported to the controller, boot stopped at [services]"
