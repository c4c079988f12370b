/**
 * A stream as its parts (header, records, end), cut from the bytes of a
 * valid stream, and sealed again after a test has changed a field: every
 * part's CRC, the end record's totals and the stream checksum recomputed
 * (each optional), so that a changed field reaches the check behind the
 * CRCs. Written from docs/stream.md, not from src/stream: the tests and the
 * stream fuzzer judge dmthin's reader with it.
 */
import { crc32 as zcrc32 } from 'node:zlib';

export type PartType = 'header' | 'data' | 'zero' | 'end';
export interface Part {
  type: PartType;
  bytes: Uint8Array;
}

export const HEADER = 256;
export const D_HEAD = 13;
export const Z_LEN = 21;
export const E_LEN = 33;

const crc = (b: Uint8Array, seed = 0): number => zcrc32(b, seed) >>> 0;
const dv = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** The parts of a stream dmthin send wrote (trusted: only for valid streams). */
export function splitStream(s: Uint8Array): Part[] {
  const parts: Part[] = [{ type: 'header', bytes: s.slice(0, HEADER) }];
  const bs = dv(s).getUint32(24, true);
  let at = HEADER;
  while (at < s.length) {
    const t = s[at];
    const len = t === 0x44 ? D_HEAD + dv(s).getUint32(at + 9, true) * bs + 4 : t === 0x5a ? Z_LEN : E_LEN;
    parts.push({ type: t === 0x44 ? 'data' : t === 0x5a ? 'zero' : 'end', bytes: s.slice(at, at + len) });
    at += len;
  }
  return parts;
}

export interface SealOptions {
  /** Recompute each part's own CRC (default true). */
  crcs?: boolean;
  /** Recompute the end record's totals from the records (default true). */
  totals?: boolean;
  /** Recompute the stream checksum in the end record (default true). */
  checksum?: boolean;
}

/** The parts as one stream, sealed as `o` says. */
export function seal(parts: readonly Part[], o: SealOptions = {}): Uint8Array {
  const { crcs = true, totals = true, checksum = true } = o;
  let sum = 0;
  let data = 0n;
  let zero = 0n;
  let records = 0n;
  const out: Uint8Array[] = [];
  for (const p of parts) {
    const b = p.bytes.slice();
    const v = dv(b);
    if (p.type === 'end' && b.length === E_LEN) {
      if (totals) {
        v.setBigUint64(1, data, true);
        v.setBigUint64(9, zero, true);
        v.setBigUint64(17, records, true);
      }
      if (checksum) v.setUint32(25, sum, true);
    }
    const crcAt = p.type === 'header' ? Math.min(252, b.length - 4) : b.length - 4;
    if (crcs && crcAt > 0) v.setUint32(crcAt, crc(b.subarray(0, crcAt)), true);
    if (crcAt >= 0 && b.length >= crcAt + 4) {
      const c = new Uint8Array(4);
      c.set(b.subarray(crcAt, crcAt + 4));
      sum = crc(c, sum);
    }
    if (p.type === 'data' && b.length >= D_HEAD) {
      data += BigInt(v.getUint32(9, true));
      records++;
    } else if (p.type === 'zero' && b.length >= 17) {
      zero += v.getBigUint64(9, true);
      records++;
    }
    out.push(b);
  }
  return Buffer.concat(out);
}

/** A copy of `b` with a u32 or u64 little-endian field at `at` set. */
export function withField(b: Uint8Array, at: number, size: 4 | 8, value: bigint): Uint8Array {
  const c = b.slice();
  if (size === 4) dv(c).setUint32(at, Number(value & 0xffffffffn), true);
  else dv(c).setBigUint64(at, value & 0xffffffffffffffffn, true);
  return c;
}
