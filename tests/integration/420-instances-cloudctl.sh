#!/usr/bin/env bash
# cloudctl tenant commands against a simulated node that converges through the watch: --wait on create/stop/start/reboot/delete, console proxied from the node, tables and JSON
# timeout: 240
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/integration/controller-lib.sh"
. "$ROOT/tests/integration/instances-lib.sh"
require_root
require_cmd python3 curl jq ssh-keygen
[ -x "$CC_BIN" ] && [ -x "$CTL_BIN" ] || fail "no $CC_BIN or $CTL_BIN (./build.sh cloudd)"

cc_start --heartbeat-interval 60 --down-after 600 --url http://127.0.0.1:8080 \
	--guest-subnet 198.51.100.0/24 --guest-gateway 198.51.100.1 --guest-subnet6 2001:db8:100::/64
fake_nodes_prepare
fake_node n1 52:54:00:00:42:01 4 4096 50
N1=$FN_ID

log "a simulated node: watches its document and reports every instance in its desired power state; serves consoles on :8081 to the controller's signed requests only"
cat >"$TEST_TMP/node.py" <<'PY'
# node.py -- follows the controller's watch like cloudd would, without guests
import hashlib, hmac, http.client, json, sys, threading, time, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
node, key, secret = sys.argv[1:4]
sys.path.insert(0, sys.argv[4])
import nodesign
def call(method, path, query="", body=b""):
    exp = int(time.time()) + 120
    sts = "\n".join(["CLOUDD-HMAC-SHA256", method, path, query, hashlib.sha256(body).hexdigest(), str(exp)])
    sig = hmac.new(secret.encode(), sts.encode(), hashlib.sha256).hexdigest()
    c = http.client.HTTPConnection("127.0.0.1", 8080, timeout=40)
    c.request(method, path + ("?" + query if query else ""), body,
              {"Authorization": "CLOUDD-HMAC-SHA256 key=%s,expires=%d,signature=%s" % (key, exp, sig),
               "Content-Type": "application/json"})
    r = c.getresponse()
    return r.status, r.read()
class Console(BaseHTTPRequestHandler):
    # as cloudd checks it: the node's key id, signed with the key derived from its secret
    def signed(self):
        got = self.headers.get("Authorization", "")
        try:
            fields = dict(f.split("=", 1) for f in got.split(" ", 1)[1].split(","))
            want = nodesign.authorization(key, secret, "GET", "http://node" + self.path, int(fields["expires"]))
        except (IndexError, KeyError, ValueError):
            return False
        return got == want and abs(int(fields["expires"]) - time.time()) <= 180
    def do_GET(self):
        if not self.signed():
            print("console request not signed by the controller:", self.headers.get("Authorization"), flush=True)
            self.send_response(401); self.send_header("Content-Length", "0"); self.end_headers()
            return
        data = ("console of %s\n" % self.path.split("/")[3]).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(data))); self.end_headers()
        self.wfile.write(data)
    def log_message(self, *a): pass
threading.Thread(target=ThreadingHTTPServer(("127.0.0.1", 8081), Console).serve_forever, daemon=True).start()
rev = 0
while True:
    st, body = call("GET", "/v1/nodes/%s/desired-state" % node, "revision=%d&wait=5" % rev)
    if st == 200:
        doc = json.loads(body)
        rev = doc["revision"]
        # as cloudd: a raised reboot generation is done at once and reported
        insts = [{"id": i["id"], "desired": i["power"], "status": "running" if i["power"] == "running" else "stopped",
                  "reboot": i.get("reboot", 0)}
                 for i in doc["instances"] if i["power"] != "deleted"]
        st, _ = call("PUT", "/v1/nodes/%s/actual-state" % node, "", json.dumps({"revision": rev, "instances": insts}).encode())
        print("revision", rev, "reported", len(insts), "->", st, flush=True)
PY
bg_ns "$CC_NS" "$TEST_TMP/node.log" python3 "$TEST_TMP/node.py" "$N1" "$FN_KEY" "$FN_SECRET" "$ROOT/tests" >/dev/null
wait_for 10 "the simulated node reports" grep -q reported "$TEST_TMP/node.log"

log "admin: account, user key (its configuration printed once), public template"
ctl account create gamma >/dev/null || fail "account create"
ctl account list | grep -q "gamma" || fail "account list"
acct=$(ctl -o json account show gamma | jq -r .id)
ctl api-key create --account "$acct" --name laptop >"$TEST_TMP/gamma.conf" || fail "api-key create"
grep -q '^secret = [0-9a-f]\{64\}$' "$TEST_TMP/gamma.conf" || fail "api-key create did not print a configuration"
public_template tiny
ctl instance-type list | grep -q "^small " || fail "instance-type list"
G() { CLOUDD_CONFIG="$TEST_TMP/gamma.conf" ctl "$@"; }

log "tenant: SSH key, security group with a rule, instance create --wait"
ssh_pub >/dev/null
G ssh-key add me "$TEST_TMP/sshkey.pub" >/dev/null || fail "ssh-key add"
G ssh-key add bad /etc/hostname 2>"$TEST_TMP/err" && fail "a garbage key was accepted"
grep -q "public_key" "$TEST_TMP/err" || fail "ssh-key garbage: $(cat "$TEST_TMP/err")"
G security-group create web --description "web servers" >/dev/null || fail "security-group create"
G security-group rule add web --direction ingress --protocol tcp --ports 80 --cidr 0.0.0.0/0 | grep -q "0.0.0.0/0" || fail "rule add"
G security-group rule add web --direction ingress --protocol tcp --ports 99999 --cidr 0.0.0.0/0 2>"$TEST_TMP/err" && fail "bad ports accepted"
[ $? -ne 0 ] && grep -q ports "$TEST_TMP/err" || fail "bad ports: $(cat "$TEST_TMP/err")"
printf '#cloud-config\nhostname: w1\n' >"$TEST_TMP/ud"
G instance create w1 --type tiny --template tiny --security-group web --ssh-key me --user-data "$TEST_TMP/ud" --wait \
	>"$TEST_TMP/out" 2>&1 || fail "instance create --wait: $(cat "$TEST_TMP/out")"
grep -q "success" "$TEST_TMP/out" || fail "create --wait output: $(cat "$TEST_TMP/out")"
G instance list | grep -E "^i-[0-9a-f]+ +w1 +running +running +tiny +198\.51\.100\." >/dev/null || fail "instance list: $(G instance list)"
[ "$(G -o json instance show w1 | jq -r '.security_groups[0].name')" = web ] || fail "instance show"
G -o json instance show w1 | jq -e '.ipv6 | startswith("2001:db8:100::")' >/dev/null || fail "no IPv6 address: $(G -o json instance show w1)"
doc=$(api_expect 200 GET "/v1/nodes/$N1/desired-state")
jq -e '(.network.address6 | endswith("/64")) and (.instances[0].nics[0].ipv6 | startswith("2001:db8:100::"))
	and (.security_groups[0].members | length) == 2' <<<"$doc" >/dev/null || fail "IPv6 in the document: $doc"
rule=$(G -o json security-group show web | jq -r '.rules[0].id')
G security-group show web | grep -q "web servers" || fail "security-group show"

log "stop, start, reboot, delete with --wait; console through the node"
for a in stop start reboot; do
	G instance "$a" w1 --wait >"$TEST_TMP/out" 2>&1 || fail "instance $a --wait: $(cat "$TEST_TMP/out")"
done
[ "$(G -o json instance show w1 | jq -r .state)" = running ] || fail "not running after reboot"
[ "$(G instance console w1)" = "console of $(G -o json instance show w1 | jq -r .id)" ] || fail "console: $(G instance console w1 2>&1)"
G security-group rm web 2>"$TEST_TMP/err" && fail "a group in use was removed"
grep -q "has 1 instance" "$TEST_TMP/err" || fail "security-group rm in use: $(cat "$TEST_TMP/err")"
G instance delete w1 --wait >"$TEST_TMP/out" 2>&1 || fail "instance delete --wait: $(cat "$TEST_TMP/out")"
G instance show w1 2>/dev/null && fail "a deleted instance is still shown"
G security-group rule rm web "$rule" || fail "rule rm"
G security-group rm web || fail "security-group rm"
G ssh-key rm me || fail "ssh-key rm"

log "a failed operation: --wait exits 1 with the reason"
ctl instance-type set big --vcpus 1 --memory-mib 3500 --disk-gib 1 >/dev/null || fail "instance-type set"
G instance create b1 --type big --template tiny --wait >/dev/null 2>&1 || fail "b1"
G instance create b2 --type big --template tiny --wait >"$TEST_TMP/out" 2>&1 && fail "b2 fit where there is no room"
grep -q "no node with 3.4 GiB free" "$TEST_TMP/out" || fail "failure reason: $(cat "$TEST_TMP/out")"
key=$(sed -n 's/^key = //p' "$TEST_TMP/gamma.conf")
ctl api-key revoke "$key" || fail "api-key revoke"
G instance list 2>"$TEST_TMP/err" && fail "a revoked key still works"
grep -q "HTTP 401" "$TEST_TMP/err" || fail "revoked key: $(cat "$TEST_TMP/err")"
kill -0 "$CC_PID" || fail "the controller died"
log "ok"
