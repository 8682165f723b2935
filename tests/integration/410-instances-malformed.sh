#!/usr/bin/env bash
# cloud-controller instance API: 79 malformed or impossible requests each get the right 4xx with a clear JSON error and change nothing
# timeout: 240
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/integration/controller-lib.sh"
. "$ROOT/tests/integration/instances-lib.sh"
require_root
require_cmd python3 curl jq ssh-keygen sqlite3
[ -x "$CC_BIN" ] || fail "no $CC_BIN (./build.sh cloudd)"

cc_start --heartbeat-interval 60 --down-after 600 --url http://127.0.0.1:8080 --user-data-max 1024 \
	--guest-subnet 198.51.100.0/24 --guest-gateway 198.51.100.1
fake_nodes_prepare
fake_node n1 52:54:00:00:41:01 2 2048 50
N1=$FN_ID N1_KEY=$FN_KEY N1_SECRET=$FN_SECRET
tenant alpha; A=$TENANT_CONF
tenant beta; B=$TENANT_CONF
public_template tiny
CLOUDD_CONFIG=$A api_expect 201 POST /v1/security-groups '{"name":"web"}' >/dev/null
CLOUDD_CONFIG=$B api_expect 201 POST /v1/security-groups '{"name":"other"}' >/dev/null
CLOUDD_CONFIG=$A api_expect 202 POST /v1/instances '{"name":"taken","type":"tiny","template":"tiny"}' >/dev/null
KEY=$(ssh_pub)
CLOUDD_CONFIG=$A api_expect 201 POST /v1/ssh-keys "{\"name\":\"k\",\"public_key\":\"$KEY\"}" >/dev/null

# everything a tenant request could change
snapshot() {
	in_ns "$CC_NS" sqlite3 "$CC_DATA/controller.db" \
		"SELECT * FROM instances; SELECT * FROM ip_addresses; SELECT * FROM security_groups; SELECT * FROM security_group_rules;
		 SELECT * FROM ssh_keys; SELECT * FROM templates; SELECT * FROM instance_types; SELECT * FROM accounts;
		 SELECT id, revoked_at FROM api_keys; SELECT * FROM instance_security_groups; SELECT id, revision FROM nodes;"
}
before=$(snapshot)
n=0
# bad STATUS CONFIG METHOD PATH [BODY] [MESSAGE-PART]: the request gets STATUS, a JSON error, and the message names the problem
bad() {
	local want="$1" conf="$2" method="$3" path="$4" body="${5:-}" part="${6:-}" out
	if [ -n "$body" ]; then out=$(CLOUDD_CONFIG=$conf api_expect "$want" "$method" "$path" "$body")
	else out=$(CLOUDD_CONFIG=$conf api_expect "$want" "$method" "$path"); fi
	[ -z "$part" ] || grep -qF -- "$part" <<<"$out" || fail "$method $path $body: message lacks \"$part\": $out"
	n=$((n + 1))
}
ADMIN=$CLOUDD_CONFIG
I='"type":"tiny","template":"tiny"'

log "instances"
bad 400 "$A" POST /v1/instances '' "JSON object is required"
bad 400 "$A" POST /v1/instances '{"name":' "invalid JSON"
bad 400 "$A" POST /v1/instances '[1]' "JSON object"
bad 400 "$A" POST /v1/instances "{$I}" "name: required"
bad 400 "$A" POST /v1/instances '{"name":"x","template":"tiny"}' "type: required"
bad 400 "$A" POST /v1/instances '{"name":"x","type":"tiny"}' "template: required"
bad 400 "$A" POST /v1/instances "{\"name\":\"Bad_Name\",$I}" "name:"
bad 400 "$A" POST /v1/instances "{\"name\":\"$(printf 'a%.0s' $(seq 70))\",$I}" "name:"
bad 400 "$A" POST /v1/instances "{\"name\":42,$I}" "name: expected a string"
bad 400 "$A" POST /v1/instances "{\"name\":\"x\",$I,\"colour\":\"red\"}" "unknown field"
bad 422 "$A" POST /v1/instances '{"name":"x","type":"tiny","template":"nope"}' "no template nope"
bad 422 "$A" POST /v1/instances '{"name":"x","type":"gigantic","template":"tiny"}' "no instance type gigantic"
bad 422 "$A" POST /v1/instances '{"name":"x","type":"xlarge","template":"tiny"}' "fits no node"
bad 409 "$A" POST /v1/instances "{\"name\":\"taken\",$I}" "exists"
bad 413 "$A" POST /v1/instances "{\"name\":\"x\",$I,\"user_data\":\"$(head -c 2000 /dev/zero | tr '\0' a)\"}" "user_data"
bad 400 "$A" POST /v1/instances "{\"name\":\"x\",$I,\"user_data\":7}" "user_data"
bad 422 "$A" POST /v1/instances "{\"name\":\"x\",$I,\"security_groups\":[\"nope\"]}" "no security group nope"
bad 422 "$A" POST /v1/instances "{\"name\":\"x\",$I,\"security_groups\":[\"other\"]}" "no security group other" # beta's
bad 400 "$A" POST /v1/instances "{\"name\":\"x\",$I,\"security_groups\":\"web\"}" "security_groups"
bad 400 "$A" POST /v1/instances "{\"name\":\"x\",$I,\"security_groups\":[\"web\",\"web\"]}" "twice"
bad 400 "$A" POST /v1/instances "{\"name\":\"x\",$I,\"security_groups\":[1]}" "security_groups[0]"
bad 422 "$A" POST /v1/instances "{\"name\":\"x\",$I,\"ssh_keys\":[\"missing\"]}" "no SSH key missing"
bad 400 "$A" POST /v1/instances "{\"name\":\"x\",$I,\"node_labels\":[]}" "node_labels"
bad 400 "$A" POST /v1/instances "{\"name\":\"x\",$I,\"node_labels\":{\"rack\":1}}" "node_labels.rack"
bad 400 "$A" POST /v1/instances "{\"name\":\"x\",$I,\"anti_affinity\":\"Not Valid\"}" "anti_affinity"
bad 403 "$A" POST /v1/instances "{\"name\":\"x\",$I,\"account\":\"acct-admin\"}" "only admin keys"
bad 422 "$ADMIN" POST /v1/instances "{\"name\":\"x\",$I,\"account\":\"acct-nope\"}" "no account"
bad 404 "$A" GET /v1/instances/nope "no instance"
bad 404 "$B" POST /v1/instances/taken/stop "" "no instance"
bad 404 "$B" DELETE /v1/instances/taken "" "no instance"
bad 400 "$A" POST /v1/instances/taken/reboot '{"force":true}' "takes no fields"
bad 400 "$A" 'GET' '/v1/instances?limit=0' "" "limit"
bad 400 "$A" 'GET' '/v1/instances?colour=red' "" "unknown query parameter"

log "security groups and rules"
R=/v1/security-groups/web/rules
bad 400 "$A" POST /v1/security-groups '{"name":"UPPER"}' "name:"
bad 409 "$A" POST /v1/security-groups '{"name":"web"}' "exists"
bad 400 "$A" POST $R '{"direction":"sideways","protocol":"tcp","cidr":"0.0.0.0/0"}' "direction"
bad 400 "$A" POST $R '{"direction":"ingress","protocol":"gre","cidr":"0.0.0.0/0"}' "protocol"
bad 400 "$A" POST $R '{"direction":"ingress","protocol":"tcp","ports":"0","cidr":"0.0.0.0/0"}' "ports"
bad 400 "$A" POST $R '{"direction":"ingress","protocol":"tcp","ports":"90-80","cidr":"0.0.0.0/0"}' "ports"
bad 400 "$A" POST $R '{"direction":"ingress","protocol":"tcp","ports":"70000","cidr":"0.0.0.0/0"}' "ports"
bad 400 "$A" POST $R '{"direction":"ingress","protocol":"tcp","cidr":"10.0.0.1/8"}' "cidr"
bad 400 "$A" POST $R '{"direction":"ingress","protocol":"tcp","cidr":"300.1.2.3/32"}' "cidr"
bad 400 "$A" POST $R '{"direction":"ingress","protocol":"tcp","cidr":"10.0.0.0/33"}' "cidr"
bad 400 "$A" POST $R '{"direction":"ingress","protocol":"tcp"}' ""
bad 400 "$A" POST $R '{"direction":"ingress","protocol":"tcp","cidr":"0.0.0.0/0","group":"web"}' ""
bad 400 "$A" POST $R '{"direction":"ingress","protocol":"udp","icmp_type":8,"cidr":"0.0.0.0/0"}' "icmp_type"
bad 400 "$A" POST $R '{"direction":"ingress","protocol":"icmp","icmp_type":300,"cidr":"0.0.0.0/0"}' "icmp_type"
bad 400 "$A" POST $R '{"direction":"ingress","protocol":"icmp","cidr":"2001:db8::/32"}' ""
bad 400 "$A" POST $R '{"direction":"ingress","protocol":"tcp","cidr":"0.0.0.0/0","extra":1}' "unknown field"
bad 422 "$A" POST $R '{"direction":"ingress","protocol":"tcp","group":"other"}' "no security group other"
bad 404 "$B" POST $R '{"direction":"ingress","protocol":"tcp","cidr":"0.0.0.0/0"}' "no security group web"
bad 404 "$A" DELETE $R/rule-0000 "" "no rule"

log "SSH keys, templates, types, accounts, keys"
bad 400 "$A" POST /v1/ssh-keys '{"name":"g","public_key":"garbage"}' "public_key"
bad 400 "$A" POST /v1/ssh-keys '{"name":"g","public_key":"ssh-ed25519 !!!notbase64"}' "base64"
bad 400 "$A" POST /v1/ssh-keys '{"name":"g","public_key":"ssh-dss AAAAB3NzaC1kc3M= x"}' "unknown key type"
bad 400 "$A" POST /v1/ssh-keys '{"name":"g","public_key":"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA== x"}' "32 bytes"
bad 400 "$A" POST /v1/ssh-keys '{"name":"g","public_key":"ssh-rsa AAAAC3NzaC1lZDI1NTE5 x"}' ""
bad 409 "$A" POST /v1/ssh-keys "{\"name\":\"k\",\"public_key\":\"$KEY\"}" "exists"
bad 400 "$A" POST /v1/templates '{"name":"t","format":"vmdk","url":"http://x/y","sha256":"'"$(printf %064d 0)"'"}' "format"
bad 400 "$A" POST /v1/templates '{"name":"t","format":"raw","url":"ftp://x/y","sha256":"'"$(printf %064d 0)"'"}' "url"
bad 400 "$A" POST /v1/templates '{"name":"t","format":"raw","url":"http://x/y","sha256":"abc"}' "sha256"
bad 400 "$A" POST /v1/templates '{"name":"t","format":"raw","url":"http://x/y","sha256":"'"$(printf %064d 0)"'","initrd":{}}' "initrd"
bad 403 "$A" POST /v1/templates '{"name":"t","format":"raw","url":"http://x/y","sha256":"'"$(printf %064d 0)"'","public":true}' "only admin keys"
bad 409 "$ADMIN" DELETE /v1/templates/tiny "" "used by"
bad 403 "$A" PUT /v1/instance-types/huge '{"vcpus":1,"memory_mib":1,"disk_gib":1}' ""
bad 400 "$ADMIN" PUT /v1/instance-types/huge '{"vcpus":0,"memory_mib":1,"disk_gib":1}' "vcpus"
bad 400 "$ADMIN" PUT /v1/instance-types/huge '{"vcpus":1,"memory_mib":99999999999,"disk_gib":1}' "memory_mib"
bad 403 "$A" POST /v1/accounts '{"name":"mine"}' ""
bad 409 "$ADMIN" POST /v1/accounts '{"name":"alpha"}' "exists"
bad 403 "$A" POST /v1/api-keys '{"role":"admin"}' "only admin keys"
bad 404 "$B" DELETE "/v1/api-keys/$(sed -n 's/^key = //p' "$A")" "" "no active key"
bad 404 "$B" GET /v1/accounts/alpha "" "no account"

log "watch and reports"
bad 400 "$ADMIN" GET "/v1/nodes/$N1/desired-state?revision=-1" "" "revision"
bad 400 "$ADMIN" GET "/v1/nodes/$N1/desired-state?wait=0" "" "wait"
bad 400 "$ADMIN" GET "/v1/nodes/$N1/desired-state?wait=61" "" "wait"
bad 404 "$ADMIN" GET "/v1/nodes/n-nope/desired-state" "" "no node"
bad 403 "$A" GET "/v1/nodes/$N1/desired-state" "" ""
bad 400 "$ADMIN" PUT "/v1/nodes/$N1/actual-state" '{"instances":{}}' "instances"
bad 400 "$ADMIN" PUT "/v1/nodes/$N1/actual-state" '{"instances":[{"id":1}]}' "instances[0]"

after=$(snapshot)
[ "$before" = "$after" ] || fail "bad requests changed the database: $(diff <(echo "$before") <(echo "$after") | head -20)"
[ "$n" -ge 40 ] || fail "only $n bad requests"
kill -0 "$CC_PID" || fail "the controller died"
log "ok: $n bad requests refused, nothing changed"
