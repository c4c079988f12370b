/**
 * `dmthin metadata resize` (thin/resize/resize-metadata.ts): kernel-made
 * metadata put into a larger and a smaller device. The truth is
 * thin-provisioning-tools': both thin_checks accept the new metadata, and
 * thin_dump of it prints exactly what thin_dump of the original prints
 * (its XML holds no metadata size). Refusals leave the output's bytes as
 * they were.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BLOCK_SIZE } from '../../src/format/checksum.js';
import { parseSuperblock, writeSuperblock } from '../../src/format/superblock.js';
import { Metadata } from '../../src/thin/metadata.js';
import { filesSource } from '../../src/thin/pool-source.js';
import { resizeMetadata, smallestNrBlocks } from '../../src/thin/resize/resize-metadata.js';
import { emptyFile, oracle, projectRoot, scratch, skipReason, tpt09, tpt11, xzDecompress } from '../support/env.js';
import { unpackKernelFixture } from '../support/fixtures.js';
import { dmthin } from '../support/cli.js';

const tmp = scratch();
afterAll(() => tmp.cleanup());
const haveTools = !skipReason(tpt09 !== undefined && tpt11 !== undefined, 'thin-provisioning-tools 0.9 and 1.1 not both installed');

function fixture(name: string): string {
  const out = tmp.path(`${name}.meta`);
  xzDecompress(join(projectRoot, 'fixtures', `${name}.meta.xz`), out);
  return out;
}

let outputs = 0;
const output = (bytes: number): string => emptyFile(tmp.path(`new-${outputs++}.meta`), bytes);

function expectSameToTools(input: string, resized: string): void {
  for (const v of ['0.9', '1.1'] as const) {
    const c = oracle(v, 'thin_check', [resized]);
    expect(c.code, `thin_check ${v}: ${c.stderr}`).toBe(0);
    expect(oracle(v, 'thin_dump', [resized]).stdout).toBe(oracle(v, 'thin_dump', [input]).stdout);
  }
}

describe('metadata resize puts the same metadata into another size', () => {
  it.skipIf(!haveTools)('many thins (8 MiB) into 64 MiB and into 1 MiB: both thin_checks pass, thin_dump prints the same', () => {
    const input = fixture('many-thins');
    for (const bytes of [64 << 20, 1 << 20]) {
      const out = output(bytes);
      const r = resizeMetadata(filesSource(input), out);
      expect(r).toMatchObject({ fromNrBlocks: (8 << 20) / BLOCK_SIZE, metadataNrBlocks: bytes / BLOCK_SIZE, nrDevices: 17 });
      expect(parseSuperblock(readFileSync(out).subarray(0, BLOCK_SIZE)).metadataNrBlocks).toBe(bytes / BLOCK_SIZE);
      expectSameToTools(input, out);
    }
  });

  it.skipIf(!haveTools)('a pool with snapshots and many generations (transaction 61) keeps every field', () => {
    const input = fixture('generations');
    const out = output(3 << 20);
    resizeMetadata(filesSource(input), out);
    expectSameToTools(input, out);
  });

  it('the smallest size it names is the smallest that holds the metadata: one block less is refused', () => {
    const input = fixture('recovery-a');
    const md = Metadata.open(input);
    const least = (() => {
      try {
        return smallestNrBlocks(md);
      } finally {
        md.close();
      }
    })();
    const exact = output(least * BLOCK_SIZE);
    expect(resizeMetadata(filesSource(input), exact, { forgetDeleted: true }).metadataNrBlocks).toBe(least);
    if (haveTools) expectSameToTools(input, exact);
    const short = output((least - 1) * BLOCK_SIZE);
    expect(() => resizeMetadata(filesSource(input), short, { forgetDeleted: true })).toThrow(
      new RegExp(`holds ${least - 1} metadata blocks .*needs at least ${least} \\(${least * BLOCK_SIZE} bytes\\): nothing written`),
    );
    expect(readFileSync(short).every((b) => b === 0)).toBe(true);
  });
});

describe('refusals leave the output as it was', () => {
  const untouched = (out: string, f: () => unknown, message: RegExp): void => {
    const before = readFileSync(out);
    expect(f).toThrow(message);
    expect(readFileSync(out).equals(before)).toBe(true);
  };

  it('a held metadata snapshot', () => {
    const input = unpackKernelFixture(tmp.dir);
    const out = output(16 << 20);
    untouched(out, () => resizeMetadata(filesSource(input), out), /holds a metadata snapshot \(block \d+\).*release_metadata_snap/);
  });

  it("a file that is not pool metadata (a pool's data given as -i) is named as such, not sent to the doctor", () => {
    const input = tmp.path('not-metadata.bin');
    writeFileSync(input, Buffer.alloc(1 << 20, 0x5a));
    const out = output(16 << 20);
    untouched(
      out,
      () => resizeMetadata(filesSource(input), out),
      /not-metadata\.bin is not pool metadata: block 0 holds no thin superblock \(magic 27022010\)/,
    );
  });

  it('deleted devices that can still be brought back (a copy cannot hold them): named, and written only with forgetDeleted', () => {
    const input = fixture('recovery-a');
    const out = output(16 << 20);
    untouched(
      out,
      () => resizeMetadata(filesSource(input), out),
      /deleted thin devices? can still be brought back: thin \d+, \d+ blocks.*a resized copy holds only the live devices.*--forget-deleted/,
    );
    expect(resizeMetadata(filesSource(input), out, { forgetDeleted: true }).metadataNrBlocks).toBe((16 << 20) / BLOCK_SIZE);
  });

  it('metadata check finds errors in, and metadata marked needs_check', () => {
    const input = fixture('recovery-a');
    const md = Metadata.open(input);
    const sb = md.superblock;
    md.close();
    // A mapping tree's root zeroed: check fails.
    const broken = tmp.path('broken.meta');
    const bytes = readFileSync(input);
    bytes.fill(0, sb.mappingRoot * BLOCK_SIZE, (sb.mappingRoot + 1) * BLOCK_SIZE);
    writeFileSync(broken, bytes);
    const out = output(4 << 20);
    untouched(out, () => resizeMetadata(filesSource(broken), out), /has errors .*run dmthin doctor --metadata/);
    // The kernel's needs_check flag set, the metadata otherwise whole.
    const flagged = tmp.path('flagged.meta');
    const copy = readFileSync(input);
    copy.set(writeSuperblock({ ...sb, flags: sb.flags | 1 }), 0);
    writeFileSync(flagged, copy);
    untouched(out, () => resizeMetadata(filesSource(flagged), out), /is marked needs_check: the kernel found a fault/);
  });

  it("an output that already holds something (another pool's metadata, a pool's data file): never written over", () => {
    const other = output(4 << 20);
    writeFileSync(other, readFileSync(fixture('recovery-c')));
    untouched(
      other,
      () => resizeMetadata(filesSource(fixture('recovery-a')), other),
      /holds pool metadata \(a thin superblock at block 0: a pool's, or an earlier resize's\)/,
    );
    const data = tmp.path('looks-like-data.bin');
    writeFileSync(data, Buffer.alloc(4 << 20, 0x5a));
    untouched(data, () => resizeMetadata(filesSource(fixture('recovery-a')), data), /is not empty/);
  });

  it('an output that is the input', () => {
    const input = fixture('recovery-a');
    untouched(input, () => resizeMetadata(filesSource(input), input), /is an input|same file/);
  });
});

describe('dmthin metadata resize on the command line', () => {
  it('exits 0 having written, 1 with one line when the output is too small, 2 when the output is the input', () => {
    const input = fixture('recovery-a');
    const out = output(2 << 20);
    const ok = dmthin('metadata', 'resize', '-i', input, '-o', out, '--json', '--forget-deleted');
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ metadata_nr_blocks: 512, from_nr_blocks: 1024 });
    const small = dmthin('metadata', 'resize', '-i', input, '-o', output(BLOCK_SIZE * 4), '--forget-deleted');
    expect(small.code).toBe(1);
    expect(small.stderr.trim().split('\n')).toHaveLength(1);
    expect(small.stderr).toMatch(/needs at least \d+ \(\d+ bytes\): nothing written/);
    expect(dmthin('metadata', 'resize', '-i', input, '-o', input).code).toBe(2);
  });
});
