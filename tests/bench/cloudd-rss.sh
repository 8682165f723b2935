#!/usr/bin/env bash
# idle resident memory of the static cloudd after N requests, against the 4 MiB target and busybox httpd
# timeout: 300
. "$(dirname "$0")/../lib.sh"
require_root
require_cmd curl ip busybox

CLOUDD="$OUT/bin/cloudd"
N="${N:-2000}"
TARGET_KB=4096
[ -x "$CLOUDD" ] || fail "$CLOUDD not built (./build.sh cloudd)"

ns="cl-rss-$TEST_ID"
netns_add "$ns"

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

NODE_KEY_FILE="$TEST_TMP/node.key"
node_key_new "$NODE_KEY_FILE"
pid=$(bg_ns "$ns" "$TEST_TMP/cloudd.log" "$CLOUDD" --listen 127.0.0.1:8081 --syslog no --log-level warn \
	--api-key-file "$NODE_KEY_FILE")
wait_for 10 "cloudd /health" in_ns "$ns" curl -sf http://127.0.0.1:8081/health
start_kb=$(rss_kb "$pid")

mkdir -p "$TEST_TMP/www" && echo ok >"$TEST_TMP/www/health"
bb=$(bg_ns "$ns" "$TEST_TMP/bb.log" busybox httpd -f -p 127.0.0.1:8082 -h "$TEST_TMP/www")
wait_for 10 "busybox httpd" in_ns "$ns" curl -sf http://127.0.0.1:8082/health

# N requests over a mix of endpoints (signed where cloudd wants a signature;
# an unsigned one gets 401), in batches of keep-alive connections
paths=(/health /metrics /v1/sysinfo /nope /v1/sysinfo-unsigned)
log "cloudd: $N requests"
t0=$(date +%s.%N)
for _ in $(seq $((N / (25 * ${#paths[@]})))); do
	for path in "${paths[@]}"; do
		urls=()
		for _ in $(seq 25); do urls+=("http://127.0.0.1:8081${path%-unsigned}"); done
		case "$path" in
		/health | /metrics | *-unsigned) in_ns "$ns" curl -s "${urls[@]}" >/dev/null ;;
		*) in_ns "$ns" curl -s -H "Authorization: $(node_auth GET "${urls[0]}")" "${urls[@]}" >/dev/null ;;
		esac
	done
done
t1=$(date +%s.%N)
bb_urls=()
for _ in $(seq 100); do bb_urls+=("http://127.0.0.1:8082/health"); done
for _ in $(seq $((N / 100))); do in_ns "$ns" curl -s "${bb_urls[@]}" >/dev/null; done
t2=$(date +%s.%N)
sleep 1
after_kb=$(rss_kb "$pid")
bb_kb=$(rss_kb "$(pgrep -P "$bb" || echo "$bb")" 2>/dev/null || rss_kb "$bb")

awk -v s="$start_kb" -v a="$after_kb" -v t="$TARGET_KB" -v b="$bb_kb" -v n="$N" \
	-v ct="$(awk -v x="$t0" -v y="$t1" 'BEGIN{print y-x}')" \
	-v bt="$(awk -v x="$t1" -v y="$t2" 'BEGIN{print y-x}')" 'BEGIN {
	printf "cloudd idle VmRSS at start:          %6d kB\n", s
	printf "cloudd idle VmRSS after %d requests: %6d kB\n", n, a
	printf "target:                              %6d kB  ratio %.2f (<= 1.00 meets it)\n", t, a / t
	printf "baseline busybox httpd VmRSS:        %6d kB  ratio %.2f\n", b, a / b
	printf "request rate: cloudd %.0f/s (mixed endpoints), busybox httpd %.0f/s (static file)\n", n / ct, n / bt
}'
[ "$after_kb" -le "$TARGET_KB" ] || { echo "cloudd idle RSS above the ${TARGET_KB} kB target"; exit 1; }
