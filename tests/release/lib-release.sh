# lib-release.sh -- helpers of the release cases: the test release, its keys, fresh Debian 12 roots
. "$ROOT/tests/lib.sh"

CACHE="${CACHE:-${CLOUDD_CACHE:-/var/cache/cloudd-build}}"
# made by ./build.sh test release before the layer, with the throw-away keys
REL="$OUT/release-test"
KEYS="$CACHE/release-test-keys"
SUITE=bookworm

require_release() {
	[ -f "$REL/SHA256SUMS" ] && [ -d "$REL/apt" ] ||
		fail "$REL is not built: run ./build.sh test release (it makes the test release first)"
	[ -f "$KEYS/ca.crt" ] || fail "$KEYS/ca.crt is missing (the test release was made with other keys?)"
}

# --- fresh Debian 12 roots ---------------------------------------------------------

# The host's Debian archive entries (deb822 or one-line files), for the root.
host_sources() {
	local f
	for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list /etc/apt/sources.list; do
		[ -f "$f" ] || continue
		case "$f" in */cloudd-deb-src.sources) continue ;; esac
		grep -Eq '^(Types:.*\<deb\>|deb )' "$f" && echo "$f"
	done
}

# base_root: a tar of a minimal Debian 12 root made by mmdebstrap from the
# host's archive (apt, man-db and bash-completion for the checks), cached in
# $CACHE/release-roots by what made it. Prints its path.
base_root() {
	local dir="$CACHE/release-roots" sources=() opts=() key tar proxy
	mapfile -t sources < <(host_sources)
	[ "${#sources[@]}" -gt 0 ] || sources=("http://deb.debian.org/debian")
	opts=(--variant=apt --include=man-db,bash-completion
		--aptopt='Acquire::Check-Valid-Until "false"' --aptopt='Acquire::Languages "none"')
	# the host's way to the archive (a proxy), if it has one
	proxy=$(apt-config dump 2>/dev/null | sed -n 's/^Acquire::\(http\|https\)::Proxy "\(.*\)";$/Acquire::\1::Proxy "\2";/p')
	while read -r line; do [ -z "$line" ] || opts+=(--aptopt="$line"); done <<<"$proxy"
	key=$( { printf '%s\n' "${opts[@]}"; for f in "${sources[@]}"; do [ -f "$f" ] && cat "$f" || echo "$f"; done; } |
		sha256sum | cut -c1-12)
	tar="$dir/$SUITE-apt-$key.tar"
	mkdir -p "$dir"
	exec 7>"$dir/.lock"
	flock 7
	if [ ! -s "$tar" ]; then
		log "making a Debian 12 root with mmdebstrap (cached as $tar)" >&2
		mmdebstrap --quiet --format=tar "${opts[@]}" "$SUITE" "$tar.part" "${sources[@]}" >&2 ||
			{ rm -rf "$tar.part"; fail "mmdebstrap failed"; }
		mv "$tar.part" "$tar"
	fi
	flock -u 7
	exec 7>&-
	echo "$tar"
}

# fresh_root DIR: a new root from the cached tar, with the host's resolver.
fresh_root() {
	local tar
	tar=$(base_root) || exit 1
	mkdir -p "$1"
	tar -C "$1" -xf "$tar" || fail "cannot unpack $tar"
	cp -L /etc/resolv.conf "$1/etc/resolv.conf" 2>/dev/null || true
	mkdir -p "$CACHE/release-roots/archives/partial"
}

# in_root DIR CMD..: CMD chrooted into DIR, in a mount namespace of its own
# (/dev, /proc and apt's download cache, kept in the cache, are mounted there
# and vanish with it).
in_root() {
	local dir="$1"; shift
	unshare --mount --fork -- /bin/sh -c '
		d="$1"; a="$2"; shift 2
		mount --rbind /dev "$d/dev" && mount -t proc proc "$d/proc" &&
			mount --bind "$a" "$d/var/cache/apt/archives" && exec chroot "$d" "$@"
	' in_root "$dir" "$CACHE/release-roots/archives" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
		LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}

# add_repo DIR REPO KEYRING: REPO (an apt repository directory) copied into
# the root at /srv/cloudd-apt and added to its sources with signed-by= KEYRING.
add_repo() {
	local dir="$1" repo="$2" keyring="$3"
	cp -a "$repo" "$dir/srv/cloudd-apt"
	install -m 0644 "$keyring" "$dir/usr/share/keyrings/cloudd-archive-keyring.gpg"
	echo "deb [signed-by=/usr/share/keyrings/cloudd-archive-keyring.gpg] file:/srv/cloudd-apt $SUITE main" \
		>"$dir/etc/apt/sources.list.d/cloudd.list"
}
