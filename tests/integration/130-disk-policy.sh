#!/usr/bin/env bash
# disk policy with loop devices: a blank disk is initialised and mounted, a labelled disk is reused with its data, a foreign disk is left alone unless wiped
# timeout: 180
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/guestkit.sh"
require_root
require_cmd losetup mkfs.ext4 mkfs.xfs gcc blkid
guestkit_driver
NT="$GUESTKIT_DRIVER"
MNT="$TEST_TMP/mnt"

# loop devices over sparse files; only these are in the policy's device list,
# so no other disk of the machine is ever considered
loopdev() {
	local f="$TEST_TMP/$1.img" dev
	truncate -s "$2" "$f"
	dev=$(losetup --find --show "$f")
	cleanup_add "losetup -d $dev"
	basename "$dev"
}
BLANK=$(loopdev blank 320M)
LABELLED=$(loopdev labelled 300M)
FOREIGN=$(loopdev foreign 320M)
mkfs.ext4 -q -F -L CLOUDD "/dev/$LABELLED"
mkfs.ext4 -q -F -L userdata "/dev/$FOREIGN"
# data that must survive: the labelled disk already holds a volume
mkdir -p "$TEST_TMP/pre"
mount "/dev/$LABELLED" "$TEST_TMP/pre"
mkdir -p "$TEST_TMP/pre/volumes/i-old" && echo keep >"$TEST_TMP/pre/volumes/i-old/root.raw"
umount "$TEST_TMP/pre"
cleanup_add "umount -l '$MNT'"
FOREIGN_SUM=$(head -c 4M "/dev/$FOREIGN" | sha256sum)
BLANK_SUM=$(head -c 4M "/dev/$BLANK" | sha256sum)

decision() { # REPORT NAME -> "decision selected reason"
	python3 -c 'import json,sys
for d in json.load(open(sys.argv[1])):
    if d["name"] == sys.argv[2]: print(d["decision"], d["selected"], d["reason"])' "$1" "$2"
}
policy() { echo "allow_loop=1 include=$BLANK,$LABELLED,$FOREIGN mountpoint=$MNT $*"; }

log "labelled disk present: it is used (not the blank one), its data is there"
"$NT" disks /sys /proc/self/mountinfo "$(policy init=blank select=largest)" apply >"$TEST_TMP/r1.json"
cat "$TEST_TMP/r1.json"
decision "$TEST_TMP/r1.json" "$LABELLED" | grep -q "^use True" || fail "labelled: $(decision "$TEST_TMP/r1.json" "$LABELLED")"
decision "$TEST_TMP/r1.json" "$BLANK" | grep -q "^ignore False .*not selected" || fail "blank: $(decision "$TEST_TMP/r1.json" "$BLANK")"
decision "$TEST_TMP/r1.json" "$FOREIGN" | grep -q 'foreign content left alone: ext2/3/4 filesystem, label "userdata"' ||
	fail "foreign: $(decision "$TEST_TMP/r1.json" "$FOREIGN")"
findmnt -n -o SOURCE "$MNT" | grep -q "/dev/$LABELLED" || fail "labelled disk not mounted at $MNT"
[ "$(cat "$MNT/volumes/i-old/root.raw")" = keep ] || fail "data on the labelled disk not found"

log "run again (cloudd restarted): the mounted disk is recognised, nothing re-done"
"$NT" disks /sys /proc/self/mountinfo "$(policy init=blank)" apply >"$TEST_TMP/r2.json"
decision "$TEST_TMP/r2.json" "$LABELLED" | grep -q "^use True" || fail "remount: $(decision "$TEST_TMP/r2.json" "$LABELLED")"
[ "$(findmnt -n -o SOURCE "$MNT" | wc -l)" -eq 1 ] || fail "mounted twice"
umount "$MNT"

log "without the labelled disk: init=never leaves the blank disk blank"
P2="allow_loop=1 include=$BLANK,$FOREIGN mountpoint=$MNT"
"$NT" disks /sys /proc/self/mountinfo "$P2 init=never" apply >"$TEST_TMP/r3.json"
decision "$TEST_TMP/r3.json" "$BLANK" | grep -q "init=never" || fail "init=never: $(decision "$TEST_TMP/r3.json" "$BLANK")"
[ "$(head -c 4M "/dev/$BLANK" | sha256sum)" = "$BLANK_SUM" ] || fail "the blank disk was written with init=never"
findmnt "$MNT" >/dev/null && fail "something was mounted with nothing to claim"

log "init=blank fs=xfs: the blank disk gets an xfs filesystem labelled CLOUDD and is mounted"
"$NT" disks /sys /proc/self/mountinfo "$P2 init=blank fs=xfs" apply >"$TEST_TMP/r4.json"
decision "$TEST_TMP/r4.json" "$BLANK" | grep -q "^initialise True" || fail "blank: $(decision "$TEST_TMP/r4.json" "$BLANK")"
[ "$(blkid -o value -s LABEL "/dev/$BLANK")" = CLOUDD ] || fail "no CLOUDD label on the initialised disk"
[ "$(blkid -o value -s TYPE "/dev/$BLANK")" = xfs ] || fail "not xfs"
findmnt -n -o SOURCE "$MNT" | grep -q "/dev/$BLANK" || fail "initialised disk not mounted"
[ "$(head -c 4M "/dev/$FOREIGN" | sha256sum)" = "$FOREIGN_SUM" ] || fail "the foreign disk was touched"
umount "$MNT"

log "the machine's own disks are never candidates: without an include list every non-loop disk is left alone"
"$NT" disks /sys /proc/self/mountinfo "init=blank mountpoint=$TEST_TMP/none" >"$TEST_TMP/r5.json"
python3 -c 'import json,sys
for d in json.load(open(sys.argv[1])):
    if d["loop"]: assert d["decision"] == "ignore", d
    if d["mounted_at"] or "in use" in d["reason"]: assert d["decision"] == "ignore", d' "$TEST_TMP/r5.json" ||
	fail "a loop or in-use disk was a candidate: $(cat "$TEST_TMP/r5.json")"

log "wipe: only an explicitly listed foreign disk is wiped and initialised"
"$NT" disks /sys /proc/self/mountinfo "allow_loop=1 include=$FOREIGN mountpoint=$MNT init=blank wipe=$FOREIGN" apply >"$TEST_TMP/r6.json"
decision "$TEST_TMP/r6.json" "$FOREIGN" | grep -q "^wipe True" || fail "wipe: $(decision "$TEST_TMP/r6.json" "$FOREIGN")"
[ "$(blkid -o value -s LABEL "/dev/$FOREIGN")" = CLOUDD ] || fail "wiped disk not labelled"
umount "$MNT"
log "ok"
