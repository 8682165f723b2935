#!/usr/bin/env bash
# cloud-controller answer cache: after an admin read of every cached route, a user of the same account, a user and an admin of another account each get what they get with the cache off
# timeout: 240
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/integration/controller-lib.sh"
. "$ROOT/tests/integration/instances-lib.sh"
require_root
require_cmd python3 curl jq
[ -x "$CC_BIN" ] || fail "no $CC_BIN (./build.sh cloudd)"

opts=(--heartbeat-interval 300 --down-after 3600 --url http://127.0.0.1:8080
	--guest-subnet 198.51.100.0/24 --guest-gateway 198.51.100.1 --guest-dns 198.51.100.1)
cc_start "${opts[@]}"
fake_nodes_prepare
fake_node n-one 52:54:00:00:35:01 4 8192 100
NODE=$FN_ID
public_template tiny

log "principals: a user key in the admin's account, a tenant beta with a user key and an admin key"
admin_account=$(api_expect 200 GET /v1/accounts | jq -r '.items[] | select(.name != "beta") | .id' | head -1)
keyconf() { printf 'url = http://127.0.0.1:8080\nkey = %s\nsecret = %s\n' "$(jq -r .id <<<"$2")" "$(jq -r .secret <<<"$2")" >"$TEST_TMP/$1.conf"; }
keyconf same-user "$(api_expect 201 POST /v1/api-keys '{}')"
k=$(sed -n 's/^key = //p' "$TEST_TMP/same-user.conf")
[ "$(api_expect 200 GET /v1/api-keys | jq -r ".items[] | select(.id == \"$k\") | .account")" = "$admin_account" ] ||
	fail "POST /v1/api-keys {} did not make a key in the admin's account"
tenant beta; cp "$TENANT_CONF" "$TEST_TMP/other-user.conf"
beta=$(api_expect 200 GET /v1/accounts/beta | jq -r .id)
keyconf other-admin "$(api_expect 201 POST /v1/api-keys "{\"account\":\"$beta\",\"role\":\"admin\"}")"

log "instances in both accounts, so that every listing differs by visibility"
own=$(CLOUDD_CONFIG=$TEST_TMP/same-user.conf api_expect 202 POST /v1/instances '{"name":"own","type":"tiny","template":"tiny"}' | jq -r .instance.id)
theirs=$(CLOUDD_CONFIG=$TEST_TMP/other-user.conf api_expect 202 POST /v1/instances '{"name":"theirs","type":"tiny","template":"tiny"}' | jq -r .instance.id)
[ "$(api_expect 200 GET /v1/instances | jq '.items | length')" = 2 ] || fail "the admin does not see both instances"

routes=(/v1/instances "/v1/instances?limit=10" "/v1/instances/$own" "/v1/instances/$theirs" /v1/instances/own
	/v1/instance-types "/v1/instance-types?limit=1" /v1/nodes "/v1/nodes/$NODE" /v1/machines "/v1/machines?limit=5"
	/v1/images /v1/events "/v1/events?limit=3")
principals=(same-user other-user other-admin)

# read_all FILE: for every route and principal, an admin read then at once the
# principal's read; FILE gets "principal route status sha256-of-body" lines,
# FILE.bodies the bodies
read_all() {
	local r p
	for r in "${routes[@]}"; do
		for p in "${principals[@]}"; do
			printf '%s GET %s\n%s GET %s\n' "$CLOUDD_CONFIG" "$r" "$TEST_TMP/$p.conf" "$r"
		done
	done >"$1.requests"
	api --batch "$1.bodies" <"$1.requests" >"$1.answers" || fail "the batch of reads failed"
	paste -d' ' <(sed -n 'n;p' "$1.requests" | sed "s|^$TEST_TMP/||; s|\.conf GET||") <(sed -n 'n;p' "$1.answers") >"$1"
	[ "$(wc -l <"$1")" -eq $((${#routes[@]} * ${#principals[@]})) ] || fail "not every read was answered"
}

log "cache on: admin read, then each principal"
read_all "$TEST_TMP/cached"
hits=$(in_ns "$CC_NS" curl -s http://127.0.0.1:8080/metrics | sed -n 's/^cloud_controller_api_cache_total{result="hit"} //p')
[ "${hits:-0}" -gt 0 ] || fail "the cache answered nothing (hits ${hits:-none}): the test would not see a leak"

log "the same reads with the cache off (api-cache = no) are the reference"
cc_stop
cc_start "${opts[@]}" --api-cache no
read_all "$TEST_TMP/reference"
hits=$(in_ns "$CC_NS" curl -s http://127.0.0.1:8080/metrics | sed -n 's/^cloud_controller_api_cache_total{result="hit"} //p')
[ "${hits:-0}" -eq 0 ] || fail "api-cache = no still answered $hits reads from the cache"

if ! diff -u "$TEST_TMP/reference" "$TEST_TMP/cached" >"$TEST_TMP/diff"; then
	cat "$TEST_TMP/diff" >&2
	fail "with the cache on, some principal got another answer than with it off (bodies in $TEST_TMP/cached.bodies)"
fi

log "what each sees is its own: users see their account's instance only, admin routes refuse users"
grep -q "^same-user /v1/instances/$theirs 404 " "$TEST_TMP/reference" || fail "a user read another account's instance"
grep -q "^other-admin /v1/instances/$theirs 200 " "$TEST_TMP/reference" || fail "an admin of another account cannot read an instance"
grep -q "^other-user /v1/nodes 403 " "$TEST_TMP/reference" || fail "a user listed nodes"
for p in same-user other-user; do
	n=$(CLOUDD_CONFIG=$TEST_TMP/$p.conf api_expect 200 GET /v1/instances | jq '.items | length')
	[ "$n" = 1 ] || fail "$p sees $n instances, not its own one"
done
log "cache: $(wc -l <"$TEST_TMP/cached") reads after an admin read, identical to the cache-off reference"
