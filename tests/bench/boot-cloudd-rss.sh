#!/usr/bin/env bash
# cloudd idle resident memory on a netbooted node (QEMU TCG), against the 4 MB target
# timeout: 600
#
# Boots the image with a console shell (cloud.console=shell), lets the node
# idle, then reads cloudd's VmRSS from /proc on the node's console and its
# own process_resident_memory_bytes from /metrics; for scale, the VmRSS of
# the node's busybox syslogd, the smallest daemon there.
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/boot/lib-boot.sh"

IDLE="${IDLE:-20}"
TARGET_KB=4096
RESULT="$OUT/bench/boot-cloudd-rss.txt"
mkdir -p "$OUT/bench"

boot_lab_up
boot_stub_controller
boot_render_ipxe hypervisor "cloud.console=shell cloud.token=boot-test"
boot_vm rss virtio-net-pci 52:54:00:be:00:02
boot_wait_console 300 rss 'cloudd-init: \[network\]'
ip=$(boot_node_ip rss)
wait_for 240 "cloudd /health on $ip:8081" http_get "http://$ip:8081/health"
wait_for 60 "a signed /v1/sysinfo on $ip:8081" node_get "http://$ip:8081/v1/sysinfo"
log "cloudd answers; idling ${IDLE}s"
sleep "$IDLE"
metrics_bytes=$(http_get "http://$ip:8081/metrics" | awk '$1 == "process_resident_memory_bytes" { print $2 }')
[ -n "$metrics_bytes" ] || fail "no process_resident_memory_bytes in /metrics"
wait_for 60 "a shell prompt on the console" console_has rss 'node-[0-9a-f]+:.*#'
# rss_on_console PROGRAM: its VmRSS in kB, typed as a short command on the
# console (the serial line is slow under TCG) and read back from the log
rss_on_console() {
	local from
	from=$(($(wc -l <"$TEST_TMP/rss.console") + 1))
	console_send rss ""
	sleep 2
	console_send rss "grep -H VmRSS /proc/\$(pidof $1)/status"
	wait_for 60 "VmRSS of $1 on the console" sh -c "tail -n +$from '$TEST_TMP/rss.console' | grep -aq '^/proc/[0-9]*/status:VmRSS:'"
	tail -n +"$from" "$TEST_TMP/rss.console" | tr -d '\r' |
		sed -n 's|^/proc/[0-9]*/status:VmRSS:[[:space:]]*\([0-9][0-9]*\) kB$|\1|p' | tail -1
}
cloudd_kb=$(rss_on_console cloudd)
syslogd_kb=$(rss_on_console syslogd)
[ -n "$cloudd_kb" ] || fail "no cloudd VmRSS on the console"
{
	echo "cloudd idle resident memory on the booted node (after ${IDLE}s idle, QEMU TCG)"
	printf '  VmRSS (/proc/PID/status, console)       %6d kB  target %d kB, ratio %.2f (<= 1.00 meets it)\n' \
		"$cloudd_kb" "$TARGET_KB" "$(awk -v a="$cloudd_kb" -v t="$TARGET_KB" 'BEGIN { print a / t }')"
	printf '  process_resident_memory_bytes (/metrics) %6d kB\n' $((metrics_bytes / 1024))
	printf '  busybox syslogd VmRSS, for scale         %6d kB  ratio cloudd/syslogd %.2f\n' "$syslogd_kb" \
		"$(awk -v a="$cloudd_kb" -v b="$syslogd_kb" 'BEGIN { print a / b }')"
} | tee "$RESULT"
[ "$cloudd_kb" -le "$TARGET_KB" ] || { echo "cloudd idle RSS above the ${TARGET_KB} kB target"; exit 1; }
