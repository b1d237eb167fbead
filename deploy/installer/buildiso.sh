#!/bin/sh
# Build the PVC installer ISO from Debian 12 packages:
#
#   sudo deploy/installer/buildiso.sh [--output pvc-installer.iso] [--cache /var/cache/pvc-iso]
#                                     [--mirror http://deb.debian.org/debian]
#
# Installs the Debian packages the build needs if they are missing (as root), then runs
# `python3 -m pvc.isobuild` from this checkout with Debian's python3 (nothing else needed).
set -eu
here=$(cd "$(dirname "$0")/../.." && pwd)
need="debootstrap squashfs-tools grub-common grub-pc-bin grub-efi-amd64-bin xorriso mtools"
missing=""
for p in $need; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "buildiso: needs root to install$missing (and for debootstrap)" >&2
    exit 1
  fi
  echo "buildiso: installing$missing" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
if [ "$(id -u)" != 0 ]; then
  echo "buildiso: debootstrap needs root; run it with sudo" >&2
  exit 1
fi
PYTHONPATH="$here/src" exec /usr/bin/python3 -m pvc.isobuild "$@"
