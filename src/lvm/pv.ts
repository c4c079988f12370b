/**
 * Finds an LVM2 physical volume in a file or block device (or in a part of
 * one: a partition's byte range) and reads its metadata areas: the label
 * in sectors 0..3, each area's header and its committed VG text.
 * Nothing is written; damage is reported per area, not thrown.
 */
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
  /** Bytes of the PV as found (the file's or partition's size). */
  size: number;
  label: PvLabel;
  metadataAreas: MetadataArea[];
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

  /** `length` bytes at `position`; past the end of the file reads as zeros. */
  read(position: number, length: number): Uint8Array {
    const b = new Uint8Array(length);
    this.source.readAt(b, position);
    return b;
  }

  close(): void {
    this.source.close();
  }
}

/** The PV at byte `start` of `f` (`size` bytes), or undefined when no sector 0..3 holds a label. */
export function findPv(f: PvFile, start = 0, size = f.fileSize - start): FoundPv | { problem: string } | undefined {
  let label: PvLabel | undefined;
  let why: string | undefined;
  for (let s = 0; s < LABEL_SCAN_SECTORS; s++) {
    const sector = f.read(start + s * SECTOR_SIZE, SECTOR_SIZE);
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
  for (const area of label.metadataAreas) {
    const m: MetadataArea = { area };
    pv.metadataAreas.push(m);
    const h = parseMdaHeader(f.read(start + area.offset, MDA_HEADER_SIZE), area.offset);
    if (typeof h === 'string') {
      m.problem = `metadata area at byte ${area.offset}: ${h}`;
      continue;
    }
    m.header = h;
    const committed = h.locns[0];
    if (!committed) continue;
    if (committed.flags & RAW_LOCN_IGNORED) {
      m.ignored = true;
      continue;
    }
    const t = readText(committed, h.size, (o, n) => f.read(start + area.offset + o, n));
    if (typeof t === 'string') m.text = t;
    else m.problem = `metadata area at byte ${area.offset}: ${t.problem}`;
  }
  return pv;
}
