#!/usr/bin/env python3
"""nodesign.py -- the Authorization header of a request to a node's cloudd, signed as the controller signs it

usage: nodesign.py (--key-file FILE | --db CONTROLLER.db --node ID-OR-MAC) [--expires-in SECONDS | --expires UNIX]
                   [--node-secret] METHOD URL

Prints "CLOUDD-HMAC-SHA256 key=...,expires=...,signature=..." (docs/api.md,
"Signing requests"): the key id of the node credential and, as HMAC key,
HMAC-SHA256(node secret, "cloudd controller-to-node requests") in hex.
--key-file reads "key = ID" / "secret = S" (cloudd's api-key-file); --db reads
the node's live key from the controller's SQLite database. --node-secret signs
with the node's secret itself (what a node-to-controller signature uses: cloudd
must refuse it). The body is taken as empty. Exit 100 on bad usage.
"""
import hashlib
import hmac
import sqlite3
import sys
import time
import urllib.parse

CONTEXT = b"cloudd controller-to-node requests"


def usage(msg):
    sys.stderr.write("nodesign.py: %s\n%s" % (msg, __doc__))
    sys.exit(100)


def read_key_file(path):
    key = secret = None
    for line in open(path):
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        k, v = (x.strip() for x in line.split("=", 1))
        if len(v) >= 2 and v[0] == v[-1] == '"':
            v = v[1:-1]
        if k == "key":
            key = v
        elif k == "secret":
            secret = v
    if not key or not secret:
        usage("%s: needs key = ... and secret = ..." % path)
    return key, secret


def read_db(path, node):
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=10)
    row = db.execute(
        "SELECT k.id, k.secret FROM nodes n JOIN api_keys k ON k.node_id = n.id AND k.role = 'node'"
        " AND k.revoked_at IS NULL WHERE n.id = ?1 OR n.mac = lower(?1) ORDER BY k.created_at DESC, k.rowid DESC LIMIT 1",
        (node,)).fetchone()
    if row is None:
        usage("no live key for node %s in %s" % (node, path))
    return row[0], row[1]


def enc(s):
    return urllib.parse.quote(s, safe="-._~")


def authorization(key_id, secret, method, url, expires, node_secret=False):
    u = urllib.parse.urlsplit(url)
    args = urllib.parse.parse_qsl(u.query, keep_blank_values=True)
    query = "&".join("%s=%s" % (enc(n), enc(v)) for n, v in sorted(args, key=lambda a: (a[0].encode(), a[1].encode())))
    path = urllib.parse.unquote(u.path or "/")
    sts = "\n".join(["CLOUDD-HMAC-SHA256", method.upper(), path, query, hashlib.sha256(b"").hexdigest(), str(expires)])
    key = secret.encode() if node_secret else hmac.new(secret.encode(), CONTEXT, hashlib.sha256).hexdigest().encode()
    sig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
    return "CLOUDD-HMAC-SHA256 key=%s,expires=%d,signature=%s" % (key_id, expires, sig)


def main(argv):
    key_file = db = node = None
    expires = None
    expires_in = 60
    node_secret = False
    rest = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("--key-file", "--db", "--node", "--expires-in", "--expires"):
            if i + 1 >= len(argv):
                usage("%s needs a value" % a)
            v = argv[i + 1]
            i += 2
            if a == "--key-file":
                key_file = v
            elif a == "--db":
                db = v
            elif a == "--node":
                node = v
            elif a == "--expires-in":
                expires_in = int(v)
            else:
                expires = int(v)
            continue
        if a == "--node-secret":
            node_secret = True
        elif a.startswith("--"):
            usage("unknown option %s" % a)
        else:
            rest.append(a)
        i += 1
    if len(rest) != 2:
        usage("expected METHOD URL")
    if key_file:
        key_id, secret = read_key_file(key_file)
    elif db and node:
        key_id, secret = read_db(db, node)
    else:
        usage("--key-file FILE or --db FILE --node ID is required")
    if expires is None:
        expires = int(time.time()) + expires_in
    print(authorization(key_id, secret, rest[0], rest[1], expires, node_secret))


if __name__ == "__main__":
    main(sys.argv[1:])
