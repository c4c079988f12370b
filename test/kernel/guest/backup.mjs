// Runs inside a kernel with dm-thin (the VM), as root: the nightly backup of
// docs/backup.md, for real. An ext4 volume in pool bk-src changes between
// snapshots; each snapshot is sent live (dmthin send POOL ID, a metadata
// snapshot reserved and released), full the first night and incremental
// after, and received into an image file and into a thin device of a second
// pool (bk-dst). After every night the kernel's bytes of the snapshot are
// compared with both copies, and e2fsck checks the file. Then what must be
// refused is tried: a corrupted, mis-based and truncated stream, a receive
// killed half way (SIGKILL), a live send on a pool already holding a
// metadata snapshot, of a writable active device, and a live send killed by
// SIGTERM. Records what it saw in WORK_DIR/observed.json
// (test/kernel/driver.test.ts asserts on it).
// Usage: node backup.mjs PROJECT_ROOT WORK_DIR
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [root, work] = process.argv.slice(2);
mkdirSync(work, { recursive: true });
const cli = join(root, 'dist', 'dmthin.cjs');
const env = { ...process.env, DM_DISABLE_UDEV: '1' };
const obs = { nights: [] };
const f = (n) => join(work, n);
const sh = (argv, opts = {}) => {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', env, maxBuffer: 1 << 26, ...opts });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
};
const dmthin = (...args) => sh([process.execPath, cli, ...args]);
// Hashed in pieces: whole devices and images do not fit the VM's memory twice over.
const sha = (path) => {
  const h = createHash('sha256');
  const fd = openSync(path, 'r');
  const buf = Buffer.alloc(4 << 20);
  for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n));
  closeSync(fd);
  return h.digest('hex');
};
const state = (p) => (existsSync(p) ? readFileSync(p, 'utf8') : null);
const held = (pool) => JSON.parse(dmthin('pool', 'status', pool, '--json').stdout).held_metadata_root ?? null;
const SIZE = '160M';
const mnt = f('mnt');
const step = (name, r) => {
  if (r.code !== 0) throw new Error(`${name}: exit ${r.code}: ${r.stderr}${r.stdout}`.slice(0, 2000));
  return r;
};

// The pools' files live on a tmpfs too: every block the kernel writes through their loop devices would
// otherwise cross the 9p share, which made this part the slowest of the driver's boot.
const pools = f('pools');
mkdirSync(pools, { recursive: true });
const pf = (n) => join(pools, n);

try {
  step('pools tmpfs', sh(['mount', '-t', 'tmpfs', '-o', 'size=600m', 'tmpfs', pools]));
  for (const [pool, data] of [
    ['bk-src', '288M'],
    ['bk-dst', '288M'],
  ]) {
    step(
      `create ${pool}`,
      dmthin(
        'pool',
        'create',
        pool,
        '--data',
        pf(`${pool}.data`),
        '--metadata',
        pf(`${pool}.meta`),
        '--data-size',
        data,
        '--metadata-size',
        '8M',
        '--block-size',
        '64k',
      ),
    );
  }
  step('thin', dmthin('thin', 'create', 'bk-src', '1', '--size', SIZE, '--name', 'bk-vol'));
  step('mkfs', sh(['mkfs.ext4', '-q', '-E', 'nodiscard,lazy_itable_init=0,lazy_journal_init=0', '/dev/mapper/bk-vol']));
  mkdirSync(mnt, { recursive: true });
  step('mount', sh(['mount', '/dev/mapper/bk-vol', mnt]));

  // Each night: files change (some written while the snapshot is taken), a snapshot, sent and received twice.
  // M/bulk, written once, fills mapping leaves no later night touches: the snapshots share them.
  const changes = [
    'dd if=/dev/urandom of=M/big bs=1M count=48 2>/dev/null; yes dmthin | head -c 67108864 > M/bulk; mkdir M/etc; for i in $(seq 1 200); do echo "line $i" > M/etc/f$i; done',
    'dd if=/dev/urandom of=M/big bs=1M count=3 seek=5 conv=notrunc 2>/dev/null; rm M/etc/f1*; dd if=/dev/urandom of=M/new bs=1M count=4 2>/dev/null',
    'rm M/new; fstrim M 2>/dev/null; dd if=/dev/urandom of=M/big bs=64k count=7 seek=100 conv=notrunc 2>/dev/null; echo tuesday >> M/etc/f2',
  ];
  // The copies live on a tmpfs: the scratch directory is the host's, shared over 9p, which cannot punch holes.
  const copies = f('copies');
  mkdirSync(copies, { recursive: true });
  step('tmpfs', sh(['mount', '-t', 'tmpfs', '-o', 'size=400m', 'tmpfs', copies]));
  const target = join(copies, 'backup.img');
  const dstState = f('dst.dmthin-state');
  let prev;
  for (let night = 0; night < changes.length; night++) {
    const id = 11 + night;
    step(`change ${night}`, sh(['sh', '-c', changes[night].replaceAll('M/', `${mnt}/`).replaceAll(' M ', ` ${mnt} `)]));
    // A writer still going while the snapshot is taken: dm suspend freezes the filesystem first.
    const writer = spawn('sh', ['-c', `i=0; while [ $i -lt 400 ]; do echo $i >> ${mnt}/log; i=$((i+1)); done`], { env });
    step(`snap ${id}`, dmthin('snap', 'create', 'bk-src', String(id), '1', '--name', `bk-snap${id}`));
    await new Promise((r) => writer.on('exit', r));
    const kernel = sha(`/dev/mapper/bk-snap${id}`);
    step(`deactivate ${id}`, dmthin('thin', 'deactivate', `bk-snap${id}`));
    const stream = f(`night${night}.stream`);
    const send = dmthin('send', 'bk-src', String(id), ...(prev === undefined ? [] : ['--base', String(prev)]), '--size', SIZE, '-o', stream, '--json');
    const n = { id, base: prev ?? null, kernel, send: { code: send.code, stderr: send.stderr, report: send.code === 0 ? JSON.parse(send.stdout) : null } };
    n.heldAfterSend = held('bk-src');
    if (night === 2) {
      // Before the last night is applied: what must be refused leaves the target and its state as they were.
      const before = { file: sha(target), state: state(`${target}.dmthin-state`) };
      const bytes = readFileSync(stream);
      const corrupt = Buffer.from(bytes);
      corrupt[corrupt.length >> 1] ^= 0x40;
      writeFileSync(f('corrupt.stream'), corrupt);
      obs.corrupt = dmthin('receive', '-i', f('corrupt.stream'), '-o', target);
      writeFileSync(f('cut.stream'), bytes.subarray(0, bytes.length - 100));
      obs.truncated = dmthin('receive', '-i', f('cut.stream'), '-o', target);
      // Since night 0, but the target holds night 1.
      step('send wrong base', dmthin('send', 'bk-src', String(id), '--base', '11', '--size', SIZE, '-o', f('wrong.stream')));
      obs.wrongBase = dmthin('receive', '-i', f('wrong.stream'), '-o', target);
      obs.unchanged = { file: sha(target) === before.file, state: state(`${target}.dmthin-state`) === before.state };
    }
    const rf = dmthin('receive', '-i', stream, '-o', target, '--json');
    n.receiveFile = { code: rf.code, stderr: rf.stderr, report: rf.code === 0 ? JSON.parse(rf.stdout) : null };
    n.file = sha(target);
    n.fsck = sh(['e2fsck', '-fn', target]);
    const rt = dmthin('receive', '-i', stream, '--pool', 'bk-dst', '--thin-id', '1', '--state', dstState, '--json');
    n.receiveThin = { code: rt.code, stderr: rt.stderr, report: rt.code === 0 ? JSON.parse(rt.stdout) : null };
    step('activate dst', dmthin('thin', 'activate', 'bk-dst', '1', '--size', SIZE, '--name', 'bk-copy'));
    n.thin = sha('/dev/mapper/bk-copy');
    step('deactivate dst', dmthin('thin', 'deactivate', 'bk-copy'));
    obs.nights.push(n);
    prev = id;
  }
  // A writable active device: refused. A pool already holding a metadata snapshot: refused, and left held.
  obs.writable = dmthin('send', 'bk-src', '1', '-o', f('w.stream'));
  sh(['dmsetup', 'message', 'bk-src', '0', 'reserve_metadata_snap']);
  obs.alreadyHeld = { ...dmthin('send', 'bk-src', '13', '-o', f('h.stream')), stillHeld: held('bk-src') !== null };
  sh(['dmsetup', 'message', 'bk-src', '0', 'release_metadata_snap']);
  // A live send killed by SIGTERM: the snapshot it reserved is released.
  {
    const child = spawn(process.execPath, [cli, 'send', 'bk-src', '13', '--size', SIZE, '-o', f('term.stream')], { env, stdio: 'ignore' });
    let sawHeld = false;
    for (let i = 0; i < 400 && !sawHeld; i++) {
      await new Promise((r) => setTimeout(r, 25));
      sawHeld = held('bk-src') !== null;
    }
    child.kill('SIGTERM');
    const code = await new Promise((r) => child.on('exit', (c, s) => r(c ?? s)));
    obs.sigterm = { sawHeld, code, heldAfter: held('bk-src'), left: readdirSync(work).filter((n) => n.includes('term.stream')) };
  }
  // A receive killed with SIGKILL while writing: the state names the stream; another is refused; the same one finishes it.
  {
    rmSync(target); // room on the tmpfs
    const full = f('full13.stream');
    step('send full 13', dmthin('send', 'bk-src', '13', '--size', SIZE, '-o', full));
    const t2 = join(copies, 'killed.img');
    const st2 = `${t2}.dmthin-state`;
    const child = spawn(process.execPath, [cli, 'receive', '-i', full, '-o', t2], { env, stdio: 'ignore' });
    let killedApplying = false;
    const exited = new Promise((r) => child.on('exit', (c, s) => r(c ?? s)));
    let done = false;
    exited.then(() => {
      done = true;
    });
    while (!done && !killedApplying) {
      const s = state(st2);
      if (s?.includes('"applying"')) {
        child.kill('SIGKILL');
        killedApplying = true;
      } else await new Promise((r) => setTimeout(r, 2));
    }
    const how = await exited;
    obs.killed = { killedApplying, how, stateAfterKill: state(st2) };
    obs.killed.other = dmthin('receive', '-i', f('night0.stream'), '-o', t2);
    obs.killed.resume = dmthin('receive', '-i', full, '-o', t2, '--json');
    obs.killed.file = sha(t2);
    obs.killed.kernel = obs.nights[2].kernel;
  }
} catch (e) {
  obs.exception = String(e?.stack ?? e);
} finally {
  sh(['umount', mnt]);
  sh(['umount', f('copies')]);
  for (const d of ['bk-vol', 'bk-copy', 'bk-snap11', 'bk-snap12', 'bk-snap13']) sh(['dmsetup', 'remove', d]);
  for (const p of ['bk-src', 'bk-dst']) dmthin('pool', 'destroy', p);
  sh(['umount', pools]);
  writeFileSync(f('observed.json'), JSON.stringify(obs));
}
