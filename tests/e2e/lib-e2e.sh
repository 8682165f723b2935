# lib-e2e.sh -- a lab (tests/lab/lab.sh) for the end-to-end cases, driven through the API (source after tests/lib.sh)
#
# e2e_lab_up N        a lab of N nodes in namespace clab$TEST_ID, state in $TEST_TMP/lab; torn down on exit
# api METHOD PATH [BODY]   a signed request (admin key, or the key file in $AS); prints status then body
# api_ok STATUS METHOD PATH [BODY]   the same, failing unless the status matches (a regex); prints the body
# jget JSON EXPR      a field of a JSON document (python expression over d)
# tenant NAME         an account and a user key: sets TENANT_CONF (use as AS=$TENANT_CONF api ...)
# inst_create CONF NAME SG USERDATA   creates an instance (type and template lab-tiny); prints its id
# inst_field ID FIELD   a field of GET /v1/instances/ID
# console_has ID REGEX  the instance's console (through the API) shows REGEX

export LAB_NS="clab$TEST_ID"
export LAB_DIR="$TEST_TMP/lab"
export LAB_KEEP_LOGS=1

e2e_lab_up() {
	require_root
	require_cmd qemu-system-x86_64 python3 curl
	[ -x "$OUT/bin/cloud-controller" ] && [ -f "$OUT/initramfs.img" ] || skip "no image in $OUT (./build.sh)"
	cleanup_add "CLOUDD_OUT=$OUT $ROOT/tests/lab/lab.sh down"
	CLOUDD_OUT="$OUT" "$ROOT/tests/lab/lab.sh" up --nodes "$1" >"$TEST_TMP/lab-up.log" 2>&1 ||
		{ tail -20 "$TEST_TMP/lab-up.log"; fail "the lab did not come up (log $TEST_TMP/lab-up.log)"; }
	log "lab up: $1 nodes (namespace $LAB_NS)"
}

api() {
	CLOUDD_CONFIG="${AS:-$LAB_DIR/controller/admin.conf}" ip netns exec "$LAB_NS" \
		python3 "$ROOT/tests/lab/api.py" "$@" || true
}

api_ok() {
	local want="$1" out
	shift
	out=$(api "$@")
	[[ "$(head -1 <<<"$out")" =~ ^($want)$ ]] || fail "$* answered $(head -1 <<<"$out"), want $want: $(tail -n +2 <<<"$out")"
	tail -n +2 <<<"$out"
}

jget() { python3 -c 'import json, sys; d = json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }

tenant() {
	local acct out
	acct=$(jget "$(api_ok 201 POST /v1/accounts "{\"name\":\"$1\"}")" 'd["id"]')
	out=$(api_ok 201 POST /v1/api-keys "{\"account\":\"$acct\"}")
	TENANT_CONF="$TEST_TMP/$1.conf"
	printf 'url = http://192.0.2.1:8080\nkey = %s\nsecret = %s\n' "$(jget "$out" 'd["id"]')" "$(jget "$out" 'd["secret"]')" >"$TENANT_CONF"
}

inst_create() {
	local conf="$1" name="$2" sg="$3" ud="$4" body
	body=$(python3 -c 'import json, sys
d = {"name": sys.argv[1], "type": "lab-tiny", "template": "lab-tiny", "security_groups": [sys.argv[2]]}
if sys.argv[3]:
    d["user_data"] = sys.argv[3]
print(json.dumps(d))' "$name" "$sg" "$ud")
	jget "$(AS="$conf" api_ok 202 POST /v1/instances "$body")" 'd["instance"]["id"]'
}

inst_field() { jget "$(api_ok 200 GET "/v1/instances/$1")" "d[\"$2\"]"; }
inst_state_is() { [ "$(inst_field "$1" state)" = "$2" ]; }
console_has() { api GET "/v1/instances/$1/console" | grep -aEq "$2"; }
