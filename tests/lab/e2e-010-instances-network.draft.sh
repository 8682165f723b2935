#!/usr/bin/env bash
# two instances in one security group reach each other on the allowed port and not on another; a new rule reaches the nodes; stop/start; another tenant is kept out; a controller restart restarts no guest
# DRAFT, not a test case (tests/run.sh does not run it): on one run every check up to stop/start passed
# (a delete then stayed "deleting" for 120 s); on the next, a reached b on a port no rule allows.
# Both need a look before this moves to tests/e2e/010-instances-network.sh.
# timeout: 900
. "$ROOT/tests/lib.sh"
. "$ROOT/tests/e2e/lib-e2e.sh"

P=7070	# the lab guest answers on P and P+1
e2e_lab_up 2

tenant alpha; ALPHA=$TENANT_CONF
tenant beta; BETA=$TENANT_CONF
AS=$ALPHA api_ok 201 POST /v1/security-groups '{"name":"web"}' >/dev/null
AS=$ALPHA api_ok 201 POST /v1/security-groups/web/rules "{\"direction\":\"ingress\",\"protocol\":\"tcp\",\"ports\":\"$P\",\"group\":\"web\"}" >/dev/null
AS=$BETA api_ok 201 POST /v1/security-groups '{"name":"other"}' >/dev/null

# b answers; a probes b on P and P+1; c (the other tenant) probes b on P
B=$(inst_create "$ALPHA" b web "")
BIP=$(inst_field "$B" ipv4)
A=$(inst_create "$ALPHA" a web "$(printf 'probe %s %s\nprobe %s %s\n' "$BIP" $P "$BIP" $((P + 1)))")
C=$(inst_create "$BETA" c other "$(printf 'probe %s %s\n' "$BIP" $P)")
log "instances: a $A on $(inst_field "$A" node), b $B ($BIP) on $(inst_field "$B" node), c $C on $(inst_field "$C" node)"
for i in "$A" "$B" "$C"; do
	wait_for 300 "instance $i running ($(inst_field "$i" state_reason))" inst_state_is "$i" running
done
wait_for 300 "b's console marker through the API" console_has "$B" "lab-guest: ready $BIP"

wait_for 300 "a reaches b on $P" console_has "$A" "probe $BIP:$P open"
wait_for 120 "a's probe of b on $((P + 1))" console_has "$A" "probe $BIP:$((P + 1)) closed"
console_has "$A" "probe $BIP:$((P + 1)) open" && fail "a reached b on $((P + 1)), which no rule allows"
wait_for 120 "c's probe of b" console_has "$C" "probe $BIP:$P closed"
console_has "$C" "probe $BIP:$P open" && fail "the other tenant's instance reached b on $P"
log "a reaches b on $P, not on $((P + 1)); c (tenant beta) does not reach b"

# a new rule reaches the nodes
t0=$(date +%s.%N)
AS=$ALPHA api_ok 201 POST /v1/security-groups/web/rules "{\"direction\":\"ingress\",\"protocol\":\"tcp\",\"ports\":\"$((P + 1))\",\"group\":\"web\"}" >/dev/null
wait_for 120 "a reaches b on $((P + 1)) after the new rule" console_has "$A" "probe $BIP:$((P + 1)) open"
log "rule added: a reaches b on $((P + 1)) after $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s (guest probes once a second)"

# a controller restart restarts nothing on the nodes
pids_of() {
	local node addr
	node=$(inst_field "$1" node)
	addr=$(jget "$(api_ok 200 GET "/v1/nodes/$node")" 'd["address"]')
	ip netns exec "$LAB_NS" curl -sf "http://$addr:8081/v1/state" |
		python3 -c 'import json, sys; print(" ".join("%s=%s" % (i["id"], i.get("pid")) for i in json.load(sys.stdin)["instances"]))'
}
before="$(pids_of "$A") $(pids_of "$B")"
log "restarting the controller"
CLOUDD_OUT="$OUT" "$ROOT/tests/lab/lab.sh" restart-controller >/dev/null
nodes_up() { [ "$(api_ok 200 GET /v1/nodes | grep -o '"state": *"up"' | wc -l)" -ge 2 ]; }
wait_for 60 "both nodes up again" nodes_up
wait_for 60 "a running per the controller" inst_state_is "$A" running
after="$(pids_of "$A") $(pids_of "$B")"
[ "$before" = "$after" ] || fail "guests restarted across a controller restart: before [$before], after [$after]"
inst_state_is "$A" running || fail "a is $(inst_field "$A" state) after the controller restart"
log "controller restarted; guest pids unchanged: $after"

# stop and start
closed_count() { api GET "/v1/instances/$A/console" | grep -ac "probe $BIP:$P closed" || true; }
closed_more() { [ "$(closed_count)" -gt "$closed_before" ]; }
closed_before=$(closed_count)
api_ok "20[02]" POST "/v1/instances/$B/stop" >/dev/null
wait_for 120 "b stopped" inst_state_is "$B" stopped
wait_for 60 "a no longer reaches the stopped b" closed_more
api_ok "20[02]" POST "/v1/instances/$B/start" >/dev/null
wait_for 300 "b running again" inst_state_is "$B" running
log "ok"
