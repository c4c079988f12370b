/**
 * The Go encodings containerd puts in its bbolt values: varints
 * (encoding/binary: snapshot ids, inode counts, sizes) and times
 * (time.Time.MarshalBinary: every createdat and updatedat). Each a
 * parse/write pair; a value that does not decode is undefined, never a
 * guess: the callers say which record held it.
 */

/**
 * encoding/binary's Uvarint: 7 bits a byte, least significant group first,
 * the high bit set on every byte but the last; at most 10 bytes for 64 bits.
 * Returned as a number when it fits in 2^53, which every id and size
 * containerd writes does.
 */
export function parseUvarint(bytes: Uint8Array): number | undefined {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < bytes.length && i < 10; i++) {
    const b = bytes[i];
    value += (b & 0x7f) * scale;
    if (b < 0x80) return Number.isSafeInteger(value) ? value : undefined;
    scale *= 128;
  }
  return undefined;
}

export function writeUvarint(value: number): Uint8Array {
  const out: number[] = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Uint8Array.from(out);
}

/** encoding/binary's Varint: the uvarint of the zig-zag form (0, -1, 1, -2 ... as 0, 1, 2, 3 ...). */
export function parseVarint(bytes: Uint8Array): number | undefined {
  const u = parseUvarint(bytes);
  if (u === undefined) return undefined;
  return u % 2 === 0 ? u / 2 : -(u + 1) / 2;
}

export function writeVarint(value: number): Uint8Array {
  return writeUvarint(value < 0 ? -value * 2 - 1 : value * 2);
}

/** Seconds from 0001-01-01 (where Go counts from) to 1970-01-01. */
const GO_EPOCH_TO_UNIX = 62135596800;

/**
 * time.Time.MarshalBinary (Go's src/time/time.go):
 *
 *   0      version: 1, or 2 when the zone offset has seconds
 *   1..8   seconds since 0001-01-01 00:00 UTC, int64 big-endian
 *   9..12  nanoseconds, int32 big-endian
 *   13..14 zone offset in minutes, int16 big-endian (-1: UTC)
 *   15     version 2 only: the offset's seconds
 *
 * Parsed to an ISO 8601 string in UTC (what the output shows).
 */
export function parseGoTime(bytes: Uint8Array): string | undefined {
  if (bytes.length < 15 || (bytes[0] !== 1 && bytes[0] !== 2) || (bytes[0] === 2 && bytes.length < 16)) return undefined;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Two halves rather than a BigInt: exact for every time before year 285 million, and cheap for thousands of records.
  const sec = dv.getInt32(1) * 2 ** 32 + dv.getUint32(5) - GO_EPOCH_TO_UNIX;
  const nsec = dv.getInt32(9);
  if (nsec < 0 || nsec >= 1e9) return undefined;
  const ms = sec * 1000 + Math.floor(nsec / 1e6);
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return undefined;
  return d.toISOString();
}

/** A UTC time as Go writes it (version 1, offset -1), to the millisecond. */
export function writeGoTime(iso: string): Uint8Array {
  const ms = Date.parse(iso);
  const out = new Uint8Array(15);
  const dv = new DataView(out.buffer);
  out[0] = 1;
  dv.setBigInt64(1, BigInt(Math.floor(ms / 1000) + GO_EPOCH_TO_UNIX));
  dv.setInt32(9, (((ms % 1000) + 1000) % 1000) * 1e6);
  dv.setInt16(13, -1);
  return out;
}
