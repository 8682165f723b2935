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
export ROOT OUT CACHE MUSL_PREFIX

usage() {
	cat <<EOF
usage: ./build.sh [COMMAND] [OPTIONS]

Commands:
  (none), all     install build dependencies (apt, idempotent), build everything into out/
  deps            install build dependencies only
  libs            build the static musl libraries into the cache
  cloudd          build the C programs (out/bin/)
  image           assemble the node image (out/vmlinuz, out/initramfs.img, ...)
  test [LAYER..]  build if needed, then run the test layers (default: all of
                  unit integration fuzz boot e2e); the last line is the total
  bench [NAME..]  build if needed, then run the benchmarks in tests/bench
  lab [down]      start (or tear down) a lab: controller and netbooted nodes
  clean [--all]   remove out/ (and with --all the build cache)
  -h, --help      this text

Environment:
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
# entries; add one that mirrors the configured binary archive.
ensure_deb_src() {
	if grep -rqsE '^(Types:.*deb-src|deb-src )' /etc/apt/sources.list /etc/apt/sources.list.d/; then
		return 0
	fi
	say "adding deb-src entries (/etc/apt/sources.list.d/cloudd-deb-src.sources)"
	local uri
	uri=$(grep -rhsE '^URIs:' /etc/apt/sources.list.d/*.sources | grep -v security | head -1 | awk '{print $2}')
	[ -n "$uri" ] || uri=http://deb.debian.org/debian
	cat >/etc/apt/sources.list.d/cloudd-deb-src.sources <<EOF
Types: deb-src
URIs: $uri
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
	APT_UPDATED=0
}

APT_UPDATED=0
apt_update_once() {
	if [ "$APT_UPDATED" -eq 0 ]; then
		say "apt-get update"
		apt-get update -q >/dev/null
		APT_UPDATED=1
	fi
}

do_deps() {
	need_root "installing build dependencies"
	ensure_deb_src
	local missing=() p
	while read -r p; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done < <(read_list "$ROOT/image/build-deps.txt")
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
		musl-gcc -O2 -DSQLITE_THREADSAFE=1 -DSQLITE_DEFAULT_WAL_SYNCHRONOUS=1 \
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

# Each line of cloudd/third-party.txt: source package and pinned version. A
# library is rebuilt only when its pinned version changes.
do_libs() {
	local name version stamp dir log
	mkdir -p "$CACHE/src" "$MUSL_PREFIX"
	# one builder at a time per cache (parallel builds share it)
	exec 9>"$CACHE/musl/.lock"
	flock 9
	libs_kernel_headers
	while read -r name version; do
		stamp="$CACHE/musl/$name.stamp"
		if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$version" ]; then
			say "$name $version: cached"
			continue
		fi
		say "$name $version: fetching source package and building with musl-gcc"
		dir="$CACHE/src/$name-$version"
		rm -rf "$dir" && mkdir -p "$dir"
		log="$CACHE/src/$name-$version.log"
		(cd "$dir" && apt-get source -q "$name=$version") >"$log" 2>&1 ||
			{ tail -20 "$log" >&2; die "apt-get source $name=$version failed (is the version still in the archive? is there a deb-src entry?)"; }
		local srcdir
		srcdir=$(find "$dir" -mindepth 1 -maxdepth 1 -type d | head -1)
		(cd "$srcdir" && "lib_build_$name") >>"$log" 2>&1 ||
			{ tail -30 "$log" >&2; die "building $name with musl failed; full log: $log"; }
		echo "$version" >"$stamp"
	done < <(read_list "$ROOT/cloudd/third-party.txt")
	# released here: the tests this shell runs next must not hold it
	flock -u 9
	exec 9>&-
}

# --- build -------------------------------------------------------------------

do_cloudd() {
	make -C "$ROOT/cloudd" -j"$(nproc)" OUT="$OUT" MUSL_PREFIX="$MUSL_PREFIX" \
		VERSION="$(image_version)" all
}

do_image() {
	SOURCE_DATE_EPOCH="$(source_date_epoch)" IMAGE_VERSION="$(image_version)" \
		"$ROOT/initramfs/mkimage.sh"
}

build_all() {
	step deps do_deps
	step libs do_libs
	step cloudd do_cloudd
	step image do_image
}

# --- test and bench ----------------------------------------------------------

ALL_LAYERS=(unit integration fuzz boot e2e)

do_test() {
	local layers=("$@") layer failed=()
	[ "${#layers[@]}" -gt 0 ] || layers=("${ALL_LAYERS[@]}")
	for layer in "${layers[@]}"; do
		case " ${ALL_LAYERS[*]} " in
		*" $layer "*) ;;
		*) usage_error "unknown test layer '$layer' (one of: ${ALL_LAYERS[*]})" ;;
		esac
	done
	need_root "the tests"
	build_all
	local total_passed=0 total_failed=0 result p f
	mkdir -p "$OUT/test-logs"
	for layer in "${layers[@]}"; do
		local start end rc=0
		start=$(date +%s)
		say "test layer $layer"
		result="$OUT/test-logs/$layer.out"
		"$ROOT/tests/run.sh" "$layer" 2>&1 | tee "$result" || rc=$?
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
	local cmd="${1:-all}"
	[ $# -eq 0 ] || shift
	case "$cmd" in
	-h | --help | help) usage; exit "$EX_OK" ;;
	all) [ $# -eq 0 ] || usage_error "unexpected argument '$1'"; build_all ;;
	deps) step deps do_deps ;;
	libs) step libs do_libs ;;
	cloudd) step cloudd do_cloudd ;;
	image) step image do_image ;;
	test) do_test "$@" ;;
	bench) do_bench "$@" ;;
	lab) do_lab "$@" ;;
	clean) do_clean "$@" ;;
	*) usage_error "unknown command '$cmd'" ;;
	esac
}

main "$@"
