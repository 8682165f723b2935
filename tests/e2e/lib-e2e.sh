# lib-e2e.sh -- a lab (tests/lab/lab.sh) for the end-to-end cases, driven through cloudctl (source after tests/lib.sh)
#
# e2e_lab_up N        a lab of N nodes in namespace clab$TEST_ID, state in $TEST_TMP/lab; torn down on exit
# cctl ARGS..         the lab's cloudctl with the admin key, or the configuration file in $AS
# cctl_json ARGS..    the same with -o json, failing the case when cloudctl fails
# jget JSON EXPR      a field of a JSON document (python expression over d)
# tenant NAME         an account and a user key of it: the key's cloudctl configuration in $TEST_TMP/NAME.conf
# inst_field ID FIELD   a field of the instance (cloudctl instance show)
# inst_state_is ID STATE
# console_has ID REGEX  the instance's console (cloudctl instance console) shows REGEX
# probe_is ID HOST PORT open|closed   the last probe of HOST:PORT on the instance's console says so
# disk_boots ID       the last "guestkit: disk boot N" on the console (0 when none)
# node_of ID          the lab number of the node the instance runs on
# node_filters_at I   when node I last applied its filters and how often it has (its GET /v1/filters)
# guest_pids ID..     "id=pid" of each instance, from its node's GET /v1/state
#                     (both signed with the node key the controller keeps: lab.sh node-get)

export LAB_NS="clab$TEST_ID"
export LAB_DIR="$TEST_TMP/lab"
export LAB_KEEP_LOGS=1

e2e_lab_up() {
	require_root
	require_cmd qemu-system-x86_64 python3 curl
	[ -x "$OUT/bin/cloud-controller" ] && [ -f "$OUT/initramfs.img" ] || skip "no image in $OUT (./build.sh)"
	cleanup_add "CLOUDD_OUT=$OUT $ROOT/tests/lab/lab.sh down"
	lab up --nodes "$1" >"$TEST_TMP/lab-up.log" 2>&1 ||
		{ tail -20 "$TEST_TMP/lab-up.log"; fail "the lab did not come up (log $TEST_TMP/lab-up.log)"; }
	log "lab up: $1 nodes (namespace $LAB_NS), $(grep -o 'nodes to be up.*: done in [0-9]* s' "$TEST_TMP/lab-up.log" | sed 's/.*: done/booted/')"
}

lab() { CLOUDD_OUT="$OUT" "$ROOT/tests/lab/lab.sh" "$@"; }

# a failing case keeps every instance's console in $TEST_TMP/console-ID.txt
# (the lab is still up: its teardown runs on exit) and shows their last lines,
# then the last lines of each node's serial console and the node's GET /v1/state
fail() {
	local id f i
	for id in $(cctl -o json instance list 2>/dev/null |
		python3 -c 'import json, sys; print(" ".join(i["id"] for i in json.load(sys.stdin)))' 2>/dev/null); do
		cctl instance console "$id" 2>&1 | tr -d '\r' >"$TEST_TMP/console-$id.txt"
		printf -- '--- console of %s (last lines; all in %s)\n' "$id" "$TEST_TMP/console-$id.txt" >&2
		tail -5 "$TEST_TMP/console-$id.txt" | cut -c1-160 >&2
	done
	# each node's serial console (kernel and cloudd messages) and its view of its guests
	for f in "$LAB_DIR"/lab-node*.console; do
		[ -f "$f" ] || continue
		printf -- '--- %s (last lines)\n' "$f" >&2
		tail -15 "$f" | tr -d '\r' | cut -c1-200 >&2
		i=${f##*lab-node} i=${i%.console}
		printf -- '--- node %s: GET /v1/state\n' "$i" >&2
		CLOUDD_OUT="$OUT" timeout 10 "$ROOT/tests/lab/lab.sh" node-get "$i" /v1/state 2>&1 | cut -c1-2000 >&2 || true
	done
	printf 'FAIL: %s\n' "$*" >&2
	exit 1
}

cctl() { CLOUDD_CONFIG="${AS:-$LAB_DIR/controller/admin.conf}" "$LAB_DIR/bin/cloudctl" "$@"; }

cctl_json() {
	local out
	out=$(cctl -o json "$@" 2>&1) || fail "cloudctl $* failed: $out"
	printf '%s\n' "$out"
}

jget() { python3 -c 'import json, sys; d = json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }

tenant() {
	cctl account create "$1" >/dev/null || fail "cloudctl account create $1 failed"
	AS= cctl api-key create --account "$1" --name "e2e-$1" >"$TEST_TMP/$1.conf" || fail "cloudctl api-key create for $1 failed"
	grep -q '^secret = ' "$TEST_TMP/$1.conf" || fail "api-key create printed no configuration: $(cat "$TEST_TMP/$1.conf")"
}

inst_field() { jget "$(cctl -o json instance show "$1")" "d[\"$2\"]"; }
inst_state_is() { [ "$(inst_field "$1" state)" = "$2" ]; }
console_has() { cctl instance console "$1" | grep -aEq "$2"; }

probe_is() {
	local last
	last=$(cctl instance console "$1" | tr -d '\r' | grep -a "lab-guest: probe $2:$3 " | tail -1)
	[ "${last##* }" = "$4" ]
}

disk_boots() {
	local n
	n=$(cctl instance console "$1" | grep -ao 'guestkit: disk boot [0-9]*' | tail -1)
	echo "${n##* }" | grep -x '[0-9][0-9]*' || echo 0
}

node_of() {
	local mac
	mac=$(jget "$(cctl_json nodes show "$(inst_field "$1" node)")" 'd["mac"]')
	echo $((16#${mac##*:}))
}

node_addr() { jget "$(cctl_json nodes show "$1")" 'd["address"]'; }

node_filters_at() {
	lab node-get "$1" /v1/filters |
		python3 -c 'import json, sys; l = json.load(sys.stdin)["last_apply"]; print(l["at"], l["full"], l["incremental"])'
}

guest_pids() {
	local id
	for id in "$@"; do
		lab node-get "$(node_of "$id")" /v1/state |
			python3 -c 'import json, sys
for i in json.load(sys.stdin)["instances"]:
    if i["id"] == sys.argv[1]:
        print("%s=%s" % (i["id"], i.get("pid")))' "$id"
	done
}
