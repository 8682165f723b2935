# controller-lib.sh -- helpers for the controller API tests (source after tests/lib.sh; not a test case)
#
# cc_start [CONTROLLER OPTIONS..]: a namespace cc$TEST_ID with cloud-controller on
#   127.0.0.1:8080 (data in $TEST_TMP/data), waits for /health; sets CC_NS, CC_PID,
#   CC_DATA, CC_LOG and exports CLOUDD_CONFIG (the admin key file it wrote).
# api METHOD PATH [BODY|@FILE] [OPTIONS]: one request (signed with the admin key
#   unless --unsigned); prints "STATUS" on the first line and the body after it.
#   Options: --unsigned, --key K --secret S, --expires-in SECONDS, --sign-body TEXT,
#   --auth VALUE (raw Authorization), --header "Name: value", --source ADDR (the
#   client's source address).
# ctl ARGS..: cloudctl in the namespace.

CC_BIN="${CC_BIN:-$OUT/bin/cloud-controller}"
CTL_BIN="${CTL_BIN:-$OUT/bin/cloudctl}"
API_PY="$TEST_TMP/api.py"

cat >"$API_PY" <<'PYEOF'
# api.py -- sends one request to the controller, signed as docs/api.md describes
import hashlib, hmac, http.client, os, sys, time, urllib.parse

def conf(path):
    d = {}
    for line in open(path):
        if " = " in line and not line.startswith("#"):
            k, v = line.strip().split(" = ", 1)
            d[k] = v
    return d

def request(args, config):
    """One request: args as on the command line; returns (status, body bytes)."""
    method, path = args[0], args[1]
    body = b""
    rest = args[2:]
    if rest and not rest[0].startswith("--"):
        b = rest.pop(0)
        body = open(b[1:], "rb").read() if b.startswith("@") else b.encode("utf-8", "surrogateescape")
    opts = {}
    headers = {}
    while rest:
        k = rest.pop(0)
        if k == "--unsigned":
            opts["unsigned"] = True
        elif k == "--header":
            n, v = rest.pop(0).split(": ", 1)
            headers[n] = v
        else:
            opts[k[2:]] = rest.pop(0)
    c = conf(config)
    key = opts.get("key", c["key"])
    secret = opts.get("secret", c["secret"])
    expires = int(time.time()) + int(opts.get("expires-in", "300"))
    p, _, q = path.partition("?")
    pairs = urllib.parse.parse_qsl(q, keep_blank_values=True)
    def enc(s):
        return urllib.parse.quote(s, safe="-._~")
    canon = "&".join(enc(k) + "=" + enc(v) for k, v in sorted(pairs))
    signed_body = opts["sign-body"].encode() if "sign-body" in opts else body
    sts = "\n".join(["CLOUDD-HMAC-SHA256", method, urllib.parse.unquote(p), canon,
                     hashlib.sha256(signed_body).hexdigest(), str(expires)])
    sig = hmac.new(secret.encode(), sts.encode(), hashlib.sha256).hexdigest()
    if "auth" in opts:
        headers["Authorization"] = opts["auth"]
    elif "unsigned" not in opts:
        headers["Authorization"] = "CLOUDD-HMAC-SHA256 key=%s,expires=%d,signature=%s" % (key, expires, sig)
    if body and "Content-Type" not in headers:
        headers["Content-Type"] = "application/json"
    u = urllib.parse.urlsplit(c["url"])
    src = (opts["source"], 0) if "source" in opts else None
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30, source_address=src)
    conn.putrequest(method, path, skip_accept_encoding=True)
    for n, v in headers.items():
        conn.putheader(n, v)
    if body or method in ("POST", "PUT", "PATCH"):
        conn.putheader("Content-Length", str(len(body)))
    conn.endheaders()
    if body:
        conn.send(body)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, data, opts

if sys.argv[1] == "--batch":
    # --batch: one request per stdin line "CONFIG METHOD PATH"; prints
    # "STATUS SHA256-OF-BODY" per line, and each body to the file argv[2]
    with open(sys.argv[2], "ab") as bodies:
        for line in sys.stdin:
            config, method, path = line.split()
            status, data, _ = request([method, path], config)
            print(status, hashlib.sha256(data).hexdigest()[:16], flush=True)
            bodies.write(line.strip().encode() + b" " + data + b"\n")
    sys.exit(0)
status, data, opts = request(sys.argv[1:], os.environ["CLOUDD_CONFIG"])
print(status)
sys.stdout.write(data.decode("utf-8", "replace"))
if "expect" in opts:
    # --expect STATUS: fail unless the status matches and an error is a JSON error
    if str(status) != opts["expect"]:
        sys.exit("got HTTP %d, want %s" % (status, opts["expect"]))
    if status >= 400:
        import json
        try:
            e = json.loads(data)["error"]
            assert isinstance(e["code"], str) and e["code"] and isinstance(e["message"], str) and e["message"]
        except Exception:
            sys.exit("the %d answer is not a JSON error" % status)
PYEOF

cc_start() {
	CC_NS="cc$TEST_ID"
	CC_DATA="$TEST_TMP/data"
	CC_LOG="$TEST_TMP/controller.log"
	if ! ip netns list | grep -qw "$CC_NS"; then
		netns_add "$CC_NS"
	fi
	CC_PID=$(bg_ns "$CC_NS" "$CC_LOG" "$CC_BIN" --data-dir "$CC_DATA" --listen 127.0.0.1:8080 \
		--pxe-dir "$ROOT/pxe" "$@")
	export CLOUDD_CONFIG="$CC_DATA/admin.conf"
	wait_for 20 "cloud-controller answers /health" in_ns "$CC_NS" curl -sf http://127.0.0.1:8080/health
}

# cc_stop: SIGTERM and wait until the controller (and the dnsmasq it runs) are gone
cc_stop() {
	kill "$CC_PID" 2>/dev/null || true
	wait_for 20 "cloud-controller (pid $CC_PID) to exit" cc_gone
	CC_PID=
}
cc_gone() { ! kill -0 "$CC_PID" 2>/dev/null; }

api() { in_ns "$CC_NS" python3 "$API_PY" "$@"; }
ctl() { in_ns "$CC_NS" "$CTL_BIN" "$@"; }

# api_expect STATUS METHOD PATH [BODY] [OPTIONS]: the request gets STATUS and
# a JSON error body when STATUS >= 400; prints the body.
api_expect() {
	local want="$1" out rc=0; shift
	out=$(api "$@" --expect "$want" 2>&1) || rc=$?
	[ "$rc" -eq 0 ] || fail "$1 $2: $(printf '%s' "$out" | tail -1): $(printf '%s' "$out" | sed -n '2,$p' | head -c 300)"
	printf '%s\n' "$out" | tail -n +2
}

# a fake node image directory: vmlinuz, initramfs.img, manifest.json, SHA256SUMS
make_image_dir() {
	local dir="$1" version="$2"
	mkdir -p "$dir"
	head -c 1500000 /dev/urandom >"$dir/vmlinuz"
	head -c 3000000 /dev/urandom >"$dir/initramfs.img"
	printf '{"image_version": "%s", "packages": []}\n' "$version" >"$dir/manifest.json"
	(cd "$dir" && sha256sum vmlinuz initramfs.img manifest.json >SHA256SUMS)
}
