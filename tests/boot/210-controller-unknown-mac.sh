#!/usr/bin/env bash
# unknown MACs through cloud-controller: ignored (the boot script sends the VM to the next device, no node) or enrolled with the default role (node up)
# timeout: 600
. "$ROOT/tests/lib.sh"
. "$ROOT/tests/boot/lib-controller.sh"

cc_boot_lab_up --unknown-mac ignore
log "unknown-mac = ignore: the VM is told it is not registered and never enrolls"
boot_vm ign e1000 52:54:00:c2:10:01
boot_wait_console 180 ign 'MAC 52:54:00:c2:10:01 is not registered'
grep -q 52:54:00:c2:10:01 <<<"$(ctl events --type boot.ignored)" || fail "no boot.ignored event"
console_has ign 'cloudd-init' && fail "an ignored MAC booted the image"
ctl machines show 52:54:00:c2:10:01 >/dev/null 2>&1 && fail "an ignored MAC became a machine"
kill -9 "$BOOT_VM_PID"

log "unknown-mac = enroll: the VM is enrolled with the default role and comes up"
cc_boot_controller --netboot dhcp --dhcp-range 192.0.2.50,192.0.2.99,255.255.255.0 --unknown-mac enroll --default-role hypervisor
boot_vm enr e1000 52:54:00:c2:10:02
boot_wait_console 300 enr 'cloudd-init: \[network\]'
wait_for 240 "the enrolled node is up" node_matches 52:54:00:c2:10:02 up
machine=$(ctl -o json machines show 52:54:00:c2:10:02) || fail "the MAC is not a machine"
grep -q '"source": "auto"' <<<"$machine" && grep -q '"role": "hypervisor"' <<<"$machine" ||
	fail "the machine was not auto-enrolled with the default role: $machine"
grep -q machine.enrolled <<<"$(ctl events --type machine)" || fail "no machine.enrolled event"
log "ok"
