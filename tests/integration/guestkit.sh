# guestkit.sh -- tiny test guests: a Debian cloud kernel and a busybox initramfs (source it after lib.sh)
#
# guestkit_kernel        sets GUESTKIT_KERNEL: the cloud kernel's vmlinuz, extracted
#                        once into $CACHE/guestkit (the .deb is fetched with
#                        apt-get download into $CACHE/debs when missing)
# guestkit_initramfs OUT writes a busybox initramfs to OUT. Its /init prints
#                        "guestkit: init started", loads virtio/vfat modules,
#                        sets the hostname from a NoCloud seed (label CIDATA),
#                        brings eth0 up with udhcpc, powers off on the ACPI
#                        power button, and on a disk labelled by the test
#                        (first sector "guestkit-disk N") bumps the boot counter
#                        and prints "guestkit: disk boot N". With guestkit.panic
#                        on the kernel command line it panics once ready.
# guestkit_driver        sets GUESTKIT_DRIVER: tests/integration/nodetool.c
#                        built against cloudd's node modules (host gcc)
CACHE="${CLOUDD_CACHE:-/var/cache/cloudd-build}"
GUESTKIT_MODULES="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci
virtio_blk failover net_failover virtio_net fat vfat nls_cp437 nls_ascii button evdev pvpanic pvpanic-mmio"

guestkit_kernel() {
	local kdir deb
	kdir="$CACHE/guestkit/kernel"
	if [ ! -f "$kdir/.done" ]; then
		mkdir -p "$CACHE/debs" "$CACHE/guestkit"
		deb=$(ls "$CACHE"/debs/linux-image-6.1.0-*-cloud-amd64_*.deb 2>/dev/null | sort -V | tail -1 || true)
		if [ -z "$deb" ]; then
			local pkg
			pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
				sed -n 's/.*Depends: \(linux-image-6[^ ]*-cloud-amd64\)$/\1/p' | head -1)
			[ -n "$pkg" ] || skip "no linux-image-*-cloud-amd64 package known to apt"
			(cd "$CACHE/debs" && apt-get download "$pkg" >/dev/null 2>&1) ||
				skip "apt-get download $pkg failed"
			deb=$(ls "$CACHE"/debs/linux-image-6.1.0-*-cloud-amd64_*.deb | sort -V | tail -1)
		fi
		rm -rf "$kdir.tmp" && mkdir -p "$kdir.tmp"
		dpkg-deb -x "$deb" "$kdir.tmp"
		rm -rf "$kdir" && mv "$kdir.tmp" "$kdir" && touch "$kdir/.done"
	fi
	GUESTKIT_KERNEL=$(ls "$kdir"/boot/vmlinuz-* | head -1)
	GUESTKIT_MODDIR=$(ls -d "$kdir"/lib/modules/* | head -1)
}

guestkit_initramfs() {
	local out="$1" root m f
	[ -n "${GUESTKIT_MODDIR:-}" ] || guestkit_kernel
	root=$(mktemp -d "$TEST_TMP/initramfs.XXXXXX")
	mkdir -p "$root"/{bin,sbin,proc,sys,dev,ci,lib/modules,etc/acpi/PWRF,tmp,run}
	cp /bin/busybox "$root/bin/busybox"
	for m in $GUESTKIT_MODULES; do
		f=$(find "$GUESTKIT_MODDIR" -name "$m.ko" | head -1)
		[ -n "$f" ] && cp "$f" "$root/lib/modules/"
	done
	cat >"$root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci \
	virtio_blk failover net_failover virtio_net fat vfat nls_cp437 nls_ascii button evdev pvpanic pvpanic-mmio; do
	[ -f /lib/modules/$m.ko ] && insmod /lib/modules/$m.ko 2>/dev/null
done
echo "guestkit: init started"
sleep 1
seed=$(findfs LABEL=CIDATA 2>/dev/null || findfs LABEL=cidata 2>/dev/null || true)
if [ -n "$seed" ] && mount -t vfat -o ro "$seed" /ci; then
	h=$(tr -d '\n' </ci/meta-data | sed -n 's/.*"local-hostname": *"\([^"]*\)".*/\1/p')
	[ -n "$h" ] && hostname "$h"
	echo "guestkit: hostname $(hostname)"
	grep -q ssh /ci/user-data && echo "guestkit: user-data has ssh keys"
fi
for d in /dev/vd?; do
	[ -b "$d" ] || continue
	first=$(dd if="$d" bs=64 count=1 2>/dev/null | tr -d '\0')
	case "$first" in
	"guestkit-disk "*)
		n=${first#guestkit-disk }
		n=$((n + 1))
		printf 'guestkit-disk %s' "$n" | dd of="$d" bs=64 count=1 conv=sync,notrunc,fsync 2>/dev/null
		sync
		echo "guestkit: disk boot $n"
		;;
	esac
done
acpid -d >/dev/null 2>&1 &
ip link set lo up
if ip link set eth0 up 2>/dev/null; then
	udhcpc -b -i eth0 -s /bin/dhcp-script -t 20 -T 1 >/dev/null 2>&1
fi
echo "guestkit: ready"
if grep -q guestkit.panic /proc/cmdline; then
	echo "guestkit: panicking on purpose"
	echo c >/proc/sysrq-trigger
fi
while :; do sleep 3600; done
EOF
	cat >"$root/bin/dhcp-script" <<'EOF'
#!/bin/sh
case "$1" in
bound|renew)
	ip addr flush dev "$interface"
	ip addr add "$ip/${mask:-24}" dev "$interface"
	[ -n "$router" ] && ip route add default via "$router" 2>/dev/null
	echo "guestkit: lease $ip on $interface" >/dev/console
	;;
esac
EOF
	cat >"$root/etc/acpi/PWRF/00000080" <<'EOF'
#!/bin/sh
echo "guestkit: powering off" >/dev/console
sync
poweroff -f
EOF
	chmod +x "$root/init" "$root/bin/dhcp-script" "$root/etc/acpi/PWRF/00000080"
	(cd "$root" && find . | sort | cpio -o -H newc --quiet) | gzip -1 >"$out"
	rm -rf "$root"
}

guestkit_driver() {
	local src="$ROOT/cloudd" objs=() f
	GUESTKIT_DRIVER="$TEST_TMP/nodetool"
	# the host objects of lib/, proto/ and node/ (except main.c), built by the Makefile's own rules
	for f in "$src"/lib/*.c "$src"/proto/*.c "$src"/node/*.c; do
		[ "$(basename "$f")" = main.c ] && continue
		f=${f#"$src"/}
		objs+=("$OUT/build/host/${f%.c}.o")
	done
	make -s -C "$src" OUT="$OUT" -j2 "${objs[@]}" >/dev/null
	gcc -std=c11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -Werror -I"$src/lib" -I"$src/proto" -I"$src/node" \
		-o "$GUESTKIT_DRIVER" "$ROOT/tests/integration/nodetool.c" "${objs[@]}" \
		-lcurl -lmicrohttpd -ljansson -lsqlite3 -lnettle -lpthread -lm
}
