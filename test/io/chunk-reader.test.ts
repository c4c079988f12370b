/**
 * ChunkReader hands out views into buffers it reads ahead into: a view must
 * keep its bytes until the next take(), and while work held on it runs.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { ChunkReader, MAX_TAKE } from '../../src/io/chunk-reader.js';
import { scratch } from '../support/env.js';

const tmp = scratch();
afterAll(() => tmp.cleanup());

describe('ChunkReader', () => {
  it('gives every byte once, in order, across chunk boundaries, and says where the file ends', async () => {
    const file = tmp.path('bytes');
    const bytes = randomBytes(19 * (1 << 20) + 321);
    writeFileSync(file, bytes);
    const r = new ChunkReader(file);
    let at = 0;
    for (const n of [1, 256, (1 << 20) + 13, 4 << 20, 3, (4 << 20) - 7, MAX_TAKE]) {
      const parts = await r.take(n);
      for (const p of parts) {
        expect(Buffer.compare(Buffer.from(p), bytes.subarray(at, at + p.length)), `at ${at}`).toBe(0);
        at += p.length;
      }
    }
    while (!(await r.atEnd())) {
      const parts = await r.take(1 << 20);
      for (const p of parts) {
        expect(Buffer.compare(Buffer.from(p), bytes.subarray(at, at + p.length))).toBe(0);
        at += p.length;
      }
    }
    expect(at).toBe(bytes.length);
    expect(await r.take(10)).toEqual([]);
    await expect(r.take(MAX_TAKE + 1)).rejects.toThrow(/at most/);
    await r.close();
  });

  it('keeps a held view intact while later chunks are read, until its work is done', async () => {
    const file = tmp.path('held');
    const bytes = randomBytes(12 * (8 << 20) + (2 << 20));
    writeFileSync(file, bytes);
    const r = new ChunkReader(file);
    const first = await r.take(1 << 20);
    const copy = Buffer.from(first[0]);
    let release: () => void = () => {}; // the promise below sets it at once
    r.hold(first, new Promise<void>((res) => (release = res)));
    // Read on through every buffer the reader has: the held one must not be refilled until released.
    let got = 0;
    const more = (async () => {
      for (let i = 0; i < 12; i++) got += (await r.take(MAX_TAKE)).reduce((s, p) => s + p.length, 0);
    })();
    await new Promise((res) => setTimeout(res, 100));
    expect(Buffer.compare(Buffer.from(first[0]), copy)).toBe(0);
    expect(got).toBeLessThan(12 * MAX_TAKE); // waiting on the held buffer
    release();
    await more;
    expect(got).toBe(12 * MAX_TAKE);
    await r.close();
  });
});
