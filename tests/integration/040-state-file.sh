#!/usr/bin/env bash
# cloudd --state: a document is validated whole; every invalid one is rejected with the field named, the last good one kept
# timeout: 300
. "$(dirname "$0")/../lib.sh"
require_root
require_cmd curl ip python3

CLOUDD="$OUT/bin/cloudd"
[ -x "$CLOUDD" ] || fail "$CLOUDD not built (./build.sh cloudd)"
FIX="$ROOT/tests/unit/fixtures/state"

ns="cl-state-$TEST_ID"
netns_add "$ns"
state="$TEST_TMP/state.json"
url=http://127.0.0.1:8081
NODE_KEY_FILE="$TEST_TMP/node.key"
node_key_new "$NODE_KEY_FILE"

# put FILE: replace the state file atomically, as a controller agent or an operator would
put() { cp "$1" "$state.tmp" && mv "$state.tmp" "$state"; }
get_state() { node_curl "$ns" "$url/v1/state" -sf >"$TEST_TMP/actual.json"; }
state_has() { node_curl "$ns" "$url/v1/state" -sf | grep -q "$1"; }
field() { python3 -c "import json; d=json.load(open('$TEST_TMP/actual.json')); print($1)"; }

# the documented example, at revision 7
cp "$FIX/good.json" "$TEST_TMP/good.json"
put "$TEST_TMP/good.json"
pid=$(bg_ns "$ns" "$TEST_TMP/cloudd.log" "$CLOUDD" --listen 127.0.0.1:8081 --syslog no \
	--state "$state" --run-dir "$TEST_TMP/run" --data-dir "$TEST_TMP/data" --api-key-file "$NODE_KEY_FILE")
wait_for 10 "cloudd /health" in_ns "$ns" curl -sf "$url/health"
get_state
[ "$(field 'd["revision"]')" = 7 ] || fail "revision 7 not applied: $(cat "$TEST_TMP/actual.json")"
[ "$(field 'd["last_error"]')" = None ] || fail "last_error set for a good document"
[ "$(field '[i["id"] for i in d["instances"]]')" = "['i-0001', 'i-0002', 'i-0003']" ] ||
	fail "instances not reported: $(cat "$TEST_TMP/actual.json")"
# every action is recorded, with its result
[ "$(field 'len(d["events"]) > 0 and all(e["result"] in ("ok", "error") for e in d["events"])')" = True ] ||
	fail "no events recorded: $(cat "$TEST_TMP/actual.json")"

log "invalid documents, one at a time (from tests/unit/fixtures/state/invalid.txt)"
python3 - "$FIX/good.json" "$FIX/invalid.txt" "$TEST_TMP/bad" <<'PY'
import copy, json, os, sys
good = json.load(open(sys.argv[1]))
os.makedirs(sys.argv[3], exist_ok=True)
def walk(root, path):
    node = root
    parts = path.split(".")
    for p in parts[:-1]:
        node = node[int(p)] if isinstance(node, list) else node[p]
    return node, parts[-1]
n = 0
for line in open(sys.argv[2]):
    if line.startswith("#") or not line.strip():
        continue
    path, value, want = line.rstrip("\n").split("\t")
    doc = copy.deepcopy(good)
    doc["revision"] = 100 + n  # newer than the applied one: only validation can refuse it
    parent, last = walk(doc, path)
    key = int(last) if isinstance(parent, list) else last
    if value == "DELETE":
        del parent[key]
    else:
        parent[key] = json.loads(value)
    with open(os.path.join(sys.argv[3], "%03d.json" % n), "w") as f:
        json.dump(doc, f)
    with open(os.path.join(sys.argv[3], "%03d.want" % n), "w") as f:
        f.write(want)
    n += 1
PY
# one python process inside the namespace writes each document and polls /v1/state
count=$(in_ns "$ns" python3 - "$TEST_TMP/bad" "$state" "$url" "$ROOT/tests" "$NODE_KEY_FILE" <<'PY'
import glob, json, os, sys, time, urllib.request
bad, state, url = sys.argv[1:4]
sys.path.insert(0, sys.argv[4])
import nodesign
key_id, secret = nodesign.read_key_file(sys.argv[5])
def actual():
    auth = nodesign.authorization(key_id, secret, "GET", url + "/v1/state", int(time.time()) + 60)
    req = urllib.request.Request(url + "/v1/state", headers={"Authorization": auth})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.load(r)
rejected = actual()["rejected_total"]
n = 0
for doc in sorted(glob.glob(bad + "/*.json")):
    want = open(doc[:-5] + ".want").read()
    with open(state + ".tmp", "w") as f:
        f.write(open(doc).read())
    os.rename(state + ".tmp", state)
    deadline = time.time() + 10
    while True:
        d = actual()
        if d["rejected_total"] > rejected:
            break
        if time.time() > deadline:
            sys.exit("FAIL: %s was not rejected within 10 s" % os.path.basename(doc))
        time.sleep(0.05)
    rejected = d["rejected_total"]
    e = d["last_error"]
    msg = (e["field"] + ": " + e["message"]) if e["field"] else e["message"]
    if want not in msg:
        sys.exit("FAIL: %s: error %r does not contain %r" % (os.path.basename(doc), msg, want))
    if d["revision"] != 7:
        sys.exit("FAIL: %s replaced the applied revision" % os.path.basename(doc))
    n += 1
print(n)
PY
) || fail "invalid documents: see above"
[ "$count" -ge 30 ] || fail "only $count invalid documents"
log "$count invalid documents rejected, revision 7 kept"
grep -q 'rejected: instances\[0\].nics\[0\].mac: not a MAC address' "$TEST_TMP/cloudd.log" ||
	fail "rejections are not logged with the field"

log "back to the applied document clears the error"
put "$TEST_TMP/good.json"
wait_for 10 "last_error cleared" state_has '"last_error":null'

log "a newer valid revision is applied; an older one is ignored"
python3 -c "
import json; d = json.load(open('$TEST_TMP/good.json')); d['revision'] = 500
d['instances'] = [i for i in d['instances'] if i['id'] != 'i-0002']
json.dump(d, open('$TEST_TMP/r500.json', 'w'))
d['revision'] = 400; json.dump(d, open('$TEST_TMP/r400.json', 'w'))"
put "$TEST_TMP/r500.json"
wait_for 10 "revision 500" state_has '"revision":500'
put "$TEST_TMP/r400.json"
wait_for 10 "revision 400 refused" state_has 'older than the applied revision 500'
get_state
[ "$(field 'd["revision"]')" = 500 ] || fail "an older revision replaced a newer one"

log "SIGHUP re-reads the file"
before=$(grep -c 'SIGHUP: re-reading' "$TEST_TMP/cloudd.log" || true)
kill -HUP "$pid"
wait_for 5 "SIGHUP logged" sh -c "[ \$(grep -c 'SIGHUP: re-reading' '$TEST_TMP/cloudd.log') -gt $before ]"

log "console and metrics"
code=$(node_curl "$ns" "$url/v1/instances/i-9999/console" -s -o "$TEST_TMP/body" -w '%{http_code}')
[ "$code" = 404 ] || fail "console of an unknown instance: $code"
code=$(node_curl "$ns" "$url/v1/instances/i-0001/console?bytes=zero" -s -o "$TEST_TMP/body" -w '%{http_code}')
[ "$code" = 400 ] || fail "console with a bad byte count: $code"
in_ns "$ns" curl -sf "$url/metrics" >"$TEST_TMP/metrics"
grep -q '^cloudd_state_revision 500$' "$TEST_TMP/metrics" || fail "cloudd_state_revision missing"
rejected=$(sed -n 's/^cloudd_state_rejected_total //p' "$TEST_TMP/metrics")
[ "${rejected:-0}" -ge "$((count + 1))" ] || fail "cloudd_state_rejected_total $rejected < $((count + 1))"
grep -q '^cloudd_instances{state="pending"} ' "$TEST_TMP/metrics" || fail "instance counts missing"
kill -0 "$pid" || fail "cloudd died"
log "ok"
