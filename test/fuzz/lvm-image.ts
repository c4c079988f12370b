/**
 * The LVM fixtures (lvm2-made PVs, fixtures/lvm-*.pv.xz) as the LVM fuzzer
 * and the hostile-image tests handle them: held as their non-zero 64 KiB
 * chunks (the images are 64-100 MiB of mostly zeros), written out as sparse
 * copies, and edited where LVM's structures lie, with their checksums
 * fixed or not, so that a mutation gets past the crc when the case wants.
 * The layout of each pristine PV is read once with dmthin's own codecs
 * (the pristine images are lvm2's, undamaged).
 */
import { closeSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { lvmCrc } from '../../src/lvm/crc.js';
import { MDA_HEADER_SIZE, parseMdaHeader } from '../../src/lvm/mda-header.js';
import { readPartitionTable } from '../../src/format/partitions.js';
import { PvFile, findPv } from '../../src/lvm/pv.js';
import { projectRoot, xzDecompress } from '../support/env.js';
import { must } from '../../src/errors.js';

const CHUNK = 64 * 1024;
/** fixtures/ beside the sources, whether this runs from them (vitest) or from dist/ (the fuzzer). */
const fixturesDir = join(projectRoot, 'fixtures');

/** Where LVM's structures lie in one PV of a pristine image. */
export interface PvLayout {
  /** Byte offset of the PV in the image (a partition's start, or 0). */
  start: number;
  /** Where the PV ends in the image, by its label's device_size. */
  pvEnd: number;
  /** The label sector's byte offset in the image. */
  labelAt: number;
  /** Byte offset in the image of the pv_header (label + offset_xl). */
  pvHeaderAt: number;
  /** The first metadata area: byte offset in the image and size. */
  mdaAt: number;
  mdaSize: number;
  /** The committed text: offset in the area and size (with its NUL). */
  textOffset: number;
  textSize: number;
  /** The committed text as read. */
  text: string;
}

export interface PristineImage {
  name: string;
  size: number;
  chunks: Array<{ at: number; bytes: Buffer }>;
  layout: PvLayout;
  /** The GPT header's byte offset (disk images only). */
  gptAt?: number;
}

/** Unpacks fixtures/lvm-NAME.pv.xz into `dir` and holds its non-zero chunks and layout. */
export function loadPristine(name: string, dir: string): PristineImage {
  const path = join(dir, `${name}.pristine`);
  xzDecompress(join(fixturesDir, `lvm-${name}.pv.xz`), path);
  const fd = openSync(path, 'r');
  const chunks: PristineImage['chunks'] = [];
  let size = 0;
  try {
    for (;;) {
      const b = Buffer.alloc(CHUNK);
      const n = readSync(fd, b, 0, CHUNK, size);
      if (n <= 0) break;
      if (b.some((x) => x !== 0)) chunks.push({ at: size, bytes: b.subarray(0, n) });
      size += n;
    }
  } finally {
    closeSync(fd);
  }
  const f = new PvFile(path);
  try {
    let start = 0;
    let gptAt: number | undefined;
    let pv = findPv(f);
    if (!pv) {
      const table = must(
        readPartitionTable((o, n) => f.read(o, n), f.fileSize),
        'a partition table holding the PV',
      );
      for (const p of table.partitions) {
        pv = findPv(f, p.start, p.size);
        if (pv && !('problem' in pv)) {
          start = p.start;
          break;
        }
      }
      gptAt = 512;
    }
    if (!pv || 'problem' in pv) throw new Error(`${name}: no PV in the pristine fixture`);
    const area = pv.label.metadataAreas[0];
    const h = parseMdaHeader(f.read(start + area.offset, MDA_HEADER_SIZE), area.offset);
    if (typeof h === 'string') throw new Error(`${name}: ${h}`);
    const labelAt = start + pv.label.sector * 512;
    const layout: PvLayout = {
      start,
      pvEnd: start + pv.label.deviceSize,
      labelAt,
      pvHeaderAt: labelAt + 32,
      mdaAt: start + area.offset,
      mdaSize: area.size,
      textOffset: h.locns[0].offset,
      textSize: h.locns[0].size,
      text: must(pv.metadataAreas[0].text, 'the VG text of the first metadata area'),
    };
    return { name, size, chunks, layout, gptAt };
  } finally {
    f.close();
  }
}

/** Writes a sparse copy of `p` to `path`. */
export function writeImage(p: PristineImage, path: string): void {
  const fd = openSync(path, 'w');
  try {
    ftruncateSync(fd, p.size);
    for (const c of p.chunks) writeSync(fd, c.bytes, 0, c.bytes.length, c.at);
  } finally {
    closeSync(fd);
  }
}

/** Positional edits of one case image, open until close(). */
export class ImageEditor {
  private readonly fd: number;

  constructor(readonly path: string) {
    this.fd = openSync(path, 'r+');
  }

  read(at: number, n: number): Buffer {
    const b = Buffer.alloc(n);
    readSync(this.fd, b, 0, n, at);
    return b;
  }

  write(at: number, b: Uint8Array): void {
    writeSync(this.fd, b, 0, b.length, at);
  }

  u32(at: number, v: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0);
    this.write(at, b);
  }

  u64(at: number, v: bigint): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt.asUintN(64, v));
    this.write(at, b);
  }

  getU64(at: number): bigint {
    return this.read(at, 8).readBigUInt64LE();
  }

  getU32(at: number): number {
    return this.read(at, 4).readUInt32LE();
  }

  /** The label's crc (bytes 20..512 of its sector). */
  fixLabelCrc(labelAt: number): void {
    this.u32(labelAt + 16, lvmCrc(this.read(labelAt + 20, 492)));
  }

  /** The mda header's crc (bytes 4..512). */
  fixMdaCrc(mdaAt: number): void {
    this.u32(mdaAt, lvmCrc(this.read(mdaAt + 4, MDA_HEADER_SIZE - 4)));
  }

  /**
   * Makes `text` (a NUL is added) the committed text of the area at
   * `mdaAt`: written at raw_locn 0's offset, wrapping round the ring as
   * LVM does, raw_locn 0's size and checksum set, and the header's crc
   * fixed. A text longer than the ring is cut to it.
   */
  setCommittedText(mdaAt: number, text: string | Uint8Array, fixTextCrc = true): void {
    const areaSize = Number(this.getU64(mdaAt + 32));
    const ring = areaSize - MDA_HEADER_SIZE;
    let bytes = Buffer.concat([typeof text === 'string' ? Buffer.from(text, 'utf8') : Buffer.from(text), Buffer.alloc(1)]);
    if (bytes.length > ring) bytes = bytes.subarray(0, ring);
    const offset = Number(this.getU64(mdaAt + 40));
    const first = Math.min(bytes.length, areaSize - offset);
    this.write(mdaAt + offset, bytes.subarray(0, first));
    if (first < bytes.length) this.write(mdaAt + MDA_HEADER_SIZE, bytes.subarray(first));
    this.u64(mdaAt + 48, BigInt(bytes.length));
    if (fixTextCrc) this.u32(mdaAt + 56, lvmCrc(bytes));
    this.fixMdaCrc(mdaAt);
  }

  truncate(size: number): void {
    ftruncateSync(this.fd, size);
  }

  close(): void {
    closeSync(this.fd);
  }
}
