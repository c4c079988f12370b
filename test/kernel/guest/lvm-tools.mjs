// Runs inside a kernel with dm-thin (the VM), as root, with the host's lvm2:
// LVM itself runs dmthin as its thin_check, thin_repair and thin_dump, set in
// lvm.conf's global section as docs/lvm.md says. Each tool is a logging
// wrapper around a symlink of that name to dist/dmthin.cjs, so the record
// shows which tool LVM ran, with what, and what it returned. Records what it
// observed in WORK_DIR/observed.json (asserted by test/kernel/driver.test.ts).
// Usage: node lvm-tools.mjs PROJECT_ROOT WORK_DIR
import { spawnSync } from 'node:child_process';
import { chmodSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, readSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';

const [root, work] = process.argv.slice(2);
mkdirSync(work, { recursive: true });
const obs = {};
const env = { ...process.env, DM_DISABLE_UDEV: '1' };
const sh = (argv) => {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', env });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
};
const f = (n) => join(work, n);

if (!['/sbin/lvm', '/usr/sbin/lvm'].some(existsSync)) {
  writeFileSync(f('observed.json'), JSON.stringify({ skipped: 'lvm2 is not installed (apt-get install lvm2): LVM cannot run dmthin here' }));
  process.exit(0);
}

// The tools: bin/NAME logs and runs real/NAME, a symlink to the bundle (dmthin acts as NAME).
const log = f('tools.log');
mkdirSync(f('bin'));
mkdirSync(f('real'));
for (const t of ['thin_check', 'thin_repair', 'thin_dump']) {
  symlinkSync(join(root, 'dist', 'dmthin.cjs'), f(`real/${t}`));
  writeFileSync(f(`bin/${t}`), `#!/bin/sh\n"${process.execPath}" "${f(`real/${t}`)}" "$@"\nrc=$?\necho "${t} $* -> $rc" >> "${log}"\nexit $rc\n`);
  chmodSync(f(`bin/${t}`), 0o755);
}
writeFileSync(log, '');
const config =
  'devices { obtain_device_list_from_udev = 0 filter = [ "a|^/dev/loop|", "r|.*|" ] } ' +
  'activation { udev_sync = 0 udev_rules = 0 monitoring = 0 } backup { backup = 0 archive = 0 } ' +
  `global { thin_check_executable = "${f('bin/thin_check')}" thin_repair_executable = "${f('bin/thin_repair')}" thin_dump_executable = "${f('bin/thin_dump')}" }`;
const lvm = (...args) => sh(['lvm', ...args, '--config', config]);
const logSince = (() => {
  let seen = 0;
  return () => {
    const lines = readFileSync(log, 'utf8').split('\n').filter(Boolean);
    const out = lines.slice(seen);
    seen = lines.length;
    return out;
  };
})();
const sha = (dev) => createHash('sha256').update(readFileSync(dev)).digest('hex');
function write(dev, seed, count) {
  // `count` 64 KiB writes of distinct content at pseudo-random 64 KiB-aligned places.
  const fd = openSync(dev, 'r+');
  const size = Number(sh(['blockdev', '--getsize64', dev]).stdout.trim());
  const buf = Buffer.alloc(65536);
  let s = seed >>> 0;
  for (let i = 0; i < count; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    buf.fill((seed + i) & 255);
    buf.writeUInt32LE(s, 0);
    writeSync(fd, buf, 0, buf.length, (s % (size / 65536)) * 65536);
  }
  fsyncSync(fd);
  closeSync(fd);
}

let loop;
const thins = ['t1', 's1', 't2'];
const sums = () => Object.fromEntries(thins.map((n) => [n, sha(`/dev/mapper/vglt-${n}`)]));
try {
  writeFileSync(f('pv.img'), '');
  sh(['truncate', '-s', '64M', f('pv.img')]);
  loop = sh(['losetup', '-f', '--show', f('pv.img')]).stdout.trim();
  obs.setup = [
    lvm('pvcreate', '-y', loop),
    lvm('vgcreate', 'vglt', loop),
    lvm('lvcreate', '-y', '--type', 'thin-pool', '-L', '24M', '--chunksize', '64k', '-n', 'pool', 'vglt'),
    lvm('lvcreate', '-y', '-V', '16M', '-T', 'vglt/pool', '-n', 't1'),
  ].map((r) => r.code);
  write('/dev/mapper/vglt-t1', 1, 120);
  obs.setup.push(lvm('lvcreate', '-y', '-s', 'vglt/t1', '-n', 's1').code, lvm('lvchange', '-ay', '-K', 'vglt/s1').code);
  write('/dev/mapper/vglt-t1', 2, 40);
  obs.setup.push(lvm('lvcreate', '-y', '-V', '8M', '-T', 'vglt/pool', '-n', 't2').code);
  write('/dev/mapper/vglt-t2', 3, 50);
  obs.before = sums();
  obs.setupTools = logSince();

  // Deactivate and activate again: LVM checks the pool metadata with dmthin's thin_check.
  obs.deactivate = lvm('vgchange', '-an', 'vglt');
  obs.activate = lvm('vgchange', '-ay', '-K', 'vglt');
  obs.activateTools = logSince();
  obs.afterActivate = sums();
  obs.deactivate2 = lvm('vgchange', '-an', 'vglt');
  logSince();

  // Break the pool metadata's superblock checksum on the PV (its first extent of pool_tmeta).
  const num = (args) => Number(lvm(...args).stdout.trim());
  const peStart = num(['pvs', '--noheadings', '--units', 'b', '--nosuffix', '-o', 'pe_start', loop]);
  const extent = num(['vgs', '--noheadings', '--units', 'b', '--nosuffix', '-o', 'vg_extent_size', 'vglt']);
  const devices = lvm('lvs', '--noheadings', '-a', '-o', 'devices', 'vglt/pool_tmeta').stdout.trim();
  const pe = Number(/\((\d+)\)/.exec(devices)?.[1]);
  const at = peStart + pe * extent + 200;
  obs.tmetaAt = { peStart, extent, devices, at };
  const fd = openSync(f('pv.img'), 'r+');
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, at);
  b[0] ^= 0xff;
  writeSync(fd, b, 0, 1, at);
  fsyncSync(fd);
  closeSync(fd);
  obs.offlineCheckBroken = sh([process.execPath, join(root, 'dist', 'dmthin.cjs'), 'lvm', 'check', f('pv.img'), 'vglt/pool']);

  // LVM must refuse to activate it (dmthin's thin_check fails it), then rebuild it.
  obs.refused = lvm('lvchange', '-ay', 'vglt/pool');
  obs.refusedTools = logSince();
  obs.repair = lvm('lvconvert', '-y', '--repair', 'vglt/pool');
  obs.repairTools = logSince();
  obs.activateRepaired = lvm('vgchange', '-ay', '-K', 'vglt');
  obs.activateRepairedTools = logSince();
  obs.afterRepair = sums();
  obs.lvs = lvm('lvs', '-a', '--noheadings', '-o', 'lv_name,segtype', 'vglt').stdout;
  obs.deactivate3 = lvm('vgchange', '-an', 'vglt');
  // dmthin reads the repaired VG from the image: the old metadata kept as pool_meta0.
  obs.offlineLs = sh([process.execPath, join(root, 'dist', 'dmthin.cjs'), 'lvm', 'ls', '--json', f('pv.img')]);
  obs.offlineCheckRepaired = sh([process.execPath, join(root, 'dist', 'dmthin.cjs'), 'lvm', 'check', f('pv.img'), 'vglt/pool']);
  obs.undelete = undeleteScenario();
} catch (e) {
  obs.exception = String(e?.stack ?? e);
} finally {
  lvm('vgchange', '-an', 'vglt');
  if (loop) sh(['losetup', '-d', loop]);
}
writeFileSync(f('observed.json'), JSON.stringify(obs));

// A thin LV removed with lvremove, put back with dmthin lvm undelete: its VG
// text restored with vgcfgrestore, the pool's metadata swapped for dmthin's
// with lvconvert --swapmetadata; LVM activates it and it reads as before.
function undeleteScenario() {
  const u = {};
  const img = f('ud.img');
  writeFileSync(img, '');
  sh(['truncate', '-s', '64M', img]);
  const l = sh(['losetup', '-f', '--show', img]).stdout.trim();
  const dmthin = (...args) => sh([process.execPath, join(root, 'dist', 'dmthin.cjs'), ...args]);
  try {
    u.setup = [
      lvm('pvcreate', '-y', l),
      lvm('vgcreate', 'vgud', l),
      lvm('lvcreate', '-y', '--type', 'thin-pool', '-L', '24M', '--chunksize', '64k', '-n', 'pool', 'vgud'),
      lvm('lvcreate', '-y', '-V', '8M', '-T', 'vgud/pool', '-n', 'keep'),
      lvm('lvcreate', '-y', '-V', '8M', '-T', 'vgud/pool', '-n', 'gone'),
    ].map((r) => r.code);
    write('/dev/mapper/vgud-keep', 11, 40);
    write('/dev/mapper/vgud-gone', 12, 60);
    u.before = sha('/dev/mapper/vgud-gone');
    u.remove = lvm('lvremove', '-y', 'vgud/gone').code;
    // While the pool still runs, recovery from its disks is refused and writes nothing.
    u.exportWhileActive = dmthin('lvm', 'export', l, 'vgud/gone', '--deleted', '-o', f('gone-live.img'));
    u.undeleteWhileActive = dmthin('lvm', 'undelete', l, 'vgud/gone', '-o', f('ud.meta'), '--vg-text', f('vgud-live.txt'));
    u.wroteWhileActive = ['gone-live.img', 'ud.meta', 'vgud-live.txt'].filter((n) => existsSync(f(n)));
    write('/dev/mapper/vgud-keep', 13, 10);
    u.deactivate = lvm('vgchange', '-an', 'vgud').code;
    const tmetaBytes = Number(lvm('lvs', '--noheadings', '--units', 'b', '--nosuffix', '-a', '-o', 'lv_size', 'vgud/pool_tmeta').stdout.trim());
    writeFileSync(f('ud.meta'), '');
    sh(['truncate', '-s', String(tmetaBytes), f('ud.meta')]);
    u.undelete = dmthin('lvm', 'undelete', img, 'vgud/gone', '-o', f('ud.meta'), '--vg-text', f('vgud.txt'), '--json');
    // The VG text first (it is LVM's newest plus the LV), then the metadata swap (which LVM records itself).
    u.restore = lvm('vgcfgrestore', '--force', '-f', f('vgud.txt'), 'vgud');
    u.newmeta = lvm('lvcreate', '-y', '-an', '-Zn', '-L', `${tmetaBytes}b`, '-n', 'newmeta', 'vgud');
    u.newmetaActivate = lvm('lvchange', '-ay', 'vgud/newmeta');
    u.copy = sh(['dd', `if=${f('ud.meta')}`, 'of=/dev/mapper/vgud-newmeta', 'bs=1M', 'oflag=direct', 'conv=fsync']).code;
    u.newmetaDeactivate = lvm('lvchange', '-an', 'vgud/newmeta');
    u.swap = lvm('lvconvert', '-y', '--swapmetadata', '--poolmetadata', 'vgud/newmeta', 'vgud/pool');
    logSince();
    u.activate = lvm('vgchange', '-ay', 'vgud');
    u.activateTools = logSince();
    u.lvs = lvm('lvs', '--noheadings', '-o', 'lv_name,thin_id', 'vgud').stdout;
    u.after = existsSync('/dev/mapper/vgud-gone') ? sha('/dev/mapper/vgud-gone') : null;
    // docs/backup.md's nightly step on the live LVM pool: an LVM thin snapshot (left inactive), sent by its thin id
    // from the pool's thin-pool dm device (VG-POOL-tpool), received into a file, compared with the LV's bytes.
    const field = (name, lv) => lvm('lvs', '--noheadings', '--nosuffix', '--units', 'b', '-o', name, `vgud/${lv}`).stdout.trim();
    const ls = {};
    ls.snap = lvm('lvcreate', '-y', '-s', '-n', 'night1', 'vgud/keep').code;
    ls.active = existsSync('/dev/mapper/vgud-night1');
    ls.pool = `vgud-${field('pool_lv', 'keep')}-tpool`;
    ls.send = dmthin('send', ls.pool, field('thin_id', 'night1'), '--size', field('lv_size', 'keep'), '-o', f('night1.stream'), '--json');
    ls.receive = dmthin('receive', '-i', f('night1.stream'), '-o', f('night1.img'));
    // The same by LVM's names: `lvm send` given the pool's disk (the loop device) or the file behind it must see
    // that the kernel runs this pool and go through it; given a copy of the disk, it reads the copy.
    ls.lvmByDevice = dmthin('lvm', 'send', l, 'vgud/night1', '-o', f('night1-dev.stream'), '--json');
    ls.lvmByFile = dmthin('lvm', 'send', img, 'vgud/night1', '-o', f('night1-file.stream'), '--json');
    sh(['cp', '--sparse=always', img, f('ud-copy.img')]);
    ls.lvmByCopy = dmthin('lvm', 'send', f('ud-copy.img'), 'vgud/night1', '-o', f('night1-copy.stream'), '--json');
    // Reading that pool in place is what the kernel's writes can break: export refuses, the reports warn.
    ls.lvmExportLive = dmthin('lvm', 'export', l, 'vgud/night1', '-o', f('night1-exp.img'));
    ls.lvmExportLiveWrote = existsSync(f('night1-exp.img'));
    ls.lvmExportCopy = dmthin('lvm', 'export', f('ud-copy.img'), 'vgud/night1', '-o', f('night1-copy-exp.img'));
    ls.lvmLsLive = dmthin('lvm', 'ls', l, 'vgud/pool');
    ls.poolStatusAfter = sh(['dmsetup', 'status', 'vgud-pool-tpool']).stdout.trim();
    for (const k of ['dev', 'file']) ls[`${k}Receive`] = dmthin('receive', '-i', f(`night1-${k}.stream`), '-o', f(`night1-${k}.img`)).code;
    ls.activate = lvm('lvchange', '-ay', '-K', 'vgud/night1').code;
    ls.equal = existsSync(f('night1.img')) && sha('/dev/mapper/vgud-night1') === sha(f('night1.img'));
    ls.equalByName = ['dev', 'file'].map((k) => existsSync(f(`night1-${k}.img`)) && sha('/dev/mapper/vgud-night1') === sha(f(`night1-${k}.img`)));
    u.liveSend = ls;
  } catch (e) {
    u.exception = String(e?.stack ?? e);
  } finally {
    lvm('vgchange', '-an', 'vgud');
    sh(['losetup', '-d', l]);
  }
  return u;
}
process.stdout.write('lvm scenario done\n');
