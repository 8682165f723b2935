#!/usr/bin/env bash
# build.sh -- the one entry point: install build dependencies, build, test, run the lab
set -euo pipefail

EX_OK=0
EX_USAGE=100
EX_FAIL=111

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${CLOUDD_OUT:-$ROOT/out}"
CACHE="${CLOUDD_CACHE:-/var/cache/cloudd-build}"
MUSL_PREFIX="$CACHE/musl/prefix"
RESOLVED="$OUT/resolved"
LOCKED="${CLOUDD_LOCKED:-0}"
export ROOT OUT CACHE MUSL_PREFIX RESOLVED

usage() {
	cat <<EOF
usage: ./build.sh [--locked] [COMMAND] [OPTIONS]

Commands:
  (none), all     install build dependencies (apt, idempotent), build everything into out/
  deps            install build dependencies only
  pins            resolve the pinned package versions against the cache and
                  the archive (out/resolved/); prints every substitution
  libs            build the static musl libraries into the cache
  cloudd          build the C programs (out/bin/)
  image           assemble the node image (out/vmlinuz, out/initramfs.img, ...)
  release [OPTIONS]
                  build, then write a signed release to out/release/: the image
                  files with CMS signatures of vmlinuz and initramfs.img (iPXE
                  imgverify), SHA256SUMS and its OpenPGP signature, the Debian
                  packages and a signed apt repository (docs/release.md);
                  without keys a throw-away test CA and key are made in the cache
  test [LAYER..] [--long]
                  build if needed, then run the test layers (default: all of
                  unit integration fuzz build release boot e2e); the last line is the total;
                  the release layer first makes out/release-test/ with the test keys;
                  --long: each fuzz harness runs 300 s instead of 15 s
  bench [NAME..]  build if needed, then run the benchmarks in tests/bench
  lab [down]      start (or tear down) a lab: controller and netbooted nodes
  clean [--all]   remove out/ (and with --all the build cache)
  -h, --help      this text

Options:
  --locked        release builds: every pinned version must be in the cache or
                  the archive, or the build fails (exit 111) naming each one;
                  without it, a pin that left the archive is replaced by what
                  the archive has now, and the substitution is printed

Release options (or the environment variables in brackets):
  --sign-key FILE    PEM private key that signs vmlinuz and initramfs.img [CLOUDD_SIGN_KEY]
  --sign-cert FILE   its PEM certificate, with the codeSigning extended key usage [CLOUDD_SIGN_CERT]
  --sign-chain FILE  PEM certificates of the CA chain, put into the signatures [CLOUDD_SIGN_CHAIN]
  --gpg-key FILE     OpenPGP secret key (no passphrase) that signs SHA256SUMS and
                     the apt repository [CLOUDD_GPG_KEY]

Environment:
  CLOUDD_LOCKED   1: as --locked
  CLOUDD_CACHE    cache for downloaded packages and static libraries
                  (default /var/cache/cloudd-build; outside the repository)
  CLOUDD_OUT      output directory (default ./out)

Exit codes: 0 success, 100 usage or configuration error, 111 build or test failure.
EOF
}

# --- helpers -----------------------------------------------------------------

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'build.sh: %s\n' "$*" >&2; exit "$EX_FAIL"; }
usage_error() { printf 'build.sh: %s (see ./build.sh --help)\n' "$*" >&2; exit "$EX_USAGE"; }

elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# step NAME FUNCTION [ARGS..]: run one build step, print its name and duration,
# and on failure name the step and what to look at.
step() {
	local name="$1"; shift
	local start end rc=0
	start=$(date +%s.%N)
	say "step $name"
	"$@" || rc=$?
	end=$(date +%s.%N)
	if [ "$rc" -ne 0 ]; then
		printf 'build.sh: step %s FAILED (exit %d) after %.1fs; the output above says why\n' \
			"$name" "$rc" "$(elapsed "$start" "$end")" >&2
		# a configuration error keeps its code
		[ "$rc" -eq "$EX_USAGE" ] && exit "$EX_USAGE"
		exit "$EX_FAIL"
	fi
	printf '==> step %s done in %.1fs\n' "$name" "$(elapsed "$start" "$end")" >&2
}

# Reads a list file: strips comments and blank lines.
read_list() { sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' "$1"; }

need_root() {
	[ "$(id -u)" -eq 0 ] || die "$1 needs root (apt, network namespaces, loop devices); run as root"
}

source_date_epoch() {
	if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
		echo "$SOURCE_DATE_EPOCH"
	elif git -C "$ROOT" rev-parse --verify -q HEAD >/dev/null 2>&1; then
		git -C "$ROOT" log -1 --format=%ct
	else
		echo 0
	fi
}

image_version() {
	local v
	v=$(git -C "$ROOT" describe --always --dirty --tags 2>/dev/null) || v=unknown
	echo "$v"
}

# --- deps --------------------------------------------------------------------

# Debian source packages are fetched with apt-get source, which needs deb-src
# entries: one for every Debian bookworm entry of the configured binary archive
# (the main suites and the security suite, whose updates replace pins).
DEB_SRC_FILE=/etc/apt/sources.list.d/cloudd-deb-src.sources
deb_src_stanzas() {
	awk '
		function flush() {
			if (types ~ /(^| )deb( |$)/ && suites ~ /bookworm/ && uris != "")
				printf "Types: deb-src\nURIs: %s\nSuites: %s\nComponents: %s\nSigned-By: %s\n\n", uris, suites, comps, signed
			types = uris = suites = comps = ""; signed = "/usr/share/keyrings/debian-archive-keyring.gpg"
		}
		BEGIN { signed = "/usr/share/keyrings/debian-archive-keyring.gpg" }
		/^[[:space:]]*$/ { flush(); next }
		/^Types:/ { sub(/^Types:[[:space:]]*/, ""); types = $0 }
		/^URIs:/ { sub(/^URIs:[[:space:]]*/, ""); uris = $0 }
		/^Suites:/ { sub(/^Suites:[[:space:]]*/, ""); suites = $0 }
		/^Components:/ { sub(/^Components:[[:space:]]*/, ""); comps = $0 }
		/^Signed-By:/ { sub(/^Signed-By:[[:space:]]*/, ""); signed = $0 }
		END { flush() }
	' $(ls /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -vF "$DEB_SRC_FILE")
	# one-line entries of sources.list
	sed -n 's/^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*\) \(bookworm[^ ]*\) \(.*\)$/Types: deb-src\nURIs: \2\nSuites: \3\nComponents: \4\nSigned-By: \/usr\/share\/keyrings\/debian-archive-keyring.gpg\n/p' \
		/etc/apt/sources.list 2>/dev/null || true
}

ensure_deb_src() {
	local want
	want="# written by cloudd's build.sh: source entries of the configured Debian archive (apt-get source)
$(deb_src_stanzas)"
	if ! grep -q '^URIs:' <<<"$want"; then
		want="# written by cloudd's build.sh: source entries of the Debian archive (apt-get source)
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
	fi
	[ "$(cat "$DEB_SRC_FILE" 2>/dev/null)" != "$want" ] || return 0
	say "writing deb-src entries ($DEB_SRC_FILE)"
	printf '%s\n' "$want" >"$DEB_SRC_FILE"
	APT_UPDATED=0
	rm -f "$CACHE/.apt-src-ok"
}

APT_UPDATED=0
apt_update_once() {
	if [ "$APT_UPDATED" -eq 0 ]; then
		say "apt-get update"
		apt-get update -q >/dev/null
		APT_UPDATED=1
	fi
}

# The release tools (packaging/release-deps.txt) are installed only for the
# release command and the release test layer.
WANT_RELEASE_DEPS=0

do_deps() {
	need_root "installing build dependencies"
	ensure_deb_src
	local missing=() p lists=("$ROOT/image/build-deps.txt")
	[ "$WANT_RELEASE_DEPS" -eq 0 ] || lists+=("$ROOT/packaging/release-deps.txt")
	while read -r p; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done < <(cat "${lists[@]}" | sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d')
	# apt-get source needs the deb-src lists even when nothing is missing
	if [ ! -e "$CACHE/.apt-src-ok" ] || [ "${#missing[@]}" -gt 0 ]; then
		apt_update_once
		mkdir -p "$CACHE" && touch "$CACHE/.apt-src-ok"
	fi
	if [ "${#missing[@]}" -gt 0 ]; then
		say "installing: ${missing[*]}"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
	else
		say "all build dependencies present"
	fi
}

# --- static musl libraries ---------------------------------------------------

# Kernel UAPI headers for musl-gcc (it does not search /usr/include).
libs_kernel_headers() {
	local inc="$MUSL_PREFIX/include"
	mkdir -p "$inc"
	[ -d "$inc/linux" ] && return 0
	cp -a /usr/include/linux /usr/include/asm-generic "$inc/"
	cp -a /usr/include/x86_64-linux-gnu/asm "$inc/asm"
}

lib_build_jansson() {
	cmake -S . -B musl-build -DCMAKE_C_COMPILER=musl-gcc -DCMAKE_BUILD_TYPE=Release \
		-DJANSSON_BUILD_DOCS=OFF -DJANSSON_EXAMPLES=OFF -DJANSSON_WITHOUT_TESTS=ON \
		-DJANSSON_BUILD_SHARED_LIBS=OFF -DCMAKE_INSTALL_PREFIX="$MUSL_PREFIX" &&
		make -C musl-build -j"$(nproc)" install
}

lib_build_libmicrohttpd() {
	./configure CC=musl-gcc --prefix="$MUSL_PREFIX" --disable-shared --enable-static \
		--disable-https --without-gnutls --disable-doc --disable-examples --disable-curl \
		--disable-nls &&
		make -j"$(nproc)" && make install
}

# SQLite: the amalgamation (generated with tclsh) compiled into a static library.
lib_build_sqlite3() {
	./configure CC=musl-gcc --disable-tcl --disable-readline --disable-shared --enable-static &&
		make -j"$(nproc)" sqlite3.c &&
		musl-gcc $CFLAGS -DSQLITE_THREADSAFE=1 -DSQLITE_DEFAULT_WAL_SYNCHRONOUS=1 \
			-DSQLITE_OMIT_LOAD_EXTENSION -DSQLITE_DQS=0 -c sqlite3.c -o sqlite3.o &&
		mkdir -p "$MUSL_PREFIX/lib" "$MUSL_PREFIX/include" &&
		ar rcs "$MUSL_PREFIX/lib/libsqlite3.a" sqlite3.o &&
		cp sqlite3.h "$MUSL_PREFIX/include/"
}

# nettle: SHA-2 and HMAC only (no public-key part, no GMP).
lib_build_nettle() {
	autoreconf -fi &&
		./configure CC=musl-gcc --prefix="$MUSL_PREFIX" --libdir="$MUSL_PREFIX/lib" \
			--disable-shared --enable-static --disable-documentation --disable-openssl \
			--disable-public-key &&
		make -j"$(nproc)" && make install
}

# libcurl: a plain HTTP/1.1 client (no TLS, compression or other protocols).
lib_build_curl() {
	./configure CC=musl-gcc --prefix="$MUSL_PREFIX" --disable-shared --enable-static \
		--without-ssl --without-zlib --without-brotli --without-zstd --without-libidn2 \
		--without-libpsl --without-nghttp2 --without-librtmp --without-libssh2 \
		--disable-ldap --disable-ldaps --disable-rtsp --disable-dict --disable-telnet \
		--disable-tftp --disable-pop3 --disable-imap --disable-smb --disable-smtp \
		--disable-gopher --disable-mqtt --disable-ftp --disable-file --disable-manual \
		--disable-alt-svc --disable-ntlm --disable-cookies --disable-doh --disable-netrc \
		--disable-hsts --without-ca-bundle --without-ca-path &&
		make -j"$(nproc)" -C lib && make -C lib install && make -C include install
}

# fetch_source NAME VERSION: the source package in $CACHE/srcpkg/NAME_VERSION/
# (downloaded once, verified by apt against the archive's Sources index, kept
# so that the same version can be rebuilt after the archive has dropped it).
fetch_source() {
	local dir="$CACHE/srcpkg/${1}_${2}" log="$CACHE/srcpkg/${1}_${2}.log" f
	for f in "$dir"/*.dsc; do [ -f "$f" ] && return 0; done
	mkdir -p "$dir.part"
	(cd "$dir.part" && apt-get source -q --download-only "$1=$2") >"$log" 2>&1 || {
		tail -20 "$log" >&2
		rm -rf "$dir.part"
		die "apt-get source --download-only $1=$2 failed (log $log)"
	}
	rm -rf "$dir" && mv "$dir.part" "$dir"
}

# The libraries are compiled in a directory named for the package, with its
# path and the prefix's mapped to fixed names, so that two caches at different
# paths build identical objects.
lib_build() {
	local name="$1" version="$2" work src log="$CACHE/src/$1-$2.log"
	fetch_source "$name" "$version"
	work=$(mktemp -d "$CACHE/src/build.XXXXXX")
	src="$work/$name-$version"
	dpkg-source -x "$CACHE/srcpkg/${name}_${version}"/*.dsc "$src" >"$log" 2>&1 ||
		{ tail -20 "$log" >&2; rm -rf "$work"; die "unpacking the source package $name $version failed (log $log)"; }
	(cd "$src" &&
		export CFLAGS="-O2 -g -ffile-prefix-map=$src=/usr/src/$name-$version -ffile-prefix-map=$MUSL_PREFIX=/usr/local/musl" &&
		"lib_build_$name") >>"$log" 2>&1 ||
		{ tail -30 "$log" >&2; rm -rf "$work"; die "building $name with musl failed; full log: $log"; }
	rm -rf "$work"
}

# Each line of the resolved third-party list ($OUT/resolved/third-party.lock,
# from cloudd/third-party.txt by image/resolve.sh): source package and
# version. A library is rebuilt only when its version changes.
do_libs() {
	local name version stamp list="$RESOLVED/third-party.lock"
	[ -f "$list" ] || die "$list is missing: run ./build.sh pins first"
	mkdir -p "$CACHE/src" "$CACHE/srcpkg" "$MUSL_PREFIX"
	# one builder at a time per cache (parallel builds share it)
	exec 9>"$CACHE/musl/.lock"
	flock 9
	libs_kernel_headers
	export SOURCE_DATE_EPOCH
	SOURCE_DATE_EPOCH="$(source_date_epoch)"
	while read -r name version; do
		stamp="$CACHE/musl/$name.stamp"
		if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$version" ] && ls "$CACHE/srcpkg/${name}_${version}"/*.dsc >/dev/null 2>&1; then
			say "$name $version: cached"
			continue
		fi
		say "$name $version: building the Debian source package with musl-gcc"
		lib_build "$name" "$version"
		echo "$version" >"$stamp"
	done < <(read_list "$list")
	# released here: the tests this shell runs next must not hold it
	flock -u 9
	exec 9>&-
}

# The versions this build uses: the pins, or where a pin left the archive
# what it has now (image/resolve.sh prints every substitution; --locked
# refuses them).
do_pins() {
	local locked=()
	[ "$LOCKED" -eq 0 ] || locked=(--locked)
	"$ROOT/image/resolve.sh" "${locked[@]}" "$RESOLVED"
}

# --- build -------------------------------------------------------------------

do_cloudd() {
	make -C "$ROOT/cloudd" -j"$(nproc)" OUT="$OUT" MUSL_PREFIX="$MUSL_PREFIX" \
		VERSION="$(image_version)" all
}

do_image() {
	SOURCE_DATE_EPOCH="$(source_date_epoch)" IMAGE_VERSION="$(image_version)" \
		LOCK="$RESOLVED/packages.lock" THIRD_PARTY_LOCK="$RESOLVED/third-party.lock" \
		SUBSTITUTIONS="$RESOLVED/substitutions.tsv" "$ROOT/initramfs/mkimage.sh"
}

build_all() {
	step deps do_deps
	step pins do_pins
	step libs do_libs
	step cloudd do_cloudd
	step image do_image
}

# --- test and bench ----------------------------------------------------------

ALL_LAYERS=(unit integration fuzz build release boot e2e)

do_test() {
	local layers=() layer failed=() run_opts=()
	for layer in "$@"; do
		case "$layer" in
		--long) run_opts+=(--long) ;;
		-*) usage_error "unknown test option '$layer'" ;;
		*) layers+=("$layer") ;;
		esac
	done
	[ "${#layers[@]}" -gt 0 ] || layers=("${ALL_LAYERS[@]}")
	for layer in "${layers[@]}"; do
		case " ${ALL_LAYERS[*]} " in
		*" $layer "*) ;;
		*) usage_error "unknown test layer '$layer' (one of: ${ALL_LAYERS[*]})" ;;
		esac
	done
	need_root "the tests"
	case " ${layers[*]} " in *" release "*) WANT_RELEASE_DEPS=1 ;; esac
	build_all
	# the release layer checks a release made with the throw-away test keys,
	# in a directory of its own (out/release stays what ./build.sh release made)
	if [ "$WANT_RELEASE_DEPS" -eq 1 ]; then
		step release-test env RELEASE_DIR="$OUT/release-test" CLOUDD_SIGN_KEY= CLOUDD_SIGN_CERT= \
			CLOUDD_SIGN_CHAIN= CLOUDD_GPG_KEY= IMAGE_VERSION="$(image_version)" \
			SOURCE_DATE_EPOCH="$(source_date_epoch)" "$ROOT/packaging/release.sh" build
	fi
	local total_passed=0 total_failed=0 result p f
	mkdir -p "$OUT/test-logs"
	for layer in "${layers[@]}"; do
		local start end rc=0
		start=$(date +%s)
		say "test layer $layer"
		result="$OUT/test-logs/$layer.out"
		"$ROOT/tests/run.sh" ${run_opts[@]+"${run_opts[@]}"} "$layer" 2>&1 | tee "$result" || rc=$?
		end=$(date +%s)
		say "test layer $layer: $([ $rc -eq 0 ] && echo ok || echo FAILED) in $((end - start))s"
		[ "$rc" -eq 0 ] || failed+=("$layer")
		# the layer's summary line (stderr of a case may follow it in the file)
		local summary_line
		summary_line=$(grep -E "^$layer: [0-9]+ passed, [0-9]+ failed" "$result" | tail -1)
		p=$(sed -n 's/^[a-z0-9]*: \([0-9]*\) passed, \([0-9]*\) failed.*/\1/p' <<<"$summary_line")
		f=$(sed -n 's/^[a-z0-9]*: \([0-9]*\) passed, \([0-9]*\) failed.*/\2/p' <<<"$summary_line")
		total_passed=$((total_passed + ${p:-0}))
		total_failed=$((total_failed + ${f:-1}))
	done
	[ "${#failed[@]}" -eq 0 ] || printf 'build.sh: failed test layers: %s\n' "${failed[*]}" >&2
	echo "total: $total_passed passed, $total_failed failed"
	[ "${#failed[@]}" -eq 0 ] || exit "$EX_FAIL"
}

do_bench() {
	need_root "the benchmarks"
	build_all
	"$ROOT/tests/run.sh" bench "$@"
}

# --- release -----------------------------------------------------------------

# release [OPTIONS]: the signing keys are checked before anything is built, so
# that bad keys fail at once (exit 100, one line naming the file) and leave
# out/ as it was; then build, then packaging/release.sh writes out/release/.
do_release() {
	while [ $# -gt 0 ]; do
		case "$1" in
		--sign-key | --sign-cert | --sign-chain | --gpg-key)
			[ $# -ge 2 ] || usage_error "release: $1 needs a file"
			case "$1" in
			--sign-key) CLOUDD_SIGN_KEY="$2" ;;
			--sign-cert) CLOUDD_SIGN_CERT="$2" ;;
			--sign-chain) CLOUDD_SIGN_CHAIN="$2" ;;
			--gpg-key) CLOUDD_GPG_KEY="$2" ;;
			esac
			shift 2
			;;
		*) usage_error "release: unknown argument '$1'" ;;
		esac
	done
	export CLOUDD_SIGN_KEY="${CLOUDD_SIGN_KEY:-}" CLOUDD_SIGN_CERT="${CLOUDD_SIGN_CERT:-}"
	export CLOUDD_SIGN_CHAIN="${CLOUDD_SIGN_CHAIN:-}" CLOUDD_GPG_KEY="${CLOUDD_GPG_KEY:-}"
	export IMAGE_VERSION SOURCE_DATE_EPOCH
	IMAGE_VERSION="$(image_version)"
	SOURCE_DATE_EPOCH="$(source_date_epoch)"
	"$ROOT/packaging/release.sh" check
	need_root "a release build"
	WANT_RELEASE_DEPS=1
	build_all
	step release "$ROOT/packaging/release.sh" build
}

do_clean() {
	case "${1:-}" in
	"") ;;
	--all) say "removing $CACHE"; rm -rf "$CACHE" ;;
	*) usage_error "clean: unknown option '$1'" ;;
	esac
	say "removing $OUT"
	rm -rf "$OUT"
	make -C "$ROOT/cloudd" OUT="$OUT" clean >/dev/null 2>&1 || true
}

do_lab() {
	[ -x "$ROOT/tests/lab/lab.sh" ] || die "the lab is not available in this version"
	need_root "the lab"
	[ "${1:-}" = down ] || build_all
	"$ROOT/tests/lab/lab.sh" "$@"
}

main() {
	while [ $# -gt 0 ]; do
		case "$1" in
		--locked) LOCKED=1; shift ;;
		*) break ;;
		esac
	done
	case "$LOCKED" in 0 | 1) ;; *) usage_error "CLOUDD_LOCKED must be 0 or 1, not '$LOCKED'" ;; esac
	local cmd="${1:-all}"
	[ $# -eq 0 ] || shift
	case "$cmd" in
	-h | --help | help) usage; exit "$EX_OK" ;;
	all) [ $# -eq 0 ] || usage_error "unexpected argument '$1'"; build_all ;;
	deps) step deps do_deps ;;
	pins) step pins do_pins ;;
	libs) step pins do_pins; step libs do_libs ;;
	cloudd) step cloudd do_cloudd ;;
	image) step pins do_pins; step image do_image ;;
	release) do_release "$@" ;;
	test) do_test "$@" ;;
	bench) do_bench "$@" ;;
	lab) do_lab "$@" ;;
	clean) do_clean "$@" ;;
	*) usage_error "unknown command '$cmd'" ;;
	esac
}

main "$@"
