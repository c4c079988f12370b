// Runs inside a kernel with dm-thin-pool (the VM, or a host that has it), as
// root. It drives the dmthin CLI and library through the seed's operations
// and failure cases, and records what it observed as one JSON object in the
// file WORK_DIR/observed.json; test/kernel/driver.test.ts asserts on it.
// Usage: node driver-scenario.mjs PROJECT_ROOT WORK_DIR
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';

const [root, work] = process.argv.slice(2);
const cli = join(root, 'dist', 'dmthin.cjs');
const lib = await import(join(root, 'dist', 'src', 'index.js'));
mkdirSync(work, { recursive: true });
const obs = {};
const env = { ...process.env, DM_DISABLE_UDEV: '1' };

function sh(argv, extraEnv = {}) {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', env: { ...env, ...extraEnv } });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}
const dmthin = (args, extraEnv) => sh([process.execPath, cli, ...args], extraEnv);
const loops = () => sh(['losetup', '--list', '--noheadings', '--output', 'NAME,BACK-FILE']).stdout.trim().split('\n').filter(Boolean).sort();
const dms = () => {
  const o = sh(['dmsetup', 'ls']).stdout.trim();
  return /No devices/.test(o)
    ? []
    : o
        .split('\n')
        .map((l) => l.split(/\s+/)[0])
        .sort();
};
const state = () => ({ loops: loops(), dms: dms() });
const md5 = (dev, mb = 1) => sh(['sh', '-c', `dd if=${dev} bs=1M count=${mb} 2>/dev/null | md5sum`]).stdout.split(' ')[0];
function writePattern(dev, byte, offsetMiB, mib) {
  const fd = openSync(dev, 'r+');
  const buf = Buffer.alloc(1 << 20, byte);
  for (let i = 0; i < mib; i++) writeSync(fd, buf, 0, buf.length, (offsetMiB + i) << 20);
  closeSync(fd);
}
const f = (n) => join(work, n);
const poolArgs = (name, data, meta, extra = []) => [
  'pool',
  'create',
  name,
  '--data',
  f(data),
  '--metadata',
  f(meta),
  '--data-size',
  '256M',
  '--metadata-size',
  '8M',
  '--block-size',
  '64k',
  ...extra,
];

try {
  obs.baseline = state();

  // Input validation happens before the kernel is touched.
  obs.badBlockSize = { ...dmthin(poolArgs('p-bad', 'bad.data', 'bad.meta', ['--block-size', '96k'])), filesCreated: existsSync(f('bad.data')), after: state() };
  obs.badName = { ...dmthin(poolArgs('bad/name', 'bn.data', 'bn.meta')), after: state() };

  // Failures midway roll back: no loop device, dm device or file left.
  obs.faultAfterLoops = {
    ...dmthin(poolArgs('p-fault', 'f.data', 'f.meta'), { DMTHIN_FAULT: 'pool-create:after-loops' }),
    files: [existsSync(f('f.data')), existsSync(f('f.meta'))],
    after: state(),
  };
  obs.faultAfterPool = {
    ...dmthin(poolArgs('p-fault2', 'f2.data', 'f2.meta'), { DMTHIN_FAULT: 'pool-create:after-pool' }),
    files: [existsSync(f('f2.data')), existsSync(f('f2.meta'))],
    after: state(),
  };

  // The seed: pool, thin, snapshot, snapshot of snapshot.
  obs.create = dmthin(poolArgs('p1', 'p1.data', 'p1.meta', ['--skip-zeroing']));
  obs.createSameName = { ...dmthin(poolArgs('p1', 'other.data', 'other.meta')), otherFiles: existsSync(f('other.data')) };
  obs.statusFresh = JSON.parse(dmthin(['pool', 'status', 'p1', '--json']).stdout);
  obs.thinCreate = dmthin(['thin', 'create', 'p1', '1', '--size', '64M', '--name', 'p1-base']);
  obs.thinCreateExistingId = { ...dmthin(['thin', 'create', 'p1', '1', '--size', '64M', '--name', 'p1-dup']), after: state() };
  obs.faultThinActivate = { ...dmthin(['thin', 'create', 'p1', '7', '--size', '64M', '--name', 'p1-seven'], { DMTHIN_FAULT: 'thin-create:before-activate' }) };
  obs.idSevenFreeAfterFault = dmthin(['thin', 'create', 'p1', '7', '--size', '16M', '--name', 'p1-seven']);
  dmthin(['thin', 'deactivate', 'p1-seven']);
  obs.deleteSeven = dmthin(['thin', 'delete', 'p1', '7']);
  obs.badId = dmthin(['thin', 'create', 'p1', '16777216', '--size', '1M']);

  writePattern('/dev/mapper/p1-base', 0xaa, 0, 4);
  obs.baseBefore = md5('/dev/mapper/p1-base', 4);
  obs.thinStatusBase = sh(['dmsetup', 'status', 'p1-base']).stdout.trim();
  obs.snap = dmthin(['snap', 'create', 'p1', '2', '1', '--name', 'p1-snap']);
  obs.originSuspendedAfterSnap = sh(['dmsetup', 'info', '-c', '--noheadings', '-o', 'attr', 'p1-base']).stdout.trim();
  writePattern('/dev/mapper/p1-base', 0x55, 1, 1);
  obs.baseAfter = md5('/dev/mapper/p1-base', 4);
  obs.snapAfter = md5('/dev/mapper/p1-snap', 4);
  obs.snapSize = sh(['blockdev', '--getsize64', '/dev/mapper/p1-snap']).stdout.trim();
  obs.snapOfSnap = dmthin(['snap', 'create', 'p1', '3', '2', '--name', 'p1-snap2']);
  writePattern('/dev/mapper/p1-snap', 0x11, 2, 1);
  obs.snap2 = md5('/dev/mapper/p1-snap2', 4);
  obs.snapAfterWrite = md5('/dev/mapper/p1-snap', 4);

  // Busy: an active thin cannot be deleted; a mounted one cannot be removed.
  obs.deleteActive = dmthin(['thin', 'delete', 'p1', '2']);
  sh(['mkfs.ext4', '-q', '-E', 'nodiscard', '/dev/mapper/p1-snap2']);
  mkdirSync(f('mnt'), { recursive: true });
  obs.mount = sh(['mount', '/dev/mapper/p1-snap2', f('mnt')]);
  obs.deactivateMounted = dmthin(['thin', 'deactivate', 'p1-snap2']);
  obs.destroyWhileMounted = { ...dmthin(['pool', 'destroy', 'p1']), after: state() };
  sh(['umount', f('mnt')]);

  // Status fields, transaction id, metadata snapshot.
  const pool = await lib.Pool.open('p1');
  await pool.setTransactionId(0, 5);
  obs.statusAfter = JSON.parse(dmthin(['pool', 'status', 'p1', '--json']).stdout);
  // Repair never writes metadata an active pool holds, nor its own input seen through a loop device.
  writeFileSync(f('other.meta'), '');
  sh(['truncate', '-s', '4M', f('other.meta')]);
  obs.repairIntoLive = dmthin(['repair', '-i', f('other.meta'), '-o', obs.statusAfter.metadata_device]);
  obs.repairOwnLoop = dmthin(['repair', '-i', f('p1.meta'), '-o', obs.statusAfter.metadata_device]);
  obs.dumpOverOwnLoop = dmthin(['dump', obs.statusAfter.metadata_device, '-o', f('p1.meta')]);
  obs.heldRoot = await pool.reserveMetadataSnap();
  obs.statusHeld = (await pool.status()).heldMetadataRoot;
  await pool.releaseMetadataSnap();
  obs.statusReleased = (await pool.status()).heldMetadataRoot ?? null;
  obs.liveDump = dmthin(['pool', 'dump', 'p1']);
  obs.heldAfterLiveDump = (await pool.status()).heldMetadataRoot ?? null;
  obs.activeThins = (await pool.activeThins()).map((t) => `${t.id}:${t.name}:${t.sectors}`).sort();

  // What the kernel returns for whole devices, for the offline export test;
  // then a metadata snapshot, held through teardown, and more writes: an
  // export --at-metadata-snap must give the device as it was at the snapshot.
  obs.deviceMd5AtSnap = md5('/dev/mapper/p1-base', 64);
  obs.reserveForExport = sh(['dmsetup', 'message', 'p1', '0', 'reserve_metadata_snap']);
  writePattern('/dev/mapper/p1-base', 0x77, 8, 2);
  obs.deviceMd5 = { 1: md5('/dev/mapper/p1-base', 64), 2: md5('/dev/mapper/p1-snap', 64) };
  obs.files = { metadata: f('p1.meta'), data: f('p1.data') };

  // Delete a snapshot, then tear everything down.
  dmthin(['thin', 'deactivate', 'p1-snap2']);
  obs.deleteSnap2 = dmthin(['thin', 'delete', 'p1', '3']);
  obs.destroy = dmthin(['pool', 'destroy', 'p1']);
  obs.final = state();
  obs.offlineCheck = dmthin(['check', f('p1.meta')]);
  obs.offlineDump = dmthin(['dump', f('p1.meta')]);
  obs.thinCheck = sh(['thin_check', f('p1.meta')]);
  obs.thinDump = sh(['thin_dump', f('p1.meta')]);
} catch (e) {
  obs.exception = String(e?.stack ?? e);
} finally {
  // Leave nothing behind whatever happened.
  for (const d of dms()) if (d.startsWith('p1') || d.startsWith('p-')) sh(['dmsetup', 'remove', '--noudevsync', d]);
  for (const l of loops()) {
    const [name, file] = l.split(/\s+/);
    if (file?.startsWith(work)) sh(['losetup', '-d', name]);
  }
}
// The other kernel checks that need no lvm2 of the doctor's boot share this one (a boot costs a minute of CI):
// LVM running dmthin as its thin_* tools, the nightly backup (send live, receive into a file and another
// pool), the seed's live Docker move, and the demo's walkthrough. Each writes its own observed.json.
for (const [key, script] of [
  ['lvm', 'lvm-tools.mjs'],
  ['backup', 'backup.mjs'],
  ['dockerLive', 'docker-live.mjs'],
  ['walkthrough', 'walkthrough.mjs'],
]) {
  const partWork = join(work, key);
  const t = Date.now();
  const r = spawnSync(process.execPath, [join(root, 'test', 'kernel', 'guest', script), root, partWork], { encoding: 'utf8', env });
  obs[key] = existsSync(join(partWork, 'observed.json'))
    ? JSON.parse(readFileSync(join(partWork, 'observed.json'), 'utf8'))
    : { exception: `${script} wrote nothing (exit ${r.status}): ${r.stdout}${r.stderr}`.slice(-3000) };
  obs.partSeconds = { ...obs.partSeconds, [key]: (Date.now() - t) / 1000 };
}
writeFileSync(join(work, 'observed.json'), JSON.stringify(obs));
process.stdout.write('scenario done\n');
