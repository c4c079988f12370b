import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Output, ascii } from '../../src/io/output.js';
import { withOutput } from '../../src/io/output-file.js';

const dir = mkdtempSync(join(tmpdir(), 'dmthin-output-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What `fill` writes through an Output of `size` bytes of buffer. */
function written(fill: (out: Output) => void, size?: number): string {
  const path = join(dir, 'out.txt');
  const out = new Output(openSync(path, 'w'), true, size);
  fill(out);
  out.close();
  return readFileSync(path, 'latin1');
}

describe('Output', () => {
  it('writes every digit count and the 2^31 and 2^53 boundaries as String() does', () => {
    const values: number[] = [];
    for (let p = 1; p <= 1e15; p *= 10) values.push(p - 1, p, p + 1, 2 * p - 1, 5 * p + 7);
    values.push(0x7fffffff, 0x80000000, 0x80000001, 0xffffffff, 2 ** 32, Number.MAX_SAFE_INTEGER, 2 ** 53 - 2);
    // Pseudo-random values of every magnitude: the pair table's both digits in every position.
    let x = 12345;
    for (let i = 0; i < 5000; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      values.push(Math.floor((x / 2 ** 32) * 10 ** (i % 16)));
      values.push(x * 2 ** 21 + i);
    }
    const expected = values.map(String).join(',');
    const text = written((out) => {
      values.forEach((v, i) => {
        if (i > 0) out.raw(ascii(','));
        out.num(v);
      });
    });
    expect(text).toBe(expected);
  });

  it('flushes when the buffer fills, numbers and text straddling every position', () => {
    let expected = '';
    const text = written((out) => {
      for (let i = 0; i < 20000; i++) {
        const n = i * 7919 * (i % 3 === 0 ? 2 ** 20 : 1);
        out.num(n).text(i % 5 === 0 ? ' mapped ' : ' ');
        expected += `${n}${i % 5 === 0 ? ' mapped ' : ' '}`;
      }
    }, 64);
    expect(text).toBe(expected);
  });
});

describe('withOutput: a failed write names the output', () => {
  const enospc = (): never => {
    throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
  };

  it('a file written beside its name: the name is given and said to be untouched', () => {
    const path = join(dir, 'kept.img');
    writeFileSync(path, 'old bytes');
    expect(() => withOutput(path, { what: 'image' }, enospc)).toThrow(`cannot write image to ${path}: no space left on the device; ${path} was left as it was`);
    expect(readFileSync(path, 'utf8')).toBe('old bytes');
  });

  it('a new file: said not to have been made, nothing left under its name', () => {
    const path = join(dir, 'new.img');
    expect(() => withOutput(path, { what: 'image' }, enospc)).toThrow(`cannot write image to ${path}: no space left on the device; no ${path} was made`);
    expect(existsSync(path)).toBe(false);
  });

  it('a device written as it goes: the device is named, with nothing claimed about it', () => {
    // /dev/full answers every write with ENOSPC, as a full disk does.
    expect(() => withOutput('/dev/full', { what: 'dump' }, (out) => writeFileSync(out.fd, 'x'))).toThrow(
      /^cannot write dump to \/dev\/full: no space left on the device$/,
    );
  });

  it('other errors pass through as they are', () => {
    expect(() =>
      withOutput(join(dir, 'other.img'), {}, () => {
        throw new RangeError('a bug');
      }),
    ).toThrow(RangeError);
  });
});
