#!/usr/bin/env bash
# two tenants on a 2-node lab through cloudctl: a group's port reaches across nodes and no other, a new rule applies on both nodes, leaving the group cuts access, the other tenant is kept out, a controller restart restarts no guest, delete c, stop/start, a node's power cut (instances unknown, node down) and its return (instances running, data kept), delete
# timeout: 3000
. "$ROOT/tests/lib.sh"
. "$ROOT/tests/e2e/lib-e2e.sh"

P=7070 # the lab guest answers on P and P+1 (tests/lab/lab.sh)
e2e_lab_up 2

tenant alpha
tenant beta
ALPHA="$TEST_TMP/alpha.conf" BETA="$TEST_TMP/beta.conf"
AS=$ALPHA cctl security-group create web >/dev/null || fail "security-group create web"
AS=$ALPHA cctl security-group rule add web --direction ingress --protocol tcp --ports $P --group web >/dev/null ||
	fail "rule add web tcp $P"
AS=$ALPHA cctl security-group create plain >/dev/null || fail "security-group create plain" # no rules
AS=$BETA cctl security-group create other >/dev/null || fail "security-group create other"

# b answers; a (on the other node: anti-affinity) probes b on P and P+1; c, of tenant beta, probes b on P
AS=$ALPHA cctl instance create b --type lab-tiny --template lab-tiny --security-group web --anti-affinity pair \
	>"$TEST_TMP/b.out" || fail "create b: $(cat "$TEST_TMP/b.out")"
BIP=$(AS=$ALPHA inst_field b ipv4)
printf 'probe %s %s\nprobe %s %s\n' "$BIP" $P "$BIP" $((P + 1)) >"$TEST_TMP/a.ud"
printf 'probe %s %s\n' "$BIP" $P >"$TEST_TMP/c.ud"
AS=$ALPHA cctl instance create a --type lab-tiny --template lab-tiny --security-group web --anti-affinity pair \
	--user-data "$TEST_TMP/a.ud" >/dev/null || fail "create a"
AS=$BETA cctl instance create c --type lab-tiny --template lab-tiny --security-group other \
	--user-data "$TEST_TMP/c.ud" >/dev/null || fail "create c"
A=$(AS=$ALPHA inst_field a id) B=$(AS=$ALPHA inst_field b id) C=$(AS=$BETA inst_field c id)
NA=$(node_of "$A") NB=$(node_of "$B")
[ "$NA" != "$NB" ] || fail "a and b share node $NA despite their anti-affinity group"
log "a $A on node $NA, b $B ($BIP) on node $NB, c $C (tenant beta) on node $(node_of "$C")"
AS=$BETA cctl instance show "$B" >/dev/null 2>&1 && fail "tenant beta sees tenant alpha's instance b"
for i in "$A" "$B" "$C"; do
	wait_for 900 "instance $i running" inst_state_is "$i" running
done
cctl instance list
wait_for 900 "b's console marker" console_has "$B" "lab-guest: ready $BIP"

# the group's port across nodes, and nothing else
wait_for 600 "a reaches b on $P" probe_is "$A" "$BIP" $P open
wait_for 120 "a's probe of b on $((P + 1))" probe_is "$A" "$BIP" $((P + 1)) closed
wait_for 120 "c's probe of b" probe_is "$C" "$BIP" $P closed
sleep 5
console_has "$A" "probe $BIP:$((P + 1)) open" && fail "a reached b on $((P + 1)), which no rule allows"
console_has "$C" "probe $BIP:$P open" && fail "tenant beta's c reached tenant alpha's b"
log "a reaches b on $P, not on $((P + 1)); c (tenant beta) does not reach b"

# a new rule: applied by both nodes, then a reaches b on P+1
at1=$(node_filters_at "$NA") at2=$(node_filters_at "$NB")
t0=$(date +%s.%N)
AS=$ALPHA cctl security-group rule add web --direction ingress --protocol tcp --ports $((P + 1)) --group web >/dev/null ||
	fail "rule add web tcp $((P + 1))"
applied() { [ "$(node_filters_at "$1")" != "$2" ]; }
wait_for 60 "node $NA applies the new rule" applied "$NA" "$at1"
tA=$(date +%s.%N)
wait_for 60 "node $NB applies the new rule" applied "$NB" "$at2"
tB=$(date +%s.%N)
wait_for 60 "a reaches b on $((P + 1)) after the new rule" probe_is "$A" "$BIP" $((P + 1)) open
tP=$(date +%s.%N)
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
log "rule added: applied by node $NA after $(secs "$t0" "$tA") s, node $NB after $(secs "$t0" "$tB") s (seen through their /v1/filters, polled every 0.2 s); a's probe (once a second) reports b:$((P + 1)) open after $(secs "$t0" "$tP") s"

# a leaves the group (for one without rules): it no longer reaches b; back in web, it does again
AS=$ALPHA cctl instance set-groups a plain >/dev/null || fail "set-groups a plain"
wait_for 60 "a loses access to b on $P once out of web" probe_is "$A" "$BIP" $P closed
AS=$ALPHA cctl instance set-groups a web >/dev/null || fail "set-groups a web"
wait_for 60 "a reaches b on $P again, back in web" probe_is "$A" "$BIP" $P open
log "a out of web: no access to b; back in web: access again"

# a controller restart restarts nothing on the nodes
before=$(guest_pids "$A" "$B" "$C")
lab restart-controller >/dev/null || fail "restarting the controller"
nodes_up() { [ "$(cctl -o json nodes list | grep -o '"state": *"up"' | wc -l)" -ge 2 ]; }
wait_for 60 "both nodes up again" nodes_up
wait_for 60 "a running per the restarted controller" inst_state_is "$A" running
after=$(guest_pids "$A" "$B" "$C")
[ -n "$before" ] && [ "$before" = "$after" ] || fail "guests restarted across a controller restart: before [$before], after [$after]"
log "controller restarted; guest pids unchanged: $(echo $after)"

# c has shown what it was for: deleted now, it takes no CPU from b's node
# (a guest nested in a TCG node boots in minutes when another one runs there)
AS=$BETA cctl instance delete c --wait >"$TEST_TMP/del.out" 2>&1 || fail "delete c --wait: $(tail -3 "$TEST_TMP/del.out")"
[ "$(AS=$BETA cctl -o json instance list | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))')" = 0 ] ||
	fail "tenant beta still lists instances after deleting c: $(AS=$BETA cctl instance list)"

# stop and start through cloudctl --wait
AS=$ALPHA cctl instance stop b --wait >"$TEST_TMP/stop.out" 2>&1 || fail "stop b --wait: $(tail -3 "$TEST_TMP/stop.out")"
inst_state_is "$B" stopped || fail "b is $(inst_field "$B" state) after stop --wait"
wait_for 60 "a no longer reaches the stopped b" probe_is "$A" "$BIP" $P closed
AS=$ALPHA cctl instance start b --wait >"$TEST_TMP/start.out" 2>&1 || fail "start b --wait: $(tail -3 "$TEST_TMP/start.out")"
wait_for 600 "a reaches b again after its start" probe_is "$A" "$BIP" $P open
log "b stopped (a's probe closed) and started (open again)"

# b's node loses power: the node goes down, b unknown; back, b runs again from its kept disk
boots=$(disk_boots "$B")
lab node-kill "$NB" >/dev/null || fail "killing node $NB"
node_is() { [ "$(jget "$(cctl_json nodes show "$1")" 'd["state"]')" = "$2" ]; }
wait_for 60 "b unknown once its node stops reporting" inst_state_is "$B" unknown
wait_for 120 "node $NB down" node_is "$(inst_field "$B" node)" down
inst_state_is "$A" running || fail "a, on the other node, is $(inst_field "$A" state) while node $NB is down"
log "node $NB killed: node down, b unknown, a still running"
lab node-start "$NB" >/dev/null || fail "starting node $NB"
wait_for 600 "node $NB up again" node_is "$(inst_field "$B" node)" up
wait_for 600 "b running again" inst_state_is "$B" running
boots_above() { [ "$(disk_boots "$1")" -gt "$2" ]; }
wait_for 1200 "b boots from its kept disk" boots_above "$B" "$boots"
wait_for 600 "a reaches b on $P after b's node came back" probe_is "$A" "$BIP" $P open
log "node $NB back: b running, disk boot $(disk_boots "$B") (data kept), a reaches it"

# delete: gone, and its address is free again
for i in "$A" "$B"; do
	cctl instance delete "$i" --wait >"$TEST_TMP/del.out" 2>&1 || fail "delete $i --wait: $(tail -3 "$TEST_TMP/del.out")"
done
[ "$(cctl -o json instance list | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))')" = 0 ] ||
	fail "instances left after delete: $(cctl instance list)"
log "ok"
