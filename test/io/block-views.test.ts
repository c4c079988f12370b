/**
 * Block views are borrowed from the reader's chunk cache. A view handed out
 * must not change while its holder still uses it, however many other blocks
 * are read meanwhile: the bug this guards against drew a pool whose every
 * data block is in use as 60 % free (a data space map index leaf read while
 * its bitmaps, far apart, evicted and recycled the leaf's buffer).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { openSync, writeSync, closeSync, writeFileSync } from 'node:fs';
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
import { emptyFile, scratch } from '../support/env.js';
import { readBlock, writeBlock } from '../support/damage.js';

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
});
