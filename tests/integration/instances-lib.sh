# instances-lib.sh -- simulated nodes and tenants for the instance API tests (source after controller-lib.sh; not a test case)
#
# fake_nodes_prepare: publishes a fake image so that boot scripts carry tokens.
# fake_node NAME MAC CPUS MEM_MIB DISK_GIB [LABELS]: a machine and a node that enrolled through
#   POST /v1/nodes/register with that sysinfo; sets FN_ID, FN_KEY, FN_SECRET.
# tenant NAME: an account and a user key; TENANT_CONF is a cloudctl config file for it.
# public_template NAME: a public qcow2 template (admin).
# ssh_pub: a fresh ed25519 public key line.
# node_watch NODE KEY SECRET QUERY: the node's desired-state document (200 expected).
# report NODE KEY SECRET INSTANCES_JSON: PUT actual-state with those instances (204 expected).

fake_nodes_prepare() {
	make_image_dir "$TEST_TMP/img" v1
	ctl images publish "$TEST_TMP/img" >/dev/null || fail "publishing the image failed"
}

fake_node() {
	local name="$1" mac="$2" cpus="$3" mem="$4" disk="$5" labels="${6:-{\}}" token out
	api_expect 201 POST /v1/machines "{\"mac\":\"$mac\",\"name\":\"$name\",\"role\":\"hypervisor\",\"labels\":$labels}" >/dev/null
	token=$(api GET "/boot.ipxe?mac=$mac" --unsigned | sed -n 's/.*cloud\.token=\([0-9a-f]*\).*/\1/p' | tail -1)
	[ -n "$token" ] || fail "no token for $mac"
	out=$(api_expect 201 POST /v1/nodes/register "{\"token\":\"$token\",\"sysinfo\":{\"boot_mac\":\"$mac\",\"hostname\":\"$name\",
		\"cpu\":{\"count\":$cpus},\"memory\":{\"total_bytes\":$((mem * 1048576))},
		\"block_devices\":[{\"name\":\"vda\",\"size_bytes\":$((disk * 1073741824)),\"removable\":false,\"read_only\":false}]}}" --unsigned)
	FN_ID=$(jq -r .node_id <<<"$out"); FN_KEY=$(jq -r .key <<<"$out"); FN_SECRET=$(jq -r .secret <<<"$out")
}

tenant() {
	local out
	api_expect 201 POST /v1/accounts "{\"name\":\"$1\"}" >/dev/null
	out=$(api_expect 201 POST /v1/api-keys "{\"account\":\"$(api_expect 200 GET "/v1/accounts/$1" | jq -r .id)\"}")
	TENANT_CONF="$TEST_TMP/$1.conf"
	printf 'url = http://127.0.0.1:8080\nkey = %s\nsecret = %s\n' "$(jq -r .id <<<"$out")" "$(jq -r .secret <<<"$out")" >"$TENANT_CONF"
}

public_template() {
	api_expect 201 POST /v1/templates "{\"name\":\"$1\",\"format\":\"qcow2\",\"url\":\"http://203.0.113.80:8080/t/$1.qcow2\",
		\"sha256\":\"$(printf %s "$1" | sha256sum | cut -c1-64)\",\"size\":1048576,\"public\":true}" >/dev/null
}

ssh_pub() {
	rm -f "$TEST_TMP/sshkey" "$TEST_TMP/sshkey.pub"
	ssh-keygen -q -t ed25519 -N '' -C test@example -f "$TEST_TMP/sshkey" >/dev/null
	cat "$TEST_TMP/sshkey.pub"
}

node_watch() {
	local q="${4:-}"
	api_expect 200 GET "/v1/nodes/$1/desired-state${q:+?$q}" --key "$2" --secret "$3"
}

report() {
	api_expect 204 PUT "/v1/nodes/$1/actual-state" "{\"revision\":1,\"instances\":$4}" --key "$2" --secret "$3" >/dev/null
}
