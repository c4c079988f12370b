#!/bin/sh
# Makes metadata fixtures on a real kernel (run by test/scripts/make-fixtures.mjs,
# in the VM or on a host with dm-thin, as root). Args: PROJECT_ROOT OUT_DIR
# [NAMES]: NAMES (space-separated: snapshots many-thins generations lvm-single
# lvm-striped lvm-disk lvm-repaired recovery fsdiff lvm-fs)
# makes only those. Writes OUT_DIR/*.meta and *.pv (xz'ed by the caller) and
# OUT_DIR/*.facts (what the kernel and LVM reported while the pool was live)
# and *.expected.json (fsdiff, lvm-fs: the changes read from the mounted
# filesystems).
set -eu
ROOT=$1; OUT=$2; ONLY=${3:-snapshots many-thins generations lvm-single lvm-striped lvm-disk lvm-repaired recovery fsdiff lvm-fs}
want() { case " $ONLY " in *" $1 "*) return 0;; esac; return 1; }
DMTHIN="node $ROOT/dist/dmthin.cjs"
mkdir -p "$OUT"; cd "$OUT"
export DM_DISABLE_UDEV=1

wr() { # wr DEV SEED COUNT: COUNT pseudo-random 128 KiB writes of distinct content
  node -e '
    const fs = require("fs"); const [dev, seed, count] = process.argv.slice(1);
    let s = Number(seed) >>> 0; const rnd = () => (s = (s * 1103515245 + 12345) >>> 0) / 4294967296;
    const fd = fs.openSync(dev, "r+"); const size = Number(require("child_process").execSync("blockdev --getsize64 " + dev));
    const buf = Buffer.alloc(131072);
    for (let i = 0; i < Number(count); i++) { buf.fill(i & 255); buf.writeUInt32LE(Number(seed), 0);
      const blk = Math.floor(rnd() * (size / 131072)); fs.writeSync(fd, buf, 0, buf.length, blk * 131072); }
    fs.fsyncSync(fd); fs.closeSync(fd);' "$1" "$2" "$3"
}

if want snapshots; then
# Fixture 1: snapshots sharing subtrees, a snapshot of a snapshot, a deleted
# snapshot, set_transaction_id, a held metadata snapshot at removal.
P=fx1-pool
$DMTHIN pool create $P --data fx1.data --metadata snapshots.meta --data-size 2G --metadata-size 16M --block-size 128k --skip-zeroing
$DMTHIN thin create $P 1 --size 512M --name fx1-t1
dd if=/dev/zero of=/dev/mapper/fx1-t1 bs=1M count=48 oflag=direct 2>/dev/null
wr /dev/mapper/fx1-t1 1 300
for n in 2 3 4; do
  $DMTHIN snap create $P $n 1 --name fx1-s$n
  wr /dev/mapper/fx1-t1 $((n * 10)) 80
done
$DMTHIN snap create $P 5 2 --name fx1-s5
wr /dev/mapper/fx1-s5 55 60
wr /dev/mapper/fx1-s2 22 40
$DMTHIN thin deactivate fx1-s3
$DMTHIN thin delete $P 3
dmsetup message $P 0 set_transaction_id 0 9
dmsetup message $P 0 reserve_metadata_snap
wr /dev/mapper/fx1-t1 99 40
dmsetup status $P > snapshots.facts
for d in 1 2 4 5; do
  name=fx1-t1; [ $d = 1 ] || name=fx1-s$d
  echo "thin $d $(dmsetup status $name | cut -d' ' -f4) sectors mapped, md5 $(dd if=/dev/mapper/$name bs=1M 2>/dev/null | md5sum | cut -d' ' -f1)" >> snapshots.facts
done
# Tear down with the metadata snapshot still held (as a crash would leave it).
$DMTHIN pool destroy $P
rm -f fx1.data
fi

if want many-thins; then
# Fixture 2: many small thins and a multi-level mapping tree, data blocks
# of 64 KiB, every thin written sparsely.
P=fx2-pool
$DMTHIN pool create $P --data fx2.data --metadata many-thins.meta --data-size 4G --metadata-size 8M --block-size 64k --skip-zeroing
for n in $(seq 10 25); do
  $DMTHIN thin create $P $n --size 256M --name fx2-t$n
  wr /dev/mapper/fx2-t$n $n 120
done
$DMTHIN snap create $P 100 10 --name fx2-s100
wr /dev/mapper/fx2-t10 1000 50
dmsetup status $P > many-thins.facts
$DMTHIN pool destroy $P
rm -f fx2.data
fi

if want generations; then
# Fixture 3: what repair can get wrong. Ten devices in snapshot families
# (snapshots of snapshots), a deleted device, and hundreds of commits in a
# small metadata device, so that older generations of every tree lie about
# and the metadata allocator has wrapped round (next-fit from where it last
# stopped) over blocks that older top levels and leaves once used.
P=fx3-pool
$DMTHIN pool create $P --data fx3.data --metadata generations.meta --data-size 1G --metadata-size 2M --block-size 64k --skip-zeroing
$DMTHIN thin create $P 1 --size 128M --name fx3-t1
wr /dev/mapper/fx3-t1 1 200
$DMTHIN thin create $P 6 --size 128M --name fx3-t6
wr /dev/mapper/fx3-t6 6 150
$DMTHIN snap create $P 2 1 --name fx3-s2
$DMTHIN snap create $P 3 1 --name fx3-s3
wr /dev/mapper/fx3-s2 2 40
$DMTHIN snap create $P 4 2 --name fx3-s4
$DMTHIN snap create $P 5 4 --name fx3-s5
$DMTHIN snap create $P 9 6 --name fx3-s9
$DMTHIN thin create $P 7 --size 64M --name fx3-t7
$DMTHIN thin create $P 8 --size 64M --name fx3-t8
$DMTHIN snap create $P 10 5 --name fx3-s10
$DMTHIN snap create $P 11 9 --name fx3-s11
# Many small commits: each round writes a few blocks to every device and
# fsyncs each one, and each fsync commits (one node process per half: node
# starts slowly under emulation).
churn() { # churn FIRST_ROUND LAST_ROUND DEV...
  node -e '
    const fs = require("fs"); const [first, last, ...devs] = process.argv.slice(1);
    const buf = Buffer.alloc(65536);
    for (let r = Number(first); r < Number(last); r++) {
      devs.forEach((dev, k) => {
        const fd = fs.openSync(dev, "r+"); const blocks = Number(require("child_process").execSync("blockdev --getsize64 " + dev)) / 65536;
        for (let i = 0; i < 3; i++) { buf.fill((r * 7 + k * 3 + i) & 255); buf.writeUInt32LE(r * 1000 + k, 0);
          fs.writeSync(fd, buf, 0, buf.length, ((r * 97 + k * 31 + i * 13) % blocks) * 65536); }
        fs.fsyncSync(fd); fs.closeSync(fd); });
    }' "$@"
}
DEVS="/dev/mapper/fx3-t1 /dev/mapper/fx3-s2 /dev/mapper/fx3-s4 /dev/mapper/fx3-s5 /dev/mapper/fx3-t6 /dev/mapper/fx3-t7 /dev/mapper/fx3-t8 /dev/mapper/fx3-s9 /dev/mapper/fx3-s10 /dev/mapper/fx3-s11"
churn 0 30 $DEVS
$DMTHIN thin deactivate fx3-s3
$DMTHIN thin delete $P 3
churn 30 60 $DEVS
dmsetup message $P 0 set_transaction_id 0 61
dmsetup status $P > generations.facts
for d in 1 2 4 5 6 7 8 9 10 11; do
  name=fx3-t$d; [ -e /dev/mapper/$name ] || name=fx3-s$d
  echo "thin $d $(dmsetup status $name | cut -d' ' -f4) sectors mapped, md5 $(dd if=/dev/mapper/$name bs=1M 2>/dev/null | md5sum | cut -d' ' -f1)" >> generations.facts
done
$DMTHIN pool destroy $P
rm -f fx3.data
fi
# The LVM fixtures (4 to 7) share lvm2's settings: no udev, no backups, loop
# devices only, so that nothing of the host's own VGs is touched.
LVMC='devices { obtain_device_list_from_udev = 0 filter = [ "a|^/dev/loop|", "r|.*|" ] } activation { udev_sync = 0 udev_rules = 0 monitoring = 0 } backup { backup = 0 archive = 0 }'
lv() { lvm "$@" --config "$LVMC"; }
lvfacts() { # lvfacts VG FILE: LVM's own report of every LV, a row per segment (JSON)
  lv lvs -a --reportformat json --units b --nosuffix -o vg_name,lv_name,lv_attr,lv_size,segtype,pool_lv,thin_id,origin,chunk_size,transaction_id,stripes,stripe_size,seg_count,devices $1 > $2
}
lvsum() { # lvsum VG LV FILE: the bytes of an LV as the kernel reads it through LVM
  echo "lv $1/$2 $(blockdev --getsize64 /dev/mapper/$1-$2) bytes, sha256 $(sha256sum < /dev/mapper/$1-$2 | cut -d' ' -f1)" >> $3
}


if want lvm-single; then
# Fixture 4: an LVM thin pool on one PV, made by the host's lvm2 (the guest
# runs the host's root): a thin LV, a snapshot of it, a second thin LV,
# writes after the snapshot. The PV image is the fixture; the facts hold
# LVM's own report (lvs, JSON) and the bytes of every LV as the kernel
# read them through LVM (sha256).
command -v lvm >/dev/null || { echo "lvm-single needs lvm2 on the host (apt-get install lvm2)"; exit 1; }
truncate -s 96M lvm-single.pv
L=$(losetup -f --show lvm-single.pv)
lv pvcreate -y "$L"
lv vgcreate vgfx "$L"
lv lvcreate -y --type thin-pool -L 40M --chunksize 64k -n pool vgfx
lv lvcreate -y -V 32M -T vgfx/pool -n thin1
wr /dev/mapper/vgfx-thin1 41 120
lv lvcreate -y -s vgfx/thin1 -n snap1
lv lvchange -ay -K vgfx/snap1
wr /dev/mapper/vgfx-thin1 42 60
lv lvcreate -y -V 16M -T vgfx/pool -n thin2
wr /dev/mapper/vgfx-thin2 43 40
lv lvs -a --reportformat json --units b --nosuffix -o vg_name,lv_name,lv_attr,lv_size,segtype,pool_lv,thin_id,origin,chunk_size,transaction_id,data_percent,metadata_percent > lvm-single.facts
dmsetup status vgfx-pool-tpool >> lvm-single.facts
for n in thin1 snap1 thin2; do
  echo "lv vgfx/$n $(blockdev --getsize64 /dev/mapper/vgfx-$n) bytes, sha256 $(sha256sum < /dev/mapper/vgfx-$n | cut -d' ' -f1)" >> lvm-single.facts
done
lv vgchange -an vgfx
losetup -d "$L"
fi

if want lvm-striped; then
# Fixture 5: a VG over two PVs, extent size 2 MiB. Pool data striped over
# both and extended (two segments), chunk 256 KiB; a linear LV spanning both
# PVs (two segments); a plain striped LV; a thin LV with a snapshot; and a
# thin LV "gone", written, recorded, then removed with lvremove.
command -v lvm >/dev/null || { echo "lvm-striped needs lvm2 on the host"; exit 1; }
truncate -s 64M lvm-striped-1.pv; truncate -s 64M lvm-striped-2.pv
A=$(losetup -f --show lvm-striped-1.pv); B=$(losetup -f --show lvm-striped-2.pv)
lv pvcreate -y "$A" "$B"
lv vgcreate -s 2M vgst "$A" "$B"
lv lvcreate -y -L 6M -n lin vgst "$A"
lv lvcreate -y --type thin-pool -i 2 -I 64k -L 24M --chunksize 256k -n pool vgst
lv lvextend -y -L +8M vgst/pool
lv lvextend -y -L +4M vgst/lin "$B"
lv lvcreate -y -L 8M -i 2 -I 32k -n str vgst
lv lvcreate -y -V 24M -T vgst/pool -n t1
wr /dev/mapper/vgst-t1 51 100
wr /dev/mapper/vgst-lin 52 40
wr /dev/mapper/vgst-str 53 40
lv lvcreate -y -s vgst/t1 -n s1
lv lvchange -ay -K vgst/s1
wr /dev/mapper/vgst-t1 54 30
lv lvcreate -y -V 16M -T vgst/pool -n gone
wr /dev/mapper/vgst-gone 55 50
: > lvm-striped.facts
lvsum vgst gone lvm-striped.facts
echo "removed vgst/gone thin_id $(lv lvs --noheadings -o thin_id vgst/gone | tr -d ' ')" >> lvm-striped.facts
lv lvremove -y vgst/gone
wr /dev/mapper/vgst-t1 56 10
for n in t1 s1 lin str; do lvsum vgst $n lvm-striped.facts; done
dmsetup status vgst-pool-tpool | sed 's/^/status /' >> lvm-striped.facts
lvfacts vgst lvm-striped.lvs.facts
lv vgchange -an vgst
losetup -d "$A"; losetup -d "$B"
fi

if want lvm-disk; then
# Fixture 6: a whole-disk image as a Proxmox VE install leaves it: a GPT
# (made by sfdisk) whose second partition is the PV of VG pve, with a
# linear "swap", the thin pool "data" and two guest disks. The PV's
# metadata area is small and the VG is committed again and again (tags
# added and taken away) until its text has wrapped round the area's end.
command -v sfdisk >/dev/null || { echo "lvm-disk needs sfdisk on the host (apt-get install fdisk)"; exit 1; }
truncate -s 80M lvm-disk.img
printf 'label: gpt\nstart=2048, size=2048, type=21686148-6449-6E6F-744E-656564454649\nstart=4096, size=155648, type=E6D6D379-F507-44C2-A23C-238F2A3DF928\n' | sfdisk -q lvm-disk.img
P=$(losetup -f --show -o $((4096 * 512)) --sizelimit $((155648 * 512)) lvm-disk.img)
lv pvcreate -y --dataalignment 128k --metadatasize 100k "$P"
lv vgcreate pve "$P"
lv lvcreate -y -L 8M -n swap pve
lv lvcreate -y --type thin-pool -L 40M -n data pve
lv lvcreate -y -V 24M -T pve/data -n vm-100-disk-0
lv lvcreate -y -V 16M -T pve/data -n vm-101-disk-0
wr /dev/mapper/pve-vm--100--disk--0 61 80
wr /dev/mapper/pve-vm--101--disk--0 62 40
wr /dev/mapper/pve-swap 63 20
MDA=$(lv pvs --noheadings --units b --nosuffix -o pv_mda_size "$P" | tr -d ' ')
lv vgcfgbackup -f vgtext.txt pve >/dev/null
TEXT=$(stat -c %s vgtext.txt); rm -f vgtext.txt
N=$((2 * MDA / TEXT + 4)); [ $N -le 400 ] || N=400
echo "metadata area $MDA bytes, text about $TEXT bytes: $N commits"
i=0
while [ $i -lt $N ]; do
  if [ $((i % 2)) = 0 ]; then lv lvchange -q --addtag fx pve/vm-101-disk-0; else lv lvchange -q --deltag fx pve/vm-101-disk-0; fi
  i=$((i + 1))
done
: > lvm-disk.facts
echo "commits $N mda $MDA" >> lvm-disk.facts
for n in swap vm--100--disk--0 vm--101--disk--0; do
  m=$(echo $n | sed 's/--/-/g')
  echo "lv pve/$m $(blockdev --getsize64 /dev/mapper/pve-$n) bytes, sha256 $(sha256sum < /dev/mapper/pve-$n | cut -d' ' -f1)" >> lvm-disk.facts
done
lvfacts pve lvm-disk.lvs.facts
lv vgchange -an pve
losetup -d "$P"
mv lvm-disk.img lvm-disk.pv
fi

if want lvm-repaired; then
# Fixture 7: a pool after `lvconvert --repair` (the host's thin_repair, as
# LVM runs it): the old metadata kept as pool_meta0, the repaired metadata
# swapped in, a new spare. The thin LVs' bytes recorded before and after.
truncate -s 64M lvm-repaired.pv
L=$(losetup -f --show lvm-repaired.pv)
lv pvcreate -y "$L"
lv vgcreate vgrp "$L"
lv lvcreate -y --type thin-pool -L 24M --chunksize 128k -n pool vgrp
lv lvcreate -y -V 16M -T vgrp/pool -n t1
wr /dev/mapper/vgrp-t1 71 60
lv lvcreate -y -s vgrp/t1 -n s1
lv lvchange -ay -K vgrp/s1
wr /dev/mapper/vgrp-t1 72 20
: > lvm-repaired.facts
for n in t1 s1; do lvsum vgrp $n lvm-repaired.facts; done
sed -i 's/^lv /before /' lvm-repaired.facts
lv vgchange -an vgrp
lv lvconvert -y --repair vgrp/pool
lv vgchange -ay -K vgrp
for n in t1 s1; do lvsum vgrp $n lvm-repaired.facts; done
lvfacts vgrp lvm-repaired.lvs.facts
lv vgchange -an vgrp
losetup -d "$L"
fi
if want recovery; then
# Fixture 8: deleted thin devices, for recovery. A pool of 1024 data blocks
# of 64 KiB (next-fit allocation, skip-zeroing). Device 3 (a thin LV) and
# device 2 (a snapshot of 1, written after) are hashed block by block
# through the kernel, then deleted. The pool's files are copied (pool
# suspended) at four moments:
#   recovery-a: right after the deletes;
#   recovery-b: after 150 more blocks written to live devices (the
#               allocator still ahead of the freed blocks);
#   recovery-c: after a new device 5 filled the pool's free space: the
#               allocator wrapped round and reused freed blocks;
#   recovery-d: after device 5 was deleted too: reused blocks free again.
P=fx8-pool
blocks() { # blocks DEV ID FILE: the sha256 of every 64 KiB block of DEV, as the kernel reads it
  node -e '
    const fs = require("fs"); const crypto = require("crypto"); const [dev, id] = process.argv.slice(1);
    const fd = fs.openSync(dev, "r"); const b = Buffer.alloc(65536); let out = "";
    for (let v = 0; ; v++) { const n = fs.readSync(fd, b, 0, b.length, v * 65536); if (n <= 0) break;
      out += "block " + id + " " + v + " " + crypto.createHash("sha256").update(b.subarray(0, n)).digest("hex") + "\n"; }
    process.stdout.write(out);' "$1" "$2" >> "$3"
}
copy() { # copy NAME: the pool's metadata and data as they are now
  dmsetup suspend $P
  cp --sparse=always recovery.work.meta $1.meta
  cp --sparse=always recovery.work.data $1.data
  dmsetup resume $P
  dmsetup status $P | sed "s/^/status $1 /" >> recovery.facts
}
$DMTHIN pool create $P --data recovery.work.data --metadata recovery.work.meta --data-size 64M --metadata-size 4M --block-size 64k --skip-zeroing
$DMTHIN thin create $P 1 --size 32M --name fx8-t1
wr /dev/mapper/fx8-t1 81 200
$DMTHIN snap create $P 2 1 --name fx8-s2
wr /dev/mapper/fx8-t1 82 40
wr /dev/mapper/fx8-s2 83 30
$DMTHIN thin create $P 3 --size 16M --name fx8-t3
wr /dev/mapper/fx8-t3 84 100
$DMTHIN thin create $P 4 --size 16M --name fx8-t4
wr /dev/mapper/fx8-t4 85 60
: > recovery.facts
blocks /dev/mapper/fx8-s2 2 recovery.facts
blocks /dev/mapper/fx8-t3 3 recovery.facts
$DMTHIN thin deactivate fx8-s2
$DMTHIN thin deactivate fx8-t3
$DMTHIN thin delete $P 3
$DMTHIN thin delete $P 2
copy recovery-a
wr /dev/mapper/fx8-t1 86 80
wr /dev/mapper/fx8-t4 87 70
copy recovery-b
$DMTHIN thin create $P 5 --size 64M --name fx8-t5
# Fill what is free: the allocator runs to the end, wraps and takes the freed blocks.
FREE=$(dmsetup status $P | awk '{split($6, a, "/"); print a[2] - a[1]}')
node -e '
  const fs = require("fs"); const [dev, count] = process.argv.slice(1); const fd = fs.openSync(dev, "r+"); const b = Buffer.alloc(65536);
  for (let i = 0; i < Number(count); i++) { b.fill((i * 7 + 1) & 255); b.writeUInt32LE(0x5eed0000 + i, 0); fs.writeSync(fd, b, 0, b.length, i * 65536); }
  fs.fsyncSync(fd); fs.closeSync(fd);' /dev/mapper/fx8-t5 $((FREE - 4))
copy recovery-c
$DMTHIN thin deactivate fx8-t5
$DMTHIN thin delete $P 5
copy recovery-d
$DMTHIN pool destroy $P
rm -f recovery.work.meta recovery.work.data
fi
# The tree the file-level fixtures (9 and 10) start with, and what changes
# after the snapshot: every kind of change a diff must name.
gen() { seq -f "$1 %08g" 1 $(($2 / 10 + 1)) | head -c $2; } # gen TAG BYTES: distinct text that xz packs small
fill() { # fill DIR: the tree each filesystem starts with
  d=$1
  mkdir -p $d/etc/app/keys $d/home/user/doomdir/sub $d/srv/olddir/inner $d/data $d/var/lib/deep/a/b/c/d/e/f/g
  for i in 1 2 3 4 5; do mkdir -p $d/usr/share/doc/pkg$i; echo "package $i readme" > $d/usr/share/doc/pkg$i/README; done
  echo "listen 80" > $d/etc/app/conf.txt
  echo "ssh-ed25519 AAAAC3Nza admin@host" > $d/etc/app/keys/authorized_keys
  echo "leaf" > $d/var/lib/deep/a/b/c/d/e/f/leaf.txt
  echo "other" > $d/var/lib/deep/a/b/c/d/e/f/g/other.txt
  echo "notes" > $d/home/user/notes.txt
  seq 1 200 > $d/home/user/log.txt
  gen big 200000 > $d/home/user/big.bin
  echo "doomed" > $d/home/user/doomed.txt
  echo "x" > $d/home/user/doomdir/sub/x.txt; echo "y" > $d/home/user/doomdir/y.txt
  echo "i" > $d/srv/olddir/inner/i.txt; echo "j" > $d/srv/olddir/j.txt
  truncate -s 8M $d/data/sparse.img
  gen sparse0 65536 | dd of=$d/data/sparse.img conv=notrunc 2>/dev/null
  gen sparse96 65536 | dd of=$d/data/sparse.img bs=64k seek=96 conv=notrunc 2>/dev/null
  gen orig 100000 > $d/data/orig.bin
  ln $d/data/orig.bin $d/data/link.bin
  ln -s orig.bin $d/data/current
  # A file of several extents: appends with another file written between, each synced.
  for i in 1 2 3 4 5 6; do
    gen frag$i 65536 >> $d/data/frag.bin; sync $d/data/frag.bin
    gen filler$i 16384 >> $d/data/filler-$i.bin; sync $d/data/filler-$i.bin
  done
}
change() { # change DIR: what happens after the snapshot
  d=$1
  echo "new setting" > $d/etc/app/new.conf
  mkdir -p $d/opt/newpkg/bin; echo "#!/bin/sh" > $d/opt/newpkg/bin/tool
  echo "listen 81" | dd of=$d/etc/app/conf.txt conv=notrunc 2>/dev/null
  echo "ssh-rsa AAAAB3Nza intruder@evil" >> $d/etc/app/keys/authorized_keys
  seq 201 260 >> $d/home/user/log.txt
  rm $d/home/user/doomed.txt
  rm -r $d/home/user/doomdir
  mv $d/home/user/notes.txt $d/home/user/notes-renamed.txt
  mv $d/usr/share/doc/pkg5 $d/usr/share/doc/pkg5-moved
  ln $d/data/orig.bin $d/home/user/orig-link.bin
  truncate -s 10000 $d/home/user/big.bin
  gen sparse48 65536 | dd of=$d/data/sparse.img bs=64k seek=48 conv=notrunc 2>/dev/null
  rm $d/var/lib/deep/a/b/c/d/e/f/leaf.txt
  echo "new deep" > $d/var/lib/deep/a/b/c/d/e/f/g/new-deep.txt
  rm -r $d/srv/olddir; echo "now a file" > $d/srv/olddir
  ln -sfn link.bin $d/data/current
  gen frag-rewrite 65536 | dd of=$d/data/frag.bin bs=64k seek=2 conv=notrunc 2>/dev/null
}
if want fsdiff; then
# Fixture 9: filesystems on thin volumes, for file-level diffs. A pool of
# 64 KiB blocks (skip-zeroing: what nothing wrote stays unprovisioned);
# thin 1 holds ext4 (4 KiB blocks), thin 3 XFS (320 MiB: mkfs.xfs makes
# nothing smaller than 300 MB). Each is filled with a tree, unmounted and
# snapshotted (2 of 1, 4 of 3), then mounted again and changed in every way
# a diff must name. The truth is taken from the mounted filesystems: the
# snapshot and the origin mounted read-only and walked whole by
# fsdiff-truth.mjs (every path, and the list `docker diff` would print).
# The facts hold what the kernel read from each device (md5) and its status.
P=fx9-pool
M=/run/fx9
fsrun() { # fsrun FS ORIGIN SNAP SIZE: make, fill, snapshot, change, record
  fs=$1; o=$2; s=$3
  $DMTHIN thin create $P $o --size $4 --name fx9-t$o
  if [ $fs = ext4 ]; then mkfs.ext4 -q -b 4096 -E lazy_itable_init=0,lazy_journal_init=0,nodiscard /dev/mapper/fx9-t$o
  else mkfs.xfs -q -K /dev/mapper/fx9-t$o; fi
  mkdir -p $M/$fs; mount -t $fs /dev/mapper/fx9-t$o $M/$fs
  fill $M/$fs
  echo "$fs frag.bin $(filefrag $M/$fs/data/frag.bin | sed 's/.*: //')" >> fsdiff.facts
  umount $M/$fs
  $DMTHIN snap create $P $s $o --name fx9-s$s
  mount -t $fs /dev/mapper/fx9-t$o $M/$fs
  change $M/$fs
  umount $M/$fs
  ro=ro,noload; [ $fs = xfs ] && ro=ro,norecovery,nouuid
  mkdir -p $M/$fs-before $M/$fs-after
  mount -t $fs -o $ro /dev/mapper/fx9-s$s $M/$fs-before
  mount -t $fs -o $ro /dev/mapper/fx9-t$o $M/$fs-after
  node $ROOT/test/kernel/guest/fsdiff-truth.mjs $fs $M/$fs-before $M/$fs-after > fsdiff-$fs.json
  umount $M/$fs-before; umount $M/$fs-after
}
: > fsdiff.facts
$DMTHIN pool create $P --data fsdiff.work.data --metadata fsdiff.work.meta --data-size 256M --metadata-size 4M --block-size 64k --skip-zeroing
fsrun ext4 1 2 64M
fsrun xfs 3 4 320M
dmsetup status $P | sed 's/^/status /' >> fsdiff.facts
for d in 1 2 3 4; do
  name=fx9-t$d; [ -e /dev/mapper/$name ] || name=fx9-s$d
  echo "thin $d $(blockdev --getsize64 /dev/mapper/$name) bytes, $(dmsetup status $name | cut -d' ' -f4) sectors mapped, md5 $(md5sum < /dev/mapper/$name | cut -d' ' -f1)" >> fsdiff.facts
done
node -e '
  const fs = require("fs"); const r = {};
  for (const f of ["ext4", "xfs"]) r[f] = JSON.parse(fs.readFileSync(`fsdiff-${f}.json`, "utf8"));
  r.ext4.origin = 1; r.ext4.snapshot = 2; r.xfs.origin = 3; r.xfs.snapshot = 4;
  fs.writeFileSync("fsdiff.expected.json", JSON.stringify(r, null, 1) + "\n");'
rm -f fsdiff-ext4.json fsdiff-xfs.json
$DMTHIN pool destroy $P
mv fsdiff.work.meta fsdiff.meta; mv fsdiff.work.data fsdiff.data
fi
if want lvm-fs; then
# Fixture 10: ext4 on thin LVs made by lvm2, for `dmthin lvm diff`. One PV
# (sparse, 80 MiB), VG vgfs, a thin pool of 64 MiB data in 64 KiB chunks
# (no zeroing: what nothing wrote stays unprovisioned and xz packs small).
# "gone" is filled, snapshotted as gone-snap, changed, its truth and bytes
# recorded, then removed with lvremove (gone-snap stays); after that "web"
# is filled, snapshotted as web-snap and changed, so the pool is written
# after the removal as a live host's would be. Each truth is the snapshot
# and the origin mounted read-only and walked whole by fsdiff-truth.mjs.
# The facts hold every LV's bytes as the kernel read them through LVM (md5).
command -v lvm >/dev/null || { echo "lvm-fs needs lvm2 on the host"; exit 1; }
M=/run/fx10
dmp() { echo /dev/mapper/vgfs-$(echo $1 | sed 's/-/--/g'); } # dmp LV: its device-mapper node (LVM doubles hyphens)
lvmd5() { echo "lv vgfs/$1 $(blockdev --getsize64 $(dmp $1)) bytes, md5 $(md5sum < $(dmp $1) | cut -d' ' -f1)" >> lvm-fs.facts; }
lvfsrun() { # lvfsrun LV SNAP SIZE TAG: make, fill, snapshot, change, record the truth
  lv lvcreate -y -V $3 -T vgfs/pool -n $1
  mkfs.ext4 -q -b 4096 -N 256 -E lazy_itable_init=0,lazy_journal_init=0,nodiscard $(dmp $1)
  mkdir -p $M/$1; mount -t ext4 $(dmp $1) $M/$1
  fill $M/$1
  echo "$4" > $M/$1/etc/app/whoami
  umount $M/$1
  lv lvcreate -y -s vgfs/$1 -n $2
  lv lvchange -ay -K vgfs/$2
  mount -t ext4 $(dmp $1) $M/$1
  change $M/$1
  echo "$4 only" > $M/$1/srv/$4-only.txt
  umount $M/$1
  mkdir -p $M/$1-before $M/$1-after
  mount -t ext4 -o ro,noload $(dmp $2) $M/$1-before
  mount -t ext4 -o ro,noload $(dmp $1) $M/$1-after
  node $ROOT/test/kernel/guest/fsdiff-truth.mjs ext4 $M/$1-before $M/$1-after > lvm-fs-$1.json
  umount $M/$1-before; umount $M/$1-after
}
: > lvm-fs.facts
truncate -s 80M lvm-fs.pv
L=$(losetup -f --show lvm-fs.pv)
lv pvcreate -y "$L"
lv vgcreate vgfs "$L"
lv lvcreate -y --type thin-pool -L 64M --chunksize 64k -Zn -n pool vgfs
lvfsrun gone gone-snap 24M gone
lvmd5 gone
echo "removed vgfs/gone thin_id $(lv lvs --noheadings -o thin_id vgfs/gone | tr -d ' ')" >> lvm-fs.facts
lv lvremove -y vgfs/gone
lvfsrun web web-snap 32M web
for n in web web-snap gone-snap; do lvmd5 $n; done
dmsetup status vgfs-pool-tpool | sed 's/^/status /' >> lvm-fs.facts
lvfacts vgfs lvm-fs.lvs.facts
node -e '
  const fs = require("fs"); const r = {};
  for (const [lv, snap] of [["web", "web-snap"], ["gone", "gone-snap"]]) {
    r[lv] = JSON.parse(fs.readFileSync(`lvm-fs-${lv}.json`, "utf8"));
    r[lv].origin = `vgfs/${lv}`; r[lv].snapshot = `vgfs/${snap}`;
  }
  fs.writeFileSync("lvm-fs.expected.json", JSON.stringify(r, null, 1) + "\n");'
rm -f lvm-fs-web.json lvm-fs-gone.json
lv vgchange -an vgfs
losetup -d "$L"
fi
ls -la "$OUT"
