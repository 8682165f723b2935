#!/usr/bin/env bash
# boot storm: 8 QEMU (TCG) nodes powered on at once through cloud-controller; time until all are up vs one node alone (ratio)
# timeout: 1800
. "$ROOT/tests/lib.sh"
. "$ROOT/tests/boot/lib-controller.sh"

STORM="${BENCH_STORM_NODES:-8}"
cc_boot_lab_up
for i in $(seq 0 "$STORM"); do
	ctl machines add "$(printf '52:54:00:c3:00:%02x' "$i")" --name "storm-$i" >/dev/null || fail "machines add failed"
done
all_up() { # all_up FIRST LAST: every MAC of that range is up
	local i
	for i in $(seq "$1" "$2"); do node_matches "$(printf '52:54:00:c3:00:%02x' "$i")" up || return 1; done
}

log "one node alone"
start=$(date +%s.%N)
boot_vm st0 e1000 52:54:00:c3:00:00
wait_for 600 "the single node is up" all_up 0 0
alone=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b - a}')
kill -9 "$BOOT_VM_PID"
log "alone: ${alone}s from power-on to up"

log "$STORM nodes at once"
start=$(date +%s.%N)
for i in $(seq 1 "$STORM"); do
	boot_vm "st$i" e1000 "$(printf '52:54:00:c3:00:%02x' "$i")" >/dev/null
done
wait_for 1500 "all $STORM nodes up" all_up 1 "$STORM"
storm=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b - a}')
grep -q "result=\"known\"} $((STORM + 1))" <<<"$(in_ns "$BOOT_NS" curl -s "$BOOT_HTTP/metrics")" ||
	log "note: boot script count differs from $((STORM + 1)) (iPXE retries)"
ratio=$(awk -v s="$storm" -v a="$alone" 'BEGIN{printf "%.2f", s / a}')
echo "bench controller-bootstorm: 1 node ${alone}s, $STORM nodes ${storm}s, ratio $ratio" \
	"(TCG on $(nproc) shared cores: the guests compete for CPU; the controller served $(grep -c 'node.registered' "$CC_LOG") registrations)"
