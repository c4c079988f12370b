import { afterAll, describe, expect, it } from 'vitest';
import { detectFilesystem, describeFilesystem } from '../../src/fs/detect.js';
import { FileSource } from '../../src/io/byte-source.js';
import { emptyFile, scratch, skipReason } from '../support/env.js';
import { mke2fs, mkext4 } from './images.js';

const tmp = scratch('dmthin-fs-detect-');
afterAll(() => tmp.cleanup());
const noTools = skipReason(mke2fs !== undefined, 'e2fsprogs (mke2fs) not installed: ext detection tests need it');

describe.skipIf(noTools)('detectFilesystem', () => {
  for (const [type, opts] of [
    ['ext2', ['-t', 'ext2']],
    ['ext3', ['-t', 'ext3']],
    ['ext4', []],
  ] as const) {
    it(`names an image made by mke2fs ${opts.join(' ') || '-t ext4'} as ${type}`, () => {
      const img = tmp.path(`${type}.img`);
      mkext4(img, undefined, '8M', [...opts]);
      const src = new FileSource(img, 'filesystem');
      try {
        expect(detectFilesystem(src)?.type).toBe(type);
        expect(describeFilesystem(src)).toContain(`${type}, 1024-byte blocks, 8192 blocks`);
      } finally {
        src.close();
      }
    });
  }
});

describe('detectFilesystem without a filesystem', () => {
  it('says in one line that a zeroed device holds no known filesystem', () => {
    const src = new FileSource(emptyFile(tmp.path('zero.img'), 1 << 20), 'filesystem');
    try {
      expect(detectFilesystem(src)).toBeUndefined();
      expect(describeFilesystem(src)).toMatch(/^[^\n]*zero\.img: no ext2\/3\/4 or XFS filesystem/);
    } finally {
      src.close();
    }
  });
});
