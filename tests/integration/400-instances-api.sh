#!/usr/bin/env bash
# cloud-controller instances without VMs: accounts and keys, scheduling and its explanations, IPAM, isolation, desired-state watch and actual-state reports
# timeout: 240
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/integration/controller-lib.sh"
. "$ROOT/tests/integration/instances-lib.sh"
require_root
require_cmd python3 curl jq ssh-keygen sqlite3
[ -x "$CC_BIN" ] || fail "no $CC_BIN (./build.sh cloudd)"

cc_start --heartbeat-interval 60 --down-after 600 --url http://127.0.0.1:8080 \
	--guest-subnet 198.51.100.0/24 --guest-gateway 198.51.100.1 --guest-dns 198.51.100.1
fake_nodes_prepare

log "two simulated nodes enroll through the real registration (1 CPU/1 GiB/20 GiB and 4 CPUs/4 GiB/100 GiB)"
fake_node n-small 52:54:00:00:40:01 1 1024 20 '{"rack":"r1"}'
N1=$FN_ID N1_KEY=$FN_KEY N1_SECRET=$FN_SECRET
fake_node n-big 52:54:00:00:40:02 4 4096 100 '{"rack":"r2"}'
N2=$FN_ID N2_KEY=$FN_KEY N2_SECRET=$FN_SECRET

log "accounts and their keys; a user key cannot manage accounts"
tenant alpha; ALPHA=$TENANT_CONF
tenant beta; BETA=$TENANT_CONF
CLOUDD_CONFIG=$ALPHA api_expect 403 POST /v1/accounts '{"name":"gamma"}' >/dev/null
CLOUDD_CONFIG=$ALPHA api_expect 403 GET /v1/accounts >/dev/null
ctl account list | grep -qw alpha || fail "cloudctl account list (admin) does not show alpha"

log "a public template (admin), an SSH key and a security group (alpha)"
public_template tiny
key=$(ssh_pub)
CLOUDD_CONFIG=$ALPHA api_expect 201 POST /v1/ssh-keys "{\"name\":\"me\",\"public_key\":\"$key\"}" >/dev/null
sg=$(CLOUDD_CONFIG=$ALPHA api_expect 201 POST /v1/security-groups '{"name":"web"}' | jq -r .id)
CLOUDD_CONFIG=$ALPHA api_expect 201 POST /v1/security-groups/web/rules '{"direction":"ingress","protocol":"tcp","ports":"22","group":"web"}' >/dev/null

log "watch: a node gets its document at once, then 204 after the wait"
doc=$(node_watch "$N2" "$N2_KEY" "$N2_SECRET" "")
rev0=$(jq -r .revision <<<"$doc")
# the first node to watch takes the first free address: .1 is the gateway
[ "$(jq -r .network.address <<<"$doc")" = 198.51.100.2/24 ] || fail "the first node to watch is not 198.51.100.2/24: $doc"
jq -e '.network.bridge == "brguest" and .network.uplink == "eth1" and .network.gateway == "198.51.100.1"' <<<"$doc" >/dev/null ||
	fail "network section: $doc"
out=$(api GET "/v1/nodes/$N2/desired-state?revision=$rev0&wait=1" --key "$N2_KEY" --secret "$N2_SECRET")
[ "$(head -1 <<<"$out")" = 204 ] || fail "an unchanged revision did not get 204 after the wait: $out"
api_expect 403 GET "/v1/nodes/$N1/desired-state" --key "$N2_KEY" --secret "$N2_SECRET" >/dev/null

log "a held watch returns as soon as an instance lands on its node; other requests are served meanwhile"
api GET "/v1/nodes/$N2/desired-state?revision=$rev0&wait=30" --key "$N2_KEY" --secret "$N2_SECRET" >"$TEST_TMP/held" &
held=$!
sleep 0.5
in_ns "$CC_NS" curl -sf --max-time 2 http://127.0.0.1:8080/health >/dev/null || fail "/health not answered while a watch is held"
out=$(CLOUDD_CONFIG=$ALPHA api_expect 202 POST /v1/instances \
	"{\"name\":\"a1\",\"type\":\"small\",\"template\":\"tiny\",\"security_groups\":[\"web\"],\"ssh_keys\":[\"me\"],\"user_data\":\"#cloud-config\\n\"}")
A1=$(jq -r .instance.id <<<"$out"); OP1=$(jq -r .operation.id <<<"$out")
[ "$(jq -r .instance.node <<<"$out")" = "$N2" ] || fail "512 MiB went to $(jq -r .instance.node <<<"$out"), not the node with room ($N2)"
wait "$held"
[ "$(head -1 "$TEST_TMP/held")" = 200 ] || fail "the held watch did not return the new document: $(head -c 300 "$TEST_TMP/held")"
doc=$(tail -n +2 "$TEST_TMP/held")
[ "$(jq -r .revision <<<"$doc")" -gt "$rev0" ] || fail "revision did not increase"
jq -e --arg id "$A1" --arg sg "$sg" '.instances[] | select(.id == $id) | .power == "running" and .memory_mib == 512
	and (.nics[0].security_groups == [$sg]) and (.cloud_init.ssh_keys | length) == 1' <<<"$doc" >/dev/null ||
	fail "instance in the document: $doc"
jq -e --arg sg "$sg" '.security_groups[] | select(.id == $sg) | (.members | length) == 1 and .rules[0].group == $sg' <<<"$doc" >/dev/null ||
	fail "security group in the document: $doc"
jq -e '.templates[0].sha256 | length == 64' <<<"$doc" >/dev/null || fail "template in the document: $doc"

log "the actual-state report drives the instance state and its operation"
[ "$(CLOUDD_CONFIG=$ALPHA api_expect 200 GET /v1/instances/a1 | jq -r .state)" = pending ] || fail "state before a report"
report "$N2" "$N2_KEY" "$N2_SECRET" "[{\"id\":\"$A1\",\"desired\":\"running\",\"status\":\"running\"}]"
[ "$(CLOUDD_CONFIG=$ALPHA api_expect 200 GET /v1/instances/a1 | jq -r .state)" = running ] || fail "state after a running report"
[ "$(CLOUDD_CONFIG=$ALPHA api_expect 200 GET /v1/operations/$OP1 | jq -r .state)" = success ] || fail "create operation not success"
report "$N2" "$N2_KEY" "$N2_SECRET" "[{\"id\":\"$A1\",\"desired\":\"running\",\"status\":\"error\",\"error\":\"qemu exited with status 1\"}]"
out=$(CLOUDD_CONFIG=$ALPHA api_expect 200 GET /v1/instances/a1)
[ "$(jq -r .state <<<"$out")" = error ] && grep -q "qemu exited" <<<"$out" || fail "error state with reason: $out"

log "isolation: beta sees and changes nothing of alpha's"
CLOUDD_CONFIG=$BETA api_expect 404 GET "/v1/instances/$A1" >/dev/null
CLOUDD_CONFIG=$BETA api_expect 404 DELETE "/v1/instances/$A1" >/dev/null
CLOUDD_CONFIG=$BETA api_expect 404 POST "/v1/instances/$A1/stop" >/dev/null
CLOUDD_CONFIG=$BETA api_expect 404 GET "/v1/security-groups/$sg" >/dev/null
CLOUDD_CONFIG=$BETA api_expect 404 GET "/v1/operations/$OP1" >/dev/null
[ "$(CLOUDD_CONFIG=$BETA api_expect 200 GET /v1/instances | jq '.items | length')" = 0 ] || fail "beta lists alpha's instances"
CLOUDD_CONFIG=$BETA api_expect 422 POST /v1/instances "{\"name\":\"b1\",\"type\":\"tiny\",\"template\":\"tiny\",\"security_groups\":[\"$sg\"]}" >/dev/null
CLOUDD_CONFIG=$BETA api_expect 202 POST /v1/instances '{"name":"a1","type":"tiny","template":"tiny"}' >/dev/null # names are per account
[ "$(api_expect 200 GET /v1/instances | jq '.items | length')" = 2 ] || fail "admin does not see every account's instances"

log "scheduling: too big for any node is refused; full nodes fail the operation with a reason per node"
out=$(CLOUDD_CONFIG=$ALPHA api_expect 422 POST /v1/instances '{"name":"huge","type":"large","template":"tiny"}')
grep -q "fits no node" <<<"$out" || fail "type too big: $out"
api_expect 200 PUT /v1/instance-types/m3 '{"vcpus":1,"memory_mib":3072,"disk_gib":1}' >/dev/null
out=$(CLOUDD_CONFIG=$ALPHA api_expect 202 POST /v1/instances '{"name":"m3","type":"m3","template":"tiny"}')
[ "$(jq -r .instance.node <<<"$out")" = "$N2" ] || fail "3 GiB did not go to $N2: $out"
out=$(CLOUDD_CONFIG=$ALPHA api_expect 202 POST /v1/instances '{"name":"m3b","type":"m3","template":"tiny"}')
[ "$(jq -r .operation.state <<<"$out")" = failure ] || fail "no room but the operation did not fail: $out"
reason=$(jq -r .operation.reason <<<"$out")
grep -q "no node with 3 GiB free: " <<<"$reason" && grep -q "$N1 1 GiB free" <<<"$reason" && grep -q "$N2 " <<<"$reason" ||
	fail "reason does not explain each node: $reason"
CLOUDD_CONFIG=$ALPHA api_expect 404 GET /v1/instances/m3b >/dev/null

log "labels and anti-affinity"
out=$(CLOUDD_CONFIG=$ALPHA api_expect 202 POST /v1/instances '{"name":"r1","type":"tiny","template":"tiny","node_labels":{"rack":"r1"}}')
[ "$(jq -r .instance.node <<<"$out")" = "$N1" ] || fail "rack=r1 did not go to $N1: $out"
n_a=$(CLOUDD_CONFIG=$ALPHA api_expect 202 POST /v1/instances '{"name":"db1","type":"tiny","template":"tiny","anti_affinity":"db"}' | jq -r .instance.node)
n_b=$(CLOUDD_CONFIG=$ALPHA api_expect 202 POST /v1/instances '{"name":"db2","type":"tiny","template":"tiny","anti_affinity":"db"}' | jq -r .instance.node)
[ "$n_a" != "$n_b" ] || fail "anti-affinity: both on $n_a"
reason=$(CLOUDD_CONFIG=$ALPHA api_expect 202 POST /v1/instances '{"name":"db3","type":"tiny","template":"tiny","anti_affinity":"db"}' | jq -r .operation.reason)
grep -q anti-affinity <<<"$reason" || fail "third anti-affine instance: $reason"

log "IPAM: 16 concurrent creates get 16 distinct addresses, none of them a node's or the gateway"
n1_addr=$(node_watch "$N1" "$N1_KEY" "$N1_SECRET" "" | jq -r .network.address) # N1's first watch: its address
[ "$n1_addr" != null ] && [ "$n1_addr" != 198.51.100.2/24 ] || fail "$N1's guest address: $n1_addr"
for i in $(seq 1 16); do
	CLOUDD_CONFIG=$BETA api POST /v1/instances "{\"name\":\"p$i\",\"type\":\"tiny\",\"template\":\"tiny\"}" >"$TEST_TMP/p$i" &
done
wait
for i in $(seq 1 16); do [ "$(head -1 "$TEST_TMP/p$i")" = 202 ] || fail "concurrent create $i: $(cat "$TEST_TMP/p$i")"; done
addrs=$(api_expect 200 GET '/v1/instances?limit=1000' | jq -r '.items[] | select(.ipv4) | .ipv4')
[ "$(sort <<<"$addrs" | uniq -d)" = "" ] || fail "an address was handed out twice: $(sort <<<"$addrs" | uniq -d)"
node_addrs=$(in_ns "$CC_NS" sqlite3 "$CC_DATA/controller.db" "SELECT guest_address FROM nodes WHERE guest_address IS NOT NULL") ||
	fail "cannot read the nodes' guest addresses from the database"
# both nodes have watched by now: each holds one address, and no instance has it
[ "$(sort <<<"$node_addrs" | tr '\n' ' ')" = "$(printf '%s\n' 198.51.100.2 "${n1_addr%/*}" | sort | tr '\n' ' ')" ] ||
	fail "the nodes' guest addresses are \"$node_addrs\", not 198.51.100.2 and ${n1_addr%/*}"
for a in $node_addrs 198.51.100.1; do grep -qx "$a" <<<"$addrs" && fail "$a given to an instance"; done

log "stop, start, reboot, delete: operations follow the reports; delete releases the address at once"
ip1=$(CLOUDD_CONFIG=$ALPHA api_expect 200 GET /v1/instances/a1 | jq -r .ipv4)
op=$(CLOUDD_CONFIG=$ALPHA api_expect 202 POST /v1/instances/a1/stop | jq -r .operation.id)
doc=$(node_watch "$N2" "$N2_KEY" "$N2_SECRET" "")
jq -e --arg id "$A1" '.instances[] | select(.id == $id) | .power == "stopped"' <<<"$doc" >/dev/null || fail "stop not in the document"
report "$N2" "$N2_KEY" "$N2_SECRET" "[{\"id\":\"$A1\",\"desired\":\"stopped\",\"status\":\"stopped\"}]"
[ "$(CLOUDD_CONFIG=$ALPHA api_expect 200 GET /v1/operations/$op | jq -r .state)" = success ] || fail "stop operation"
CLOUDD_CONFIG=$ALPHA api_expect 409 POST /v1/instances/a1/reboot >/dev/null
CLOUDD_CONFIG=$ALPHA api_expect 202 POST /v1/instances/a1/start >/dev/null
report "$N2" "$N2_KEY" "$N2_SECRET" "[{\"id\":\"$A1\",\"desired\":\"running\",\"status\":\"running\"}]"
# a reboot raises the instance's reboot generation: the node resets the guest (same QEMU), it is never rendered stopped
op=$(CLOUDD_CONFIG=$ALPHA api_expect 202 POST /v1/instances/a1/reboot | jq -r .operation.id)
jq -e --arg id "$A1" '.instances[] | select(.id == $id) | .power == "running" and .reboot == 1' <<<"$(node_watch "$N2" "$N2_KEY" "$N2_SECRET" "")" >/dev/null ||
	fail "a rebooting instance is not rendered running with reboot generation 1"
[ "$(CLOUDD_CONFIG=$ALPHA api_expect 200 GET /v1/instances/a1 | jq -r .rebooting)" = true ] || fail "a reboot under way is not shown"
report "$N2" "$N2_KEY" "$N2_SECRET" "[{\"id\":\"$A1\",\"desired\":\"running\",\"status\":\"running\",\"reboot\":0}]"
[ "$(CLOUDD_CONFIG=$ALPHA api_expect 200 GET /v1/operations/$op | jq -r .state)" = pending ] || fail "reboot done before the node reset the guest"
report "$N2" "$N2_KEY" "$N2_SECRET" "[{\"id\":\"$A1\",\"desired\":\"running\",\"status\":\"running\",\"reboot\":1}]"
[ "$(CLOUDD_CONFIG=$ALPHA api_expect 200 GET /v1/operations/$op | jq -r .state)" = success ] || fail "reboot operation"
[ "$(CLOUDD_CONFIG=$ALPHA api_expect 200 GET /v1/instances/a1 | jq -r .rebooting)" = null ] || fail "still rebooting after the node reported the generation"
jq -e --arg id "$A1" '.instances[] | select(.id == $id) | .power == "running" and .reboot == 1' <<<"$(node_watch "$N2" "$N2_KEY" "$N2_SECRET" "")" >/dev/null ||
	fail "the reboot generation is not kept in the document"
op=$(CLOUDD_CONFIG=$ALPHA api_expect 202 DELETE /v1/instances/a1 | jq -r .operation.id)
out=$(CLOUDD_CONFIG=$ALPHA api_expect 200 GET "/v1/instances/$A1")
[ "$(jq -r .ipv4 <<<"$out")" = null ] && [ "$(jq -r .state <<<"$out")" = deleting ] || fail "deleted instance: $out"
in_ns "$CC_NS" sqlite3 "$CC_DATA/controller.db" "SELECT count(*) FROM ip_addresses WHERE address = '$ip1'" 2>/dev/null | grep -qx 0 ||
	fail "$ip1 still allocated after delete"
doc=$(node_watch "$N2" "$N2_KEY" "$N2_SECRET" "")
jq -e --arg id "$A1" '.instances[] | select(.id == $id) | .power == "deleted" and .delete_volumes == true' <<<"$doc" >/dev/null ||
	fail "deleted instance not in the document as deleted"
CLOUDD_CONFIG=$ALPHA api_expect 202 POST /v1/instances '{"name":"a1","type":"tiny","template":"tiny"}' >/dev/null # the name is free again
report "$N2" "$N2_KEY" "$N2_SECRET" "[]"
CLOUDD_CONFIG=$ALPHA api_expect 404 GET "/v1/instances/$A1" >/dev/null
[ "$(CLOUDD_CONFIG=$ALPHA api_expect 200 GET /v1/operations/$op | jq -r .state)" = success ] || fail "delete operation"

log "instance states are unknown when their node is not up"
in_ns "$CC_NS" sqlite3 "$CC_DATA/controller.db" "UPDATE nodes SET state = 'down' WHERE id = '$N1'" ||
	fail "cannot mark $N1 down in the database"
# a write through the API invalidates cached answers
CLOUDD_CONFIG=$ALPHA api_expect 201 POST /v1/security-groups '{"name":"touch"}' >/dev/null
[ "$(CLOUDD_CONFIG=$ALPHA api_expect 200 GET /v1/instances/r1 | jq -r .state)" = unknown ] || fail "instance on a down node is not unknown"
kill -0 "$CC_PID" || fail "the controller died"

log "stopping the controller answers held watches (204) first"
rev=$(node_watch "$N2" "$N2_KEY" "$N2_SECRET" "" | jq -r .revision)
api GET "/v1/nodes/$N2/desired-state?revision=$rev&wait=50" --key "$N2_KEY" --secret "$N2_SECRET" >"$TEST_TMP/held" &
held=$!
watch_held() { in_ns "$CC_NS" ss -Htn state established '( dport = :8080 )' | grep -q .; }
wait_for 10 "the watch to be held" watch_held
cc_stop
wait "$held" || true
[ "$(head -1 "$TEST_TMP/held")" = 204 ] || fail "a held watch got \"$(head -c 200 "$TEST_TMP/held")\" when the controller stopped"
log "ok"
