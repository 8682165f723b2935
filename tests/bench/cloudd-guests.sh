#!/usr/bin/env bash
# guest launch through the cloudd binary (state file written -> init marker on the console) against qemu-system-x86_64 started directly with the same command line; ten guests at once against one; cloudd VmRSS with ten guests
# timeout: 1200
#
# RUNS=N (default 5) launches of each kind, alternating which goes first; the
# machine is shared, so the medians are what count. Guests have no NIC (no
# filters needed) and boot a Debian cloud kernel with a busybox initramfs.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../integration/guestkit.sh"
require_root
require_cmd qemu-system-x86_64 python3 mkfs.fat mcopy nsenter curl
CLOUDD="$OUT/bin/cloudd"
[ -x "$CLOUDD" ] || fail "$CLOUDD not built (./build.sh cloudd)"
guestkit_kernel
guestkit_initramfs "$TEST_TMP/initrd.gz"
RUNS="${RUNS:-5}"
MARKER="guestkit: init started"
CMDLINE="console=ttyS0 no_timer_check"
RUN="$TEST_TMP/run"
DATA="$TEST_TMP/data"
STATE="$TEST_TMP/state.json"
NS="cb-$TEST_ID"
mkdir -p "$RUN" "$DATA"
netns_add "$NS"
cleanup_add 'for p in "$RUN"/guests/*/pid "$TEST_TMP"/direct.*/pid; do [ -f "$p" ] && kill -9 "$(cat "$p")"; done'
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

# state REVISION INSTANCE-COUNT SUFFIX: written to a temporary file; put makes it the state file
state() {
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
}
put() { mv "$STATE.tmp" "$STATE"; }

log "cloudd (the static binary) with the state file; the templates are cached before the first launch"
state 1 0 x && put
nsenter --net="/run/netns/$NS" "$CLOUDD" --listen 127.0.0.1:8081 --syslog no --log-level warn --state "$STATE" \
	--run-dir "$RUN" --data-dir "$DATA" --accel tcg --converge-interval 1 --disk-policy none \
	>"$TEST_TMP/cloudd.log" 2>&1 &
CLOUDD_PID=$!
cleanup_add "kill -9 $CLOUDD_PID"
wait_for 30 "templates cached" sh -c "ls '$DATA/templates' | grep -q '^[0-9a-f]\{64\}$'"
sleep 1
rev=1
via_cloudd=()
direct=()

# one launch through cloudd: the document arrives (rename of the state file) -> marker
launch_cloudd() {
	local r="$1" t0 t1
	rev=$((rev + 1))
	state "$rev" 1 "$r"
	t0=$(now)
	put
	wait_marker "$RUN/guests/b$r-0/console.log"
	t1=$(now)
	via_cloudd+=("$(secs "$t0" "$t1")")
}
# the baseline: the very same QEMU command line (start.json of a first cloudd
# guest, kept in proto/), its run-directory paths moved elsewhere, started directly
launch_direct() {
	local r="$1" ddir="$TEST_TMP/direct.$1" t0 t1 argv
	mkdir -p "$ddir"
	cp "$TEST_TMP/proto/seed.img" "$ddir/seed.img" 2>/dev/null || true
	mapfile -t argv < <(python3 -c 'import json,sys; [print(a.replace(sys.argv[2], sys.argv[3])) for a in json.load(open(sys.argv[1]))["argv"]]' \
		"$TEST_TMP/proto/start.json" "$RUN/guests/b0-0" "$ddir")
	t0=$(now)
	"${argv[@]}"
	wait_marker "$ddir/console.log"
	t1=$(now)
	kill -9 "$(cat "$ddir/pid")"
	direct+=("$(secs "$t0" "$t1")")
	rm -rf "$ddir"
}
# stop_all R: the guest of run R powers off (once its acpid runs) and is forgotten
stop_all() {
	local r="$1"
	wait_for 60 "guest b$r-0 ready" grep -q "guestkit: ready" "$RUN/guests/b$r-0/console.log"
	rev=$((rev + 1))
	state "$rev" 0 x && put
	wait_for 60 "guest b$r-0 gone" sh -c "! [ -e '$RUN/guests/b$r-0' ]"
}

log "a first guest, not counted, gives the direct launches their command line"
rev=2
state "$rev" 1 0 && put
wait_marker "$RUN/guests/b0-0/console.log"
mkdir -p "$TEST_TMP/proto"
cp "$RUN/guests/b0-0/start.json" "$TEST_TMP/proto/"
cp "$RUN/guests/b0-0/seed.img" "$TEST_TMP/proto/" 2>/dev/null || true
stop_all 0

log "$RUNS launches each way, alternating which goes first, one guest at a time"
for r in $(seq "$RUNS"); do
	if [ $((r % 2)) = 1 ]; then
		launch_direct "$r"
		launch_cloudd "$r"
		stop_all "$r"
	else
		launch_cloudd "$r"
		stop_all "$r"
		launch_direct "$r"
	fi
done

log "one guest alone, then ten at once (same document shape)"
rev=$((rev + 1))
state "$rev" 1 one && t0=$(now) && put
wait_marker "$RUN/guests/bone-0/console.log"
one=$(secs "$t0" "$(now)")
wait_for 60 "guest ready" grep -q "guestkit: ready" "$RUN/guests/bone-0/console.log"
rev=$((rev + 1)); state "$rev" 0 x && put
wait_for 60 "guest gone" sh -c "! [ -e '$RUN/guests/bone-0' ]"
rev=$((rev + 1))
state "$rev" 10 t && t0=$(now) && put
files=()
for i in $(seq 0 9); do files+=("$RUN/guests/bt-$i/console.log"); done
wait_marker "${files[@]}"
ten=$(secs "$t0" "$(now)")
for i in $(seq 0 9); do wait_for 120 "bt-$i ready" grep -q "guestkit: ready" "$RUN/guests/bt-$i/console.log"; done
sleep 2
rss_kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$CLOUDD_PID/status")
running=$(ls "$RUN"/guests | grep -c '^bt-')

d=$(printf '%s\n' "${direct[@]}" | median)
c=$(printf '%s\n' "${via_cloudd[@]}" | median)
echo "direct qemu-system-x86_64, same command line (baseline), median of $RUNS: ${d}s  (runs: ${direct[*]})"
echo "through cloudd (state file -> console marker), median of $RUNS: ${c}s  (runs: ${via_cloudd[*]})"
awk -v c="$c" -v d="$d" 'BEGIN { printf "launch ratio cloudd/direct: %.3f (overhead %+.1f%% of the direct launch; target <= 10%%)\n", c / d, (c - d) * 100 / d }'
echo "one guest alone: ${one}s; ten guests at once: ${ten}s"
awk -v t="$ten" -v o="$one" 'BEGIN { printf "ten at once / one alone: %.2f\n", t / o }'
awk -v k="$rss_kb" -v n="$running" 'BEGIN { printf "cloudd VmRSS with %d running guests: %d KiB (%.1f MiB; target <= 8 MB)\n", n, k, k / 1024 }'
