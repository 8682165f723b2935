#!/usr/bin/env bash
# image serving: 100 concurrent clients downloading initramfs.img from cloud-controller vs nginx serving the same file (ratio of bytes/s; target >= 0.9)
# timeout: 300
. "$ROOT/tests/lib.sh"
. "$ROOT/tests/integration/controller-lib.sh"
. "$ROOT/tests/bench/controller-lib.sh"
require_root
require_cmd python3 curl
[ -f "$OUT/initramfs.img" ] || fail "no $OUT/initramfs.img (./build.sh image)"
bench_tools
DURATION="${BENCH_DURATION:-10}"

cc_start
ctl images publish "$OUT" --version bench >/dev/null || fail "publishing $OUT failed"
dir="$CC_DATA/images/bench"
bench_nginx "$dir" 8090
size=$(stat -c %s "$dir/initramfs.img")
log "initramfs.img: $size bytes; wrk -c100 -t2 -d${DURATION}s against each server, twice, alternating"
best_n=0 best_c=0
for round in 1 2; do
	read -r _ n _ < <(wrk_run -t2 -c100 -d"${DURATION}s" --timeout 30s http://127.0.0.1:8090/initramfs.img)
	read -r _ c _ < <(wrk_run -t2 -c100 -d"${DURATION}s" --timeout 30s http://127.0.0.1:8080/images/bench/initramfs.img)
	log "round $round: nginx $(awk -v b="$n" 'BEGIN{printf "%.0f MiB/s", b/1048576}'), cloud-controller $(awk -v b="$c" 'BEGIN{printf "%.0f MiB/s", b/1048576}')"
	best_n=$(awk -v a="$best_n" -v b="$n" 'BEGIN{print (b > a) ? b : a}')
	best_c=$(awk -v a="$best_c" -v b="$c" 'BEGIN{print (b > a) ? b : a}')
done
ratio=$(awk -v c="$best_c" -v n="$best_n" 'BEGIN{printf "%.2f", c / n}')
echo "bench controller-images: nginx $(awk -v b="$best_n" 'BEGIN{printf "%.0f", b/1048576}') MiB/s," \
	"cloud-controller $(awk -v b="$best_c" 'BEGIN{printf "%.0f", b/1048576}') MiB/s, ratio $ratio (target >= 0.9)"
