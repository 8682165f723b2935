#!/usr/bin/env bash
# filter kernel: bridge conntrack works here, or in the Debian-kernel test VM the filter cases re-run in
# timeout: 300
#
# Also the library of the filter cases (tests/integration/2*-filter-*.sh):
# sourced with FILTER_LIB=1 it only defines functions.
#
# Why a VM: the guest filters are stateful nftables rules in the bridge
# family, which need CONFIG_NF_CONNTRACK_BRIDGE. The node image's Debian kernel
# has it; a build host's kernel may not. filter_need_kernel re-runs the calling
# case unchanged inside a QEMU (TCG) VM that boots the node image's Debian
# kernel with the host's root filesystem (9p, read-only, under a tmpfs
# overlay), so every tool and the cloudd build are the same as on the host.

filter_kernel_deb() {
	local deb
	deb=$(ls "${CLOUDD_CACHE:-/var/cache/cloudd-build}"/debs/linux-image-[0-9]*-amd64_*_amd64.deb 2>/dev/null |
		grep -v -- '-cloud-amd64_' | sort -V | tail -1 || true)
	echo "$deb"
}

# The cloudd program that runs `filter` subcommands (FILTER_CLOUDD inside the
# test VM, where the checkout's out/ is shared under the same path).
filter_cloudd() {
	local c="${FILTER_CLOUDD:-$OUT/bin/cloudd}"
	if [ ! -x "$c" ]; then
		echo "filter_cloudd: no $c (build it first: ./build.sh build)" >&2
		return 1
	fi
	echo "$c"
}

# true when this kernel accepts a bridge-family rule with conntrack
filter_kernel_has_bridge_ct() {
	local ns="fk-$TEST_ID-$RANDOM" rc=0
	ip netns add "$ns" || return 1
	printf 'table bridge probe {\n chain c { type filter hook forward priority 0; ct state established accept; }\n}\n' |
		ip netns exec "$ns" nft -f - 2>/dev/null || rc=1
	ip netns del "$ns"
	return "$rc"
}

# The Debian kernel unpacked (with modules.dep) and a small initramfs that
# mounts the host's root over 9p. Cached by kernel package name.
filter_vm_prepare() {
	local deb="$1" dir="$2" ver
	[ -f "$dir/ready" ] && return 0
	rm -rf "$dir" && mkdir -p "$dir/root" "$dir/initramfs"
	dpkg-deb -x "$deb" "$dir/root"
	ver=$(ls "$dir/root/lib/modules")
	depmod -b "$dir/root" "$ver"
	local ird="$dir/initramfs" m
	mkdir -p "$ird/bin" "$ird/mods" "$ird/proc" "$ird/sys" "$ird/dev" "$ird/lower" "$ird/rw" "$ird/newroot"
	cp /bin/busybox "$ird/bin/busybox"
	for m in virtio_pci 9pnet_virtio 9p overlay; do
		modprobe -S "$ver" -d "$dir/root" --show-depends "$m" | awk '$1 == "insmod" { print $2 }'
	done | awk '!seen[$0]++' >"$dir/modlist"
	while read -r m; do cp "$m" "$ird/mods/"; echo "/mods/$(basename "$m")"; done <"$dir/modlist" >"$ird/mods/order"
	cat >"$ird/init" <<EOF
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox mount -t devtmpfs dev /dev
for m in \$(/bin/busybox cat /mods/order); do /bin/busybox insmod \$m; done
/bin/busybox mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,ro hostroot /lower || /bin/busybox sh
/bin/busybox mount -t tmpfs -o size=60% rw /rw
/bin/busybox mkdir -p /rw/upper /rw/work
/bin/busybox mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot
/bin/busybox mkdir -p /newroot/usr/lib/modules
/bin/busybox ln -sfn $dir/root/lib/modules/$ver /newroot/usr/lib/modules/$ver
/bin/busybox mount --move /dev /newroot/dev
/bin/busybox umount /proc /sys
exec /bin/busybox switch_root /newroot /bin/bash /run-case
EOF
	chmod +x "$ird/init"
	(cd "$ird" && find . | sort | cpio -o -H newc --quiet) >"$dir/initramfs.img"
	echo "$ver" >"$dir/ready"
}

# filter_vm_run SCRIPT [ARGS..]: runs SCRIPT with bash inside the VM, as root,
# with this environment's ROOT and OUT; returns its exit status. The VM's
# console goes to stdout.
filter_vm_run() {
	local deb dir ver share rc
	deb=$(filter_kernel_deb)
	[ -n "$deb" ] || { echo "no Debian kernel package in the build cache (./build.sh image fetches it)"; return 77; }
	dir="${CLOUDD_CACHE:-/var/cache/cloudd-build}/filter-vm/$(basename "$deb" .deb)"
	filter_vm_prepare "$deb" "$dir" || return 1
	ver=$(cat "$dir/ready")
	share=$(mktemp -d "/tmp/cloudd-filter-vm.XXXXXX")
	# a script in the overlay's upper layer: the init's target
	local cloudd
	cloudd=$(filter_cloudd) || return 1
	cat >"$share/run-case" <<EOF
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t tmpfs tmpfs /run
mkdir -p /run/netns /dev/pts /dev/shm; mount -t devpts devpts /dev/pts; mount -t tmpfs tmpfs /dev/shm
ip link set lo up
# the filters must hold with br_netfilter loaded too (it has bridge hooks of its own)
modprobe br_netfilter 2>/dev/null && echo "filter-vm: br_netfilter loaded"
mkdir -p /results && mount -t 9p -o trans=virtio,version=9p2000.L results /results
export ROOT='$ROOT' OUT='$OUT' FILTER_IN_VM=1 FILTER_CLOUDD='$cloudd' PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
mkdir -p /results/files
export FILTER_RESULTS_DIR=/results/files
$(for v in ${!FILTER_BENCH_@}; do printf 'export %s=%q\n' "$v" "${!v}"; done)
cd '$PWD'
echo "filter-vm: kernel \$(uname -r), running $*"
bash $(printf '%q ' "$@")
echo \$? >/results/rc
sync
echo o >/proc/sysrq-trigger
sleep 30
EOF
	# the init execs /run-case from the overlay root: put it in the initramfs
	local ird
	ird=$(mktemp -d "/tmp/cloudd-filter-ird.XXXXXX")
	mkdir -p "$ird/newroot"
	cp "$share/run-case" "$ird/run-case.src"
	# The overlay root is the host's, so /run-case is supplied by a second
	# tiny cpio appended to the cached one: the init copies it after mounting.
	sed 's|^exec /bin/busybox switch_root|/bin/busybox cp /run-case.src /newroot/run-case; exec /bin/busybox switch_root|' \
		"$dir/initramfs/init" >"$ird/init"
	chmod +x "$ird/init"
	(cd "$ird" && printf '%s\n' init run-case.src | cpio -o -H newc --quiet) >"$share/extra.img"
	cat "$dir/initramfs.img" "$share/extra.img" >"$share/initramfs.img"
	rm -rf "$ird"
	: >"$share/rc"
	rm -f "$share/rc"
	timeout --kill-after=5 "${FILTER_VM_TIMEOUT:-900}" qemu-system-x86_64 -accel tcg,thread=multi -smp 2 -m 2048 \
		-nodefaults -no-user-config -nographic -serial stdio -no-reboot \
		-kernel "$dir/root/boot/vmlinuz-$ver" -initrd "$share/initramfs.img" \
		-append "console=ttyS0 quiet panic=-1 rdinit=/init" \
		-fsdev local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot \
		-fsdev local,id=results,path="$share",security_model=none -device virtio-9p-pci,fsdev=results,mount_tag=results \
		</dev/null || true
	rc=$(cat "$share/rc" 2>/dev/null || echo 1)
	# files the case left for the caller (benchmark figures)
	if [ -n "${FILTER_VM_RESULTS:-}" ] && [ -d "$share/files" ]; then
		mkdir -p "$FILTER_VM_RESULTS" && cp -r "$share/files/." "$FILTER_VM_RESULTS/"
	fi
	rm -rf "$share"
	return "$rc"
}

# filter_need_kernel "$0" "$@": returns when this kernel can run the filter
# tables; otherwise re-runs the case in the VM and exits with its status.
filter_need_kernel() {
	[ "${FILTER_IN_VM:-0}" = 1 ] && return 0
	filter_kernel_has_bridge_ct && return 0
	log "this kernel has no bridge conntrack (CONFIG_NF_CONNTRACK_BRIDGE): re-running $1 in the Debian-kernel VM"
	local rc=0
	filter_vm_run "$@" || rc=$?
	exit "$rc"
}

# --- topology for the filter cases -------------------------------------------------
#
# A "node" namespace FH with bridge br0 (198.51.100.1/24, 2001:db8:100::1/64)
# and pseudo-guests: each a namespace with eth0, whose peer on the bridge is
# named like the guest's tap (cloudd filter port INSTANCE NIC), so the table
# applies to it exactly as to a QEMU tap.

filter_topology() {
	FH="fh$TEST_ID"
	CLOUDD=$(filter_cloudd) || fail "cannot build the filter CLI"
	netns_add "$FH"
	ip -n "$FH" link add br0 type bridge
	ip netns exec "$FH" sysctl -qw net.ipv6.conf.br0.accept_dad=0
	ip -n "$FH" addr add 198.51.100.1/24 dev br0
	ip -n "$FH" addr add 2001:db8:100::1/64 dev br0 nodad
	ip -n "$FH" link set br0 up
}

# filter_guest NS INSTANCE NIC MAC IPV4 [IPV6]: a pseudo-guest; sets PORT_<NS>
filter_guest() {
	local ns="$1$TEST_ID" inst="$2" nic="$3" mac="$4" ip4="$5" ip6="${6:-}" port
	port=$("$CLOUDD" filter port "$inst" "$nic")
	netns_add "$ns"
	ip -n "$FH" link add "$port" type veth peer name eth0 netns "$ns"
	ip -n "$FH" link set "$port" master br0 up
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.eth0.accept_dad=0 net.ipv6.conf.eth0.accept_ra=0
	ip -n "$ns" link set eth0 address "$mac" up
	ip -n "$ns" addr add "$ip4/24" dev eth0
	[ -z "$ip6" ] || ip -n "$ns" addr add "$ip6/64" dev eth0 nodad
	ip -n "$ns" route add default via 198.51.100.1
	printf -v "PORT_$1" '%s' "$port"
}

# filter_apply DOC [ARGS..]: `cloudd filter apply --state DOC` in the node namespace
filter_apply() {
	local doc="$1"; shift
	ip netns exec "$FH" "$CLOUDD" filter apply --state "$doc" "$@"
}

filter_status() { ip netns exec "$FH" "$CLOUDD" filter status "$@"; }

# filter_drops PORT REASON: the drop counter (0 when absent)
filter_drops() {
	filter_status | /usr/bin/python3 -c '
import json, sys
port, reason = sys.argv[1], sys.argv[2]
n = sum(d["packets"] for d in json.load(sys.stdin)["drops"] if d["port"] == port and d["reason"] == reason)
print(n)' "$1" "$2"
}

# Small stdlib-only probes (python3), written once per case:
#   probe.py serve tcp|udp PORT..      answer every connection / datagram
#   probe.py tcp|udp ADDR PORT [SRCPORT]   exit 0 when the server answered within 1.5 s
#   probe.py sniff IFACE FILE          append every CLDTAGnnn seen on IFACE to FILE
filter_tools() {
	cat >"$TEST_TMP/probe.py" <<'PY'
import os, re, socket, sys, threading, time
def serve(proto, ports):
    socks = []
    for port in ports:
        for fam, addr in ((socket.AF_INET6, "::"),):
            s = socket.socket(fam, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            s.bind((addr, int(port)))
            if proto == "tcp":
                s.listen(64)
            socks.append(s)
    def run(s):
        while True:
            if proto == "tcp":
                c, _ = s.accept()
                try:
                    c.sendall(b"ok\n")
                finally:
                    c.close()
            else:
                data, peer = s.recvfrom(2048)
                s.sendto(b"ok:" + data, peer)
    for s in socks:
        threading.Thread(target=run, args=(s,), daemon=True).start()
    open(os.environ.get("READY", "/dev/null"), "w").close()
    while True:
        time.sleep(3600)
def client(proto, addr, port, sport=None):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
    s.settimeout(float(os.environ.get("PROBE_TIMEOUT", "1.5")))
    if sport:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("", int(sport)))
    try:
        if proto == "tcp":
            s.connect((addr, int(port)))
            return 0 if s.recv(16).startswith(b"ok") else 1
        s.sendto(b"probe", (addr, int(port)))
        return 0 if s.recvfrom(64)[0].startswith(b"ok:") else 1
    except OSError:
        return 1
def sniff(iface, path):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
    s.bind((iface, 0))
    out = open(path, "a")
    open(path + ".ready", "w").close()
    while True:
        frame = s.recv(65535)
        for tag in re.findall(rb"CLDTAG\d{3}", frame):
            out.write(tag.decode() + "\n")
            out.flush()
cmd = sys.argv[1]
if cmd == "serve":
    serve(sys.argv[2], sys.argv[3:])
elif cmd in ("tcp", "udp"):
    sys.exit(client(cmd, *sys.argv[2:]))
elif cmd == "sniff":
    sniff(sys.argv[2], sys.argv[3])
PY
}

# the namespace of a pseudo-guest's short name, or of "node"
filter_ns() { if [ "$1" = node ]; then echo "$FH"; else echo "$1$TEST_ID"; fi; }
# probe NS tcp|udp ADDR PORT [SPORT]
probe() { local ns; ns=$(filter_ns "$1"); shift; ip netns exec "$ns" /usr/bin/python3 "$TEST_TMP/probe.py" "$@"; }
# serve NS tcp|udp PORT..: a background answering server
serve() {
	local ns ready="$TEST_TMP/ready.$1.$2.$3"
	ns=$(filter_ns "$1"); shift
	bg_ns "$ns" "$TEST_TMP/serve.$ns.$1.$2.log" env READY="$ready" /usr/bin/python3 "$TEST_TMP/probe.py" serve "$@" >/dev/null
	wait_for 30 "server $* in $ns" test -e "$ready"
}
ping_ok() { local ns; ns=$(filter_ns "$1"); shift; ip netns exec "$ns" ping -q -n -c 1 -W 2 "$@" >/dev/null 2>&1; }

# expect_ok WHAT CMD.. / expect_fail WHAT CMD..
expect_ok() { local what="$1"; shift; "$@" || fail "expected to pass: $what"; log "ok (passes): $what"; }
expect_fail() { local what="$1"; shift; ! "$@" || fail "expected to be blocked: $what"; log "ok (blocked): $what"; }

if [ "${FILTER_LIB:-0}" != 1 ]; then
	. "$(dirname "$0")/../lib.sh"
	require_root
	require_cmd nft ip qemu-system-x86_64 cpio depmod
	filter_need_kernel "$0" "$@"
	filter_kernel_has_bridge_ct || fail "kernel $(uname -r) rejects a bridge-family conntrack rule"
	log "kernel $(uname -r): bridge conntrack available"
	cloudd=$(filter_cloudd) || fail "cannot build the filter CLI"
	"$cloudd" filter --help >/dev/null || fail "$cloudd filter --help failed"
	log "filter CLI: $cloudd"
fi
