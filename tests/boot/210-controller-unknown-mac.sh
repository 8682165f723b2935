#!/usr/bin/env bash
# unknown MACs through cloud-controller: ignored (the boot script sends the VM to the next device, no node), enrolled with the default role (node up), or pending (the VM waits with no token until an admin approves it, then comes up)
# timeout: 900
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
kill -9 "$BOOT_VM_PID"

log "unknown-mac = pending: the VM waits for approval with no token; approved, it boots and comes up"
PEN=52:54:00:c2:10:03
cc_boot_controller --netboot dhcp --dhcp-range 192.0.2.50,192.0.2.99,255.255.255.0 --unknown-mac pending --default-role hypervisor
boot_vm pen e1000 "$PEN"
boot_wait_console 180 pen "machine $PEN awaits approval"
pending_listed() { ctl machines list --state pending | grep -q "$PEN"; }
wait_for 10 "the MAC listed as pending" pending_listed
# the script asks again: a second request, still no token and no boot
asked_twice() { [ "$(grep -c "awaits approval" "$TEST_TMP/pen.console")" -ge 2 ]; }
wait_for 60 "the pending VM to ask again" asked_twice
console_has pen 'cloudd-init' && fail "a pending machine booted the image"
tokens=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT count(*) FROM enroll_tokens WHERE mac = ?', (sys.argv[2],)).fetchone()[0])" "$CC_DATA/controller.db" "$PEN")
[ "$tokens" = 0 ] || fail "$tokens enrollment tokens were issued to a pending machine"
ctl machines approve "$PEN" >/dev/null || fail "cloudctl machines approve failed"
boot_wait_console 300 pen 'cloudd-init: \[network\]'
wait_for 240 "the approved node is up" node_matches "$PEN" up
grep -q "$PEN" <<<"$(ctl events --type machine.approved)" || fail "no machine.approved event"
log "ok"
