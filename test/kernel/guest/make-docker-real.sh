#!/bin/sh
# Runs Debian 12's real dockerd 20.10 (devicemapper, loop-lvm, ext4) on a
# real kernel and records what `docker diff` itself prints, for
# fixtures/docker-real. Run by test/scripts/make-docker-real-fixture.mjs
# (which unpacks docker.io, containerd and runc into /opt/docker-20.10)
# in the VM, never on a host.
# Args: PROJECT_ROOT OUT_DIR.
#
# dockerd's data root, its config and sockets live on a tmpfs under /run:
# bolt databases and unix sockets fail on the 9p share; /etc is a
# writable copy for its trust key. runc cannot
# pivot_root out of the guest's chroot, so DOCKER_RAMDISK makes it move the
# root instead. The image is a tar made here and `docker import`ed (no
# network). Containers are changed the real ways: "web" and "job" by
# `docker run` (busybox from the host's busybox-static bind-mounted over an
# empty /bin/busybox the image carries, so the mount adds nothing to the
# diff), "db" by `docker create` + `docker cp` without running. Each
# container's `docker diff` is recorded byte for byte; "job" is then
# removed (`docker rm`, blkdiscard off) and recorded as such. After a clean
# stop the pool is activated read-only and the md5 of every thin device is
# recorded as the kernel reads it; the Docker root is copied out with tar -S.
set -eu
ROOT=$1; OUT=$2
# Only ever in the VM's guest: it mounts over /etc and /sys/fs/cgroup.
[ "${DMTHIN_IN_VM:-}" = 1 ] || { echo "make-docker-real.sh runs only in the VM (test/scripts/make-docker-real-fixture.mjs)" >&2; exit 2; }
DOCKER=/opt/docker-20.10
export PATH=$DOCKER/usr/bin:$DOCKER/usr/sbin:$PATH
export DOCKER_RAMDISK=1
W=/run/dr
mkdir -p $W $OUT
mount -t tmpfs -o size=1200m dr $W
export TMPDIR=$W/tmp DOCKER_CONFIG=$W/cli DOCKER_HOST=unix://$W/docker.sock
mkdir -p $TMPDIR $DOCKER_CONFIG
# dockerd keeps its trust key in /etc/docker: a writable copy of /etc.
mkdir -p $W/etc; cp -a /etc/. $W/etc/; mount --bind $W/etc /etc; mkdir -p /etc/docker
mountpoint -q /sys/fs/cgroup || mount -t cgroup2 cgroup2 /sys/fs/cgroup
echo '{}' > $W/daemon.json
t0=$(date +%s)
say() { echo; echo "make-docker-real: $* ($(( $(date +%s) - t0 )) s)"; }

# containerd is started here and awaited: under emulation it takes longer
# to listen than dockerd waits for the one it starts itself.
containerd --root $W/containerd/root --state $W/containerd/state --address $W/containerd.sock \
  > $OUT/containerd.log 2>&1 &
CPID=$!
i=0
until [ -S $W/containerd.sock ] && ctr --address $W/containerd.sock version >/dev/null 2>&1; do
  i=$((i + 1))
  if [ $i -gt 300 ] || ! kill -0 $CPID 2>/dev/null; then
    echo "containerd did not come up:"; tail -40 $OUT/containerd.log; exit 1
  fi
  sleep 1
done
say "containerd up"
dockerd --containerd $W/containerd.sock --data-root $W/docker --exec-root $W/exec -H $DOCKER_HOST -p $W/docker.pid \
  --config-file $W/daemon.json \
  --storage-driver devicemapper \
  --storage-opt dm.override_udev_sync_check=true \
  --storage-opt dm.loopdatasize=1G --storage-opt dm.loopmetadatasize=32M \
  --storage-opt dm.basesize=256M --storage-opt dm.fs=ext4 --storage-opt dm.blkdiscard=false \
  --bridge=none --iptables=false --ip-masq=false --userland-proxy=false \
  > $OUT/dockerd.log 2>&1 &
DPID=$!
i=0
until docker version >/dev/null 2>&1; do
  i=$((i + 1))
  if [ $i -gt 240 ] || ! kill -0 $DPID 2>/dev/null; then
    echo "dockerd did not come up:"; tail -40 $OUT/dockerd.log; exit 1
  fi
  sleep 1
done
say "dockerd up"
docker info 2>/dev/null | sed -n '/Storage Driver/,/Logging Driver/p'

# The image: directories deep and shallow, files, a symlink, a hard link, a
# file (no sparse ones: docker import refuses GNU sparse tar headers; the
# containers make them), a file that will become a directory and a directory that
# will become a file.
I=$W/img
mkdir -p $I/bin $I/etc/app $I/usr/share/doc/pkg/a/b/c $I/var/lib/data $I/var/log $I/srv/www/old/img $I/opt/tool $I/opt/stuff/sub $I/tmp
: > $I/bin/busybox
echo "welcome" > $I/etc/motd
printf '[app]\nport=80\n' > $I/etc/app/config.ini
echo "old setting" > $I/etc/app/old.conf
echo "deep" > $I/usr/share/doc/pkg/a/b/c/deep.txt
echo "readme" > $I/usr/share/doc/pkg/README
ln $I/usr/share/doc/pkg/README $I/usr/share/doc/pkg/README.hard
echo "shallow" > $I/usr/share/doc/pkg/a/shallow.txt
head -c 65536 /dev/zero > $I/var/lib/data/db.dat
printf 'head' | dd of=$I/var/lib/data/db.dat conv=notrunc 2>/dev/null
echo "<html>index</html>" > $I/srv/www/index.html
echo "<html>old</html>" > $I/srv/www/old/page.html
echo "logo" > $I/srv/www/old/img/logo.txt
printf '#!/bin/sh\necho tool\n' > $I/opt/tool/run.sh; chmod 755 $I/opt/tool/run.sh
echo "a file" > $I/opt/thing
echo "in stuff" > $I/opt/stuff/sub/f.txt
echo "log" > $I/var/log/boot.log
ln -s etc/motd $I/motd.link
tar -C $I --numeric-owner -cf $W/img.tar .
docker import $W/img.tar dmthin/real:1 > /dev/null
say "image imported"

BB="-v /bin/busybox:/bin/busybox:ro"
RUN="docker run --network none $BB"
# web: every kind of change docker diff shows, by running in the container.
$RUN --name web dmthin/real:1 /bin/busybox sh -c '
B=/bin/busybox
$B echo "<html>new</html>" > /srv/www/new.html
$B echo "<p>more</p>" >> /srv/www/index.html
$B rm -rf /srv/www/old
$B mkdir -p /srv/www/assets/css
$B echo "body{}" > /srv/www/assets/css/site.css
$B chmod 600 /opt/tool/run.sh
$B mv /etc/app/old.conf /etc/app/renamed.conf
$B rm /opt/thing; $B mkdir /opt/thing; $B echo x > /opt/thing/inside
$B rm -rf /opt/stuff; $B echo "now a file" > /opt/stuff
$B ln -sf etc/app/config.ini /motd.link
$B printf data | $B dd of=/var/lib/data/db.dat bs=4096 seek=512 conv=notrunc 2>/dev/null
$B printf tail | $B dd of=/var/lib/data/sparse.bin bs=4096 seek=300 2>/dev/null
$B ln /etc/motd /etc/motd.hard
$B rm /usr/share/doc/pkg/a/b/c/deep.txt
$B echo "web ran" > /var/log/web.log
'
say "web ran"

# db: files added and one overwritten without running (docker cp).
docker create --name db --network none dmthin/real:1 /bin/busybox true > /dev/null
mkdir -p $W/cp/data/tables $W/cp/etc
echo "t1" > $W/cp/data/tables/t1.tbl
echo "t2" > $W/cp/data/tables/t2.tbl
echo "pid 1" > $W/cp/data/db.pid
echo "db motd" > $W/cp/etc/motd
docker cp $W/cp/data/. db:/var/lib/data/
docker cp $W/cp/etc/motd db:/etc/motd
say "db copied"

# job: deletions deep and shallow, a truncation; removed after recording.
$RUN --name job dmthin/real:1 /bin/busybox sh -c '
B=/bin/busybox
$B rm -rf /usr
$B rm /motd.link
$B truncate -s 0 /etc/motd
$B rm /var/log/boot.log
$B mkdir -p /var/cache/job/x/y
$B echo z > /var/cache/job/x/y/z
'
say "job ran"

: > $OUT/containers
for c in web db job; do
  docker diff $c > $OUT/diff-$c.txt
  id=$(docker inspect -f '{{.Id}}' $c)
  echo "$c $id" >> $OUT/containers
  echo "--- docker diff $c ($id)"; cat $OUT/diff-$c.txt
done
# The removed container's devices as the kernel read them before the
# removal (hash, thin id, md5), through a read-only thin on dockerd's pool.
POOL=$(dmsetup ls | sed -n 's/^\(docker-[^ \t]*-pool\).*/\1/p')
JOB=$(docker inspect -f '{{.Id}}' job)
: > $OUT/removed
for h in $(cat $W/docker/image/devicemapper/layerdb/mounts/$JOB/init-id) $(cat $W/docker/image/devicemapper/layerdb/mounts/$JOB/mount-id); do
  set -- $(node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1])); console.log(j.device_id, j.size)' $W/docker/devicemapper/metadata/$h)
  dmsetup create --noudevsync --readonly ro-job --table "0 $(( $2 / 512 )) thin /dev/mapper/$POOL $1"
  echo "$h $1 $(md5sum < /dev/mapper/ro-job | cut -d' ' -f1)" >> $OUT/removed
  dmsetup remove --noudevsync ro-job
done
cat $OUT/removed
docker rm job > /dev/null
say "job removed"
docker ps -a --no-trunc
ls -la $W/docker/devicemapper/metadata

kill -TERM $DPID
i=0
while kill -0 $DPID 2>/dev/null; do
  i=$((i + 1)); [ $i -gt 120 ] && { echo "dockerd did not stop"; exit 1; }
  sleep 1
done
say "dockerd stopped"
kill -TERM $CPID; wait $CPID 2>/dev/null || true
dmsetup ls || true
losetup -a || true
tail -5 $OUT/dockerd.log

# What the kernel reads from each thin device: the pool read-only.
DM=$W/docker/devicemapper
MLOOP=$(losetup -r -f --show $DM/devicemapper/metadata)
DLOOP=$(losetup -r -f --show $DM/devicemapper/data)
DSECT=$(( $(stat -c %s $DM/devicemapper/data) / 512 ))
dmsetup create --noudevsync ro-pool --table "0 $DSECT thin-pool $MLOOP $DLOOP 128 0 1 read_only"
: > $OUT/facts
for f in $DM/metadata/*; do
  h=$(basename $f)
  case $h in deviceset-metadata|transaction-metadata) continue;; esac
  set -- $(node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1])); console.log(j.device_id, j.size)' $f)
  dmsetup create --noudevsync ro-thin --table "0 $(( $2 / 512 )) thin /dev/mapper/ro-pool $1"
  echo "$h $1 $(md5sum < /dev/mapper/ro-thin | cut -d' ' -f1)" >> $OUT/facts
  dmsetup remove --noudevsync ro-thin
done
echo "pool $(dmsetup status ro-pool)" >> $OUT/facts
dmsetup remove --noudevsync ro-pool
losetup -d $MLOOP $DLOOP
cat $OUT/facts
tar -C $W -S -cf $OUT/docker.tar docker
say "tree copied out"
