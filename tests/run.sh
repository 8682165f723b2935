#!/usr/bin/env bash
# run.sh -- run one test layer: unit (make check), or every case tests/LAYER/NNN-*.sh
# usage: tests/run.sh [--long] LAYER [CASE-PATTERN..]
#
# --long: the thorough variant of cases that have one (fuzz: each harness runs
# 300 s instead of 15 s); exported as CLOUDD_TEST_LONG=1, and a case's
# "# timeout-long: SECONDS" line then replaces its "# timeout:".
#
# Benchmarks (LAYER bench) are every tests/bench/*.sh but libraries (lib*.sh, *-lib.sh).
# A case is a script that exits 0 (pass), 77 (skipped, with the reason on its
# last line) or anything else (fail). Its output goes to out/test-logs/LAYER/;
# a failing case's log tail is printed. A line "# timeout: SECONDS" in a case
# overrides the default limit of 600 s. The last line printed is
# "LAYER: N passed, N failed[, N skipped]".
set -u
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${OUT:-$ROOT/out}"
export ROOT OUT
# the cases run Debian's programs (python3 with python3-scapy, qemu, nft, ...):
# its directories come first, before per-user shims (a pyenv shim costs a
# fraction of a second per call, and the cases poll with python3)
export PATH="/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
CLOUDD_TEST_LONG=0
if [ "${1:-}" = --long ]; then CLOUDD_TEST_LONG=1; shift; fi
export CLOUDD_TEST_LONG
layer="${1:?usage: tests/run.sh [--long] LAYER [CASE-PATTERN..]}"; shift

if [ "$layer" = unit ]; then
	make -s -C "$ROOT/cloudd" OUT="$OUT" ${MUSL_PREFIX:+MUSL_PREFIX="$MUSL_PREFIX"} check
	exit $?
fi

dir="$ROOT/tests/$layer"
[ -d "$dir" ] || { echo "run.sh: no test layer '$layer' (no directory $dir)" >&2; exit 100; }
logs="$OUT/test-logs/$layer"
mkdir -p "$logs"

passed=0 failed=0 skipped=0 failed_names=()
shopt -s nullglob
# test layers: NNN-name.sh cases; benchmarks: every script but lib*.sh
if [ "$layer" = bench ]; then cases=("$dir"/*.sh); else cases=("$dir"/[0-9]*.sh); fi
for t in "${cases[@]}"; do
	name="$(basename "$t" .sh)"
	case "$name" in lib* | *-lib) continue ;; esac
	if [ $# -gt 0 ]; then
		match=0
		for pat in "$@"; do case "$name" in *$pat*) match=1 ;; esac; done
		[ "$match" -eq 1 ] || continue
	fi
	limit=$(sed -n 's/^# timeout: *\([0-9][0-9]*\).*/\1/p' "$t" | head -1)
	if [ "$CLOUDD_TEST_LONG" = 1 ]; then
		long=$(sed -n 's/^# timeout-long: *\([0-9][0-9]*\).*/\1/p' "$t" | head -1)
		limit="${long:-$limit}"
	fi
	limit="${limit:-600}"
	summary=$(sed -n '2s/^# *//p' "$t")
	start=$(date +%s)
	timeout --kill-after=10 "$limit" bash "$t" >"$logs/$name.log" 2>&1
	rc=$?
	secs=$(($(date +%s) - start))
	case "$rc" in
	0) passed=$((passed + 1)); echo "ok   $layer/$name (${secs}s) $summary" ;;
	77) skipped=$((skipped + 1)); echo "skip $layer/$name: $(tail -1 "$logs/$name.log")" ;;
	*)
		failed=$((failed + 1)); failed_names+=("$name")
		[ "$rc" -eq 124 ] && why="timed out after ${limit}s" || why="exit $rc"
		echo "FAIL $layer/$name (${secs}s, $why) $summary"
		tail -25 "$logs/$name.log" | sed 's/^/    | /'
		echo "    full log: $logs/$name.log"
		;;
	esac
done
line="$layer: $passed passed, $failed failed"
[ "$skipped" -eq 0 ] || line="$line, $skipped skipped"
echo "$line"
[ "$failed" -eq 0 ]
