/**
 * Finds an LVM2 physical volume in a file or block device (or in a part of
 * one: a partition's byte range) and reads its metadata areas: the label
 * in sectors 0..3, each area's header and its committed VG text.
 * Nothing is written; damage is reported per area, not thrown. Every size
 * and offset the label and headers give is checked against the bytes the
 * PV's image really holds before anything is read or allocated.
 */
import { UsageError } from '../errors.js';
import { FileSource } from '../io/byte-source.js';
import { LABEL_SCAN_SECTORS, type PvLabel, SECTOR_SIZE, type DiskArea, hasLabel, parseLabel } from './label.js';
import { MDA_HEADER_SIZE, type MdaHeader, RAW_LOCN_IGNORED, parseMdaHeader, readText } from './mda-header.js';

export interface MetadataArea {
  area: DiskArea;
  header?: MdaHeader;
  /** The committed VG text (slot 0), when it could be read. */
  text?: string;
  /** Why the header or the text could not be used. */
  problem?: string;
  /** The area is marked ignored (pvchange --metadataignore): it holds no current text. */
  ignored?: boolean;
}

export interface FoundPv {
  file: string;
  /** Byte offset of the PV in the file (a partition's start; 0 for a whole file). */
  start: number;
  /** Bytes of the PV as found (the file's or partition's size, never past the file's end). */
  size: number;
  label: PvLabel;
  metadataAreas: MetadataArea[];
}

/** A read of bytes the image does not hold: it is shorter than a structure in it says, or a position read from it is wrong. */
export class ImageRangeError extends UsageError {
  constructor(
    readonly file: string,
    readonly position: number,
    readonly length: number,
    readonly fileSize: number,
    readonly what: string,
  ) {
    super(
      `${file}: ${what} at byte ${position} (${length} bytes) is not inside the image's ${fileSize} bytes: the image is truncated or the position is wrong`,
    );
    this.name = 'ImageRangeError';
  }
}

/** Positional reads of one disk image or device that may hold PVs. */
export class PvFile {
  readonly source: FileSource;

  constructor(readonly path: string) {
    this.source = new FileSource(path, 'disk image');
  }

  get fileSize(): number {
    return this.source.size;
  }

  /** Whether bytes [position, position + length) are all in the image. */
  holds(position: number, length: number): boolean {
    return Number.isSafeInteger(position) && Number.isSafeInteger(length) && position >= 0 && length >= 0 && position + length <= this.fileSize;
  }

  /** `length` bytes at `position`; an ImageRangeError naming `what` when the image does not hold them all (never zeros in their place). */
  read(position: number, length: number, what = 'a read'): Uint8Array {
    if (!this.holds(position, length)) throw new ImageRangeError(this.path, position, length, this.fileSize, what);
    const b = new Uint8Array(length);
    this.source.readAt(b, position);
    return b;
  }

  close(): void {
    this.source.close();
  }
}

/**
 * The PV at byte `start` of `f` (`size` bytes, cut to what the file
 * holds), or undefined when no sector 0..3 holds a label.
 */
export function findPv(f: PvFile, start = 0, size = f.fileSize - start): FoundPv | { problem: string } | undefined {
  size = Math.max(0, Math.min(size, f.fileSize - start));
  let label: PvLabel | undefined;
  let why: string | undefined;
  for (let s = 0; s < LABEL_SCAN_SECTORS && (s + 1) * SECTOR_SIZE <= size; s++) {
    const sector = f.read(start + s * SECTOR_SIZE, SECTOR_SIZE, 'label sector');
    if (!hasLabel(sector)) continue;
    const l = parseLabel(sector, s);
    if (typeof l === 'string') {
      why = `sector ${s}: ${l}`;
      continue;
    }
    label = l;
    break;
  }
  if (!label) return why ? { problem: `${f.path} at byte ${start}: an LVM label that cannot be used (${why})` } : undefined;
  const pv: FoundPv = { file: f.path, start, size, label, metadataAreas: [] };
  label.metadataAreas.forEach((area, i) => {
    const m: MetadataArea = { area };
    pv.metadataAreas.push(m);
    const where = `metadata area ${i} at byte ${area.offset}`;
    // The label's list gives the area; the PV as found must hold all of it.
    if (area.size <= MDA_HEADER_SIZE) {
      m.problem = `${where}: pv_header gives it ${area.size} bytes (expected more than its ${MDA_HEADER_SIZE}-byte header)`;
      return;
    }
    if (area.offset < SECTOR_SIZE * LABEL_SCAN_SECTORS || area.offset + area.size > size) {
      const past = area.offset + area.size > size;
      m.problem = past
        ? `${where}: pv_header gives it ${area.size} bytes, past the end of the PV as found (${size} bytes): the image is truncated, or the pv_header wrong`
        : `${where}: pv_header places it over the label sectors (expected at byte ${SECTOR_SIZE * LABEL_SCAN_SECTORS} or later)`;
      return;
    }
    const h = parseMdaHeader(f.read(start + area.offset, MDA_HEADER_SIZE, 'metadata area header'), area.offset, area.size);
    if (typeof h === 'string') {
      m.problem = `${where}: ${h}`;
      return;
    }
    m.header = h;
    const committed = h.locns[0];
    if (!committed) return;
    if (committed.flags & RAW_LOCN_IGNORED) {
      m.ignored = true;
      return;
    }
    const t = readText(committed, h.size, (o, n) => f.read(start + area.offset + o, n, 'VG text'));
    if (typeof t === 'string') m.text = t;
    else m.problem = `${where}: raw_locn 0: ${t.problem}`;
  });
  return pv;
}
