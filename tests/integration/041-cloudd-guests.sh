#!/usr/bin/env bash
# the cloudd binary runs guests from a state file: claims a blank disk, two guests on one template (seed hostname, shared backing file), 30+ invalid documents leave them untouched, kill -9 and adoption, QEMU killed and restarted, graceful and forced stop, data across a cloudd restart, delete; a guest whose filters cannot load is not started
# timeout: 420
#
# Guests here have no NIC (their network is tested in the Debian-kernel VM by
# 042), except i-3, which has one only to check that cloudd fails closed on a
# kernel without bridge conntrack.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/guestkit.sh"
require_root
require_cmd qemu-system-x86_64 qemu-img ip nft dnsmasq mkfs.fat mcopy mkfs.ext4 losetup blkid findmnt nsenter curl python3
CLOUDD="$OUT/bin/cloudd"
[ -x "$CLOUDD" ] || fail "$CLOUDD not built (./build.sh cloudd)"
guestkit_kernel
guestkit_initramfs "$TEST_TMP/initrd.gz"

NS="cg-$TEST_ID"
RUN="$TEST_TMP/run"
DATA="$TEST_TMP/data"
STATE="$TEST_TMP/state.json"
URL=http://127.0.0.1:8081
NODE_KEY_FILE="$TEST_TMP/node.key"
node_key_new "$NODE_KEY_FILE"
mkdir -p "$RUN" "$DATA"
netns_add "$NS"

# the node's local disk: a blank loop device cloudd is allowed to initialise
truncate -s 256M "$TEST_TMP/disk.img"
LOOP=$(losetup --find --show "$TEST_TMP/disk.img") || fail "no loop device"
cleanup_add "losetup -d $LOOP"
cleanup_add "umount -l '$DATA' 2>/dev/null"
# (cleanups run last first: the guests go before their disk)
cleanup_add 'for p in "$RUN"/guests/*/pid; do [ -f "$p" ] && kill -9 "$(cat "$p")"; done; sleep 0.5'
POLICY="init=blank fs=ext4 allow_loop=1 include=$(basename "$LOOP")"

# the disk template: its first sector is the guest's boot counter (each guest
# counts in its own copy-on-write overlay)
qemu-img create -q -f raw "$TEST_TMP/tiny.raw" 16M
printf 'guestkit-disk 0' | dd of="$TEST_TMP/tiny.raw" bs=64 count=1 conv=notrunc,sync status=none
qemu-img convert -q -f raw -O qcow2 "$TEST_TMP/tiny.raw" "$TEST_TMP/tiny.qcow2"
sum() { sha256sum "$1" | cut -d' ' -f1; }

# state REVISION POWER-OF-i-1 POWER-OF-i-2 [POWER-OF-i-4]: writes the document atomically
state() {
	python3 - "$@" >"$STATE.tmp" <<EOF
import json, sys
rev, p1, p2 = int(sys.argv[1]), sys.argv[2], sys.argv[3]
p4 = sys.argv[4] if len(sys.argv) > 4 else None
def inst(i, n, power):
    d = {"id": i, "name": n, "vcpus": 1, "memory_mib": 128, "power": power, "restart": "on-failure",
         "boot": {"template": "tinykernel"},
         "disks": [{"id": "root", "size_mib": 64, "template": "tiny"}],
         "cloud_init": {"hostname": n, "ssh_keys": ["ssh-ed25519 AAAAtest user@test"]}}
    if power == "deleted":
        d["delete_volumes"] = True
    return d
i3 = inst("i-3", "with-nic", "running")
i3["nics"] = [{"mac": "52:54:00:12:34:30", "ipv4": "198.51.100.30", "security_groups": ["ping"]}]
doc = {"version": 1, "revision": rev,
       "network": {"bridge": "brcg$TEST_ID", "address": "198.51.100.1/24", "gateway": "198.51.100.1",
                   "dns": ["198.51.100.1"]},
       "templates": [
           {"id": "tiny", "format": "qcow2", "path": "$TEST_TMP/tiny.qcow2", "sha256": "$(sum "$TEST_TMP/tiny.qcow2")"},
           {"id": "tinykernel", "format": "kernel", "cmdline": "console=ttyS0 no_timer_check",
            "kernel": {"path": "$GUESTKIT_KERNEL", "sha256": "$(sum "$GUESTKIT_KERNEL")"},
            "initrd": {"path": "$TEST_TMP/initrd.gz", "sha256": "$(sum "$TEST_TMP/initrd.gz")"}},
           {"id": "deafkernel", "format": "kernel", "cmdline": "console=ttyS0 no_timer_check acpi=off",
            "kernel": {"path": "$GUESTKIT_KERNEL", "sha256": "$(sum "$GUESTKIT_KERNEL")"},
            "initrd": {"path": "$TEST_TMP/initrd.gz", "sha256": "$(sum "$TEST_TMP/initrd.gz")"}}],
       "security_groups": [{"id": "ping", "rules": [
           {"direction": "ingress", "protocol": "icmp", "cidr": "198.51.100.0/24"}]}],
       "instances": [inst("i-1", "web-one", p1), inst("i-2", "web-two", p2)] + ([i3] if "$FAIL_CLOSED" else [])}
if p4:
    # deaf to the power button (no ACPI): a stop can only be forced
    doc["instances"].append({"id": "i-4", "name": "deaf", "vcpus": 1, "memory_mib": 128, "power": p4,
                             "boot": {"template": "deafkernel"}})
print(json.dumps(doc, indent=1))
EOF
	mv "$STATE.tmp" "$STATE"
}

# Without bridge conntrack (this build host) a NIC's filters cannot load: i-3 checks that cloudd then refuses to start it.
FAIL_CLOSED=""
if ! printf 'table bridge t%s { chain c { type filter hook forward priority 0; ct state established accept; } }\n' "$TEST_ID" |
	in_ns "$NS" nft -f - 2>/dev/null; then
	FAIL_CLOSED=1
	log "no bridge conntrack in this kernel: i-3 (with a NIC) must not start"
else
	in_ns "$NS" nft delete table bridge "t$TEST_ID" 2>/dev/null || true
fi
state 1 running running

# cloudd in the namespace's network, in the host's mount namespace (the claimed disk stays visible here)
CLOUDD_PID=""
start_cloudd() {
	nsenter --net="/run/netns/$NS" "$CLOUDD" --listen 127.0.0.1:8081 --syslog no --state "$STATE" --run-dir "$RUN" \
		--data-dir "$DATA" --accel tcg --converge-interval 1 --disk-policy "$POLICY" --api-key-file "$NODE_KEY_FILE" >>"$TEST_TMP/cloudd.log" 2>&1 &
	CLOUDD_PID=$!
	cleanup_add "kill -9 $CLOUDD_PID 2>/dev/null"
	wait_for 20 "cloudd /health" in_ns "$NS" curl -sf "$URL/health"
}
api() { node_curl "$NS" "$URL$1" -sf; }
# st EXPR: EXPR evaluated on /v1/state (d); inst ID: that instance's entry
st() { api /v1/state | python3 -c "import json,sys; d=json.load(sys.stdin); inst=lambda i: [x for x in d['instances'] if x['id']==i][0]; print(eval(sys.argv[1]))" "$1" 2>/dev/null; }
is() { [ "$(st "$1")" = "$2" ]; }
console_has() { local c; c=$(api "/v1/instances/$1/console") && grep -q "$2" <<<"$c"; }
pid_of() { cat "$RUN/guests/$1/pid" 2>/dev/null; }
alive() { [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*[ZX]' "/proc/$1/status"; }
boots() { local c; c=$(api "/v1/instances/$1/console?bytes=1048576"); grep -c "guestkit: disk boot $2" <<<"$c" || true; }

log "cloudd claims the blank disk, then converges: templates, volumes, both guests"
start_cloudd
grep -q "disk $(basename "$LOOP"): initialise (selected)" "$TEST_TMP/cloudd.log" || fail "the blank disk was not initialised: $(grep disk "$TEST_TMP/cloudd.log")"
findmnt -n -o SOURCE "$DATA" | grep -qx "$LOOP" || fail "$LOOP is not mounted at $DATA"
[ "$(blkid -o value -s LABEL "$LOOP")" = CLOUDD ] || fail "$LOOP has no CLOUDD label"
api /v1/sysinfo | python3 -c "
import json, sys
d = [x for x in json.load(sys.stdin)['disks'] if x['device'] == '$LOOP'][0]
assert d['decision'] == 'initialise' and d['selected'], d" || fail "sysinfo does not report the claimed disk"
wait_for 120 "i-1 hostname from its seed" console_has i-1 "guestkit: hostname web-one"

log "each QEMU is sandboxed: its own non-root uid, seccomp filter, run directory 0700 owned by that uid"
sandboxed() {
	local id=$1 pid uids dir_owner
	pid=$(pid_of "$id") && alive "$pid" || fail "$id: no QEMU running"
	uids=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$pid/status")
	for u in $uids; do [ "$u" != 0 ] || fail "$id: QEMU pid $pid runs as root (Uid: $uids)"; done
	grep -q '^Seccomp:[[:space:]]*2$' "/proc/$pid/status" || fail "$id: QEMU pid $pid has no seccomp filter: $(grep Seccomp "/proc/$pid/status")"
	dir_owner=$(stat -c '%u %a' "$RUN/guests/$id")
	[ "$dir_owner" = "${uids%% *} 700" ] || fail "$id: run directory is $dir_owner, not ${uids%% *} 700"
	grep -q -- '-sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny' <(tr '\0' ' ' <"/proc/$pid/cmdline") ||
		fail "$id: QEMU runs without the full -sandbox"
	echo "${uids%% *}"
}
wait_for 60 "i-2 hostname from its seed" console_has i-2 "guestkit: hostname web-two"
UID1=$(sandboxed i-1) && UID2=$(sandboxed i-2) || fail "a guest is not sandboxed"
[ "$UID1" != "$UID2" ] || fail "i-1 and i-2 share uid $UID1"
wait_for 60 "i-2 hostname from its seed" console_has i-2 "guestkit: hostname web-two"
wait_for 30 "i-1 disk boot 1" console_has i-1 "guestkit: disk boot 1"
wait_for 30 "i-2 disk boot 1" console_has i-2 "guestkit: disk boot 1"
wait_for 20 "both running" is "[inst('i-1')['status'], inst('i-2')['status']]" "['running', 'running']"

log "both root volumes are overlays on the one cached template, on the claimed disk"
tpl="$DATA/templates/$(sum "$TEST_TMP/tiny.qcow2")"
for i in i-1 i-2; do
	qemu-img info -U --output=json "$DATA/volumes/$i/root.qcow2" | grep -q "\"backing-filename\": \"$tpl\"" ||
		fail "$i root volume does not use $tpl"
done

if [ -n "$FAIL_CLOSED" ]; then
	log "i-3's filters cannot load: not started, the reason in /v1/state"
	wait_for 30 "i-3 error" is "inst('i-3')['status']" error
	err3=$(st "inst('i-3')['error']")
	case "$err3" in *"guest network is not applied"*"filter"*) ;; *) fail "i-3 error: $err3" ;; esac
	[ -z "$(pid_of i-3)" ] || fail "i-3 has a QEMU although its filters are not loaded"
	[ "$(st "inst('i-3').get('pid')")" = None ] || fail "i-3 reported with a pid"
fi

log "invalid documents while the guests run: each rejected with the field named, nothing touched"
p1=$(pid_of i-1)
p2=$(pid_of i-2)
cp "$STATE" "$TEST_TMP/good.json"
count=$(in_ns "$NS" python3 - "$TEST_TMP/good.json" "$STATE" "$URL" "$ROOT/tests" "$NODE_KEY_FILE" <<'PY'
import copy, json, os, sys, time, urllib.request
good, state, url = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
# (path, new value or DELETE, expected error substring)
cases = [
    ("version", "DELETE", "version: required field is missing"),
    ("version", 2, "version: unsupported schema version 2"),
    ("revision", -1, "revision: -1 is out of range"),
    ("colour", "blue", "colour: unknown field"),
    ("network.bridge", "a-bridge-name-too-long", "network.bridge: longer than 15 bytes"),
    ("network.address", "198.51.100.1", "network.address: not an IPv4 address with a prefix"),
    ("network.gateway", "203.0.113.1", "network.gateway: outside the subnet"),
    ("network.dns", ["dns.example"], "network.dns[0]: not an IPv4 address"),
    ("templates", {}, "templates: must be an array, not an object"),
    ("templates.0.id", "Tiny", "templates[0].id: not an identifier"),
    ("templates.1.id", "tiny", "templates[1].id: duplicate template id \"tiny\""),
    ("templates.0.format", "vmdk", "templates[0].format: \"vmdk\" is not one of"),
    ("templates.0.sha256", "abc", "templates[0].sha256: not a SHA-256 checksum"),
    ("templates.0.path", "tiny.qcow2", "templates[0].path: not an absolute path"),
    ("templates.1.kernel", "DELETE", "templates[1].kernel: required field is missing"),
    ("templates.1.cmdline", "console=ttyS0\nroot=/dev/vda", "templates[1].cmdline: contains a control character"),
    ("security_groups.0.rules.0.protocol", "sctp", "security_groups[0].rules[0].protocol"),
    ("instances", [1], "instances[0]: must be an object"),
    ("instances.0.id", "i_1", "instances[0].id: not an identifier"),
    ("instances.1.id", "i-1", "instances[1].id: duplicate instance id \"i-1\""),
    ("instances.0.vcpus", 0, "instances[0].vcpus: 0 is out of range"),
    ("instances.1.vcpus", "DELETE", "instances[1].vcpus: required field is missing"),
    ("instances.0.memory_mib", 8, "instances[0].memory_mib: 8 is out of range"),
    ("instances.0.power", "paused", "instances[0].power: \"paused\" is not one of"),
    ("instances.1.restart", "sometimes", "instances[1].restart: \"sometimes\" is not one of"),
    ("instances.0.delete_volumes", True, "instances[0].delete_volumes: only allowed with power \"deleted\""),
    ("instances.0.name", "web_1", "instances[0].name: not a host name"),
    ("instances.0.boot.template", "tiny", "instances[0].boot.template: \"tiny\" is a disk image, not a kernel template"),
    ("instances.1.boot.template", "nope", "instances[1].boot.template: no template \"nope\""),
    ("instances.0.disks.0.size_mib", 0, "instances[0].disks[0].size_mib: 0 is out of range"),
    ("instances.0.disks.0.template", "missing", "instances[0].disks[0].template: no template \"missing\""),
    ("instances.1.disks.0.format", "vdi", "instances[1].disks[0].format: \"vdi\" is not one of"),
    ("instances.0.disks.0.bus", "ide", "instances[0].disks[0].bus: unknown field"),
    ("instances.0.cloud_init.hostname", "-web", "instances[0].cloud_init.hostname: not a host name"),
    ("instances.1.cloud_init.ssh_keys", ["not a key"], "instances[1].cloud_init.ssh_keys[0]: not an SSH public key"),
    ("instances.0.nics", [{"mac": "52:54:zz:00:00:01", "ipv4": "198.51.100.20"}], "instances[0].nics[0].mac: not a MAC address"),
    ("instances.0.nics", [{"mac": "52:54:00:00:00:01", "ipv4": "203.0.113.10"}], "instances[0].nics[0].ipv4: 203.0.113.10 is outside the guest subnet"),
]
sys.path.insert(0, sys.argv[4])
import nodesign
key_id, secret = nodesign.read_key_file(sys.argv[5])
def actual():
    auth = nodesign.authorization(key_id, secret, "GET", url + "/v1/state", int(time.time()) + 60)
    req = urllib.request.Request(url + "/v1/state", headers={"Authorization": auth})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.load(r)
applied = actual()["revision"]
rejected = actual()["rejected_total"]
n = 0
for path, value, want in cases:
    doc = copy.deepcopy(good)
    doc["revision"] = applied + 100 + n  # newer: only validation can refuse it
    parts = path.split(".")
    node = doc
    for p in parts[:-1]:
        node = node[int(p)] if isinstance(node, list) else node[p]
    key = int(parts[-1]) if isinstance(node, list) else parts[-1]
    if value == "DELETE":
        del node[key]
    else:
        node[key] = value
    with open(state + ".tmp", "w") as f:
        json.dump(doc, f)
    os.rename(state + ".tmp", state)
    deadline = time.time() + 10
    while True:
        d = actual()
        if d["rejected_total"] > rejected:
            break
        if time.time() > deadline:
            sys.exit("FAIL: %s=%r was not rejected within 10 s" % (path, value))
        time.sleep(0.05)
    rejected = d["rejected_total"]
    e = d["last_error"]
    msg = (e["field"] + ": " + e["message"]) if e["field"] else e["message"]
    if want not in msg:
        sys.exit("FAIL: %s=%r: error %r does not contain %r" % (path, value, msg, want))
    if d["revision"] != applied:
        sys.exit("FAIL: %s=%r replaced the applied revision" % (path, value))
    n += 1
print(n)
PY
) || fail "invalid documents: see above"
[ "$count" -ge 30 ] || fail "only $count invalid documents"
[ "$(pid_of i-1)" = "$p1" ] && [ "$(pid_of i-2)" = "$p2" ] && alive "$p1" && alive "$p2" ||
	fail "a guest was restarted or stopped by an invalid document"
[ "$(boots i-1 2)" = 0 ] || fail "i-1 rebooted during the invalid documents"
is "[inst('i-1')['status'], inst('i-2')['status']]" "['running', 'running']" || fail "guests not running after the invalid documents"
log "$count invalid documents rejected; guests untouched"
cp "$TEST_TMP/good.json" "$STATE.tmp" && mv "$STATE.tmp" "$STATE"
wait_for 10 "last_error cleared" is "d['last_error']" None

log "kill -9 of cloudd: guests keep running; the next cloudd adopts them (same QEMU pids)"
kill -9 "$CLOUDD_PID"
wait "$CLOUDD_PID" 2>/dev/null || true
alive "$p1" && alive "$p2" || fail "a guest died with cloudd"
start_cloudd
grep -q "disk $(basename "$LOOP"): use (selected)" "$TEST_TMP/cloudd.log" || fail "the labelled disk was not reused"
state_has() { api /v1/state | grep -q "$1"; }
wait_for 30 "adopted" state_has instance-adopt
wait_for 20 "pids reported" is "[inst('i-1')['pid'], inst('i-2')['pid']]" "[$p1, $p2]"
[ "$(pid_of i-1)" = "$p1" ] && [ "$(pid_of i-2)" = "$p2" ] || fail "guests were restarted instead of adopted"

log "QEMU of i-1 killed from outside: reported with its reason, restarted per policy, its disk data kept"
kill -9 "$p1"
wait_for 60 "i-1 restarted" sh -c "p=\$(cat '$RUN/guests/i-1/pid' 2>/dev/null); [ -n \"\$p\" ] && [ \"\$p\" != '$p1' ]"
wait_for 30 "last_exit reported" state_has 'without a SHUTDOWN event'
[ "$(st "inst('i-1')['restarts']")" -ge 1 ] || fail "restart not counted: $(st "inst('i-1')")"
wait_for 90 "i-1 second boot (its disk counter kept)" console_has i-1 "guestkit: disk boot 2"
alive "$p2" || fail "i-2 was hurt"

log "i-2 stopped in the document: a graceful stop (the guest powers off)"
state 2 running stopped
wait_for 60 "i-2 QEMU gone" sh -c "! [ -r /proc/$p2/status ] || grep -q '^State:[[:space:]]*[ZX]' /proc/$p2/status"
console_has i-2 "guestkit: powering off" || fail "i-2 was not stopped gracefully"
wait_for 20 "i-2 stopped" is "inst('i-2')['status']" stopped

log "cloudd restarted (SIGTERM), then i-2 started again: its data survived both"
p1=$(pid_of i-1)
kill -TERM "$CLOUDD_PID"
wait "$CLOUDD_PID" || fail "cloudd exited $? after SIGTERM"
alive "$p1" || fail "stopping cloudd stopped i-1"
start_cloudd
state 3 running running
wait_for 120 "i-2 second boot (its disk counter kept)" console_has i-2 "guestkit: disk boot 2"
[ "$(pid_of i-1)" = "$p1" ] || fail "i-1 restarted by a cloudd restart"

log "i-2 deleted with its volumes; i-1 untouched"
state 4 running deleted
wait_for 60 "i-2 volumes removed" sh -c "! [ -e '$DATA/volumes/i-2' ]"
wait_for 20 "i-2 run directory removed" sh -c "! [ -e '$RUN/guests/i-2' ]"
[ -f "$DATA/volumes/i-1/root.qcow2" ] || fail "i-1's volume went with i-2's"
[ "$(pid_of i-1)" = "$p1" ] && alive "$p1" || fail "i-1 was hurt by the delete"

log "i-4 does not hear the power button: stopped in the document, its QEMU is forced to stop after the timeout"
state 5 running deleted running
wait_for 120 "i-4 ready" console_has i-4 "guestkit: ready"
p4=$(pid_of i-4)
state 6 running deleted stopped
wait_for 20 "i-4 stopping" is "inst('i-4')['status']" stopping
wait_for 90 "i-4 QEMU gone" sh -c "! [ -r /proc/$p4/status ] || grep -q '^State:[[:space:]]*[ZX]' /proc/$p4/status"
wait_for 20 "i-4 stopped" is "inst('i-4')['status']" stopped
[ "$(st "[e['result'] for e in d['events'] if e['action'] == 'instance-force-stop' and e['instance'] == 'i-4']")" = "['ok']" ] ||
	fail "no forced stop of i-4 among the events: $(st "d['events']")"
! console_has i-4 "guestkit: powering off" || fail "i-4 heard the power button after all"
[ "$(pid_of i-1)" = "$p1" ] && alive "$p1" || fail "i-1 was hurt by the forced stop of i-4"

# every QEMU cloudd started and saw exit is reaped (cloudd is their subreaper)
zombies=$(ps --ppid "$CLOUDD_PID" -o pid=,stat=,comm= | awk '$2 ~ /^Z/' || true)
[ -z "$zombies" ] || fail "zombie children of cloudd: $zombies"

kill -TERM "$CLOUDD_PID"
wait "$CLOUDD_PID" || true
alive "$p1" || fail "stopping cloudd stopped a guest"
log "ok"
