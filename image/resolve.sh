#!/usr/bin/env bash
# resolve.sh -- the versions a build really uses: the pins, or what the archive has now where a pin left it
set -euo pipefail

usage() {
	cat <<EOF
usage: image/resolve.sh [--locked] DIR

Resolves the pins of image/packages.lock (Debian binary packages of the node
image) and cloudd/third-party.txt (Debian source packages built with musl)
against the build cache and the archive, and writes what the build will use
to DIR/packages.lock, DIR/third-party.lock and DIR/substitutions.tsv.

A pin is usable when its file is in the cache (\$CACHE/debs,
\$CACHE/srcpkg) or the archive still has that version. When a binary pin is
not, the closure of image/packages.txt is resolved again the way
image/lock.sh does (an ABI-named kernel package changes its name, not only
its version): every package of the new closure keeps its pin where the pin
is usable and takes the archive's candidate otherwise. A source pin that is
not usable is replaced by the newest version of that source package in the
archive. Every substitution is printed in one block.

--locked (or CLOUDD_LOCKED=1), for release builds: no substitution; every
pin that is not usable is named and the exit code is 111.

Environment: ROOT (repository), CACHE (build cache).
Exit codes: 0 ok, 100 usage or configuration error, 111 a pin or package
that cannot be had.
EOF
}

EX_USAGE=100
EX_FAIL=111

read_list() { sed -e 's/#.*//' -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' -e '/^$/d' "$1"; }
fail() { printf 'resolve: %s\n' "$*" >&2; exit "$EX_FAIL"; }

# deb_cached NAME VERSION: the .deb of that exact version is in the cache
# (apt-get download's file name: epoch colon escaped as %3a).
deb_cached() {
	local f
	for f in "$CACHE/debs/${1}_${2//:/%3a}_"*.deb; do
		[ -f "$f" ] && return 0
	done
	return 1
}

# src_cached NAME VERSION: the source package (its .dsc) is in the cache.
src_cached() {
	local f
	for f in "$CACHE/srcpkg/${1}_${2}/"*.dsc; do
		[ -f "$f" ] && return 0
	done
	return 1
}

# archive_versions KIND NAME..: "name version" of every version the archive
# has, KIND Packages (binary) or Sources.
archive_versions() {
	local kind="$1"; shift
	[ $# -gt 0 ] || return 0
	apt-cache madison "$@" 2>/dev/null | awk -F'|' -v kind="$kind" '
		{ gsub(/ /, "", $1); gsub(/ /, "", $2) }
		$3 ~ (kind "$") { print $1, $2 }' | LC_ALL=C sort -u
}

# newest_source NAME: the highest version of source package NAME in the archive.
newest_source() {
	local v best=""
	while read -r _ v; do
		if [ -z "$best" ] || dpkg --compare-versions "$v" gt "$best"; then best="$v"; fi
	done < <(archive_versions Sources "$1")
	echo "$best"
}

# apt_lists_fresh: refresh the archive's index when it is older than a day
# (a stale index offers versions the archive has already dropped).
apt_lists_fresh() {
	[ "$APT_CHECKED" -eq 0 ] || return 0
	APT_CHECKED=1
	if ! find /var/lib/apt/lists -maxdepth 1 -name '*Release' -mmin -1440 2>/dev/null | grep -q .; then
		[ "$(id -u)" -eq 0 ] || { echo "resolve: the apt index is older than a day; run apt-get update" >&2; return 0; }
		echo "resolve: the apt index is older than a day: apt-get update" >&2
		apt-get update -q >/dev/null || fail "apt-get update failed"
	fi
}
APT_CHECKED=0

SUBST=""  # lines: kind <TAB> name <TAB> pinned <TAB> used (empty: dropped)
MISSING=() # "file: name version" of unusable pins

resolve_binary() {
	local lock="$ROOT/image/packages.lock" out="$1" name version
	local -A pinned=() usable=()
	local query=()
	while read -r name version; do
		pinned[$name]="$version"
		if deb_cached "$name" "$version"; then usable[$name]=1; else query+=("$name"); fi
	done < <(read_list "$lock")
	[ "${#pinned[@]}" -gt 0 ] || { printf 'resolve: %s: no package pinned\n' "$lock" >&2; exit "$EX_USAGE"; }
	if [ "${#query[@]}" -gt 0 ]; then
		apt_lists_fresh
		while read -r name version; do
			[ "${pinned[$name]:-}" = "$version" ] && usable[$name]=1
		done < <(archive_versions Packages "${query[@]}")
	fi
	local missing=()
	for name in $(printf '%s\n' "${!pinned[@]}" | LC_ALL=C sort); do
		[ -n "${usable[$name]:-}" ] || missing+=("$name")
	done
	if [ "${#missing[@]}" -eq 0 ]; then
		read_list "$lock" >"$out"
		return 0
	fi
	for name in "${missing[@]}"; do MISSING+=("image/packages.lock: $name ${pinned[$name]}"); done
	[ "$LOCKED" -eq 0 ] || return 0
	# the closure of packages.txt as the archive has it now
	local fresh="$WORK/fresh.lock" rc=0
	"$ROOT/image/lock.sh" -o "$fresh" 2>"$WORK/lock.err" || rc=$?
	if [ "$rc" -ne 0 ]; then
		cat "$WORK/lock.err" >&2
		[ "$rc" -eq "$EX_USAGE" ] && exit "$EX_USAGE"
		fail "cannot resolve image/packages.txt against the archive (see above)"
	fi
	local -A fresh_has=()
	while read -r name version; do
		fresh_has[$name]=1
		if [ -n "${usable[$name]:-}" ]; then
			echo "$name ${pinned[$name]}"
		else
			echo "$name $version"
			if [ -n "${pinned[$name]:-}" ]; then
				SUBST+="binary	$name	${pinned[$name]}	$version"$'\n'
			else
				SUBST+="binary	$name		$version"$'\n'
			fi
		fi
	done < <(read_list "$fresh") >"$out"
	for name in $(printf '%s\n' "${!pinned[@]}" | LC_ALL=C sort); do
		[ -n "${fresh_has[$name]:-}" ] || SUBST+="binary	$name	${pinned[$name]}	"$'\n'
	done
}

resolve_source() {
	local list="$ROOT/cloudd/third-party.txt" out="$1" name version newest
	local -A archive=()
	local query=()
	while read -r name version; do
		src_cached "$name" "$version" || query+=("$name")
	done < <(read_list "$list")
	if [ "${#query[@]}" -gt 0 ]; then
		apt_lists_fresh
		while read -r name version; do archive["$name $version"]=1; done \
			< <(archive_versions Sources "${query[@]}")
	fi
	while read -r name version; do
		if src_cached "$name" "$version" || [ -n "${archive["$name $version"]:-}" ]; then
			echo "$name $version"
			continue
		fi
		MISSING+=("cloudd/third-party.txt: $name $version")
		[ "$LOCKED" -eq 0 ] || continue
		newest=$(newest_source "$name")
		[ -n "$newest" ] ||
			fail "cloudd/third-party.txt: source package $name: pinned $version is not in the archive, and no other version is (is there a deb-src entry? ./build.sh deps adds one)"
		echo "$name $newest"
		SUBST+="source	$name	$version	$newest"$'\n'
	done < <(read_list "$list") >"$out"
}

report() {
	if [ "$LOCKED" -eq 1 ] && [ "${#MISSING[@]}" -gt 0 ]; then
		printf 'resolve: locked build: %d pinned versions are neither in the cache nor in the archive:\n' \
			"${#MISSING[@]}" >&2
		printf '  %s\n' "${MISSING[@]}" >&2
		printf 'resolve: refresh the pins (image/lock.sh for the image, cloudd/third-party.txt by hand) and commit them\n' >&2
		exit "$EX_FAIL"
	fi
	[ -n "$SUBST" ] || return 0
	{
		echo "resolve: ================================================================"
		echo "resolve: pinned versions have left the archive; this build uses instead:"
		printf '%s' "$SUBST" | while IFS=$'\t' read -r kind name pinned used; do
			if [ -z "$pinned" ]; then
				printf 'resolve:   %-7s %s: not pinned, archive has %s (new in the closure)\n' "$kind" "$name" "$used"
			elif [ -z "$used" ]; then
				printf 'resolve:   %-7s %s: pinned %s, no longer in the closure (dropped)\n' "$kind" "$name" "$pinned"
			else
				printf 'resolve:   %-7s %s: pinned %s, archive has %s\n' "$kind" "$name" "$pinned" "$used"
			fi
		done
		echo "resolve: the manifest records what went in; refresh the pins with image/lock.sh"
		echo "resolve: (and cloudd/third-party.txt) and commit them; --locked refuses this"
		echo "resolve: ================================================================"
	} >&2
}

main() {
	LOCKED="${CLOUDD_LOCKED:-0}"
	case "$LOCKED" in 0 | 1) ;; *) printf 'resolve: CLOUDD_LOCKED must be 0 or 1, not %s\n' "$LOCKED" >&2; exit "$EX_USAGE" ;; esac
	local dir=""
	while [ $# -gt 0 ]; do
		case "$1" in
		-h | --help) usage; exit 0 ;;
		--locked) LOCKED=1; shift ;;
		-*) usage >&2; exit "$EX_USAGE" ;;
		*) [ -z "$dir" ] || { usage >&2; exit "$EX_USAGE"; }; dir="$1"; shift ;;
		esac
	done
	[ -n "$dir" ] || { usage >&2; exit "$EX_USAGE"; }
	[ -n "${ROOT:-}" ] && [ -n "${CACHE:-}" ] || { echo "resolve: ROOT and CACHE must be set (run ./build.sh)" >&2; exit "$EX_USAGE"; }
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/cloudd-resolve.XXXXXX")
	trap 'rm -rf "$WORK"' EXIT
	resolve_binary "$WORK/packages.lock"
	resolve_source "$WORK/third-party.lock"
	report
	printf '%s' "$SUBST" >"$WORK/substitutions.tsv"
	mkdir -p "$dir"
	local f
	for f in packages.lock third-party.lock substitutions.tsv; do
		# unchanged files keep their times (make and the image's input digest see no change)
		cmp -s "$WORK/$f" "$dir/$f" || mv -f "$WORK/$f" "$dir/$f"
	done
}

main "$@"
