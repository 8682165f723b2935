# lib.sh -- shared helpers for the shell test cases (source it; bash only)
#
# Every case: `. "$ROOT/tests/lib.sh"`, then create what it needs with the
# helpers below; everything registered with cleanup_add is undone on exit in
# reverse order, whatever happens. Test networks use the documentation ranges
# 192.0.2.0/24, 198.51.100.0/24 and 203.0.113.0/24 inside namespaces the test
# creates, and have no route out.
set -euo pipefail

ROOT="${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
OUT="${OUT:-$ROOT/out}"
TEST_NAME="$(basename "$0" .sh)"
TEST_TMP="$(mktemp -d "/tmp/cloudd-test.$TEST_NAME.XXXXXX")"
# short unique suffix for interface and namespace names (IFNAMSIZ is 16)
TEST_ID="$(printf '%04x' $(($$ % 65536)))"

_cleanups=()
cleanup_add() { _cleanups+=("$*"); }
_run_cleanups() {
	local rc=$? i
	for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do
		eval "${_cleanups[$i]}" >/dev/null 2>&1 || true
	done
	if [ "${KEEP:-0}" = 1 ] || [ "$rc" -ne 0 ]; then
		echo "test files kept in $TEST_TMP" >&2
	else
		rm -rf "$TEST_TMP"
	fi
	exit "$rc"
}
trap _run_cleanups EXIT
trap 'exit 130' INT TERM

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
skip() { echo "$*"; exit 77; }

# wait_for SECONDS DESCRIPTION CMD...: poll CMD every 0.2 s until it succeeds.
wait_for() {
	local limit="$1" what="$2"; shift 2
	local deadline=$((SECONDS + limit))
	while ! "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$deadline" ] || fail "timed out after ${limit}s waiting for: $what"
		sleep 0.2
	done
}

# netns_add NAME: a namespace with loopback up, deleted on exit (with its processes).
netns_add() {
	local ns="$1"
	ip netns add "$ns"
	cleanup_add "netns_del $ns"
	ip -n "$ns" link set lo up
}
netns_del() {
	local ns="$1" pids
	pids=$(ip netns pids "$ns" 2>/dev/null || true)
	[ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
	ip netns del "$ns" 2>/dev/null || true
}

# in_ns NS CMD...: run CMD in the namespace
in_ns() { local ns="$1"; shift; ip netns exec "$ns" "$@"; }

# bg_ns NS LOGFILE CMD...: start CMD in the background in NS; killed on exit.
# Prints the pid.
bg_ns() {
	local ns="$1" logf="$2"; shift 2
	ip netns exec "$ns" "$@" >"$logf" 2>&1 &
	local pid=$!
	cleanup_add "kill -9 $pid"
	echo "$pid"
}

require_root() { [ "$(id -u)" -eq 0 ] || skip "needs root"; }
require_cmd() {
	local c
	for c in "$@"; do command -v "$c" >/dev/null || fail "missing command $c (./build.sh deps installs it)"; done
}

# --- requests to a node's cloudd (port 8081) ----------------------------------------
#
# Only /health and /metrics answer anonymous callers; everything else needs a
# request signed as the controller signs it (docs/api.md). Cases that run
# cloudd without a controller give it a key file (api-key-file) and sign with
# it; tests/nodesign.py makes the Authorization header.

# node_key_new FILE [KEY-ID]: a new api-key-file (mode 0600) with a random secret
node_key_new() {
	(umask 077 && printf 'key = %s\nsecret = %s\n' "${2:-ak-test-$TEST_ID}" "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$1")
}

# node_auth [--key-file FILE | --db DB --node ID] [NODESIGN-OPTIONS..] METHOD URL: the Authorization value
# (default key file: $NODE_KEY_FILE)
node_auth() {
	case "${1:-}" in --key-file | --db) ;; *) set -- --key-file "$NODE_KEY_FILE" "$@" ;; esac
	python3 "$ROOT/tests/nodesign.py" "$@"
}

# node_curl NS URL [CURL-ARGS..]: GET URL from namespace NS (or "" for here),
# signed with $NODE_KEY_FILE
node_curl() {
	local ns="$1" url="$2" auth
	shift 2
	auth=$(node_auth GET "$url") || return 1
	if [ -n "$ns" ]; then
		in_ns "$ns" curl -H "Authorization: $auth" "$@" "$url"
	else
		curl -H "Authorization: $auth" "$@" "$url"
	fi
}
