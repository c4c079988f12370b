/**
 * A metadata area's header (lib/format_text/layout.h, struct mda_header),
 * 512 bytes at the area's start (normally PV byte 4096):
 * ```
 *  0 u32 checksum_xl   LVM crc (crc.ts) of bytes [4, 512)
 *  4 char[16] magic    " LVM2 x[5A%r0N*>"
 * 20 u32 version       1
 * 24 u64 start         the area's own offset in the PV (bytes)
 * 32 u64 size          the area's size (bytes), header included
 * 40     raw_locn[]    24 bytes each, ended by an all-zero one:
 *                        u64 offset    of the text, from the area's start
 *                        u64 size      of the text, its trailing NUL included
 *                        u32 checksum  LVM crc of the text
 *                        u32 flags     1: this area is ignored
 * ```
 * Slot 0 is the committed VG text, slot 1 (when there) the precommitted.
 * The text lives in a circular buffer from start + 512 to start + size: a
 * text whose offset + size runs past the end continues at start + 512, and
 * its checksum runs over both parts in order.
 */
import { getU32, getU64, getU64Big, setU32, setU64 } from '../format/le.js';
import { lvmCrc } from './crc.js';

export const MDA_HEADER_SIZE = 512;
export const MDA_MAGIC = ' LVM2 x[5A%r0N*>';
export const RAW_LOCN_IGNORED = 1;

export interface RawLocn {
  offset: number;
  size: number;
  checksum: number;
  flags: number;
}

export interface MdaHeader {
  version: number;
  start: number;
  size: number;
  locns: RawLocn[];
}

/**
 * Parses the header read from the area at byte `start`, which the label
 * says is `areaSize` bytes; returns why it is unusable as a string. The
 * header's own size may not exceed the label's (LVM writes both from one
 * value), so that no text is looked for outside the area that holds it.
 */
export function parseMdaHeader(b: Uint8Array, start: number, areaSize = Number.MAX_SAFE_INTEGER): MdaHeader | string {
  const stored = getU32(b, 0);
  const crc = lvmCrc(b.subarray(4, MDA_HEADER_SIZE));
  if (stored !== crc) return `bad mda header checksum: stored 0x${stored.toString(16)}, computed 0x${crc.toString(16)}`;
  const magic = Buffer.from(b.subarray(4, 20)).toString('latin1');
  if (magic !== MDA_MAGIC) return 'mda header without its magic';
  const version = getU32(b, 20);
  if (version !== 1) return `mda header version ${version} (only 1 is known)`;
  const hstart = getU64(b, 24);
  if (hstart !== start) return `mda header says it starts at byte ${getU64Big(b, 24)} (expected ${start})`;
  const size = getU64(b, 32);
  if (size <= MDA_HEADER_SIZE || size > areaSize)
    return `mda header size ${getU64Big(b, 32)} bytes (expected more than its own ${MDA_HEADER_SIZE} and at most the ${areaSize} the pv_header gives the area)`;
  const locns: RawLocn[] = [];
  for (let p = 40; p + 24 <= MDA_HEADER_SIZE; p += 24) {
    const l = { offset: getU64(b, p), size: getU64(b, p + 8), checksum: getU32(b, p + 16), flags: getU32(b, p + 20) };
    if (l.offset === 0 && l.size === 0 && l.checksum === 0 && l.flags === 0) break;
    if (!Number.isSafeInteger(l.offset + l.size))
      return `raw_locn ${locns.length}: offset ${getU64Big(b, p)}, size ${getU64Big(b, p + 8)} bytes (expected a text inside the ${size}-byte area)`;
    locns.push(l);
  }
  return { version, start: hstart, size, locns };
}

export function writeMdaHeader(h: MdaHeader): Uint8Array {
  const b = new Uint8Array(MDA_HEADER_SIZE);
  b.set(Buffer.from(MDA_MAGIC, 'latin1'), 4);
  setU32(b, 20, h.version);
  setU64(b, 24, h.start);
  setU64(b, 32, h.size);
  h.locns.forEach((l, i) => {
    const p = 40 + 24 * i;
    setU64(b, p, l.offset);
    setU64(b, p + 8, l.size);
    setU32(b, p + 16, l.checksum);
    setU32(b, p + 20, l.flags);
  });
  setU32(b, 0, lvmCrc(b.subarray(4)));
  return b;
}

/**
 * The byte ranges (from the area's start) a text of `size` bytes at
 * `offset` occupies in an area of `areaSize` bytes: one, or two when it
 * wraps round the circular buffer; none when it cannot lie in the area.
 */
export function textExtents(offset: number, size: number, areaSize: number): Array<{ offset: number; size: number }> {
  if (![offset, size, areaSize].every(Number.isSafeInteger)) return [];
  if (offset < MDA_HEADER_SIZE || offset >= areaSize || size < 0 || size > areaSize - MDA_HEADER_SIZE) return [];
  if (offset + size <= areaSize) return [{ offset, size }];
  const first = areaSize - offset;
  return [
    { offset, size: first },
    { offset: MDA_HEADER_SIZE, size: size - first },
  ];
}

/** Checksummed in pieces of this many bytes before the text is held whole: a lying checksum costs no memory. */
const CRC_PIECE = 1 << 20;

/**
 * Reads a text through `read(offsetInArea, size)`, joining a wrapped text
 * and checking its checksum. Returns the text (without the trailing NUL),
 * or why it is unusable. The text is bounded by the area first, and its
 * checksum proved piece by piece before it is allocated whole.
 */
export function readText(l: RawLocn, areaSize: number, read: (offset: number, size: number) => Uint8Array): string | { problem: string } {
  const parts = textExtents(l.offset, l.size, areaSize);
  if (parts.length === 0)
    return {
      problem: `text at byte ${l.offset} of the area, ${l.size} bytes (expected inside the area's ${areaSize - MDA_HEADER_SIZE}-byte ring after its header)`,
    };
  let crc: number | undefined;
  for (const p of parts) {
    for (let at = 0; at < p.size; at += CRC_PIECE) crc = lvmCrc(read(p.offset + at, Math.min(CRC_PIECE, p.size - at)), crc);
  }
  crc ??= lvmCrc(new Uint8Array(0));
  if (crc !== l.checksum) return { problem: `bad VG text checksum: stored 0x${l.checksum.toString(16)}, computed 0x${crc.toString(16)}` };
  const bytes = new Uint8Array(l.size);
  let at = 0;
  for (const p of parts) {
    bytes.set(read(p.offset, p.size), at);
    at += p.size;
  }
  let end = bytes.indexOf(0);
  if (end < 0) end = bytes.length;
  return Buffer.from(bytes.subarray(0, end)).toString('utf8');
}
