// Shrink proved on the real kernel and lvm2, run by doctor.mjs in its VM
// boot with its helpers (`k`): an LVM thin pool made by lvm2, filled, partly
// emptied by lvremove, shrunk by `dmthin lvm shrink` on its PV and activated
// again by lvm2 (which runs thin_check on the way); a raw pool made through
// dmsetup, shrunk by `dmthin shrink` on its files and loaded again on the
// cut data file (the kernel refuses a data device smaller than the metadata
// says: tpt #322). The truth is what the kernel read before: md5 of every
// device through device-mapper, the pool's own status line.

const MiB = 1 << 20;

/** The md5 of a device's bytes as the kernel reads them. */
const md5Of = (k, dev) => k.sh(['md5sum', dev]).stdout.split(' ')[0];

/** `dd` of `mib` MiB of random bytes into `dev` (or a file on it) from MiB `seekMib`. */
const fill = (k, dev, mib, seekMib = 0) =>
  k.sh(['dd', 'if=/dev/urandom', `of=${dev}`, 'bs=1M', `count=${mib}`, `seek=${seekMib}`, 'conv=fsync,notrunc', 'status=none']).code;

/** used/total data blocks of a thin-pool status line (its 6th field). */
const dataBlocks = (statusLine) => {
  const m = / thin-pool \d+ \d+\/\d+ (\d+)\/(\d+) /.exec(statusLine);
  return m ? { used: Number(m[1]), total: Number(m[2]) } : undefined;
};

export function lvmShrinkCase(c, k) {
  const t0 = Date.now();
  const { lvm, dmthin, sh, short, json, m } = k;
  const loop = k.makePv('shrink.pv', '160M');
  const mnt = m('mnt-shrink');
  sh(['mkdir', '-p', mnt]);
  c.setup = [
    lvm('pvcreate', '-y', loop),
    lvm('vgcreate', '-s', '4m', 'vgsh', loop),
    lvm('lvcreate', '-y', '--type', 'thin-pool', '-L', '96M', '--poolmetadatasize', '4M', '--chunksize', '64k', '-n', 'pool', 'vgsh'),
    // gone first, so that its blocks are the pool's lowest: removed, they leave keep's blocks high, past any smaller size.
    lvm('lvcreate', '-y', '-V', '48M', '-T', 'vgsh/pool', '-n', 'gone'),
    lvm('lvcreate', '-y', '-V', '48M', '-T', 'vgsh/pool', '-n', 'keep'),
  ].map(short);
  c.fill = [fill(k, '/dev/vgsh/gone', 24)];
  c.mkfs = short(sh(['mkfs.ext4', '-q', '-E', 'nodiscard', '/dev/vgsh/keep']));
  sh(['mount', '/dev/vgsh/keep', mnt]);
  c.fill.push(fill(k, `${mnt}/first`, 8));
  sh(['umount', mnt]);
  c.snapshot = short(lvm('lvcreate', '-y', '-s', '-n', 'keep-snap', 'vgsh/keep'));
  c.activateSnap = short(lvm('lvchange', '-ay', '-K', 'vgsh/keep-snap'));
  sh(['mount', '/dev/vgsh/keep', mnt]);
  c.fill.push(fill(k, `${mnt}/second`, 4));
  sh(['umount', mnt]);
  c.remove = short(lvm('lvremove', '-y', 'vgsh/gone'));
  c.before = { keep: md5Of(k, '/dev/vgsh/keep'), snap: md5Of(k, '/dev/vgsh/keep-snap') };
  c.statusBefore = sh(['dmsetup', 'status', 'vgsh-pool-tpool']).stdout.trim();
  c.poolBytesBefore = k.num(k.field('lvs', 'vgsh/pool', 'lv_size'));
  c.pvFreeBefore = k.num(k.field('pvs', loop, 'pv_free'));
  // The pool running: refused, nothing written.
  const active = dmthin('lvm', 'shrink', loop, 'vgsh/pool', '--size', '32m', '--forget-deleted');
  c.refusedActive = short(active);
  c.deactivate = short(lvm('vgchange', '-an', 'vgsh'));
  sh(['blockdev', '--flushbufs', loop]);
  const dry = dmthin('lvm', 'shrink', loop, 'vgsh/pool', '--size', '4m', '--dry-run', '--forget-deleted');
  c.dryTooSmall = short(dry);
  // The smallest size in whole extents, and one extent more: some blocks move, some stay.
  const m2 = /in whole \d+-byte extents: --size \d+ \((\d+) data blocks\)/.exec(dry.stderr) ?? /smallest size that fits is (\d+) data blocks/.exec(dry.stderr);
  const smallest = m2 ? Number(m2[1]) : 0;
  c.newBlocks = smallest + 64;
  const run = dmthin('lvm', 'shrink', loop, 'vgsh/pool', '--size', `${c.newBlocks * 64}k`, '--forget-deleted', '--json');
  c.shrink = { ...short(run), result: json(run) };
  const again = dmthin('lvm', 'shrink', loop, 'vgsh/pool', '--size', `${c.newBlocks * 64}k`, '--forget-deleted', '--json');
  c.again = { ...short(again), result: json(again) };
  sh(['blockdev', '--flushbufs', loop]);
  // lvm2 takes it back: its thin_check runs at activation.
  c.activate = short(lvm('vgchange', '-ay', 'vgsh'));
  c.activateSnapAfter = short(lvm('lvchange', '-ay', '-K', 'vgsh/keep-snap'));
  c.poolBytesAfter = k.num(k.field('lvs', 'vgsh/pool', 'lv_size'));
  c.tdataBytesAfter = k.num(k.field('lvs', 'vgsh/pool_tdata', 'lv_size'));
  c.pvFreeAfter = k.num(k.field('pvs', loop, 'pv_free'));
  c.statusAfter = sh(['dmsetup', 'status', 'vgsh-pool-tpool']).stdout.trim();
  c.blocksBefore = dataBlocks(c.statusBefore);
  c.blocksAfter = dataBlocks(c.statusAfter);
  c.after = { keep: md5Of(k, '/dev/vgsh/keep'), snap: md5Of(k, '/dev/vgsh/keep-snap') };
  c.fsck = { keep: short(sh(['fsck.ext4', '-fn', '/dev/vgsh/keep'])), snap: short(sh(['fsck.ext4', '-fn', '/dev/vgsh/keep-snap'])) };
  // The smaller pool takes new writes.
  c.writeAfter = fill(k, '/dev/vgsh/keep', 2, 40);
  c.statusAfterWrite = sh(['dmsetup', 'status', 'vgsh-pool-tpool']).stdout.trim();
  lvm('vgchange', '-an', 'vgsh');
  sh(['losetup', '-d', loop]);
  c.seconds = k.since(t0);
  return c;
}

export function rawShrinkCase(c, k) {
  const t0 = Date.now();
  const { sh, dmthin, short, m } = k;
  const meta = m('raw-shrink.meta');
  const data = m('raw-shrink.data');
  sh(['truncate', '-s', '4M', meta]);
  sh(['dd', 'if=/dev/zero', `of=${meta}`, 'bs=4096', 'count=1', 'conv=notrunc', 'status=none']);
  sh(['truncate', '-s', '64M', data]);
  const table = (dataLoop, metaLoop, bytes) => `0 ${bytes / 512} thin-pool ${metaLoop} ${dataLoop} 128 0 1 skip_block_zeroing`;
  let lm = k.loopOf(meta);
  let ld = k.loopOf(data);
  c.setup = [
    sh(['dmsetup', 'create', 'rshpool', '--table', table(ld, lm, 64 * MiB)]),
    sh(['dmsetup', 'message', 'rshpool', '0', 'create_thin 1']),
    sh(['dmsetup', 'message', 'rshpool', '0', 'create_thin 2']),
    sh(['dmsetup', 'create', 'rsh1', '--table', `0 ${(40 * MiB) / 512} thin /dev/mapper/rshpool 1`]),
    sh(['dmsetup', 'create', 'rsh2', '--table', `0 ${(40 * MiB) / 512} thin /dev/mapper/rshpool 2`]),
  ].map(short);
  // Device 2 first (the low blocks), then 1; a snapshot 3 of 1; 1 rewritten in part (new blocks, higher).
  c.fill = [fill(k, '/dev/mapper/rsh2', 16), fill(k, '/dev/mapper/rsh1', 8)];
  c.snap = [
    sh(['dmsetup', 'suspend', 'rsh1']),
    sh(['dmsetup', 'message', 'rshpool', '0', 'create_snap 3 1']),
    sh(['dmsetup', 'resume', 'rsh1']),
    sh(['dmsetup', 'create', 'rsh3', '--table', `0 ${(40 * MiB) / 512} thin /dev/mapper/rshpool 3`]),
  ].map(short);
  c.fill.push(fill(k, '/dev/mapper/rsh1', 2, 1));
  c.remove = [sh(['dmsetup', 'remove', 'rsh2']), sh(['dmsetup', 'message', 'rshpool', '0', 'delete 2'])].map(short);
  c.before = { thin1: md5Of(k, '/dev/mapper/rsh1'), thin3: md5Of(k, '/dev/mapper/rsh3') };
  c.statusBefore = sh(['dmsetup', 'status', 'rshpool']).stdout.trim();
  // The pool running: refused (its loop devices stand on the files), nothing written.
  c.refusedActive = short(dmthin('shrink', '--metadata', meta, '--data', data, '--size', '16m', '--forget-deleted'));
  c.down = [sh(['dmsetup', 'remove', 'rsh3']), sh(['dmsetup', 'remove', 'rsh1']), sh(['dmsetup', 'remove', 'rshpool'])].map(short);
  sh(['losetup', '-d', lm]);
  sh(['losetup', '-d', ld]);
  const dry = dmthin('shrink', '--metadata', meta, '--data', data, '--size', '64k', '--dry-run', '--forget-deleted');
  const smallest = Number(/smallest size that fits is (\d+) data blocks/.exec(dry.stderr)?.[1] ?? 0);
  // Whole MiB, the data file then a whole number of loop sectors and pool blocks.
  c.newBlocks = Math.ceil(smallest / 16) * 16 + 16;
  c.shrink = short(dmthin('shrink', '--metadata', meta, '--data', data, '--size', `${c.newBlocks * 64}k`, '--forget-deleted'));
  c.dataBytesAfter = Number(sh(['stat', '-c', '%s', data]).stdout.trim());
  // thin_check opens O_DIRECT, which a tmpfs file refuses: through a loop device.
  lm = k.loopOf(meta);
  c.thinCheck = short(sh(['/usr/sbin/thin_check', lm]));
  ld = k.loopOf(data);
  c.load = [
    sh(['dmsetup', 'create', 'rshpool', '--table', table(ld, lm, c.dataBytesAfter)]),
    sh(['dmsetup', 'create', 'rsh1', '--table', `0 ${(40 * MiB) / 512} thin /dev/mapper/rshpool 1`]),
    sh(['dmsetup', 'create', 'rsh3', '--table', `0 ${(40 * MiB) / 512} thin /dev/mapper/rshpool 3`]),
  ].map(short);
  c.statusAfter = sh(['dmsetup', 'status', 'rshpool']).stdout.trim();
  c.blocksBefore = dataBlocks(c.statusBefore);
  c.blocksAfter = dataBlocks(c.statusAfter);
  c.after = { thin1: md5Of(k, '/dev/mapper/rsh1'), thin3: md5Of(k, '/dev/mapper/rsh3') };
  for (const d of ['rsh3', 'rsh1', 'rshpool']) sh(['dmsetup', 'remove', d]);
  sh(['losetup', '-d', lm]);
  sh(['losetup', '-d', ld]);
  c.seconds = k.since(t0);
  return c;
}
