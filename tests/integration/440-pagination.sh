#!/usr/bin/env bash
# cloud-controller: every list endpoint pages with limit and cursor: pages of 1 and 2 walk every item exactly once in the order of the whole list, the last page's next_cursor is null, bad limit and cursor values get 400 naming the parameter
# timeout: 600
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/integration/controller-lib.sh"
. "$ROOT/tests/integration/instances-lib.sh"
require_root
require_cmd python3 curl jq ssh-keygen
[ -x "$CC_BIN" ] || fail "no $CC_BIN (./build.sh cloudd)"

cc_start --heartbeat-interval 60 --down-after 600 --url http://127.0.0.1:8080 \
	--guest-subnet 198.51.100.0/24 --guest-gateway 198.51.100.1
ADMIN=$CLOUDD_CONFIG

log "at least three of everything: images, machines, nodes, accounts and keys, SSH keys, groups, templates, types, instances, operations, events"
fake_nodes_prepare
make_image_dir "$TEST_TMP/img2" v2 && ctl images publish "$TEST_TMP/img2" >/dev/null || fail "publishing v2"
make_image_dir "$TEST_TMP/img3" v3 && ctl images publish "$TEST_TMP/img3" >/dev/null || fail "publishing v3"
fake_node n-a 52:54:00:00:44:01 4 4096 100
fake_node n-b 52:54:00:00:44:02 4 4096 100
fake_node n-c 52:54:00:00:44:03 4 4096 100
api_expect 201 POST /v1/machines '{"mac":"52:54:00:00:44:04"}' >/dev/null
tenant alpha; ALPHA=$TENANT_CONF
tenant beta; BETA=$TENANT_CONF
for t in tiny tiny-2 other; do public_template "$t"; done
for conf in "$ALPHA" "$BETA"; do
	for n in k1 k2 k-1; do
		CLOUDD_CONFIG=$conf api_expect 201 POST /v1/ssh-keys "{\"name\":\"$n\",\"public_key\":\"$(ssh_pub)\"}" >/dev/null
	done
	for n in web web-2 db; do
		CLOUDD_CONFIG=$conf api_expect 201 POST /v1/security-groups "{\"name\":\"$n\"}" >/dev/null
	done
	CLOUDD_CONFIG=$conf api_expect 201 POST /v1/templates "{\"name\":\"own\",\"format\":\"qcow2\",\"url\":\"http://203.0.113.80:8080/t/own.qcow2\",
		\"sha256\":\"$(printf own | sha256sum | cut -c1-64)\",\"size\":1048576}" >/dev/null
	for n in i1 i2 i3; do
		CLOUDD_CONFIG=$conf api_expect 202 POST /v1/instances "{\"name\":\"$n\",\"type\":\"tiny\",\"template\":\"tiny\"}" >/dev/null
	done
done
api_expect 200 PUT /v1/instance-types/tiny2 '{"vcpus":1,"memory_mib":64,"disk_gib":2}' >/dev/null # same memory as tiny

# walk CONF PATH KEY LIMIT: pages through PATH, writes each item's KEY in page order to $TEST_TMP/walk
walk() {
	local conf="$1" path="$2" key="$3" limit="$4" cursor="" out count pages=0 sep="?"
	case "$path" in *\?*) sep="&" ;; esac
	: >"$TEST_TMP/walk"
	while :; do
		out=$(CLOUDD_CONFIG=$conf api_expect 200 GET "$path${sep}limit=$limit${cursor:+&cursor=$cursor}")
		pages=$((pages + 1))
		count=$(jq '.items | length' <<<"$out")
		[ "$count" -le "$limit" ] || fail "$path: $count items in a page of limit $limit"
		jq -r --arg k "$key" '.items[] | .[$k] | tostring' <<<"$out" >>"$TEST_TMP/walk"
		cursor=$(jq -r '.next_cursor // ""' <<<"$out")
		[ -n "$cursor" ] || break
		[ "$count" = "$limit" ] || fail "$path: a page of $count items (limit $limit) is not the last, yet its next_cursor is $cursor"
		[ "$pages" -lt 1000 ] || fail "$path: no last page after 1000 pages"
	done
	WALK_PAGES=$pages
}

# check CONF PATH KEY MIN [bad]: pages of 1 and 2 give the whole list's items, each once, in its order;
# with "bad", bad limits and cursors are refused
check() {
	local conf="$1" path="$2" key="$3" min="$4" bad_too="${5:-}" whole n sep="?" limit
	case "$path" in *\?*) sep="&" ;; esac
	whole=$(CLOUDD_CONFIG=$conf api_expect 200 GET "$path${sep}limit=1000")
	[ "$(jq -r .next_cursor <<<"$whole")" = null ] || fail "$path: one page of 1000 has a next_cursor"
	jq -r --arg k "$key" '.items[] | .[$k] | tostring' <<<"$whole" >"$TEST_TMP/whole"
	n=$(wc -l <"$TEST_TMP/whole")
	[ "$n" -ge "$min" ] || fail "$path: $n items, the test made at least $min"
	[ "$(sort -u "$TEST_TMP/whole" | wc -l)" = "$n" ] || fail "$path: the whole list repeats an item: $(sort "$TEST_TMP/whole" | uniq -d)"
	for limit in 1 2; do
		walk "$conf" "$path" "$key" "$limit"
		cmp -s "$TEST_TMP/walk" "$TEST_TMP/whole" ||
			fail "$path in pages of $limit: $(tr '\n' ' ' <"$TEST_TMP/walk") instead of $(tr '\n' ' ' <"$TEST_TMP/whole")"
		[ "$WALK_PAGES" = $(((n + limit - 1) / limit)) ] ||
			fail "$path: $n items in pages of $limit took $WALK_PAGES pages"
	done
	# bad values: 400 naming the parameter
	[ -n "$bad_too" ] || { log "$path: $n items, pages of 1 and 2 walk each once"; return 0; }
	for bad in limit=0 limit=1001 limit=abc limit=-1 limit= cursor= "cursor=a%20b" "cursor=%2F" "cursor=$(printf 'a%.0s' $(seq 1 121))"; do
		out=$(CLOUDD_CONFIG=$conf api GET "$path${sep}$bad")
		[ "$(head -1 <<<"$out")" = 400 ] || fail "$path${sep}$bad: $(head -c 200 <<<"$out")"
		grep -q "\"${bad%%=*}: " <<<"$out" || fail "$path${sep}$bad: the message does not name ${bad%%=*}: $(tail -n +2 <<<"$out")"
	done
	log "$path: $n items, pages of 1 and 2 walk each once"
}

log "admin lists"
check "$ADMIN" /v1/events id 10 bad
check "$ADMIN" /v1/operations id 6 bad
check "$ADMIN" /v1/accounts id 3 bad
check "$ADMIN" /v1/api-keys id 3 bad
check "$ADMIN" /v1/images version 3 bad
check "$ADMIN" /v1/instance-types name 6 bad
check "$ADMIN" /v1/instances id 6 bad
check "$ADMIN" "/v1/instances?account=$(api_expect 200 GET /v1/accounts/alpha | jq -r .id)" id 3
check "$ADMIN" /v1/machines id 4 bad
check "$ADMIN" /v1/nodes id 3 bad
check "$ADMIN" /v1/security-groups id 6 bad
check "$ADMIN" /v1/ssh-keys id 6 bad
check "$ADMIN" /v1/templates id 5 bad

log "a tenant's lists page within its account"
check "$ALPHA" /v1/instances id 3
check "$ALPHA" /v1/security-groups id 3
check "$ALPHA" /v1/ssh-keys id 3
check "$ALPHA" /v1/templates id 4
check "$ALPHA" /v1/api-keys id 1
check "$ALPHA" /v1/instance-types name 6
[ "$(CLOUDD_CONFIG=$ALPHA api_expect 200 GET /v1/ssh-keys | jq '[.items[].account] | unique | length')" = 1 ] ||
	fail "a tenant sees another account's SSH keys"

log "the list orders are kept: types smallest first, groups by account and name, templates by name"
[ "$(api_expect 200 GET /v1/instance-types | jq -r '.items[0:3] | map(.name) | join(" ")')" = "tiny tiny2 small" ] ||
	fail "instance types: $(api_expect 200 GET /v1/instance-types | jq -c '[.items[].name]')"
[ "$(CLOUDD_CONFIG=$ALPHA api_expect 200 GET /v1/security-groups | jq -r '[.items[].name] | join(" ")')" = "db web web-2" ] ||
	fail "security groups: $(CLOUDD_CONFIG=$ALPHA api_expect 200 GET /v1/security-groups | jq -c '[.items[].name]')"
[ "$(CLOUDD_CONFIG=$ALPHA api_expect 200 GET /v1/templates | jq -r '[.items[].name] | join(" ")')" = "other own tiny tiny-2" ] ||
	fail "templates: $(CLOUDD_CONFIG=$ALPHA api_expect 200 GET /v1/templates | jq -c '[.items[].name]')"

log "events: a cursor is a number"
for bad in cursor=x cursor=-1 cursor=1x; do
	out=$(api GET "/v1/events?$bad")
	[ "$(head -1 <<<"$out")" = 400 ] && grep -q '"cursor: ' <<<"$out" || fail "/v1/events?$bad: $out"
done

log "cloudctl follows next_cursor to the end"
[ "$(ctl -o json instance-type list | jq 'length')" = "$(api_expect 200 GET /v1/instance-types | jq '.items | length')" ] ||
	fail "cloudctl instance-type list: $(ctl -o json instance-type list)"
kill -0 "$CC_PID" || fail "the controller died"
