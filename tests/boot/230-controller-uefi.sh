#!/usr/bin/env bash
# UEFI netboot through cloud-controller: OVMF's own PXE (virtio-net, no iPXE ROM) gets snponly.efi by TFTP (client architecture 7), iPXE gets the boot script, the node enrolls
# timeout: 600
. "$ROOT/tests/lib.sh"
. "$ROOT/tests/boot/lib-controller.sh"

OVMF_CODE=/usr/share/OVMF/OVMF_CODE_4M.fd
OVMF_VARS=/usr/share/OVMF/OVMF_VARS_4M.fd
[ -f "$OVMF_CODE" ] && [ -f "$OVMF_VARS" ] || fail "no OVMF firmware in /usr/share/OVMF (Debian package ovmf; ./build.sh deps)"
MAC=52:54:00:c2:30:01

cc_boot_lab_up
ctl machines add "$MAC" --name node-230 >/dev/null
cp "$OVMF_VARS" "$TEST_TMP/vars.fd"
# no option ROM: OVMF's VirtioNetDxe and PXE client, not QEMU's iPXE, start the boot
boot_vm efi "virtio-net-pci,romfile=" "$MAC" -machine q35 \
	-drive "if=pflash,format=raw,unit=0,readonly=on,file=$OVMF_CODE" \
	-drive "if=pflash,format=raw,unit=1,file=$TEST_TMP/vars.fd"
boot_wait_console 420 efi 'cloudd-init: \[network\]'
wait_for 240 "the UEFI node is up" node_matches "$MAC" up
# the EFI path: option 93 = 7 -> snponly.efi over TFTP, then the iPXE boot script
grep -Eq 'sent .*snponly\.efi' "$CC_LOG" || fail "dnsmasq did not send snponly.efi by TFTP (see $CC_LOG)"
grep -q 'undionly.kpxe' "$CC_LOG" && fail "the UEFI client was sent the BIOS binary"
grep -q 'tags: .*efi64' "$CC_LOG" || fail "dnsmasq did not tag the client efi64 (option 93)"
log "ok: UEFI client took snponly.efi, then the boot script, and enrolled"
