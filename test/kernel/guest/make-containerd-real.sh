#!/bin/sh
# Runs Debian 12's real containerd 1.6 with its devmapper snapshotter on a
# real kernel and records what containerd and the kernel say, for
# fixtures/containerd-real. Run by test/scripts/make-containerd-fixture.mjs
# (which unpacks containerd into /opt/containerd-1.6) in the VM, never on a
# host. Args: PROJECT_ROOT OUT_DIR.
#
# containerd's root, state, config and the snapshotter's root live on a
# tmpfs under /run: bolt databases and unix sockets fail on the 9p share.
# The thin pool is made beforehand by hand (dmsetup, two loop files), as the
# snapshotter's docs tell an admin to; containerd is told only its name.
# The image is an OCI archive of two layers made here and imported with
# `ctr images import` (no network). Snapshots are changed the real ways:
# containers made by `ctr containers create` (which prepares their active
# snapshots), files written into snapshots mounted with the mounts
# containerd itself hands out, a snapshot committed as a layer and another
# prepared on it, a view; a container in a second namespace; container
# "gone" removed with its snapshot after its device's bytes were read.
# Every device's bytes are read through the kernel while containerd runs.
set -eu
ROOT=$1; OUT=$2
[ "${DMTHIN_IN_VM:-}" = 1 ] || { echo "make-containerd-real.sh runs only in the VM (test/scripts/make-containerd-fixture.mjs)" >&2; exit 2; }
CTD=/opt/containerd-1.6
export PATH=$CTD/usr/bin:$CTD/usr/sbin:$PATH
W=/run/ct
mkdir -p $W $OUT
mount -t tmpfs -o size=1200m ct $W
export TMPDIR=$W/tmp
mkdir -p $TMPDIR
t0=$(date +%s)
say() { echo; echo "make-containerd-real: $* ($(( $(date +%s) - t0 )) s)"; }

# The pool: 64 KiB blocks, 512 MiB of data, 16 MiB of metadata.
mkdir -p $W/pool
truncate -s 16M $W/pool/metadata
truncate -s 512M $W/pool/data
MLOOP=$(losetup -f --show $W/pool/metadata)
DLOOP=$(losetup -f --show $W/pool/data)
dmsetup create --noudevsync ctdpool --table "0 $(( 512 * 2048 )) thin-pool $MLOOP $DLOOP 128 32768"

cat > $W/config.toml <<EOF
version = 2
root = "$W/root"
state = "$W/state"
[grpc]
  address = "$W/containerd.sock"
[plugins."io.containerd.snapshotter.v1.devmapper"]
  pool_name = "ctdpool"
  root_path = "$W/devmapper"
  base_image_size = "64MB"
  async_remove = false
  discard_blocks = false
EOF
containerd --config $W/config.toml > $OUT/containerd.log 2>&1 &
CPID=$!
C="ctr --address $W/containerd.sock"
i=0
until [ -S $W/containerd.sock ] && $C version >/dev/null 2>&1; do
  i=$((i + 1))
  if [ $i -gt 300 ] || ! kill -0 $CPID 2>/dev/null; then
    echo "containerd did not come up:"; tail -40 $OUT/containerd.log; exit 1
  fi
  sleep 1
done
$C plugins ls | grep -E 'snapshotter|TYPE' || true
say "containerd up"

# The image: an OCI archive of two layers (the second changes the first).
I=$W/img; L1=$W/l1; L2=$W/l2
mkdir -p $I/blobs/sha256 $L1/etc/app $L1/usr/share/doc/pkg $L1/var/lib/data $L1/bin $L2/etc/app $L2/opt/tool
echo "welcome" > $L1/etc/motd
printf '[app]\nport=80\n' > $L1/etc/app/config.ini
echo "readme" > $L1/usr/share/doc/pkg/README
head -c 200000 /dev/urandom > $L1/var/lib/data/blob.bin
: > $L1/bin/busybox
printf '[app]\nport=8080\n' > $L2/etc/app/config.ini
printf '#!/bin/sh\necho tool\n' > $L2/opt/tool/run.sh; chmod 755 $L2/opt/tool/run.sh
blob() { # file mediatype -> "digest size" and the blob stored
  d=$(sha256sum "$1" | cut -d' ' -f1); s=$(stat -c %s "$1")
  cp "$1" $I/blobs/sha256/$d
  echo "$d $s"
}
tar -C $L1 --numeric-owner -cf $W/l1.tar .
tar -C $L2 --numeric-owner -cf $W/l2.tar .
set -- $(blob $W/l1.tar); D1=$1; S1=$2
set -- $(blob $W/l2.tar); D2=$1; S2=$2
printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/busybox","sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s","sha256:%s"]}}' $D1 $D2 > $W/config.json
set -- $(blob $W/config.json); DC=$1; SC=$2
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s},{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' $DC $SC $D1 $S1 $D2 $S2 > $W/manifest.json
set -- $(blob $W/manifest.json); DM=$1; SM=$2
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"docker.io/dmthin/ct:1","org.opencontainers.image.ref.name":"1"}}]}' $DM $SM > $I/index.json
echo '{"imageLayoutVersion":"1.0.0"}' > $I/oci-layout
tar -C $I -cf $W/img.tar .
for ns in default other; do
  $C -n $ns images import --snapshotter devmapper $W/img.tar
done
$C -n default images ls
say "image imported"

S="snapshots --snapshotter devmapper"
# Writes into a snapshot through the mount containerd hands out for it.
write_into() { # namespace key script
  mkdir -p $W/mnt
  # ctr prints "-o" with nothing after it when there are no options.
  $C -n $1 $S mounts $W/mnt $2 | sed 's/ -o *$//' > $W/mount.sh
  cat $W/mount.sh
  sh $W/mount.sh
  ( cd $W/mnt && sh -c "$3" )
  sync
  umount $W/mnt
}
for c in web db gone; do
  $C -n default containers create --snapshotter devmapper docker.io/dmthin/ct:1 $c
done
$C -n other containers create --snapshotter devmapper docker.io/dmthin/ct:1 svc
write_into default web 'echo "<html>new</html>" > index.html; echo "port=9090" >> etc/app/config.ini; rm usr/share/doc/pkg/README; mkdir -p var/log; echo "web ran" > var/log/web.log'
write_into default db 'mkdir -p var/lib/data/tables; echo t1 > var/lib/data/tables/t1.tbl; head -c 300000 /dev/urandom > var/lib/data/db.bin'
write_into default gone 'mkdir -p var/cache/gone; head -c 150000 /dev/urandom > var/cache/gone/big.bin; echo "was here" > etc/motd'
write_into other svc 'echo "svc" > etc/motd'
say "containers written"

# A layer committed from a prepared snapshot, another prepared on it, a view.
TOP=$($C -n default $S info web | sed -n 's/.*"Parent": *"\([^"]*\)".*/\1/p')
echo "image top: $TOP"
$C -n default $S prepare work-1 $TOP
write_into default work-1 'mkdir -p srv; echo "layer two" > srv/layer.txt; rm etc/motd'
$C -n default $S commit layer-2 work-1
$C -n default $S prepare work-2 layer-2
write_into default work-2 'echo "on layer two" > srv/top.txt'
$C -n default $S view view-1 layer-2
say "layer committed, work-2 prepared, view-1 made"

# The record of what containerd says, for the tests to hold dmthin to.
for ns in default other; do
  echo "--- $ns" >> $OUT/snapshots.txt
  $C -n $ns $S ls >> $OUT/snapshots.txt
  for k in $($C -n $ns $S ls | awk 'NR > 1 { print $1 }'); do
    echo "=== $ns $k" >> $OUT/snapshot-info.txt
    $C -n $ns $S info $k >> $OUT/snapshot-info.txt
  done
  echo "--- $ns" >> $OUT/containers.txt
  $C -n $ns containers ls >> $OUT/containers.txt
  for c in $($C -n $ns containers ls -q); do
    echo "=== $ns $c" >> $OUT/container-info.txt
    $C -n $ns containers info $c >> $OUT/container-info.txt
  done
  echo "--- $ns" >> $OUT/images.txt
  $C -n $ns images ls >> $OUT/images.txt
done
cat $OUT/snapshots.txt $OUT/containers.txt
dmsetup ls | sort > $OUT/dmsetup-ls.txt
cat $OUT/dmsetup-ls.txt

# Every thin device's bytes as the kernel reads them while containerd runs:
# its ids from the metadata snapshot, each read through a read-only thin of
# its own beside containerd's (the snapshotter's devices are all
# base_image_size long, which containerd gives the active ones' tables).
SECT=$(dmsetup table $(dmsetup ls | awk '$1 ~ /^ctdpool-snap-/ { print $1; exit }') | awk '{ print $2 }')
echo "device sectors: $SECT" | tee $OUT/device-sectors.txt
read_devices() { # output file
  dmsetup message ctdpool 0 reserve_metadata_snap
  thin_dump -m $MLOOP > $W/dump.xml
  dmsetup message ctdpool 0 release_metadata_snap
  : > $1
  for id in $(sed -n 's/.*<device dev_id="\([0-9]*\)".*/\1/p' $W/dump.xml); do
    dmsetup create --noudevsync --readonly ro-$id --table "0 $SECT thin /dev/mapper/ctdpool $id"
    echo "$id $(md5sum < /dev/mapper/ro-$id | cut -d' ' -f1)" >> $1
    dmsetup remove --noudevsync ro-$id
  done
}
read_devices $OUT/devices-before-rm.txt
say "devices read"

# "gone": removed with its snapshot; containerd's garbage collector takes
# the device away afterwards.
GONE=$($C -n default $S ls | awk '$1 == "gone"')
echo "gone: $GONE" > $OUT/removed.txt
$C -n default containers rm gone
i=0
while $C -n default $S ls | awk '{ print $1 }' | grep -qx gone; do
  i=$((i + 1)); [ $i -gt 60 ] && { echo "snapshot gone was not removed"; exit 1; }
  sleep 1
done
sleep 3
dmsetup ls | sort > $OUT/dmsetup-ls-after-rm.txt
diff $OUT/dmsetup-ls.txt $OUT/dmsetup-ls-after-rm.txt >> $OUT/removed.txt || true
read_devices $OUT/devices.txt
diff $OUT/devices-before-rm.txt $OUT/devices.txt >> $OUT/removed.txt || true
cat $OUT/removed.txt
$C -n default $S ls > $OUT/snapshots-after-rm.txt
say "gone removed"

dmsetup status ctdpool > $OUT/pool-status.txt
kill -TERM $CPID
i=0
while kill -0 $CPID 2>/dev/null; do
  i=$((i + 1)); [ $i -gt 120 ] && { echo "containerd did not stop"; exit 1; }
  sleep 1
done
say "containerd stopped"
dmsetup ls || true
for d in $(dmsetup ls | awk '$1 ~ /^ctdpool-snap-/ { print $1 }'); do dmsetup remove --noudevsync $d; done
dmsetup remove --noudevsync ctdpool
losetup -d $MLOOP $DLOOP
cp $W/config.toml $OUT/config.toml
tar -C $W -cSf $OUT/ct.tar root devmapper pool
ls -laR $W/devmapper $W/root/io.containerd.metadata.v1.bolt
say "done"
