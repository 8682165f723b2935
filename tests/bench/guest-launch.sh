#!/usr/bin/env bash
# guest launch latency through the node backend under the convergence engine (state received -> init marker on the console) against the same QEMU command line started directly; ten guests at once against one; engine RSS with ten guests
# timeout: 900
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../integration/guestkit.sh"
require_root
require_cmd qemu-system-x86_64 gcc python3 mkfs.fat mcopy
guestkit_kernel
guestkit_initramfs "$TEST_TMP/initrd.gz"
guestkit_driver
NT="$GUESTKIT_DRIVER"
RUNS="${RUNS:-3}"
MARKER="guestkit: init started"
CMDLINE="console=ttyS0 no_timer_check"
RUN="$TEST_TMP/run"
DATA="$TEST_TMP/data"
STATE="$TEST_TMP/state.json"
mkdir -p "$RUN" "$DATA"
cleanup_add 'for p in "$RUN"/guests/*/pid; do [ -f "$p" ] && kill -9 "$(cat "$p")"; done'
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
sum() { sha256sum "$1" | cut -d' ' -f1; }

# wait_marker FILE...: until every file has the marker (polling every 20 ms)
wait_marker() {
	local f deadline=$((SECONDS + 300))
	for f in "$@"; do
		until grep -qs "$MARKER" "$f"; do
			[ "$SECONDS" -lt "$deadline" ] || fail "no marker in $f"
			sleep 0.02
		done
	done
}

state() { # REVISION INSTANCE-COUNT SUFFIX
	python3 - "$@" >"$STATE.tmp" <<EOF
import json, sys
rev, n, suffix = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
doc = {"version": 1, "revision": rev,
       "templates": [{"id": "k", "format": "kernel", "cmdline": "$CMDLINE",
                      "kernel": {"path": "$GUESTKIT_KERNEL", "sha256": "$(sum "$GUESTKIT_KERNEL")"},
                      "initrd": {"path": "$TEST_TMP/initrd.gz", "sha256": "$(sum "$TEST_TMP/initrd.gz")"}}],
       "instances": [{"id": "b%s-%d" % (suffix, i), "name": "b%d" % i, "vcpus": 1, "memory_mib": 128,
                      "power": "running", "boot": {"template": "k"}} for i in range(n)]}
print(json.dumps(doc))
EOF
	mv "$STATE.tmp" "$STATE"
}

log "the engine with the node backend: templates cached first, then each launch timed from SIGHUP"
state 1 0 x
ip netns add "gl-$TEST_ID" && cleanup_add "ip netns del gl-$TEST_ID"
ip netns exec "gl-$TEST_ID" "$NT" converge "$TEST_TMP/actual.json" --no-filters --state "$STATE" --run-dir "$RUN" \
	--data-dir "$DATA" --accel tcg --converge-interval 1 --syslog no --log-level warn >"$TEST_TMP/engine.log" 2>&1 &
ENGINE=$!
cleanup_add "kill -9 $ENGINE"
wait_for 30 "templates cached" sh -c "ls '$DATA/templates' | grep -q '^[0-9a-f]\{64\}$'"
sleep 1
rev=1
backend=()
direct=()
for r in $(seq "$RUNS"); do
	rev=$((rev + 1))
	state "$rev" 1 "$r"
	t0=$(now)
	kill -HUP "$ENGINE"
	wait_marker "$RUN/guests/b$r-0/console.log"
	t1=$(now)
	backend+=("$(secs "$t0" "$t1")")
	# baseline, right after (same load): the very same QEMU command line
	# (start.json) started directly, its run-directory paths moved elsewhere
	ddir="$TEST_TMP/direct.$r"
	mkdir -p "$ddir"
	cp "$RUN/guests/b$r-0/seed.img" "$ddir/seed.img"
	mapfile -t argv < <(python3 -c 'import json,sys; [print(a.replace(sys.argv[2], sys.argv[3])) for a in json.load(open(sys.argv[1]))["argv"]]' \
		"$RUN/guests/b$r-0/start.json" "$RUN/guests/b$r-0" "$ddir")
	t0=$(now)
	"${argv[@]}"
	wait_marker "$ddir/console.log"
	t1=$(now)
	kill -9 "$(cat "$ddir/pid")"
	direct+=("$(secs "$t0" "$t1")")
	# the power button only works once the guest's acpid runs
	wait_for 60 "guest b$r-0 ready" grep -q "guestkit: ready" "$RUN/guests/b$r-0/console.log"
	rev=$((rev + 1))
	state "$rev" 0 x
	kill -HUP "$ENGINE"
	wait_for 60 "guest b$r-0 stopped" sh -c "! [ -e '$RUN/guests/b$r-0' ]"
done

log "ten guests at once"
rev=$((rev + 1))
state "$rev" 10 t
t0=$(now)
kill -HUP "$ENGINE"
files=()
for i in $(seq 0 9); do files+=("$RUN/guests/bt-$i/console.log"); done
wait_marker "${files[@]}"
t1=$(now)
ten=$(secs "$t0" "$t1")
rss_kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$ENGINE/status")

d=$(printf '%s\n' "${direct[@]}" | median)
b=$(printf '%s\n' "${backend[@]}" | median)
echo "direct QEMU launch, same command line (baseline), median of $RUNS: ${d}s  (runs: ${direct[*]})"
echo "engine + node backend launch, median of $RUNS: ${b}s  (runs: ${backend[*]})"
awk -v b="$b" -v d="$d" 'BEGIN { printf "launch ratio backend/direct: %.3f (overhead %+.1f%% of the direct launch; target <= 10%%)\n", b / d, (b - d) * 100 / d }'
echo "ten guests at once: ${ten}s"
awk -v t="$ten" -v b="$b" 'BEGIN { printf "ten at once / one alone: %.2f\n", t / b }'
echo "engine resident memory with ten running guests: ${rss_kb} KiB (nodetool, glibc build; cloudd itself is the static musl binary)"
