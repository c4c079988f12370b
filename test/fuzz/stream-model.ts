/**
 * What a stream means, decided without dmthin's reader, for the stream
 * fuzzer: docs/stream.md's rules, each field checked, and the bytes a
 * target holds once the stream is applied. Small streams only (the fuzzer's
 * are a few MiB): it holds the stream in memory.
 */
import { crc32 as zcrc32 } from 'node:zlib';

/** A data record carries its bytes; a zero record none. */
export type ModelRecord = { type: 'data'; first: number; count: number; data: Uint8Array } | { type: 'zero'; first: number; count: number; data?: undefined };
type DataRecord = Extract<ModelRecord, { type: 'data' }>;

export interface ModelStream {
  incremental: boolean;
  blockSize: number;
  virtualSize: number;
  identity: string;
  baseIdentity: string;
  records: ModelRecord[];
}

export type Verdict = { ok: true; stream: ModelStream } | { ok: false; why: string };

const crc = (b: Uint8Array, seed = 0): number => zcrc32(b, seed) >>> 0;
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const MAX_RECORD = 1 << 20;

export function judgeStream(s: Uint8Array): Verdict {
  const v = new DataView(s.buffer, s.byteOffset, s.byteLength);
  const no = (why: string): Verdict => ({ ok: false, why });
  if (s.length < 256) return no('short header');
  if (Buffer.from(s.subarray(0, 16)).toString('latin1') !== 'dmthin-stream\0\0\0') return no('magic');
  if (v.getUint32(252, true) !== crc(s.subarray(0, 252))) return no('header crc');
  if (v.getUint32(16, true) !== 1) return no('version');
  const flags = v.getUint32(20, true);
  if (flags > 1) return no('flags');
  const bs = v.getUint32(24, true);
  if (bs < 65536 || bs > 1 << 30 || bs % 65536 !== 0) return no('block size');
  if (v.getUint32(28, true) !== 0) return no('reserved 28');
  const size = v.getBigUint64(32, true);
  if (size > BigInt(Number.MAX_SAFE_INTEGER) || size % BigInt(bs) !== 0n) return no('virtual size');
  const incremental = flags === 1;
  const baseId = v.getUint32(76, true);
  const baseIdentity = s.subarray(112, 144);
  const zeroBase = baseIdentity.every((x) => x === 0);
  if (incremental && (baseId === 0xffffffff || zeroBase)) return no('base of an incremental');
  if (!incremental && (baseId !== 0xffffffff || !zeroBase)) return no('base of a full');
  if (s.subarray(144, 252).some((x) => x !== 0)) return no('reserved 144');
  const maxBlock = size / BigInt(bs);
  let sum = crc(s.subarray(252, 256));
  let at = 256;
  let next = 0n;
  let data = 0n;
  let zero = 0n;
  const records: ModelRecord[] = [];
  for (;;) {
    if (at >= s.length) return no('truncated before a record');
    const t = s[at];
    if (t === 0x45) {
      if (at + 33 > s.length) return no('truncated end');
      if (v.getUint32(at + 29, true) !== crc(s.subarray(at, at + 29))) return no('end crc');
      if (v.getBigUint64(at + 1, true) !== data || v.getBigUint64(at + 9, true) !== zero || v.getBigUint64(at + 17, true) !== BigInt(records.length))
        return no('totals');
      if (v.getUint32(at + 25, true) !== sum) return no('stream checksum');
      if (at + 33 !== s.length) return no('bytes after the end');
      return {
        ok: true,
        stream: { incremental, blockSize: bs, virtualSize: Number(size), identity: hex(s.subarray(80, 112)), baseIdentity: hex(baseIdentity), records },
      };
    }
    if (t === 0x44) {
      if (at + 13 > s.length) return no('truncated data head');
      const first = v.getBigUint64(at + 1, true);
      const count = BigInt(v.getUint32(at + 9, true));
      if (count === 0n || count * BigInt(bs) > BigInt(Math.max(MAX_RECORD, bs))) return no('data count');
      if (first < next || first + count > maxBlock) return no('data placement');
      const len = Number(count) * bs;
      if (at + 13 + len + 4 > s.length) return no('truncated data');
      const stored = v.getUint32(at + 13 + len, true);
      if (stored !== crc(s.subarray(at, at + 13 + len))) return no('data crc');
      sum = crc(s.subarray(at + 13 + len, at + 17 + len), sum);
      records.push({ type: 'data', first: Number(first), count: Number(count), data: s.subarray(at + 13, at + 13 + len) });
      data += count;
      next = first + count;
      at += 17 + len;
    } else if (t === 0x5a) {
      if (at + 21 > s.length) return no('truncated discard');
      if (v.getUint32(at + 17, true) !== crc(s.subarray(at, at + 17))) return no('discard crc');
      if (!incremental) return no('discard in a full stream');
      const first = v.getBigUint64(at + 1, true);
      const count = v.getBigUint64(at + 9, true);
      if (count === 0n || first < next || first + count > maxBlock) return no('discard placement');
      sum = crc(s.subarray(at + 17, at + 21), sum);
      records.push({ type: 'zero', first: Number(first), count: Number(count) });
      zero += count;
      next = first + count;
      at += 21;
    } else return no('record type');
  }
}

/** The target's expected bytes within [0, window) (the rest reads as zeros, or as a data record says: `outside`). */
export function expectedBytes(m: ModelStream, base: Uint8Array | undefined, window: number): { head: Uint8Array; outside: DataRecord[] } {
  const n = Math.min(window, m.virtualSize);
  const head = new Uint8Array(n);
  if (base && m.incremental) head.set(base.subarray(0, Math.min(n, base.length)));
  const outside: DataRecord[] = [];
  for (const r of m.records) {
    const off = r.first * m.blockSize;
    const len = r.count * m.blockSize;
    if (off >= n) {
      if (r.type === 'data') outside.push(r);
      continue;
    }
    if (r.type === 'data') head.set(r.data.subarray(0, Math.min(len, n - off)), off);
    else head.fill(0, off, Math.min(off + len, n));
    if (off + len > n && r.type === 'data') outside.push(r);
  }
  return { head, outside };
}
