/**
 * The kit's byte-for-byte copy of the metadata as found. The pack keeps
 * only blocks that check as metadata, so a damaged block (the one an expert
 * may later need to look at) survives only here. Runs of zeros are left as
 * holes: a metadata device mostly unused costs the disk what it holds.
 */
import { closeSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { type ByteSource, FileSource } from '../../io/byte-source.js';

const CHUNK = 1 << 20;

export function copyRaw(input: string | ByteSource, path: string): void {
  const src = typeof input === 'string' ? new FileSource(input, 'metadata') : input;
  const fd = openSync(path, 'wx');
  try {
    const buf = new Uint8Array(CHUNK);
    for (let at = 0; at < src.size; at += CHUNK) {
      const n = Math.min(CHUNK, src.size - at);
      const part = buf.subarray(0, n);
      src.readAt(part, at);
      if (!isZero(part)) writeSync(fd, part, 0, n, at);
    }
    ftruncateSync(fd, src.size);
  } finally {
    closeSync(fd);
    if (typeof input === 'string') src.close();
  }
}

const ZEROS = Buffer.alloc(CHUNK);

function isZero(b: Uint8Array): boolean {
  return Buffer.from(b.buffer, b.byteOffset, b.length).equals(ZEROS.subarray(0, b.length));
}
