#!/usr/bin/env bash
# A lab host's "machine": run inside the host's network namespace under
# `unshare --mount --uts --ipc --propagation private`, it mounts the host's own root (the
# shared Debian 13 root as a read-only lower layer, the host's disk as the upper layer),
# gives it private /proc, /dev, /dev/shm, /run and /tmp, copies its bootstrap files in (what
# cloud-init writes; the rest comes over SSH), and then sleeps. Services enter its namespaces; killing it is pulling the host's plug.
# Usage: host-holder.sh ROOTFS HOSTDIR HOSTNAME [DATA_DISK_MOUNTPOINT]
# The optional data disk (a Gluster brick's) is HOSTDIR/disk, mounted where the VM mounts its
# second disk: a filesystem of its own, as glusterd expects of a brick.
set -euo pipefail
rootfs=$1 hd=$2 name=$3 datadisk=${4:-}
m=$hd/root
mount -t overlay overlay -o "lowerdir=$rootfs,upperdir=$hd/upper,workdir=$hd/work" "$m"
mount -t proc proc "$m/proc"
mount -t sysfs -o ro sysfs "$m/sys"
mount -t tmpfs -o mode=755,size=4m,nosuid dev "$m/dev"
for d in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0 fuse:10:229; do
  IFS=: read -r n a b <<<"$d"; mknod -m 666 "$m/dev/$n" c "$a" "$b"
done
ln -s /proc/self/fd "$m/dev/fd"; ln -s /proc/self/fd/0 "$m/dev/stdin"
ln -s /proc/self/fd/1 "$m/dev/stdout"; ln -s /proc/self/fd/2 "$m/dev/stderr"
mkdir -p "$m/dev/shm" "$m/dev/pts"
mount -t tmpfs -o mode=1777,size=512m,nosuid,nodev shm "$m/dev/shm"   # PostgreSQL's shared memory
mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$m/dev/pts"; ln -s pts/ptmx "$m/dev/ptmx"
mount -t tmpfs -o mode=755,size=64m,nosuid,nodev run "$m/run"
mount -t tmpfs -o mode=1777,size=512m,nosuid,nodev tmp "$m/tmp"
# The lab's systemctl keeps main pids in /run/lab-units and logs in /var/log/lab: both are
# the host dir's, so the lab reads them from outside; the pids go with every boot.
rm -rf "$hd/units"; mkdir -p "$hd/units" "$hd/log" "$m/run/lab-units" "$m/var/log/lab"
mount --bind "$hd/units" "$m/run/lab-units"
mount --bind "$hd/log" "$m/var/log/lab"
if [ -n "$datadisk" ]; then
  mkdir -p "$hd/disk" "$m$datadisk"
  mount --bind "$hd/disk" "$m$datadisk"
fi
# --remove-destination: a staged file replaces a symlink (Debian links sites-enabled/default).
cp -a --remove-destination "$hd/stage/." "$m/"
# What systemd-tmpfiles does on a VM for the packages' runtime directories.
chroot "$m" sh -c 'id postgres >/dev/null 2>&1 && install -d -o postgres -g postgres -m 2775 /run/postgresql /var/log/postgresql; true'
hostname "$name"
echo $$ >"$hd/ready"
exec sleep infinity
