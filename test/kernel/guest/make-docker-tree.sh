#!/bin/sh
# Builds a Docker devicemapper tree on a real kernel, the way Docker's
# driver lays it out (loop-lvm), for the forensics fixtures. Run by
# test/scripts/make-docker-fixture.mjs. Args: PROJECT_ROOT OUT_DIR.
# It makes: a base device with ext4; two image layers (snapshots of base,
# then of layer 1) with an id file and rootfs/; containers "web" and "db"
# (an -init snapshot of the top layer, then the container's snapshot of it)
# with files written in each; a removed container (devices deleted, records
# gone); and a crash mid-transaction (a snapshot made in the pool, the
# transaction opened, never recorded). Then records what the kernel reads
# from every device (md5) in OUT_DIR/facts, and from the removed container's
# devices before their removal in OUT_DIR/removed (thin id, md5).
set -eu
ROOT=$1; OUT=$2
DMTHIN="node $ROOT/dist/dmthin.cjs"
export DM_DISABLE_UDEV=1
D=$OUT/docker
DM=$D/devicemapper
mkdir -p $DM/devicemapper $DM/metadata $DM/mnt $D/image/devicemapper/layerdb/sha256 $D/image/devicemapper/layerdb/mounts $D/containers
PREFIX=$(node -e '
  const st = require("fs").statSync(process.argv[1]);
  const maj = Math.floor(st.dev / 256) & 0xfff, min = (st.dev & 0xff) | (Math.floor(st.dev / 4096) & 0xfff00);
  console.log(`docker-${maj}:${min}-${st.ino}`);' $DM)
POOL=$PREFIX-pool
SIZE=33554432
TID=0
$DMTHIN pool create $POOL --data $DM/devicemapper/data --metadata $DM/devicemapper/metadata --data-size 256M --metadata-size 16M --block-size 64k

record() { # record HASH ID INITIALIZED: Docker's per-device JSON
  printf '{"device_id":%s,"size":%s,"transaction_id":%s,"initialized":%s,"deleted":false}' $2 $SIZE $TID $3 > $DM/metadata/$1
}
commit() { # Docker bumps the pool's transaction id after each change
  dmsetup message $POOL 0 set_transaction_id $TID $((TID + 1)); TID=$((TID + 1))
  printf '{"open_transaction_id":%s,"device_hash":"%s","device_id":%s}' $TID "$1" $2 > $DM/metadata/transaction-metadata
}
snap() { # snap NEWID ORIGINID HASH
  $DMTHIN snap create $POOL $1 $2 --size $SIZE --name $PREFIX-$3 >/dev/null
  record $3 $1 false; commit $3 $1
}
populate() { # populate HASH: mount, write the id file and rootfs content, unmount
  mkdir -p $DM/mnt/$1
  mount /dev/mapper/$PREFIX-$1 $DM/mnt/$1
  echo "$1" > $DM/mnt/$1/id
  mkdir -p $DM/mnt/$1/rootfs
  shift; for f in "$@"; do mkdir -p $(dirname $DM/mnt/$1/rootfs/$f) 2>/dev/null || true; done
}

# Base device (thin 1): ext4, initialized.
$DMTHIN thin create $POOL 1 --size $SIZE --name $PREFIX-base >/dev/null
record base 1 false; commit base 1
mkfs.ext4 -q -E nodiscard,lazy_itable_init=0,lazy_journal_init=0 /dev/mapper/$PREFIX-base
record base 1 true
printf '{"next_device_id":2,"BaseDeviceUUID":"fixture-uuid","BaseDeviceFilesystem":"ext4"}' > $DM/metadata/deviceset-metadata

layer() { # layer ID ORIGIN_ID ORIGIN_HASH HASH CHAIN FILE CONTENT
  snap $1 $2 $4
  mkdir -p $DM/mnt/$4; mount /dev/mapper/$PREFIX-$4 $DM/mnt/$4
  echo "$4" > $DM/mnt/$4/id; mkdir -p $DM/mnt/$4/rootfs/$(dirname $6)
  echo "$7" > $DM/mnt/$4/rootfs/$6
  sync; umount $DM/mnt/$4
  record $4 $1 true
  mkdir -p $D/image/devicemapper/layerdb/sha256/$5; printf '%s' $4 > $D/image/devicemapper/layerdb/sha256/$5/cache-id
}
L1=1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a
L2=2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b
layer 2 1 base $L1 c0ffee01 bin/hello "layer one"
layer 3 2 $L1 $L2 c0ffee02 etc/motd "layer two"

container() { # container INIT_ID ID CID NAME MOUNTHASH LOGLINE
  cid=$3; cname=$4; h=$5
  snap $1 3 $h-init
  mkdir -p $DM/mnt/$h-init; mount /dev/mapper/$PREFIX-$h-init $DM/mnt/$h-init
  echo "$h-init" > $DM/mnt/$h-init/id; mkdir -p $DM/mnt/$h-init/rootfs/etc; echo "$cname" > $DM/mnt/$h-init/rootfs/etc/hostname
  sync; umount $DM/mnt/$h-init
  record $h-init $1 true
  snap $2 $1 $h
  mkdir -p $DM/mnt/$h; mount /dev/mapper/$PREFIX-$h $DM/mnt/$h
  echo "$h" > $DM/mnt/$h/id
  mkdir -p $DM/mnt/$h/rootfs/var/log; echo "$6" > $DM/mnt/$h/rootfs/var/log/app.log
  dd if=/dev/urandom of=$DM/mnt/$h/rootfs/var/lib.bin bs=64k count=4 2>/dev/null
  sync; umount $DM/mnt/$h
  record $h $2 true
  mkdir -p $D/image/devicemapper/layerdb/mounts/$cid $D/containers/$cid
  printf '%s' $h > $D/image/devicemapper/layerdb/mounts/$cid/mount-id
  printf '%s' $h-init > $D/image/devicemapper/layerdb/mounts/$cid/init-id
  printf '{"ID":"%s","Name":"/%s","Driver":"devicemapper"}' $cid $cname > $D/containers/$cid/config.v2.json
}
container 4 5 aaaa000000000000000000000000000000000000000000000000000000000001 web 3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c "web started"
container 6 7 bbbb000000000000000000000000000000000000000000000000000000000002 db 4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d "db started"
container 8 9 cccc000000000000000000000000000000000000000000000000000000000003 old 5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e "old started"

# Remove container "old": its devices deleted, its records gone. First what
# the kernel reads from them (for recovery's tests), as thin id and md5.
: > $OUT/removed
for pair in 8:5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e-init 9:5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e; do
  echo "${pair%%:*} $(md5sum < /dev/mapper/$PREFIX-${pair#*:} | cut -d' ' -f1)" >> $OUT/removed
done
for h in 5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e 5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e-init; do
  $DMTHIN thin deactivate $PREFIX-$h >/dev/null
done
$DMTHIN thin delete $POOL 9 >/dev/null; $DMTHIN thin delete $POOL 8 >/dev/null; commit "" 9
rm -f $DM/metadata/5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e $DM/metadata/5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e-init
rm -rf $D/image/devicemapper/layerdb/mounts/cccc000000000000000000000000000000000000000000000000000000000003 $D/containers/cccc000000000000000000000000000000000000000000000000000000000003
printf '{"next_device_id":11,"BaseDeviceUUID":"fixture-uuid","BaseDeviceFilesystem":"ext4"}' > $DM/metadata/deviceset-metadata

# Crash mid-transaction: Docker opened transaction TID+1 for a new device 10,
# created the thin, and died before recording it or committing.
printf '{"open_transaction_id":%s,"device_hash":"%s","device_id":10}' $((TID + 1)) 6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f > $DM/metadata/transaction-metadata
dmsetup message $POOL 0 create_snap 10 5

# What the kernel reads from each recorded device.
: > $OUT/facts
for f in $DM/metadata/*; do
  h=$(basename $f)
  case $h in deviceset-metadata|transaction-metadata) continue;; esac
  id=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).device_id)' $f)
  name=$PREFIX-$h
  dmsetup info $name >/dev/null 2>&1 || $DMTHIN thin activate $POOL $id --size $SIZE --name $name >/dev/null
  echo "$h $id $(md5sum < /dev/mapper/$name | cut -d' ' -f1)" >> $OUT/facts
done
echo "pool $(dmsetup status $POOL)" >> $OUT/facts
$DMTHIN pool destroy $POOL
rmdir $DM/mnt/* 2>/dev/null || true
cat $OUT/facts
