/** Small tools to damage metadata files on purpose, for tests and the fuzzer. */
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { BLOCK_SIZE, Salt, stampChecksum, type BlockKind } from '../../src/format/checksum.js';

export function readBlock(path: string, b: number): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const buf = new Uint8Array(BLOCK_SIZE);
    readSync(fd, buf, 0, BLOCK_SIZE, b * BLOCK_SIZE);
    return buf;
  } finally {
    closeSync(fd);
  }
}

export function writeBlock(path: string, b: number, data: Uint8Array): void {
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, data, 0, BLOCK_SIZE, b * BLOCK_SIZE);
  } finally {
    closeSync(fd);
  }
}

/** Changes block b with `mut`; with `restamp`, recomputes its checksum so only the change itself is wrong. */
export function patchBlock(path: string, b: number, mut: (d: Uint8Array, dv: DataView) => void, restamp?: BlockKind): void {
  const d = readBlock(path, b);
  mut(d, new DataView(d.buffer));
  if (restamp) stampChecksum(d, Salt[restamp]);
  writeBlock(path, b, d);
}
