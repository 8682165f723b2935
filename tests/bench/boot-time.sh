#!/usr/bin/env bash
# boot time under QEMU TCG: power-on to cloudd /health answering, against a busybox-only baseline image netbooted the same way (target ratio <= 1.5)
# timeout: 1500
#
# The baseline is made here from the same pinned packages: the image's kernel
# and a busybox-static initramfs whose /init loads only the NIC driver, takes
# a DHCP lease and answers one HTTP request on port 8081. Both are netbooted
# by the same iPXE script through the same dnsmasq and HTTP server with a
# virtio-net NIC, alternately, ROUNDS times each; the figures are medians
# (the machine is shared, single boots vary).
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/boot/lib-boot.sh"
require_cmd dpkg-deb depmod cpio zstd curl

ROUNDS="${ROUNDS:-3}"
TARGET_RATIO=1.5
CACHE="${CLOUDD_CACHE:-/var/cache/cloudd-build}"
RESULT="$OUT/bench/boot-time.txt"

# locked_deb NAME-REGEX: the cached .deb of the pinned package matching NAME-REGEX
locked_deb() {
	local name version
	read -r name version < <(grep -E "^$1 " "$ROOT/image/packages.lock" | head -1)
	[ -n "$name" ] || fail "no package matching '$1' in image/packages.lock"
	ls "$CACHE/debs/${name}_${version//:/%3a}_"*.deb 2>/dev/null | head -1 ||
		fail "$name $version not in $CACHE/debs (build the image first)"
}

# build_baseline: $TEST_TMP/baseline.img, a busybox-only initramfs for the image's kernel
build_baseline() {
	local sys="$TEST_TMP/baseline-sysroot" root="$TEST_TMP/baseline-root" kver m
	mkdir -p "$sys" "$root"/{bin,dev,proc,sys,tmp,lib/modules}
	dpkg-deb -x "$(locked_deb busybox-static)" "$sys"
	dpkg-deb -x "$(locked_deb 'linux-image-[0-9][^ ]*')" "$sys"
	kver=$(ls "$sys/lib/modules")
	cmp -s "$sys/boot/vmlinuz-$kver" "$OUT/vmlinuz" || fail "the pinned kernel is not the image's vmlinuz"
	depmod -b "$sys" "$kver"
	cp "$sys/bin/busybox" "$root/bin/busybox"
	for m in sh mount insmod ip udhcpc nc cat sleep tr poweroff; do ln -s busybox "$root/bin/$m"; done
	# the NIC drivers with their dependencies, in load order
	for m in virtio_pci virtio_net e1000; do
		awk -v m="$m" -F: '{ n = $1; sub(/.*\//, "", n); sub(/\.ko$/, "", n) } n == m {
			c = split($2, d, " "); for (i = c; i >= 1; i--) print d[i]; print $1 }' \
			"$sys/lib/modules/$kver/modules.dep"
	done | awk '!seen[$0]++' >"$root/lib/modules/load"
	while read -r m; do cp "$sys/lib/modules/$kver/$m" "$root/lib/modules/"; done <"$root/lib/modules/load"
	sed -i 's|.*/||' "$root/lib/modules/load"
	cat >"$root/init" <<'INIT'
#!/bin/sh
# baseline /init: NIC driver, DHCP on the BOOTIF NIC, one HTTP answer on :8081
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
while read -r m; do insmod "/lib/modules/$m"; done </lib/modules/load
for a in $(cat /proc/cmdline); do case "$a" in BOOTIF=*) mac=$(echo "${a#BOOTIF=??-}" | tr A-F- a-f:) ;; esac; done
while [ -z "$if" ]; do
	for d in /sys/class/net/*; do [ "$(cat "$d/address")" = "$mac" ] && if=${d##*/}; done
	[ -n "$if" ] || sleep 0.1
done
ip link set "$if" up
udhcpc -i "$if" -f -q -n -t 20 -T 3 -s /lease.sh >/dev/null 2>&1
echo "cloudd-init: [network] $if $mac $(cat /tmp/ip)/24" >/dev/console
printf 'HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n' | nc -l -p 8081
echo "baseline: answered one request" >/dev/console
while :; do sleep 3600; done
INIT
	cat >"$root/lease.sh" <<'LEASE'
#!/bin/sh
[ "$1" = bound ] && ip addr add "$ip/${mask:-24}" dev "$interface" && echo "$ip" >/tmp/ip
exit 0
LEASE
	chmod 0755 "$root/init" "$root/lease.sh"
	(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --reproducible --quiet) |
		zstd -q -17 -T1 >"$TEST_TMP/baseline.img"
}

# time_boot NAME INITRAMFS: seconds from QEMU start to the first HTTP answer on :8081/health
time_boot() {
	local name="$1" ip t0 t1
	ln -sfn "$2" "$BOOT_WWW/image/initramfs.img"
	t0=$(date +%s.%N)
	boot_vm "$name" virtio-net-pci 52:54:00:be:00:01 >&2
	boot_wait_console 300 "$name" 'cloudd-init: \[network\]' >&2
	ip=$(boot_node_ip "$name")
	wait_for 240 "$name: an answer on $ip:8081/health" in_ns "$BOOT_NS" curl -fs --max-time 2 "http://$ip:8081/health"
	t1=$(date +%s.%N)
	kill -9 "$BOOT_VM_PID"
	wait "$BOOT_VM_PID" 2>/dev/null || true
	in_ns "$BOOT_NS" ip link del "t$TEST_ID${name:0:4}"
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }'
}

mkdir -p "$OUT/bench"
log "building the baseline initramfs"
build_baseline
boot_lab_up
image_times=() base_times=()
for r in $(seq "$ROUNDS"); do
	base_times+=("$(time_boot "base$r" "$TEST_TMP/baseline.img")")
	log "round $r: baseline ${base_times[-1]} s"
	image_times+=("$(time_boot "imag$r" "$OUT/initramfs.img")")
	log "round $r: image ${image_times[-1]} s"
done
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { printf "%.1f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
img=$(median "${image_times[@]}")
base=$(median "${base_times[@]}")
ratio=$(awk -v a="$img" -v b="$base" 'BEGIN { printf "%.2f", a / b }')
{
	echo "boot time, QEMU TCG, virtio-net, power-on to first answer on :8081/health (median of $ROUNDS)"
	printf '  node image (cloudd /health)       %6s s  (rounds: %s; initramfs %s MB)\n' "$img" "${image_times[*]}" \
		"$(awk -v b="$(stat -c %s "$OUT/initramfs.img")" 'BEGIN { printf "%.1f", b / 1e6 }')"
	printf '  baseline (busybox, one answer)    %6s s  (rounds: %s; initramfs %s MB)\n' "$base" "${base_times[*]}" \
		"$(awk -v b="$(stat -c %s "$TEST_TMP/baseline.img")" 'BEGIN { printf "%.1f", b / 1e6 }')"
	printf '  ratio                             %6s    target <= %s\n' "$ratio" "$TARGET_RATIO"
	echo "  last image boot, kernel uptime at each /init stage:"
	grep -aoE 'cloudd-init: \[[a-z]+\].*' "$TEST_TMP/imag$ROUNDS.console" | tr -d '\r' |
		sed -E 's/^cloudd-init: (\[[a-z]+\]).*\(([0-9.]+s)\)$/    \1 \2/'
} | tee "$RESULT"
awk -v r="$ratio" -v t="$TARGET_RATIO" 'BEGIN { exit !(r <= t) }' || { echo "boot time ratio $ratio above $TARGET_RATIO"; exit 1; }
