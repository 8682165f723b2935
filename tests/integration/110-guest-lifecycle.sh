#!/usr/bin/env bash
# guest lifecycle on a real QEMU (TCG): start, QMP, reset, data on the disk survives reboots, graceful stop, adoption, kills from outside and guest panics reported
# timeout: 300
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/guestkit.sh"
require_root
require_cmd qemu-system-x86_64 qemu-img gcc mkfs.fat mcopy

guestkit_kernel
guestkit_initramfs "$TEST_TMP/initrd.gz"
guestkit_driver
NT="$GUESTKIT_DRIVER"
RUN="$TEST_TMP/run"
mkdir -p "$RUN"

# stops every QEMU this test started, whatever happens
cleanup_add 'for p in "$RUN"/*/pid; do [ -f "$p" ] && kill -9 "$(cat "$p")"; done'

console() { cat "$RUN/$1/console.log" 2>/dev/null || true; }
console_has() { console "$1" | grep -q "$2"; }
count() { console "$1" | grep -c "$2" || true; }
# alive PID: the process exists and is not a zombie waiting for init to reap it
alive() { [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*[ZX]' "/proc/$1/status" 2>/dev/null; }

# a data disk whose first sector the guest's init uses as a boot counter
qemu-img create -q -f raw "$TEST_TMP/data.raw" 8M
printf 'guestkit-disk 0' | dd of="$TEST_TMP/data.raw" bs=64 count=1 conv=notrunc,sync status=none
"$NT" seed "$TEST_TMP/seed.img" i-life guest-life "ssh-ed25519 AAAAtest user@test"

log "start a guest: direct kernel boot, a raw data disk and the cloud-init seed"
pid=$("$NT" guest-start "$RUN" i-life "$GUESTKIT_KERNEL" "$TEST_TMP/initrd.gz" "console=ttyS0 no_timer_check" \
	"disk=$TEST_TMP/data.raw:raw:data" "disk=$TEST_TMP/seed.img:raw:cidata:ro")
[ -n "$pid" ] && alive "$pid" || fail "no QEMU pid"
for f in start.json pid qmp.sock console.log; do [ -e "$RUN/i-life/$f" ] || fail "run dir lacks $f"; done
wait_for 60 "guest init" console_has i-life "guestkit: ready"
console_has i-life "guestkit: hostname guest-life" || fail "hostname from the NoCloud seed not applied: $(console i-life | tail -5)"
console_has i-life "guestkit: user-data has ssh keys" || fail "user-data without the ssh key"
console_has i-life "guestkit: disk boot 1" || fail "data disk not seen at first boot"

log "QMP: query-status through the socket"
"$NT" qmp "$RUN/i-life/qmp.sock" query-status | grep -q '"status":"running"' || fail "query-status is not running"

log "adoption: a new process finds the same QEMU by pid and command line"
"$NT" guest-adopt "$RUN" i-life | grep -q "running $pid" || fail "not adopted"

log "reset: the guest boots again, and the data disk keeps what it wrote"
"$NT" guest-reset "$RUN" i-life
wait_for 60 "second boot" console_has i-life "guestkit: disk boot 2"
[ "$(count i-life 'guestkit: init started')" -eq 2 ] || fail "expected two boots"
ready_twice() { [ "$(count i-life 'guestkit: ready')" -ge 2 ]; }
wait_for 60 "guest ready again" ready_twice

log "graceful stop: system_powerdown, the guest powers off by itself"
out=$("$NT" guest-stop "$RUN" i-life 60)
echo "$out"
echo "$out" | grep -q "^requested: stopped: the guest powered off when asked" || fail "graceful stop: $out"
alive "$pid" && fail "QEMU still running after the graceful stop"
console_has i-life "guestkit: powering off" || fail "the guest did not see the power button"

log "start again from the same run directory; the data survived"
pid=$("$NT" guest-start "$RUN" i-life "$GUESTKIT_KERNEL" "$TEST_TMP/initrd.gz" "console=ttyS0 no_timer_check" \
	"disk=$TEST_TMP/data.raw:raw:data" "disk=$TEST_TMP/seed.img:raw:cidata:ro")
wait_for 60 "third boot" console_has i-life "guestkit: disk boot 3"

log "a second start of a running guest is refused, and nothing is killed"
if "$NT" guest-start "$RUN" i-life "$GUESTKIT_KERNEL" "$TEST_TMP/initrd.gz" "console=ttyS0 no_timer_check" 2>"$TEST_TMP/err"; then
	fail "second start accepted"
fi
grep -q "still running" "$TEST_TMP/err" || fail "unexpected error: $(cat "$TEST_TMP/err")"
alive "$pid" || fail "the running guest was hurt by the refused start"

log "killed from outside with SIGTERM: reported as a signal"
"$NT" guest-wait "$RUN" i-life 30 >"$TEST_TMP/wait1" &
wpid=$!
wait_for 10 "waiter connected" test -S "$RUN/i-life/qmp.sock"
sleep 0.5
kill -TERM "$pid"
wait "$wpid" || true
cat "$TEST_TMP/wait1"
grep -q "^signal: QEMU terminated by a signal from outside cloudd" "$TEST_TMP/wait1" || fail "SIGTERM not reported: $(cat "$TEST_TMP/wait1")"

log "killed with SIGKILL: no SHUTDOWN event, reported as a crash"
pid=$("$NT" guest-start "$RUN" i-life "$GUESTKIT_KERNEL" "$TEST_TMP/initrd.gz" "console=ttyS0 no_timer_check")
"$NT" guest-wait "$RUN" i-life 30 >"$TEST_TMP/wait2" &
wpid=$!
sleep 1
kill -KILL "$pid"
wait "$wpid" || true
cat "$TEST_TMP/wait2"
grep -q "^crash: QEMU exited without a SHUTDOWN event" "$TEST_TMP/wait2" || fail "SIGKILL not reported: $(cat "$TEST_TMP/wait2")"
out=$("$NT" guest-adopt "$RUN" i-life) && fail "a dead guest was adopted: $out"
echo "$out" | grep -q "^not-running" || fail "adopt of a dead guest: $out"

log "a guest kernel panic stops QEMU (pvpanic) and is reported as a panic"
"$NT" guest-start "$RUN" i-life "$GUESTKIT_KERNEL" "$TEST_TMP/initrd.gz" "console=ttyS0 no_timer_check guestkit.panic" >/dev/null
"$NT" guest-wait "$RUN" i-life 90 >"$TEST_TMP/wait3"
cat "$TEST_TMP/wait3"
grep -q "^panic: guest kernel panicked" "$TEST_TMP/wait3" || fail "panic not reported: $(cat "$TEST_TMP/wait3"); $(console i-life | tail -3)"

log "QEMU refusing to start is reported with its own message"
head -c 4096 /dev/urandom >"$TEST_TMP/junk.vmlinuz"
if "$NT" guest-start "$RUN" i-bad "$TEST_TMP/junk.vmlinuz" "" "" 2>"$TEST_TMP/err2"; then fail "bad kernel accepted"; fi
cat "$TEST_TMP/err2"
grep -q "QEMU exited with status 1" "$TEST_TMP/err2" || fail "no exit status in the error"
grep -qi "kernel header" "$TEST_TMP/err2" || fail "QEMU's message not in the error"
# a file QEMU is to get that cannot be opened: cloudd says which (QEMU opens no path itself)
if "$NT" guest-start "$RUN" i-bad /nonexistent/vmlinuz "" "" 2>"$TEST_TMP/err3"; then fail "missing kernel accepted"; fi
grep -q "/nonexistent/vmlinuz: No such file or directory" "$TEST_TMP/err3" || fail "missing kernel: $(cat "$TEST_TMP/err3")"

log "force stop (quit) and removal of the run directory"
pid=$("$NT" guest-start "$RUN" i-life "$GUESTKIT_KERNEL" "$TEST_TMP/initrd.gz" "console=ttyS0 no_timer_check")
out=$("$NT" guest-kill "$RUN" i-life)
echo "$out" | grep -q "^requested: stopped by cloudd" || fail "force stop: $out"
alive "$pid" && fail "QEMU survived the force stop"
"$NT" guest-remove "$RUN" i-life
[ ! -e "$RUN/i-life" ] || fail "run directory left behind"
log "ok"
