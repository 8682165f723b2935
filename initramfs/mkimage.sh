#!/usr/bin/env bash
# mkimage.sh -- assemble the node image (kernel, initramfs, iPXE binaries, SBOM) into $OUT
set -euo pipefail

usage() {
	cat <<EOF
usage: initramfs/mkimage.sh [-h]

Builds the node image from the Debian packages in \$LOCK (the pins of
image/packages.lock as resolved by image/resolve.sh; downloaded with apt-get download into \$CACHE/debs, unpacked with dpkg-deb,
never installed) and writes into \$OUT:

  vmlinuz, initramfs.img (cpio newc, zstd), boot.ipxe (template),
  undionly.kpxe, ipxe.efi, snponly.efi, manifest.json and sbom.cdx.json
  (the bill of materials: Debian binary and source packages, toolchain,
  commit; CycloneDX 1.5), SHA256SUMS

What goes in is data: initramfs/files.d/*.files (files taken from packages),
initramfs/modules.d/*.modules (kernel modules, closed over modules.dep),
initramfs/rootfs/ (the image's own files), image/roles/, services/.
Shared libraries are found by reading the ELF NEEDED entries.

Environment (set by ./build.sh image):
  ROOT               repository root
  OUT                output directory; \$OUT/bin/cloudd must exist (./build.sh cloudd)
  CACHE              package cache (debs in \$CACHE/debs, source packages in \$CACHE/srcpkg)
  LOCK               resolved binary package list (default image/packages.lock)
  THIRD_PARTY_LOCK   resolved source package list (default cloudd/third-party.txt)
  SUBSTITUTIONS      pins replaced by image/resolve.sh (tsv; may be empty or absent)
  PROJECT_COMMIT     the commit built (default: git rev-parse HEAD)
  SOURCE_DATE_EPOCH  timestamp of every file in the image
  IMAGE_VERSION      version string recorded in the image and the manifest
  MKIMAGE_FORCE=1    rebuild even when no input changed since the last build

Exit codes: 0 ok, 100 usage or configuration error, 111 build failure.
EOF
}

EX_USAGE=100
EX_FAIL=111
# zstd level of initramfs.img: 17 is within 5% of 19's size at a third of
# its time (the image is rebuilt whenever cloudd changes)
ZSTD_LEVEL=17

say() { printf 'mkimage: %s\n' "$*" >&2; }
STEP=start
die() { printf 'mkimage: step %s FAILED: %s\n' "$STEP" "$*" >&2; exit "$EX_FAIL"; }

# step FUNCTION: run one step of the build. Steps are chained with &&, so a
# step reports its own failure with die, or returns non-zero (then the step
# is named here).
step() {
	STEP="$1"
	"$1" || die "$1 returned an error (see above)"
}

# Reads a list file: strips comments, surrounding blanks and blank lines.
read_list() { sed -e 's/#.*//' -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' -e '/^$/d' "$@"; }

# --- checks --------------------------------------------------------------------

check_env() {
	local v
	for v in ROOT OUT CACHE SOURCE_DATE_EPOCH IMAGE_VERSION; do
		[ -n "${!v:-}" ] || { printf 'mkimage: %s is not set (run ./build.sh image)\n' "$v" >&2; exit "$EX_USAGE"; }
	done
	LOCK="${LOCK:-$ROOT/image/packages.lock}"
	THIRD_PARTY_LOCK="${THIRD_PARTY_LOCK:-$ROOT/cloudd/third-party.txt}"
	SUBSTITUTIONS="${SUBSTITUTIONS:-}"
	PROJECT_COMMIT="${PROJECT_COMMIT:-$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)}"
	local f
	for f in "$LOCK" "$THIRD_PARTY_LOCK"; do
		[ -f "$f" ] || { printf 'mkimage: %s does not exist\n' "$f" >&2; exit "$EX_USAGE"; }
	done
	case "$SOURCE_DATE_EPOCH" in *[!0-9]*) die "SOURCE_DATE_EPOCH '$SOURCE_DATE_EPOCH' is not a number" ;; esac
}

check_tools() {
	say "checking build tools"
	local t missing=()
	for t in apt-get:apt dpkg-deb:dpkg readelf:binutils strip:binutils depmod:kmod \
		cpio:cpio zstd:zstd sha256sum:coreutils find:findutils; do
		command -v "${t%%:*}" >/dev/null || missing+=("${t%%:*} (package ${t#*:})")
	done
	[ "${#missing[@]}" -eq 0 ] || die "missing tools: ${missing[*]}; run ./build.sh deps"
}

# cloudd is built by ./build.sh cloudd; the image needs the static musl binary.
check_cloudd() {
	say "checking $OUT/bin/cloudd"
	[ -x "$OUT/bin/cloudd" ] ||
		die "$OUT/bin/cloudd does not exist: build it first with ./build.sh cloudd (./build.sh builds everything)"
	if readelf -l "$OUT/bin/cloudd" | grep -q 'INTERP' || readelf -d "$OUT/bin/cloudd" | grep -q NEEDED; then
		die "$OUT/bin/cloudd is dynamically linked; the image expects a static musl binary"
	fi
}

# --- packages --------------------------------------------------------------------

DEBS=""

# deb_file NAME VERSION: the cached .deb of that exact version (apt-get
# download's file name: epoch colon escaped as %3a).
deb_file() {
	local f
	for f in "$DEBS/${1}_${2//:/%3a}_"*.deb; do
		[ -f "$f" ] && { echo "$f"; return 0; }
	done
	return 1
}

fetch_packages() {
	DEBS="$CACHE/debs"
	mkdir -p "$DEBS" || return 1
	local name version want=() log="$WORK/apt-download.log"
	while read -r name version; do
		deb_file "$name" "$version" >/dev/null || want+=("$name=$version")
	done < <(read_list "$LOCK")
	say "packages: $(read_list "$LOCK" | wc -l) in $LOCK, ${#want[@]} to download"
	[ "${#want[@]}" -gt 0 ] || return 0
	# _apt cannot write into a root-owned cache; apt then downloads as root and warns.
	(cd "$DEBS" && apt-get download -q "${want[@]}") >"$log" 2>&1 || {
		grep -E '^E:' "$log" >&2 || tail -5 "$log" >&2
		die "apt-get download failed (the archive has moved since the last apt-get update? ./build.sh pins re-resolves)"
	}
	for name in "${want[@]}"; do
		deb_file "${name%%=*}" "${name#*=}" >/dev/null || die "apt-get download did not produce ${name}"
	done
}

# Unpacks every pinned package into one staging sysroot and records which
# package owns which path (for the manifest).
unpack_packages() {
	say "unpacking packages into the staging sysroot"
	mkdir -p "$SYSROOT" || return 1
	local name version deb arch
	: >"$WORK/owners"
	while read -r name version; do
		deb=$(deb_file "$name" "$version")
		dpkg-deb -x "$deb" "$SYSROOT" || die "dpkg-deb -x $deb failed"
		arch=$(dpkg-deb -f "$deb" Architecture) || return 1
		dpkg-deb --fsys-tarfile "$deb" | tar -t | sed -n 's|^\./||; /[^/]$/p' |
			awk -v n="$name" -v v="$version" -v a="$arch" '{ print $0 "\t" n "\t" v "\t" a }' \
				>>"$WORK/owners" || die "cannot list the files of $deb"
	done < <(read_list "$LOCK")
}

# --- image tree --------------------------------------------------------------------

# copy_path PATH: copy PATH (relative to the sysroot) into the image tree,
# keeping symlinks as symlinks and following them (inside the sysroot) so that
# their targets come along.
copy_path() {
	local rel="${1#/}" target dir
	while :; do
		[ -e "$SYSROOT/$rel" ] || [ -L "$SYSROOT/$rel" ] || { echo "no such file in the packages: /$rel" >&2; return 1; }
		if [ ! -e "$IMG/$rel" ] && [ ! -L "$IMG/$rel" ]; then
			(cd "$SYSROOT" && cp -a --parents "$rel" "$IMG/") || return 1
		fi
		[ -L "$SYSROOT/$rel" ] || return 0
		target=$(readlink "$SYSROOT/$rel")
		case "$target" in
		/*) rel="${target#/}" ;;
		*) dir=$(dirname "$rel"); rel=$(realpath -m --relative-to=. "$dir/$target") ;;
		esac
	done
}

install_files() {
	say "installing files listed in initramfs/files.d ($(ls "$ROOT/initramfs/files.d" | tr '\n' ' '))"
	mkdir -p "$IMG" || return 1
	local f p m matched
	for f in "$ROOT"/initramfs/files.d/*.files; do
		while read -r p; do
			matched=0
			# a line may be a shell glob, expanded inside the sysroot
			for m in "$SYSROOT"/${p#/}; do
				[ -e "$m" ] || [ -L "$m" ] || continue
				copy_path "${m#"$SYSROOT"/}" || die "$(basename "$f"): cannot copy $m"
				matched=1
			done
			[ "$matched" -eq 1 ] || die "$(basename "$f"): '$p' matches nothing in the pinned packages"
		done < <(read_list "$f")
	done
}

# Applet links for every busybox applet that no real program in the image provides.
install_busybox_applets() {
	local applet name n=0
	say "installing busybox applet links"
	[ -x "$IMG/bin/busybox" ] || die "bin/busybox is not in the image (initramfs/files.d/busybox.files)"
	while read -r applet; do
		name=$(basename "$applet")
		case "$name" in linuxrc) continue ;; esac
		if [ -e "$IMG/bin/$name" ] || [ -e "$IMG/sbin/$name" ] || [ -e "$IMG/usr/bin/$name" ] ||
			[ -e "$IMG/usr/sbin/$name" ] || [ -L "$IMG/$applet" ]; then
			continue
		fi
		mkdir -p "$IMG/$(dirname "$applet")" && ln -s /bin/busybox "$IMG/$applet" || return 1
		n=$((n + 1))
	done < <("$IMG/bin/busybox" --list-full | LC_ALL=C sort)
	say "  $n applets"
}

install_cloudd() {
	say "installing cloudd (stripped copy of $OUT/bin/cloudd)"
	mkdir -p "$IMG/usr/sbin" || return 1
	strip -o "$IMG/usr/sbin/cloudd" "$OUT/bin/cloudd" || die "strip $OUT/bin/cloudd failed"
}

# The image's own files: /init, rootfs skeleton, services, roles, version.
install_own_files() {
	say "installing /init, rootfs/, services/ and image/roles/"
	cp -a "$ROOT/initramfs/rootfs/." "$IMG/" &&
		install -m 0755 "$ROOT/initramfs/init" "$IMG/init" &&
		mkdir -p "$IMG/etc/sv" "$IMG/etc/cloudd/roles" &&
		cp -a "$ROOT/services/." "$IMG/etc/sv/" &&
		cp -a "$ROOT/image/roles/." "$IMG/etc/cloudd/roles/" &&
		printf '%s\n' "$IMAGE_VERSION" >"$IMG/etc/cloudd/image-version" &&
		mkdir -p "$IMG/dev" "$IMG/proc" "$IMG/sys" "$IMG/run" "$IMG/tmp" "$IMG/var/lib" \
			"$IMG/var/log" "$IMG/root" "$IMG/mnt" &&
		ln -sfn /run "$IMG/var/run"
}

# --- kernel modules --------------------------------------------------------------------

KVER=""

find_kernel() {
	local k
	k=$(cd "$SYSROOT/lib/modules" && ls) || die "no kernel modules in the packages (linux-image missing from packages.lock?)"
	[ "$(echo "$k" | wc -l)" -eq 1 ] || die "more than one kernel in the packages: $k"
	KVER="$k"
	[ -f "$SYSROOT/boot/vmlinuz-$KVER" ] || die "no /boot/vmlinuz-$KVER in the packages"
	say "kernel $KVER"
}

# Resolves the module names of modules.d/*.modules to files and closes them
# over modules.dep. Device drivers (modules with a pci:, virtio: or cpu:
# alias) are loaded by /init only for the hardware present (by modalias); the
# closure of the other modules is written in load order (dependencies first)
# to modules.load, which /init loads unconditionally. A name starting with
# '?' is optional (may be missing from this kernel); built-in modules are
# accepted and need no file.
install_modules() {
	local src="$SYSROOT/lib/modules/$KVER" dst="$IMG/lib/modules/$KVER"
	say "resolving kernel modules from initramfs/modules.d over modules.dep"
	depmod -b "$SYSROOT" "$KVER" || die "depmod on the full module tree failed"
	read_list "$ROOT"/initramfs/modules.d/*.modules | awk -v dep="$src/modules.dep" \
		-v builtin="$src/modules.builtin" -v alias="$src/modules.alias" \
		-v all="$WORK/modules.all" -v order="$WORK/modules.load" '
		function norm(s) { sub(/.*\//, "", s); sub(/\.ko.*$/, "", s); gsub(/-/, "_", s); return s }
		BEGIN {
			while ((getline line < dep) > 0) {
				split(line, parts, ":")
				name = norm(parts[1]); path[name] = parts[1]
				deps[name] = parts[2]
			}
			while ((getline line < builtin) > 0) isbuiltin[norm(line)] = 1
			while ((getline line < alias) > 0) {
				split(line, f, " ")
				if (f[2] ~ /^(pci|virtio|cpu):/) isdevice[norm(f[3])] = 1
			}
		}
		{
			optional = sub(/^\?/, "")
			n = norm($1)
			if (n in path) {
				cnt = split(deps[n], d, " ")
				for (i = cnt; i >= 1; i--) emit(d[i], n in isdevice)
				emit(path[n], n in isdevice)
				if (n in isdevice) ndevice++
			} else if (n in isbuiltin) {
				nbuiltin++
			} else if (!optional) {
				print "mkimage: kernel module " $1 " is neither a module file nor built into this kernel" > "/dev/stderr"
				missing++
			}
		}
		function emit(p, device) {
			if (!(p in done)) { done[p] = 1; print p > all; nmod++ }
			if (!device && !(p in loaded)) { loaded[p] = 1; print p > order; nload++ }
		}
		END {
			printf "mkimage:   %d module files: %d loaded at boot, %d device drivers loaded by modalias; %d requested modules built in\n",
				nmod, nload, ndevice, nbuiltin > "/dev/stderr"
			exit missing ? 1 : 0
		}' || die "unknown kernel modules in initramfs/modules.d (names as in modules.dep, without .ko)"
	mkdir -p "$dst" || return 1
	local p
	while read -r p; do
		mkdir -p "$dst/$(dirname "$p")" && cp "$src/$p" "$dst/$p" || return 1
	done <"$WORK/modules.all"
	cp "$src/modules.builtin" "$src/modules.order" "$src/modules.builtin.modinfo" "$dst/" &&
		cp "$WORK/modules.load" "$dst/modules.load" || return 1
	depmod -b "$IMG" "$KVER" || die "depmod on the image's module tree failed"
	rm -f "$dst"/*.bin
}

# --- shared libraries --------------------------------------------------------------------

LIBDIRS=(lib/x86_64-linux-gnu usr/lib/x86_64-linux-gnu lib64 lib usr/lib)

is_elf() { [ -f "$1" ] && [ ! -L "$1" ] && [ "$(head -c 4 "$1" | od -An -c | tr -d ' ')" = '177ELF' ]; }

# resolve_lib SONAME: the sysroot-relative path of the library.
resolve_lib() {
	local d
	for d in "${LIBDIRS[@]}"; do
		if [ -e "$SYSROOT/$d/$1" ]; then
			echo "$d/$1"
			return 0
		fi
	done
	return 1
}

# Walks every ELF in the image (except kernel modules), copies the dynamic
# loader and every NEEDED library from the sysroot, and repeats for what was
# copied until nothing new is needed.
install_libraries() {
	say "resolving shared libraries (ELF NEEDED) inside the sysroot"
	local -A seen=()
	local queue=() f so interp rel nlibs=0
	while IFS= read -r f; do
		is_elf "$f" && queue+=("$f")
	done < <(find "$IMG" -path "$IMG/lib/modules" -prune -o -type f -print | LC_ALL=C sort)
	while [ "${#queue[@]}" -gt 0 ]; do
		f="${queue[0]}"
		queue=("${queue[@]:1}")
		interp=$(readelf -l "$f" 2>/dev/null | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
		if [ -n "$interp" ] && [ -z "${seen[$interp]:-}" ]; then
			seen[$interp]=1
			copy_path "$interp" || die "dynamic loader $interp of ${f#"$IMG"} is not in the packages"
		fi
		for so in $(readelf -d "$f" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
			[ -z "${seen[$so]:-}" ] || continue
			seen[$so]=1
			rel=$(resolve_lib "$so") ||
				die "${f#"$IMG"} needs $so, which no package in image/packages.lock provides (add its package to image/packages.txt and run image/lock.sh)"
			copy_path "$rel" || die "cannot copy $rel"
			rel=$(realpath "$IMG/$rel")
			queue+=("$rel")
			nlibs=$((nlibs + 1))
		done
	done
	say "  $nlibs shared libraries"
}

# --- packing --------------------------------------------------------------------

# Owners 0:0 (cpio -R), modes normalised, every mtime SOURCE_DATE_EPOCH, file
# list sorted, inodes renumbered, zstd at a fixed level on one thread.
normalise_tree() {
	say "normalising modes and timestamps"
	find "$IMG" -type d -exec chmod 0755 {} + &&
		find "$IMG" -type f -perm /111 -exec chmod 0755 {} + &&
		find "$IMG" -type f ! -perm /111 -exec chmod 0644 {} + &&
		chmod 1777 "$IMG/tmp" &&
		chmod 0700 "$IMG/root" &&
		find "$IMG" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
}

pack_initramfs() {
	say "packing initramfs.img (cpio newc, zstd -$ZSTD_LEVEL, one thread)"
	(cd "$IMG" && find . -mindepth 1 | LC_ALL=C sort |
		cpio -o -H newc -R 0:0 --reproducible --quiet) >"$WORK/initramfs.cpio" || die "cpio failed"
	zstd -q "-$ZSTD_LEVEL" -T1 --no-progress -f -o "$STAGE/initramfs.img" "$WORK/initramfs.cpio" || die "zstd failed"
	say "  $(du -k "$WORK/initramfs.cpio" | cut -f1) KiB uncompressed, $(du -k "$STAGE/initramfs.img" | cut -f1) KiB compressed"
}

install_boot_files() {
	say "installing vmlinuz, boot.ipxe template and iPXE binaries"
	cp "$SYSROOT/boot/vmlinuz-$KVER" "$STAGE/vmlinuz" &&
		cp "$ROOT/pxe/boot.ipxe.in" "$STAGE/boot.ipxe" || return 1
	cp "$SYSROOT/usr/lib/ipxe/undionly.kpxe" "$SYSROOT/usr/lib/ipxe/ipxe.efi" \
		"$SYSROOT/usr/lib/ipxe/snponly.efi" "$STAGE/" || die "iPXE binaries missing from the ipxe package"
	chmod 0644 "$STAGE"/*
}

# manifest.json: every package that contributed a file to the image or to
# out/, with version, architecture and the sha256 of the .deb.
write_manifest() {
	say "writing manifest.json (SBOM)"
	local cloudd_version
	# "cloudd VERSION"
	cloudd_version=$("$IMG/usr/sbin/cloudd" --version 2>/dev/null | awk 'NR == 1 { print $2 }') || true
	[ -n "$cloudd_version" ] || cloudd_version="$IMAGE_VERSION"
	(cd "$IMG" && find . -mindepth 1 ! -type d | sed 's|^\./||') >"$WORK/image-files" || return 1
	printf '%s\n' usr/lib/ipxe/undionly.kpxe usr/lib/ipxe/ipxe.efi usr/lib/ipxe/snponly.efi \
		"boot/vmlinuz-$KVER" >>"$WORK/image-files"
	awk -F'\t' 'NR == FNR { want[$1] = 1; next } ($1 in want) { print $2 "\t" $3 "\t" $4 }' \
		"$WORK/image-files" "$WORK/owners" | LC_ALL=C sort -u >"$WORK/used-packages" || return 1
	{
		printf '{\n'
		printf '  "image_version": "%s",\n' "$IMAGE_VERSION"
		printf '  "cloudd_version": "%s",\n' "$cloudd_version"
		printf '  "project": {"name": "cloudd", "commit": "%s"},\n' "$PROJECT_COMMIT"
		printf '  "source_date_epoch": %s,\n' "$SOURCE_DATE_EPOCH"
		printf '  "kernel": "%s",\n' "$KVER"
		printf '  "distribution": "debian bookworm",\n'
		printf '  "toolchain": {"compiler": "gcc %s", "libc": "musl %s"},\n' \
			"$(pkg_version gcc-12)" "$(pkg_version musl-dev)"
		printf '  "packages": [\n'
		local name version arch sep="" sha dsc
		while IFS=$'\t' read -r name version arch; do
			sha=$(sha256sum "$(deb_file "$name" "$version")" | cut -d' ' -f1) || return 1
			printf '%s    {"name": "%s", "version": "%s", "architecture": "%s", "deb_sha256": "%s"}' \
				"$sep" "$name" "$version" "$arch" "$sha"
			sep=$',\n'
		done <"$WORK/used-packages"
		printf '\n  ],\n'
		# the C libraries linked into the static programs
		printf '  "source_packages": [\n'
		sep=""
		while read -r name version; do
			dsc=$(ls "$CACHE/srcpkg/${name}_${version}"/*.dsc 2>/dev/null | head -1)
			[ -n "$dsc" ] || die "source package $name $version is not in $CACHE/srcpkg (run ./build.sh libs)"
			sha=$(sha256sum "$dsc" | cut -d' ' -f1) || return 1
			printf '%s    {"name": "%s", "version": "%s", "dsc": "%s", "dsc_sha256": "%s", "linked_into": ["cloudd", "cloud-controller", "cloudctl"]}' \
				"$sep" "$name" "$version" "$(basename "$dsc")" "$sha"
			sep=$',\n'
		done < <(read_list "$THIRD_PARTY_LOCK")
		printf '\n  ],\n'
		# pins that had left the archive and what was used instead ("" = dropped / new)
		printf '  "substitutions": ['
		sep=""
		local kind pinned used
		while IFS=$'\t' read -r kind name pinned used; do
			printf '%s\n    {"kind": "%s", "name": "%s", "pinned": "%s", "used": "%s"}' \
				"$sep" "$kind" "$name" "$pinned" "$used"
			sep=","
		done < <([ -f "$SUBSTITUTIONS" ] && cat "$SUBSTITUTIONS")
		[ -z "$sep" ] || printf '\n  '
		printf ']\n}\n'
	} >"$STAGE/manifest.json" || return 1
	say "  $(wc -l <"$WORK/used-packages") packages"
}

# pkg_version PACKAGE: the installed version of a build-host package.
pkg_version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo unknown; }

# sbom.cdx.json: the manifest in CycloneDX 1.5 JSON.
write_cyclonedx() {
	say "writing sbom.cdx.json (CycloneDX 1.5)"
	python3 "$ROOT/initramfs/cyclonedx.py" "$STAGE/manifest.json" >"$STAGE/sbom.cdx.json" ||
		die "cannot write the CycloneDX SBOM"
}

write_sums() {
	say "writing SHA256SUMS"
	(cd "$STAGE" && LC_ALL=C ls | grep -v '^SHA256SUMS$' | xargs sha256sum >SHA256SUMS) || return 1
}

# inputs_digest: sha256 over everything the image is made from (this
# directory, image/, services/, pxe/, cloudd, SOURCE_DATE_EPOCH, IMAGE_VERSION)
inputs_digest() {
	{
		(cd "$ROOT" && find initramfs image services pxe -type f -print0 | LC_ALL=C sort -z |
			xargs -0 sha256sum)
		sha256sum "$OUT/bin/cloudd"
		cat "$LOCK" "$THIRD_PARTY_LOCK"
		[ -z "$SUBSTITUTIONS" ] || [ ! -f "$SUBSTITUTIONS" ] || cat "$SUBSTITUTIONS"
		echo "$SOURCE_DATE_EPOCH $IMAGE_VERSION $PROJECT_COMMIT"
	} | sha256sum | cut -d' ' -f1
}

# The image is rebuilt only when an input changed since the last build in $OUT.
up_to_date() {
	local f
	[ -f "$OUT/.image-inputs" ] && [ -x "$OUT/bin/cloudd" ] || return 1
	for f in vmlinuz initramfs.img boot.ipxe undionly.kpxe ipxe.efi snponly.efi manifest.json sbom.cdx.json SHA256SUMS; do
		[ -f "$OUT/$f" ] || return 1
	done
	[ "$(cat "$OUT/.image-inputs")" = "$(inputs_digest)" ] &&
		(cd "$OUT" && sha256sum --quiet -c SHA256SUMS >/dev/null 2>&1)
}

# Moves the finished artifacts into $OUT only when every step succeeded.
publish() {
	local f
	for f in "$STAGE"/*; do
		touch -d "@$SOURCE_DATE_EPOCH" "$f" && mv -f "$f" "$OUT/" || return 1
	done
	inputs_digest >"$OUT/.image-inputs" || return 1
	say "image in $OUT: vmlinuz $(du -k "$OUT/vmlinuz" | cut -f1) KiB + initramfs.img $(du -k "$OUT/initramfs.img" | cut -f1) KiB"
}

main() {
	case "${1:-}" in -h | --help) usage; exit 0 ;; "") ;; *) usage >&2; exit "$EX_USAGE" ;; esac
	check_env
	mkdir -p "$OUT" "$CACHE"
	if [ "${MKIMAGE_FORCE:-0}" != 1 ] && up_to_date; then
		say "image in $OUT is up to date (inputs unchanged; MKIMAGE_FORCE=1 rebuilds)"
		return 0
	fi
	rm -f "$OUT/.image-inputs"
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/cloudd-mkimage.XXXXXX")
	trap 'rm -rf "$WORK"' EXIT
	SYSROOT="$WORK/sysroot" IMG="$WORK/image" STAGE="$WORK/out"
	mkdir -p "$STAGE"
	step check_tools &&
		step check_cloudd &&
		step fetch_packages &&
		step unpack_packages &&
		step find_kernel &&
		step install_files &&
		step install_busybox_applets &&
		step install_cloudd &&
		step install_own_files &&
		step install_modules &&
		step install_libraries &&
		step normalise_tree &&
		step pack_initramfs &&
		step install_boot_files &&
		step write_manifest &&
		step write_cyclonedx &&
		step write_sums &&
		step publish
}

main "$@"
