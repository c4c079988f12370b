/**
 * The one reader of a stream's records: walks it from the header to the
 * end record, checking every field before it is used (a count before the
 * bytes it counts are read, a block number against the header's virtual
 * size), every CRC, the end record's totals and the stream checksum. The
 * verifying walk and the applying walk are the same walk, the second with
 * `apply`. Every refusal is a StreamError naming the byte offset, the
 * record (numbered from 1 after the header), the field and what was
 * expected. Memory is the reader's buffers, whatever the stream claims.
 */
import { ChunkReader, MAX_TAKE } from '../io/chunk-reader.js';
import { StreamError } from './errors.js';
import {
  CRC_SIZE,
  D_HEAD,
  E_SIZE,
  HEADER_SIZE,
  MAGIC,
  MAX_RECORD_BYTES,
  NOT_A_STREAM,
  RECORD,
  type StreamHeader,
  Z_SIZE,
  chain,
  crc32,
  parseDataHead,
  parseEndRecord,
  parseHeader,
  parseZeroRecord,
  storedCrc,
} from './format.js';
import type { StreamSource } from './staged-stdin.js';

/** Bytes of `parts` (views from a take) as one array: small fixed-size fields only. */
function joined(parts: readonly Uint8Array[], n: number): Uint8Array {
  if (parts.length === 1) return parts[0];
  const b = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    b.set(p, at);
    at += p.length;
  }
  return b;
}

/** `parts` cut at byte `at`: the views before it, and the bytes after it (a few) as one array. */
function split(parts: readonly Uint8Array[], at: number): [Uint8Array[], Uint8Array] {
  const before: Uint8Array[] = [];
  const after: Uint8Array[] = [];
  let pos = 0;
  for (const p of parts) {
    if (pos + p.length <= at) before.push(p);
    else if (pos >= at) after.push(p);
    else {
      before.push(p.subarray(0, at - pos));
      after.push(p.subarray(at - pos));
    }
    pos += p.length;
  }
  return [before, joined(after, pos - at)];
}

/** A record to apply: blocks first..first+count-1; for data, `parts` are its bytes from byte `offset` of the record on (a large record comes in several calls). */
export type Apply = (kind: 'data' | 'zero', first: number, count: number, parts?: readonly Uint8Array[], offset?: number) => Promise<unknown> | undefined;

export interface Walked {
  header: StreamHeader;
  dataBlocks: number;
  zeroBlocks: number;
  records: number;
  /** The stream's length in bytes. */
  bytes: number;
}

/**
 * Walks the whole stream from `source` (a path, or standard input being
 * staged), calling `apply` for each record when given. A data record's
 * bytes come as views into the reader's buffers; the promise `apply`
 * returns (its writes) keeps those buffers from being refilled until it
 * settles. `afterHeader` sees the header before any record is read.
 */
export async function walk(source: string | StreamSource, name: string, apply?: Apply, afterHeader?: (h: StreamHeader) => void): Promise<Walked> {
  const r: StreamSource = typeof source === 'string' ? new ChunkReader(source) : source;
  /** The part being read, for a stream that ends inside it. */
  let part = 'the header';
  const take = async (n: number): Promise<Uint8Array[]> => {
    const at = r.offset;
    const parts = await r.take(n);
    const got = parts.reduce((s, p) => s + p.length, 0);
    if (got < n) {
      // A few bytes that do not even begin as a stream does ("hello\n") are not a stream cut short.
      const start = Buffer.from(joined(parts, got).subarray(0, Math.min(got, MAGIC.length))).toString('latin1');
      if (at === 0 && !MAGIC.startsWith(start)) throw new StreamError(name, 0, NOT_A_STREAM);
      throw new StreamError(name, at + got, `${part}: the stream ends early (truncated?): ${n - got} more bytes expected`);
    }
    return parts;
  };
  const fixed = async (n: number): Promise<Uint8Array> => joined(await take(n), n);
  /** A record of `size` bytes whose type byte was read already: the whole record, for its CRC and fields. */
  const record = async (type: number, size: number): Promise<Uint8Array> => {
    const b = new Uint8Array(size);
    b[0] = type;
    b.set(await fixed(size - 1), 1);
    return b;
  };
  try {
    const head = await fixed(HEADER_SIZE);
    const header = parseHeader(head, name);
    afterHeader?.(header);
    let sum = chain(0, storedCrc(head));
    const bs = header.blockSize;
    const maxBlock = header.virtualSize / bs;
    const bigMax = BigInt(maxBlock);
    let dataBlocks = 0;
    let zeroBlocks = 0;
    let records = 0;
    let next = 0; // records come in block order and never overlap
    for (;;) {
      const at = r.offset;
      const index = records + 1;
      part = `record ${index}`;
      const type = (await fixed(1))[0];
      const bad = (kind: string, what: string): StreamError => new StreamError(name, at, `record ${index} (${kind}): ${what}`);
      /** first..first+count-1 against the records before and the device's end; numbers past 2^53 never become numbers. */
      const placed = (kind: string, first: bigint, count: bigint): number => {
        if (count === 0n) throw bad(kind, 'count is 0: expected at least 1 block');
        if (first < BigInt(next)) throw bad(kind, `first block ${first}: expected ${next} or later (records come in block order and never overlap)`);
        if (first + count > bigMax) {
          throw bad(kind, `blocks ${first}..${first + count - 1n} lie past the device's end: the header's virtual size holds ${maxBlock} blocks`);
        }
        return Number(first);
      };
      if (type === RECORD.end) {
        part = `record ${index} (end)`;
        const e = parseEndRecord(await record(type, E_SIZE));
        if (e.storedCrc !== e.computedCrc) throw bad('end', `checksum stored 0x${e.storedCrc.toString(16)}, computed 0x${e.computedCrc.toString(16)}`);
        const [d, z, n] = [e.dataBlocks, e.zeroBlocks, e.records];
        if (d !== BigInt(dataBlocks) || z !== BigInt(zeroBlocks) || n !== BigInt(records)) {
          throw bad('end', `totals: it says ${d} data blocks, ${z} discarded, ${n} records; the stream held ${dataBlocks}, ${zeroBlocks}, ${records}`);
        }
        if (e.streamChecksum !== sum) {
          throw bad('end', 'the stream checksum differs from the one it holds (records missing, repeated or reordered)');
        }
        if (!(await r.atEnd())) throw new StreamError(name, r.offset, 'bytes after the end record: expected the stream to end there');
        return { header, dataBlocks, zeroBlocks, records, bytes: r.offset };
      }
      if (type === RECORD.data) {
        part = `record ${index} (data)`;
        const h = await record(type, D_HEAD);
        const { first: firstField, count } = parseDataHead(h);
        const most = Math.max(MAX_RECORD_BYTES, bs);
        if (count * bs > most) throw bad('data', `count ${count} blocks of ${bs} bytes: expected at most ${most} bytes of data in one record`);
        const first = placed('data', firstField, BigInt(count));
        const len = count * bs;
        let crc = crc32(h);
        const mismatch = (stored: number, what: string): StreamError =>
          bad('data', `blocks ${first}..${first + count - 1}: checksum stored 0x${stored.toString(16)}, computed 0x${crc.toString(16)}${what}`);
        if (len + CRC_SIZE <= MAX_TAKE) {
          // Data and CRC in one take (views are good until the next one): checked whole before anything is written.
          const [body, tail] = split(await take(len + CRC_SIZE), len);
          for (const p of body) crc = crc32(p, crc);
          const stored = storedCrc(tail);
          if (stored !== crc) throw mismatch(stored, '');
          sum = chain(sum, stored);
          const writing = apply?.('data', first, count, body, 0);
          if (writing) r.hold(body, writing);
        } else {
          // Blocks larger than the reader's buffers: piece by piece. Applying, each piece is written as it comes; the
          // verifying walk before checked the whole record, so a mismatch now means the stream changed since.
          for (let off = 0; off < len; ) {
            const body = await take(Math.min(MAX_TAKE, len - off));
            for (const p of body) crc = crc32(p, crc);
            const writing = apply?.('data', first, count, body, off);
            if (writing) r.hold(body, writing);
            off += body.reduce((n, p) => n + p.length, 0);
          }
          const stored = storedCrc(await fixed(CRC_SIZE));
          if (stored !== crc) throw mismatch(stored, apply ? ' (the stream changed since it was verified)' : '');
          sum = chain(sum, stored);
        }
        dataBlocks += count;
        next = first + count;
      } else if (type === RECORD.zero) {
        part = `record ${index} (discard)`;
        const z = parseZeroRecord(await record(type, Z_SIZE));
        if (z.storedCrc !== z.computedCrc) throw bad('discard', `checksum stored 0x${z.storedCrc.toString(16)}, computed 0x${z.computedCrc.toString(16)}`);
        if (!header.incremental) throw bad('discard', 'a full stream has no discard records (its target starts as zeros)');
        const count = z.count;
        const first = placed('discard', z.first, count);
        sum = chain(sum, z.storedCrc);
        await apply?.('zero', first, Number(count));
        zeroBlocks += Number(count);
        next = first + Number(count);
      } else {
        throw bad(`type 0x${type.toString(16)}`, "unknown record type: expected 'D' (0x44), 'Z' (0x5a) or 'E' (0x45)");
      }
      records++;
    }
  } finally {
    await r.close();
  }
}
