#!/usr/bin/env bash
# apt-get install cloud-controller cloudctl from the signed repository into a fresh Debian 12 root; then cloud-controller -n, cloudctl --help, man -w, the system user, bash completion and a start as that user
# timeout: 900
. "$ROOT/tests/release/lib-release.sh"
require_root
require_cmd mmdebstrap unshare chroot tar
require_release

root="$TEST_TMP/root"
fresh_root "$root"
add_repo "$root" "$REL/apt" "$REL/cloudd-archive-keyring.gpg"
cat "$root/etc/apt/sources.list.d/cloudd.list"

log "apt-get update"
in_root "$root" apt-get update >"$TEST_TMP/update.log" 2>&1 || { cat "$TEST_TMP/update.log"; fail "apt-get update failed"; }
cat "$TEST_TMP/update.log"
grep -q "file:/srv/cloudd-apt $SUITE InRelease" "$TEST_TMP/update.log" || fail "apt did not read the repository's InRelease"
if grep -E '^(W|E):' "$TEST_TMP/update.log" | grep -q cloudd-apt; then fail "apt warns about the repository"; fi

log "apt-get install cloud-controller cloudctl"
in_root "$root" apt-get install -y cloud-controller cloudctl >"$TEST_TMP/install.log" 2>&1 ||
	{ cat "$TEST_TMP/install.log"; fail "apt-get install failed"; }
tail -20 "$TEST_TMP/install.log"
in_root "$root" apt-cache policy cloud-controller | tee "$TEST_TMP/policy" | grep -q 'file:/srv/cloudd-apt' ||
	{ cat "$TEST_TMP/policy"; fail "cloud-controller did not come from the repository"; }
for p in cloud-controller cloudctl; do
	in_root "$root" dpkg-query -W -f='${Status}\n' "$p" | grep -qx 'install ok installed' || fail "$p is not installed"
done

log "inside the root: cloud-controller -n"
in_root "$root" cloud-controller -n >"$TEST_TMP/check.out" 2>&1 || { cat "$TEST_TMP/check.out"; fail "cloud-controller -n failed"; }
cat "$TEST_TMP/check.out"
grep -q 'configuration ok (/etc/cloudd/controller.conf)' "$TEST_TMP/check.out" ||
	fail "cloud-controller -n did not check /etc/cloudd/controller.conf"

log "inside the root: cloudctl --help"
in_root "$root" cloudctl --help >"$TEST_TMP/help.out" 2>&1 || { cat "$TEST_TMP/help.out"; fail "cloudctl --help failed"; }
grep -q '^usage: cloudctl' "$TEST_TMP/help.out" || fail "cloudctl --help printed no usage"

log "inside the root: man -w"
out=$(in_root "$root" man -w cloudctl) || fail "man -w cloudctl failed"
[ "$out" = /usr/share/man/man1/cloudctl.1.gz ] || fail "man -w cloudctl: $out"
for m in cloud-controller:8 controller.conf:5; do
	in_root "$root" man -w "${m#*:}" "${m%:*}" >/dev/null || fail "man -w ${m#*:} ${m%:*} failed"
done
in_root "$root" man -P cat cloudctl 2>/dev/null | grep -q 'EXIT STATUS' || fail "man cloudctl does not render"

log "the system user cloudd and its data directory"
in_root "$root" getent passwd cloudd | tee "$TEST_TMP/passwd" | grep -q '^cloudd:' || fail "no user cloudd"
[ "$(in_root "$root" stat -c '%U:%G %a' /var/lib/cloud-controller)" = "cloudd:cloudd 700" ] ||
	fail "/var/lib/cloud-controller: $(in_root "$root" stat -c '%U:%G %a' /var/lib/cloud-controller)"
in_root "$root" dpkg-query -W -f='${Conffiles}\n' cloud-controller | grep -q '/etc/cloudd/controller.conf' ||
	fail "controller.conf is not a conffile of the installed package"
in_root "$root" test -f /lib/systemd/system/cloud-controller.service || fail "no systemd unit"

log "cloud-controller starts as cloudd with the packaged configuration and writes its admin key"
in_root "$root" setpriv --reuid=cloudd --regid=cloudd --init-groups \
	cloud-controller --listen 127.0.0.1:0 >"$TEST_TMP/controller.log" 2>&1 &
pid=$!
cleanup_add "kill $pid"
wait_for 30 "the admin key file" test -s "$root/var/lib/cloud-controller/admin.conf"
wait_for 10 "the controller serving HTTP" grep -q 'serving HTTP' "$TEST_TMP/controller.log"
kill "$pid"
wait "$pid" || true
cat "$TEST_TMP/controller.log"
[ "$(in_root "$root" stat -c '%U %a' /var/lib/cloud-controller/admin.conf)" = "cloudd 600" ] ||
	fail "admin.conf is not the controller's only"
[ "$(in_root "$root" stat -c '%U' /var/lib/cloud-controller/controller.db)" = cloudd ] || fail "controller.db is not cloudd's"

log "bash completion of cloudctl"
in_root "$root" bash -c '
	. /usr/share/bash-completion/bash_completion
	_completion_loader cloudctl
	complete -p cloudctl | grep -q _cloudctl || { echo "no completion loaded for cloudctl"; exit 1; }
	t() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}; COMPREPLY=(); _cloudctl; echo "${COMPREPLY[*]}"; }
	[ "$(t cloudctl inst)" = "instance instance-type" ] || { echo "cloudctl inst: $(t cloudctl inst)"; exit 1; }
	[ "$(t cloudctl instance cr)" = create ] || { echo "cloudctl instance cr: $(t cloudctl instance cr)"; exit 1; }
	[ "$(t cloudctl -o json security-group rule add web --protocol ic)" = "icmp icmpv6" ] || exit 1
	[ "$(t cloudctl images publish x --no)" = "--no-wait" ] || exit 1
' >"$TEST_TMP/completion.log" 2>&1 || { cat "$TEST_TMP/completion.log"; fail "bash completion of cloudctl"; }

log "installed from the signed repository; the programs, man pages, user and completion work"
