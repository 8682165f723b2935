# lib-build.sh -- helpers of the build-factory cases: copies of the source tree, builds with their own out/ and cache
. "$ROOT/tests/lib.sh"

CACHE="${CLOUDD_CACHE:-/var/cache/cloudd-build}"

# copy_tree DIR: the tracked files of the working tree (uncommitted edits
# included) copied to DIR, without .git.
copy_tree() {
	mkdir -p "$1"
	(cd "$ROOT" && git ls-files -z | cpio -0pdm --quiet "$1") || fail "cannot copy the source tree to $1"
}

# seed_cache DIR: a new build cache holding only the downloads of the main
# cache (Debian binary and source packages, hard-linked): everything compiled
# is compiled again.
seed_cache() {
	mkdir -p "$1"
	[ ! -d "$CACHE/debs" ] || cp -al "$CACHE/debs" "$1/debs"
	[ ! -d "$CACHE/srcpkg" ] || cp -al "$CACHE/srcpkg" "$1/srcpkg"
	cp -a "$CACHE/.apt-src-ok" "$1/" 2>/dev/null || true
}

