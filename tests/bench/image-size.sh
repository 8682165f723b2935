#!/usr/bin/env bash
# image size: compressed kernel + initramfs against the 40 MB target, with what the initramfs holds
. "$(dirname "$0")/../lib.sh"
require_cmd zstd cpio

TARGET_MB=40
RESULT="$OUT/bench/image-size.txt"
for f in vmlinuz initramfs.img; do
	[ -f "$OUT/$f" ] || fail "$OUT/$f missing: build the image first (./build.sh image)"
done
mkdir -p "$OUT/bench" "$TEST_TMP/root"
zstd -dc "$OUT/initramfs.img" | (cd "$TEST_TMP/root" && cpio -id --quiet) || fail "cannot unpack $OUT/initramfs.img"

mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1e6 }'; }
kernel=$(stat -c %s "$OUT/vmlinuz")
initramfs=$(stat -c %s "$OUT/initramfs.img")
total=$((kernel + initramfs))
unpacked=$(du -sb "$TEST_TMP/root" | cut -f1)
part() { du -sb "$TEST_TMP/root/$1" 2>/dev/null | cut -f1; }
qemu=$(($(part usr/bin/qemu-system-x86_64) + $(part usr/bin/qemu-img)))
modules=$(part lib/modules)
libs=$(($(part lib/x86_64-linux-gnu) + $(part usr/lib/x86_64-linux-gnu)))
{
	echo "image size ($OUT)"
	printf '  vmlinuz                    %6s MB\n' "$(mb "$kernel")"
	printf '  initramfs.img (zstd)       %6s MB  (%s MB unpacked: QEMU binaries %s, kernel modules %s, shared libraries %s)\n' \
		"$(mb "$initramfs")" "$(mb "$unpacked")" "$(mb "$qemu")" "$(mb "$modules")" "$(mb "$libs")"
	printf '  total                      %6s MB  target %d MB, ratio %.2f (<= 1.00 meets it)\n' \
		"$(mb "$total")" "$TARGET_MB" "$(awk -v t="$total" -v m="$TARGET_MB" 'BEGIN { print t / (m * 1e6) }')"
	echo "  context (published sizes, not measured here): Tinkerbell Hook ~180 MB compressed, SmartOS boot archive > 300 MB"
} | tee "$RESULT"
[ "$total" -le $((TARGET_MB * 1000000)) ] || { echo "image above the ${TARGET_MB} MB target"; exit 1; }
