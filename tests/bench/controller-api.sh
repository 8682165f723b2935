#!/usr/bin/env bash
# API: GET /v1/nodes?limit=1000 with 1,000 nodes (signed) under wrk vs nginx serving the same JSON as a static file (ratio of requests/s, p99; target >= 0.5)
# timeout: 300
. "$ROOT/tests/lib.sh"
. "$ROOT/tests/integration/controller-lib.sh"
. "$ROOT/tests/bench/controller-lib.sh"
require_root
require_cmd python3 curl
bench_tools
DURATION="${BENCH_DURATION:-10}"

cc_start
cc_stop
log "1,000 nodes into the database"
python3 - "$CC_DATA/controller.db" <<'PY'
import json, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
now = int(time.time())
for i in range(1000):
    mac = "52:54:02:00:%02x:%02x" % (i >> 8, i & 255)
    sysinfo = {"hostname": "node-%04d" % i, "boot_mac": mac, "cpu": {"count": 32}, "memory": {"total_bytes": 256 << 30}}
    db.execute("INSERT INTO nodes (id, mac, hostname, state, role, image_version, cpu_count, memory_bytes, address,"
               " sysinfo, registered_at, last_heartbeat, state_changed_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
               ("n-%016x" % i, mac, "node-%04d" % i, "up", "hypervisor", "2026.11.24", 32, 256 << 30,
                "198.51.100.%d" % (i % 250 + 1), json.dumps(sysinfo), now, now + 86400, now))
db.commit()
PY
# heartbeats far in the future: the nodes stay up during the run
cc_start --down-after 86400 --heartbeat-interval 300
hdr=$(in_ns "$CC_NS" python3 - "$CLOUDD_CONFIG" <<'PY'
import hashlib, hmac, sys, time
c = dict(l.strip().split(" = ", 1) for l in open(sys.argv[1]) if " = " in l)
exp = int(time.time()) + 3000
sts = "\n".join(["CLOUDD-HMAC-SHA256", "GET", "/v1/nodes", "limit=1000", hashlib.sha256(b"").hexdigest(), str(exp)])
print("Authorization: CLOUDD-HMAC-SHA256 key=%s,expires=%d,signature=%s" % (c["key"], exp,
      hmac.new(c["secret"].encode(), sts.encode(), hashlib.sha256).hexdigest()))
PY
)
mkdir -p "$TEST_TMP/www"
in_ns "$CC_NS" curl -sf -H "$hdr" "http://127.0.0.1:8080/v1/nodes?limit=1000" >"$TEST_TMP/www/nodes.json" ||
	fail "GET /v1/nodes failed"
count=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["items"]))' "$TEST_TMP/www/nodes.json")
[ "$count" = 1000 ] || fail "GET /v1/nodes?limit=1000 returned $count nodes"
bench_nginx "$TEST_TMP/www" 8090
log "response: $(stat -c %s "$TEST_TMP/www/nodes.json") bytes, 1,000 nodes; wrk -t2 -c16 -d${DURATION}s each, twice"
best_n=0 best_c=0 p99_n=0 p99_c=0
for round in 1 2; do
	read -r n _ pn < <(wrk_run -t2 -c16 -d"${DURATION}s" http://127.0.0.1:8090/nodes.json)
	read -r c _ pc < <(wrk_run -t2 -c16 -d"${DURATION}s" -H "$hdr" "http://127.0.0.1:8080/v1/nodes?limit=1000")
	log "round $round: nginx $n req/s (p99 $pn ms), cloud-controller $c req/s (p99 $pc ms)"
	if awk -v a="$n" -v b="$best_n" 'BEGIN{exit !(a > b)}'; then best_n=$n p99_n=$pn; fi
	if awk -v a="$c" -v b="$best_c" 'BEGIN{exit !(a > b)}'; then best_c=$c p99_c=$pc; fi
done
# an answer rendered from the database (after a write) rather than from the cache
render_ms=$(for i in 1 2 3 4 5; do
	api_expect 201 POST /v1/machines "{\"mac\":\"52:54:03:00:00:0$i\"}" >/dev/null
	in_ns "$CC_NS" curl -s -o /dev/null -w '%{time_total}\n' -H "$hdr" "http://127.0.0.1:8080/v1/nodes?limit=1000"
done | sort -n | awk '{ v[NR] = $1 } END { printf "%.1f", v[3] * 1000 }')
log "rendering the answer after a write (not cached): median ${render_ms} ms"
ratio=$(awk -v c="$best_c" -v n="$best_n" 'BEGIN{printf "%.2f", c / n}')
echo "bench controller-api: GET /v1/nodes (1,000 nodes): nginx $best_n req/s p99 $p99_n ms," \
	"cloud-controller $best_c req/s p99 $p99_c ms, ratio $ratio (target >= 0.5); uncached render $render_ms ms"
