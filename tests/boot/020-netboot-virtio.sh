#!/usr/bin/env bash
# virtio-net NIC netboots the image over dnsmasq + HTTP; cloudd's /health and /v1/sysinfo answer with the VM's MAC
# timeout: 420
. "$ROOT/tests/lib.sh"
. "$ROOT/tests/boot/lib-boot.sh"

boot_lab_up
boot_and_check virtio virtio-net-pci 52:54:00:c1:0f:20
