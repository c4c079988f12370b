/** Shared set-up for the peer suite: small pools made with dmthin restore, damage helpers. */
import { copyFileSync, mkdirSync } from 'node:fs';
import { writePoolXml } from '../bench/pool-generator.js';
import { bitmapEntry, setBitmapEntry } from '../../src/format/bitmap.js';
import { getU64 } from '../../src/format/le.js';
import { parseSuperblock } from '../../src/format/superblock.js';
import { restore } from '../../src/thin/restore/restore.js';
import { patchBlock, readBlock } from '../support/damage.js';
import { emptyFile } from '../support/env.js';

export function makePool(dir: string, name = 'pool'): { xml: string; meta: string } {
  mkdirSync(dir, { recursive: true });
  const xml = `${dir}/${name}.xml`;
  writePoolXml(xml, { seed: 41, origins: 1, snapshotsPerOrigin: 2, mappingsPerOrigin: 3000, rewriteShare: 0.3, runLength: 5 });
  const meta = emptyFile(`${dir}/${name}.meta`, 4 << 20);
  restore(xml, meta);
  return { xml, meta };
}

export function copyOf(src: string, dst: string): string {
  copyFileSync(src, dst);
  return dst;
}

/** Marks `n` free metadata blocks as used (a metadata leak). */
export function leakMetadata(path: string, n: number): void {
  const sb = parseSuperblock(readBlock(path, 0));
  const bm = getU64(readBlock(path, sb.metadataSpaceMapRoot.bitmapRoot), 16);
  patchBlock(
    path,
    bm,
    (d) => {
      let left = n;
      for (let i = Math.min(sb.metadataSpaceMapRoot.nrBlocks, 16320) - 1; i > 0 && left > 0; i--) {
        if (bitmapEntry(d, i) === 0) {
          setBitmapEntry(d, i, 1);
          left--;
        }
      }
    },
    'bitmap',
  );
}

/** Raises a used metadata block's count on disk (an unexpected ref count: fatal). */
export function overcountMetadata(path: string): void {
  const sb = parseSuperblock(readBlock(path, 0));
  const bm = getU64(readBlock(path, sb.metadataSpaceMapRoot.bitmapRoot), 16);
  patchBlock(path, bm, (d) => setBitmapEntry(d, 1, 2), 'bitmap');
}

export function setNeedsCheck(path: string): void {
  patchBlock(path, 0, (_b, dv) => dv.setUint32(4, dv.getUint32(4, true) | 1, true), 'superblock');
}

export function corruptSuperblock(path: string): void {
  patchBlock(path, 0, (b) => (b[120] ^= 0xff));
}
