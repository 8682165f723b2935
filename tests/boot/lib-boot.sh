# lib-boot.sh -- netboot lab for the boot tests and benchmarks (source after tests/lib.sh)
#
# One network namespace with a bridge (192.0.2.1/24), dnsmasq (DHCP + TFTP,
# rendered from pxe/dnsmasq.conf.in), busybox httpd serving the image on
# 192.0.2.1:8080 (boot.ipxe rendered from pxe/boot.ipxe.in), and QEMU (TCG)
# netbooting on a tap of that bridge. Everything is torn down on exit.

BOOT_NS="cboot-$TEST_ID"
BOOT_GW=192.0.2.1
BOOT_HTTP="http://$BOOT_GW:8080"
BOOT_WWW="$TEST_TMP/www"
BOOT_TFTP="$TEST_TMP/tftp"
BOOT_BR="br$TEST_ID"

# boot_lab_up: namespace, bridge, dnsmasq, HTTP server (serving $OUT's image).
boot_lab_up() {
	require_root
	require_cmd qemu-system-x86_64 dnsmasq busybox ip
	local f
	for f in vmlinuz initramfs.img undionly.kpxe snponly.efi ipxe.efi; do
		[ -f "$OUT/$f" ] || fail "$OUT/$f missing: build the image first (./build.sh image)"
	done
	netns_add "$BOOT_NS"
	in_ns "$BOOT_NS" ip link add "$BOOT_BR" type bridge
	in_ns "$BOOT_NS" ip addr add "$BOOT_GW/24" dev "$BOOT_BR"
	in_ns "$BOOT_NS" ip link set "$BOOT_BR" up
	mkdir -p "$BOOT_WWW/image" "$BOOT_TFTP"
	ln -s "$OUT/undionly.kpxe" "$OUT/snponly.efi" "$OUT/ipxe.efi" "$BOOT_TFTP/"
	ln -s "$OUT/vmlinuz" "$OUT/initramfs.img" "$BOOT_WWW/image/"
	boot_render_ipxe hypervisor ""
	sed -e "s|@INTERFACE@|$BOOT_BR|" -e "s|@RANGE@|192.0.2.50,192.0.2.99,255.255.255.0|" \
		-e "s|@TFTP_ROOT@|$BOOT_TFTP|" -e "s|@BOOT_URL@|$BOOT_HTTP/boot.ipxe|" \
		-e "s|@LEASE_DIR@|$TEST_TMP|" "$ROOT/pxe/dnsmasq.conf.in" >"$TEST_TMP/dnsmasq.conf"
	bg_ns "$BOOT_NS" "$TEST_TMP/dnsmasq.log" dnsmasq -k --conf-file="$TEST_TMP/dnsmasq.conf" \
		--pid-file="$TEST_TMP/dnsmasq.pid" --log-facility=- --user=root >/dev/null
	wait_for 10 "dnsmasq to start (log: $TEST_TMP/dnsmasq.log)" grep -q 'DHCP, IP range' "$TEST_TMP/dnsmasq.log"
	bg_ns "$BOOT_NS" "$TEST_TMP/httpd.log" busybox httpd -f -vv -p "$BOOT_GW:8080" -h "$BOOT_WWW" >/dev/null
	wait_for 10 "HTTP server on $BOOT_HTTP" in_ns "$BOOT_NS" busybox wget -q -O /dev/null "$BOOT_HTTP/boot.ipxe"
	log "lab up: namespace $BOOT_NS, bridge $BOOT_BR $BOOT_GW/24, dnsmasq, httpd $BOOT_HTTP"
}

# boot_syslog_sink: receive syslog datagrams on the controller host's port
# 514 (where the node's syslogd forwards) into $TEST_TMP/syslog.remote
boot_syslog_sink() {
	bg_ns "$BOOT_NS" "$TEST_TMP/syslog-sink.log" python3 -u -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 514))
with open(sys.argv[2], "ab", buffering=0) as out:
    while True:
        data, peer = s.recvfrom(65535)
        out.write(peer[0].encode() + b" " + data.rstrip(b"\n") + b"\n")
' "$BOOT_GW" "$TEST_TMP/syslog.remote" >/dev/null
}

# boot_stub_controller: the part of a controller a node needs to be asked
# anything: registration (any token; the node key it hands out is written to
# $TEST_TMP/node.key, cloudd's api-key-file format, and exported as
# NODE_KEY_FILE for node_curl), heartbeats, and a desired-state watch that
# never has a document. Listens on $BOOT_GW:8079, sets BOOT_CONTROLLER (the
# controller URL boot_render_ipxe puts on the kernel command line); the
# node's boot script then needs cloud.token=... among its kernel arguments.
boot_stub_controller() {
	NODE_KEY_FILE="$TEST_TMP/node.key"
	node_key_new "$NODE_KEY_FILE" "ak-boot-$TEST_ID"
	export NODE_KEY_FILE
	BOOT_CONTROLLER="http://$BOOT_GW:8079"
	cat >"$TEST_TMP/stub-controller.py" <<'PY'
import json, re, sys, time, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
sys.path.insert(0, sys.argv[3])
import nodesign
key, secret = nodesign.read_key_file(sys.argv[2])
class Stub(BaseHTTPRequestHandler):
    def reply(self, status, doc=None):
        data = json.dumps(doc).encode() if doc is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = urllib.parse.urlsplit(self.path).path
        if path == "/v1/nodes/register":
            print("register", json.loads(body).get("sysinfo", {}).get("boot_mac"), flush=True)
            self.reply(201, {"node_id": "n-b00700000000000b", "key": key, "secret": secret,
                             "role": "hypervisor", "heartbeat_interval": 5})
        elif re.fullmatch(r"/v1/nodes/[^/]+/heartbeat", path):
            self.reply(200, {"state": "up", "heartbeat_interval": 5})
        else:
            self.reply(204)
    def do_PUT(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.reply(204)
    def do_GET(self):
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        time.sleep(min(int(q.get("wait", ["1"])[0]), 5))
        self.reply(204)
    def log_message(self, fmt, *args):
        print(self.command, self.path, flush=True)
ThreadingHTTPServer((sys.argv[1], 8079), Stub).serve_forever()
PY
	bg_ns "$BOOT_NS" "$TEST_TMP/stub-controller.log" python3 -u "$TEST_TMP/stub-controller.py" "$BOOT_GW" "$NODE_KEY_FILE" \
		"$ROOT/tests" >/dev/null
	wait_for 30 "the stub controller on $BOOT_CONTROLLER" in_ns "$BOOT_NS" curl -s -o /dev/null "$BOOT_CONTROLLER/"
}

# boot_render_ipxe ROLE EXTRA_KERNEL_ARGS: (re)write boot.ipxe from the template.
boot_render_ipxe() {
	sed -e "s|@IMAGE_URL@|$BOOT_HTTP/image|" -e "s|@CONTROLLER@|${BOOT_CONTROLLER:-$BOOT_HTTP}|" \
		-e "s|@ROLE@|$1|" -e "s|@KERNEL_ARGS@|$2|" "$ROOT/pxe/boot.ipxe.in" >"$BOOT_WWW/boot.ipxe"
}

# boot_vm NAME NIC MAC [QEMU-ARGS..]: start a VM that netboots from the lab;
# its serial console is logged to $TEST_TMP/NAME.console and takes input on
# the socket $TEST_TMP/NAME.sock (console_send). Sets BOOT_VM_PID.
boot_vm() {
	local name="$1" nic="$2" mac="$3" tap="t$TEST_ID${1:0:4}"
	shift 3
	in_ns "$BOOT_NS" ip tuntap add "$tap" mode tap
	in_ns "$BOOT_NS" ip link set "$tap" master "$BOOT_BR" up
	: >"$TEST_TMP/$name.console"
	BOOT_VM_PID=$(bg_ns "$BOOT_NS" "$TEST_TMP/$name.qemu.log" qemu-system-x86_64 -accel tcg -m 1024 \
		-nographic -monitor none -no-reboot -boot n \
		-chardev "socket,id=con,path=$TEST_TMP/$name.sock,server=on,wait=off,logfile=$TEST_TMP/$name.console" \
		-serial chardev:con \
		-netdev "tap,id=n0,ifname=$tap,script=no,downscript=no" -device "$nic,netdev=n0,mac=$mac" "$@")
	log "VM $name: $nic $mac, console $TEST_TMP/$name.console"
}

# console_send NAME LINE: type LINE (and Enter) on the VM's serial console,
# one character at a time, staying connected until the guest has read it
# (QEMU drops what is unread when the client disconnects)
console_send() {
	python3 - "$TEST_TMP/$1.sock" "$2" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
for c in sys.argv[2].encode() + b"\n":
    s.sendall(bytes([c]))
    time.sleep(0.02)
time.sleep(2)
s.close()
PY
}

# console_has NAME REGEX: the VM's console shows REGEX
console_has() { grep -aEq "$2" "$TEST_TMP/$1.console"; }

# boot_wait_console SECONDS NAME REGEX: wait for REGEX on the console; on
# timeout, fail naming the last stage line the console shows.
boot_wait_console() {
	local limit="$1" name="$2" re="$3" deadline=$((SECONDS + $1))
	while ! console_has "$name" "$re"; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			log "console of $name (last 30 lines):"
			tail -30 "$TEST_TMP/$name.console" | tr -d '\r' | sed 's/^/    /'
			fail "no '$re' on the console of $name after ${limit}s; last stage: $(boot_last_stage "$name")"
		fi
		sleep 0.5
	done
}

# boot_last_stage NAME: the last stage line (iPXE script or /init) on the console
boot_last_stage() {
	grep -aoE 'cloudd-(boot|init): \[[a-z]+\].*' "$TEST_TMP/$1.console" | tail -1 | tr -d '\r'
}

# http_get URL: body of URL fetched from inside the lab namespace
http_get() { in_ns "$BOOT_NS" curl -fsS --max-time 5 "$1"; }
# node_get URL: the same, signed with the node's key ($NODE_KEY_FILE, boot_stub_controller)
node_get() { node_curl "$BOOT_NS" "$1" -fsS --max-time 5; }
# http_code URL: the status of an unsigned GET of URL
http_code() { in_ns "$BOOT_NS" curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$1"; }

# boot_node_ip NAME: the address /init reported on the console for the boot NIC
boot_node_ip() {
	grep -aoE 'cloudd-init: \[network\] [^ ]+ [0-9a-f:]+ [0-9.]+/' "$TEST_TMP/$1.console" |
		tail -1 | awk '{ print $5 }' | tr -d /
}

# boot_and_check NAME NIC MAC: netboot a VM with that NIC and MAC (its boot
# script names the stub controller: boot_stub_controller first), then check
# from the namespace that cloudd answers /health to anyone, /v1/sysinfo only
# to a request signed with the node key it registered with, and that
# /v1/sysinfo reports the MAC given to the VM as its boot MAC and among its NICs.
boot_and_check() {
	local name="$1" nic="$2" mac="$3" ip sysinfo code
	[ -n "${BOOT_CONTROLLER:-}" ] || fail "boot_and_check needs boot_stub_controller (the node's key comes from registration)"
	boot_vm "$name" "$nic" "$mac"
	boot_wait_console 300 "$name" 'cloudd-init: \[network\]'
	ip=$(boot_node_ip "$name")
	[ -n "$ip" ] || fail "no address in the [network] line of $name"
	log "$name: $(boot_last_stage "$name")"
	wait_for 240 "cloudd on $ip:8081 to answer /health" http_get "http://$ip:8081/health"
	log "$name: GET /health: $(http_get "http://$ip:8081/health")"
	code=$(http_code "http://$ip:8081/v1/sysinfo")
	[ "$code" = 401 ] || fail "$name: an unsigned GET /v1/sysinfo got $code, want 401"
	wait_for 60 "$name to register with the stub controller" grep -q "register $mac" "$TEST_TMP/stub-controller.log"
	wait_for 30 "a signed GET /v1/sysinfo on $ip:8081" node_get "http://$ip:8081/v1/sysinfo"
	sysinfo=$(node_get "http://$ip:8081/v1/sysinfo") || fail "GET /v1/sysinfo on $ip:8081 failed"
	printf '%s\n' "$sysinfo" >"$TEST_TMP/$name.sysinfo.json"
	python3 - "$mac" "$TEST_TMP/$name.sysinfo.json" <<'PY' || fail "$name: /v1/sysinfo does not report MAC $mac (see $TEST_TMP/$name.sysinfo.json)"
import json, sys
mac, path = sys.argv[1].lower(), sys.argv[2]
doc = json.load(open(path))
boot = (doc.get("boot_mac") or "").lower()
nics = [(n.get("mac") or "").lower() for n in doc.get("nics", [])]
print("sysinfo: hostname=%s boot_mac=%s boot_interface=%s nics=%s" % (
    doc.get("hostname"), boot, doc.get("boot_interface"), ",".join(nics)))
sys.exit(0 if boot == mac and mac in nics else 1)
PY
	log "$name: PASS: $nic booted, cloudd answers on $ip:8081 (unsigned: 401 for /v1/sysinfo) and reports boot MAC $mac"
}
