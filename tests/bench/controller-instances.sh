#!/usr/bin/env bash
# API: GET /v1/instances?limit=1000 with 10,000 instances and POST /v1/instances (scheduling on 100 simulated nodes, IPAM, commit) under wrk, against nginx serving the same JSON as a static file
# timeout: 300
. "$ROOT/tests/lib.sh"
. "$ROOT/tests/integration/controller-lib.sh"
. "$ROOT/tests/bench/controller-lib.sh"
require_root
require_cmd python3 curl
bench_tools
DURATION="${BENCH_DURATION:-10}"
# the guest subnet is only rows in the database here: no packet is sent to it
SUBNET=198.18.0.0/15

cc_start
cc_stop
log "100 nodes, one account, 10,000 instances into the database"
python3 - "$CC_DATA/controller.db" <<'PY'
import ipaddress, json, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
now = int(time.time())
db.execute("INSERT INTO accounts VALUES ('acct-bench', 'bench', ?)", (now,))
db.execute("INSERT INTO templates (id, account_id, name, format, public, url, sha256, size, created_at)"
           " VALUES ('tpl-bench', 'acct-admin', 'tiny', 'qcow2', 1, 'http://127.0.0.1:8080/t.qcow2', ?, 1048576, ?)", ("0" * 64, now))
for i in range(100):
    mac = "52:54:02:00:%02x:%02x" % (i >> 8, i & 255)
    sysinfo = {"cpu": {"count": 64}, "memory": {"total_bytes": 1024 << 30},
               "block_devices": [{"name": "nvme0n1", "size_bytes": 8 << 40, "removable": False, "read_only": False}]}
    db.execute("INSERT INTO nodes (id, mac, hostname, state, role, cpu_count, memory_bytes, address, sysinfo,"
               " registered_at, last_heartbeat, state_changed_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
               ("n-%016x" % i, mac, "node-%03d" % i, "up", "hypervisor", 64, 1024 << 30, "192.0.2.%d" % (i + 1),
                json.dumps(sysinfo), now, now + 86400, now))
net = ipaddress.ip_network("198.18.0.0/15")
hosts = net.hosts()
next(hosts)  # the gateway
for i in range(10000):
    iid = "i-%016x" % i
    addr = str(next(hosts))
    db.execute("INSERT INTO instances (id, account_id, name, type, vcpus, memory_mib, disk_gib, template_id, node_id, mac,"
               " ipv4, power, state, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
               (iid, "acct-bench", "vm-%05d" % i, "tiny", 1, 64, 1, "tpl-bench", "n-%016x" % (i % 100),
                "52:54:01:%02x:%02x:%02x" % (i >> 16, (i >> 8) & 255, i & 255), addr, "running", "running", now, now))
    db.execute("INSERT INTO ip_addresses VALUES (?, ?, 'instance', ?)", (addr, iid, now))
db.commit()
PY
cc_start --down-after 86400 --heartbeat-interval 300 --guest-subnet "$SUBNET" --guest-gateway 198.18.0.1
# signed headers for the GET, and 30,000 distinct signed creates for wrk to send in turn
in_ns "$CC_NS" python3 - "$CLOUDD_CONFIG" "$TEST_TMP" <<'PY'
import hashlib, hmac, json, sys, time
c = dict(l.strip().split(" = ", 1) for l in open(sys.argv[1]) if " = " in l)
exp = int(time.time()) + 3000
def sign(method, path, query, body):
    sts = "\n".join(["CLOUDD-HMAC-SHA256", method, path, query, hashlib.sha256(body).hexdigest(), str(exp)])
    return "CLOUDD-HMAC-SHA256 key=%s,expires=%d,signature=%s" % (c["key"], exp,
           hmac.new(c["secret"].encode(), sts.encode(), hashlib.sha256).hexdigest())
open(sys.argv[2] + "/get.hdr", "w").write("Authorization: " + sign("GET", "/v1/instances", "limit=1000", b"") + "\n")
with open(sys.argv[2] + "/posts.txt", "w") as f:
    for i in range(30000):
        body = json.dumps({"name": "new-%05d" % i, "type": "tiny", "template": "tiny", "account": "acct-bench"},
                          separators=(",", ":")).encode()
        f.write(sign("POST", "/v1/instances", "", body) + "\t" + body.decode() + "\n")
PY
cat >"$TEST_TMP/posts.lua" <<EOF2
local reqs = {}
for line in io.lines("$TEST_TMP/posts.txt") do
	local auth, body = line:match("([^\t]+)\t(.*)")
	reqs[#reqs + 1] = wrk.format("POST", "/v1/instances", { ["Authorization"] = auth, ["Content-Type"] = "application/json" }, body)
end
local i = 0
-- one thread: every request is sent once, in order
request = function()
	i = i + 1
	return reqs[((i - 1) % #reqs) + 1]
end
EOF2
hdr=$(cat "$TEST_TMP/get.hdr")
mkdir -p "$TEST_TMP/www"
in_ns "$CC_NS" curl -sf -H "$hdr" "http://127.0.0.1:8080/v1/instances?limit=1000" >"$TEST_TMP/www/instances.json" ||
	fail "GET /v1/instances failed"
count=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["items"]))' "$TEST_TMP/www/instances.json")
[ "$count" = 1000 ] || fail "GET /v1/instances?limit=1000 returned $count instances"
bench_nginx "$TEST_TMP/www" 8090
log "response: $(stat -c %s "$TEST_TMP/www/instances.json") bytes, 1,000 of 10,000 instances; wrk -t2 -c16 -d${DURATION}s"
read -r n _ pn < <(wrk_run -t2 -c16 -d"${DURATION}s" http://127.0.0.1:8090/instances.json)
read -r g _ pg < <(wrk_run -t2 -c16 -d"${DURATION}s" -H "$hdr" "http://127.0.0.1:8080/v1/instances?limit=1000")
log "GET: nginx $n req/s (p99 $pn ms), cloud-controller $g req/s (p99 $pg ms)"
render_ms=$(for i in 1 2 3 4 5; do
	api_expect 201 POST /v1/security-groups "{\"name\":\"touch-$i\",\"account\":\"acct-bench\"}" >/dev/null
	in_ns "$CC_NS" curl -s -o /dev/null -w '%{time_total}\n' -H "$hdr" "http://127.0.0.1:8080/v1/instances?limit=1000"
done | sort -n | awk '{ v[NR] = $1 } END { printf "%.1f", v[3] * 1000 }')
log "GET after a write (rendered, not cached): median ${render_ms} ms"
post_secs=$(( DURATION < 5 ? DURATION : 5 ))
read -r p _ pp < <(wrk_run -t1 -c4 -d"${post_secs}s" -s "$TEST_TMP/posts.lua" http://127.0.0.1:8080/v1/instances)
non2xx=$(sed -n 's/.*Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' "$TEST_TMP/wrk.out")
created=$(api_expect 200 "GET" "/v1/instances?account=acct-bench&limit=1" >/dev/null; in_ns "$CC_NS" python3 -c '
import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM instances WHERE name LIKE '"'"'new-%'"'"'").fetchone()[0])' "$CC_DATA/controller.db")
dups=$(in_ns "$CC_NS" python3 -c '
import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) - count(DISTINCT ipv4) FROM instances").fetchone()[0])' "$CC_DATA/controller.db")
[ "$dups" = 0 ] || fail "$dups duplicate addresses after the create run"
log "POST: cloud-controller $p creates/s (p99 $pp ms), $created instances created, ${non2xx:-0} non-2xx (names reused once the 30,000 are spent)"
echo "bench controller-instances: GET /v1/instances?limit=1000 (10,000 instances): nginx $n req/s p99 $pn ms," \
	"cloud-controller $g req/s p99 $pg ms, ratio $(awk -v a="$g" -v b="$n" 'BEGIN{printf "%.2f", a / b}'), uncached $render_ms ms;" \
	"POST /v1/instances (100 nodes, 10,000+ instances): $p req/s p99 $pp ms ($(awk -v a="$p" -v b="$n" 'BEGIN{printf "%.3f", a / b}') of nginx's static GET)"
