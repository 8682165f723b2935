#!/usr/bin/env bash
# instance create -> guest console marker through the API on a lab node (API, scheduler, watch, cloudd, QEMU), against the same guest (kernel, initrd, memory, a disk) started directly with qemu-system-x86_64 on that node; medians of BENCH_RUNS (default 3)
# timeout: 5400
. "$ROOT/tests/lib.sh"
. "$ROOT/tests/e2e/lib-e2e.sh"
RUNS="${BENCH_RUNS:-3}"
MARKER="guestkit: init started" # the guest's /init runs: the same point in both paths, before any network
e2e_lab_up 1
SOCK="$LAB_DIR/lab-node1.sock"

# node_sh SCRIPT END-REGEX LIMIT: runs SCRIPT on node 1's console shell, prints its output up to END-REGEX
node_sh() {
	python3 - "$SOCK" "$1" "$2" "$3" <<'EOF'
import re, socket, sys, time
sock, script, end, limit = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
s = socket.socket(socket.AF_UNIX)
s.connect(sock)
s.settimeout(1)
s.sendall(b"\n" + script.encode() + b"\n")
out, deadline = b"", time.time() + limit
while time.time() < deadline:
    try:
        d = s.recv(65536)
    except socket.timeout:
        continue
    if not d:
        break
    out += d
    if re.search(end.encode(), out.split(script.encode()[-40:])[-1]):
        break
sys.stdout.write(out.decode("utf-8", "replace"))
EOF
}

log "warm-up: one instance fetches the template onto the node"
cctl instance create warm --type lab-tiny --template lab-tiny --wait >/dev/null || fail "creating the warm-up instance"
wait_for 900 "the warm-up guest's marker" console_has warm "$MARKER"
cctl instance delete warm --wait >/dev/null || fail "deleting the warm-up instance"

ksha=$(jget "$(cctl_json template show lab-tiny)" 'd["sha256"]')
isha=$(jget "$(cctl_json template show lab-tiny)" 'd["initrd"]["sha256"]')
# one direct start on the node: the same kernel, initrd, memory and a qcow2 disk, timed by the node's clock
direct_once() {
	local out
	out=$(node_sh "K=/var/lib/cloudd/templates/$ksha; I=/var/lib/cloudd/templates/$isha; ls \$K \$I >/dev/null || echo BENCH-NO''FILES
rm -f /tmp/b.log /tmp/b.qcow2; qemu-img create -q -f qcow2 /tmp/b.qcow2 1G; t0=\$(cut -d' ' -f1 /proc/uptime)
qemu-system-x86_64 -accel tcg -m 128 -smp 1 -nodefaults -display none -serial file:/tmp/b.log -drive file=/tmp/b.qcow2,if=virtio -kernel \$K -initrd \$I -append 'console=ttyS0 no_timer_check' -pidfile /tmp/b.pid -daemonize
until grep -q '$MARKER' /tmp/b.log 2>/dev/null; do usleep 100000; done
t1=\$(cut -d' ' -f1 /proc/uptime); kill \$(cat /tmp/b.pid); echo \"BENCH-DIRECT \$t0 \$t1\"" 'BENCH-DIRECT [0-9.]+ [0-9.]+\r?\n|BENCH-NOFILES' 1800)
	grep -q BENCH-NOFILES <<<"$out" && fail "the template files are not on the node: $out"
	tr -d '\r' <<<"$out" | awk '$1 == "BENCH-DIRECT" && NF == 3 { printf "%.2f\n", $3 - $2 }' | tail -1
}

# interleaved, so that both paths see the same machine
now() { date +%s.%N; }
api_s=() direct_s=()
for r in $(seq 1 "$RUNS"); do
	t0=$(now)
	cctl instance create "b$r" --type lab-tiny --template lab-tiny >/dev/null || fail "create b$r"
	wait_for 900 "b$r's marker through the API" console_has "b$r" "$MARKER"
	t1=$(now)
	api_s+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')")
	cctl instance delete "b$r" --wait >/dev/null || fail "delete b$r"
	d=$(direct_once)
	[ -n "$d" ] || fail "the direct start on the node gave no time"
	direct_s+=("$d")
	log "run $r: through the API ${api_s[-1]} s, directly on the node $d s"
done

median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ma=$(median "${api_s[@]}") md=$(median "${direct_s[@]}")
log "RESULT instance create -> '$MARKER': through the API ${ma} s (runs ${api_s[*]}), qemu-system-x86_64 directly on the node ${md} s (runs ${direct_s[*]}); ratio $(awk -v a="$ma" -v d="$md" 'BEGIN { printf "%.3f (overhead %+.1f%%)", a / d, (a / d - 1) * 100 }')"
