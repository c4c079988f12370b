/** isZero: the test sparse writers use to skip a chunk; a wrong "true" would drop data. */
import { describe, expect, it } from 'vitest';
import { isZero } from '../../src/io/full-io.js';

describe('isZero', () => {
  it('is true only when every one of the first len bytes is zero, past a MiB and at odd lengths', () => {
    const b = new Uint8Array(3 * (1 << 20) + 5);
    expect(isZero(b, b.length)).toBe(true);
    for (const at of [0, 7, (1 << 20) - 1, 1 << 20, 2 * (1 << 20) + 3, b.length - 1]) {
      b[at] = 1;
      expect(isZero(b, b.length), `byte ${at}`).toBe(false);
      expect(isZero(b, at)).toBe(true); // only bytes before it
      b[at] = 0;
    }
    expect(isZero(b.subarray(3), 17)).toBe(true);
  });
});
