#!/usr/bin/env bash
# the Debian packages: lintian reports no error, each holds its programs, man pages, conffile, unit and completion, and the man pages render without warnings
# timeout: 600
. "$ROOT/tests/release/lib-release.sh"
require_cmd lintian dpkg-deb man
require_release

debs=("$REL"/debs/*.deb)
[ "${#debs[@]}" -eq 3 ] || fail "expected 3 packages in $REL/debs, found ${#debs[@]}"

log "lintian (errors fail; warnings shown; the overrides are in packaging/debian/*.lintian-overrides)"
lintian --fail-on error --display-level '>=warning' "${debs[@]}" >"$TEST_TMP/lintian.log" 2>&1 ||
	{ cat "$TEST_TMP/lintian.log"; fail "lintian reports errors"; }
cat "$TEST_TMP/lintian.log"
if grep -q '^E: ' "$TEST_TMP/lintian.log"; then fail "lintian printed errors"; fi

# contents PACKAGE: the paths of a package
contents() { dpkg-deb -c "$REL"/debs/"$1"_*.deb | awk '{ print $6 }' | sed 's|^\./|/|'; }
has() {
	local pkg="$1" path="$2"
	contents "$pkg" | grep -qx "$path" || fail "$pkg does not hold $path"
}

log "cloud-controller"
for p in /usr/sbin/cloud-controller /etc/cloudd/controller.conf /usr/share/cloudd/pxe/boot.ipxe.in \
	/usr/share/cloudd/pxe/dnsmasq.conf.in /usr/share/cloudd/pxe/dnsmasq-proxy.conf.in \
	/lib/systemd/system/cloud-controller.service /usr/share/man/man8/cloud-controller.8.gz \
	/usr/share/man/man5/controller.conf.5.gz /var/lib/cloud-controller/ /usr/share/doc/cloud-controller/copyright; do
	has cloud-controller "$p"
done
dpkg-deb -I "$REL"/debs/cloud-controller_*.deb conffiles | grep -qx /etc/cloudd/controller.conf ||
	fail "/etc/cloudd/controller.conf is not a conffile"
dpkg-deb -x "$REL"/debs/cloud-controller_*.deb "$TEST_TMP/cc"
unit="$TEST_TMP/cc/lib/systemd/system/cloud-controller.service"
for d in User=cloudd ProtectSystem=strict NoNewPrivileges=yes ReadWritePaths=/var/lib/cloud-controller \
	'AmbientCapabilities=CAP_NET_BIND_SERVICE CAP_NET_ADMIN CAP_NET_RAW' PrivateTmp=yes; do
	grep -qx "$d" "$unit" || fail "the unit lacks $d"
done
# (continuation lines joined)
dpkg-deb -I "$REL"/debs/cloud-controller_*.deb postinst | sed -e ':a' -e '/\\$/N; s/\\\n//; ta' |
	grep -q 'adduser .*--system .* cloudd$' ||
	fail "the postinst does not create the user cloudd"
# systemd reads every directive, and rates the sandbox (when the host has systemd-analyze)
if command -v systemd-analyze >/dev/null; then
	systemd-analyze verify --root="$TEST_TMP/cc" "$unit" >"$TEST_TMP/verify.log" 2>&1 || true
	cat "$TEST_TMP/verify.log"
	if grep -Ei 'unknown|ignoring|invalid|bad' "$TEST_TMP/verify.log"; then fail "systemd does not read the unit as written"; fi
	systemd-analyze security --offline=yes --root="$TEST_TMP/cc" "$unit" >"$TEST_TMP/security.log" 2>&1 ||
		{ cat "$TEST_TMP/security.log"; fail "systemd-analyze security failed"; }
	exposure=$(sed -n 's/.*Overall exposure level for cloud-controller.service: \([0-9.]*\).*/\1/p' "$TEST_TMP/security.log")
	log "systemd-analyze security: exposure $exposure"
	awk -v e="$exposure" 'BEGIN { exit !(e != "" && e + 0 <= 3.0) }' || fail "the unit's exposure is $exposure, above 3.0"
else
	log "no systemd-analyze on this host: the unit's directives are not checked by systemd"
fi
# the packaged default configuration is what the program reads as valid
"$TEST_TMP/cc/usr/sbin/cloud-controller" -c "$TEST_TMP/cc/etc/cloudd/controller.conf" -n ||
	fail "cloud-controller refuses its packaged controller.conf"
# and it names every option the program has (commented out, with its default)
"$TEST_TMP/cc/usr/sbin/cloud-controller" --help | sed -n 's/^      --\([a-z0-9-]*\) .*/\1/p' >"$TEST_TMP/options"
[ -s "$TEST_TMP/options" ] || fail "no options in cloud-controller --help"
while read -r o; do
	grep -q "^#$o = \\|^#$o =\$" "$TEST_TMP/cc/etc/cloudd/controller.conf" || fail "controller.conf does not show option $o"
	zcat "$TEST_TMP/cc/usr/share/man/man5/controller.conf.5.gz" | grep -q "^\\.It Cm $o " ||
		fail "controller.conf(5) does not describe option $o"
done <"$TEST_TMP/options"

log "cloudctl"
for p in /usr/bin/cloudctl /usr/share/man/man1/cloudctl.1.gz /usr/share/bash-completion/completions/cloudctl; do
	has cloudctl "$p"
done

log "cloudd-image"
version=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["image_version"])' "$REL/manifest.json")
for p in vmlinuz initramfs.img SHA256SUMS manifest.json boot.ipxe vmlinuz.sig initramfs.img.sig; do
	has cloudd-image "/usr/share/cloudd/images/$version/$p"
done
has cloudd-image /usr/share/man/man8/cloudd.8.gz
has cloudd-image /usr/share/man/man5/cloudd.conf.5.gz
dpkg-deb -x "$REL"/debs/cloudd-image_*.deb "$TEST_TMP/img"
# the node daemon's options, all in cloudd.conf(5)
cloudd_help=$("$OUT/bin/cloudd" --help | sed -n 's/^      --\([a-z0-9-]*\) .*/\1/p')
[ -n "$cloudd_help" ] || fail "no options in cloudd --help"
for o in $cloudd_help; do
	zcat "$TEST_TMP/img/usr/share/man/man5/cloudd.conf.5.gz" | grep -q "^\\.It Cm $o " ||
		fail "cloudd.conf(5) does not describe option $o"
done

log "the man pages render without warnings"
for m in "$TEST_TMP"/cc/usr/share/man/*/*.gz "$TEST_TMP"/img/usr/share/man/*/*.gz; do
	LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "$m" 2>"$TEST_TMP/man.err" >/dev/null ||
		fail "man cannot render $m"
	[ ! -s "$TEST_TMP/man.err" ] || { cat "$TEST_TMP/man.err"; fail "warnings rendering $m"; }
done

log "package sizes"
for d in "${debs[@]}"; do log "  $(basename "$d"): $(stat -c %s "$d") bytes"; done
log "3 packages, no lintian error, contents as expected"
