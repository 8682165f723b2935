#!/usr/bin/env bash
# the cloudd binary reboots and force-stops guests from the state file: a raised "reboot" generation resets the guest once (same QEMU), a cloudd restart does not reboot it again, a lowered one is ignored, "stop": "force" quits a guest deaf to the power button without a powerdown
# timeout: 300
#
# Guests without NICs or disks (kernel + guestkit initramfs): the console
# counts boots ("guestkit: init started" once per boot).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/guestkit.sh"
require_root
require_cmd qemu-system-x86_64 qemu-img ip nft mkfs.fat mcopy mkfs.ext4 losetup nsenter curl python3
CLOUDD="$OUT/bin/cloudd"
[ -x "$CLOUDD" ] || fail "$CLOUDD not built (./build.sh cloudd)"
guestkit_kernel
guestkit_initramfs "$TEST_TMP/initrd.gz"

NS="cr-$TEST_ID"
RUN="$TEST_TMP/run"
DATA="$TEST_TMP/data"
STATE="$TEST_TMP/state.json"
URL=http://127.0.0.1:8081
NODE_KEY_FILE="$TEST_TMP/node.key"
node_key_new "$NODE_KEY_FILE"
mkdir -p "$RUN" "$DATA"
netns_add "$NS"

truncate -s 128M "$TEST_TMP/disk.img"
LOOP=$(losetup --find --show "$TEST_TMP/disk.img") || fail "no loop device"
cleanup_add "losetup -d $LOOP"
cleanup_add "umount -l '$DATA' 2>/dev/null"
cleanup_add 'for p in "$RUN"/guests/*/pid; do [ -f "$p" ] && kill -9 "$(cat "$p")"; done; sleep 0.5'
POLICY="init=blank fs=ext4 allow_loop=1 include=$(basename "$LOOP")"
sum() { sha256sum "$1" | cut -d' ' -f1; }

# state REVISION REBOOT-OF-i-1 POWER-OF-i-4 [STOP-OF-i-4]
state() {
	python3 - "$@" >"$STATE.tmp" <<EOF
import json, sys
rev, reboot, p4 = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
stop4 = sys.argv[4] if len(sys.argv) > 4 else None
def kernel(i, cmdline):
    return {"id": i, "format": "kernel", "cmdline": cmdline,
            "kernel": {"path": "$GUESTKIT_KERNEL", "sha256": "$(sum "$GUESTKIT_KERNEL")"},
            "initrd": {"path": "$TEST_TMP/initrd.gz", "sha256": "$(sum "$TEST_TMP/initrd.gz")"}}
i1 = {"id": "i-1", "name": "rebooted", "vcpus": 1, "memory_mib": 128, "power": "running",
      "boot": {"template": "tinykernel"}, "reboot": reboot}
# deaf to the power button (no ACPI): only a forced stop stops it
i4 = {"id": "i-4", "name": "deaf", "vcpus": 1, "memory_mib": 128, "power": p4,
      "boot": {"template": "deafkernel"}}
if stop4:
    i4["stop"] = stop4
doc = {"version": 1, "revision": rev,
       "templates": [kernel("tinykernel", "console=ttyS0 no_timer_check"),
                     kernel("deafkernel", "console=ttyS0 no_timer_check acpi=off")],
       "instances": [i1, i4]}
print(json.dumps(doc, indent=1))
EOF
	mv "$STATE.tmp" "$STATE"
}
state 1 0 running

CLOUDD_PID=""
start_cloudd() {
	nsenter --net="/run/netns/$NS" "$CLOUDD" --listen 127.0.0.1:8081 --syslog no --state "$STATE" --run-dir "$RUN" \
		--data-dir "$DATA" --accel tcg --converge-interval 1 --disk-policy "$POLICY" --api-key-file "$NODE_KEY_FILE" >>"$TEST_TMP/cloudd.log" 2>&1 &
	CLOUDD_PID=$!
	cleanup_add "kill -9 $CLOUDD_PID 2>/dev/null"
	wait_for 20 "cloudd /health" in_ns "$NS" curl -sf "$URL/health"
}
api() { node_curl "$NS" "$URL$1" -sf; }
st() { api /v1/state | python3 -c "import json,sys; d=json.load(sys.stdin); inst=lambda i: [x for x in d['instances'] if x['id']==i][0]; ev=lambda a,i: [e['result'] for e in d['events'] if e['action']==a and e.get('instance')==i]; print(eval(sys.argv[1]))" "$1" 2>/dev/null; }
is() { [ "$(st "$1")" = "$2" ]; }
console_has() { local c; c=$(api "/v1/instances/$1/console") && grep -q "$2" <<<"$c"; }
boots() { local c; c=$(api "/v1/instances/$1/console?bytes=1048576"); grep -c "guestkit: init started" <<<"$c" || true; }
booted() { [ "$(boots "$1")" = "$2" ] && [ "$(api "/v1/instances/$1/console?bytes=1048576" | grep -c 'guestkit: ready')" = "$2" ]; }
pid_of() { cat "$RUN/guests/$1/pid" 2>/dev/null; }
alive() { [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*[ZX]' "/proc/$1/status"; }

log "two guests boot once"
start_cloudd
wait_for 120 "i-1 ready" booted i-1 1
wait_for 120 "i-4 ready" booted i-4 1
wait_for 20 "converged" is "d['converged']" True
p1=$(pid_of i-1)
p4=$(pid_of i-4)
is "inst('i-1')['reboot']" 0 || fail "i-1 reboot generation: $(st "inst('i-1')")"

log "reboot raised to 1: i-1 boots a second time in the same QEMU"
state 2 1 running
wait_for 120 "i-1 second boot" booted i-1 2
[ "$(pid_of i-1)" = "$p1" ] && alive "$p1" || fail "i-1 got a new QEMU instead of a reset"
wait_for 20 "reboot 1 reported" is "inst('i-1')['reboot']" 1
is "ev('instance-reboot', 'i-1')" "['ok']" || fail "instance-reboot events: $(st "d['events']")"
[ "$(cat "$RUN/specs/i-1.reboot")" = 1 ] || fail "reboot generation not kept in $RUN/specs/i-1.reboot"
[ "$(boots i-4)" = 1 ] || fail "i-4 rebooted with i-1"

log "cloudd restarted: it adopts i-1 and does not reboot it again"
kill -TERM "$CLOUDD_PID"
wait "$CLOUDD_PID" || fail "cloudd exited $? after SIGTERM"
start_cloudd
wait_for 30 "adopted and converged" is "[ev('instance-adopt', 'i-1'), d['converged']]" "[['ok'], True]"
is "inst('i-1')['reboot']" 1 || fail "adopted i-1 reboot generation: $(st "inst('i-1')")"
is "ev('instance-reboot', 'i-1')" "[]" || fail "i-1 rebooted by the restarted cloudd"
[ "$(pid_of i-1)" = "$p1" ] && [ "$(boots i-1)" = 2 ] || fail "i-1 rebooted after the cloudd restart ($(boots i-1) boots)"

log "reboot lowered to 0: ignored"
state 3 0 running
wait_for 20 "revision 3 converged" is "[d['revision'], d['converged']]" "[3, True]"
is "[ev('instance-reboot', 'i-1'), inst('i-1')['reboot']]" "[[], 1]" || fail "a lowered reboot did something: $(st "inst('i-1')")"
[ "$(boots i-1)" = 2 ] || fail "i-1 rebooted by a lowered generation"

log "i-4 (deaf to the power button) stopped with stop: force: QEMU quits, no powerdown first"
state 4 0 stopped force
wait_for 60 "i-4 QEMU gone" sh -c "! [ -r /proc/$p4/status ] || grep -q '^State:[[:space:]]*[ZX]' /proc/$p4/status"
wait_for 20 "i-4 stopped" is "inst('i-4')['status']" stopped
is "[ev('instance-force-stop', 'i-4'), ev('instance-stop', 'i-4')]" "[['ok'], []]" ||
	fail "i-4 was not force-stopped at once: $(st "d['events']")"
[ "$(pid_of i-1)" = "$p1" ] && alive "$p1" || fail "i-1 was hurt by the forced stop of i-4"

kill -TERM "$CLOUDD_PID"
wait "$CLOUDD_PID" || true
alive "$p1" || fail "stopping cloudd stopped a guest"
log "ok"
