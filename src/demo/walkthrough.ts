/**
 * The seed walkthrough on a real kernel: sparse files, loop devices, a
 * thin-pool, a thin volume with a filesystem, a snapshot, copy-on-write
 * isolation, a snapshot of the snapshot, status, a live dump, teardown,
 * and an offline check and dump of the metadata. Every step shows the
 * command an admin would type, the tables and messages it hands the kernel
 * (as dmsetup commands, kernel-text.ts), what it did, and what there is to
 * see.
 *
 * It must run where the kernel has dm-thin-pool, as root: on the host, or
 * inside the VM harness (see main.ts).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as kernel from './kernel-text.js';

export interface WalkthroughOptions {
  /** Where the sparse files and mount points go. */
  dir: string;
  /** Path of the dmthin CLI (dist/dmthin.cjs). */
  cli: string;
  write?: (s: string) => void;
}

const POOL = 'dmthin-demo-pool';
/** 1 GiB of data, 64 KiB blocks and 256 MiB thins, in sectors, as the steps below ask for them. */
const DATA_SECTORS = 2097152;
const BLOCK_SECTORS = 128;
const THIN_SECTORS = 524288;

export function walkthrough(o: WalkthroughOptions): number {
  const out = o.write ?? ((s: string): void => void process.stdout.write(s));
  const dir = resolve(o.dir);
  const data = join(dir, 'data.img');
  const meta = join(dir, 'metadata.img');
  const mnt = (n: string): string => join(dir, 'mnt', n);
  let failed = false;

  const sh = (argv: string[], show = true): { code: number; stdout: string; stderr: string } => {
    const shown = argv[0] === process.execPath ? ['dmthin', ...argv.slice(2)] : argv;
    if (show) out(`\n  $ ${shown.join(' ')}\n`);
    const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', env: { ...process.env, DM_DISABLE_UDEV: '1' } });
    const text = `${r.stdout ?? ''}${r.stderr ?? ''}`.trimEnd();
    if (show && text) out(`${text.replace(/^/gm, '    ')}\n`);
    if (r.status !== 0) {
      out(`    !! exit ${r.status ?? r.signal}\n`);
    }
    return { code: r.status ?? 1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  };
  const must = (argv: string[], show = true): string => {
    const r = sh(argv, show);
    if (r.code !== 0) throw new Error(`step failed: ${argv.join(' ')}`);
    return r.stdout;
  };
  const dmthin = (...args: string[]): string => must([process.execPath, o.cli, ...args]);
  const step = (n: number, title: string, why: string): void => {
    out(`\n━━ ${n}. ${title}\n   ${why}\n`);
  };
  const see = (what: string): void => out(`  → ${what}\n`);
  // What the dmthin command above handed the kernel, as the dmsetup commands that would do the same.
  const sent = (lines: readonly string[]): void => out(`  ⇢ to the kernel:\n${lines.map((l) => `      ${l}\n`).join('')}`);

  mkdirSync(dir, { recursive: true });
  try {
    step(
      1,
      'Create a thin pool from two sparse files',
      'dmthin makes a 1 GiB data file and a 16 MiB metadata file (sparse: they use no space yet), attaches each to a loop device and loads a thin-pool table with 64 KiB blocks (128 sectors), low water mark 0 and no feature arguments.',
    );
    const created = dmthin('pool', 'create', POOL, '--data', data, '--metadata', meta, '--data-size', '1G', '--metadata-size', '16M', '--block-size', '64k');
    const [, metaLoop = 'METADATA_LOOP', dataLoop = 'DATA_LOOP'] = /metadata (\S+), data (\S+)/.exec(created) ?? [];
    sent(kernel.poolTable(POOL, metaLoop, dataLoop, DATA_SECTORS, BLOCK_SECTORS));
    must(['du', '-h', '--apparent-size', data, meta]);
    must(['du', '-h', data, meta]);
    see('apparent sizes are 1G and 16M; real use is (nearly) nothing.');

    step(2, 'Pool status', 'The kernel reports the transaction id, metadata and data blocks used, and the pool mode.');
    dmthin('pool', 'status', POOL);
    sent(kernel.poolStatus(POOL));

    step(
      3,
      'A thin volume with a filesystem',
      'create_thin asks the pool for thin id 1; a thin table then gives it 256 MiB of virtual space. The pool provisions blocks only when they are written.',
    );
    dmthin('thin', 'create', POOL, '1', '--size', '256M', '--name', 'demo-base');
    sent(kernel.createThin(POOL, 1, 'demo-base', THIN_SECTORS));
    must(['mkfs.ext4', '-q', '-E', 'nodiscard', '/dev/mapper/demo-base']);
    mkdirSync(mnt('base'), { recursive: true });
    must(['mount', '/dev/mapper/demo-base', mnt('base')]);
    writeFileSync(join(mnt('base'), 'hello.txt'), 'written to the base volume before the snapshot\n');
    must(['sync']);
    must(['cat', join(mnt('base'), 'hello.txt')]);

    step(
      4,
      'Snapshot the volume',
      'create_snap needs the active origin suspended: dmthin suspends demo-base, sends create_snap 2 1 and resumes it. The snapshot shares every block with its origin.',
    );
    dmthin('snap', 'create', POOL, '2', '1', '--name', 'demo-snap1');
    sent(kernel.createSnap(POOL, 2, 1, 'demo-base', 'demo-snap1', THIN_SECTORS));

    step(
      5,
      'Copy-on-write: change the origin, look at both',
      'The origin is rewritten; the snapshot keeps the old blocks. No table or message: the writes go through the filesystem, and the pool itself gives the origin new blocks. A snapshot of a mounted ext4 mounts with -o ro,noload (its journal was not closed).',
    );
    writeFileSync(join(mnt('base'), 'hello.txt'), 'the base volume, changed after the snapshot\n');
    writeFileSync(join(mnt('base'), 'new-file.txt'), 'only in the base volume\n');
    must(['sync']);
    mkdirSync(mnt('snap1'), { recursive: true });
    must(['mount', '-o', 'ro,noload', '/dev/mapper/demo-snap1', mnt('snap1')]);
    must(['cat', join(mnt('base'), 'hello.txt')]);
    must(['cat', join(mnt('snap1'), 'hello.txt')]);
    must(['ls', mnt('base'), mnt('snap1')]);
    const base = readFileSync(join(mnt('base'), 'hello.txt'), 'utf8');
    const snap = readFileSync(join(mnt('snap1'), 'hello.txt'), 'utf8');
    const isolated = base !== snap && !existsSync(join(mnt('snap1'), 'new-file.txt'));
    see(isolated ? 'the snapshot still holds the old file and lacks the new one: copy-on-write works.' : 'UNEXPECTED: the snapshot changed with its origin');
    if (!isolated) failed = true;

    step(
      6,
      'A snapshot of the snapshot',
      'Snapshots are thin devices too: create_snap 3 2 snapshots thin 2 as thin 3 (its active device suspended meanwhile).',
    );
    must(['umount', mnt('snap1')]);
    dmthin('snap', 'create', POOL, '3', '2', '--name', 'demo-snap2');
    sent(kernel.createSnap(POOL, 3, 2, 'demo-snap1', 'demo-snap2', THIN_SECTORS));
    mkdirSync(mnt('snap2'), { recursive: true });
    must(['mount', '-o', 'ro,noload', '/dev/mapper/demo-snap2', mnt('snap2')]);
    must(['cat', join(mnt('snap2'), 'hello.txt')]);
    see('the snapshot of the snapshot sees what snapshot 1 saw.');

    step(7, 'Status after the writes', 'Data blocks are now in use; the transaction id is unchanged (only set_transaction_id changes it).');
    dmthin('pool', 'status', POOL);
    sent(kernel.poolStatus(POOL));

    step(
      8,
      'A live dump',
      'A live pool changes under a reader: dmthin reserves a metadata snapshot (reserve_metadata_snap), dumps it, and releases it (release_metadata_snap). Shared mappings appear under each device.',
    );
    dmthin('pool', 'dump', POOL, '-o', join(dir, 'live.xml'));
    sent(kernel.liveDump(POOL, metaLoop));
    const lines = readFileSync(join(dir, 'live.xml'), 'utf8').split('\n');
    out(
      `${lines
        .filter((l) => !l.includes('_mapping'))
        .map((l) => `    ${l}`)
        .join('\n')}\n`,
    );
    see(
      `${lines.filter((l) => l.includes('_mapping')).length} mapping runs over ${lines.filter((l) => l.includes('<device')).length} devices (mapping lines left out above).`,
    );

    step(9, 'Tear down', 'Unmount, then dmthin removes every thin of the pool, the pool and its loop devices. The files stay.');
    must(['umount', mnt('snap2')]);
    must(['umount', mnt('base')]);
    dmthin('pool', 'destroy', POOL);
    sent(kernel.destroy(POOL, ['demo-snap2', 'demo-snap1', 'demo-base'], [metaLoop, dataLoop]));
    const loops = must(['losetup', '--list', '--noheadings', '--output', 'BACK-FILE'], false);
    const leaked = loops.split('\n').some((l) => l.trim() === data || l.trim() === meta);
    const dms = must(['dmsetup', 'ls'], false);
    see(leaked || dms.includes(POOL) ? 'UNEXPECTED: devices left behind' : 'no loop or dm device left behind.');
    if (leaked || dms.includes(POOL)) failed = true;

    step(
      10,
      'Check and dump the metadata offline',
      'The metadata file is now just a file: check it and dump it, as thin_check and thin_dump would. Nothing goes to the kernel.',
    );
    dmthin('check', meta);
    const dump = must([process.execPath, o.cli, 'dump', meta], false);
    out(
      `\n  $ dmthin dump ${meta}\n${dump
        .split('\n')
        .filter((l) => !l.includes('_mapping'))
        .map((l) => `    ${l}`)
        .join('\n')}\n`,
    );
    if (spawnSync('thin_check', ['--version'], { stdio: 'ignore' }).status === 0) {
      must(['thin_check', meta]);
      const theirs = spawnSync('thin_dump', [meta], { encoding: 'utf8' }).stdout;
      see(theirs === dump ? 'thin_dump prints exactly the same XML.' : 'UNEXPECTED: thin_dump prints different XML');
      if (theirs !== dump) failed = true;
    }
  } catch (e) {
    failed = true;
    out(`\n!! ${(e as Error).message}\n`);
    cleanup(dir, out);
  }
  out(failed ? '\nThe walkthrough FAILED.\n' : '\nThe walkthrough completed.\n');
  return failed ? 1 : 0;
}

/** After a failure: unmount and remove whatever the walkthrough left. */
function cleanup(dir: string, out: (s: string) => void): void {
  for (const m of ['snap2', 'snap1', 'base']) spawnSync('umount', [join(dir, 'mnt', m)], { stdio: 'ignore' });
  for (const d of ['demo-snap2', 'demo-snap1', 'demo-base', POOL]) spawnSync('dmsetup', ['remove', '--noudevsync', d], { stdio: 'ignore' });
  const r = spawnSync('losetup', ['--list', '--noheadings', '--output', 'NAME,BACK-FILE'], { encoding: 'utf8' });
  for (const line of (r.stdout ?? '').split('\n')) {
    const [name, file] = line.trim().split(/\s+/);
    if (name && file?.startsWith(dir)) spawnSync('losetup', ['-d', name], { stdio: 'ignore' });
  }
  out('  (cleaned up what the walkthrough created)\n');
}
