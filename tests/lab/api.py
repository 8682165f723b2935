# api.py -- one signed request to the lab's controller (docs/api.md signing): api.py METHOD PATH [BODY]
# Prints the status on the first line and the body after it; exits 1 on a status >= 400.
import hashlib, hmac, http.client, os, sys, time, urllib.parse


def conf(path):
    d = {}
    for line in open(path):
        if " = " in line and not line.startswith("#"):
            k, v = line.strip().split(" = ", 1)
            d[k] = v
    return d


method, path = sys.argv[1], sys.argv[2]
body = sys.argv[3].encode() if len(sys.argv) > 3 else b""
c = conf(os.environ["CLOUDD_CONFIG"])
expires = int(time.time()) + 300
p, _, q = path.partition("?")
pairs = urllib.parse.parse_qsl(q, keep_blank_values=True)
enc = lambda s: urllib.parse.quote(s, safe="-._~")
canon = "&".join(enc(k) + "=" + enc(v) for k, v in sorted(pairs))
sts = "\n".join(["CLOUDD-HMAC-SHA256", method, urllib.parse.unquote(p), canon,
                 hashlib.sha256(body).hexdigest(), str(expires)])
sig = hmac.new(c["secret"].encode(), sts.encode(), hashlib.sha256).hexdigest()
headers = {"Authorization": "CLOUDD-HMAC-SHA256 key=%s,expires=%d,signature=%s" % (c["key"], expires, sig)}
if body:
    headers["Content-Type"] = "application/json"
u = urllib.parse.urlsplit(c["url"])
conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
conn.request(method, path, body=body or None, headers=headers)
r = conn.getresponse()
print(r.status)
sys.stdout.write(r.read().decode("utf-8", "replace"))
sys.exit(1 if r.status >= 400 else 0)
