#!/bin/sh
# PID 1 of the test VM (static busybox, in the initramfs that lib.mjs builds).
# Loads the modules, puts the host's / (9p, read-only) under a tmpfs overlay at
# /newroot, runs /io/run.sh there (chroot) with stdout/stderr going to files in
# the read-write share /io, writes the exit status to /io/status, powers off.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t devtmpfs dev /dev
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sys /sys
echo "vm-init: start"   # the host's sign of life

fail() { echo "vm-init: FAILED: $*"; poweroff -f; reboot -f; }

# one process loads them all (kmod costs ~0.25 s a process under TCG)
modprobe -a $(cat /etc/vm-modules) || fail "modprobe"
# request_module() runs /sbin/modprobe of this initramfs: it knows only the
# modules shipped here, so unknown names (SADB_REGISTER probes ~84) fail at once.

p9="trans=virtio,version=9p2000.L,msize=262144"
mkdir -p /lower /rw /newroot /io
mount -t 9p -o "$p9,ro,cache=loose" root /lower || fail "mount root"
mount -t 9p -o "$p9,cache=none" io /io || fail "mount io"
mount -t tmpfs -o mode=755 rw /rw && mkdir /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot ||
  fail "mount overlay"
R=/newroot
mount -t proc proc $R/proc
mount -t sysfs sys $R/sys
mount -t devtmpfs dev $R/dev
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts devpts $R/dev/pts
mount -t tmpfs shm $R/dev/shm
mount -t tmpfs -o mode=755 run $R/run
hostname vm
ip link set lo up
cp /io/run.sh $R/run/vm-run.sh

echo "vm-init: run"
# (via fds 3 and 4 so that this shell's own "Terminated" notes go to the console)
chroot $R /bin/sh -c 'exec /bin/sh /run/vm-run.sh </dev/null >&3 2>&4 3>&- 4>&-' 3>/io/stdout 4>/io/stderr
echo $? >/io/status.tmp && mv /io/status.tmp /io/status
echo "vm-init: done"
poweroff -f
reboot -f
