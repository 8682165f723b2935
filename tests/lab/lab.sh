#!/usr/bin/env bash
# lab.sh -- a whole cloud on one machine: cloud-controller and netbooted hypervisor nodes in network namespaces
set -euo pipefail

usage() {
	cat <<'EOF'
usage: lab.sh [up] [--nodes N]   start the lab (default 2 nodes); safe to re-run
       lab.sh down               stop everything the lab started and remove its namespace
       lab.sh status             what runs
       lab.sh restart-controller stop and start cloud-controller (same data)
       lab.sh node-kill I        kill node I's QEMU (a power cut: no shutdown)
       lab.sh node-start I       start node I again (it netboots, its disk kept)
       lab.sh node-get I PATH    GET PATH from node I's cloudd (port 8081), signed as the
                                 controller signs (the node key it keeps for the node)

The lab lives in one network namespace (cloudd-lab) with no route out:
  provisioning network 192.0.2.0/24 on bridge brprov: cloud-controller on
    192.0.2.1:8080 with the dnsmasq it runs (DHCP 192.0.2.50-99, TFTP, iPXE);
  guest network 198.51.100.0/24 on bridge brguest: one flat L2 segment that
    every node's second NIC joins (198.51.100.1 is the lab's gateway address).
Nodes are QEMU (TCG) VMs with 2 NICs and a persistent disk file, netbooted
from the image in OUT (default ./out), registered as machines of role
hypervisor. Their serial consoles keep a root shell (cloud.console=shell):
  socat - UNIX-CONNECT:LAB_DIR/lab-nodeI.sock
State, logs and consoles: LAB_DIR (default /run/cloudd-lab).
Exit codes: 0 ok, 100 usage, 111 failure.
EOF
}

ROOT="${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
OUT="${CLOUDD_OUT:-${OUT:-$ROOT/out}}"
LAB_DIR="${LAB_DIR:-/run/cloudd-lab}"
LAB_NS="${LAB_NS:-cloudd-lab}"
PROV_BR=brprov
GUEST_BR=brguest
PROV_GW=192.0.2.1
GUEST_GW=198.51.100.1
CTL_URL="http://$PROV_GW:8080"
NODE_MEM=1536	 # MiB per node: the image in RAM, QEMU and a few tiny guests
NODE_DISK=4G	 # sparse disk file per node (claimed by cloudd: guest volumes)
GUEST_PORT=7070	 # the test template's TCP responder

say() { printf 'lab: %s\n' "$*"; }
die() { printf 'lab: %s\n' "$*" >&2; exit "${2:-111}"; }
in_ns() { ip netns exec "$LAB_NS" "$@"; }
alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
pid_of() { cat "$LAB_DIR/$1.pid" 2>/dev/null || true; }

# step NAME CMD..: runs one step, saying what it does and how long it took
step() {
	local name="$1" t0=$SECONDS
	shift
	say "$name ..."
	"$@"
	say "$name: done in $((SECONDS - t0)) s"
}

check_tools() {
	local c
	[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, taps)" 100
	for c in ip qemu-system-x86_64 qemu-img python3 curl cpio gzip busybox; do
		command -v "$c" >/dev/null || die "missing $c (./build.sh deps installs it)" 100
	done
	for c in vmlinuz initramfs.img manifest.json undionly.kpxe snponly.efi bin/cloud-controller bin/cloudctl; do
		[ -e "$OUT/$c" ] || die "$OUT/$c missing: build first (./build.sh lab does)" 100
	done
}

# start_bg NAME CMD..: starts CMD in the namespace, detached from this shell; pid in LAB_DIR/NAME.pid
start_bg() {
	local name="$1"
	shift
	setsid ip netns exec "$LAB_NS" "$@" >"$LAB_DIR/$name.log" 2>&1 </dev/null &
	echo $! >"$LAB_DIR/$name.pid"
}

wait_until() {
	local limit="$1" what="$2" deadline=$((SECONDS + $1))
	shift 2
	until "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$deadline" ] || die "timed out after ${limit}s waiting for: $what"
		sleep 0.5
	done
}

net_up() {
	ip netns add "$LAB_NS"
	ip -n "$LAB_NS" link set lo up
	ip -n "$LAB_NS" link add "$PROV_BR" type bridge
	ip -n "$LAB_NS" addr add "$PROV_GW/24" dev "$PROV_BR"
	ip -n "$LAB_NS" link set "$PROV_BR" up
	ip -n "$LAB_NS" link add "$GUEST_BR" type bridge
	ip -n "$LAB_NS" addr add "$GUEST_GW/24" dev "$GUEST_BR"
	ip -n "$LAB_NS" link set "$GUEST_BR" up
}

controller_up() {
	local extra=()
	# the zone's guest network, where the controller knows it (docs/api.md)
	if "$OUT/bin/cloud-controller" --help 2>&1 | grep -q guest-subnet; then
		extra+=(--guest-subnet 198.51.100.0/24 --guest-gateway "$GUEST_GW" --guest-dns "$GUEST_GW")
	fi
	start_bg controller "$OUT/bin/cloud-controller" --data-dir "$LAB_DIR/controller" \
		--listen "$PROV_GW:8080" --url "$CTL_URL" --interface "$PROV_BR" --ipxe-dir "$OUT" \
		--pxe-dir "$ROOT/pxe" --netboot dhcp --dhcp-range 192.0.2.50,192.0.2.99,255.255.255.0 \
		--heartbeat-interval 2 --down-after 14 --kernel-args cloud.console=shell "${extra[@]}"
	wait_until 30 "cloud-controller on $CTL_URL (log $LAB_DIR/controller.log)" in_ns curl -sf "$CTL_URL/health"
	wait_until 30 "the admin key file $LAB_DIR/controller/admin.conf" test -s "$LAB_DIR/controller/admin.conf"
}

# Stops the controller (SIGTERM, then waits for it) and starts it again on the same data.
controller_restart() {
	local pid
	pid=$(pid_of controller)
	alive "$pid" || die "the lab's controller is not running"
	kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
	wait_until 30 "the controller (pid $pid) to stop" bash -c "! kill -0 $pid"
	cat "$LAB_DIR/controller.log" >>"$LAB_DIR/controller.log.old"
	controller_up
}

# The cloudctl of the lab: runs in the namespace with the lab's admin key.
write_cloudctl() {
	mkdir -p "$LAB_DIR/bin"
	cat >"$LAB_DIR/bin/cloudctl" <<EOF
#!/bin/sh
# cloudctl for the lab in namespace $LAB_NS (written by tests/lab/lab.sh)
CLOUDD_CONFIG="\${CLOUDD_CONFIG:-$LAB_DIR/controller/admin.conf}" exec ip netns exec $LAB_NS "$OUT/bin/cloudctl" "\$@"
EOF
	cat >"$LAB_DIR/bin/lab-api" <<EOF
#!/bin/sh
# lab-api METHOD PATH [JSON]: one signed API request in the lab (admin key, or CLOUDD_CONFIG)
CLOUDD_CONFIG="\${CLOUDD_CONFIG:-$LAB_DIR/controller/admin.conf}" exec ip netns exec $LAB_NS python3 "$ROOT/tests/lab/api.py" "\$@"
EOF
	chmod +x "$LAB_DIR/bin/cloudctl" "$LAB_DIR/bin/lab-api"
}

ctl() { "$LAB_DIR/bin/cloudctl" "$@"; }

node_mac() { printf '52:54:00:1a:00:%02x' "$1"; }
node_guest_mac() { printf '52:54:00:1b:00:%02x' "$1"; }

# node_start I: (re)starts node I's QEMU with its persistent disk
node_start() {
	local i="$1" name="lab-node$1" tp="lpv$1" tg="lgu$1"
	ip -n "$LAB_NS" link show "$tp" >/dev/null 2>&1 || {
		ip -n "$LAB_NS" tuntap add "$tp" mode tap
		ip -n "$LAB_NS" link set "$tp" master "$PROV_BR" up
	}
	ip -n "$LAB_NS" link show "$tg" >/dev/null 2>&1 || {
		ip -n "$LAB_NS" tuntap add "$tg" mode tap
		ip -n "$LAB_NS" link set "$tg" master "$GUEST_BR" up
	}
	[ -f "$LAB_DIR/$name.disk" ] || qemu-img create -q -f raw "$LAB_DIR/$name.disk" "$NODE_DISK"
	: >>"$LAB_DIR/$name.console"
	start_bg "$name" qemu-system-x86_64 -name "$name" -accel tcg -smp 2 -m "$NODE_MEM" \
		-nographic -monitor none -boot n \
		-chardev "socket,id=con,path=$LAB_DIR/$name.sock,server=on,wait=off,logfile=$LAB_DIR/$name.console,logappend=on" \
		-serial chardev:con \
		-netdev "tap,id=prov,ifname=$tp,script=no,downscript=no" -device "virtio-net-pci,netdev=prov,mac=$(node_mac "$i")" \
		-netdev "tap,id=guest,ifname=$tg,script=no,downscript=no" -device "virtio-net-pci,netdev=guest,mac=$(node_guest_mac "$i")" \
		-drive "file=$LAB_DIR/$name.disk,format=raw,if=virtio,cache=unsafe"
}

nodes_up() {
	local n="$1" i
	for ((i = 1; i <= n; i++)); do
		ctl machines add "$(node_mac "$i")" --name "lab-node$i" --role hypervisor >/dev/null 2>&1 ||
			ctl machines show "$(node_mac "$i")" >/dev/null ||
			die "registering machine $(node_mac "$i") failed"
		node_start "$i"
	done
	echo "$n" >"$LAB_DIR/nodes"
}

nodes_all_up() {
	local n="$1"
	[ "$(ctl -o json nodes list 2>/dev/null | python3 -c '
import json, sys
print(sum(1 for x in json.load(sys.stdin) if x["state"] == "up" and x["mac"].startswith("52:54:00:1a:")))')" -ge "$n" ]
}

# The test template: a Debian cloud kernel and a busybox initramfs that prints
# "lab-guest: ready <address>" on its console and answers TCP port GUEST_PORT
# with "lab-guest <hostname>".
template_build() {
	local dir="$LAB_DIR/template" TEST_TMP
	TEST_TMP="$LAB_DIR/tmp"
	mkdir -p "$dir" "$TEST_TMP"
	# shellcheck source=../integration/guestkit.sh
	skip() { die "test template: $*"; }
	. "$ROOT/tests/integration/guestkit.sh"
	guestkit_kernel
	cp "$GUESTKIT_KERNEL" "$dir/vmlinuz"
	guestkit_initramfs "$dir/base.img"
	# the lab's additions: a responder and a console marker once the lease is there
	local add="$TEST_TMP/add"
	rm -rf "$add" && mkdir -p "$add/etc"
	cat >"$add/etc/lab-guest" <<EOF
#!/bin/sh
# the lab guest: console marker with its address, a TCP responder on two
# ports, and the probes its user-data asks for ("probe ADDRESS PORT" lines),
# reported on the console whenever their result changes; its data disk (the
# first disk that is not the seed) is marked once, and guestkit's /init counts
# the boots it sees on it ("guestkit: disk boot N")
seed=\$(findfs LABEL=CIDATA 2>/dev/null || findfs LABEL=cidata 2>/dev/null)
for d in /dev/vd?; do
	[ -b "\$d" ] && [ "\$d" != "\$seed" ] || continue
	case "\$(dd if="\$d" bs=64 count=1 2>/dev/null | tr -d '\0')" in
	"guestkit-disk "*) ;;
	*) printf 'guestkit-disk 0' | dd of="\$d" bs=64 count=1 conv=sync,notrunc,fsync 2>/dev/null
	   echo "lab-guest: data disk \$d marked" >/dev/console ;;
	esac
	break
done
for i in \$(seq 1 120); do
	a=\$(ip -4 -o addr show eth0 2>/dev/null | awk '{ print \$4 }')
	[ -n "\$a" ] && break
	sleep 1
done
echo "lab-guest: ready \${a:-no-address}" >/dev/console
(while :; do echo "lab-guest \$(hostname)" | nc -l -p $GUEST_PORT >/dev/null 2>&1; done) &
(while :; do echo "lab-guest \$(hostname)" | nc -l -p $((GUEST_PORT + 1)) >/dev/null 2>&1; done) &
[ -f /ci/user-data ] || exit 0
# a probe costs two programs (timeout, nc): the line is read and the last
# result kept by the shell, which matters in a guest nested in a TCG node
grep '^probe ' /ci/user-data >/tmp/probes
while :; do
	n=0
	while read -r _ host port; do
		n=\$((n + 1))
		# busybox nc's -w covers the connect only: a peer that vanishes
		# mid-connection (a stopped guest) would block it for good
		r=closed
		timeout 5 nc -w 2 "\$host" "\$port" </dev/null 2>/dev/null | { read -r l; [ "\${l#lab-guest}" != "\$l" ]; } && r=open
		eval "last=\\\${last\$n:-}"
		[ "\$last" = "\$r" ] && continue
		eval "last\$n=\$r"
		echo "lab-guest: probe \$host:\$port \$r" >/dev/console
	done </tmp/probes
	sleep 1
done
EOF
	chmod +x "$add/etc/lab-guest"
	# guestkit's /init ends in a sleep loop: start the responder just before it
	(cd "$TEST_TMP" && rm -rf unpack && mkdir unpack && cd unpack && gzip -dc "$dir/base.img" | cpio -id --quiet &&
		cp "$add/etc/lab-guest" etc/lab-guest &&
		sed -i 's|^echo "guestkit: ready"$|echo "guestkit: ready"\n/etc/lab-guest \&|' init &&
		grep -q /etc/lab-guest init && find . | sort | cpio -o -H newc --quiet | gzip -1 >"$dir/initrd.img")
	rm -rf "$TEST_TMP/unpack" "$dir/base.img"
}

# The template is uploaded to the controller (cloudctl template upload), which
# serves it to the nodes.
template_register() {
	local out
	# the cloud kernel needs more than the 64 MiB of the seeded "tiny"
	ctl instance-type set lab-tiny --vcpus 1 --memory-mib 128 --disk-gib 1 >"$LAB_DIR/type.out" 2>&1 ||
		die "creating the instance type lab-tiny failed: $(cat "$LAB_DIR/type.out")"
	ctl template show lab-tiny >/dev/null 2>&1 && return 0
	# quiet, mitigations=off, cryptomgr.notests: no serial printk, no retpolines, no
	# crypto self-tests (under TCG the kernel reaches /init in 3/4 of the time)
	out=$(ctl template upload lab-tiny --format kernel "$LAB_DIR/template/vmlinuz" --initrd "$LAB_DIR/template/initrd.img" \
		--cmdline "console=ttyS0 no_timer_check quiet mitigations=off cryptomgr.notests" --public 2>&1) || die "uploading the test template failed: $out"
}

lab_up() {
	local n=2
	while [ $# -gt 0 ]; do
		case "$1" in
		--nodes) [ $# -ge 2 ] && [[ "$2" =~ ^[1-9][0-9]?$ ]] || die "--nodes needs a number 1..99" 100; n="$2"; shift 2 ;;
		-h | --help) usage; exit 0 ;;
		*) usage >&2; die "unknown argument '$1'" 100 ;;
		esac
	done
	check_tools
	if alive "$(pid_of controller)"; then
		say "the lab is already up ($LAB_DIR); starting nodes that are not running"
		write_cloudctl
		local i
		for ((i = 1; i <= n; i++)); do
			alive "$(pid_of "lab-node$i")" || { nodes_up_one "$i"; }
		done
		[ "$(cat "$LAB_DIR/nodes" 2>/dev/null || echo 0)" -ge "$n" ] || echo "$n" >"$LAB_DIR/nodes"
	else
		[ ! -d "$LAB_DIR" ] && ! ip netns list | grep -qw "$LAB_NS" || lab_down quiet
		mkdir -p "$LAB_DIR"
		step "network ($LAB_NS: $PROV_BR $PROV_GW/24, $GUEST_BR $GUEST_GW/24)" net_up
		step "cloud-controller on $CTL_URL" controller_up
		write_cloudctl
		step "publishing the image of $OUT" ctl images publish "$OUT"
		step "test template (cloud kernel + busybox initramfs)" template_build
		step "uploading the test template, instance type lab-tiny" template_register
		step "$n nodes netbooting" nodes_up "$n"
	fi
	step "waiting for $n nodes to be up (TCG boot: a few minutes)" wait_until 900 "$n nodes up" nodes_all_up "$n"
	ctl nodes list
	cat <<EOF

The lab is up: $n hypervisor nodes, cloud-controller on $CTL_URL (namespace $LAB_NS).
Next:
  export PATH=$LAB_DIR/bin:\$PATH      # the lab's cloudctl (admin key), and lab-api for raw signed requests
  cloudctl nodes list
  cloudctl security-group create web
  cloudctl security-group rule add web --direction ingress --protocol tcp --ports $GUEST_PORT --group web
  cloudctl instance create b --type lab-tiny --template lab-tiny --security-group web --wait
  cloudctl instance show b             # its ipv4; the guest answers TCP $GUEST_PORT and $((GUEST_PORT + 1))
  printf 'probe ADDRESS-OF-B $GUEST_PORT\nprobe ADDRESS-OF-B $((GUEST_PORT + 1))\n' >probes
  cloudctl instance create a --type lab-tiny --template lab-tiny --security-group web --user-data probes --wait
  cloudctl instance console a          # "lab-guest: probe ...:$GUEST_PORT open", "...:$((GUEST_PORT + 1)) closed"
Consoles and logs: $LAB_DIR/*.console, $LAB_DIR/*.log
Tear down: ./build.sh lab down
EOF
}

node_index() { [[ "${1:-}" =~ ^[1-9][0-9]?$ ]] || die "expected a node number, got '${1:-}'" 100; }

# node_kill I: SIGKILL of node I's QEMU, as a power cut would
node_kill() {
	local pid
	node_index "$1"
	pid=$(pid_of "lab-node$1")
	alive "$pid" || die "node $1 is not running"
	kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid"
	wait_until 10 "node $1's QEMU to exit" bash -c "! kill -0 $pid"
	rm -f "$LAB_DIR/lab-node$1.pid"
	say "node $1 killed"
}

# node_get I PATH: what node I's cloudd answers to a GET of PATH, signed with
# the key the controller keeps for the node (cloudd answers nothing else but
# /health and /metrics; tests/nodesign.py reads the key from the database)
node_get() {
	local mac addr url auth
	node_index "${1:-}"
	[[ "${2:-}" == /* ]] || die "expected a path such as /v1/state, got '${2:-}'" 100
	mac=$(node_mac "$1")
	addr=$(ctl -o json nodes show "$mac" 2>/dev/null | python3 -c 'import json, sys; print(json.load(sys.stdin).get("address") or "")') ||
		die "node $1 ($mac) is not registered"
	[ -n "$addr" ] || die "node $1 ($mac) has no address"
	url="http://$addr:8081$2"
	auth=$(python3 "$ROOT/tests/nodesign.py" --db "$LAB_DIR/controller/controller.db" --node "$mac" GET "$url") ||
		die "no key for node $1 in $LAB_DIR/controller/controller.db"
	in_ns curl -sf --max-time 5 -H "Authorization: $auth" "$url" || die "GET $url failed"
}

nodes_up_one() {
	ctl machines add "$(node_mac "$1")" --name "lab-node$1" --role hypervisor >/dev/null 2>&1 || true
	node_start "$1"
}

lab_down() {
	local f pid
	for f in "$LAB_DIR"/*.pid; do
		[ -e "$f" ] || continue
		pid=$(cat "$f")
		# only what this lab started: the pid must still run in the lab's namespace
		if alive "$pid" && [ "$(readlink "/proc/$pid/ns/net")" = "$(readlink "/run/netns/$LAB_NS" 2>/dev/null || true)" ] ||
			{ alive "$pid" && ip netns pids "$LAB_NS" 2>/dev/null | grep -qx "$pid"; }; then
			kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
		fi
		rm -f "$f"
	done
	if ip netns list | grep -qw "$LAB_NS"; then
		for pid in $(ip netns pids "$LAB_NS" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
		ip netns del "$LAB_NS"
	fi
	# LAB_KEEP_LOGS=1 (the e2e cases): logs and consoles stay for a post-mortem
	if [ "${LAB_KEEP_LOGS:-0}" = 1 ]; then
		rm -rf "$LAB_DIR"/*.disk "$LAB_DIR"/*.sock "$LAB_DIR/template" "$LAB_DIR/tmp"
	else
		rm -rf "$LAB_DIR"
	fi
	[ "${1:-}" = quiet ] || say "the lab is down"
}

lab_status() {
	local f
	[ -d "$LAB_DIR" ] || { say "no lab"; return 0; }
	for f in "$LAB_DIR"/*.pid; do
		[ -e "$f" ] || continue
		if alive "$(cat "$f")"; then say "$(basename "$f" .pid): running (pid $(cat "$f"))"
		else say "$(basename "$f" .pid): not running"; fi
	done
	alive "$(pid_of controller)" && ctl nodes list || true
}

main() {
	local cmd=up
	case "${1:-}" in
	up | down | status | restart-controller | node-kill | node-start | node-get) cmd="$1"; shift ;;
	-h | --help | help) usage; exit 0 ;;
	esac
	case "$cmd" in
	up) lab_up "$@" ;;
	down) [ "$(id -u)" -eq 0 ] || die "needs root" 100; lab_down ;;
	status) lab_status ;;
	restart-controller) controller_restart; say "controller restarted" ;;
	node-kill) node_kill "${1:-}" ;;
	node-start) node_index "${1:-}"; alive "$(pid_of "lab-node$1")" && die "node $1 is running"
		node_start "$1"; say "node $1 started (netbooting)" ;;
	node-get) node_get "$@" ;;
	esac
}

main "$@"
