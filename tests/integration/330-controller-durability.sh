#!/usr/bin/env bash
# cloud-controller: kill -9 while a client creates machines; after restart every acknowledged machine exists and the database passes integrity_check
# timeout: 180
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/integration/controller-lib.sh"
require_root
require_cmd python3 curl
[ -x "$CC_BIN" ] || fail "no $CC_BIN (./build.sh cloudd)"

cc_start
# the client: creates machines one after another; a MAC goes to acked only after its 201
cat >"$TEST_TMP/creator.py" <<'PY'
import hashlib, hmac, http.client, json, sys, time
conf = dict(l.strip().split(" = ", 1) for l in open(sys.argv[1]) if " = " in l)
acked = open(sys.argv[2], "a")
i = 0
while True:
    i += 1
    body = json.dumps({"mac": "52:54:01:%02x:%02x:%02x" % (i >> 16 & 255, i >> 8 & 255, i & 255),
                       "labels": {"seq": str(i)}}).encode()
    exp = int(time.time()) + 60
    sts = "\n".join(["CLOUDD-HMAC-SHA256", "POST", "/v1/machines", "", hashlib.sha256(body).hexdigest(), str(exp)])
    sig = hmac.new(conf["secret"].encode(), sts.encode(), hashlib.sha256).hexdigest()
    try:
        c = http.client.HTTPConnection("127.0.0.1", 8080, timeout=5)
        c.request("POST", "/v1/machines", body, {"Content-Type": "application/json",
                  "Authorization": "CLOUDD-HMAC-SHA256 key=%s,expires=%d,signature=%s" % (conf["key"], exp, sig)})
        r = c.getresponse()
        r.read()
    except OSError:
        sys.exit(0)   # the controller is gone
    if r.status == 201:
        acked.write(json.loads(body)["mac"] + "\n")
        acked.flush()
    elif r.status != 409:
        print("unexpected status", r.status, file=sys.stderr)
        sys.exit(1)
PY
acked="$TEST_TMP/acked"
: >"$acked"
in_ns "$CC_NS" python3 "$TEST_TMP/creator.py" "$CLOUDD_CONFIG" "$acked" &
client=$!
cleanup_add "kill -9 $client"
acked_at_least() { [ "$(wc -l <"$acked")" -ge "$1" ]; }
wait_for 60 "at least 200 creates acknowledged" acked_at_least 200
log "kill -9 the controller after $(wc -l <"$acked") acknowledged creates"
kill -9 "$CC_PID"
wait "$client" || fail "the client saw an unexpected answer"
n=$(wc -l <"$acked")
log "$n creates acknowledged before the kill; restarting"
cc_start
ctl -o json machines list >"$TEST_TMP/list.json" || fail "listing machines failed"
python3 - "$TEST_TMP/list.json" "$acked" <<'PY' || fail "acknowledged machines are missing after the restart"
import json, sys
have = {m["mac"] for m in json.load(open(sys.argv[1]))}
acked = [l.strip() for l in open(sys.argv[2]) if l.strip()]
missing = [m for m in acked if m not in have]
print("%d acknowledged, %d listed, %d missing" % (len(acked), len(have), len(missing)))
sys.exit(1 if missing else 0)
PY
cc_stop
python3 - "$CC_DATA/controller.db" <<'PY' || fail "PRAGMA integrity_check failed"
import sqlite3, sys
r = sqlite3.connect(sys.argv[1]).execute("PRAGMA integrity_check").fetchone()[0]
print("integrity_check:", r)
sys.exit(0 if r == "ok" else 1)
PY
log "ok"
