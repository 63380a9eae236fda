#!/usr/bin/env bash
# Builds, once, a Debian 13 (trixie) root holding the packages the VMs get, and adds any
# package missing from an existing root. The lab runs every service from this root, and
# the renderer tests validate configs with its binaries, so both run what a VM runs.
# Usage: rootfs.sh DIR PACKAGE...    (needs root; progress on stderr; prints DIR)
set -euo pipefail
dest=${1:?usage: rootfs.sh DIR PACKAGE...}; shift
mirror=${NCHA_DEBIAN_MIRROR:-http://deb.debian.org/debian}
log() { printf '[rootfs] %s\n' "$*" >&2; }

[ "$(id -u)" = 0 ] || { echo "rootfs.sh: needs root (debootstrap and chroot)" >&2; exit 1; }
if ! command -v debootstrap >/dev/null; then
  log "installing debootstrap on the host"
  apt-get update -qq >&2 && apt-get install -y -qq debootstrap >&2
fi

if [ ! -f "$dest/.debootstrap-done" ]; then
  log "debootstrap trixie into $dest (about a minute)"
  rm -rf --one-file-system "$dest"; mkdir -p "$dest"
  debootstrap --variant=minbase trixie "$dest" "$mirror" >"$dest.debootstrap.log" 2>&1 \
    || { log "debootstrap failed; see $dest.debootstrap.log"; exit 1; }
  # Keep apt from starting services inside the root: the lab starts them itself.
  printf '#!/bin/sh\nexit 101\n' >"$dest/usr/sbin/policy-rc.d"; chmod +x "$dest/usr/sbin/policy-rc.d"
  touch "$dest/.debootstrap-done"
fi

missing=()
for p in "$@"; do
  chroot "$dest" dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  # A running lab mounts this root as the lower layer of every host: it must not change under it.
  if grep -qs "lowerdir=$dest," /proc/[0-9]*/mountinfo; then
    echo "rootfs.sh: a running lab uses $dest; run 'npm run lab -- down' before adding packages (${missing[*]})" >&2; exit 1
  fi
  log "installing into the root: ${missing[*]}"
  trap 'for m in dev sys proc; do umount -l "$dest/$m" 2>/dev/null || true; done' EXIT
  for m in proc sys dev; do mountpoint -q "$dest/$m" || mount --bind "/$m" "$dest/$m"; done
  mkdir -p "$dest/etc/postgresql-common/createcluster.d"
  echo "create_main_cluster = false" >"$dest/etc/postgresql-common/createcluster.d/50-lab.conf"
  chroot "$dest" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  chroot "$dest" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$dest.apt.log" 2>&1 \
    || { log "apt-get install failed; see $dest.apt.log"; exit 1; }
fi
# The VMs never get Debian's default cluster (Patroni creates its own); neither does the root.
if [ -d "$dest/etc/postgresql/17/main" ]; then
  log "dropping Debian's default PostgreSQL cluster from the root"
  chroot "$dest" pg_dropcluster 17 main >&2
fi
echo "$dest"
