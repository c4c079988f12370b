import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { diffFilesystems } from '../../src/fs/diff.js';
import { FileSource } from '../../src/io/byte-source.js';
import { scratch, skipReason } from '../support/env.js';
import { debugfs, differingRanges, mke2fs, mkext4, touch } from './images.js';

const tmp = scratch('dmthin-fs-scale-');
afterAll(() => tmp.cleanup());
const noTools = skipReason(mke2fs !== undefined, 'e2fsprogs (mke2fs, debugfs) not installed: the diff scale test needs them');

/** FS_SCALE_GIB=10 measures the 10 GiB case (sparse images; about 1 % of the size rewritten either way). */
const gib = Number(process.env.FS_SCALE_GIB ?? 1);

describe.skipIf(noTools)(`diffFilesystems on a ${gib} GiB ext4 of 3000 files with 1 % rewritten`, () => {
  it('reads a small fraction of the device and names every rewritten file', () => {
    const tree = tmp.path('tree');
    for (let d = 0; d < 30; d++) {
      mkdirSync(`${tree}/dir${d}`, { recursive: true });
      for (let f = 0; f < 100; f++) writeFileSync(`${tree}/dir${d}/file${f}`, `file ${d}/${f}\n`.repeat(200));
    }
    const before = tmp.path('before.img');
    mkext4(before, tree, `${gib}G`, ['-b', '4096']);
    const after = tmp.path('after.img');
    execFileSync('cp', ['--sparse=always', before, after]);
    // 30 files rewritten to 350 KiB each per GiB: about 1 % of the filesystem.
    const big = tmp.path('big.bin');
    writeFileSync(big, Buffer.alloc(350 * 1024 * gib, 0x5a));
    const edits: string[] = [];
    const want: string[] = [];
    for (let d = 0; d < 30; d++) {
      edits.push(`rm /dir${d}/file${d}`, `write ${big} /dir${d}/file${d}`);
      want.push(`C /dir${d}`, `C /dir${d}/file${d}`);
    }
    debugfs(after, edits, true);
    touch(
      after,
      Array.from({ length: 30 }, (_, d) => `/dir${d}`),
    );
    const ranges = differingRanges(before, after, 64 * 1024);
    const changed = ranges.reduce((n, r) => n + r.length, 0);
    const x = new FileSource(before, 'filesystem');
    const y = new FileSource(after, 'filesystem');
    const t0 = performance.now();
    const d = diffFilesystems(x, y, ranges);
    const ms = performance.now() - t0;
    x.close();
    y.close();
    expect(d.changes.map((c) => `${c.kind === 'changed' ? 'C' : c.kind === 'added' ? 'A' : 'D'} ${c.path}`).sort()).toEqual(want.sort());
    const size = gib * 2 ** 30;
    process.stderr.write(
      `\nfs diff scale: ${ranges.length} ranges, ${changed} bytes differ (64 KiB grain); diff read ${d.bytesRead} bytes of 2 x ${size} (${((100 * d.bytesRead) / (2 * size)).toFixed(3)} %) in ${ms.toFixed(0)} ms\n`,
    );
    expect(d.bytesRead).toBeLessThan((2 * size) / 100);
  }, 120_000);
});
