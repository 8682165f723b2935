#!/usr/bin/env bash
# virtio-net NIC netboots the image; cloudd answers /health to anyone and /v1/sysinfo (with the VM's MAC) only to a request signed with its registered key, also after a killed cloudd is restarted by runsv and logged; the lease is renewed in place
# timeout: 420
. "$ROOT/tests/lib.sh"
. "$ROOT/tests/boot/lib-boot.sh"

boot_lab_up
boot_stub_controller
boot_render_ipxe hypervisor "cloud.console=shell cloud.token=boot-test"
boot_and_check virtio virtio-net-pci 52:54:00:c1:0f:20
ip=$(boot_node_ip virtio)

# supervision: kill cloudd from the console; runsv restarts it, the finish
# script logs it (console and syslog) and /health answers again
wait_for 60 "a shell prompt on the console" console_has virtio 'node-[0-9a-f]+:.*#'
console_send virtio ""
console_send virtio 'kill -9 $(pidof cloudd)'
wait_for 120 "the restart of cloudd on the console" console_has virtio 'runsv: service cloudd exited \(code -1, signal 9\)'
wait_for 120 "cloudd /health after the restart" http_get "http://$ip:8081/health"
# the restarted cloudd keeps its credential: the same key still signs, nothing else does
wait_for 30 "a signed /v1/sysinfo after the restart" node_get "http://$ip:8081/v1/sysinfo"
[ "$(http_code "http://$ip:8081/v1/state")" = 401 ] || fail "an unsigned /v1/state after the restart was not refused"
console_send virtio 'echo LOGGED=$(logread | grep -c "service cloudd exited")'
wait_for 60 "the restart in the node's syslog" console_has virtio 'LOGGED=[1-9]'
log "virtio: cloudd killed, restarted by runsv, restart logged; /health answers again"

# the dhcp service renews the lease (SIGUSR1 = renew now) without touching the address
acks() { grep -c "DHCPACK($BOOT_BR) $ip 52:54:00:c1:0f:20" "$TEST_TMP/dnsmasq.log"; }
before=$(acks)
console_send virtio 'sv 1 /run/service/dhcp'
wait_for 60 "a renewal of $ip (DHCPACK) in the dnsmasq log" test "$(acks)" -gt "$before"
http_get "http://$ip:8081/health" >/dev/null || fail "cloudd stopped answering after the lease renewal"
log "virtio: lease of $ip renewed by the dhcp service, cloudd still answers"
