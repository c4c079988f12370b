/**
 * Block views are borrowed from the reader's chunk cache. A view handed out
 * must not change while its holder still uses it, however many other blocks
 * are read meanwhile: the bug this guards against drew a pool whose every
 * data block is in use as 60 % free (a data space map index leaf read while
 * its bitmaps, far apart, evicted and recycled the leaf's buffer).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { closeSync, copyFileSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Output } from '../../src/io/output.js';
import { forEachLeaf } from '../../src/pdata/btree/traversal.js';
import { SpaceMapLookup } from '../../src/pdata/space-map/lookup.js';
import { check } from '../../src/thin/check/check.js';
import { dumpToOutput } from '../../src/thin/dump/dump-format.js';
import { XmlWriter } from '../../src/thin/dump/xml-writer.js';
import { delta } from '../../src/thin/delta/delta.js';
import { SimpleDeltaWriter } from '../../src/thin/delta/delta-writers.js';
import { deltaSummary } from '../../src/thin/delta/delta-summary.js';
import { lsRows } from '../../src/thin/insight/ls.js';
import { rmap, writeRmap } from '../../src/thin/insight/rmap.js';
import { emitSalvage, withSalvage } from '../../src/thin/repair/repair.js';
import { BlockReader } from '../../src/io/block-reader.js';
import { BLOCK_SIZE } from '../../src/format/checksum.js';
import { ENTRIES_PER_BITMAP, newBitmap, sealBitmap, setBitmapEntry } from '../../src/format/bitmap.js';
import { parseNodeHeader, sealNode, valueOffset } from '../../src/format/btree-node.js';
import { INDEX_ENTRY_SIZE, parseIndexEntry, writeIndexEntry } from '../../src/format/index-entry.js';
import { parseSuperblock } from '../../src/format/superblock.js';
import { restore } from '../../src/thin/restore/restore.js';
import { collectReport } from '../../src/thin/insight/report.js';
import { freeDataRuns } from '../../src/thin/free-runs.js';
import { Metadata } from '../../src/thin/metadata.js';
import { emptyFile, projectRoot, scratch, xzDecompress } from '../support/env.js';
import { readBlock, writeBlock } from '../support/damage.js';
import { must } from '../../src/errors.js';

const tmp = scratch();
afterAll(() => tmp.cleanup());

describe('block views', () => {
  it('a view keeps its bytes while far more blocks than the cache holds are read', () => {
    const path = tmp.path('blocks');
    const fd = openSync(path, 'w');
    const b = new Uint8Array(BLOCK_SIZE);
    for (let i = 0; i < 4096; i++) {
      b.fill(i & 0xff);
      b[0] = i >> 8;
      writeSync(fd, b, 0, BLOCK_SIZE, i * BLOCK_SIZE);
    }
    closeSync(fd);
    const r = new BlockReader(path, { chunkBlocks: 4, maxChunks: 2 });
    try {
      const held = [r.read(1), r.read(9), r.read(17)];
      for (let i = 0; i < 4096; i += 3) r.read(i); // evicts every chunk many times over
      expect(held.map((v) => [v[0], v[1], v[4095]])).toEqual([
        [0, 1, 1],
        [0, 9, 9],
        [0, 17, 17],
      ]);
    } finally {
      r.close();
    }
  });

  it('report and trim see every data block used when the space map says so, its bitmaps far apart', () => {
    // 40 bitmaps' worth of data blocks, none mapped, every one counted used by the space map.
    const nrData = 40 * ENTRIES_PER_BITMAP;
    const xml = tmp.path('empty.xml');
    writeFileSync(
      xml,
      `<superblock uuid="" time="0" transaction="1" flags="0" version="2" data_block_size="128" nr_data_blocks="${nrData}">\n  <device dev_id="0" mapped_blocks="0" transaction="0" creation_time="0" snap_time="0">\n  </device>\n</superblock>\n`,
    );
    const meta = emptyFile(tmp.path('far.meta'), 8192 * BLOCK_SIZE);
    restore(xml, meta);
    const sb = parseSuperblock(readBlock(meta, 0));
    const leafAt = sb.dataSpaceMapRoot.bitmapRoot;
    const leaf = readBlock(meta, leafAt);
    const h = parseNodeHeader(leaf);
    expect(h.nrEntries).toBe(40);
    for (let i = 0; i < h.nrEntries; i++) {
      // Each bitmap moved to its own 256 KiB region, far from the index leaf.
      const at = 4096 + 64 * i;
      const bm = newBitmap(at);
      for (let e = 0; e < ENTRIES_PER_BITMAP; e++) setBitmapEntry(bm, e, 1);
      sealBitmap(bm);
      writeBlock(meta, at, bm);
      const off = valueOffset(h.maxEntries, INDEX_ENTRY_SIZE, i);
      expect(parseIndexEntry(leaf, off).nrFree).toBe(ENTRIES_PER_BITMAP);
      writeIndexEntry({ blocknr: at, nrFree: 0, noneFreeBefore: ENTRIES_PER_BITMAP }, leaf, off);
    }
    sealNode(leaf);
    writeBlock(meta, leafAt, leaf);

    const r = collectReport(meta);
    const free = r.cells.reduce((a, c) => a + c[0], 0);
    const used = r.cells.reduce((a, c) => a + c[1] + c[2], 0);
    expect([free, used]).toEqual([0, nrData]);
    const md = Metadata.open(meta);
    try {
      expect(freeDataRuns(md).n).toBe(0);
    } finally {
      md.close();
    }
  });

  it('every reader gives the same answers when each read evicts the block before it', () => {
    const meta = tmp.path('generations.meta');
    xzDecompress(join(projectRoot, 'fixtures', 'generations.meta.xz'), meta);
    // A copy with one live mapping leaf lost, so that repair reads older copies too.
    const damaged = tmp.path('generations-damaged.meta');
    copyFileSync(meta, damaged);
    const md0 = Metadata.open(meta);
    const devs = md0.devices();
    const leaves: number[] = [];
    forEachLeaf(md0.reader, must(devs[0].mappingRoot, "the first device's mapping root"), 8, { kind: 'mappings', devId: devs[0].devId }, (n) =>
      leaves.push(n.location),
    );
    md0.close();
    writeBlock(damaged, leaves[0], new Uint8Array(BLOCK_SIZE));

    const text = (fill: (out: Output) => void): string => {
      const path = tmp.path('out.txt');
      const out = Output.toFile(path);
      fill(out);
      out.close();
      return readFileSync(path, 'utf8');
    };
    const answers = (): unknown => {
      const md = Metadata.open(meta);
      try {
        const [a, b] = [devs[0].devId, devs[1].devId];
        const lookup = new SpaceMapLookup(md.reader, md.superblock.dataSpaceMapRoot);
        const counts: Array<number | undefined> = [];
        for (let blk = 0; blk < md.superblock.dataSpaceMapRoot.nrBlocks; blk++) counts.push(lookup.get(blk));
        const report = collectReport(meta);
        return {
          check: check(meta),
          checkDamaged: check(damaged),
          dump: text((out) => dumpToOutput(md, out, 'xml')),
          ls: lsRows(md),
          delta: text((out) => delta(md, a, b, new SimpleDeltaWriter(out))),
          summary: deltaSummary(md, a, b),
          rmap: text((out) => writeRmap(rmap(md, [{ begin: 0, end: md.superblock.dataSpaceMapRoot.nrBlocks }]), out)),
          report: { ...report, generated: '' },
          free: freeDataRuns(md),
          counts,
          repair: withSalvage(damaged, {}, (s) => text((out) => emitSalvage(s, new XmlWriter(out)))),
        };
      } finally {
        md.close();
      }
    };
    const normal = answers();
    const saved = BlockReader.defaults;
    BlockReader.defaults = { chunkBlocks: 1, maxChunks: 1 };
    let tiny: unknown;
    try {
      tiny = answers();
    } finally {
      BlockReader.defaults = saved;
    }
    const [t, o] = [tiny as Record<string, unknown>, normal as Record<string, unknown>];
    for (const k of Object.keys(o)) expect(t[k], k).toEqual(o[k]);
    // The answers are real ones: the damage is found and repaired around.
    const n = normal as { checkDamaged: { ok: boolean }; repair: string; dump: string };
    expect(n.checkDamaged.ok).toBe(false);
    expect(n.repair).toMatch(/<superblock/);
    expect(n.dump.split('\n').length).toBeGreaterThan(100);
  });
});
